//! `orrery up`: Orrery on one machine in one process: the hub (HTTP API, WebSocket, web app) and the host role
//! (projects as directories under the data directory, a local hub per open project), with the embedded SQLite store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use orrery_hub::host::HostConfig;
use tokio::net::TcpListener;

/// `orrery up` options.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UpArgs {
    /// Everything Orrery keeps: `private/orrery.db`, `projects/`, `run/` (see [`orrery_hub::DataDir`]).
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub idle_timeout: Duration,
    /// The metadata store when not `DATA/private/orrery.db` (e.g. a Cassandra keyspace).
    pub db: Option<String>,
}

/// Where `orrery up` keeps its data when not told: `$ORRERY_DATA`, else `$XDG_DATA_HOME/orrery`, else
/// `~/.local/share/orrery`.
pub(crate) fn default_data() -> PathBuf {
    if let Some(data) = std::env::var_os("ORRERY_DATA") {
        return PathBuf::from(data);
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(xdg).join("orrery");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/orrery")
}

pub(crate) fn up(args: UpArgs) -> Result<()> {
    crate::init_logging("info");
    // Before anything reads or writes it: the layout that keeps the database out of the projects' reach, and the
    // repair of an older one (each step logged).
    let data_dir = orrery_hub::DataDir::prepare(&args.data)
        .with_context(|| format!("preparing the data directory {}", args.data.display()))?;
    let data = data_dir.root().to_path_buf();
    let binary = std::env::current_exe().context("finding the orrery executable")?;
    let (database, metadata) = match args.db {
        Some(spec) => {
            crate::check_sqlite_spec(&data_dir, &spec)?;
            (orrery_hub::Database::Spec(spec.clone()), spec)
        }
        None => {
            let file = data_dir.database();
            let shown = file.display().to_string();
            (orrery_hub::Database::Sqlite(file), shown)
        }
    };
    let config = orrery_hub::Config {
        listen: args.listen,
        database,
        host: Some(HostConfig {
            data: data.clone(),
            binary,
            idle_timeout: args.idle_timeout,
            start_timeout: Duration::from_secs(10),
        }),
        ..orrery_hub::Config::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = crate::shutdown_on_signals();
        let listener = TcpListener::bind(args.listen).await.map_err(|error| {
            if error.kind() == std::io::ErrorKind::AddrInUse {
                anyhow!(
                    "{} is already in use (another Orrery?); choose another port with --port",
                    args.listen
                )
            } else {
                anyhow!("cannot listen on {}: {error}", args.listen)
            }
        })?;
        let address = listener.local_addr()?;
        let hub = orrery_hub::Hub::new(config)
            .await
            .map_err(|error| anyhow!("starting the hub: {error}"))?;
        println!("Orrery is running at http://{address}/");
        println!("Data: {}", data.display());
        println!("Metadata: {metadata}");
        println!("Stop it with Ctrl-C.");
        hub.serve(listener, shutdown)
            .await
            .map_err(|error| anyhow!("hub: {error}"))
    })
}
