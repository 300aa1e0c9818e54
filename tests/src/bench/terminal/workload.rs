//! The terminal benchmark's workloads, run the same way against every peer: output throughput (`cat` of a large
//! base64 file through the terminal), keystroke echo round trips at a bash prompt, and how long output goes on after
//! Ctrl-C during `yes`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// How long any one workload may take before the benchmark gives up.
const DEADLINE: Duration = Duration::from_secs(300);

/// What a terminal sent.
pub enum Chunk {
    /// Output, as the terminal wrote it.
    Output(Vec<u8>),
    /// A snapshot that replaced output the client fell too far behind to be sent.
    Snapshot(Vec<u8>),
}

/// One peer's terminal, as a client sees it.
pub trait Terminal {
    /// Sends keystrokes.
    async fn input(&mut self, keys: &str) -> Result<()>;
    /// The next output, snapshot or nothing (`None`) if nothing arrives before `deadline`.
    async fn next(&mut self, deadline: Instant) -> Result<Option<Chunk>>;
}

/// Searches a stream for a marker, however it is split into chunks.
struct Finder {
    marker: Vec<u8>,
    tail: Vec<u8>,
}

impl Finder {
    fn new(marker: &str) -> Finder {
        Finder {
            marker: marker.as_bytes().to_vec(),
            tail: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> bool {
        self.tail.extend_from_slice(bytes);
        let found = contains(&self.tail, &self.marker);
        let keep = self.marker.len().saturating_sub(1);
        let cut = self.tail.len().saturating_sub(keep);
        self.tail.drain(..cut);
        found
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(at) = haystack[from..].iter().position(|&byte| byte == first) {
        let start = from + at;
        if haystack[start + 1..].starts_with(rest) {
            return Some(start);
        }
        from = start + 1;
    }
    None
}

/// Reads until `marker` appears in output or a snapshot; returns the output bytes read.
pub async fn read_until<T: Terminal>(terminal: &mut T, marker: &str) -> Result<(u64, usize)> {
    let deadline = Instant::now() + DEADLINE;
    let mut finder = Finder::new(marker);
    let (mut bytes, mut snapshots) = (0u64, 0usize);
    loop {
        match terminal.next(deadline).await? {
            Some(Chunk::Output(output)) => {
                bytes += output.len() as u64;
                if finder.feed(&output) {
                    return Ok((bytes, snapshots));
                }
            }
            Some(Chunk::Snapshot(snapshot)) => {
                snapshots += 1;
                finder = Finder::new(marker);
                if contains(&snapshot, marker.as_bytes()) {
                    return Ok((bytes, snapshots));
                }
            }
            None => bail!("`{marker}` did not appear within {DEADLINE:?}"),
        }
    }
}

/// Runs a command that prints `tag-42` when it is done (the shell computes 42, so the echo of the command line never
/// matches), and waits for it.
pub async fn run<T: Terminal>(terminal: &mut T, command: &str, tag: &str) -> Result<(u64, usize)> {
    terminal
        .input(&format!("{command}; echo {tag}-$((6*7))\r"))
        .await?;
    read_until(terminal, &format!("{tag}-42")).await
}

/// Waits until the shell is idle at its prompt: a marker, then the prompt after it.
pub async fn settle<T: Terminal>(terminal: &mut T, tag: &str) -> Result<()> {
    terminal.input(&format!("echo {tag}-$((6*7))\r")).await?;
    let deadline = Instant::now() + DEADLINE;
    let marker = format!("{tag}-42");
    let mut seen = Vec::new();
    loop {
        match terminal.next(deadline).await? {
            Some(Chunk::Output(output) | Chunk::Snapshot(output)) => {
                seen.extend_from_slice(&output)
            }
            None => bail!("the shell did not come back to its prompt"),
        }
        if let Some(at) = find(&seen, marker.as_bytes()) {
            if contains(&seen[at..], b"$ ") {
                return Ok(());
            }
        }
    }
}

/// One throughput run.
pub struct Throughput {
    /// Output bytes received.
    pub bytes: u64,
    pub elapsed: Duration,
    /// Snapshots received instead of output (the client fell behind).
    pub snapshots: usize,
}

impl Throughput {
    pub fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

/// `cat` of a file through the terminal (`cat` writes in large blocks, so the PTY is not what limits): from the
/// keystroke that starts it to its last line.
pub async fn throughput<T: Terminal>(
    terminal: &mut T,
    file: &Path,
    tag: &str,
) -> Result<Throughput> {
    settle(terminal, &format!("{tag}-settled")).await?;
    let started = Instant::now();
    let (bytes, snapshots) = run(
        terminal,
        &format!("cat {}", file.display()),
        &format!("{tag}-done"),
    )
    .await?;
    Ok(Throughput {
        bytes,
        elapsed: started.elapsed(),
        snapshots,
    })
}

/// Keystroke round trips: type `x` at the prompt and wait for its echo, then rub it out; `count` times.
pub async fn echo<T: Terminal>(terminal: &mut T, count: usize) -> Result<Vec<Duration>> {
    settle(terminal, "echo-settled").await?;
    let mut round_trips = Vec::with_capacity(count);
    for _ in 0..count {
        let deadline = Instant::now() + DEADLINE;
        let typed = Instant::now();
        terminal.input("x").await?;
        wait_for_byte(terminal, b'x', deadline).await?;
        round_trips.push(typed.elapsed());
        terminal.input("\x7f").await?;
        wait_for_byte(terminal, 0x08, deadline).await?;
    }
    Ok(round_trips)
}

async fn wait_for_byte<T: Terminal>(terminal: &mut T, byte: u8, deadline: Instant) -> Result<()> {
    loop {
        match terminal.next(deadline).await? {
            Some(Chunk::Output(output) | Chunk::Snapshot(output)) if output.contains(&byte) => {
                return Ok(())
            }
            Some(_) => {}
            None => bail!("no echo of 0x{byte:02x}"),
        }
    }
}

/// `yes`, then Ctrl-C once it floods: how long after the Ctrl-C its output kept arriving.
pub async fn interrupt<T: Terminal>(terminal: &mut T) -> Result<Duration> {
    settle(terminal, "yes-settled").await?;
    terminal.input("yes\r").await?;
    let deadline = Instant::now() + DEADLINE;
    let mut flooded = 0usize;
    while flooded < 4 << 20 {
        match terminal.next(deadline).await? {
            Some(Chunk::Output(output)) => flooded += output.len(),
            Some(Chunk::Snapshot(_)) => {}
            None => bail!("yes did not flood"),
        }
    }
    let interrupted = Instant::now();
    terminal.input("\x03").await?;
    let mut last_yes = interrupted;
    let mut typed = false;
    let mut done = Finder::new("interrupted-42");
    loop {
        let output = match terminal.next(deadline).await? {
            Some(Chunk::Output(output)) => output,
            Some(Chunk::Snapshot(snapshot)) => snapshot,
            None => bail!("yes did not stop"),
        };
        if contains(&output, b"y\r\n") {
            last_yes = Instant::now();
        }
        if done.feed(&output) {
            return Ok(last_yes.duration_since(interrupted));
        }
        if !typed && contains(&output, b"^C") {
            terminal.input("echo interrupted-$((6*7))\r").await?;
            typed = true;
        }
    }
}

/// The `p`th percentile (0 to 100) of some durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
