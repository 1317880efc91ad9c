//! CORS as the bucket answers browsers: preflight `OPTIONS` requests matched against the stored
//! rules (origin, method, every requested header), and the CORS headers on actual requests from
//! an allowed origin. Without a matching rule it answers 403 and adds nothing; it never widens a
//! rule.

use actix_web::{HttpRequest, HttpResponse};

use crate::common::wildcard;

use super::errors::{err, OssError};
use super::{header, EmulatedCorsRule, Inner};

/// Case-insensitive `*` matching of CORS origins and headers.
fn cors_match(pattern: &str, value: &str) -> bool {
    wildcard(
        &pattern.to_ascii_lowercase(),
        &value.to_ascii_lowercase(),
        true,
    )
}

fn matching_rule(
    inner: &Inner,
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<EmulatedCorsRule> {
    let rules = inner.state().cors.clone()?;
    rules.into_iter().find(|r| {
        r.origins.iter().any(|o| cors_match(o, origin))
            && r.methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| r.headers.iter().any(|p| cors_match(p, h)))
    })
}

pub(super) fn preflight(req: &HttpRequest, inner: &Inner) -> Result<HttpResponse, OssError> {
    let header = |n: &str| header(req, n);
    let (Some(origin), Some(method)) = (header("origin"), header("access-control-request-method"))
    else {
        return Err(err(
            403,
            "AccessForbidden",
            "CORSResponse: Insufficient information. Origin request header needed.",
        ));
    };
    let requested: Vec<String> = header("access-control-request-headers")
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let Some(rule) = matching_rule(inner, &origin, &method, &requested) else {
        return Err(err(
            403,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Requet-Headers are not whitelisted by the resource's CORS spec.",
        ));
    };
    let allow_origin = if rule.origins.iter().any(|o| o == "*") {
        "*".to_owned()
    } else {
        origin
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header(("Access-Control-Allow-Origin", allow_origin))
        .insert_header(("Access-Control-Allow-Methods", rule.methods.join(", ")))
        .insert_header(("Vary", "Origin"));
    if !requested.is_empty() {
        response.insert_header(("Access-Control-Allow-Headers", requested.join(", ")));
    }
    if !rule.expose.is_empty() {
        response.insert_header(("Access-Control-Expose-Headers", rule.expose.join(", ")));
    }
    if let Some(age) = rule.max_age {
        response.insert_header(("Access-Control-Max-Age", age.to_string()));
    }
    Ok(response.finish())
}

/// Actual (non-preflight) requests from an allowed origin get the CORS response headers.
pub(super) fn add_cors_headers(req: &HttpRequest, inner: &Inner, response: &mut HttpResponse) {
    let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let Some(rule) = matching_rule(inner, origin, req.method().as_str(), &[]) else {
        return;
    };
    let allow = if rule.origins.iter().any(|o| o == "*") {
        "*".to_owned()
    } else {
        origin.to_owned()
    };
    let headers = response.headers_mut();
    use actix_web::http::header::{HeaderName, HeaderValue};
    if let Ok(v) = HeaderValue::from_str(&allow) {
        headers.insert(HeaderName::from_static("access-control-allow-origin"), v);
    }
    if let Ok(v) = HeaderValue::from_str(&rule.expose.join(", ")) {
        headers.insert(HeaderName::from_static("access-control-expose-headers"), v);
    }
    headers.insert(
        HeaderName::from_static("vary"),
        HeaderValue::from_static("Origin"),
    );
}
