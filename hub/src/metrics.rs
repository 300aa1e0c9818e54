//! Counters in Prometheus text format at `/metrics`. Only counters the hub really increments are listed; the WebSocket
//! relay adds its own (connections, channels, messages) when it is built.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Which throttle refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Limit {
    EmailSignIns,
    ClientSignIns,
    ClientSignUps,
}

impl Limit {
    const ALL: [Limit; 3] = [
        Limit::EmailSignIns,
        Limit::ClientSignIns,
        Limit::ClientSignUps,
    ];

    fn label(self) -> &'static str {
        match self {
            Limit::EmailSignIns => "sign_in_per_email",
            Limit::ClientSignIns => "sign_in_per_client",
            Limit::ClientSignUps => "sign_up_per_client",
        }
    }
}

/// The hub's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Requests by (route pattern, method, status); routes are the router's patterns, so the label set stays small.
    requests: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    sign_ins_ok: AtomicU64,
    sign_ins_failed: AtomicU64,
    sign_ups: AtomicU64,
    rate_limited: [AtomicU64; Limit::ALL.len()],
    sockets_total: AtomicU64,
    sockets_open: AtomicU64,
    channels_opened: AtomicU64,
    channels_refused: AtomicU64,
    channels_open: AtomicU64,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    throttled: AtomicU64,
    resyncs: AtomicU64,
    sync_failures: AtomicU64,
}

impl Metrics {
    pub(crate) fn sign_in_succeeded(&self) {
        self.sign_ins_ok.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sign_in_failed(&self) {
        self.sign_ins_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn signed_up(&self) {
        self.sign_ups.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rate_limited(&self, limit: Limit) {
        self.rate_limited[limit as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn socket_opened(&self) {
        self.sockets_total.fetch_add(1, Ordering::Relaxed);
        self.sockets_open.fetch_add(1, Ordering::Relaxed);
    }

    /// A socket ended with `channels` still open, which end with it.
    pub(crate) fn socket_closed(&self, channels: usize) {
        self.sockets_open.fetch_sub(1, Ordering::Relaxed);
        self.channels_open
            .fetch_sub(channels as u64, Ordering::Relaxed);
    }

    pub(crate) fn channel_opened(&self) {
        self.channels_opened.fetch_add(1, Ordering::Relaxed);
        self.channels_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn channel_refused(&self) {
        self.channels_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn channel_closed(&self) {
        self.channels_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn relayed_to_local_hub(&self, bytes: usize) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A frame from a local hub to a browser; sync resyncs and refused edits are counted from their first bytes.
    pub(crate) fn relayed_to_browser(&self, kind: u8, body: &[u8], bytes: usize) {
        use orrery_local_hub::protocol::kind;
        self.frames_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        // 0x82 is the sync wire tag of a server Resync (sync/PROTOCOL.md).
        if kind == kind::SYNC_REPLY && body.first() == Some(&0x82) {
            self.resyncs.fetch_add(1, Ordering::Relaxed);
        }
        if kind == kind::NOTICE && body.windows(9).any(|window| window == b"\"dropped\"") {
            self.sync_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count_request(&self, route: String, method: &'static str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        *requests.entry((route, method, status)).or_insert(0) += 1;
    }

    /// The Prometheus text exposition of every counter.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        counter_header(
            &mut text,
            "orrery_hub_http_requests_total",
            "HTTP requests answered, by route pattern, method and status.",
        );
        let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        for ((route, method, status), count) in requests.iter() {
            let _ = writeln!(
                text,
                "orrery_hub_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
        drop(requests);

        counter_header(
            &mut text,
            "orrery_hub_sign_ins_total",
            "Sign-in attempts whose password was checked, by result.",
        );
        for (result, counter) in [("ok", &self.sign_ins_ok), ("failed", &self.sign_ins_failed)] {
            let count = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                text,
                "orrery_hub_sign_ins_total{{result=\"{result}\"}} {count}"
            );
        }

        counter_header(&mut text, "orrery_hub_sign_ups_total", "Accounts created.");
        let _ = writeln!(
            text,
            "orrery_hub_sign_ups_total {}",
            self.sign_ups.load(Ordering::Relaxed)
        );

        counter_header(
            &mut text,
            "orrery_hub_rate_limited_total",
            "Attempts refused with 429, by the limit that refused them.",
        );
        for limit in Limit::ALL {
            let count = self.rate_limited[limit as usize].load(Ordering::Relaxed);
            let _ = writeln!(
                text,
                "orrery_hub_rate_limited_total{{limit=\"{}\"}} {count}",
                limit.label()
            );
        }
        let counters = [
            (
                "orrery_hub_ws_connections_total",
                "WebSocket connections accepted.",
                &self.sockets_total,
            ),
            (
                "orrery_hub_ws_channels_opened_total",
                "Channels opened (authorized and relayed).",
                &self.channels_opened,
            ),
            (
                "orrery_hub_ws_channels_refused_total",
                "Channel opens refused by the hub (not a collaborator, project unavailable, ...).",
                &self.channels_refused,
            ),
            (
                "orrery_hub_ws_frames_in_total",
                "Frames received from browsers.",
                &self.frames_in,
            ),
            (
                "orrery_hub_ws_frames_out_total",
                "Frames relayed from local hubs to browsers.",
                &self.frames_out,
            ),
            (
                "orrery_hub_ws_bytes_in_total",
                "Bytes received from browsers.",
                &self.bytes_in,
            ),
            (
                "orrery_hub_ws_bytes_out_total",
                "Bytes relayed to browsers.",
                &self.bytes_out,
            ),
            (
                "orrery_hub_ws_throttled_total",
                "Times a socket was slowed down for sending too fast.",
                &self.throttled,
            ),
            (
                "orrery_hub_sync_resyncs_total",
                "Sync resyncs (whole-text replies) relayed.",
                &self.resyncs,
            ),
            (
                "orrery_hub_sync_failures_total",
                "Edits a document refused (reported to the editor with the dropped text).",
                &self.sync_failures,
            ),
        ];
        for (name, help, counter) in counters {
            counter_header(&mut text, name, help);
            let _ = writeln!(text, "{name} {}", counter.load(Ordering::Relaxed));
        }
        for (name, help, gauge) in [
            (
                "orrery_hub_ws_connections",
                "WebSocket connections open now.",
                &self.sockets_open,
            ),
            (
                "orrery_hub_ws_channels",
                "Channels open now.",
                &self.channels_open,
            ),
        ] {
            let _ = writeln!(text, "# HELP {name} {help}");
            let _ = writeln!(text, "# TYPE {name} gauge");
            let _ = writeln!(text, "{name} {}", gauge.load(Ordering::Relaxed));
        }
        text
    }
}

fn counter_header(text: &mut String, name: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} counter");
}

/// A label value as the text format wants it: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The method as a label; anything but the standard methods is "other", so a client cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware that counts every answered request under its route pattern ("unmatched" when no route matched).
pub(crate) async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let method = method_label(request.method());
    let response = next.run(request).await;
    state
        .metrics
        .count_request(route, method, response.status().as_u16());
    response
}

/// `GET /metrics`.
pub(crate) async fn render(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = state.metrics.render();
            if let Some(host) = &state.host {
                let (starts, mean) = host.start_stats();
                counter_header(
                    &mut text,
                    "orrery_hub_local_hub_starts_total",
                    "Local hubs started by this process's host role.",
                );
                let _ = writeln!(text, "orrery_hub_local_hub_starts_total {starts}");
                let _ = writeln!(text, "# HELP orrery_hub_local_hub_start_seconds_mean Mean time from starting a local hub to its open socket.");
                let _ = writeln!(text, "# TYPE orrery_hub_local_hub_start_seconds_mean gauge");
                let _ = writeln!(
                    text,
                    "orrery_hub_local_hub_start_seconds_mean {:.6}",
                    mean.as_secs_f64()
                );
            }
            text
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_text_format() {
        let metrics = Metrics::default();
        metrics.count_request("/api/me".into(), "GET", 200);
        metrics.count_request("/api/me".into(), "GET", 200);
        metrics.count_request("we\"ird".into(), "GET", 404);
        metrics.sign_in_failed();
        metrics.rate_limited(Limit::ClientSignUps);
        let text = metrics.render();
        assert!(text.contains(
            "orrery_hub_http_requests_total{route=\"/api/me\",method=\"GET\",status=\"200\"} 2\n"
        ));
        assert!(text.contains("route=\"we\\\"ird\""));
        assert!(text.contains("orrery_hub_sign_ins_total{result=\"failed\"} 1\n"));
        assert!(text.contains("orrery_hub_sign_ins_total{result=\"ok\"} 0\n"));
        assert!(text.contains("orrery_hub_rate_limited_total{limit=\"sign_up_per_client\"} 1\n"));
        assert!(text.contains("# TYPE orrery_hub_sign_ups_total counter\n"));
    }
}
