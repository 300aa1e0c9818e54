//! `orrery hub` as an operator starts it: it creates its database, answers on its address, and stops cleanly on SIGTERM.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn hub_serves_health_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("orrery.db");
    // A free port: bind, read it, release it for the hub.
    let port = support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_orrery"))
        .args(["hub", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(&database)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("orrery starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        if let Some(response) = get(port, "/healthz") {
            break response;
        }
        assert!(
            Instant::now() < deadline,
            "the hub never answered on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok"), "{health}");
    assert!(database.is_file(), "the hub creates its database");
    let missing = get(port, "/api/projects").expect("answers");
    assert!(
        missing.starts_with("HTTP/1.1 401"),
        "projects need a sign-in: {missing}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = child.wait().expect("exits");
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
}
