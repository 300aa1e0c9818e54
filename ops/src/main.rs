//! The `orrery` binary: the one executable an operator runs, with a subcommand per process (`up`, later `hub`, `host`, `local-hub`, `admin`).
//! This is the only crate that composes the others; every other crate is a library with a `run(config, shutdown)` entry that a subcommand here calls.
//! It is also the only non-test crate that uses `anyhow`: errors from the libraries arrive here typed and leave as a message and an exit code.
//! Today: `up` (hub + host role on one machine), `hub`, `local-hub`, `admin`, `--version`, `help`.

mod admin;
mod up;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use anyhow::{anyhow, bail, Context, Result};

const USAGE: &str = "\
orrery: a collaborative cloud workspace

usage: orrery <command>

commands:
  up          run Orrery on this machine: web app, hub and projects in one process; see below
  hub         serve the web app, the HTTP API and the WebSocket on an address; see below
  local-hub   serve one project over a Unix socket (started by the host; see below)
  admin       register datacenters and hosts in the metadata store; see below
  help        print this message
  --version   print the version

orrery up [options]
  --data DIR            where Orrery keeps its database and projects
                        (default $ORRERY_DATA, else $XDG_DATA_HOME/orrery, else ~/.local/share/orrery)
  --port N              port on 127.0.0.1 to serve on; 0 picks a free one (default 8080)
  --listen ADDR         address and port instead of 127.0.0.1:PORT
  --idle-timeout SECS   stop a project's local hub after this long unused (default 600)
  --db SPEC             the metadata store instead of DIR/private/orrery.db: a SQLite file, or
                        cql://HOST[:PORT][,HOST…]/KEYSPACE[?dc=LOCAL_DC] for Cassandra
  It prints the URL to open, and stops cleanly on SIGTERM or SIGINT.

orrery hub [options]
  --listen ADDR         address and port to listen on (default 127.0.0.1:8080)
  --db SPEC             the metadata store: a SQLite file, created if missing (default orrery.db), or
                        cql://HOST[:PORT][,HOST…]/KEYSPACE[?dc=LOCAL_DC] for Cassandra (keyspace created if missing)
  --tls-cert PATH       PEM certificate chain; with --tls-key, serve HTTPS (cookies become Secure)
  --tls-key PATH        PEM private key
  --data DIR            also run projects on this machine, kept under DIR (otherwise channel opens are refused)
  --allow-origin URL    another origin whose pages may open the WebSocket (repeatable)

orrery local-hub --project DIR --socket PATH [options]
  --project DIR         the project's directory (required)
  --socket PATH         the Unix socket to listen on; its directory is made mode 0700 (required)
  --user NAME           when started as root: the project's Unix user to become before serving
  --idle-timeout SECS   stop after this long with no client and no terminal output; 0: never (default 600)
  --save-delay MS       write a document this long after its last change (default 300)
  --shell PATH          the shell terminals run (default: the user's login shell, else /bin/bash)
  --max-document-bytes N  largest file opened for editing; larger text files open read-only (default 8388608)
  --parent PID          stop (saving, as on SIGTERM) when process PID, which must be the parent, exits
  It stops cleanly on SIGTERM or SIGINT, saving every document first.

orrery admin [--db SPEC] <what> <action> [arguments]
  --db SPEC             the metadata store: a SQLite file, or cql://HOST[:PORT][,HOST…]/KEYSPACE[?dc=LOCAL_DC]
                        for Cassandra (default: DIR/private/orrery.db of `orrery up`'s data directory)
  dc add NAME           register a datacenter; on Cassandra also replicate the keyspace to it (the cluster must
                        already have a datacenter of that name)
  dc list               the datacenters, their hosts and (on Cassandra) the keyspace's replicas in each
  host add --dc NAME --address HOST:PORT [--weight N]
                        register a host in a datacenter with a capacity weight (default 1)
  host list             every host: id, datacenter, address, weight, state
  host drain HOST       take no new projects there; its copies move away (HOST: its id or its address)
  host activate HOST    take new projects again
  host remove HOST      forget a host that holds no copies of projects (drain it first)
";

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Version,
    Help,
    Up(up::UpArgs),
    LocalHub(LocalHubArgs),
    Hub(HubArgs),
    Admin(admin::AdminArgs),
}

/// `orrery hub` options, as given.
#[derive(Debug, PartialEq, Eq, Default)]
struct HubArgs {
    listen: Option<std::net::SocketAddr>,
    db: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    data: Option<PathBuf>,
    allow_origins: Vec<String>,
}

fn parse_hub(args: &mut impl Iterator<Item = OsString>) -> Result<HubArgs> {
    let mut parsed = HubArgs::default();
    while let Some(flag) = args.next() {
        let flag = flag
            .into_string()
            .map_err(|raw| anyhow!("option {raw:?} is not valid UTF-8"))?;
        let value = args
            .next()
            .ok_or_else(|| anyhow!("`{flag}` needs a value\n\n{USAGE}"))?;
        match flag.as_str() {
            "--listen" => parsed.listen = Some(parse_listen(&value)?),
            "--db" => parsed.db = Some(db_spec(value)?),
            "--tls-cert" => parsed.tls_cert = Some(PathBuf::from(value)),
            "--tls-key" => parsed.tls_key = Some(PathBuf::from(value)),
            "--data" => parsed.data = Some(PathBuf::from(value)),
            "--allow-origin" => parsed.allow_origins.push(
                value
                    .into_string()
                    .map_err(|raw| anyhow!("`--allow-origin` {raw:?} is not valid UTF-8"))?,
            ),
            other => bail!("unknown option `{other}` for hub\n\n{USAGE}"),
        }
    }
    if parsed.tls_cert.is_some() != parsed.tls_key.is_some() {
        bail!("`--tls-cert` and `--tls-key` go together\n\n{USAGE}");
    }
    Ok(parsed)
}

/// Runs the hub's HTTP API until SIGTERM/SIGINT.
fn hub(args: HubArgs) -> Result<()> {
    let mut config = orrery_hub::Config::default();
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    init_logging("info");
    if let Some(data) = args.data {
        let data_dir = orrery_hub::DataDir::prepare(&data)
            .with_context(|| format!("preparing the data directory {}", data.display()))?;
        // Without --db the hub opens orrery.db in the working directory, which must not be the data directory either.
        check_sqlite_spec(&data_dir, args.db.as_deref().unwrap_or("orrery.db"))?;
        config.host = Some(orrery_hub::host::HostConfig {
            data: data_dir.root().to_path_buf(),
            binary: std::env::current_exe()?,
            idle_timeout: Duration::from_secs(600),
            start_timeout: Duration::from_secs(10),
        });
    }
    if let Some(spec) = args.db {
        config.database = orrery_hub::Database::Spec(spec);
    }
    if let (Some(cert_path), Some(key_path)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(orrery_hub::TlsConfig {
            cert_path,
            key_path,
        });
    }
    config.allowed_origins = args.allow_origins;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = shutdown_on_signals();
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!("hub listening on {scheme}://{}", config.listen);
        orrery_hub::run(config, shutdown)
            .await
            .map_err(|error| anyhow!("hub: {error}"))
    })
}

/// Logs to stderr at `default_level` and above, unless `RUST_LOG` says otherwise.
fn init_logging(default_level: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// One cancellation token, fired by SIGTERM or SIGINT; every server loop selects on it. Call inside the runtime.
fn shutdown_on_signals() -> CancellationToken {
    let shutdown = CancellationToken::new();
    let signals = shutdown.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut terminate), Ok(mut interrupt)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        signals.cancel();
    });
    shutdown
}

/// `orrery local-hub` options, as given.
#[derive(Debug, PartialEq, Eq)]
struct LocalHubArgs {
    project: PathBuf,
    socket: PathBuf,
    user: Option<String>,
    idle_timeout_secs: Option<u64>,
    save_delay_ms: Option<u64>,
    shell: Option<PathBuf>,
    max_document_bytes: Option<usize>,
    parent: Option<u32>,
}

fn parse_local_hub(args: &mut impl Iterator<Item = OsString>) -> Result<LocalHubArgs> {
    let (mut project, mut socket, mut user, mut idle, mut save, mut shell, mut max) =
        (None, None, None, None, None, None, None);
    let mut parent = None;
    while let Some(flag) = args.next() {
        let flag = flag
            .into_string()
            .map_err(|raw| anyhow!("option {raw:?} is not valid UTF-8"))?;
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow!("`{flag}` needs a value\n\n{USAGE}"))
        };
        let number = |value: OsString, flag: &str| -> Result<u64> {
            value
                .to_str()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| anyhow!("`{flag}` takes a whole number, got {value:?}"))
        };
        match flag.as_str() {
            "--project" => project = Some(PathBuf::from(value()?)),
            "--socket" => socket = Some(PathBuf::from(value()?)),
            "--user" => {
                user = Some(
                    value()?
                        .into_string()
                        .map_err(|raw| anyhow!("user {raw:?} is not valid UTF-8"))?,
                )
            }
            "--idle-timeout" => idle = Some(number(value()?, &flag)?),
            "--save-delay" => save = Some(number(value()?, &flag)?),
            "--shell" => shell = Some(PathBuf::from(value()?)),
            "--max-document-bytes" => max = Some(number(value()?, &flag)? as usize),
            "--parent" => {
                parent = Some(
                    u32::try_from(number(value()?, &flag)?)
                        .map_err(|_| anyhow!("`--parent` takes a process id"))?,
                )
            }
            other => bail!("unknown option `{other}` for local-hub\n\n{USAGE}"),
        }
    }
    Ok(LocalHubArgs {
        project: project.ok_or_else(|| anyhow!("local-hub needs --project DIR\n\n{USAGE}"))?,
        socket: socket.ok_or_else(|| anyhow!("local-hub needs --socket PATH\n\n{USAGE}"))?,
        user,
        idle_timeout_secs: idle,
        save_delay_ms: save,
        shell,
        max_document_bytes: max,
        parent,
    })
}

/// Runs a local hub until SIGTERM/SIGINT or its idle timeout.
fn local_hub(args: LocalHubArgs) -> Result<()> {
    // Absolute before the drop to the project user, who may not be able to enter our working directory.
    let project = std::path::absolute(&args.project)?;
    let socket = std::path::absolute(&args.socket)?;
    let mut config = orrery_local_hub::Config::new(project, socket);
    config.user = args.user;
    if let Some(seconds) = args.idle_timeout_secs {
        config.idle_timeout = Duration::from_secs(seconds);
    }
    if let Some(millis) = args.save_delay_ms {
        config.save_delay = Duration::from_millis(millis);
    }
    config.shell = args.shell;
    if let Some(bytes) = args.max_document_bytes {
        config.max_document_bytes = bytes;
    }
    init_logging("info");
    // Privileges are dropped before the runtime starts any thread.
    orrery_local_hub::prepare(&config).map_err(|error| anyhow!("local-hub: {error}"))?;
    if let Some(parent) = args.parent {
        // Set after the drop to the project user, which clears it. A host killed without warning must not leave its
        // local hubs running beside the ones its successor starts: SIGTERM saves every document, then the hub exits.
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
            .map_err(|error| anyhow!("local-hub: cannot follow the parent process: {error}"))?;
        if nix::unistd::getppid().as_raw() != parent as i32 {
            bail!("local-hub: the parent process {parent} has already exited");
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = shutdown_on_signals();
        orrery_local_hub::run(config, shutdown)
            .await
            .map_err(|error| anyhow!("local-hub: {error}"))
    })
}

/// Refuses a `--db` SQLite file inside the data directory but outside its private folder, where projects could read it.
fn check_sqlite_spec(data_dir: &orrery_hub::DataDir, spec: &str) -> Result<()> {
    if !spec.starts_with("cql:") {
        data_dir.check_database_path(std::path::Path::new(spec))?;
    }
    Ok(())
}

/// A `--db` value, which must be text.
fn db_spec(value: OsString) -> Result<String> {
    value
        .into_string()
        .map_err(|raw| anyhow!("`--db` {raw:?} is not valid UTF-8"))
}

fn parse_listen(value: &OsString) -> Result<std::net::SocketAddr> {
    value
        .to_str()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| anyhow!("`--listen` takes an address like 127.0.0.1:8080, got {value:?}"))
}

fn parse_up(args: &mut impl Iterator<Item = OsString>) -> Result<up::UpArgs> {
    let mut data = None;
    let mut port: u16 = 8080;
    let mut listen = None;
    let mut idle_timeout = Duration::from_secs(600);
    let mut db = None;
    while let Some(flag) = args.next() {
        let flag = flag
            .into_string()
            .map_err(|raw| anyhow!("option {raw:?} is not valid UTF-8"))?;
        let value = args
            .next()
            .ok_or_else(|| anyhow!("`{flag}` needs a value\n\n{USAGE}"))?;
        let text = value.to_str().unwrap_or_default();
        match flag.as_str() {
            "--data" => data = Some(PathBuf::from(value)),
            "--port" => {
                port = text.parse().map_err(|_| {
                    anyhow!("`--port` takes a number from 0 to 65535, got {value:?}")
                })?;
            }
            "--listen" => listen = Some(parse_listen(&value)?),
            "--db" => db = Some(db_spec(value)?),
            "--idle-timeout" => {
                let seconds: u64 = text
                    .parse()
                    .map_err(|_| anyhow!("`--idle-timeout` takes seconds, got {value:?}"))?;
                idle_timeout = Duration::from_secs(seconds.max(1));
            }
            other => bail!("unknown option `{other}` for up\n\n{USAGE}"),
        }
    }
    Ok(up::UpArgs {
        data: data.unwrap_or_else(up::default_data),
        listen: listen.unwrap_or(std::net::SocketAddr::from((
            std::net::Ipv4Addr::LOCALHOST,
            port,
        ))),
        idle_timeout,
        db,
    })
}

/// Reads the arguments after the program name; anything unknown is an error that shows the usage.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        bail!("no command given\n\n{USAGE}");
    };
    let first = first
        .into_string()
        .map_err(|raw| anyhow!("command {raw:?} is not valid UTF-8\n\n{USAGE}"))?;
    let command = match first.as_str() {
        "--version" | "-V" | "version" => Command::Version,
        "help" | "--help" | "-h" => Command::Help,
        "up" => return Ok(Command::Up(parse_up(&mut args)?)),
        "local-hub" => return Ok(Command::LocalHub(parse_local_hub(&mut args)?)),
        "hub" => return Ok(Command::Hub(parse_hub(&mut args)?)),
        "admin" => return Ok(Command::Admin(admin::parse(&mut args)?)),
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    };
    if let Some(extra) = args.next() {
        bail!("`{first}` takes no arguments, got {extra:?}\n\n{USAGE}");
    }
    Ok(command)
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Version => println!("orrery {}", env!("CARGO_PKG_VERSION")),
        Command::Help => print!("{USAGE}"),
        Command::Up(args) => up::up(args)?,
        Command::LocalHub(args) => local_hub(args)?,
        Command::Hub(args) => hub(args)?,
        Command::Admin(args) => admin::admin(args)?,
    }
    Ok(())
}

/// An error and its causes on one line, leaving out a cause whose text is already in what came before it (the store's
/// errors quote the driver's message and also keep the driver's error as their source).
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

fn main() -> ExitCode {
    match parse(std::env::args_os().skip(1)).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orrery: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn an_error_chain_reads_once() {
        let error = anyhow!("the driver said no")
            .context("the store is unavailable: the driver said no")
            .context("opening the store");
        assert_eq!(
            describe(&error),
            "opening the store: the store is unavailable: the driver said no"
        );
    }

    #[test]
    fn known_commands_parse() {
        for (args, expected) in [
            (&["--version"][..], Command::Version),
            (&["-V"], Command::Version),
            (&["help"], Command::Help),
            (&["--help"], Command::Help),
        ] {
            assert_eq!(parse_strs(args).ok(), Some(expected), "args {args:?}");
        }
    }

    #[test]
    fn bad_command_lines_are_errors_that_show_usage() {
        for args in [&[][..], &["frobnicate"], &["up", "--now"]] {
            let message = match parse_strs(args) {
                Ok(command) => panic!("args {args:?} parsed as {command:?}"),
                Err(error) => format!("{error:#}"),
            };
            assert!(
                message.contains("usage: orrery"),
                "args {args:?}: {message}"
            );
        }
    }

    #[test]
    fn local_hub_options_parse_and_bad_ones_are_refused() {
        let parsed = parse_strs(&[
            "local-hub",
            "--project",
            "/p",
            "--socket",
            "/s/sock",
            "--idle-timeout",
            "5",
            "--user",
            "ann",
        ]);
        match parsed {
            Ok(Command::LocalHub(args)) => {
                assert_eq!(args.project, PathBuf::from("/p"));
                assert_eq!(args.socket, PathBuf::from("/s/sock"));
                assert_eq!(args.idle_timeout_secs, Some(5));
                assert_eq!(args.user.as_deref(), Some("ann"));
            }
            other => panic!("parsed as {other:?}"),
        }
        for args in [
            &["local-hub", "--socket", "/s"][..],
            &["local-hub", "--project", "/p"],
            &[
                "local-hub",
                "--project",
                "/p",
                "--socket",
                "/s",
                "--idle-timeout",
                "soon",
            ],
            &[
                "local-hub",
                "--project",
                "/p",
                "--socket",
                "/s",
                "--frobnicate",
            ],
            &["local-hub", "--project"],
        ] {
            assert!(parse_strs(args).is_err(), "{args:?} must be refused");
        }
    }

    #[test]
    fn hub_options_parse_and_bad_ones_are_refused() {
        match parse_strs(&["hub", "--listen", "127.0.0.1:9000", "--db", "/tmp/o.db"]) {
            Ok(Command::Hub(args)) => {
                assert_eq!(
                    args.listen,
                    Some("127.0.0.1:9000".parse().expect("address"))
                );
                assert_eq!(args.db.as_deref(), Some("/tmp/o.db"));
            }
            other => panic!("parsed as {other:?}"),
        }
        for args in [
            &["hub", "--listen", "nowhere"][..],
            &["hub", "--tls-cert", "/c.pem"],
            &["hub", "--db"],
            &["hub", "--frobnicate", "1"],
        ] {
            assert!(parse_strs(args).is_err(), "{args:?} must be refused");
        }
    }

    #[test]
    fn up_options_parse_and_bad_ones_are_refused() {
        match parse_strs(&[
            "up",
            "--data",
            "/tmp/o",
            "--port",
            "0",
            "--idle-timeout",
            "5",
        ]) {
            Ok(Command::Up(args)) => {
                assert_eq!(args.data, PathBuf::from("/tmp/o"));
                assert_eq!(args.listen, "127.0.0.1:0".parse().unwrap());
                assert_eq!(args.idle_timeout, Duration::from_secs(5));
            }
            other => panic!("{other:?}"),
        }
        for args in [
            &["up", "--port", "70000"][..],
            &["up", "--port"],
            &["up", "--listen", "nowhere"],
            &["up", "--frobnicate", "1"],
        ] {
            assert!(parse_strs(args).is_err(), "{args:?} must be refused");
        }
    }
}
