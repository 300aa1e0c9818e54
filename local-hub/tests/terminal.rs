//! Shared terminals over a real local hub's socket, with a real shell on a real PTY: typing and seeing the echo, two
//! viewers sharing one terminal, Ctrl-C stopping `yes` within 200 ms, a viewer that never reads not slowing the
//! other, re-attaching to the previous screen, the smallest size winning, the shell's exit, KILL, idle culling, and
//! shutdown ending every process of a terminal.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use orrery_local_hub::client::Connection;
use orrery_local_hub::protocol::{kind, Exited, Frame, Hello, Service, TerminalSize, VERSION};
use orrery_local_hub::Config;
use tokio_util::sync::CancellationToken;

/// How long a condition may take before the test fails; none of them should take more than a fraction of this.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A local hub serving a temporary project, its terminals running bash with a fixed prompt.
struct Hub {
    _dir: tempfile::TempDir,
    root: PathBuf,
    socket: PathBuf,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(idle_cull: Duration) -> Hub {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().canonicalize().expect("canonical");
    let root = base.join("project");
    std::fs::create_dir_all(&root).expect("mkdir");
    // The user's shell, minus their rc files: a prompt the tests can rely on.
    let shell = base.join("shell");
    std::fs::write(
        &shell,
        "#!/bin/sh\nPS1='$ ' exec /bin/bash --norc --noprofile -i\n",
    )
    .expect("write shell");
    std::fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let socket = base.join("run/hub.sock");
    let mut config = Config::new(root.clone(), socket.clone());
    config.idle_timeout = Duration::ZERO;
    config.shell = Some(shell);
    config.terminal_idle_cull = idle_cull;
    orrery_local_hub::prepare(&config).expect("prepare");
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        if let Err(error) = orrery_local_hub::run(config, token).await {
            panic!("the local hub failed: {error}");
        }
    });
    Hub {
        _dir: dir,
        root,
        socket,
        shutdown,
        task: Some(task),
    }
}

/// A viewer's side of one terminal channel, rendering what it receives into its own emulator as xterm.js would.
struct Viewer {
    connection: Connection,
    channel: u32,
    screen: vt100::Parser,
    /// Every OUTPUT byte received, for searching what scrolled by.
    output: Vec<u8>,
    /// Where the last OUTPUT frame starts in `output`.
    last_output: usize,
    /// Frames received, by kind.
    snapshots: Vec<Vec<u8>>,
    sizes: Vec<TerminalSize>,
    exited: Option<Exited>,
    /// Whether it renders output into `screen` (a `yes` flood would make the test client the bottleneck).
    render: bool,
}

fn leb128(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    orrery_local_hub::protocol::write_varint(&mut out, value);
    out
}

fn parser(size: TerminalSize) -> vt100::Parser {
    vt100::Parser::new(
        std::num::NonZeroU16::new(size.rows).unwrap(),
        std::num::NonZeroU16::new(size.cols).unwrap(),
        1000,
    )
}

async fn connect(socket: &Path, name: &str) -> Connection {
    let hello = Hello {
        version: VERSION,
        name: name.into(),
        color: "#268bd2".into(),
        ..Default::default()
    };
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match Connection::connect(socket, hello.clone()).await {
            Ok(connection) => return connection,
            Err(error) if Instant::now() > deadline => panic!("the hub never listened: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

impl Viewer {
    async fn attach(hub: &Hub, terminal: &str, size: TerminalSize) -> Viewer {
        let connection = connect(&hub.socket, "viewer").await;
        Viewer::attach_on(connection, terminal, size).await
    }

    async fn attach_on(mut connection: Connection, terminal: &str, size: TerminalSize) -> Viewer {
        let (channel, _) = connection
            .open(Service::Terminal {
                name: terminal.into(),
                size,
                resume: None,
            })
            .await
            .expect("terminal opens");
        Viewer {
            connection,
            channel,
            screen: parser(size),
            output: Vec::new(),
            last_output: 0,
            snapshots: Vec::new(),
            sizes: Vec::new(),
            exited: None,
            render: true,
        }
    }

    async fn send(&mut self, kind: u8, body: Vec<u8>) {
        self.connection
            .send(&Frame::new(self.channel, kind, body))
            .await
            .expect("send");
    }

    async fn type_text(&mut self, text: &str) {
        self.send(kind::INPUT, text.as_bytes().to_vec()).await;
    }

    /// Receives one frame of this channel, renders and acknowledges it; returns its kind.
    async fn receive(&mut self, deadline: Instant) -> u8 {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = self
            .connection
            .recv_timeout(left)
            .await
            .unwrap_or_else(|error| panic!("waiting for terminal frames: {error}"));
        assert_eq!(
            frame.channel, self.channel,
            "a frame on another channel: {frame:?}"
        );
        match frame.kind {
            kind::OUTPUT => {
                if self.render {
                    self.screen.process(&frame.body);
                }
                self.last_output = self.output.len();
                self.output.extend_from_slice(&frame.body);
                self.send(kind::ACK, leb128(frame.body.len() as u64)).await;
            }
            kind::SNAPSHOT => {
                let (rows, cols) = self.screen.screen().size();
                self.screen = parser(TerminalSize {
                    rows: rows.get(),
                    cols: cols.get(),
                });
                self.screen.process(&frame.body);
                self.send(kind::ACK, leb128(frame.body.len() as u64)).await;
                self.snapshots.push(frame.body);
            }
            kind::SIZE => {
                let size: TerminalSize = frame.parse().expect("SIZE is JSON");
                self.screen.set_size(
                    std::num::NonZeroU16::new(size.rows).unwrap(),
                    std::num::NonZeroU16::new(size.cols).unwrap(),
                );
                self.sizes.push(size);
            }
            kind::EXITED => self.exited = Some(frame.parse().expect("EXITED is JSON")),
            // Which shell this is: `project.rs` tests what it says.
            kind::ATTACHED => {}
            other => panic!("unexpected terminal frame 0x{other:02x}: {frame:?}"),
        }
        frame.kind
    }

    /// Receives until `done` holds, failing after [`TIMEOUT`].
    async fn until(&mut self, what: &str, mut done: impl FnMut(&Viewer) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !done(self) {
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; the screen shows:\n{}",
                    self.screen.screen().contents()
                );
            }
            self.receive(deadline).await;
        }
    }

    fn rows(&self) -> Vec<String> {
        let (_, cols) = self.screen.screen().size();
        self.screen.screen().rows(0, cols.get()).collect()
    }

    /// True when some row of the screen is exactly `text` (so a command's echo does not count as its output).
    fn shows_line(&self, text: &str) -> bool {
        self.rows().iter().any(|row| row.trim_end() == text)
    }

    /// True when the last OUTPUT frame (with a little of the one before it) contains `text`: cheap enough to ask
    /// after every frame of a flood.
    fn saw(&self, text: &str) -> bool {
        self.output[self.last_output.saturating_sub(text.len())..]
            .windows(text.len())
            .any(|window| window == text.as_bytes())
    }

    fn output_contains(&self, text: &str) -> bool {
        self.output
            .windows(text.len())
            .any(|window| window == text.as_bytes())
    }

    /// Runs a command whose output line is `expected` and waits for that line.
    async fn run(&mut self, command: &str, expected: &str) {
        self.type_text(&format!("{command}\r")).await;
        self.until(&format!("`{command}` to print {expected}"), |viewer| {
            viewer.shows_line(expected)
        })
        .await;
    }

    async fn prompt(&mut self) {
        self.until("the prompt", |viewer| viewer.shows_line("$"))
            .await;
    }
}

const SIZE: TerminalSize = TerminalSize { rows: 24, cols: 80 };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_echo_hello_shows_hello() {
    let hub = start(Duration::ZERO).await;
    let mut viewer = Viewer::attach(&hub, "main", SIZE).await;
    viewer.prompt().await;
    assert_eq!(viewer.sizes.first(), Some(&SIZE), "SIZE comes first");
    assert_eq!(viewer.snapshots.len(), 1, "then one snapshot");
    viewer.run("echo hello", "hello").await;
    // The shell runs in the project directory, with the environment of the user it runs as.
    viewer.run("pwd", hub.root.to_str().unwrap()).await;
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap();
    viewer
        .run(
            "echo \"$USER:$HOME:$TERM\"",
            &format!("{}:{}:xterm-256color", user.name, user.dir.display()),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_viewers_see_the_same_output() {
    let hub = start(Duration::ZERO).await;
    let mut ann = Viewer::attach(&hub, "shared", SIZE).await;
    ann.prompt().await;
    let mut bob = Viewer::attach(&hub, "shared", SIZE).await;
    bob.prompt().await;
    ann.run("echo from-ann-$((6*7))", "from-ann-42").await;
    bob.until("Ann's command's output", |viewer| {
        viewer.shows_line("from-ann-42")
    })
    .await;
    bob.run("echo from-bob-$((7*7))", "from-bob-49").await;
    ann.until("Bob's command's output", |viewer| {
        viewer.shows_line("from-bob-49")
    })
    .await;
    // Both are done once the prompt after Bob's command shows.
    let done = |viewer: &Viewer| {
        let rows = viewer.rows();
        let last = rows.iter().rposition(|row| !row.trim().is_empty());
        viewer.shows_line("from-bob-49") && last.is_some_and(|last| rows[last].trim_end() == "$")
    };
    ann.until("the prompt after Bob's command", done).await;
    bob.until("the prompt after Bob's command", done).await;
    assert_eq!(
        ann.screen.screen().contents(),
        bob.screen.screen().contents(),
        "both viewers show the same screen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_yes() {
    let hub = start(Duration::ZERO).await;
    let mut viewer = Viewer::attach(&hub, "yes", SIZE).await;
    viewer.prompt().await;
    viewer.render = false;
    viewer.type_text("yes\r").await;
    viewer
        .until("yes to flood", |viewer| viewer.output.len() > 4 << 20)
        .await;
    let interrupted = Instant::now();
    viewer.type_text("\x03").await;
    // How fast is a benchmark figure (`tests/bench/run terminal`, `BENCH terminal.ctrl_c`); here only that it stops,
    // with a deadline a loaded machine meets.
    let deadline = interrupted + 3 * TIMEOUT;
    let mut last_y = interrupted;
    let mut seen = viewer.output.len();
    // Until the shell is back: a command typed after the ^C runs and prints.
    let mut typed = false;
    loop {
        assert!(
            Instant::now() < deadline,
            "the shell did not come back within {:?} of Ctrl-C during `yes` (last `y` {:?} after it)",
            3 * TIMEOUT,
            last_y.duration_since(interrupted)
        );
        viewer.receive(deadline).await;
        // Only what just came, and a few bytes before it for a marker split between frames.
        let fresh = &viewer.output[seen.saturating_sub(16)..];
        seen = viewer.output.len();
        let has = |text: &[u8]| fresh.windows(text.len()).any(|window| window == text);
        let (yes_output, interrupted_echo, done) = (has(b"y\r\n"), has(b"^C"), has(b"stopped-42"));
        if yes_output {
            last_y = Instant::now();
        }
        if done {
            break;
        }
        if !typed && interrupted_echo {
            viewer.type_text("echo stopped-$((6*7))\r").await;
            typed = true;
        }
    }
    println!(
        "output stopped {:?} after Ctrl-C",
        last_y.duration_since(interrupted)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_never_reads_does_not_slow_the_other() {
    let hub = start(Duration::ZERO).await;
    // This one attaches, then reads nothing and acknowledges nothing until the end.
    let mut sleeper = Viewer::attach(&hub, "busy", SIZE).await;
    let mut worker = Viewer::attach(&hub, "busy", SIZE).await;
    worker.prompt().await;
    // Far more than the sleeper's credit, its connection's queue and its socket's buffers together. If the
    // sleeper held the terminal back, the flood would never end.
    let started = Instant::now();
    worker.render = false;
    worker
        .type_text("seq 1 1000000; echo done-$((6*7))\r")
        .await;
    worker
        .until("the flood and the marker after it", |viewer| {
            viewer.saw("\r\ndone-42") || viewer.shows_line("done-42")
        })
        .await;
    println!(
        "a 6.9 MB flood with a stalled viewer attached: {:?}",
        started.elapsed()
    );
    worker.render = true;
    worker.run("echo quick-$((6*7))", "quick-42").await;
    // The sleeper wakes: it is brought up to date with a snapshot rather than the 20 MiB it missed.
    sleeper
        .until("the sleeper to catch up", |viewer| {
            viewer.shows_line("quick-42")
        })
        .await;
    assert!(
        sleeper.snapshots.len() >= 2,
        "the sleeper was resynced by a snapshot"
    );
    assert!(
        sleeper.output.len() < 4 << 20,
        "the sleeper was not sent everything it missed ({} of 6.9 MB)",
        sleeper.output.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_whose_only_viewer_stops_reading_keeps_running() {
    let hub = start(Duration::ZERO).await;
    let mut viewer = Viewer::attach(&hub, "alone", SIZE).await;
    viewer.prompt().await;
    // The viewer types, then reads nothing: the PTY waits for it a moment, then runs on without it.
    let marker = hub.root.join("finished");
    viewer.type_text("seq 1 2000000; touch finished\r").await;
    let deadline = Instant::now() + TIMEOUT;
    while !marker.exists() {
        assert!(
            Instant::now() < deadline,
            "the terminal stalled with its viewer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Reading again, it is brought up to date.
    viewer
        .until("the end of the output", |viewer| {
            viewer.shows_line("2000000")
        })
        .await;
    assert!(viewer.snapshots.len() >= 2, "resynced by a snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reattaching_shows_the_previous_screen() {
    let hub = start(Duration::ZERO).await;
    let mut first = Viewer::attach(&hub, "keep", SIZE).await;
    first.prompt().await;
    let pid = pid_of(&mut first, "echo before-$((2*3)); echo $$", "before-6").await;
    drop(first);
    let mut second = Viewer::attach(&hub, "keep", SIZE).await;
    second
        .until("the snapshot", |viewer| !viewer.snapshots.is_empty())
        .await;
    assert!(
        second.shows_line("before-6"),
        "the snapshot shows the earlier output:\n{}",
        second.screen.screen().contents()
    );
    // The same shell, not a new one.
    second.run("echo $$", &pid.to_string()).await;
    second.run("echo after", "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_is_the_smallest_of_the_viewers() {
    let hub = start(Duration::ZERO).await;
    let mut wide = Viewer::attach(
        &hub,
        "sized",
        TerminalSize {
            rows: 30,
            cols: 100,
        },
    )
    .await;
    wide.prompt().await;
    let mut tall = Viewer::attach(&hub, "sized", TerminalSize { rows: 40, cols: 90 }).await;
    tall.prompt().await;
    let smallest = TerminalSize { rows: 30, cols: 90 };
    wide.until("the smaller size", |viewer| {
        viewer.sizes.last() == Some(&smallest)
    })
    .await;
    assert_eq!(tall.sizes.last(), Some(&smallest), "both are told");
    wide.run("stty size", "30 90").await;

    // The tall one shrinks: both are told again.
    tall.send(
        kind::RESIZE,
        serde_json::to_vec(&TerminalSize {
            rows: 20,
            cols: 120,
        })
        .unwrap(),
    )
    .await;
    let smaller = TerminalSize {
        rows: 20,
        cols: 100,
    };
    wide.until("the new size", |viewer| {
        viewer.sizes.last() == Some(&smaller)
    })
    .await;
    tall.until("the new size", |viewer| {
        viewer.sizes.last() == Some(&smaller)
    })
    .await;
    tall.run("stty size", "20 100").await;

    // It leaves: the one left gets its own size back.
    drop(tall);
    let own = TerminalSize {
        rows: 30,
        cols: 100,
    };
    wide.until("its own size", |viewer| viewer.sizes.last() == Some(&own))
        .await;
    wide.run("stty size", "30 100").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exiting_the_shell_tells_every_viewer_and_the_name_starts_afresh() {
    let hub = start(Duration::ZERO).await;
    let mut ann = Viewer::attach(&hub, "short", SIZE).await;
    ann.prompt().await;
    let mut bob = Viewer::attach(&hub, "short", SIZE).await;
    bob.prompt().await;
    ann.type_text("exit 3\r").await;
    ann.until("EXITED", |viewer| viewer.exited.is_some()).await;
    bob.until("EXITED", |viewer| viewer.exited.is_some()).await;
    assert_eq!(ann.exited, Some(Exited { code: Some(3) }));
    assert_eq!(bob.exited, Some(Exited { code: Some(3) }));
    // The name now starts a new shell, with an empty screen.
    let mut again = Viewer::attach(&hub, "short", SIZE).await;
    again.prompt().await;
    assert!(!again.output_contains("exit 3"));
    assert!(!again
        .snapshots
        .iter()
        .any(|snapshot| snapshot.windows(6).any(|w| w == b"exit 3")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_the_terminal_for_every_viewer() {
    let hub = start(Duration::ZERO).await;
    let mut ann = Viewer::attach(&hub, "doomed", SIZE).await;
    ann.prompt().await;
    let mut bob = Viewer::attach(&hub, "doomed", SIZE).await;
    bob.prompt().await;
    // Even a shell that ignores SIGHUP ends.
    ann.run("trap '' HUP; echo trapped", "trapped").await;
    bob.send(kind::KILL, Vec::new()).await;
    ann.until("EXITED", |viewer| viewer.exited.is_some()).await;
    bob.until("EXITED", |viewer| viewer.exited.is_some()).await;
    assert_eq!(ann.exited, Some(Exited { code: None }), "ended by a signal");
}

/// True while a process with this pid runs (a zombie waiting for a parent that never reaps it does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The number on the line after `marker`, once both are on screen.
fn number_after(viewer: &Viewer, marker: &str) -> Option<i32> {
    let rows = viewer.rows();
    let at = rows.iter().position(|row| row.trim_end() == marker)?;
    rows.get(at + 1)?.trim().parse().ok()
}

/// Runs `command`, which prints `marker` and then a pid, and returns the pid.
async fn pid_of(viewer: &mut Viewer, command: &str, marker: &str) -> i32 {
    viewer.type_text(&format!("{command}\r")).await;
    viewer
        .until(&format!("`{command}` to print a pid"), |viewer| {
            number_after(viewer, marker).is_some()
        })
        .await;
    number_after(viewer, marker).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwatched_terminal_is_culled_after_its_idle_time() {
    let hub = start(Duration::from_millis(500)).await;
    let mut viewer = Viewer::attach(&hub, "idle", SIZE).await;
    viewer.prompt().await;
    let shell = pid_of(&mut viewer, "echo pid; echo $$", "pid").await;
    assert!(alive(shell));
    drop(viewer);
    let deadline = Instant::now() + TIMEOUT;
    while alive(shell) {
        assert!(
            Instant::now() < deadline,
            "the idle terminal was never culled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_terminal_is_not_culled() {
    let hub = start(Duration::from_millis(200)).await;
    let mut viewer = Viewer::attach(&hub, "watched", SIZE).await;
    viewer.prompt().await;
    let shell = pid_of(&mut viewer, "echo pid; echo $$", "pid").await;
    // Ten idle periods with a viewer attached.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(alive(shell), "a terminal with a viewer was culled");
    viewer.run("echo still-here", "still-here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_every_process_of_every_terminal() {
    let mut hub = start(Duration::ZERO).await;
    let mut viewer = Viewer::attach(&hub, "jobs", SIZE).await;
    viewer.prompt().await;
    // A job that ignores SIGHUP, in a process group of its own.
    let job = pid_of(
        &mut viewer,
        "nohup sleep 1000 >/dev/null 2>&1 & echo job; echo $!",
        "job",
    )
    .await;
    let shell = pid_of(&mut viewer, "echo shell; echo $$", "shell").await;
    assert!(alive(job) && alive(shell));
    hub.shutdown.cancel();
    tokio::time::timeout(TIMEOUT, hub.task.take().unwrap())
        .await
        .expect("the hub stops")
        .expect("cleanly");
    // The job is reaped by init once killed; give that a moment.
    let deadline = Instant::now() + TIMEOUT;
    while alive(job) || alive(shell) {
        assert!(
            Instant::now() < deadline,
            "shutdown left terminal processes running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_a_terminal_does_not_take_are_errors() {
    let hub = start(Duration::ZERO).await;
    let mut viewer = Viewer::attach(&hub, "strict", SIZE).await;
    viewer.prompt().await;
    viewer.send(kind::SYNC, b"nonsense".to_vec()).await;
    let error = viewer
        .connection
        .wait_for(TIMEOUT, |frame| frame.kind == kind::ERROR)
        .await
        .expect("an error");
    assert_eq!(error.channel, viewer.channel);
    viewer.send(kind::ACK, vec![0x80]).await;
    viewer
        .connection
        .wait_for(TIMEOUT, |frame| frame.kind == kind::ERROR)
        .await
        .expect("an error for a truncated ACK");
    viewer.send(kind::RESIZE, b"{\"rows\":".to_vec()).await;
    viewer
        .connection
        .wait_for(TIMEOUT, |frame| frame.kind == kind::ERROR)
        .await
        .expect("an error for a malformed RESIZE");
    // The terminal still works.
    viewer.run("echo fine", "fine").await;
}
