//! The web app, embedded at build time from `web/dist` (see `build.rs`): `index.html` for `/` and for any path that is
//! not a file (the app routes itself), hashed assets with a year-long cache, everything with its content type.

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::Error;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

const NOT_BUILT: &str = "<!doctype html><title>Orrery</title><p>This Orrery binary was built without its web app. \
Run <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>, then build Orrery again (or use <code>ops/up</code>, which does both).</p>";

/// The fallback route: a file of the web app for GET and HEAD outside `/api/`, a JSON 404 or 405 otherwise.
pub(crate) async fn serve(request: Request) -> Response {
    let path = request.uri().path();
    let method = request.method().clone();
    if path.starts_with("/api/") || path == "/api" {
        return Error::NoRoute {
            method: method.to_string(),
            path: path.to_string(),
        }
        .into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return Error::MethodNotAllowed {
            method: method.to_string(),
            path: path.to_string(),
        }
        .into_response();
    }
    let relative = path.trim_start_matches('/');
    if let Some((name, bytes)) = FILES.iter().find(|(name, _)| *name == relative) {
        if *name != "index.html" {
            let cache = if name.starts_with("assets/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            return (
                [
                    (header::CONTENT_TYPE, content_type(name)),
                    (header::CACHE_CONTROL, cache),
                ],
                *bytes,
            )
                .into_response();
        }
    }
    if relative.starts_with("assets/") {
        // A hashed asset of another build: the page that asked is stale; a 404 makes that visible.
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    }
    let index = FILES
        .iter()
        .find(|(name, _)| *name == "index.html")
        .map_or(NOT_BUILT.as_bytes(), |(_, bytes)| *bytes);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        index,
    )
        .into_response()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("wasm") => "application/wasm",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
