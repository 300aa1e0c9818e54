//! HTTPS with a self-signed certificate made in the test: the API works over TLS, cookies gain `Secure`, plain HTTP to
//! the TLS port gets nowhere, a half-open handshake does not block others, and bad key files stop the hub at start.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{cookie_attributes, Browser, TestHub};
use orrery_hub::{Config, Hub, TlsConfig};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// A certificate for `localhost`, written as PEM files into the hub's directory; returns the certificate PEM.
fn self_signed(hub_directory: &std::path::Path) -> (TlsConfig, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("a self-signed certificate");
    let certificate = certified.cert.pem();
    let cert_path = hub_directory.join("cert.pem");
    let key_path = hub_directory.join("key.pem");
    std::fs::write(&cert_path, &certificate).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    set_mode(&key_path, 0o600);
    (
        TlsConfig {
            cert_path,
            key_path,
        },
        certificate,
    )
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn tls_hub() -> (TestHub, Browser) {
    let directory = tempfile::tempdir().unwrap();
    let (tls, certificate) = self_signed(directory.path());
    let hub = TestHub::start_with(move |config| config.tls = Some(tls)).await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(certificate.as_bytes()).unwrap())
        .resolve("localhost", hub.address)
        .build()
        .unwrap();
    // The PEM files were read at start; the directory may go.
    drop(directory);
    let browser = Browser::new(&hub.base, client);
    (hub, browser)
}

#[tokio::test]
async fn the_api_works_over_tls_with_secure_cookies() {
    let (hub, mut ada) = tls_hub().await;
    assert!(hub.base.starts_with("https://"));
    assert_eq!(ada.get("/healthz").await.expect(StatusCode::OK).text, "ok");
    let answer = ada
        .post(
            "/api/accounts",
            json!({"email": "ada@example.org", "display_name": "Ada", "password": "long enough"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let attributes = cookie_attributes(&answer.set_cookie.unwrap());
    for expected in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(attributes.contains(&expected.to_string()), "{attributes:?}");
    }
    ada.get("/api/me").await.expect(StatusCode::OK);
    let cleared = ada
        .post("/api/sign-out", json!(null))
        .await
        .expect(StatusCode::NO_CONTENT)
        .set_cookie
        .unwrap();
    assert!(cookie_attributes(&cleared).contains(&"Secure".to_string()));

    // A client that does not trust the certificate is refused by its own TLS check.
    let untrusting = reqwest::Client::builder()
        .resolve("localhost", hub.address)
        .build()
        .unwrap();
    assert!(untrusting
        .get(format!("{}/healthz", hub.base))
        .send()
        .await
        .is_err());
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", hub.address))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    hub.stop().await;
}

#[tokio::test]
async fn a_silent_client_does_not_block_other_handshakes() {
    let (hub, mut browser) = tls_hub().await;
    // Connect and say nothing: the handshake waits in its own task.
    let mut silent = tokio::net::TcpStream::connect(hub.address).await.unwrap();
    silent.write_all(b"").await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), browser.get("/healthz"))
        .await
        .expect("another client is served while one handshake hangs");
    answer.expect(StatusCode::OK);
    drop(silent);
    hub.stop().await;
}

#[tokio::test]
async fn unreadable_or_mismatched_key_files_stop_the_hub_at_start() {
    let directory = tempfile::tempdir().unwrap();
    let (tls, _) = self_signed(directory.path());

    let missing = TlsConfig {
        cert_path: directory.path().join("absent.pem"),
        key_path: tls.key_path.clone(),
    };
    let other = tempfile::tempdir().unwrap();
    let (other_tls, _) = self_signed(other.path());
    let mismatched = TlsConfig {
        cert_path: tls.cert_path.clone(),
        key_path: other_tls.key_path.clone(),
    };
    let certificate_copy = directory.path().join("certificate-copy.pem");
    std::fs::copy(&tls.cert_path, &certificate_copy).unwrap();
    set_mode(&certificate_copy, 0o600);
    let not_a_key = TlsConfig {
        cert_path: tls.cert_path.clone(),
        key_path: certificate_copy,
    };
    let readable_key = directory.path().join("readable-key.pem");
    std::fs::copy(&tls.key_path, &readable_key).unwrap();
    set_mode(&readable_key, 0o644);
    let readable = TlsConfig {
        cert_path: tls.cert_path.clone(),
        key_path: readable_key,
    };
    for (what, tls, why) in [
        ("a missing certificate", missing, "absent.pem"),
        (
            "a key of another certificate",
            mismatched,
            "do not work together",
        ),
        ("a certificate given as the key", not_a_key, "private key"),
        ("a key other users can read", readable, "chmod 600"),
    ] {
        let config = Config {
            database: orrery_hub::Database::Sqlite(directory.path().join("orrery.db")),
            tls: Some(tls),
            ..Config::default()
        };
        let error = Hub::new(config).await.expect_err(what);
        assert!(
            matches!(error, orrery_hub::Error::Config(_)),
            "{what}: {error}"
        );
        assert!(
            error.to_string().contains(".pem"),
            "{what}: the message names the file: {error}"
        );
        assert!(error.to_string().contains(why), "{what}: {error}");
    }
}
