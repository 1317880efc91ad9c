//! CORS for browsers: answers preflights and adds `Access-Control-Allow-Origin` for origins in
//! `BROKER_CORS_ORIGINS` (exact match, never a wildcard, never credentials mode). It decides
//! nothing about who the caller is; an allowed origin still has to authenticate.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::web::error::ApiError;
use crate::web::state::AppState;

/// Request headers a browser may send (lower case, as preflights list them).
pub const ALLOWED_REQUEST_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-request-id"];
const ALLOW_HEADERS_VALUE: &str = "Authorization, X-Api-Key, X-Request-Id";
const EXPOSE_HEADERS_VALUE: &str = "X-Request-Id, Retry-After";
const MAX_AGE_SECONDS: &str = "600";

/// Whether every header named in `Access-Control-Request-Headers` is one we accept.
fn requested_headers_ok(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value else { return true };
    let Ok(list) = value.to_str() else {
        return false;
    };
    list.split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .all(|h| ALLOWED_REQUEST_HEADERS.contains(&h.as_str()))
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let allowed_origin = {
        let origins = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.cors_origins.as_slice())
            .unwrap_or_default();
        req.headers()
            .get(ORIGIN)
            .and_then(|o| o.to_str().ok())
            .filter(|o| origins.iter().any(|allowed| allowed == o))
            .map(str::to_owned)
    };
    let is_preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ORIGIN)
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
        let method_ok = req
            .headers()
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .is_some_and(|m| m.as_bytes() == b"GET");
        let refusal = match &allowed_origin {
            None => Some("origin not in BROKER_CORS_ORIGINS"),
            Some(_) if !method_ok => Some("method other than GET requested"),
            Some(_) if !requested_headers_ok(req.headers().get(ACCESS_CONTROL_REQUEST_HEADERS)) => {
                Some("request header not allowed")
            }
            Some(_) => None,
        };
        let mut res = match (refusal, &allowed_origin) {
            (None, Some(origin)) => req.into_response(
                HttpResponse::NoContent()
                    .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin.as_str()))
                    .insert_header((ACCESS_CONTROL_ALLOW_METHODS, "GET"))
                    .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS_VALUE))
                    .insert_header((ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECONDS))
                    .finish(),
            ),
            (reason, _) => req.error_response(ApiError::OriginNotAllowed(
                reason.unwrap_or("origin not in BROKER_CORS_ORIGINS"),
            )),
        };
        res.headers_mut()
            .append(VARY, HeaderValue::from_static("Origin"));
        return Ok(res);
    }

    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    headers.append(VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed_origin {
        if let Ok(value) = HeaderValue::from_str(&origin) {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS_VALUE),
            );
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_headers() {
        assert!(requested_headers_ok(None));
        assert!(requested_headers_ok(Some(&HeaderValue::from_static(
            "authorization, X-Request-Id"
        ))));
        assert!(!requested_headers_ok(Some(&HeaderValue::from_static(
            "authorization, x-evil"
        ))));
    }
}
