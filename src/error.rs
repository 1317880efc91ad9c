//! The one error type at the HTTP boundary and its one status mapping. Bodies carry a stable
//! kebab-case `code`, a fixed message and the request id; causes go to the log (via the request
//! logger), never into a body.

use std::fmt;
use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::policy::PolicyTooLarge;
use crate::sts::client::StsError;

tokio::task_local! {
    /// The id of the request being served; set by the request middleware. (`Rc`: a request is
    /// served on one worker thread, and sharing the id costs no allocation.)
    pub static REQUEST_ID: std::rc::Rc<str>;
}

/// The current request's id, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.to_string())
        .unwrap_or_else(|_| "-".to_owned())
}

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
}

#[derive(thiserror::Error)]
pub enum ApiError {
    #[error("no such endpoint")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("STS call failed")]
    Sts(#[source] Arc<StsError>),
    #[error("session policy too large")]
    PolicyTooLarge(#[from] PolicyTooLarge),
    /// Authentication failed; the reason is for the log only and never holds the credential.
    #[error("unauthenticated: {0}")]
    Unauthenticated(crate::auth::AuthFailure),
    /// The authenticated caller's id is not usable (wildcards, paths, length...).
    #[error("caller id refused: {0}")]
    CallerIdRefused(&'static str),
    /// A rate limit was hit; `scope` says which one, for the log.
    #[error("rate limited ({scope}); retry after {retry_after_seconds} s")]
    RateLimited {
        scope: &'static str,
        retry_after_seconds: u32,
    },
    /// A CORS preflight that is not allowed; the reason is for the log.
    #[error("CORS preflight refused: {0}")]
    OriginNotAllowed(&'static str),
    /// A broker bug or mis-wiring; the text is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StsError> for ApiError {
    fn from(e: StsError) -> Self {
        Self::Sts(Arc::new(e))
    }
}

impl From<Arc<StsError>> for ApiError {
    fn from(e: Arc<StsError>) -> Self {
        Self::Sts(e)
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
            Self::Sts(e) if matches!(**e, StsError::NoIdentity(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UPSTREAM_UNAVAILABLE,
                "The broker's own credentials are unavailable; try again later.",
            ),
            Self::Sts(e) if e.retryable() => (
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UPSTREAM_UNAVAILABLE,
                "STS is unavailable or throttling; try again later.",
            ),
            Self::Sts(e) if matches!(**e, StsError::Malformed { .. }) => (
                StatusCode::BAD_GATEWAY,
                codes::UPSTREAM_MALFORMED,
                "STS sent an answer the broker could not read.",
            ),
            Self::Sts(_) => (
                StatusCode::BAD_GATEWAY,
                codes::UPSTREAM_REJECTED,
                "STS refused the broker's request.",
            ),
            // One message for every reason: a caller learns nothing about why.
            Self::Unauthenticated(_) => (
                StatusCode::UNAUTHORIZED,
                codes::UNAUTHENTICATED,
                "Authentication is required.",
            ),
            Self::CallerIdRefused(_) => (
                StatusCode::FORBIDDEN,
                codes::CALLER_ID_REFUSED,
                "The caller's id cannot be used for an upload directory.",
            ),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                "Too many requests; try again later.",
            ),
            Self::OriginNotAllowed(_) => (
                StatusCode::FORBIDDEN,
                codes::ORIGIN_NOT_ALLOWED,
                "This origin may not call the broker.",
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
        }
    }

    /// Seconds a client should wait before retrying, for 503 and 429 answers.
    fn retry_after(&self) -> Option<u32> {
        match self {
            Self::RateLimited {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            Self::Sts(e) if e.is_throttling() => Some(2),
            Self::Sts(e) if matches!(**e, StsError::CallBudgetSpent) => Some(1),
            Self::Sts(e) if e.retryable() => Some(5),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, message) = self.parts();
        let (upstream_code, upstream_request_id) = match self {
            Self::Sts(e) => (e.upstream_code(), e.upstream_request_id()),
            _ => (None, None),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if matches!(self, Self::Unauthenticated(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if matches!(self, Self::MethodNotAllowed) {
            response.insert_header((header::ALLOW, "GET"));
        }
        response.json(ErrorBody {
            code,
            message,
            request_id: current_request_id(),
            upstream_code,
            upstream_request_id,
        })
    }
}
