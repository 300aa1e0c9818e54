//! The servers the co-editing benchmark drives, as child processes: `orrery up` (hub and host in one process, each
//! project's local hub its child), or `orrery local-hub` alone; and what Linux says they cost (`/proc`).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A child process ended when dropped: SIGTERM (so it saves and stops its own children), then SIGKILL if it lingers.
#[derive(Debug)]
pub struct Process {
    child: Child,
    name: &'static str,
    /// Where its output goes.
    pub log: PathBuf,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, pointing at the log, if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); see {}",
                self.name,
                self.log.display()
            );
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        crate::child::stop(&mut self.child, self.name, Duration::from_secs(10));
    }
}

/// `orrery up --data DIR --port 0`, once it says where it listens.
pub fn start_up(orrery: &Path, data: &Path, log: PathBuf) -> Result<(Process, SocketAddr)> {
    let mut child = Command::new(orrery)
        .arg("up")
        .arg("--data")
        .arg(data)
        .args(["--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("starting {} up", orrery.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("orrery up's stdout"))?;
    let mut process = Process {
        child,
        name: "orrery up",
        log: log.clone(),
    };
    // A thread reads stdout, so that the server never blocks on a full pipe, and hands over the address line.
    let (found, address) = std::sync::mpsc::channel();
    let copy = log.with_extension("stdout");
    std::thread::spawn(move || {
        let mut out = std::fs::File::create(copy).ok();
        let mut found = Some(found);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(out) = out.as_mut() {
                let _ = writeln!(out, "{line}");
            }
            if let Some(address) = listening_address(&line) {
                if let Some(found) = found.take() {
                    let _ = found.send(address);
                }
            }
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match address.recv_timeout(Duration::from_millis(100)) {
            Ok(address) => return Ok((process, address)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                process.check_running()?
            }
            Err(_) => {
                process.check_running()?;
                bail!(
                    "orrery up did not print `Orrery is running at http://…/` within {START_TIMEOUT:?}; see {}",
                    log.display()
                )
            }
        }
    }
}

/// The address in `Orrery is running at http://127.0.0.1:PORT/`.
pub fn listening_address(line: &str) -> Option<SocketAddr> {
    let rest =
        &line[line.find("Orrery is running at http://")? + "Orrery is running at http://".len()..];
    rest.split('/').next()?.trim().parse().ok()
}

/// `orrery local-hub` serving `project` on `socket`, once the socket exists.
pub async fn start_local_hub(
    orrery: &Path,
    project: &Path,
    socket: &Path,
    log: PathBuf,
) -> Result<Process> {
    let child = Command::new(orrery)
        .arg("local-hub")
        .arg("--project")
        .arg(project)
        .arg("--socket")
        .arg(socket)
        .args(["--idle-timeout", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("starting {} local-hub", orrery.display()))?;
    let mut process = Process {
        child,
        name: "orrery local-hub",
        log,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    while !socket.exists() {
        process.check_running()?;
        if Instant::now() > deadline {
            bail!("the local hub never listened on {}", socket.display());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(process)
}

/// CPU time and resident memory of one process, as Linux accounts them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Resident set size (VmRSS), in KiB.
    pub rss_kib: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times.
fn ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces and parentheses): field 3 onwards.
fn stat_fields(pid: u32) -> Result<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let after_name = stat
        .rfind(')')
        .map(|at| &stat[at + 1..])
        .ok_or_else(|| anyhow!("/proc/{pid}/stat has no command name"))?;
    Ok(after_name.split_whitespace().map(str::to_owned).collect())
}

/// What one process has used so far.
pub fn usage(pid: u32) -> Result<Usage> {
    let fields = stat_fields(pid)?;
    // Fields 14 and 15 (utime, stime) are at 11 and 12 counting from field 3.
    let ticks = |index: usize| -> Result<u64> {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .ok_or_else(|| anyhow!("/proc/{pid}/stat field {}", index + 3))
    };
    let cpu_ticks = ticks(11)? + ticks(12)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("/proc/{pid}/status has no VmRSS"))?;
    Ok(Usage {
        cpu: Duration::from_nanos(cpu_ticks * 1_000_000_000 / ticks_per_second()),
        rss_kib,
    })
}

/// CPU time every process on the machine has used so far (user, nice, system, interrupts, and time stolen by the
/// hypervisor), from the first line of `/proc/stat`.
pub fn machine_cpu() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .ok_or_else(|| anyhow!("/proc/stat has no cpu line"))?
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&index| fields.get(index))
        .sum();
    Ok(Duration::from_nanos(
        busy * 1_000_000_000 / ticks_per_second(),
    ))
}

/// The live children of a process (the local hubs `orrery up` started).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| {
            stat_fields(child)
                .ok()
                .and_then(|fields| fields.get(1)?.parse::<u32>().ok())
                == Some(pid)
        })
        .collect()
}

/// CPU time summed over a process's live children.
pub fn children_cpu(pid: u32) -> Duration {
    children(pid)
        .into_iter()
        .filter_map(|child| usage(child).ok())
        .map(|usage| usage.cpu)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_line_is_found() {
        assert_eq!(
            listening_address("Orrery is running at http://127.0.0.1:40123/"),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(
            listening_address(
                "2026-01-01 INFO Orrery is running at http://127.0.0.1:8080/ (data in /x)"
            ),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(listening_address("starting"), None);
    }

    #[test]
    fn this_process_has_usage() {
        let usage = usage(std::process::id()).unwrap();
        assert!(usage.rss_kib > 0);
        assert!(machine_cpu().unwrap() >= usage.cpu);
    }
}
