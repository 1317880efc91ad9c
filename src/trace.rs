//! Distributed tracing on the request path: whether spans are exported at all
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` set: [`enabled`]), the spans the broker opens only then
//! ([`span`]), a caller's W3C `traceparent` continued ([`continue_caller`]) and sent on the
//! broker's own calls ([`outbound`]). With tracing off every function here is one relaxed
//! atomic load and a branch: no span is created, no header read or written.
//!
//! Spans carry routes, statuses, profiles, actions, attempts and outcomes; never a header
//! value, a token, a key or a secret.

use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (set once at start-up by `telemetry`).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Called by `telemetry` once the exporter is installed.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// `make()` when tracing is on, else a disabled span (which costs nothing to enter).
#[inline]
pub fn span(make: impl FnOnce() -> Span) -> Span {
    if enabled() {
        make()
    } else {
        Span::none()
    }
}

/// Records `value` as `field` of the current span, when tracing is on.
#[inline]
pub fn record_current(field: &'static str, value: &str) {
    if enabled() {
        Span::current().record(field, value);
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` a child of the caller's trace when the request carries a valid
/// `traceparent` (and `tracestate`); otherwise it starts a trace of its own.
pub fn continue_caller(span: &Span, headers: &HeaderMap) {
    if !enabled() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let _ = span.set_parent(parent);
}

struct Collect(Vec<(String, String)>);

impl Injector for Collect {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// The `traceparent` (and `tracestate`) of the current span, for an outbound request; empty
/// when tracing is off.
pub fn outbound_headers() -> Vec<(String, String)> {
    if !enabled() {
        return Vec::new();
    }
    let mut headers = Collect(Vec::new());
    TraceContextPropagator::new().inject_context(&Span::current().context(), &mut headers);
    headers.0
}

/// `builder` with the current span's `traceparent` when tracing is on.
pub fn outbound(builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    outbound_headers()
        .into_iter()
        .fold(builder, |b, (name, value)| b.header(name, value))
}

/// A client span for one outbound call (`otel.name` such as `OSS HEAD`), when tracing is on.
pub fn client_span(name: &'static str) -> Span {
    span(|| {
        tracing::info_span!(
            "client",
            otel.name = name,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        )
    })
}

/// Sends `request` inside `span` (from [`client_span`]) with its `traceparent`, recording the
/// status; with tracing off, just sends it.
pub async fn send(
    request: reqwest::RequestBuilder,
    span: Span,
) -> reqwest::Result<reqwest::Response> {
    if span.is_none() {
        return request.send().await;
    }
    let request = span.in_scope(|| outbound(request));
    let response = tracing::Instrument::instrument(request.send(), span.clone()).await;
    match &response {
        Ok(r) => {
            span.record("http.response.status_code", r.status().as_u16());
            if r.status().is_server_error() {
                span.record("otel.status_code", "ERROR");
            }
        }
        Err(_) => {
            span.record("otel.status_code", "ERROR");
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_means_no_span_and_no_header() {
        set_enabled(false);
        assert!(span(|| tracing::info_span!("x")).is_none());
        assert!(outbound_headers().is_empty());
    }
}
