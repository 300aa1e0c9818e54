//! What several of `ops/tests` need: this build's `orrery admin` run as an operator runs it, the Cassandra node the
//! suite was given, and the session cookie of a hub's answer. Each test file includes it with `mod support;`.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::ffi::OsStr;
use std::process::{Command, Output};

/// `orrery admin --db DB ARGS…`, run to completion.
pub fn admin(db: impl AsRef<OsStr>, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orrery"))
        .arg("admin")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("running orrery admin")
}

/// What `orrery admin` printed, after checking that it succeeded.
pub fn admin_succeeds(db: impl AsRef<OsStr>, args: &[&str]) -> String {
    let output = admin(db, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "orrery admin {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// What `orrery admin` said on stderr, after checking that it failed.
pub fn admin_fails(db: impl AsRef<OsStr>, args: &[&str]) -> String {
    let output = admin(db, args);
    assert!(!output.status.success(), "orrery admin {args:?} must fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The Cassandra node (`HOST:PORT`) named by `ORRERY_TEST_CQL`; `tests/run` starts one and sets it. Without it the
/// test fails saying how to get one, rather than passing without having run.
pub fn cql_node() -> String {
    std::env::var("ORRERY_TEST_CQL").unwrap_or_else(|_| {
        panic!(
            "ORRERY_TEST_CQL is not set: start a node with `ops/cassandra/cluster start DIR` and set ORRERY_TEST_CQL=127.0.0.1:9042 (tests/run does both)"
        )
    })
}

/// A keyspace name no other test or run uses, starting with `label`.
pub fn unique_keyspace(label: &str) -> String {
    orrery_db::conformance::unique(label).replace('-', "_")
}

/// The `orrery_session=…` pair a hub's answer sets, ready for a `cookie` header.
pub fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("orrery_session="))
        .and_then(|value| value.split(';').next())
        .expect("a session cookie")
        .to_string()
}

/// A port on 127.0.0.1 that was free a moment ago (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}
