//! Accounts and sign-in over HTTP: sign up, sign in, sign out, and who am I.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /api/accounts` | `{email, display_name, password}` | 201, the account, signed in (cookie) |
//! | `POST /api/sign-in` | `{email, password}` | 200, the account, signed in (cookie); 401 wrong credentials; 429 throttled |
//! | `POST /api/sign-out` | none | 204, the cookie cleared and its token revoked |
//! | `GET /api/me` | | 200, the account; 401 when not signed in |

use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orrery_db::{Account, AccountId, NewAccount, Store, Timestamp};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::json::Json;
use crate::metrics::Limit;
use crate::password::Passwords;
use crate::rate_limit::client_key;
use crate::server::ClientAddr;
use crate::session::{self, SignedIn, Token};
use crate::state::AppState;
use crate::{Error, Result};

/// An account as the API shows it: never its password hash.
#[derive(Debug, Serialize)]
pub(crate) struct AccountView {
    pub id: AccountId,
    pub email: String,
    pub display_name: String,
    pub created: Timestamp,
}

impl From<Account> for AccountView {
    fn from(account: Account) -> Self {
        AccountView {
            id: account.id,
            email: account.email,
            display_name: account.display_name,
            created: account.created,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignUp {
    email: String,
    display_name: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    email: String,
    password: String,
}

/// `POST /api/accounts`: creates an account and signs it in.
#[instrument(skip_all)]
pub(crate) async fn sign_up(
    State(state): State<AppState>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Json(request): Json<SignUp>,
) -> Result<Response> {
    let client = client_key(peer, &headers, state.trust_forwarded_for);
    if let Err(retry_after) = state.sign_up_per_client.try_take(&client, Instant::now()) {
        state.metrics.rate_limited(Limit::ClientSignUps);
        return Err(Error::RateLimited { retry_after });
    }
    Passwords::check_rules(&request.password)?;
    // Refuse a taken address before spending a hash on it; the store checks again when it creates the account.
    orrery_db::account::email_key(&request.email)?;
    match state.db.account_by_email(&request.email).await {
        Ok(_) => {
            return Err(orrery_db::Error::AlreadyExists(format!(
                "an account with the e-mail address {:?} already exists; sign in instead",
                request.email.trim()
            ))
            .into())
        }
        Err(orrery_db::Error::NotFound(_)) => {}
        Err(error) => return Err(error.into()),
    }
    let password_hash = state.passwords.hash(request.password).await?;
    let account = state
        .db
        .create_account(NewAccount {
            email: request.email,
            display_name: request.display_name,
            password_hash,
        })
        .await?;
    state.metrics.signed_up();
    tracing::info!(account = %account.id, "account created");
    let cookie = session::start(&state, &account).await?;
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        axum::Json(AccountView::from(account)),
    )
        .into_response())
}

/// `POST /api/sign-in`.
#[instrument(skip_all)]
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Json(request): Json<SignIn>,
) -> Result<Response> {
    let email = request.email.trim().to_lowercase();
    if email.chars().count() > orrery_db::account::MAX_EMAIL_CHARS {
        return Err(Error::Invalid(
            "that is too long for an e-mail address".into(),
        ));
    }
    let client = client_key(peer, &headers, state.trust_forwarded_for);
    // Each attempt reserves a token from both buckets before the password is checked, so concurrent guesses cannot
    // overshoot the budget; only a failed attempt keeps them.
    let now = Instant::now();
    if let Err(retry_after) = state.sign_in_per_client.try_take(&client, now) {
        state.metrics.rate_limited(Limit::ClientSignIns);
        return Err(Error::RateLimited { retry_after });
    }
    if let Err(retry_after) = state.sign_in_per_email.try_take(&email, now) {
        state.sign_in_per_client.refund(&client);
        state.metrics.rate_limited(Limit::EmailSignIns);
        return Err(Error::RateLimited { retry_after });
    }
    let refund = || {
        state.sign_in_per_client.refund(&client);
        state.sign_in_per_email.refund(&email);
    };
    let account = match check_password(&state, &request.email, request.password).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            state.metrics.sign_in_failed();
            return Err(Error::WrongCredentials);
        }
        Err(error) => {
            refund();
            return Err(error);
        }
    };
    refund();
    let cookie = session::start(&state, &account).await?;
    state.metrics.sign_in_succeeded();
    tracing::info!(account = %account.id, "signed in");
    Ok((
        [(header::SET_COOKIE, cookie)],
        axum::Json(AccountView::from(account)),
    )
        .into_response())
}

/// The account, when the password is its own; `None` when it is wrong or no account has that address.
async fn check_password(
    state: &AppState,
    email: &str,
    password: String,
) -> Result<Option<Account>> {
    let account = match state.db.account_by_email(email).await {
        Ok(account) => Some(account),
        Err(orrery_db::Error::NotFound(_) | orrery_db::Error::Invalid(_)) => None,
        Err(error) => return Err(error.into()),
    };
    let stored = account
        .as_ref()
        .map(|account| account.password_hash.clone());
    let matches = state.passwords.verify(password, stored).await?;
    Ok(account.filter(|_| matches))
}

/// `POST /api/sign-out`: revokes this browser's token (if any) and clears its cookie. Signing out twice is fine.
#[instrument(skip_all)]
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response> {
    if let Some(token) = Token::from_headers(&headers) {
        state.db.revoke_token(&token.hash()).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            session::clearing_cookie(state.secure_cookies),
        )],
    )
        .into_response())
}

/// `GET /api/me`.
#[instrument(skip_all)]
pub(crate) async fn me(signed_in: SignedIn) -> axum::Json<AccountView> {
    axum::Json(AccountView::from(signed_in.account))
}
