//! The request middleware: gives every request an id (echoed in `X-Request-Id` and error
//! bodies, set as the task-local `request_id` for log lines deeper down), counts it in the
//! metrics, and writes one log line per request (the audit line when a credential was handed
//! out). Never logs headers or bodies.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::audit::AuditRecord;
use crate::auth::AccessDenied;
use crate::error::ApiError;
use crate::metrics::Route;
use crate::request_id::REQUEST_ID;
use crate::state::AppState;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's request id is reused when it is short and plain; anything else is replaced.
fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_owned())
}

/// Gives every request an id (echoed in `X-Request-Id` and error bodies) and logs one line per
/// request. Never logs headers or bodies.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id: std::rc::Rc<str> = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
        .into();
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
    let started = Instant::now();
    let mut res = REQUEST_ID
        .scope(request_id.clone(), async move { next.call(req).await })
        .await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
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
        let extensions = res.response().extensions();
        let audit = extensions.get::<AuditRecord>();
        let state = res.request().app_data::<web::Data<AppState>>();
        if let (Some(audit), Some(_)) = (audit, state) {
            // A credential handed out: the audit line is this request's line.
            audit.log(
                &audit.role_arn,
                &request_id,
                method.as_str(),
                &route,
                status,
                latency_ms,
            );
        } else {
            log_request(&res, &request_id, &method, &route, status, latency_ms);
        }
    }
    res.headers_mut().insert(
        X_REQUEST_ID,
        HeaderValue::from_str(&request_id).expect("request ids are plain ASCII"),
    );
    Ok(res)
}

fn log_request<B>(
    res: &ServiceResponse<B>,
    request_id: &str,
    method: &actix_web::http::Method,
    route: &str,
    status: u16,
    latency_ms: f64,
) {
    match res.response().error() {
        Some(error) if status >= 500 => tracing::error!(
            request_id = %request_id, %method, route, status, latency_ms,
            error = ?error, "request failed"
        ),
        Some(error) => tracing::warn!(
            request_id = %request_id, %method, route, status, latency_ms,
            error = %error, "request refused"
        ),
        None => {
            tracing::info!(request_id = %request_id, %method, route, status, latency_ms, "request")
        }
    }
}
