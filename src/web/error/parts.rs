//! Status, code and message of the domain failures with many cases of their own: a refused
//! download URL, a refused multipart request, a failed OSS call of the broker's, a failed
//! credential load.

use actix_web::http::StatusCode;

use super::codes;
use crate::issuer::LoadError;
use crate::sts::client::StsError;

/// Status, code and message of a refused download URL request.
pub(super) fn download_parts(
    e: &crate::download::DownloadError,
) -> (StatusCode, &'static str, &'static str) {
    use crate::download::DownloadError as E;
    match e {
        E::Disabled => (
            StatusCode::FORBIDDEN,
            codes::DOWNLOADS_DISABLED,
            "Downloads are off for this profile.",
        ),
        E::InvalidKey(_) => (
            StatusCode::BAD_REQUEST,
            codes::INVALID_KEY,
            "The key is not a valid object key.",
        ),
        E::KeyOutsidePrefix => (
            StatusCode::FORBIDDEN,
            codes::KEY_OUTSIDE_PREFIX,
            "The key is outside what this caller may read.",
        ),
        E::ProcessNotAllowed => (
            StatusCode::FORBIDDEN,
            codes::PROCESS_NOT_ALLOWED,
            "This process value is not allowed for this profile.",
        ),
        E::InvalidExpires => (
            StatusCode::BAD_REQUEST,
            codes::INVALID_EXPIRES,
            "expires must be a whole number of seconds, at least 1.",
        ),
        // The cache never hands out a credential this close to its end; a moment later a
        // renewed one signs.
        E::CredentialExpired => (
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UPSTREAM_UNAVAILABLE,
            "STS is unavailable or throttling; try again later.",
        ),
        E::Presign(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "The broker failed to handle this request.",
        ),
    }
}

/// Status, code and message of a refused multipart request.
pub(super) fn multipart_parts(
    r: &crate::multipart::Refusal,
) -> (StatusCode, &'static str, &'static str) {
    use crate::multipart::Refusal as R;
    match r {
        R::InvalidKey(_) => (
            StatusCode::BAD_REQUEST,
            codes::INVALID_KEY,
            "The object key is not valid.",
        ),
        R::KeyOutsidePrefix => (
            StatusCode::FORBIDDEN,
            codes::KEY_OUTSIDE_PREFIX,
            "The key is outside the caller's directory.",
        ),
        R::ContentTypeNotAllowed => (
            StatusCode::FORBIDDEN,
            codes::CONTENT_TYPE_NOT_ALLOWED,
            "This upload profile does not allow that content type.",
        ),
        R::InvalidContentType => (
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            "The type is not a MIME type.",
        ),
        R::NoSuchUpload => (
            StatusCode::NOT_FOUND,
            codes::NO_SUCH_UPLOAD,
            "No such upload for this key.",
        ),
        R::TooLarge { .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::TOO_LARGE,
            "The upload is larger than this profile allows; it was aborted.",
        ),
        R::Parts(_) => (
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARTS,
            "The part numbers or ETags are not valid.",
        ),
        R::Oss(_) => (
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARTS,
            "OSS refused the parts (see upstream_code).",
        ),
        R::ObjectExists => (
            StatusCode::CONFLICT,
            codes::OBJECT_EXISTS,
            "An object with this key exists and this profile does not overwrite.",
        ),
    }
}

/// Status, code and message of a failed OSS call of the broker's.
pub(super) fn oss_parts(
    e: &crate::oss::multipart::MultipartError,
) -> (StatusCode, &'static str, &'static str) {
    use crate::oss::multipart::MultipartError as E;
    match e {
        E::Transport(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UPSTREAM_UNAVAILABLE,
            "OSS is unavailable; try again later.",
        ),
        E::Rejected(r) if r.status >= 500 => (
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UPSTREAM_UNAVAILABLE,
            "OSS is unavailable; try again later.",
        ),
        E::Rejected(_) => (
            StatusCode::BAD_GATEWAY,
            codes::UPSTREAM_REJECTED,
            "OSS refused the broker's request.",
        ),
        E::Malformed(_) => (
            StatusCode::BAD_GATEWAY,
            codes::UPSTREAM_MALFORMED,
            "OSS sent an answer the broker could not read.",
        ),
    }
}

/// Status, code and message of a failed credential load.
pub(super) fn load_parts(e: &LoadError) -> (StatusCode, &'static str, &'static str) {
    match e {
        LoadError::Identity(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UPSTREAM_UNAVAILABLE,
            "The broker's own credentials are unavailable; try again later.",
        ),
        LoadError::PeerFailed => (
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UPSTREAM_UNAVAILABLE,
            "Loading the credential failed; try again later.",
        ),
        LoadError::Sts(e) if e.retryable() => (
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UPSTREAM_UNAVAILABLE,
            "STS is unavailable or throttling; try again later.",
        ),
        // A credential that arrives already expiring is, to the caller, an STS answer
        // the broker could not use; the log names the clock.
        LoadError::Sts(StsError::Malformed { .. }) | LoadError::ClockSkew { .. } => (
            StatusCode::BAD_GATEWAY,
            codes::UPSTREAM_MALFORMED,
            "STS sent an answer the broker could not read.",
        ),
        LoadError::Sts(_) => (
            StatusCode::BAD_GATEWAY,
            codes::UPSTREAM_REJECTED,
            "STS refused the broker's request.",
        ),
    }
}
