//! `BROKER_ALLOWED_HOSTS`: the middleware answering `421 misdirected-request` to a request for
//! a host the broker does not serve (DNS rebinding).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use actix_web::web;

use super::error::ApiError;
use super::state::AppState;
use crate::config::host_of_header;

/// Refuses with `421 misdirected-request` every request whose `Host` (and, for an absolute
/// request target, whose URI authority) `BROKER_ALLOWED_HOSTS` does not name, or that has no
/// `Host` or more than one. It sits inside `request_context` (so the refusal has a request id,
/// is counted and logged) and outside CORS and routing, so it answers before a preflight is
/// decided and before any authentication: a page on a rebound DNS name learns nothing.
pub async fn allowed_host(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refusal = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| host_refusal(&req, state));
    let Some(why) = refusal else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let (request, _) = req.into_parts();
    let mut res = ServiceResponse::from_err(ApiError::Misdirected(why), request);
    // As on every other answer of the main listener.
    res.headers_mut().insert(
        actix_web::http::header::VARY,
        HeaderValue::from_static("Origin"),
    );
    Ok(res.map_into_right_body())
}

/// Why `req` is refused, or `None` when it names an allowed host: exactly one `Host` header
/// that does, and an allowed authority in the request target when it carries one. The reason
/// names the host only as `host_name` normalises it (no port, a bounded character set).
fn host_refusal(req: &ServiceRequest, state: &AppState) -> Option<String> {
    let allowed = &state.allowed_hosts;
    if allowed.is_any() {
        return None;
    }
    let judge = |what: &str, value: &str| match host_of_header(value) {
        Some(host) if allowed.permits(&host) => None,
        Some(host) => Some(format!("{what} `{host}` is not in BROKER_ALLOWED_HOSTS")),
        None => Some(format!("{what} is not a host name with an optional port")),
    };
    let mut hosts = req.headers().get_all(actix_web::http::header::HOST);
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => match host.to_str() {
            Ok(value) => judge("Host", value),
            Err(_) => Some("Host is not visible ASCII".to_owned()),
        },
        (None, _) => Some("no Host header".to_owned()),
        (Some(_), Some(_)) => Some("more than one Host header".to_owned()),
    };
    host.or_else(|| {
        req.uri()
            .authority()
            .and_then(|authority| judge("the request target's authority", authority.as_str()))
    })
}
