//! Distributed tracing on the request path: whether spans are exported at all
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` set: [`enabled`]), whether one request is sampled, decided
//! before any span exists ([`decide`], by the configured sampler in `sampling`), the spans the
//! broker opens only for sampled work ([`span`]), a caller's W3C `traceparent` continued
//! ([`continue_caller`]) and sent on the broker's own calls ([`outbound`]). With tracing off
//! every function here is one relaxed atomic load and a branch: no span is created, no header
//! read or written. A request that is not sampled opens no span either; its calls carry the
//! caller's trace on, flagged not sampled.
//!
//! Spans carry routes, statuses, profiles, actions, attempts and outcomes; never a header
//! value, a token, a key or a secret.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

mod sampling;

pub use sampling::{Root, Sampler, TraceParent};

static ENABLED: AtomicBool = AtomicBool::new(false);
static SAMPLER: OnceLock<Sampler> = OnceLock::new();

tokio::task_local! {
    /// Set for the length of a request that is not sampled: the caller's trace, if any.
    static UNSAMPLED: Option<TraceParent>;
}

/// Whether spans are exported (set once at start-up by `telemetry`).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Called by `telemetry` once the exporter is installed.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Called by `telemetry` once, before tracing is enabled (the first call wins).
pub fn set_sampler(sampler: Sampler) {
    let _ = SAMPLER.set(sampler);
}

fn sampler() -> Sampler {
    SAMPLER.get().copied().unwrap_or_default()
}

/// What one request does about tracing, decided before anything is built.
#[derive(Debug)]
pub enum RequestTrace {
    /// Tracing is off.
    Off,
    /// The request opens its server span, continuing the caller's trace when it sent a valid
    /// one (`true`).
    Sampled(bool),
    /// No span; the caller's trace, if any, is passed on flagged not sampled.
    Unsampled(Option<TraceParent>),
}

/// The sampler's decision for a request with these headers.
pub fn decide(headers: &HeaderMap) -> RequestTrace {
    if !enabled() {
        return RequestTrace::Off;
    }
    let parent = TraceParent::of(headers);
    if let Some(parent) = parent {
        return if sampler().sampled(Some(&parent), || 0) {
            RequestTrace::Sampled(true)
        } else {
            RequestTrace::Unsampled(Some(parent))
        };
    }
    // A new trace: decided on its own trace id, which an unsampled request passes on (flagged
    // not sampled) so the services it calls follow the decision.
    let fresh = TraceParent::fresh();
    if sampler().sampled(None, || fresh.trace_low()) {
        RequestTrace::Sampled(false)
    } else {
        RequestTrace::Unsampled(Some(fresh))
    }
}

/// Runs a request that is not sampled: [`span`] makes nothing inside it, and [`outbound`]
/// passes `parent` on.
pub async fn unsampled<F: Future>(parent: Option<TraceParent>, work: F) -> F::Output {
    UNSAMPLED.scope(parent, work).await
}

/// `make()` for sampled work, else a disabled span (which costs nothing to enter): tracing on,
/// not inside an unsampled request, and either inside a span already (a sampled request) or,
/// for work of the broker's own outside any request, sampled as a new trace.
#[inline]
pub fn span(make: impl FnOnce() -> Span) -> Span {
    if !enabled() || UNSAMPLED.try_with(|_| ()).is_ok() {
        return Span::none();
    }
    if Span::current().is_none() && !sampler().sampled(None, || fastrand::u64(..)) {
        return Span::none();
    }
    make()
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

/// Makes `span` a child of the caller's trace (`traceparent` and `tracestate`); call it only
/// when [`decide`] found a valid one.
pub fn continue_caller(span: &Span, headers: &HeaderMap) {
    if !enabled() {
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

/// The `traceparent` (and `tracestate`) of the current span, for an outbound request; in a
/// request that is not sampled, the caller's trace flagged not sampled (nothing when it had
/// none); empty when tracing is off.
pub fn outbound_headers() -> Vec<(String, String)> {
    if !enabled() {
        return Vec::new();
    }
    if let Ok(passed_on) = UNSAMPLED.try_with(|parent| parent.as_ref().map(passed_on)) {
        return passed_on.unwrap_or_default();
    }
    let mut headers = Collect(Vec::new());
    TraceContextPropagator::new().inject_context(&Span::current().context(), &mut headers);
    headers.0
}

fn passed_on(parent: &TraceParent) -> Vec<(String, String)> {
    let mut headers = vec![("traceparent".to_owned(), parent.unsampled_header())];
    if let Some(state) = parent.state.as_ref().and_then(|v| v.to_str().ok()) {
        headers.push(("tracestate".to_owned(), state.to_owned()));
    }
    headers
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
/// status; with tracing off, just sends it (with the caller's trace passed on when the request
/// is not sampled).
pub async fn send(
    request: reqwest::RequestBuilder,
    span: Span,
) -> reqwest::Result<reqwest::Response> {
    if span.is_none() {
        return outbound(request).send().await;
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
        assert!(matches!(decide(&HeaderMap::new()), RequestTrace::Off));
    }
}
