//! The STS emulator's error documents: the codes, statuses and messages real STS uses (the
//! table below), the constructors the checks call, and the JSON error answer. It decides no
//! request; its log lines carry the code and request id only, never a message (messages may echo
//! request parameters).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

const HOST_ID: &str = "sts.aliyuncs.com";

/// protocol.md §1.7 (AssumeRole and gateway tables): code, HTTP status, message as real STS words it.
/// Codes not listed (MissingParameter, InvalidParameter*, SignatureDoesNotMatch) are 400.
#[rustfmt::skip]
const ERRORS: &[(&str, u16, &str)] = &[
    ("UnsupportedHTTPMethod", 403, "The specified HTTP method is not supported."),
    ("InvalidAction.NotFound", 404, "Specified api is not found, please check your url and method."),
    ("InvalidParameter.ContentType", 400, "ContentType must be \"application/json\" or \"application/x-www-form-urlencoded\"."),
    ("IllegalTimestamp", 400, "The specified parameter \"Timestamp\" is not valid."),
    ("InvalidTimeStamp.Expired", 400, "Specified time stamp or date value is expired."),
    ("InvalidAccessKeyId.NotFound", 404, "Specified access key is not found."),
    ("MissingSecurityToken", 400, "SecurityToken is mandatory for this action."),
    ("InvalidSecurityToken.MismatchWithAccessKey", 400, "Specified SecurityToken mismatch with the AccessKey."),
    ("InvalidSecurityToken.Expired", 400, "Specified SecurityToken is expired."),
    ("InvalidSecurityToken.Malformed", 400, "Specified SecurityToken is malformed."),
    ("SignatureNonceUsed", 400, "Specified signature nonce was used already."),
    ("InvalidParameter.RoleArn", 400, "The parameter RoleArn is wrongly formed."),
    ("EntityNotExist.Role", 404, "The specified Role not exists ."),
    ("InvalidParameter.RoleSessionName", 400, "The parameter RoleSessionName is wrongly formed."),
    ("InvalidParameter.DurationSeconds", 400, "The Min/Max value of DurationSeconds is 15min/1hr."),
    ("InvalidParameter.PolicySize", 400, "The size of Policy must be smaller than 2048 bytes."),
    ("InvalidParameter.PolicyGrammar", 400, "The parameter Policy has not passed grammar check."),
    ("NoPermission", 403, "You are not authorized to do this action. You should be authorized by RAM."),
    ("Throttling.User", 400, "Request was denied due to user flow control."),
    ("InternalError", 500, "STS Server Internal Error happened, please send the RequestId to us."),
    ("ServiceUnavailable", 503, "The request has failed due to a temporary failure of the server."),
    // AssumeRoleWithOIDC (Alibaba's STS error-code reference, api-sts-2015-04-01-errorcodes).
    ("AuthenticationFail.NoPermission", 401, "No such OIDC Provider registered."),
    ("AuthenticationFail.OIDCToken.Invalid", 401, "The Jwt content is invalid that cannot be recognized."),
    ("AuthenticationFail.OIDCToken.Expired", 401, "This JsonWebToken is expired."),
    // Not from a source: the emulator's own code for a provider ARN of the wrong shape.
    ("InvalidParameter.OIDCProviderArn", 400, "The parameter OIDCProviderArn is wrongly formed."),
];

/// An Alibaba-shaped error (protocol.md §1.6, statuses §1.7).
#[derive(Debug)]
pub(super) struct StsError {
    pub(super) status: u16,
    pub(super) code: &'static str,
    pub(super) message: String,
}

pub(super) fn fail(code: &'static str) -> StsError {
    let (status, message) = (ERRORS.iter().find(|(c, _, _)| *c == code))
        .map_or((400, ""), |(_, status, message)| (*status, *message));
    StsError {
        status,
        code,
        message: message.into(),
    }
}

pub(super) fn fail_with(code: &'static str, message: String) -> StsError {
    StsError {
        message,
        ..fail(code)
    }
}

pub(super) fn missing(name: &str) -> StsError {
    let msg = format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied.");
    fail_with("MissingParameter", msg)
}

pub(super) fn error_response(request_id: &str, e: &StsError) -> HttpResponse {
    // Code and request id only: messages may echo request parameters (protocol.md §1.6).
    tracing::debug!(code = e.code, request_id, "sts emulator answered an error");
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    HttpResponse::build(status)
        .insert_header(("x-acs-request-id", request_id))
        .json(json!({
            "RequestId": request_id,
            "HostId": HOST_ID,
            "Code": e.code,
            "Message": e.message,
            "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&product=Sts", e.code),
        }))
}
