//! Orrery's front server, on axum: HTTP(S) for accounts, sign-in, projects and collaborators, health and metrics; the
//! browser WebSocket `/ws` whose channels it authorizes and relays to local hubs ([`browser`] is its protocol); the web
//! app, embedded in the binary; and, in `orrery up`, the host role on one machine ([`host`]).
//! It owns sign-in (Argon2id passwords, 256-bit tokens stored hashed in the metadata store so they are valid on every hub,
//! `HttpOnly; SameSite=Lax` cookies, `Secure` under TLS), login throttling, and the project API whose rules are `db`'s.
//! It holds no state that is lost when it dies beyond rate-limit budgets and counters; hubs never talk to each other.
//!
//! Entry points: [`run`] for `orrery hub`, and [`Hub::new`] + [`Hub::serve`] for callers that bind their own listener
//! (tests bind `127.0.0.1:0`). Routes are listed in `router.rs`; errors are [`Error`], each with its HTTP status and
//! answered as `{"error": {"code", "message"}}`.
//!
//! Dependencies: `db` for metadata, and `orrery_local_hub::protocol` for the frames it relays; never `local-hub`'s
//! internals.

mod account;
mod assets;
pub mod browser;
mod config;
pub mod data_dir;
mod error;
mod health;
pub mod host;
mod json;
mod metrics;
mod password;
mod project;
mod rate_limit;
mod router;
mod server;
mod session;
mod state;
mod tls;
mod ws;

pub use config::{Config, Database, RateLimit, RateLimits, TlsConfig};
pub use data_dir::DataDir;
pub use error::{Error, Result};
pub use password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
pub use server::{ClientAddr, Hub};
pub use session::COOKIE_NAME;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Runs a hub on `config.listen` until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<()> {
    let listen = config.listen;
    let hub = Hub::new(config).await?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|error| Error::io(format!("listening on {listen}"), error))?;
    hub.serve(listener, shutdown).await
}
