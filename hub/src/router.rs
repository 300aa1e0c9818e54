//! The route table: the one place every path the hub answers is listed.

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;
use crate::{account, assets, health, metrics, project, ws, Error};

/// Every route, with the body-size limit and request counting around them.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::render))
        .route("/api/accounts", post(account::sign_up))
        .route("/api/sign-in", post(account::sign_in))
        .route("/api/sign-out", post(account::sign_out))
        .route("/api/me", get(account::me))
        .route("/api/projects", get(project::list).post(project::create))
        .route(
            "/api/projects/{project}",
            get(project::show)
                .patch(project::rename)
                .delete(project::delete),
        )
        .route(
            "/api/projects/{project}/collaborators",
            get(project::collaborators).post(project::invite),
        )
        .route(
            "/api/projects/{project}/collaborators/{account}",
            delete(project::remove),
        )
        .route("/api/projects/{project}/leave", post(project::leave))
        .route("/ws", get(ws::upgrade))
        .fallback(assets::serve)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .with_state(state)
}

async fn method_not_allowed(request: Request) -> Error {
    Error::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
    }
}
