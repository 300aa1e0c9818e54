//! Memory per connected client: the hub process's resident memory before and after many idle browsers connect, first
//! with the socket alone, then each with a document channel open (a document of its own, synced once). The idle
//! clients answer the hub's pings and send theirs, as a browser tab in the background does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use orrery_sync::trace::Trace;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::editor::{Editor, Phase, Status};
use crate::link::Link;
use crate::server;
use crate::workload::Target;

/// How many clients connect or open at once.
const AT_ONCE: usize = 64;
/// How long connecting or opening every client may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Resident memory of the hub and its local hubs, in KiB, at each step.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub clients: usize,
    pub hub_before: u64,
    pub hub_sockets: u64,
    pub hub_documents: u64,
    pub hub_after_close: u64,
    pub local_hubs_before: u64,
    pub local_hubs_documents: u64,
}

impl Memory {
    /// KiB per client with the socket alone.
    pub fn per_socket(&self) -> f64 {
        self.hub_sockets.saturating_sub(self.hub_before) as f64 / self.clients as f64
    }

    /// KiB per client with a document channel open too.
    pub fn per_document(&self) -> f64 {
        self.hub_documents.saturating_sub(self.hub_before) as f64 / self.clients as f64
    }

    /// KiB per client in the local hub, for its document views.
    pub fn local_hub_per_document(&self) -> f64 {
        self.local_hubs_documents
            .saturating_sub(self.local_hubs_before) as f64
            / self.clients as f64
    }
}

/// The hub's resident memory once it stops moving (two readings 200 ms apart within 0.5%), or after 5 s.
async fn settled_rss(pid: u32) -> Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = server::usage(pid)?.rss_kib;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = server::usage(pid)?.rss_kib;
        if now.abs_diff(last) * 200 <= last || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

fn local_hubs_rss(pid: u32) -> u64 {
    server::children(pid)
        .into_iter()
        .filter_map(|child| server::usage(child).ok())
        .map(|usage| usage.rss_kib)
        .sum()
}

/// What each idle client is told to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Connected,
    OpenDocument,
    Close,
}

/// Connects `clients` idle browsers through the hub and measures the hub's memory at each step.
pub async fn measure(target: &Target, clients: usize) -> Result<Memory> {
    let Target::Hub { pid, .. } = target else {
        bail!("memory per client is measured through the hub");
    };
    let pid = *pid;
    let hub_before = settled_rss(pid).await?;
    let local_hubs_before = local_hubs_rss(pid);

    let (step_sender, step) = watch::channel(Step::Connected);
    let (finish, finished) = watch::channel(Phase::Ready);
    let (ready_sender, mut ready) = mpsc::channel::<Result<()>>(clients.max(1));
    let gate = Arc::new(Semaphore::new(AT_ONCE));
    let mut tasks = Vec::new();
    for index in 0..clients {
        let target = target.clone();
        let (mut step, finished, ready, gate) = (
            step.clone(),
            finished.clone(),
            ready_sender.clone(),
            gate.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire().await;
            let link = target.connect(index).await;
            drop(permit);
            let link = match link {
                Ok(link) => {
                    let _ = ready.send(Ok(())).await;
                    link
                }
                Err(error) => {
                    let _ = ready.send(Err(error)).await;
                    return;
                }
            };
            let Some(link) = idle(link, &mut step).await else {
                return;
            };
            let permit = gate.acquire().await;
            let path = format!("idle-{index}.txt");
            let editor = Editor::open(
                link,
                target.project(),
                &path,
                index,
                index as u64 + 1,
                Arc::new(Trace {
                    start_content: String::new(),
                    end_content: String::new(),
                    txns: Vec::new(),
                }),
                0,
            )
            .await;
            drop(permit);
            let editor = match editor {
                Ok(editor) => {
                    let _ = ready.send(Ok(())).await;
                    editor
                }
                Err(error) => {
                    let _ = ready.send(Err(error)).await;
                    return;
                }
            };
            let (status, _) = watch::channel(Status::default());
            let _ = editor.run(None, finished, status).await;
        }));
    }
    drop(ready_sender);

    let result = async {
        wait_ready(&mut ready, clients, "connect").await?;
        let hub_sockets = settled_rss(pid).await?;
        step_sender.send_replace(Step::OpenDocument);
        wait_ready(&mut ready, clients, "open a document").await?;
        let hub_documents = settled_rss(pid).await?;
        let local_hubs_documents = local_hubs_rss(pid);
        Ok::<_, anyhow::Error>((hub_sockets, hub_documents, local_hubs_documents))
    }
    .await;
    step_sender.send_replace(Step::Close);
    finish.send_replace(Phase::Finish);
    for task in tasks {
        let _ = task.await;
    }
    let (hub_sockets, hub_documents, local_hubs_documents) = result?;
    Ok(Memory {
        clients,
        hub_before,
        hub_sockets,
        hub_documents,
        hub_after_close: settled_rss(pid).await?,
        local_hubs_before,
        local_hubs_documents,
    })
}

/// Waits for `clients` reports of one step.
async fn wait_ready(
    ready: &mut mpsc::Receiver<Result<()>>,
    clients: usize,
    what: &str,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    for done in 0..clients {
        match tokio::time::timeout_at(deadline, ready.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(error))) => {
                return Err(error.context(format!("idle client failed to {what}")))
            }
            Ok(None) => bail!("idle clients went away"),
            Err(_) => {
                return Err(anyhow!(
                    "only {done} of {clients} idle clients could {what} within {TIMEOUT:?}"
                ))
            }
        }
    }
    Ok(())
}

/// Holds a socket open, reading what comes and pinging, until told to open a document (the link comes back) or to
/// close (`None`).
async fn idle(mut link: Link, step: &mut watch::Receiver<Step>) -> Option<Link> {
    let mut heartbeat =
        tokio::time::interval(link.heartbeat().unwrap_or(Duration::from_secs(86_400)));
    heartbeat.tick().await;
    loop {
        let now = *step.borrow_and_update();
        match now {
            Step::Connected => {}
            Step::OpenDocument => return Some(link),
            Step::Close => {
                link.close().await;
                return None;
            }
        }
        tokio::select! {
            frame = link.recv() => match frame {
                Ok(Some(_)) => {}
                _ => return None,
            },
            changed = step.changed() => if changed.is_err() { return None },
            _ = heartbeat.tick() => if link.ping().await.is_err() { return None },
        }
    }
}
