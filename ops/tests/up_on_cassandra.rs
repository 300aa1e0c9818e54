//! `orrery up --db cql://…`: the one-machine product with its metadata in a real Cassandra node (`ORRERY_TEST_CQL`,
//! which `tests/run` starts). Accounts and projects outlive the process and its data directory: they live in the keyspace.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{cql_node, session_cookie, unique_keyspace};

/// A running `orrery up` and the address it printed.
struct Up {
    child: Child,
    base: String,
}

impl Up {
    fn start(db: &str, data: &std::path::Path) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orrery"))
            .args(["up", "--port", "0", "--db", db, "--data"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("orrery up starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        let mut metadata = None;
        for line in lines.by_ref() {
            let line = line.expect("a line of output");
            if let Some(url) = line.strip_prefix("Orrery is running at ") {
                base = Some(url.trim_end_matches('/').to_string());
            }
            if let Some(store) = line.strip_prefix("Metadata: ") {
                metadata = Some(store.to_string());
                break;
            }
        }
        assert_eq!(
            metadata.as_deref(),
            Some(db),
            "orrery up says which store it uses"
        );
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Up {
            child,
            base: base.expect("orrery up printed its address"),
        }
    }

    fn stop(mut self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        let status = self.child.wait().expect("exits");
        assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    }
}

#[tokio::test]
async fn orrery_up_keeps_its_metadata_in_cassandra() {
    let node = cql_node();
    let keyspace = unique_keyspace("orrery_up");
    let db = format!("cql://{node}/{keyspace}");
    let email = orrery_db::conformance::unique_email("ada");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    let first = tempfile::tempdir().expect("a data directory");
    let up = Up::start(&db, first.path());
    let response = http
        .post(format!("{}/api/accounts", up.base))
        .json(&json!({"email": email, "display_name": "Ada", "password": "correct horse battery"}))
        .send()
        .await
        .expect("sign-up answered");
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = session_cookie(&response);
    let response = http
        .post(format!("{}/api/projects", up.base))
        .header("cookie", &cookie)
        .json(&json!({"title": "Kept in Cassandra"}))
        .send()
        .await
        .expect("create answered");
    assert_eq!(response.status(), StatusCode::CREATED);
    up.stop();

    // Another run with an empty data directory: the account and its project are still there.
    let second = tempfile::tempdir().expect("another data directory");
    let up = Up::start(&db, second.path());
    let response = http
        .post(format!("{}/api/sign-in", up.base))
        .json(&json!({"email": email, "password": "correct horse battery"}))
        .send()
        .await
        .expect("sign-in answered");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the account is in the keyspace"
    );
    let cookie = session_cookie(&response);
    let projects: Value = http
        .get(format!("{}/api/projects", up.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("list answered")
        .json()
        .await
        .expect("JSON");
    assert!(
        projects.to_string().contains("Kept in Cassandra"),
        "{projects}"
    );
    assert!(
        !second.path().join("orrery.db").exists(),
        "no SQLite file when the metadata is in Cassandra"
    );
    up.stop();
}
