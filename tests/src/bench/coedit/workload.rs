//! One co-editing run: N editors on one new document, some of them typing their traces on a schedule, until every
//! keystroke is typed and every editor holds the same text; then the delays, the servers' CPU time, and a check that
//! the document is exactly what the traces typed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use orrery_sync::trace::Trace;
use tokio::sync::watch;

use crate::api::Account;
use crate::editor::{self, Counters, Editor, Phase, Report, Status, Typing};
use crate::link::{BrowserSocket, Link};
use crate::server;

/// How long after the last keystroke every editor may take to hold the same text.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
/// Editors connect this many at a time.
const CONNECT_AT_ONCE: usize = 16;

/// Where the editors connect.
#[derive(Debug, Clone)]
pub enum Target {
    /// Through the hub's `/ws`, as the project's collaborators (editors take the accounts in turn).
    Hub {
        address: SocketAddr,
        project: String,
        accounts: Vec<Account>,
        /// `orrery up`: the process whose CPU time is the hub's; its children are the local hubs.
        pid: u32,
    },
    /// Straight to a local hub's Unix socket: the baseline without the hub.
    LocalHub { socket: PathBuf, pid: u32 },
}

impl Target {
    pub async fn connect(&self, index: usize) -> Result<Link> {
        match self {
            Target::Hub {
                address, accounts, ..
            } => {
                let account = &accounts[index % accounts.len()];
                Ok(Link::Browser(Box::new(
                    BrowserSocket::connect(*address, &account.cookie).await?,
                )))
            }
            Target::LocalHub { socket, .. } => {
                Link::local_hub(socket, &format!("editor {index}")).await
            }
        }
    }

    pub fn project(&self) -> &str {
        match self {
            Target::Hub { project, .. } => project,
            Target::LocalHub { .. } => "",
        }
    }

    /// (the hub's CPU time, the local hubs' CPU time) so far.
    fn cpu(&self) -> (Option<Duration>, Duration) {
        match self {
            Target::Hub { pid, .. } => (
                server::usage(*pid).ok().map(|usage| usage.cpu),
                server::children_cpu(*pid),
            ),
            Target::LocalHub { pid, .. } => (
                None,
                server::usage(*pid)
                    .map(|usage| usage.cpu)
                    .unwrap_or_default(),
            ),
        }
    }
}

/// What a run does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The document, new for each run.
    pub path: String,
    pub editors: usize,
    /// Editors 0..typists type; the others only receive.
    pub typists: usize,
    /// Keystrokes per second of each typist.
    pub rate: f64,
    pub keystrokes: u64,
}

/// What a run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Every (keystroke, other editor) delay, sorted.
    pub delays: Vec<Duration>,
    /// (keystroke, other editor) pairs never seen.
    pub missing: u64,
    pub keystrokes: u64,
    /// From the first scheduled keystroke until every editor held the same text.
    pub elapsed: Duration,
    pub hub_cpu: Option<Duration>,
    pub local_hub_cpu: Duration,
    /// This process: every editor, and the conductor.
    pub client_cpu: Duration,
    /// Every other process on the machine: what the benchmark had to share the cores with.
    pub others_cpu: Duration,
    /// How late keystrokes were typed against their schedule, sorted: large values mean this process fell behind.
    pub typing_lag: Vec<Duration>,
    pub counters: Counters,
    /// Anything a clean run never shows; empty when the document is exactly what the traces typed.
    pub problems: Vec<String>,
}

/// Runs `plan` against `target`; editor i replays `traces[i % traces.len()]`.
pub async fn run(target: &Target, plan: &Plan, traces: &[Arc<Trace>]) -> Result<Outcome> {
    let traces: Vec<Arc<Trace>> = (0..plan.editors)
        .map(|index| traces[index % traces.len()].clone())
        .collect();
    let open = |index: usize| {
        let trace = traces[index].clone();
        async move {
            let link = target.connect(index).await?;
            Editor::open(
                link,
                target.project(),
                &plan.path,
                index,
                index as u64 + 1,
                trace,
                plan.editors,
            )
            .await
            .with_context(|| format!("opening editor {index}"))
        }
    };
    let mut first = open(0).await?;
    first.write_skeleton(&editor::skeleton(&traces)).await?;
    let mut editors = vec![first];
    let mut rest = Vec::new();
    for batch in (1..plan.editors)
        .collect::<Vec<_>>()
        .chunks(CONNECT_AT_ONCE)
    {
        rest.extend(
            futures_util::future::try_join_all(batch.iter().map(|&index| open(index))).await?,
        );
    }
    editors.extend(rest);
    for editor in &mut editors {
        editor.locate()?;
    }

    let interval = Duration::from_secs_f64(1.0 / plan.rate);
    let (control, phase) = watch::channel(Phase::Ready);
    let mut statuses = Vec::new();
    let mut tasks = Vec::new();
    for editor in editors {
        let index = editor.index;
        let typing = (index < plan.typists).then(|| Typing {
            interval,
            offset: interval.mul_f64(index as f64 / plan.typists as f64),
            keystrokes: plan.keystrokes,
        });
        let (status, shown) = watch::channel(Status::default());
        statuses.push(shown);
        tasks.push(tokio::spawn(editor.run(typing, phase.clone(), status)));
    }

    let (hub_before, local_before) = target.cpu();
    let client_before = server::usage(std::process::id())?.cpu;
    let machine_before = server::machine_cpu()?;
    let start = Instant::now() + Duration::from_millis(100);
    control.send_replace(Phase::Go(start));
    let typing_time = interval.mul_f64(plan.keystrokes as f64);
    let mut problems = Vec::new();
    if let Err(error) = wait_for(
        &statuses,
        typing_time * 3 + Duration::from_secs(30),
        |statuses| {
            statuses
                .iter()
                .take(plan.typists)
                .all(|status| status.typed >= plan.keystrokes)
        },
        &tasks,
    )
    .await
    {
        problems.push(format!("typing: {error}"));
    }
    if problems.is_empty() {
        let converged = |statuses: &[Status]| {
            statuses
                .iter()
                .all(|status| status.idle && status.hash == statuses[0].hash)
        };
        if let Err(error) = wait_for(&statuses, CONVERGE_TIMEOUT, converged, &tasks).await {
            problems.push(format!("the editors never held the same text: {error}"));
        }
    }
    let elapsed = start.elapsed();
    let (hub_after, local_after) = target.cpu();
    let client_after = server::usage(std::process::id())?.cpu;
    let machine_after = server::machine_cpu()?;
    control.send_replace(Phase::Finish);

    let mut reports: Vec<Report> = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(report)) => reports.push(report),
            Ok(Err(error)) => problems.push(format!("{error:#}")),
            Err(error) => problems.push(format!("an editor task failed: {error}")),
        }
    }
    let (delays, missing) = editor::delays(&reports);
    let mut counters = Counters::default();
    let mut typing_lag = Vec::new();
    for report in &reports {
        counters += report.counters;
        typing_lag.extend(report.typing_lag.iter().copied());
        problems.extend(
            report
                .problems
                .iter()
                .map(|problem| format!("editor {}: {problem}", report.index)),
        );
    }
    typing_lag.sort();
    if reports.len() == plan.editors {
        let typed: Vec<u64> = reports
            .iter()
            .map(|report| report.typed_at.len() as u64)
            .collect();
        let expected = editor::expected_text(&traces, &typed)?;
        for report in &reports {
            if report.text != expected {
                problems.push(format!(
                    "editor {}'s text differs from what the traces typed, from code point {}",
                    report.index,
                    first_difference(&report.text, &expected)
                ));
            }
        }
    }
    if missing > 0 {
        problems.push(format!(
            "{missing} (keystroke, editor) pairs were never seen"
        ));
    }
    let hub_cpu = hub_before
        .zip(hub_after)
        .map(|(before, after)| after.saturating_sub(before));
    let local_hub_cpu = local_after.saturating_sub(local_before);
    let client_cpu = client_after.saturating_sub(client_before);
    let others_cpu = machine_after
        .saturating_sub(machine_before)
        .saturating_sub(hub_cpu.unwrap_or_default() + local_hub_cpu + client_cpu);
    Ok(Outcome {
        delays,
        missing,
        keystrokes: reports
            .iter()
            .map(|report| report.typed_at.len() as u64)
            .sum(),
        elapsed,
        hub_cpu,
        local_hub_cpu,
        client_cpu,
        others_cpu,
        typing_lag,
        counters,
        problems,
    })
}

/// Waits until `done` holds for the editors' statuses, or an editor task ends early, or the time is up.
async fn wait_for(
    statuses: &[watch::Receiver<Status>],
    timeout: Duration,
    done: impl Fn(&[Status]) -> bool,
    tasks: &[tokio::task::JoinHandle<Result<Report>>],
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let now: Vec<Status> = statuses.iter().map(|status| *status.borrow()).collect();
        if done(&now) {
            return Ok(());
        }
        if let Some(index) = tasks.iter().position(|task| task.is_finished()) {
            bail!("editor {index} stopped early");
        }
        if Instant::now() > deadline {
            bail!("not done within {timeout:?}");
        }
        // The conductor only looks; it is not in the path of any keystroke.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The code-point index where two texts first differ.
fn first_difference(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}
