//! The project as people see it, through a real local hub over its real Unix socket with real shells on real PTYs: who
//! is in the project and what each looks at (PEOPLE), the running terminals with who opened and who watches each
//! (TERMINALS), both live; a viewer coming back to a shell that is gone (it exited, was ended, idled out, or the local
//! hub restarted) being told so and why (ATTACHED); and the prompt, `name@project`, which no title can turn into a
//! command.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use orrery_local_hub::client::Connection;
use orrery_local_hub::protocol::{
    kind, Attached, Focus, Frame, Hello, People, Service, TerminalEnd, TerminalList, TerminalSize,
};
use orrery_local_hub::Config;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a condition may take before the test fails; none should take more than a fraction of it.
const TIMEOUT: Duration = Duration::from_secs(20);
const SIZE: TerminalSize = TerminalSize { rows: 24, cols: 80 };

struct TestHub {
    dir: tempfile::TempDir,
    root: PathBuf,
    socket: PathBuf,
    shell: PathBuf,
    idle_cull: Duration,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestHub {
    /// A local hub whose terminals run `shell` (a fixed `$ ` prompt unless a test wants the real one).
    async fn start(shell: Option<&Path>, idle_cull: Duration) -> TestHub {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().canonicalize().expect("canonical");
        let root = base.join("project");
        std::fs::create_dir_all(&root).expect("mkdir");
        let plain = base.join("shell");
        std::fs::write(
            &plain,
            "#!/bin/sh\nPS1='$ ' exec /bin/bash --norc --noprofile -i\n",
        )
        .expect("write shell");
        std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let mut hub = TestHub {
            root,
            socket: base.join("run/hub.sock"),
            shell: shell.map_or(plain, Path::to_path_buf),
            idle_cull,
            dir,
            shutdown: CancellationToken::new(),
            task: None,
        };
        hub.launch().await;
        hub
    }

    async fn launch(&mut self) {
        let mut config = Config::new(self.root.clone(), self.socket.clone());
        config.idle_timeout = Duration::ZERO;
        config.shell = Some(self.shell.clone());
        config.terminal_idle_cull = self.idle_cull;
        orrery_local_hub::prepare(&config).expect("prepare");
        self.shutdown = CancellationToken::new();
        let token = self.shutdown.clone();
        self.task = Some(tokio::spawn(async move {
            orrery_local_hub::run(config, token)
                .await
                .expect("hub runs");
        }));
    }

    /// Stops the local hub as its host would, and starts a new one on the same project and socket.
    async fn restart(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(TIMEOUT, task)
                .await
                .expect("the hub stops in time")
                .expect("no panic");
        }
        self.launch().await;
    }

    async fn connect(&self, name: &str, project: &str) -> Connection {
        let hello = Hello {
            name: name.into(),
            color: "#268bd2".into(),
            user: format!("account-{name}"),
            project: project.into(),
            ..Default::default()
        };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match Connection::connect(&self.socket, hello.clone()).await {
                Ok(connection) => return connection,
                Err(error) if Instant::now() > deadline => {
                    panic!("the hub never listened: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
}

/// One viewer of one terminal, on a connection of its own.
struct Terminal {
    connection: Connection,
    channel: u32,
    attached: Attached,
    output: Vec<u8>,
    exited: bool,
}

impl Terminal {
    async fn open(hub: &TestHub, who: &str, name: &str, resume: Option<&str>) -> Terminal {
        let connection = hub.connect(who, "Physics 101").await;
        Terminal::open_on(connection, name, resume).await
    }

    async fn open_on(mut connection: Connection, name: &str, resume: Option<&str>) -> Terminal {
        let (channel, _) = connection
            .open(Service::Terminal {
                name: name.into(),
                size: SIZE,
                resume: resume.map(str::to_owned),
            })
            .await
            .expect("the terminal opens");
        let frame = connection
            .wait_for(TIMEOUT, |frame| frame.channel == channel)
            .await
            .expect("a first frame on the terminal channel");
        assert_eq!(
            frame.kind,
            kind::ATTACHED,
            "the first frame says which shell: {frame:?}"
        );
        Terminal {
            connection,
            channel,
            attached: frame.parse().expect("ATTACHED is JSON"),
            output: Vec::new(),
            exited: false,
        }
    }

    async fn type_text(&mut self, text: &str) {
        let frame = Frame::new(self.channel, kind::INPUT, text.as_bytes().to_vec());
        self.connection.send(&frame).await.expect("send");
    }

    fn shows(&self, text: &str) -> bool {
        self.output
            .windows(text.len())
            .any(|window| window == text.as_bytes())
    }

    /// Receives output until `done` holds.
    async fn until(&mut self, what: &str, done: impl Fn(&Terminal) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self
                .connection
                .recv_timeout(left)
                .await
                .unwrap_or_else(|error| {
                    panic!(
                        "waiting for {what}: {error}; the terminal printed {:?}",
                        String::from_utf8_lossy(&self.output)
                    )
                });
            match frame.kind {
                kind::OUTPUT | kind::SNAPSHOT => self.output.extend_from_slice(&frame.body),
                kind::EXITED => self.exited = true,
                _ => {}
            }
        }
    }
}

/// A project channel, on a connection of its own, keeping the latest of each list.
struct Watcher {
    connection: Connection,
    people: Option<People>,
    terminals: Option<TerminalList>,
}

impl Watcher {
    async fn open(hub: &TestHub, who: &str) -> Watcher {
        let mut connection = hub.connect(who, "Physics 101").await;
        connection
            .open(Service::Project)
            .await
            .expect("the project channel opens");
        Watcher {
            connection,
            people: None,
            terminals: None,
        }
    }

    async fn until(&mut self, what: &str, done: impl Fn(&Watcher) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self
                .connection
                .recv_timeout(left)
                .await
                .unwrap_or_else(|error| {
                    panic!(
                        "waiting for {what}: {error}; last seen {:?} and {:?}",
                        self.people, self.terminals
                    )
                });
            match frame.kind {
                kind::PEOPLE => self.people = Some(frame.parse().expect("PEOPLE is JSON")),
                kind::TERMINALS => self.terminals = Some(frame.parse().expect("TERMINALS is JSON")),
                other => panic!("unexpected frame 0x{other:02x} on a project channel: {frame:?}"),
            }
        }
    }

    /// Each present person's name and focus.
    fn people(&self) -> Vec<(String, Focus)> {
        self.people.as_ref().map_or_else(Vec::new, |people| {
            people
                .people
                .iter()
                .map(|person| (person.who.name.clone(), person.focus.clone()))
                .collect()
        })
    }

    /// Each running terminal's name, opener and viewers.
    fn terminals(&self) -> Vec<(String, String, Vec<String>)> {
        self.terminals.as_ref().map_or_else(Vec::new, |list| {
            list.terminals
                .iter()
                .map(|terminal| {
                    let viewers = terminal.viewers.iter().map(|who| who.name.clone());
                    (
                        terminal.name.clone(),
                        terminal.opened_by.name.clone(),
                        viewers.collect(),
                    )
                })
                .collect()
        })
    }
}

fn file(path: &str) -> Focus {
    Focus::File { path: path.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_in_the_project_is_listed_live_with_what_they_look_at() {
    let hub = TestHub::start(None, Duration::ZERO).await;
    let mut ann = Watcher::open(&hub, "Ann").await;
    ann.until("Ann alone", |ann| {
        ann.people() == [("Ann".into(), Focus::Nothing)]
    })
    .await;
    assert_eq!(
        ann.people.as_ref().unwrap().people[0].who.user,
        "account-Ann",
        "people carry the id the hub vouched for"
    );

    // Bob opens a document: he is listed, looking at it.
    let mut bob = hub.connect("Bob", "Physics 101").await;
    bob.open(Service::Document {
        path: "notes.txt".into(),
        client: 7,
    })
    .await
    .expect("the document opens");
    ann.until("Bob looking at notes.txt", |ann| {
        ann.people().contains(&("Bob".into(), file("notes.txt")))
    })
    .await;

    // He says he looks at a terminal now.
    let (project, _) = bob.open(Service::Project).await.expect("project channel");
    let focus = Focus::Terminal {
        name: "build".into(),
    };
    bob.send(&Frame::json(project, kind::FOCUS, &focus))
        .await
        .expect("send FOCUS");
    ann.until("Bob looking at the terminal", |ann| {
        ann.people().contains(&("Bob".into(), focus.clone()))
    })
    .await;

    // A bad FOCUS is refused on its channel and changes nothing.
    bob.send(&Frame::new(
        project,
        kind::FOCUS,
        b"{\"what\":\"file\"}".to_vec(),
    ))
    .await
    .expect("send");
    let error = bob
        .wait_for(TIMEOUT, |frame| frame.kind == kind::ERROR)
        .await
        .expect("an error");
    assert_eq!(error.channel, project);

    // Bob's connection drops (a closed tab, a lost network): he is gone from the list.
    drop(bob);
    ann.until("Bob gone", |ann| {
        ann.people() == [("Ann".into(), Focus::Nothing)]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_terminals_are_listed_live_with_who_opened_and_who_watches() {
    let hub = TestHub::start(None, Duration::ZERO).await;
    let mut ann = Watcher::open(&hub, "Ann").await;
    ann.until("no terminals", |ann| {
        ann.terminals
            .as_ref()
            .is_some_and(|list| list.terminals.is_empty())
    })
    .await;

    let mut bob = Terminal::open(&hub, "Bob", "build", None).await;
    ann.until("Bob's terminal", |ann| {
        ann.terminals() == [("build".into(), "Bob".into(), vec!["Bob".into()])]
    })
    .await;
    let listed = &ann.terminals.as_ref().unwrap().terminals[0];
    assert_eq!(listed.instance, bob.attached.instance);
    assert_eq!(listed.started_ms, bob.attached.started_ms);

    let carol = Terminal::open(&hub, "Carol", "build", None).await;
    assert_eq!(
        carol.attached.instance, bob.attached.instance,
        "one shell per name"
    );
    ann.until("Carol watching too", |ann| {
        ann.terminals()
            == [(
                "build".into(),
                "Bob".into(),
                vec!["Bob".into(), "Carol".into()],
            )]
    })
    .await;

    drop(carol);
    ann.until("Carol gone from the viewers", |ann| {
        ann.terminals() == [("build".into(), "Bob".into(), vec!["Bob".into()])]
    })
    .await;

    bob.type_text("exit\r").await;
    bob.until("the shell to exit", |bob| bob.exited).await;
    ann.until("the terminal gone from the list", |ann| {
        ann.terminals().is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_coming_back_to_a_shell_that_is_gone_is_told_why() {
    let mut hub = TestHub::start(None, Duration::ZERO).await;
    let mut first = Terminal::open(&hub, "Ann", "work", None).await;
    assert_eq!(
        first.attached.restarted, None,
        "a new terminal is no restart"
    );
    let instance = first.attached.instance.clone();

    // Coming back to the same running shell: no notice.
    let again = Terminal::open(&hub, "Ann", "work", Some(&instance)).await;
    assert_eq!(again.attached.instance, instance);
    assert_eq!(again.attached.restarted, None);
    drop(again);

    // The shell exited.
    first.type_text("exit 4\r").await;
    first
        .until("the shell to exit", |viewer| viewer.exited)
        .await;
    let second = Terminal::open(&hub, "Ann", "work", Some(&instance)).await;
    assert_ne!(second.attached.instance, instance, "a new shell");
    assert_eq!(
        second.attached.restarted,
        Some(TerminalEnd::Exited { code: Some(4) })
    );
    assert!(second.attached.started_ms >= first.attached.started_ms);

    // Someone ended it.
    let instance = second.attached.instance.clone();
    let mut second = second;
    second
        .connection
        .send(&Frame::new(second.channel, kind::KILL, Vec::new()))
        .await
        .expect("send KILL");
    second
        .until("the shell to end", |viewer| viewer.exited)
        .await;
    let third = Terminal::open(&hub, "Ann", "work", Some(&instance)).await;
    assert_eq!(third.attached.restarted, Some(TerminalEnd::Killed));

    // The local hub restarted (as when it crashed, or the server restarted): every shell went with it.
    let instance = third.attached.instance.clone();
    drop(third);
    hub.restart().await;
    let fourth = Terminal::open(&hub, "Bob", "work", Some(&instance)).await;
    assert_eq!(
        fourth.attached.restarted,
        Some(TerminalEnd::ServerRestarted)
    );

    // A second viewer coming back later hears the same, with the time the new shell started.
    let fifth = Terminal::open(&hub, "Ann", "work", Some(&instance)).await;
    assert_eq!(fifth.attached.restarted, Some(TerminalEnd::ServerRestarted));
    assert_eq!(fifth.attached.instance, fourth.attached.instance);
    assert_eq!(fifth.attached.started_ms, fourth.attached.started_ms);

    // An instance id longer than any the hub makes is refused.
    let mut connection = hub.connect("Eve", "Physics 101").await;
    let refused = connection
        .open(Service::Terminal {
            name: "work".into(),
            size: SIZE,
            resume: Some("x".repeat(1000)),
        })
        .await;
    assert!(refused.is_ok(), "terminal channels open before attaching");
    connection
        .wait_for(TIMEOUT, |frame| frame.kind == kind::ERROR)
        .await
        .expect("an error for the long instance id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_coming_back_to_a_culled_shell_is_told_it_idled_out() {
    let hub = TestHub::start(None, Duration::from_millis(300)).await;
    let viewer = Terminal::open(&hub, "Ann", "idle", None).await;
    let instance = viewer.attached.instance.clone();
    drop(viewer);
    let mut watcher = Watcher::open(&hub, "Bob").await;
    watcher
        .until("the idle terminal to be culled", |watcher| {
            watcher
                .terminals
                .as_ref()
                .is_some_and(|list| list.terminals.is_empty())
        })
        .await;
    let back = Terminal::open(&hub, "Ann", "idle", Some(&instance)).await;
    assert_eq!(back.attached.restarted, Some(TerminalEnd::Idle));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_is_name_at_project_and_a_title_never_runs() {
    let hostile = "Physics $(touch PWNED1) `touch PWNED2` ${HOME} \\u@\\h";
    for shell in ["/bin/bash", "/bin/sh"] {
        let hub = TestHub::start(Some(Path::new(shell)), Duration::ZERO).await;
        let connection = hub.connect("Ann Lee", hostile).await;
        let mut viewer = Terminal::open_on(connection, "prompt", None).await;
        // The shell may print its own rc files' output first; the prompt is what follows.
        viewer
            .until(&format!("{shell}'s prompt"), |viewer| {
                viewer.shows("ann@physics-touch-pwned1")
            })
            .await;
        viewer.type_text("echo done-$((6*7))\r").await;
        viewer
            .until("the command's output", |viewer| viewer.shows("done-42"))
            .await;
        let printed = String::from_utf8_lossy(&viewer.output).to_string();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let host = host.trim();
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .map_or_else(String::new, |user| user.name);
        assert!(
            !printed.contains(&format!("@{host}")) && !printed.contains(&format!("{user}@")),
            "{shell}: the prompt shows neither the machine ({host}) nor the Unix user ({user}): {printed:?}"
        );
        for planted in ["PWNED1", "PWNED2"] {
            assert!(
                !hub.root.join(planted).exists() && !hub.dir.path().join(planted).exists(),
                "{shell}: the title ran a command"
            );
        }
    }
}
