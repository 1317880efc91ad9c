//! The OSS emulator's error documents (protocol.md §5.8): [`OssError`], the constructors the checks
//! share (so one error reads the same wherever it is raised) and the XML `<Error>` answer. It
//! decides no request; its log lines carry the code and request id only, never a message.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use super::xml::xml_escape;
use super::Inner;

/// An OSS-style error (protocol.md §5.8).
#[derive(Debug)]
pub(super) struct OssError {
    pub(super) status: u16,
    pub(super) code: &'static str,
    pub(super) message: String,
}

pub(super) fn err(status: u16, code: &'static str, message: impl Into<String>) -> OssError {
    OssError {
        status,
        code,
        message: message.into(),
    }
}

/// 400 `InvalidArgument`.
pub(super) fn invalid_argument(message: impl Into<String>) -> OssError {
    err(400, "InvalidArgument", message)
}

/// 403 `AccessDenied`.
pub(super) fn access_denied(message: impl Into<String>) -> OssError {
    err(403, "AccessDenied", message)
}

/// 403 `InvalidAccessKeyId`: an unknown key, or (protocol.md §5.8) an STS key without its token.
pub(super) fn unknown_access_key() -> OssError {
    err(
        403,
        "InvalidAccessKeyId",
        "The OSS Access Key Id you provided does not exist in our records.",
    )
}

pub(super) fn signature_mismatch() -> OssError {
    err(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    )
}

pub(super) fn time_too_skewed() -> OssError {
    err(
        403,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
    )
}

pub(super) fn error_response(inner: &Inner, request_id: &str, e: &OssError) -> HttpResponse {
    tracing::debug!(code = e.code, request_id, "oss emulator answered an error");
    let host = format!("{}.oss-{}.aliyuncs.com", inner.bucket, inner.region);
    HttpResponse::build(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
        .content_type("application/xml")
        .insert_header(("x-oss-request-id", request_id))
        .body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  <RequestId>{request_id}</RequestId>\n  <HostId>{host}</HostId>\n</Error>\n",
            e.code,
            xml_escape(&e.message)
        ))
}
