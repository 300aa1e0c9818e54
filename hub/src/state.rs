//! What every request handler shares: the metadata store, the clock, the password hasher, the rate limiters and the metrics.
//! Nothing here outlives the process in a way that matters: a hub that dies loses only rate-limit budgets and counters.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use orrery_db::{Clock, Db};

use tokio_util::sync::CancellationToken;

use crate::host::LocalHost;
use crate::metrics::Metrics;
use crate::password::Passwords;
use crate::rate_limit::Buckets;
use crate::ws::Sockets;

/// The handlers' state; cloning it is cheap.
#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<Shared>);

#[derive(Debug)]
pub(crate) struct Shared {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub passwords: Passwords,
    pub sign_in_per_email: Buckets,
    pub sign_in_per_client: Buckets,
    pub sign_up_per_client: Buckets,
    pub metrics: Metrics,
    pub session_lifetime: Duration,
    pub secure_cookies: bool,
    pub trust_forwarded_for: bool,
    pub max_body_bytes: usize,
    /// The host role, when this hub runs projects itself (`orrery up`); `None` refuses channel opens as unavailable.
    pub host: Option<Arc<LocalHost>>,
    /// Cancelled when the hub shuts down: WebSocket sessions close with "going away" so browsers reconnect elsewhere.
    pub closing: CancellationToken,
    /// Origins besides the hub's own whose pages may open `/ws`.
    pub allowed_origins: Vec<String>,
    /// How often open WebSockets check their sign-in and memberships again.
    pub access_recheck: Duration,
    /// The WebSockets open on this hub, by account: told when an account's project list changes.
    pub sockets: Sockets,
}

impl AppState {
    pub(crate) fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
