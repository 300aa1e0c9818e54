//! Sign-in tokens: found by hash until they expire, gone once revoked, one by one or all of an account's at once.

use std::sync::Arc;
use std::time::Duration;

use super::{random_token_hash, sign_up};
use crate::{AccountId, Clock, Error, ManualClock, NewToken, Store};

const HOUR: Duration = Duration::from_secs(3600);

pub async fn expiry<S: Store + Clone + 'static>(store: S, clock: Arc<ManualClock>) {
    let ada = sign_up(&store, "ada").await;
    let hash = random_token_hash();
    let expires = clock.now().after(HOUR);
    let token = store
        .create_token(NewToken {
            hash,
            account: ada.id,
            expires,
        })
        .await
        .expect("storing a token");
    assert_eq!(token.account, ada.id);
    assert_eq!(token.created, clock.now());
    assert_eq!(token.expires, expires);
    assert_eq!(store.token(&hash).await.expect("fresh token"), token);
    assert_error!(store.token(&random_token_hash()).await, Error::NotFound(_));

    clock.advance(HOUR - Duration::from_millis(1));
    assert_eq!(
        store
            .token(&hash)
            .await
            .expect("valid until its last millisecond"),
        token
    );
    clock.advance(Duration::from_millis(1));
    assert_error!(store.token(&hash).await, Error::NotFound(_));
    clock.advance(HOUR * 24);
    assert_error!(store.token(&hash).await, Error::NotFound(_));

    // Signing in again after expiry works, and the old token stays dead.
    let again = random_token_hash();
    store
        .create_token(NewToken {
            hash: again,
            account: ada.id,
            expires: clock.now().after(HOUR),
        })
        .await
        .expect("a new sign-in after expiry");
    assert_eq!(
        store.token(&again).await.expect("new token").account,
        ada.id
    );
    assert_error!(store.token(&hash).await, Error::NotFound(_));
}

pub async fn revocation<S: Store + Clone + 'static>(store: S, clock: Arc<ManualClock>) {
    let ada = sign_up(&store, "ada").await;
    let grace = sign_up(&store, "grace").await;
    let mut ada_tokens = Vec::new();
    for _ in 0..3 {
        let hash = random_token_hash();
        store
            .create_token(NewToken {
                hash,
                account: ada.id,
                expires: clock.now().after(HOUR),
            })
            .await
            .expect("storing ada's token");
        ada_tokens.push(hash);
    }
    let grace_token = random_token_hash();
    store
        .create_token(NewToken {
            hash: grace_token,
            account: grace.id,
            expires: clock.now().after(HOUR),
        })
        .await
        .expect("storing grace's token");

    store.revoke_token(&ada_tokens[0]).await.expect("sign out");
    assert_error!(store.token(&ada_tokens[0]).await, Error::NotFound(_));
    assert_eq!(
        store
            .token(&ada_tokens[1])
            .await
            .expect("other token")
            .account,
        ada.id
    );
    store
        .revoke_token(&ada_tokens[0])
        .await
        .expect("signing out twice is fine");
    store
        .revoke_token(&random_token_hash())
        .await
        .expect("revoking an unknown token is fine");

    store
        .revoke_account_tokens(ada.id)
        .await
        .expect("sign out everywhere");
    for hash in &ada_tokens {
        assert_error!(store.token(hash).await, Error::NotFound(_));
    }
    assert_eq!(
        store
            .token(&grace_token)
            .await
            .expect("another account's token")
            .account,
        grace.id,
        "revoking one account's tokens leaves others' alone"
    );
    store
        .revoke_account_tokens(AccountId::random())
        .await
        .expect("an account without tokens");
}

pub async fn invalid_token_input<S: Store + Clone + 'static>(store: S, clock: Arc<ManualClock>) {
    let ada = sign_up(&store, "ada").await;
    let hash = random_token_hash();
    for expires in [
        clock.now(),
        clock.now().after(Duration::ZERO),
        crate::Timestamp::EPOCH,
    ] {
        assert_error!(
            store
                .create_token(NewToken {
                    hash,
                    account: ada.id,
                    expires,
                })
                .await,
            Error::Invalid(_)
        );
    }
    assert_error!(
        store
            .create_token(NewToken {
                hash,
                account: ada.id,
                expires: clock.now().after(HOUR * 24 * 1000),
            })
            .await,
        Error::Invalid(_)
    );
    assert_error!(
        store
            .create_token(NewToken {
                hash,
                account: AccountId::random(),
                expires: clock.now().after(HOUR),
            })
            .await,
        Error::NotFound(_)
    );
    assert_error!(store.token(&hash).await, Error::NotFound(_));
    store
        .create_token(NewToken {
            hash,
            account: ada.id,
            expires: clock.now().after(HOUR),
        })
        .await
        .expect("the hash is still free");
    assert_error!(
        store
            .create_token(NewToken {
                hash,
                account: ada.id,
                expires: clock.now().after(HOUR),
            })
            .await,
        Error::AlreadyExists(_)
    );
}
