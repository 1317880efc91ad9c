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
/// The Uppy Companion routes (`/s3/…`) also take JSON bodies (`content-type`, and `accept` as
/// Uppy 5 sends it), and POST and DELETE (protocol.md §18).
const S3_REQUEST_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "x-request-id",
    "content-type",
    "accept",
];
const S3_ALLOW_HEADERS_VALUE: &str = "Authorization, X-Api-Key, X-Request-Id, Content-Type, Accept";
const S3_METHODS: [&str; 3] = ["GET", "POST", "DELETE"];
const S3_ALLOW_METHODS_VALUE: &str = "GET, POST, DELETE";

/// Paths a page may also POST a JSON body to (`/getObjectUrls`).
const JSON_POST_PATHS: [&str; 1] = ["/getObjectUrls"];
const JSON_POST_METHODS: [&str; 2] = ["GET", "POST"];
const JSON_POST_HEADERS: [&str; 4] = ["authorization", "x-api-key", "x-request-id", "content-type"];
const JSON_POST_ALLOW_HEADERS_VALUE: &str = "Authorization, X-Api-Key, X-Request-Id, Content-Type";

/// Whether `path` is one of the Companion routes (`/s3/…`, `/profiles/<name>/s3/…`).
fn is_s3_path(path: &str) -> bool {
    path.starts_with("/s3/")
        || path
            .strip_prefix("/profiles/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(_, rest)| rest.starts_with("s3/"))
}
const EXPOSE_HEADERS_VALUE: &str = "X-Request-Id, Retry-After";
const MAX_AGE_SECONDS: &str = "600";

/// Whether every header named in `Access-Control-Request-Headers` is one we accept.
#[cfg(test)]
fn requested_headers_ok(value: Option<&HeaderValue>) -> bool {
    headers_within(value, &ALLOWED_REQUEST_HEADERS)
}

fn headers_within(value: Option<&HeaderValue>, allowed: &[&str]) -> bool {
    let Some(value) = value else { return true };
    let Ok(list) = value.to_str() else {
        return false;
    };
    list.split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .all(|h| allowed.contains(&h.as_str()))
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
        let s3 = is_s3_path(req.path());
        let json_post = JSON_POST_PATHS.contains(&req.path());
        let (methods, headers): (&[&str], &[&str]) = if s3 {
            (&S3_METHODS, &S3_REQUEST_HEADERS)
        } else if json_post {
            (&JSON_POST_METHODS, &JSON_POST_HEADERS)
        } else {
            (&["GET"], &ALLOWED_REQUEST_HEADERS)
        };
        let method_ok = req
            .headers()
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| methods.contains(&m));
        let refusal = match &allowed_origin {
            None => Some("origin not in BROKER_CORS_ORIGINS"),
            Some(_) if !method_ok => Some("method not allowed on this path requested"),
            Some(_)
                if !headers_within(req.headers().get(ACCESS_CONTROL_REQUEST_HEADERS), headers) =>
            {
                Some("request header not allowed")
            }
            Some(_) => None,
        };
        let (allow_methods, allow_headers) = if s3 {
            (S3_ALLOW_METHODS_VALUE, S3_ALLOW_HEADERS_VALUE)
        } else if json_post {
            ("GET, POST", JSON_POST_ALLOW_HEADERS_VALUE)
        } else {
            ("GET", ALLOW_HEADERS_VALUE)
        };
        let mut res = match (refusal, &allowed_origin) {
            (None, Some(origin)) => req.into_response(
                HttpResponse::NoContent()
                    .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin.as_str()))
                    .insert_header((ACCESS_CONTROL_ALLOW_METHODS, allow_methods))
                    .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, allow_headers))
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
    fn companion_paths() {
        for path in [
            "/s3/multipart",
            "/s3/params",
            "/profiles/avatar/s3/multipart/X/1",
        ] {
            assert!(is_s3_path(path), "{path}");
        }
        for path in [
            "/s3",
            "/getToken",
            "/profiles/avatar/getToken",
            "/profiles/s3/x",
            "/xs3/",
        ] {
            assert!(!is_s3_path(path), "{path}");
        }
        assert!(headers_within(
            Some(&HeaderValue::from_static("authorization,content-type")),
            &S3_REQUEST_HEADERS
        ));
        assert!(!requested_headers_ok(Some(&HeaderValue::from_static(
            "content-type"
        ))));
    }

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
