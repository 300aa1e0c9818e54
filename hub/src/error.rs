//! The hub's one error type. Each variant knows its HTTP status and its wire code; every error response is
//! `{"error": {"code": "...", "message": "..."}}`.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Everything the hub can fail with, at start-up or answering a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The metadata store refused or failed; its own status applies (404, 409, 403, 400, 503, 500).
    #[error(transparent)]
    Db(#[from] orrery_db::Error),
    /// The request is well-formed JSON but a field breaks a rule the hub checks itself (e.g. a short password).
    #[error("{0}")]
    Invalid(String),
    /// The body is not JSON, or not JSON of the expected shape.
    #[error("the request body is not valid JSON for this request: {0}")]
    MalformedJson(String),
    /// The body is larger than [`crate::Config::max_body_bytes`].
    #[error("the request body is larger than the {limit} bytes this server accepts")]
    PayloadTooLarge { limit: usize },
    /// The body was not sent as `Content-Type: application/json`.
    #[error("the request body must be sent with Content-Type: application/json")]
    UnsupportedMediaType,
    /// No valid sign-in cookie: never signed in, signed out, or the sign-in expired.
    #[error("you are not signed in (or your sign-in has expired); sign in again")]
    NotSignedIn,
    /// The e-mail address has no account or the password is wrong; which of the two is not told.
    #[error("wrong e-mail address or password")]
    WrongCredentials,
    /// Too many attempts; the client may retry after the given time.
    #[error("too many attempts; try again in {} s", retry_after_seconds(*retry_after))]
    RateLimited { retry_after: Duration },
    /// A WebSocket upgrade from a page of another site (its `Origin` does not name this hub).
    #[error("a page from {origin} may not open this hub's WebSocket")]
    BadOrigin { origin: String },
    /// No route has this path.
    #[error("there is no {method} {path} here")]
    NoRoute { method: String, path: String },
    /// The path exists but not with this method.
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// The configuration cannot work (a bad TLS key, a zero rate limit); found at start-up.
    #[error("invalid hub configuration: {0}")]
    Config(String),
    /// Binding, accepting or reading a file failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A bug or a failure the client cannot fix (password hashing failed, a worker thread died).
    #[error("internal error: {0}")]
    Internal(String),
}

/// The result of every hub operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Db(error) => StatusCode::from_u16(error.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Error::Invalid(_) | Error::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::NotSignedIn | Error::WrongCredentials => StatusCode::UNAUTHORIZED,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::BadOrigin { .. } => StatusCode::FORBIDDEN,
            Error::NoRoute { .. } => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::Config(_) | Error::Io { .. } | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The stable, machine-readable code a client can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Db(error) => match error {
                orrery_db::Error::NotFound(_) => "not_found",
                orrery_db::Error::AlreadyExists(_) => "already_exists",
                orrery_db::Error::Conflict(_) => "conflict",
                orrery_db::Error::Forbidden(_) => "forbidden",
                orrery_db::Error::Invalid(_) => "invalid",
                orrery_db::Error::Unavailable { .. } => "unavailable",
                _ => "internal",
            },
            Error::Invalid(_) => "invalid",
            Error::MalformedJson(_) => "malformed_json",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::NotSignedIn => "not_signed_in",
            Error::WrongCredentials => "wrong_credentials",
            Error::RateLimited { .. } => "rate_limited",
            Error::BadOrigin { .. } => "bad_origin",
            Error::NoRoute { .. } => "not_found",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::Config(_) | Error::Io { .. } | Error::Internal(_) => "internal",
        }
    }

    /// What the client is told. Server-side failures are logged in full and summarized, so no internals leak.
    fn public_message(&self) -> String {
        match self.status() {
            StatusCode::INTERNAL_SERVER_ERROR => {
                "something went wrong on the server; the hub's log has the details".to_string()
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                "the metadata store is unavailable right now; try again shortly".to_string()
            }
            _ => self.to_string(),
        }
    }
}

/// Whole seconds to wait, rounded up and never zero, as `Retry-After` wants them.
pub(crate) fn retry_after_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = Body {
            error: Detail {
                code: self.code(),
                message: self.public_message(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Error::RateLimited { retry_after } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_seconds(retry_after)),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(59_001)), 60);
        assert_eq!(retry_after_seconds(Duration::from_secs(60)), 60);
    }

    #[test]
    fn database_errors_keep_their_status() {
        let error = Error::from(orrery_db::Error::Forbidden("only the owner".into()));
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        assert_eq!(error.code(), "forbidden");
        let error = Error::from(orrery_db::Error::NotFound("project".into()));
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
    }
}
