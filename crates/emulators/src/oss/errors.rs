//! The OSS emulator's error documents (protocol.md §5.8): [`OssError`], the constructors the checks
//! share (so one error reads the same wherever it is raised) and the XML `<Error>` answer, with
//! its `<EC>` when the error has one (protocol.md §9.1, §9.5). It decides no request; its log lines
//! carry the code and request id only, never a message.

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
    /// The error's EC (`0007-00000001`), shown as `<EC>` and `x-oss-ec` when set.
    pub(super) ec: Option<&'static str>,
}

impl OssError {
    /// The same error with its EC.
    pub(super) fn with_ec(self, ec: &'static str) -> OssError {
        OssError {
            ec: Some(ec),
            ..self
        }
    }
}

pub(super) fn err(status: u16, code: &'static str, message: impl Into<String>) -> OssError {
    OssError {
        status,
        code,
        message: message.into(),
        ec: None,
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
    let ec = e.ec.map_or_else(String::new, |ec| {
        format!("  <EC>{ec}</EC>\n  <RecommendDoc>https://api.aliyun.com/troubleshoot?q={ec}</RecommendDoc>\n")
    });
    let mut response =
        HttpResponse::build(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST));
    response
        .content_type("application/xml")
        .insert_header(("x-oss-request-id", request_id));
    if let Some(code) = e.ec {
        response.insert_header(("x-oss-ec", code));
    }
    response.body(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  <RequestId>{request_id}</RequestId>\n  <HostId>{host}</HostId>\n{ec}</Error>\n",
        e.code,
        xml_escape(&e.message)
    ))
}
