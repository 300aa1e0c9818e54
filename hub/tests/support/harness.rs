//! A real hub on 127.0.0.1 with an ephemeral port, a temporary SQLite file and a manual clock, and a small "browser"
//! that keeps its sign-in cookie the way a browser would. Each test file includes this with `#[path]`.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use orrery_db::{Db, ManualClock, Timestamp};
use orrery_hub::{Config, Database, Hub, COOKIE_NAME};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// 2023-11-14, so timestamps look real.
pub const START: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// A running hub and the handles a test needs to look behind it.
pub struct TestHub {
    pub address: SocketAddr,
    /// `http://127.0.0.1:PORT` (or `https://localhost:PORT` under TLS).
    pub base: String,
    pub db: Db,
    pub clock: Arc<ManualClock>,
    pub session_lifetime: Duration,
    shutdown: CancellationToken,
    task: Option<JoinHandle<orrery_hub::Result<()>>>,
    pub directory: Arc<TempDir>,
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "orrery_hub=debug".into()),
        )
        .try_init();
}

impl TestHub {
    /// A plain-HTTP hub with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A hub with a fresh database, after `configure` adjusts its configuration.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let directory = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        let clock = Arc::new(ManualClock::new(START));
        let db = Db::open_sqlite(directory.path().join("orrery.db"), clock.clone())
            .await
            .expect("the test database opens");
        Self::start_on(db, clock, directory, configure).await
    }

    /// A hub on a store the test opened itself (e.g. a Cassandra keyspace) reading `clock`.
    pub async fn start_on_store(
        db: Db,
        clock: Arc<ManualClock>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let directory = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        Self::start_on(db, clock, directory, configure).await
    }

    /// Another hub on the same database and clock, as a second hub behind a load balancer would be.
    pub async fn start_beside(&self) -> Self {
        Self::start_on(
            self.db.clone(),
            self.clock.clone(),
            self.directory.clone(),
            |_| {},
        )
        .await
    }

    async fn start_on(
        db: Db,
        clock: Arc<ManualClock>,
        directory: Arc<TempDir>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        init_logs();
        let mut config = Config {
            database: Database::Open(db.clone()),
            clock: clock.clone(),
            ..Config::default()
        };
        configure(&mut config);
        let session_lifetime = config.session_lifetime;
        let tls = config.tls.is_some();
        let hub = Hub::new(config).await.expect("the hub starts");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("an ephemeral port");
        let address = listener.local_addr().expect("the bound address");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(hub.serve(listener, shutdown.clone()));
        let base = if tls {
            format!("https://localhost:{}", address.port())
        } else {
            format!("http://{address}")
        };
        TestHub {
            address,
            base,
            db,
            clock,
            session_lifetime,
            shutdown,
            task: Some(task),
            directory,
        }
    }

    /// A browser with no cookie, talking plain HTTP.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base, reqwest::Client::new())
    }

    /// Stops the hub and checks it stopped cleanly and promptly.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let task = self.task.take().expect("the hub is running");
        let served = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the hub stops within 10 s of shutdown")
            .expect("the hub's task did not panic");
        served.expect("the hub stops without an error");
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One answer: status, headers that matter, and the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub set_cookie: Option<String>,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("{error}: the body is not JSON: {:?}", self.text))
    }

    /// The `error.code` of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error answer: {}", self.text))
            .to_string()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Self {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        self
    }

    /// Asserts an error answer's status and code.
    #[track_caller]
    pub fn expect_error(self, status: StatusCode, code: &str) -> Self {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        assert_eq!(self.code(), code, "unexpected error: {}", self.text);
        let message = self.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            !message.is_empty(),
            "an error without a message: {}",
            self.text
        );
        self
    }
}

/// A client that keeps the sign-in cookie from `Set-Cookie`, as a browser does.
#[derive(Clone)]
pub struct Browser {
    base: String,
    client: reqwest::Client,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(base: &str, client: reqwest::Client) -> Self {
        Browser {
            base: base.to_string(),
            client,
            cookie: None,
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&mut self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&mut self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
    }

    pub async fn send(&mut self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let request = self.client.request(method, format!("{}{path}", self.base));
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        self.send_request(request).await
    }

    /// Sends a body as given, with the given content type.
    pub async fn send_raw(&mut self, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        self.send_request(request).await
    }

    async fn send_request(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", format!("{COOKIE_NAME}={cookie}")),
            None => request,
        };
        let response = request.send().await.expect("the hub answers");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string)
        };
        let set_cookie = header("set-cookie");
        let retry_after = header("retry-after");
        let content_type = header("content-type");
        let status = response.status();
        if let Some(set_cookie) = &set_cookie {
            let value = set_cookie
                .split(';')
                .next()
                .and_then(|pair| pair.trim().strip_prefix(&format!("{COOKIE_NAME}=")))
                .expect("Set-Cookie names the session cookie");
            self.cookie = (!value.is_empty()).then(|| value.to_string());
        }
        let text = response.text().await.expect("a readable body");
        Answer {
            status,
            set_cookie,
            retry_after,
            content_type,
            text,
        }
    }

    /// Signs up (which also signs in) and returns the account as the hub shows it.
    pub async fn sign_up(&mut self, email: &str, name: &str, password: &str) -> Value {
        self.post(
            "/api/accounts",
            json!({"email": email, "display_name": name, "password": password}),
        )
        .await
        .expect(StatusCode::CREATED)
        .json()
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Answer {
        self.post(
            "/api/sign-in",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Creates a project and returns its id.
    pub async fn create_project(&mut self, title: &str) -> String {
        let project = self
            .post("/api/projects", json!({"title": title}))
            .await
            .expect(StatusCode::CREATED)
            .json();
        project["id"].as_str().expect("a project id").to_string()
    }
}

/// A signed-up browser: `name`'s account at `name@example.org`, password `password-of-NAME`.
pub async fn person(hub: &TestHub, name: &str) -> (Browser, String) {
    let mut browser = hub.browser();
    let account = browser
        .sign_up(
            &format!("{name}@example.org"),
            name,
            &format!("password-of-{name}"),
        )
        .await;
    let id = account["id"].as_str().expect("an account id").to_string();
    (browser, id)
}

/// The attributes of a `Set-Cookie` value after the name=value pair, e.g. `["Path=/", "HttpOnly", ...]`.
pub fn cookie_attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|attribute| attribute.trim().to_string())
        .collect()
}
