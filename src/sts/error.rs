//! Why an STS call failed, typed: STS's own refusals, transport failures, malformed answers and
//! the broker's own budgets, with the one classification (`retryable`, throttling) that the
//! retries, the cache, readiness and the HTTP error mapping all share (protocol.md §1.7).

/// Upstream messages are kept short in errors and logs.
const MAX_MESSAGE_CHARS: usize = 300;

/// Why an STS call did not produce credentials.
#[derive(Debug, thiserror::Error)]
pub enum StsError {
    /// STS answered with an error document.
    #[error("STS answered HTTP {status} {code} (request id {request_id:?}): {message}")]
    Rejected {
        status: u16,
        code: String,
        /// Sanitised: never contains the echoed string-to-sign.
        message: String,
        request_id: Option<String>,
    },
    /// No complete answer arrived: connection refused or dropped, or a timeout.
    #[error("STS could not be reached ({kind})")]
    Transport {
        kind: TransportKind,
        #[source]
        source: reqwest::Error,
    },
    /// Something answered, but not with a well-formed STS document.
    #[error("STS answered HTTP {status} with a malformed body: {reason}")]
    Malformed { status: u16, reason: String },
    /// The process-wide budget of STS calls per second is spent; nothing was sent.
    #[error("the STS call budget (BROKER_STS_MAX_QPS) is spent")]
    CallBudgetSpent,
    /// The total retry time budget ran out.
    #[error("STS did not answer within the retry budget")]
    RetryBudgetSpent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Timeout,
    Connect,
    Other,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timed out",
            Self::Connect => "connection failed",
            Self::Other => "connection broken",
        })
    }
}

impl StsError {
    /// Whether the same request, freshly signed, may succeed later: throttling, server-side
    /// failures and transport problems (protocol.md §1.7 retry guidance).
    pub fn retryable(&self) -> bool {
        match self {
            Self::Rejected { status, code, .. } => *status >= 500 || is_throttling(code),
            Self::Transport { .. } => true,
            Self::Malformed { status, .. } => *status >= 500,
            Self::CallBudgetSpent | Self::RetryBudgetSpent => true,
        }
    }

    pub fn is_throttling(&self) -> bool {
        matches!(self, Self::Rejected { code, .. } if is_throttling(code))
    }

    pub fn upstream_code(&self) -> Option<&str> {
        match self {
            Self::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn upstream_request_id(&self) -> Option<&str> {
        match self {
            Self::Rejected { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }
}

impl crate::backoff::Retryable for StsError {
    fn retryable(&self) -> bool {
        StsError::retryable(self)
    }

    /// Only STS's own refusals (`NoPermission`, `EntityNotExist.Role`, `InvalidParameter.*`,
    /// ...) are remembered; a garbled answer may be a one-off.
    fn remember(&self) -> bool {
        matches!(self, Self::Rejected { .. }) && !self.retryable()
    }
}

/// DARA treats these codes as throttling for any status (protocol.md §1.7). The one rule:
/// the retries, the HTTP mapping and readiness all classify through it.
pub fn is_throttling(code: &str) -> bool {
    code == "Throttling" || code.starts_with("Throttling.") || code == "ServiceUnavailable"
}

pub(crate) fn transport(source: reqwest::Error) -> StsError {
    let kind = if source.is_timeout() {
        TransportKind::Timeout
    } else if source.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    };
    StsError::Transport { kind, source }
}

/// Reads an error document, tolerating the lower-case keys some gateways use (protocol.md §1.6).
pub(crate) fn parse_error(status: u16, body: &[u8]) -> StsError {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return StsError::Malformed {
            status,
            reason: "error answer is not a JSON object".into(),
        };
    };
    let field = |name: &str| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
            .map(str::to_owned)
    };
    let Some(code) = field("Code").filter(|c| !c.is_empty()) else {
        return StsError::Malformed {
            status,
            reason: "error answer has no Code".into(),
        };
    };
    StsError::Rejected {
        status,
        code,
        message: sanitize_message(&field("Message").unwrap_or_default()),
        request_id: field("RequestId"),
    }
}

/// `SignatureDoesNotMatch` echoes the whole string-to-sign, which holds the session policy and
/// any security token (protocol.md §1.6); everything from that point on is dropped.
fn sanitize_message(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    let cut = lower.find("string to sign").map_or(message, |at| {
        // `find` on the ASCII-lowercased copy gives a valid byte index into the original.
        let head = message[..at].trim_end();
        head.strip_suffix("server").unwrap_or(head).trim_end()
    });
    let mut cleaned: String = cut
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if cleaned.len() < cut.len() && !lower.contains("string to sign") {
        cleaned.push('…');
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents_are_read_case_tolerantly() {
        let err = parse_error(
            400,
            br#"{"requestId":"R-1","code":"Throttling.User","message":"Request was denied due to user flow control."}"#,
        );
        assert_eq!(err.upstream_code(), Some("Throttling.User"));
        assert_eq!(err.upstream_request_id(), Some("R-1"));
        assert!(err.retryable() && err.is_throttling());
    }

    #[test]
    fn classification() {
        let rejected = |status, code: &str| StsError::Rejected {
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
        };
        assert!(!rejected(400, "SignatureDoesNotMatch").retryable());
        assert!(!rejected(403, "NoPermission").retryable());
        assert!(!rejected(404, "EntityNotExist.Role").retryable());
        assert!(rejected(500, "InternalError").retryable());
        assert!(rejected(503, "ServiceUnavailable").retryable());
        assert!(rejected(400, "Throttling").retryable());
        assert!(parse_error(502, b"<html>bad gateway</html>").retryable());
        assert!(!parse_error(200, b"<html>").retryable());
        assert!(matches!(
            parse_error(400, br#"{"Message":"no code"}"#),
            StsError::Malformed { .. }
        ));
    }

    #[test]
    fn echoed_string_to_sign_is_dropped() {
        let err = parse_error(
            400,
            br#"{"RequestId":"R","Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3Dx%26SecurityToken%3DCAISsecret"}"#,
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("CAISsecret"), "{shown}");
        assert!(!shown.contains("POST&"), "{shown}");
        assert!(shown.contains("Specified signature is not matched with our calculation."));
    }
}
