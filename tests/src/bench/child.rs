//! What the benchmarks' drivers share about the processes and folders they make.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Stops a child: SIGTERM (so it saves and stops its own children), then SIGKILL if it is still there after `grace`.
pub fn stop(child: &mut Child, name: &str, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("{name} did not stop on SIGTERM; killing it");
    let _ = child.kill();
    let _ = child.wait();
}

/// A scratch directory removed when dropped, unless kept.
pub struct Scratch(pub PathBuf, pub bool);

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.1 {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
