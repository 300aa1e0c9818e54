//! Accounts: lookups by id and by e-mail ignoring case, one account per address even under concurrent sign-ups, input checks.

use std::sync::Arc;

use super::{sign_up, unique_email};
use crate::{AccountId, Clock, Error, ManualClock, NewAccount, Store};

fn new_account(email: &str, name: &str) -> NewAccount {
    NewAccount {
        email: email.to_string(),
        display_name: name.to_string(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$salt$hash".to_string(),
    }
}

pub async fn create_and_read<S: Store + Clone + 'static>(store: S, clock: Arc<ManualClock>) {
    let email = unique_email("Ada.Lovelace");
    let ada = store
        .create_account(new_account(&format!("  {email} "), " Ada Lovelace "))
        .await
        .expect("creating an account");
    assert_eq!(ada.email, email, "the address is kept trimmed");
    assert_eq!(ada.display_name, "Ada Lovelace", "the name is kept trimmed");
    assert_eq!(ada.created, clock.now());

    assert_eq!(store.account(ada.id).await.expect("by id"), ada);
    let shouted = email.to_uppercase();
    assert_eq!(
        store
            .account_by_email(&shouted)
            .await
            .expect("by e-mail in another case"),
        ada
    );
    assert_error!(store.account(AccountId::random()).await, Error::NotFound(_));
    assert_error!(
        store.account_by_email(&unique_email("nobody")).await,
        Error::NotFound(_)
    );

    let grace = sign_up(&store, "grace").await;
    let listed = store
        .accounts(&[grace.id, AccountId::random(), ada.id])
        .await
        .expect("several by id");
    assert_eq!(
        listed,
        vec![grace.clone(), ada.clone()],
        "in the order asked, unknown ids left out"
    );

    let renamed = store
        .set_display_name(ada.id, "Countess of Lovelace")
        .await
        .expect("renaming");
    assert_eq!(renamed.display_name, "Countess of Lovelace");
    assert_error!(
        store.set_display_name(ada.id, "  ").await,
        Error::Invalid(_)
    );
    store
        .set_password_hash(ada.id, "$argon2id$new")
        .await
        .expect("changing the password hash");
    let reread = store.account_by_email(&email).await.expect("reread");
    assert_eq!(reread.password_hash, "$argon2id$new");
    assert_eq!(reread.display_name, "Countess of Lovelace");
    assert_error!(
        store.set_password_hash(AccountId::random(), "$x").await,
        Error::NotFound(_)
    );
    assert!(
        !format!("{reread:?}").contains("$argon2id$new"),
        "Debug output must not show the password hash"
    );
}

pub async fn unique_email_ignoring_case<S: Store + Clone + 'static>(
    store: S,
    _clock: Arc<ManualClock>,
) {
    let email = unique_email("alan");
    let alan = store
        .create_account(new_account(&email, "Alan"))
        .await
        .expect("first sign-up");
    for variant in [email.clone(), email.to_uppercase(), format!(" {email}")] {
        let error = assert_error!(
            store
                .create_account(new_account(&variant, "Impostor"))
                .await,
            Error::AlreadyExists(_)
        );
        assert!(error.to_string().contains("e-mail"), "says why: {error}");
    }
    assert_eq!(
        store.account_by_email(&email).await.expect("lookup").id,
        alan.id
    );
}

pub async fn unique_email_under_concurrent_creates<S: Store + Clone + 'static>(
    store: S,
    _clock: Arc<ManualClock>,
) {
    const CONTENDERS: usize = 24;
    let email = unique_email("race");
    let mut tasks = Vec::new();
    for contender in 0..CONTENDERS {
        let store = store.clone();
        // Half shout, half whisper: case must not let two through.
        let variant = if contender % 2 == 0 {
            email.to_uppercase()
        } else {
            email.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .create_account(new_account(&variant, &format!("contender {contender}")))
                .await
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("a sign-up task panicked") {
            Ok(account) => winners.push(account),
            Err(Error::AlreadyExists(_)) => {}
            Err(other) => panic!("a losing sign-up must get AlreadyExists, got {other:?}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent sign-up wins: {winners:?}"
    );
    let stored = store.account_by_email(&email).await.expect("lookup");
    assert_eq!(stored, winners[0]);
}

pub async fn invalid_account_input<S: Store + Clone + 'static>(store: S, _clock: Arc<ManualClock>) {
    let good = unique_email("valid");
    for email in [
        "",
        "   ",
        "no-at-sign",
        "user@",
        "@example.org",
        "a b@example.org",
        "a@b@c",
        "a@.org",
    ] {
        assert_error!(
            store.create_account(new_account(email, "Someone")).await,
            Error::Invalid(_)
        );
    }
    let long_email = format!("{}@example.org", "x".repeat(250));
    assert_error!(
        store
            .create_account(new_account(&long_email, "Someone"))
            .await,
        Error::Invalid(_)
    );
    for name in ["", "  ", "two\nlines", &"n".repeat(101)] {
        assert_error!(
            store.create_account(new_account(&good, name)).await,
            Error::Invalid(_)
        );
    }
    let mut no_hash = new_account(&good, "Someone");
    no_hash.password_hash.clear();
    assert_error!(store.create_account(no_hash).await, Error::Invalid(_));
    assert_error!(
        store.account_by_email("not an address").await,
        Error::Invalid(_)
    );
    // Nothing above created the account, so the address is still free.
    store
        .create_account(new_account(&good, "Someone"))
        .await
        .expect("the address was left free by the refused attempts");
}
