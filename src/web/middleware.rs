//! The request middleware: gives every request an id of the broker's own (the `request_id` of
//! every log line), keeps the caller's sane `X-Request-Id` beside it (`client_request_id`,
//! echoed in `X-Request-Id` and error bodies), sets both as the task-local of `request_id` for
//! log lines deeper down, counts the request in the metrics, and writes one log line per
//! request (the audit line when a credential was handed out). Never logs headers or bodies.

use std::net::IpAddr;
use std::time::Instant;

use tracing::{Instrument as _, Span};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};

use crate::auth::AccessDenied;
use crate::metrics::Route;
use crate::request_id::{RequestIds, REQUEST_ID};
use crate::trace::RequestTrace;
use crate::web::audit::{AuditEntry, RequestFacts};
use crate::web::error::ApiError;
use crate::web::state::AppState;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's request id is reused when it is short and plain; anything else is replaced.
fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_owned())
}

/// The request's ids: a fresh UUID of the broker's own, which no caller can choose or repeat,
/// and the caller's `X-Request-Id` when it is sane.
fn request_ids(req: &ServiceRequest) -> std::rc::Rc<RequestIds> {
    std::rc::Rc::new(RequestIds {
        own: uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .to_owned(),
        client: req.headers().get(&X_REQUEST_ID).and_then(sane_request_id),
    })
}

/// Gives every request an id (echoed in `X-Request-Id` and error bodies) and logs one line per
/// request. Never logs headers or bodies.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let ids = request_ids(&req);
    let method = req.method().clone();
    // The broker's own routes are fixed paths: name them without asking the router to build
    // the pattern string (the demo page's routes go the slow way).
    let route: std::borrow::Cow<'static, str> = match Route::from_pattern(Some(req.path())) {
        Route::Unmatched => req
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned())
            .into(),
        known => known.as_str().into(),
    };
    let client_ip = ClientAddress::of_service(&req);
    let started = Instant::now();
    let (span, unsampled) = match crate::trace::decide(req.headers()) {
        RequestTrace::Off => (Span::none(), None),
        RequestTrace::Sampled(caller) => (server_span(&req, &method, &route, caller), None),
        RequestTrace::Unsampled(parent) => (Span::none(), Some(parent)),
    };
    let work = REQUEST_ID.scope(ids.clone(), async move { next.call(req).await });
    let mut res = match unsampled {
        // Not sampled: no span at all; the caller's trace is still passed on.
        Some(parent) => crate::trace::unsampled(parent, work).await?,
        None => work.instrument(span.clone()).await?,
    };
    let status = res.status().as_u16();
    if !span.is_none() {
        span.record("http.response.status_code", status);
        if status >= 500 {
            span.record("otel.status_code", "ERROR");
        }
    }
    let elapsed = started.elapsed();
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if let Some(metrics) = res
        .request()
        .app_data::<web::Data<AppState>>()
        .map(|state| &state.metrics)
    {
        metrics.observe_request(Route::from_pattern(Some(&route)), status, elapsed);
        if let Some(ApiError::Denied(AccessDenied::RateLimited { kind, .. })) = res
            .response()
            .error()
            .and_then(|e| e.as_error::<ApiError>())
        {
            metrics.rate_limited(*kind);
        }
    }
    {
        let facts = RequestFacts {
            ids: &ids,
            method: method.as_str(),
            route: &route,
            status,
            latency_us,
            client_ip,
        };
        let extensions = res.response().extensions();
        let audit = extensions.get::<AuditEntry>();
        let state = res.request().app_data::<web::Data<AppState>>();
        match (audit, state) {
            // A credential handed out or a callback: the audit line is this request's line.
            (Some(audit), Some(state)) => audit.log(&facts, state),
            _ => log_request(&res, &facts),
        }
    }
    res.headers_mut().insert(
        X_REQUEST_ID,
        HeaderValue::from_str(ids.answered()).expect("request ids are plain ASCII"),
    );
    Ok(res)
}

/// The server span of a sampled request (continuing the caller's `traceparent` when `caller`):
/// the method, route and, once known, status and profile; never a header value or the query.
fn server_span(
    req: &ServiceRequest,
    method: &actix_web::http::Method,
    route: &str,
    caller: bool,
) -> Span {
    let span = tracing::info_span!(
            "request",
            otel.name = %format_args!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = %method,
            http.route = route,
            http.response.status_code = tracing::field::Empty,
            profile = tracing::field::Empty,
    );
    if caller {
        crate::trace::continue_caller(&span, req.headers());
    }
    span
}

fn log_request<B>(res: &ServiceResponse<B>, f: &RequestFacts<'_>) {
    let (ids, method, route, status, latency_ms) =
        (f.ids, f.method, f.route, f.status, f.latency_ms());
    let client_ip = f.client_ip.map(tracing::field::display);
    match res.response().error() {
        Some(error) if status >= 500 => tracing::error!(
            request_id = %ids.own, client_request_id = ids.client.as_deref(), method, route, status, latency_ms,
            client_ip, error = ?error, "request failed"
        ),
        Some(error) => tracing::warn!(
            request_id = %ids.own, client_request_id = ids.client.as_deref(), method, route, status, latency_ms,
            client_ip, error = %error, "request refused"
        ),
        None => {
            tracing::info!(request_id = %ids.own, client_request_id = ids.client.as_deref(), method, route, status, latency_ms, client_ip, "request")
        }
    }
}

/// The request's client address (`Access::client_address`): the peer, or behind trusted
/// proxies what their forwarded header says. Worked out where it is needed (the log line here,
/// the `Caller` extractor) rather than stored per request: it is a few comparisons.
pub struct ClientAddress;

impl ClientAddress {
    fn of_service(req: &ServiceRequest) -> Option<IpAddr> {
        req.app_data::<web::Data<AppState>>()
            .and_then(|state| state.access.client_address(req.headers(), req.peer_addr()))
    }

    /// The client address of a request the extractor sees.
    pub fn of(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
        state.access.client_address(req.headers(), req.peer_addr())
    }
}
