//! The hub's one configuration struct. Every field has a default; `orrery hub` and `orrery up` fill it from their flags.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orrery_db::{Clock, Db, SystemClock};

use crate::host::HostConfig;

/// Everything a hub needs to start. `Config::default()` serves plain HTTP on 127.0.0.1:8080 from `./orrery.db`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to accept HTTP(S) connections. Default: `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The metadata store. Default: an SQLite file `orrery.db` in the working directory.
    pub database: Database,
    /// Where the hub reads "now" to set sign-in expiries; it must be the clock the database was opened with.
    /// Default: the system clock. Tests pass a `ManualClock` to expire tokens without sleeping.
    pub clock: Arc<dyn Clock>,
    /// A certificate and key to serve HTTPS with rustls. Default: none (plain HTTP, e.g. behind a TLS-terminating load balancer).
    pub tls: Option<TlsConfig>,
    /// Whether sign-in cookies carry `Secure`. Default: `None`, which means exactly when `tls` is set.
    /// Set `Some(true)` when a load balancer terminates TLS in front of a plain-HTTP hub.
    pub secure_cookies: Option<bool>,
    /// How long a sign-in lasts; the cookie's `Max-Age` and the stored token's expiry. Default: 30 days; at most 400 days.
    pub session_lifetime: Duration,
    /// Login and sign-up throttles. Default: see [`RateLimits::default`].
    pub rate_limits: RateLimits,
    /// Take the client address for rate limiting from the last `X-Forwarded-For` entry instead of the TCP peer.
    /// Only safe behind a load balancer that appends it. Default: `false`.
    pub trust_forwarded_for: bool,
    /// Largest request body accepted; a larger one is refused with 413 before it is read. Default: 64 KiB.
    pub max_body_bytes: usize,
    /// How many Argon2id hashes may run at once (each takes ~19 MiB and tens of milliseconds of one core).
    /// Default: the number of CPUs the process may use.
    pub password_hash_concurrency: usize,
    /// After shutdown is signalled, how long open requests may take before the hub stops anyway. Default: 10 s.
    pub shutdown_grace: Duration,
    /// Run projects on this machine (the host role of `orrery up`): where they live and how local hubs start.
    /// Default: none, and opening a project's channels answers "unavailable".
    pub host: Option<HostConfig>,
    /// Origins (e.g. `https://orrery.example.org`) besides the hub's own `Host` whose pages may open `/ws`. Default: none.
    pub allowed_origins: Vec<String>,
    /// How often an open WebSocket checks again that its sign-in is valid and that its account is still a collaborator
    /// of every project it has channels on, closing what it may no longer use (signed out elsewhere, removed from a
    /// project through any hub). Default: 10 s.
    pub access_recheck: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            database: Database::default(),
            clock: Arc::new(SystemClock),
            tls: None,
            secure_cookies: None,
            session_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            rate_limits: RateLimits::default(),
            trust_forwarded_for: false,
            max_body_bytes: 64 * 1024,
            password_hash_concurrency: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            shutdown_grace: Duration::from_secs(10),
            host: None,
            allowed_origins: Vec::new(),
            access_recheck: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Whether sign-in cookies are marked `Secure`.
    pub fn cookies_are_secure(&self) -> bool {
        self.secure_cookies.unwrap_or(self.tls.is_some())
    }
}

/// Which metadata store the hub uses.
#[derive(Clone)]
pub enum Database {
    /// A store the caller already opened (`orrery up` shares one with its host role; tests keep a handle to look inside).
    Open(Db),
    /// An SQLite file, opened (and created or migrated) when the hub starts, with [`Config::clock`].
    Sqlite(PathBuf),
    /// What `orrery --db` takes, read by `orrery_db::Db::open` when the hub starts: a Cassandra keyspace
    /// (`cql://HOST[:PORT][,HOST…]/KEYSPACE[?dc=LOCAL_DC]`, created or migrated) or a SQLite file path.
    Spec(String),
}

impl Default for Database {
    fn default() -> Self {
        Database::Sqlite(PathBuf::from("orrery.db"))
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Open(_) => formatter.write_str("Database::Open(..)"),
            Database::Sqlite(path) => formatter
                .debug_tuple("Database::Sqlite")
                .field(path)
                .finish(),
            Database::Spec(spec) => formatter.debug_tuple("Database::Spec").field(spec).finish(),
        }
    }
}

/// PEM files for HTTPS.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// The certificate chain, leaf first (PEM).
    pub cert_path: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_path: PathBuf,
}

/// Token buckets that slow down password guessing and mass sign-ups; all kept in this hub's memory.
/// A failed sign-in takes a token from its e-mail address's bucket and from its client's; a successful one takes none.
/// An attempt finding either bucket empty gets 429 with `Retry-After`, before its password is checked.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Failed sign-ins per e-mail address. Default: 10 at once, then one more every minute.
    pub sign_in_per_email: RateLimit,
    /// Failed sign-ins per client address (per /64 for IPv6). Default: 50 at once, then one more every 5 s.
    pub sign_in_per_client: RateLimit,
    /// Sign-up attempts per client address (per /64 for IPv6). Default: 50 at once, then one more every 10 s.
    pub sign_up_per_client: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            sign_in_per_email: RateLimit {
                burst: 10,
                refill_every: Duration::from_secs(60),
            },
            sign_in_per_client: RateLimit {
                burst: 50,
                refill_every: Duration::from_secs(5),
            },
            sign_up_per_client: RateLimit {
                burst: 50,
                refill_every: Duration::from_secs(10),
            },
        }
    }
}

/// One token bucket's shape: `burst` tokens when full, one token back every `refill_every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// How many attempts a fresh key may make at once; at least 1.
    pub burst: u32,
    /// How long it takes to earn one attempt back; more than zero.
    pub refill_every: Duration,
}
