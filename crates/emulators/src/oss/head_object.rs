//! HeadObject, `HEAD /<bucket>/<key>`: OSS V4 header auth (`super::header_auth`, STS security
//! tokens included), the session policy's word on `oss:GetObject` for the object, then the
//! object's metadata — `Content-Length`, the quoted `ETag` as `GET` gives it, `Content-Type` and
//! `Last-Modified` — and never a body, errors included. It changes nothing it reads.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::access::{permitted, resource};
use super::errors::{access_denied, err, OssError};
use super::header_auth::verify_header_auth;
use super::objects::etag;
use super::Inner;

pub(super) fn head_object(
    req: &HttpRequest,
    key: &str,
    inner: &Inner,
) -> Result<HttpResponse, OssError> {
    let signer = verify_header_auth(req, inner)?;
    if !permitted(
        signer.policy.as_ref(),
        "oss:GetObject",
        &resource(inner, Some(key)),
    ) {
        return Err(access_denied(
            "You are forbidden to oss:GetObject on this object.",
        ));
    }
    let (object, modified) = {
        let state = inner.state();
        let object = state.objects.get(key).cloned();
        (object, state.modified.get(key).copied())
    };
    let object =
        object.ok_or_else(|| err(404, "NoSuchKey", "The specified key does not exist."))?;
    let mut response = HttpResponse::Ok();
    response
        .content_type(object.content_type.as_str())
        .insert_header(("ETag", etag(&object.body)));
    if let Some(at) = modified {
        response.insert_header((
            "Last-Modified",
            at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        ));
    }
    // actix sends a HEAD answer's headers only, with the body's length as Content-Length.
    Ok(response.body(object.body))
}

/// A HEAD error: its status, and its EC in `x-oss-ec` when it has one, without a body; the
/// caller adds `x-oss-request-id`.
pub(super) fn error_without_body(e: &OssError) -> HttpResponse {
    let mut response =
        HttpResponse::build(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST));
    if let Some(ec) = e.ec.and_then(|ec| HeaderValue::from_str(ec).ok()) {
        response.insert_header((HeaderName::from_static("x-oss-ec"), ec));
    }
    response.finish()
}
