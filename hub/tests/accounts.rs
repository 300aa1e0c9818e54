//! Accounts and sign-in over real HTTP: sign up, sign in, me, sign out, wrong passwords, expiry, throttling, cookies,
//! malformed and oversized bodies, health and metrics.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{cookie_attributes, person, TestHub};
use orrery_db::{Store, TokenHash};
use orrery_hub::{RateLimit, COOKIE_NAME};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn sign_up_sign_in_me_and_sign_out() {
    let hub = TestHub::start().await;
    let mut ada = hub.browser();
    ada.get("/api/me")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_signed_in");

    let account = ada
        .sign_up(" Ada@Example.org ", "Ada Lovelace", "analytical engine")
        .await;
    assert_eq!(account["email"], "Ada@Example.org");
    assert_eq!(account["display_name"], "Ada Lovelace");
    assert!(account.get("password_hash").is_none(), "{account}");
    // Signing up signs in.
    let me = ada.get("/api/me").await.expect(StatusCode::OK).json();
    assert_eq!(me["id"], account["id"]);

    // The database has an Argon2id hash, not the password.
    let stored = hub.db.account_by_email("ada@example.org").await.unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert!(!stored.password_hash.contains("analytical"));

    // A second browser signs in, with the address in another case.
    let mut laptop = hub.browser();
    let answer = laptop
        .sign_in("ADA@example.ORG", "analytical engine")
        .await
        .expect(StatusCode::OK);
    assert_eq!(answer.json()["id"], account["id"]);
    assert_ne!(laptop.cookie, ada.cookie, "each sign-in gets its own token");

    // The store holds SHA-256 of the cookie's 32 bytes, not the token itself.
    let cookie = laptop.cookie.clone().unwrap();
    assert_eq!(cookie.len(), 64, "256 bits in hex: {cookie}");
    let raw: Vec<u8> = (0..32)
        .map(|index| u8::from_str_radix(&cookie[2 * index..2 * index + 2], 16).unwrap())
        .collect();
    let hash = TokenHash(Sha256::digest(&raw).into());
    let token = hub
        .db
        .token(&hash)
        .await
        .expect("the token's hash is stored");
    assert_eq!(token.account.to_string(), account["id"].as_str().unwrap());
    assert_eq!(token.expires, harness::START.after(hub.session_lifetime));

    // Signing out clears the cookie and revokes the token: the old value no longer works anywhere.
    let answer = laptop
        .post("/api/sign-out", json!(null))
        .await
        .expect(StatusCode::NO_CONTENT);
    let cleared = answer.set_cookie.expect("sign-out clears the cookie");
    assert!(
        cleared.starts_with(&format!("{COOKIE_NAME}=;")),
        "{cleared}"
    );
    assert!(cookie_attributes(&cleared).contains(&"Max-Age=0".to_string()));
    assert!(laptop.cookie.is_none());
    laptop.cookie = Some(cookie);
    laptop
        .get("/api/me")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    assert!(hub.db.token(&hash).await.is_err());
    // Signing out twice is fine; the other browser is still signed in.
    laptop
        .post("/api/sign-out", json!(null))
        .await
        .expect(StatusCode::NO_CONTENT);
    ada.get("/api/me").await.expect(StatusCode::OK);
    hub.stop().await;
}

#[tokio::test]
async fn a_sign_in_is_valid_on_every_hub() {
    let first = TestHub::start().await;
    let second = first.start_beside().await;
    let (ada, _) = person(&first, "ada").await;
    let mut elsewhere = second.browser();
    elsewhere.cookie = ada.cookie.clone();
    let me = elsewhere.get("/api/me").await.expect(StatusCode::OK).json();
    assert_eq!(me["email"], "ada@example.org");
    // Signing out on the second hub ends the sign-in on the first.
    elsewhere
        .post("/api/sign-out", json!(null))
        .await
        .expect(StatusCode::NO_CONTENT);
    let mut again = first.browser();
    again.cookie = ada.cookie.clone();
    again
        .get("/api/me")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_changes_nothing() {
    let hub = TestHub::start().await;
    let (_, _) = person(&hub, "ada").await;
    let before = hub.db.account_by_email("ada@example.org").await.unwrap();

    let mut mallory = hub.browser();
    let answer = mallory
        .sign_in("ada@example.org", "password-of-bob")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "wrong_credentials");
    assert!(answer.set_cookie.is_none(), "no cookie on a failed sign-in");
    // An unknown address gets the very same answer, so addresses cannot be probed this way.
    let unknown = mallory
        .sign_in("nobody@example.org", "password-of-ada")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "wrong_credentials");
    assert_eq!(unknown.text, answer.text);
    mallory
        .get("/api/me")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_signed_in");

    let after = hub.db.account_by_email("ada@example.org").await.unwrap();
    assert_eq!(before, after);
    // The right password still works after the wrong ones.
    mallory
        .sign_in("ada@example.org", "password-of-ada")
        .await
        .expect(StatusCode::OK);
    hub.stop().await;
}

#[tokio::test]
async fn a_sign_in_expires_after_its_lifetime() {
    let hub =
        TestHub::start_with(|config| config.session_lifetime = Duration::from_secs(3600)).await;
    let (mut ada, _) = person(&hub, "ada").await;
    let attributes = cookie_attributes(
        &ada.post(
            "/api/sign-in",
            json!({"email": "ada@example.org", "password": "password-of-ada"}),
        )
        .await
        .expect(StatusCode::OK)
        .set_cookie
        .unwrap(),
    );
    assert!(
        attributes.contains(&"Max-Age=3600".to_string()),
        "{attributes:?}"
    );

    hub.clock.advance(Duration::from_secs(3599));
    ada.get("/api/me").await.expect(StatusCode::OK);
    hub.clock.advance(Duration::from_secs(1));
    ada.get("/api/me")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    ada.post("/api/projects", json!({"title": "late"}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_signed_in");
    hub.stop().await;
}

#[tokio::test]
async fn sign_up_refuses_bad_input_and_taken_addresses() {
    let hub = TestHub::start().await;
    let (_, _) = person(&hub, "ada").await;
    let mut browser = hub.browser();
    let sign_up = |email: &str, name: &str, password: &str| json!({"email": email, "display_name": name, "password": password});
    let short = browser
        .post(
            "/api/accounts",
            sign_up("bob@example.org", "Bob", "1234567"),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid");
    assert!(short.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at least 8"));
    browser
        .post(
            "/api/accounts",
            sign_up("not an address", "Bob", "long enough"),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid");
    browser
        .post(
            "/api/accounts",
            sign_up("bob@example.org", "  ", "long enough"),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid");
    browser
        .post(
            "/api/accounts",
            sign_up("ADA@example.org", "Ada again", "long enough"),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "already_exists");
    assert!(browser.cookie.is_none());
    assert!(hub.db.account_by_email("bob@example.org").await.is_err());
    hub.stop().await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused_before_anything_changes() {
    let hub = TestHub::start().await;
    let (mut ada, _) = person(&hub, "ada").await;

    let syntax = ada
        .send_raw(
            "/api/projects",
            "application/json",
            b"{\"title\": ".to_vec(),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "malformed_json");
    assert!(syntax.content_type.unwrap().starts_with("application/json"));
    let missing = ada
        .send_raw(
            "/api/projects",
            "application/json",
            b"{\"name\": \"x\"}".to_vec(),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "malformed_json");
    let message = missing.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("name") || message.contains("title"),
        "{message}"
    );
    ada.send_raw("/api/projects", "application/json", b"[1, 2]".to_vec())
        .await
        .expect_error(StatusCode::BAD_REQUEST, "malformed_json");
    ada.send_raw(
        "/api/projects",
        "text/plain",
        b"{\"title\": \"x\"}".to_vec(),
    )
    .await
    .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

    let huge = serde_json::to_vec(&json!({"title": "x".repeat(100 * 1024)})).unwrap();
    ada.send_raw("/api/projects", "application/json", huge.clone())
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let mut stranger = hub.browser();
    stranger
        .send_raw("/api/accounts", "application/json", huge)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let projects = ada.get("/api/projects").await.expect(StatusCode::OK).json();
    assert_eq!(projects, json!([]), "no error created a project");
    hub.stop().await;
}

#[tokio::test]
async fn repeated_wrong_passwords_are_throttled_with_retry_after() {
    let hub = TestHub::start_with(|config| {
        config.rate_limits.sign_in_per_email = RateLimit {
            burst: 3,
            refill_every: Duration::from_secs(60),
        };
        config.rate_limits.sign_in_per_client = RateLimit {
            burst: 6,
            refill_every: Duration::from_secs(60),
        };
    })
    .await;
    let (_, _) = person(&hub, "ada").await;
    let (_, _) = person(&hub, "bob").await;
    let mut mallory = hub.browser();
    for _ in 0..3 {
        mallory
            .sign_in("ada@example.org", "guess")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "wrong_credentials");
    }
    // The bucket is empty: even the right password is not checked now.
    let refused = mallory
        .sign_in("ada@example.org", "password-of-ada")
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: u64 = refused.retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(refused.set_cookie.is_none());

    // Successful sign-ins cost nothing: bob signs in again and again from the same client.
    let mut bob = hub.browser();
    for _ in 0..8 {
        bob.sign_in("bob@example.org", "password-of-bob")
            .await
            .expect(StatusCode::OK);
    }
    // Three more failures on other addresses use up the client's budget of six; then every address is refused here.
    for email in ["x@example.org", "y@example.org", "z@example.org"] {
        mallory
            .sign_in(email, "guess")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "wrong_credentials");
    }
    bob.sign_in("bob@example.org", "password-of-bob")
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    let metrics = hub
        .browser()
        .get("/metrics")
        .await
        .expect(StatusCode::OK)
        .text;
    assert!(
        metrics.contains("orrery_hub_sign_ins_total{result=\"failed\"} 6\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("orrery_hub_sign_ins_total{result=\"ok\"} 8\n"),
        "{metrics}"
    );
    assert!(metrics.contains("orrery_hub_rate_limited_total{limit=\"sign_in_per_email\"} 1\n"));
    assert!(metrics.contains("orrery_hub_rate_limited_total{limit=\"sign_in_per_client\"} 1\n"));
    hub.stop().await;
}

#[tokio::test]
async fn sign_ups_are_throttled_per_client() {
    let hub = TestHub::start_with(|config| {
        config.rate_limits.sign_up_per_client = RateLimit {
            burst: 2,
            refill_every: Duration::from_secs(600),
        };
    })
    .await;
    let (_, _) = person(&hub, "ada").await;
    let (_, _) = person(&hub, "bob").await;
    let mut carol = hub.browser();
    let refused = carol
        .post(
            "/api/accounts",
            json!({"email": "carol@example.org", "display_name": "Carol", "password": "long enough"}),
        )
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(refused.retry_after.is_some());
    assert!(hub.db.account_by_email("carol@example.org").await.is_err());
    hub.stop().await;
}

#[tokio::test]
async fn cookies_are_http_only_and_lax_but_not_secure_over_plain_http() {
    let hub = TestHub::start().await;
    let mut ada = hub.browser();
    let answer = ada
        .post(
            "/api/accounts",
            json!({"email": "ada@example.org", "display_name": "Ada", "password": "long enough"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let attributes = cookie_attributes(&answer.set_cookie.unwrap());
    for expected in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(&expected.to_string()), "{attributes:?}");
    }
    assert!(
        !attributes.iter().any(|attribute| attribute == "Secure"),
        "{attributes:?}"
    );
    hub.stop().await;

    // Behind a TLS-terminating load balancer the operator asks for Secure cookies explicitly.
    let hub = TestHub::start_with(|config| config.secure_cookies = Some(true)).await;
    let answer = hub
        .browser()
        .post(
            "/api/accounts",
            json!({"email": "ada@example.org", "display_name": "Ada", "password": "long enough"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert!(cookie_attributes(&answer.set_cookie.unwrap()).contains(&"Secure".to_string()));
    hub.stop().await;
}

#[tokio::test]
async fn health_metrics_and_unknown_routes() {
    let hub = TestHub::start().await;
    let mut browser = hub.browser();
    let health = browser.get("/healthz").await.expect(StatusCode::OK);
    assert_eq!(health.text, "ok");
    browser
        .get("/api/no/such/thing")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // Any other path is the web app's page (it routes itself); the app is embedded in the binary.
    for path in ["/", "/projects/anything"] {
        let page = browser.get(path).await.expect(StatusCode::OK);
        assert!(page.content_type.unwrap().starts_with("text/html"));
        assert!(
            page.text.contains("<html") || page.text.contains("web app"),
            "{}",
            page.text
        );
    }
    browser
        .post("/no/such/page", json!({}))
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    browser
        .delete("/api/me")
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    browser
        .get("/api/me")
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let (_, _) = person(&hub, "ada").await;

    let metrics = browser.get("/metrics").await.expect(StatusCode::OK);
    assert!(metrics.content_type.unwrap().starts_with("text/plain"));
    let text = metrics.text;
    for line in [
        "orrery_hub_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1\n",
        "orrery_hub_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n",
        "orrery_hub_http_requests_total{route=\"/api/me\",method=\"GET\",status=\"401\"} 1\n",
        "orrery_hub_http_requests_total{route=\"/api/accounts\",method=\"POST\",status=\"201\"} 1\n",
        "orrery_hub_sign_ups_total 1\n",
        "# TYPE orrery_hub_http_requests_total counter\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    hub.stop().await;
}
