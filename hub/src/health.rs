//! `GET /healthz`: 200 `ok` when the metadata store answers, 503 otherwise, for load balancers and `orrery up`.

use axum::extract::State;
use orrery_db::Store;

use crate::state::AppState;
use crate::{Error, Result};

pub(crate) async fn healthz(State(state): State<AppState>) -> Result<&'static str> {
    // A one-row read that every store answers, whatever it holds.
    match state.db.latest_layout().await {
        Ok(_) => Ok("ok"),
        Err(error) => {
            tracing::warn!(%error, "health check: the metadata store does not answer");
            Err(Error::Db(orrery_db::Error::Unavailable {
                message: error.to_string(),
                source: Some(Box::new(error)),
            }))
        }
    }
}
