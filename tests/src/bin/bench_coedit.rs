//! The co-editing benchmark behind `tests/bench/run coedit`: simulated editors (Rust clients of the real browser
//! protocol, `tests/src/bench/coedit/`) replay editing traces into one document through a real `orrery up` on
//! loopback, and the time from a keystroke at one editor to its appearance at every other is measured, for 2 editors
//! (one typing) and for 50 (all typing); then the hub's memory per connected client. The same runs go straight to an
//! `orrery local-hub` as well, without the hub: the baseline the hub's relay adds to.
//! It depends on `orrery-sync` and `orrery-local-hub` for the client only; the servers run as their own processes.
//!
//! Usage: `bench_coedit --orrery PATH [--seconds 30] [--rate 10] [--group-rate 5] [--editors 50] [--idle 1000] [--peers hub,local-hub]
//! [--keep] (--trace-dir DIR | TRACE.json.gz...)`; with no trace named, every `*.json.gz` in `--trace-dir`.
//! Ends with the `BENCH coedit.*` and `BENCH hub.mem_per_client` lines.

#[path = "../bench/coedit/api.rs"]
mod api;
#[path = "../bench/child.rs"]
mod child;
#[path = "../bench/coedit/editor.rs"]
mod editor;
#[path = "../bench/coedit/idle.rs"]
mod idle;
#[path = "../bench/coedit/link.rs"]
mod link;
#[path = "../bench/coedit/server.rs"]
mod server;
#[path = "../bench/coedit/workload.rs"]
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use orrery_sync::trace::Trace;

use api::Api;
use child::Scratch;
use idle::Memory;
use workload::{Outcome, Plan, Target};

/// Accounts the editors share (the owner and collaborators): the hub limits sign-ups per client address.
const ACCOUNTS: usize = 5;

#[derive(Debug)]
struct Args {
    orrery: PathBuf,
    traces: Vec<PathBuf>,
    /// Typing time of each run.
    seconds: f64,
    /// Keystrokes per second of the one typist of the 2-editor run.
    rate: f64,
    /// Keystrokes per second of each typist of the large run.
    group_rate: f64,
    /// Editors in the large run.
    editors: usize,
    /// Idle clients for the memory figure.
    idle: usize,
    hub: bool,
    local_hub: bool,
    keep: bool,
}

fn parse_args() -> Result<Args> {
    let mut orrery = None;
    let mut traces = Vec::new();
    let mut trace_dir = None;
    let (mut seconds, mut rate, mut group_rate, mut editors, mut idle) =
        (30.0, 10.0, 5.0, 50, 1000);
    let (mut hub, mut local_hub, mut keep) = (true, true, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--orrery" => orrery = Some(PathBuf::from(value()?)),
            "--trace" => traces.push(PathBuf::from(value()?)),
            "--trace-dir" => trace_dir = Some(PathBuf::from(value()?)),
            "--seconds" => seconds = value()?.parse().context("--seconds")?,
            "--rate" => rate = value()?.parse().context("--rate")?,
            "--group-rate" => group_rate = value()?.parse().context("--group-rate")?,
            "--editors" => editors = value()?.parse().context("--editors")?,
            "--idle" => idle = value()?.parse().context("--idle")?,
            "--peers" => {
                let peers = value()?;
                (hub, local_hub) = (false, false);
                for peer in peers.split(',') {
                    match peer {
                        "hub" => hub = true,
                        "local-hub" => local_hub = true,
                        other => bail!("unknown peer {other:?} (there is: hub, local-hub)"),
                    }
                }
            }
            "--keep" => keep = true,
            flag if flag.starts_with("--") => bail!("unknown option {flag}"),
            _ => traces.push(PathBuf::from(arg)),
        }
    }
    if let (true, Some(dir)) = (traces.is_empty(), trace_dir) {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let path = entry?.path();
            if path.to_string_lossy().ends_with(".json.gz") {
                traces.push(path);
            }
        }
        traces.sort();
    }
    if traces.is_empty() {
        bail!("no trace given");
    }
    if !(seconds > 0.0 && rate > 0.0 && group_rate > 0.0) || editors < 2 {
        bail!("--seconds, --rate and --group-rate must be positive and --editors at least 2");
    }
    Ok(Args {
        orrery: orrery.ok_or_else(|| anyhow!("--orrery PATH is required"))?,
        traces,
        seconds,
        rate,
        group_rate,
        editors,
        idle,
        hub,
        local_hub,
        keep,
    })
}

fn load_trace(path: &Path) -> Result<Arc<Trace>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Arc::new(
        Trace::parse_gz(&bytes).with_context(|| format!("parsing {}", path.display()))?,
    ))
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| {
        // Two threads for every editor: the hub and the local hub need the machine's cores as well.
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(bench(args))
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("bench_coedit: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// `orrery up` with a project whose collaborators the editors sign in as.
async fn start_hub(args: &Args, dir: &Path) -> Result<(server::Process, Target)> {
    let data = dir.join("up");
    std::fs::create_dir_all(&data)?;
    let (process, address) = server::start_up(&args.orrery, &data, dir.join("orrery-up.log"))?;
    let api = Api::new(address)?;
    let mut accounts = Vec::new();
    for index in 0..ACCOUNTS {
        accounts.push(
            api.sign_up(
                &format!("editor{index}@bench.example"),
                &format!("Editor {index}"),
            )
            .await?,
        );
    }
    let project = api
        .create_project(&accounts[0], "co-editing benchmark")
        .await?;
    for guest in &accounts[1..] {
        api.invite(&accounts[0], &project, guest).await?;
    }
    let pid = process.pid();
    Ok((
        process,
        Target::Hub {
            address,
            project,
            accounts,
            pid,
        },
    ))
}

async fn start_local_hub(args: &Args, dir: &Path) -> Result<(server::Process, Target)> {
    let project = dir.join("local-hub/project");
    std::fs::create_dir_all(&project)?;
    let socket = dir.join("local-hub/run/hub.sock");
    let process =
        server::start_local_hub(&args.orrery, &project, &socket, dir.join("local-hub.log")).await?;
    let pid = process.pid();
    Ok((process, Target::LocalHub { socket, pid }))
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// The `p`th percentile (0 to 100) of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn show(value: Option<Duration>) -> String {
    value.map_or("n/a".into(), millis)
}

fn print_run(peer: &str, plan: &Plan, outcome: &Outcome) {
    let pick = |p| show(percentile(&outcome.delays, p));
    let counters = &outcome.counters;
    println!(
        "{peer:<9} {} editors, {} typing at {}/s: {} keystrokes, {} delays ({} never seen): p50 {}, p90 {}, p99 {}, max {}",
        plan.editors,
        plan.typists,
        plan.rate,
        outcome.keystrokes,
        outcome.delays.len(),
        outcome.missing,
        pick(50.0),
        pick(90.0),
        pick(99.0),
        show(outcome.delays.last().copied()),
    );
    println!(
        "          CPU over {:.1} s: hub {}, local hub {:.2} s, these editors {:.2} s, other processes {:.2} s; typing lag p99 {}",
        outcome.elapsed.as_secs_f64(),
        outcome
            .hub_cpu
            .map_or("n/a".into(), |cpu| format!("{:.2} s", cpu.as_secs_f64())),
        outcome.local_hub_cpu.as_secs_f64(),
        outcome.client_cpu.as_secs_f64(),
        outcome.others_cpu.as_secs_f64(),
        show(percentile(&outcome.typing_lag, 99.0)),
    );
    println!(
        "          {} syncs sent ({:.1} B avg), {} replies, {} nudges ({:.1} B avg down)",
        counters.syncs_sent,
        counters.bytes_up as f64 / counters.syncs_sent.max(1) as f64,
        counters.replies,
        counters.nudges,
        counters.bytes_down as f64 / (counters.replies + counters.nudges).max(1) as f64,
    );
    for problem in outcome.problems.iter().take(20) {
        println!("          PROBLEM: {problem}");
    }
    if outcome.problems.len() > 20 {
        println!(
            "          ... and {} more problems",
            outcome.problems.len() - 20
        );
    }
}

/// The runs of one size, on each peer.
struct Row {
    plan: Plan,
    hub: Option<Outcome>,
    local_hub: Option<Outcome>,
}

async fn bench(args: Args) -> Result<bool> {
    let traces: Vec<Arc<Trace>> = args
        .traces
        .iter()
        .map(|path| load_trace(path))
        .collect::<Result<_>>()?;
    let keystrokes = |rate: f64| (args.seconds * rate).round().max(1.0) as u64;
    let most = keystrokes(args.rate.max(args.group_rate));
    let shortest = traces
        .iter()
        .map(|trace| trace.txns.len())
        .min()
        .unwrap_or(0) as u64;
    if most > shortest {
        bail!("{most} keystrokes per editor, but a trace has only {shortest}");
    }
    let dir = std::env::temp_dir().join(format!("orrery-bench-coedit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let scratch = Scratch(dir.clone(), args.keep);

    let hub = match args.hub {
        true => Some(start_hub(&args, &dir).await.context("starting orrery up")?),
        false => None,
    };
    let local_hub = match args.local_hub {
        true => Some(start_local_hub(&args, &dir).await?),
        false => None,
    };

    println!(
        "co-editing benchmark: {} s of typing per run, {}/s by the one typist of 2 editors, {}/s by each of {}; replaying {}",
        args.seconds,
        args.rate,
        args.group_rate,
        args.editors,
        args.traces
            .iter()
            .filter_map(|path| path.file_name())
            .map(|name| name.to_string_lossy())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  editing traces by Joseph Gentle (josephg/editing-traces), CC BY 4.0");
    println!("  hub: `orrery up` on 127.0.0.1, editors over /ws (WebSocket); local hub: `orrery local-hub` alone, editors over its Unix socket");
    println!(
        "  caveat: every editor runs in this one process (2 tokio threads), sharing this machine's {} cores with the servers",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("  delay: from a keystroke at one editor to the first instant another editor's text holds it; every keystroke, every other editor");
    println!();

    let mut rows = Vec::new();
    let runs = [
        (2, 1, args.rate),
        (args.editors, args.editors, args.group_rate),
    ];
    for (run, (editors, typists, rate)) in runs.into_iter().enumerate() {
        let plan = Plan {
            path: format!("coedit-{}-{editors}-editors.txt", run + 1),
            editors,
            typists,
            rate,
            keystrokes: keystrokes(rate),
        };
        let mut row = Row {
            plan: plan.clone(),
            hub: None,
            local_hub: None,
        };
        for (peer, server) in [("hub", &hub), ("local hub", &local_hub)] {
            let Some((_, target)) = server else { continue };
            let outcome = workload::run(target, &plan, &traces)
                .await
                .with_context(|| format!("{peer}, {editors} editors"))?;
            print_run(peer, &plan, &outcome);
            match peer {
                "hub" => row.hub = Some(outcome),
                _ => row.local_hub = Some(outcome),
            }
        }
        rows.push(row);
    }

    let memory = match &hub {
        Some((_, target)) if args.idle > 0 => {
            let memory = idle::measure(target, args.idle).await?;
            print_memory(&memory);
            Some(memory)
        }
        _ => None,
    };
    let mut healthy = true;
    for (peer, server) in [("orrery up", hub), ("orrery local-hub", local_hub)] {
        if let Some((mut process, _)) = server {
            if let Err(error) = process.check_running() {
                println!("{peer} died during the run: {error:#}");
                healthy = false;
            }
        }
    }
    drop(scratch);

    print_table(&rows);
    let clean = rows.iter().all(|row| {
        [&row.hub, &row.local_hub]
            .into_iter()
            .flatten()
            .all(|outcome| outcome.problems.is_empty())
    });
    if !clean {
        println!("FAILURE: some runs had problems (listed under each run above)");
    }
    let hub_p99 = |row: &Row| {
        row.hub
            .as_ref()
            .and_then(|outcome| percentile(&outcome.delays, 99.0))
            .map_or("n/a".into(), |p99| {
                format!("{:.2}", p99.as_secs_f64() * 1e3)
            })
    };
    println!();
    for row in &rows {
        println!("BENCH coedit.p99_{} {} ms", row.plan.editors, hub_p99(row));
    }
    println!(
        "BENCH hub.mem_per_client {} KB",
        memory.map_or("n/a".into(), |memory| format!("{:.1}", memory.per_socket()))
    );
    Ok(clean && healthy)
}

fn print_memory(memory: &Memory) {
    println!();
    println!(
        "memory of the `orrery up` process (VmRSS; its local hubs are child processes, not counted): {} idle clients",
        memory.clients
    );
    println!(
        "  {} KiB before, {} KiB with the sockets open, {} KiB with a document channel open on each, {} KiB after they closed",
        memory.hub_before, memory.hub_sockets, memory.hub_documents, memory.hub_after_close
    );
    println!(
        "  per client: {:.1} KiB (idle socket), {:.1} KiB (socket and a document channel); the local hub: {:.1} KiB per open document",
        memory.per_socket(),
        memory.per_document(),
        memory.local_hub_per_document()
    );
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<36} {:>16} {:>16} {:>8}",
        "", "through the hub", "local hub alone", "ratio"
    );
    for row in rows {
        let label = format!("{} editors", row.plan.editors);
        for p in [50.0, 99.0] {
            let hub = row
                .hub
                .as_ref()
                .and_then(|outcome| percentile(&outcome.delays, p));
            let local = row
                .local_hub
                .as_ref()
                .and_then(|outcome| percentile(&outcome.delays, p));
            let ratio = match (hub, local) {
                (Some(hub), Some(local)) if !local.is_zero() => {
                    format!("{:.2}", hub.as_secs_f64() / local.as_secs_f64())
                }
                _ => "n/a".into(),
            };
            println!(
                "{:<36} {:>16} {:>16} {:>8}",
                format!("{label}: delay p{p}"),
                show(hub),
                show(local),
                ratio
            );
        }
        let hub_cpu = row
            .hub
            .as_ref()
            .and_then(|outcome| outcome.hub_cpu)
            .map_or("n/a".into(), |cpu| format!("{:.2} s", cpu.as_secs_f64()));
        println!(
            "{:<36} {:>16} {:>16}",
            format!("{label}: hub CPU per run"),
            hub_cpu,
            "-"
        );
        let local_cpu = |outcome: &Option<Outcome>| {
            outcome.as_ref().map_or("n/a".into(), |outcome| {
                format!("{:.2} s", outcome.local_hub_cpu.as_secs_f64())
            })
        };
        println!(
            "{:<36} {:>16} {:>16}",
            format!("{label}: local hub CPU per run"),
            local_cpu(&row.hub),
            local_cpu(&row.local_hub)
        );
    }
}
