//! A JSON body extractor whose rejections are the hub's [`Error`]s, so a malformed or oversized body gets the same
//! `{"error": ...}` shape as every other failure, and is refused before any handler changes anything.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::state::AppState;
use crate::Error;

/// A request body of type `T`, sent as `Content-Type: application/json`.
#[derive(Debug)]
pub(crate) struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Error> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(rejected(&rejection, state.max_body_bytes)),
        }
    }
}

fn rejected(rejection: &JsonRejection, limit: usize) -> Error {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => Error::UnsupportedMediaType,
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Error::PayloadTooLarge { limit }
        }
        JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
            Error::MalformedJson(detail(rejection))
        }
        _ => Error::MalformedJson(rejection.body_text()),
    }
}

/// serde's own words ("missing field `email` at line 1 column 2"), without axum's generic preamble.
fn detail(rejection: &JsonRejection) -> String {
    let text = rejection.body_text();
    match text.split_once(": ") {
        Some((_, detail)) if !detail.is_empty() => detail.to_string(),
        _ => text,
    }
}
