//! The terminal benchmark behind `tests/bench/run terminal`: the same workloads through the real `orrery local-hub`
//! (its protocol over its Unix socket) and through terminado (JupyterLab's terminal backend, a WebSocket on loopback),
//! both running the same bash, measured in the same run by the same client code (`tests/src/bench/terminal/`).
//! It depends on `orrery-local-hub` for the client only; the hub runs as its own process.
//!
//! Usage: `bench_terminal --orrery PATH --python PATH --server PATH [--mib 64] [--keystrokes 1000] [--runs 3] [--keep]`
//! Ends with the `BENCH terminal.*` lines.

#[path = "../bench/child.rs"]
mod child;
#[path = "../bench/terminal/ours.rs"]
mod ours;
#[path = "../bench/terminal/terminado.rs"]
mod terminado;
#[path = "../bench/terminal/workload.rs"]
mod workload;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use child::Scratch;

use anyhow::{anyhow, bail, Context, Result};
use orrery_local_hub::protocol::TerminalSize;

use ours::Ours;
use terminado::Terminado;
use workload::Throughput;

const SIZE: TerminalSize = TerminalSize { rows: 24, cols: 80 };

struct Args {
    orrery: PathBuf,
    python: PathBuf,
    server: PathBuf,
    mib: u64,
    keystrokes: usize,
    runs: usize,
    /// Keep the scratch directory (the servers' logs) for a look afterwards.
    keep: bool,
}

fn parse_args() -> Result<Args> {
    let (mut orrery, mut python, mut server) = (None, None, None);
    let (mut mib, mut keystrokes, mut runs, mut keep) = (64, 1000, 3, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--orrery" => orrery = Some(PathBuf::from(value()?)),
            "--python" => python = Some(PathBuf::from(value()?)),
            "--server" => server = Some(PathBuf::from(value()?)),
            "--mib" => mib = value()?.parse().context("--mib")?,
            "--keystrokes" => keystrokes = value()?.parse().context("--keystrokes")?,
            "--runs" => runs = value()?.parse().context("--runs")?,
            "--keep" => keep = true,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(Args {
        orrery: orrery.ok_or_else(|| anyhow!("--orrery PATH is required"))?,
        python: python.ok_or_else(|| anyhow!("--python PATH is required"))?,
        server: server.ok_or_else(|| anyhow!("--server PATH is required"))?,
        mib,
        keystrokes: keystrokes.max(1),
        runs: runs.max(1),
        keep,
    })
}

/// A child process ended when dropped: SIGTERM, then SIGKILL if it lingers.
struct Process {
    child: Child,
    name: &'static str,
}

impl Drop for Process {
    fn drop(&mut self) {
        child::stop(&mut self.child, self.name, Duration::from_secs(5));
    }
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| {
        // One thread for the client, the same for both peers: the hub, terminado, bash and base64 need the cores.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(bench(args))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_terminal: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The shell both peers run: the machine's bash without rc files, with a prompt the workloads recognise.
fn write_shell(dir: &Path) -> Result<PathBuf> {
    let shell = dir.join("shell");
    std::fs::write(
        &shell,
        "#!/bin/sh\nPS1='$ ' exec /bin/bash --norc --noprofile -i\n",
    )?;
    std::fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    Ok(shell)
}

/// About `mib` MiB of base64 text (random bytes, 76 columns), the file the throughput runs `cat`.
fn write_data(project: &Path, mib: u64) -> Result<PathBuf> {
    let data = project.join("data.b64");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c {} /dev/urandom | base64 > '{}'",
            mib * (3 << 20) / 4,
            data.display()
        ))
        .status()?;
    if !status.success() {
        bail!("writing the data file failed: {status}");
    }
    Ok(data)
}

fn start_hub(args: &Args, dir: &Path, project: &Path, shell: &Path) -> Result<(Process, PathBuf)> {
    let socket = dir.join("run/hub.sock");
    let log = std::fs::File::create(dir.join("local-hub.log"))?;
    let child = Command::new(&args.orrery)
        .arg("local-hub")
        .arg("--project")
        .arg(project)
        .arg("--socket")
        .arg(&socket)
        .arg("--shell")
        .arg(shell)
        .args(["--idle-timeout", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", args.orrery.display()))?;
    Ok((
        Process {
            child,
            name: "orrery local-hub",
        },
        socket,
    ))
}

fn start_terminado(
    args: &Args,
    dir: &Path,
    project: &Path,
    shell: &Path,
) -> Result<(Process, u16)> {
    let log = std::fs::File::create(dir.join("terminado.log"))?;
    let mut child = Command::new(&args.python)
        .arg(&args.server)
        .arg("--shell")
        .arg(shell)
        .arg("--cwd")
        .arg(project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", args.server.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("terminado's stdout"))?;
    let process = Process {
        child,
        name: "terminado",
    };
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let port = line
        .strip_prefix("listening ")
        .and_then(|port| port.trim().parse().ok())
        .ok_or_else(|| anyhow!("terminado did not start: {line:?} (see terminado.log)"))?;
    Ok((process, port))
}

async fn bench(args: Args) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("orrery-bench-terminal-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let scratch = Scratch(dir.clone(), args.keep);
    let project = dir.join("project");
    std::fs::create_dir_all(&project)?;
    let shell = write_shell(&dir)?;
    let data = write_data(&project, args.mib)?;

    let (hub, socket) = start_hub(&args, &dir, &project, &shell)?;
    let mut ours = Ours::open(&socket, "bench", SIZE)
        .await
        .with_context(|| format!("local hub log: {}", dir.join("local-hub.log").display()))?;
    let (server, port) = start_terminado(&args, &dir, &project, &shell)?;
    let mut theirs = Terminado::open(port, "bench", SIZE.rows, SIZE.cols).await?;

    println!(
        "terminal benchmark: `cat` of {} MiB of base64 x{} runs, {} keystrokes, a 24x80 bash at a `$ ` prompt",
        args.mib, args.runs, args.keystrokes
    );
    println!("  ours: `orrery local-hub` over its Unix socket; terminado 0.18.1 (tornado WebSocket on loopback)");

    let our_echo = sorted(workload::echo(&mut ours, args.keystrokes).await?);
    let their_echo = sorted(workload::echo(&mut theirs, args.keystrokes).await?);
    let our_interrupt = workload::interrupt(&mut ours).await?;
    let their_interrupt = workload::interrupt(&mut theirs).await?;
    let mut our_runs = Vec::new();
    let mut their_runs = Vec::new();
    for run in 0..args.runs {
        // Interleaved, so both see the same machine.
        our_runs.push(workload::throughput(&mut ours, &data, &format!("ours-{run}")).await?);
        their_runs.push(workload::throughput(&mut theirs, &data, &format!("theirs-{run}")).await?);
    }

    println!();
    println!("{:<34} {:>12} {:>12}", "", "local hub", "terminado");
    let row = |label: &str, ours: String, theirs: String| {
        println!("{label:<34} {ours:>12} {theirs:>12}");
    };
    for p in [50.0, 90.0, 99.0] {
        row(
            &format!("echo round trip p{p}"),
            millis(workload::percentile(&our_echo, p)),
            millis(workload::percentile(&their_echo, p)),
        );
    }
    row(
        "echo round trip max",
        millis(our_echo.last().copied().unwrap_or_default()),
        millis(their_echo.last().copied().unwrap_or_default()),
    );
    row(
        "output after Ctrl-C during yes",
        millis(our_interrupt),
        millis(their_interrupt),
    );
    for (run, (ours, theirs)) in our_runs.iter().zip(&their_runs).enumerate() {
        row(
            &format!("throughput run {} (MB/s)", run + 1),
            format!("{:.1}", ours.megabytes_per_second()),
            format!("{:.1}", theirs.megabytes_per_second()),
        );
    }
    let ours = median(&our_runs);
    let theirs = median(&their_runs);
    row(
        "  bytes received (median run)",
        ours.bytes.to_string(),
        theirs.bytes.to_string(),
    );
    row(
        "  resync snapshots (median run)",
        ours.snapshots.to_string(),
        "n/a".into(),
    );

    // Both servers stop, and the scratch directory goes, before the closing lines.
    drop((hub, server, scratch));
    let our_p99 = workload::percentile(&our_echo, 99.0);
    let their_p99 = workload::percentile(&their_echo, 99.0);
    println!();
    println!(
        "BENCH terminal.throughput {:.1} MB/s",
        ours.megabytes_per_second()
    );
    println!(
        "BENCH terminal.vs_terminado {:.2} x",
        ours.megabytes_per_second() / theirs.megabytes_per_second()
    );
    println!(
        "BENCH terminal.echo_p99 {:.3} ms",
        our_p99.as_secs_f64() * 1e3
    );
    println!(
        "BENCH terminal.echo_vs_terminado {:.2} x",
        their_p99.as_secs_f64() / our_p99.as_secs_f64()
    );
    println!(
        "BENCH terminal.ctrl_c {:.1} ms",
        our_interrupt.as_secs_f64() * 1e3
    );
    Ok(())
}

fn sorted(mut durations: Vec<Duration>) -> Vec<Duration> {
    durations.sort();
    durations
}

fn millis(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1e3)
}

/// The run with the median throughput.
fn median(runs: &[Throughput]) -> &Throughput {
    let mut order: Vec<&Throughput> = runs.iter().collect();
    order.sort_by(|a, b| {
        a.megabytes_per_second()
            .total_cmp(&b.megabytes_per_second())
    });
    order[order.len() / 2]
}
