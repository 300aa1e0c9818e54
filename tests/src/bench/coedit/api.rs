//! The hub's HTTP API as the benchmark uses it: sign up the accounts, create the project, invite the collaborators.

use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The hub's session cookie.
const COOKIE_NAME: &str = "orrery_session";

/// A signed-in account: what a browser holds after signing up.
#[derive(Debug, Clone)]
pub struct Account {
    pub email: String,
    /// `orrery_session=<token>`, as a browser sends it back.
    pub cookie: String,
}

#[derive(Debug)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(address: SocketAddr) -> Result<Api> {
        Ok(Api {
            http: reqwest::Client::builder().build()?,
            base: format!("http://{address}"),
        })
    }

    async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        body: Value,
    ) -> Result<reqwest::Response> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.with_context(|| format!("POST {path}"))
    }

    /// `POST /api/accounts`: a new account, signed in.
    pub async fn sign_up(&self, email: &str, name: &str) -> Result<Account> {
        let response = self
            .post(
                "/api/accounts",
                None,
                json!({"email": email, "display_name": name, "password": "bench-password-1"}),
            )
            .await?;
        let cookie = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.split(';').next())
            .find(|pair| pair.starts_with(&format!("{COOKIE_NAME}=")))
            .map(str::to_owned);
        let status = response.status();
        if status != StatusCode::CREATED {
            bail!(
                "signing up {email}: {status} {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(Account {
            email: email.to_owned(),
            cookie: cookie
                .ok_or_else(|| anyhow!("signing up {email} set no {COOKIE_NAME} cookie"))?,
        })
    }

    /// `POST /api/projects`: a new project owned by `owner`; returns its id.
    pub async fn create_project(&self, owner: &Account, title: &str) -> Result<String> {
        let response = self
            .post(
                "/api/projects",
                Some(&owner.cookie),
                json!({"title": title}),
            )
            .await?;
        let status = response.status();
        let body: Value = response.json().await.context("the new project")?;
        if status != StatusCode::CREATED {
            bail!("creating a project: {status} {body}");
        }
        body["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the new project has no id: {body}"))
    }

    /// `POST /api/projects/{project}/collaborators`.
    pub async fn invite(&self, owner: &Account, project: &str, guest: &Account) -> Result<()> {
        let response = self
            .post(
                &format!("/api/projects/{project}/collaborators"),
                Some(&owner.cookie),
                json!({"email": guest.email}),
            )
            .await?;
        let status = response.status();
        if status != StatusCode::CREATED {
            bail!(
                "inviting {}: {status} {}",
                guest.email,
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }
}
