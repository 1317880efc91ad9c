//! The one error type at the HTTP boundary and its one status mapping. Bodies carry a stable
//! kebab-case `code`, a fixed message and the request id; causes go to the log (via the request
//! logger), never into a body.

use std::fmt;
use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::AccessDenied;
use crate::issuer::{IssueError, LoadError};
use crate::policy::PolicyTooLarge;
use crate::request_id::answered_request_id;
use crate::sts::client::StsError;

mod parts;
use parts::{download_parts, load_parts, multipart_parts, oss_parts};

/// Stable error codes, declared in one place.
pub mod codes {
    pub const NOT_FOUND: &str = "not-found";
    pub const METHOD_NOT_ALLOWED: &str = "method-not-allowed";
    pub const UPSTREAM_REJECTED: &str = "upstream-rejected";
    pub const UPSTREAM_UNAVAILABLE: &str = "upstream-unavailable";
    pub const UPSTREAM_MALFORMED: &str = "upstream-malformed";
    pub const INTERNAL: &str = "internal";
    /// No, or no acceptable, caller credentials (always with `WWW-Authenticate: Bearer`).
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    /// The caller authenticated, but its id cannot be used safely in keys and policies.
    pub const CALLER_ID_REFUSED: &str = "caller-id-refused";
    /// Too many requests from this caller (or failed authentications from this address).
    pub const RATE_LIMITED: &str = "rate-limited";
    /// A CORS preflight from an origin (or asking for a method or header) not allowed.
    pub const ORIGIN_NOT_ALLOWED: &str = "origin-not-allowed";
    /// `?profile=` names no configured profile (or is empty).
    pub const UNKNOWN_PROFILE: &str = "unknown-profile";
    /// The profile has a callback, which only `/getPostObjectParams` forms carry.
    pub const SERVER_SIGNING_ONLY: &str = "server-signing-only";
    /// `/ossCallback`: the callback did not verify (signature, grant, directory or object).
    pub const CALLBACK_REFUSED: &str = "callback-refused";
    /// `/ossCallback`: the app did not take the verified callback.
    pub const CALLBACK_FAILED: &str = "callback-failed";
    /// A `Host` that `BROKER_ALLOWED_HOSTS` does not name (421; DNS-rebinding defence).
    pub const MISDIRECTED_REQUEST: &str = "misdirected-request";
    /// A body or parameter the broker cannot read.
    pub const INVALID_REQUEST: &str = "invalid-request";
    /// An object key that breaks the key rules.
    pub const INVALID_KEY: &str = "invalid-key";
    /// A key outside the caller's directory.
    pub const KEY_OUTSIDE_PREFIX: &str = "key-outside-prefix";
    /// A content type the profile does not allow.
    pub const CONTENT_TYPE_NOT_ALLOWED: &str = "content-type-not-allowed";
    /// A multipart upload id that is not this key's (or is gone).
    pub const NO_SUCH_UPLOAD: &str = "no-such-upload";
    /// A completed upload over the profile's `max_upload_bytes` (aborted).
    pub const TOO_LARGE: &str = "too-large";
    /// Part numbers or ETags the broker or OSS refused (OSS's code in `upstream_code`).
    pub const INVALID_PARTS: &str = "invalid-parts";
    /// The key exists and the profile does not overwrite.
    pub const OBJECT_EXISTS: &str = "object-exists";
    /// The profile cannot serve multipart uploads (its prefix has no fixed root).
    pub const MULTIPART_UNAVAILABLE: &str = "multipart-unavailable";
    /// An `x-oss-process` value the profile does not allow.
    pub const PROCESS_NOT_ALLOWED: &str = "process-not-allowed";
    /// The profile's downloads are off.
    pub const DOWNLOADS_DISABLED: &str = "downloads-disabled";
    /// `expires` is not a whole number of seconds of at least 1.
    pub const INVALID_EXPIRES: &str = "invalid-expires";
    /// The body did not arrive within `BROKER_BODY_TIMEOUT_MS`.
    pub const REQUEST_TIMEOUT: &str = "request-timeout";
    /// Too many bodies are being read at once; try again in a second.
    pub const BUSY: &str = "busy";
}

#[derive(thiserror::Error)]
pub enum ApiError {
    #[error("no such endpoint")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A method other than POST on `/ossCallback`.
    #[error("method not allowed")]
    PostOnly,
    /// A method other than GET or DELETE on `/s3/multipart/{uploadId}`.
    #[error("method not allowed")]
    GetOrDeleteOnly,
    #[error("credential load failed")]
    Load(#[source] Arc<LoadError>),
    #[error("session policy too large")]
    PolicyTooLarge(#[from] PolicyTooLarge),
    /// No caller: authentication failed, the id is unusable, or a rate limit was hit.
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// A CORS preflight that is not allowed; the reason is for the log.
    #[error("CORS preflight refused: {0}")]
    OriginNotAllowed(&'static str),
    /// `?profile=` names no configured profile.
    #[error("unknown profile")]
    UnknownProfile,
    /// `/getToken` for a profile whose limits or callback only a server-signed form enforces.
    #[error("profile served by server-side signing only")]
    ServerSigningOnly,
    /// `/ossCallback` refused a callback; nothing was forwarded.
    #[error("callback refused: {0}")]
    CallbackRefused(crate::callback::Refusal),
    /// A verified callback's forward to the app failed (OSS tells the uploader `203`).
    #[error("callback forward failed: {0}")]
    CallbackFailed(crate::callback::ForwardFailure),
    /// A body or parameter the broker cannot read; the text is for the log only.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A multipart request refused: the caller's to fix.
    #[error("multipart refused: {0}")]
    Multipart(crate::multipart::Refusal),
    /// OSS failed, or refused the broker's own multipart call.
    #[error("OSS multipart call failed")]
    Oss(#[source] crate::oss::multipart::MultipartError),
    /// The profile has no multipart set-up.
    #[error("multipart unavailable for this profile")]
    MultipartUnavailable,
    /// A broker bug or mis-wiring; the text is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
    /// The request's `Host` is not one the broker answers (`BROKER_ALLOWED_HOSTS`); the text
    /// (the host name as compared, or what was wrong with the header) is for the log only.
    #[error("misdirected request: {0}")]
    Misdirected(String),
    /// A download URL request that broke a rule; nothing was signed.
    #[error("download refused: {0}")]
    Download(crate::download::DownloadError),
    /// The body did not arrive within the body deadline.
    #[error("request body too slow")]
    BodyTimeout,
    /// The body is over the route's limit.
    #[error("request body too large")]
    BodyTooLarge,
    /// The body could not be read.
    #[error("request body unreadable")]
    BodyUnreadable,
    /// Too many bodies are being read at once.
    #[error("too many request bodies being read")]
    Busy,
}

impl From<crate::issuer::DownloadIssueError> for ApiError {
    fn from(e: crate::issuer::DownloadIssueError) -> Self {
        match e {
            crate::issuer::DownloadIssueError::Issue(e) => e.into(),
            crate::issuer::DownloadIssueError::Refused(e) => Self::Download(e),
        }
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Load(e) => Self::Load(e),
            IssueError::PolicyTooLarge(e) => Self::PolicyTooLarge(e),
            IssueError::NewCallersLimited(crate::admission::NewCallersLimited {
                kind,
                retry_after_seconds,
            }) => Self::Denied(AccessDenied::RateLimited {
                kind,
                retry_after_seconds,
            }),
        }
    }
}

impl From<crate::issuer::FormError> for ApiError {
    fn from(e: crate::issuer::FormError) -> Self {
        match e {
            crate::issuer::FormError::Issue(e) => e.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::callback::CallbackError> for ApiError {
    fn from(e: crate::callback::CallbackError) -> Self {
        match e {
            crate::callback::CallbackError::Refused(r) => Self::CallbackRefused(r),
            crate::callback::CallbackError::Failed(f) => Self::CallbackFailed(f),
        }
    }
}

impl From<crate::multipart::Failure> for ApiError {
    fn from(e: crate::multipart::Failure) -> Self {
        match e {
            crate::multipart::Failure::Refused(r) => Self::Multipart(r),
            crate::multipart::Failure::Upstream(e) => Self::Oss(e),
            crate::multipart::Failure::CredentialExpiring => {
                Self::Oss(crate::oss::multipart::MultipartError::Malformed(
                    "the signing credential expires too soon".into(),
                ))
            }
        }
    }
}

impl From<StsError> for ApiError {
    fn from(e: StsError) -> Self {
        Self::Load(Arc::new(LoadError::Sts(e)))
    }
}

impl ApiError {
    /// OSS's refusal behind this error, if that is what it is.
    fn oss_refusal(&self) -> Option<&crate::oss::multipart::OssRefusal> {
        match self {
            Self::Multipart(crate::multipart::Refusal::Oss(r)) => Some(r),
            Self::Oss(e) => e.refusal(),
            _ => None,
        }
    }

    /// The STS failure behind this error, if that is what it is.
    fn sts(&self) -> Option<&StsError> {
        match self {
            Self::Load(e) => match &**e {
                LoadError::Sts(e) => Some(e),
                _ => None,
            },
            _ => None,
        }
    }
}

/// `Debug` prints the whole cause chain, for the log.
impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: &'a str,
    request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_request_id: Option<&'a str>,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &str) {
        match self {
            Self::NotFound => (StatusCode::NOT_FOUND, codes::NOT_FOUND, "No such endpoint."),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                "This endpoint only answers GET.",
            ),
            Self::PostOnly => (
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                "This endpoint only answers POST.",
            ),
            Self::GetOrDeleteOnly => (
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                "This endpoint only answers GET and DELETE.",
            ),
            Self::Load(e) => load_parts(e),
            // One message for every reason: a caller learns nothing about why.
            Self::Denied(AccessDenied::Unauthenticated(_)) => (
                StatusCode::UNAUTHORIZED,
                codes::UNAUTHENTICATED,
                "Authentication is required.",
            ),
            Self::Denied(AccessDenied::CallerIdRefused(_)) => (
                StatusCode::FORBIDDEN,
                codes::CALLER_ID_REFUSED,
                "The caller's id cannot be used for an upload directory.",
            ),
            Self::Denied(AccessDenied::RateLimited { .. }) => (
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                "Too many requests; try again later.",
            ),
            Self::OriginNotAllowed(_) => (
                StatusCode::FORBIDDEN,
                codes::ORIGIN_NOT_ALLOWED,
                "This origin may not call the broker.",
            ),
            Self::UnknownProfile => (
                StatusCode::BAD_REQUEST,
                codes::UNKNOWN_PROFILE,
                "No such upload profile.",
            ),
            Self::ServerSigningOnly => (
                StatusCode::FORBIDDEN,
                codes::SERVER_SIGNING_ONLY,
                "This upload profile is served by /getPostObjectParams only.",
            ),
            Self::CallbackRefused(_) => (
                StatusCode::FORBIDDEN,
                codes::CALLBACK_REFUSED,
                "The callback was refused.",
            ),
            Self::CallbackFailed(_) => (
                StatusCode::BAD_GATEWAY,
                codes::CALLBACK_FAILED,
                "The application did not accept the callback.",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::INTERNAL,
                "The broker failed to handle this request.",
            ),
            Self::PolicyTooLarge(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::INTERNAL,
                "The broker could not build a session policy for this caller.",
            ),
            Self::Misdirected(_) => (
                StatusCode::MISDIRECTED_REQUEST,
                codes::MISDIRECTED_REQUEST,
                "This broker does not answer for that host name.",
            ),
            Self::Download(e) => download_parts(e),
            Self::BodyTimeout | Self::BodyTooLarge | Self::Busy | Self::BodyUnreadable => {
                self.body_parts()
            }
            Self::InvalidRequest(_)
            | Self::Multipart(_)
            | Self::Oss(_)
            | Self::MultipartUnavailable => self.upload_parts(),
        }
    }

    /// Status, code and message of the answers given while reading a request body.
    fn body_parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                codes::REQUEST_TIMEOUT,
                "The request body did not arrive in time.",
            ),
            Self::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::TOO_LARGE,
                "The request body is too large.",
            ),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                codes::BUSY,
                "The broker is busy; try again in a second.",
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                "The request body could not be read.",
            ),
        }
    }

    /// Status, code and message of the `/s3/…` routes' own errors.
    fn upload_parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Multipart(r) => multipart_parts(r),
            Self::Oss(e) => oss_parts(e),
            Self::MultipartUnavailable => (
                StatusCode::FORBIDDEN,
                codes::MULTIPART_UNAVAILABLE,
                "This upload profile has no multipart uploads.",
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                "The request's parameters or body cannot be read.",
            ),
        }
    }

    /// Answers given without reading the whole request body.
    fn body_left_unread(&self) -> bool {
        matches!(
            self,
            Self::BodyTimeout | Self::BodyTooLarge | Self::BodyUnreadable | Self::Busy
        )
    }

    /// Seconds a client should wait before retrying, for 503 and 429 answers.
    fn retry_after(&self) -> Option<u32> {
        match self {
            Self::Denied(AccessDenied::RateLimited {
                retry_after_seconds,
                ..
            }) => Some(*retry_after_seconds),
            Self::Load(e) if matches!(**e, LoadError::Identity(_) | LoadError::PeerFailed) => {
                Some(5)
            }
            Self::Download(crate::download::DownloadError::CredentialExpired) => Some(1),
            Self::Busy => Some(1),
            Self::Oss(_) if self.parts().0 == StatusCode::SERVICE_UNAVAILABLE => Some(5),
            _ => match self.sts() {
                Some(e) if e.is_throttling() => Some(2),
                Some(StsError::CallBudgetSpent) => Some(1),
                Some(e) if e.retryable() => Some(5),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, message) = self.parts();
        let (upstream_code, upstream_request_id) = match (self.sts(), self.oss_refusal()) {
            (Some(e), _) => (e.upstream_code(), e.upstream_request_id()),
            (None, Some(r)) => (Some(r.code.as_str()), Some(r.request_id.as_str())),
            (None, None) => (None, None),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if matches!(self, Self::Denied(AccessDenied::Unauthenticated(_))) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if matches!(self, Self::MethodNotAllowed) {
            response.insert_header((header::ALLOW, "GET"));
        }
        if matches!(self, Self::PostOnly) {
            response.insert_header((header::ALLOW, "POST"));
        }
        if self.body_left_unread() {
            // The rest of the body is never read: the connection ends with this answer.
            response.force_close();
        }
        if matches!(self, Self::GetOrDeleteOnly) {
            response.insert_header((header::ALLOW, "GET, DELETE"));
        }
        response.json(ErrorBody {
            code,
            message,
            request_id: answered_request_id(),
            upstream_code,
            upstream_request_id,
        })
    }
}
