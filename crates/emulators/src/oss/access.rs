//! Who signed an OSS request and what that key may do: RAM-user keys as they are, `STS.` keys
//! only with their matching security token and before their expiry (protocol.md §5.8), and the STS
//! session policy evaluated for the action on this bucket's resource ARN. It never widens what a
//! session policy allows and never logs a token or secret.

use serde_json::Value;

use crate::common::{ct_eq, policy_allows};

use super::errors::{err, unknown_access_key, OssError};
use super::Inner;

/// Whose key signed, with what it may do.
pub(super) struct Signer {
    pub(super) access_key_id: String,
    pub(super) secret: String,
    /// The session policy of an STS credential; `None` for RAM users and unscoped roles.
    pub(super) policy: Option<Value>,
}

/// Resolves a key as OSS does: RAM user keys as they are; `STS.` keys only with their token and
/// before their expiry.
pub(super) fn resolve_key(
    inner: &Inner,
    ak: &str,
    token: Option<&str>,
) -> Result<Signer, OssError> {
    if let Some(secret) = inner.keys.long_term_secret(ak) {
        return Ok(Signer {
            access_key_id: ak.to_owned(),
            secret,
            policy: None,
        });
    }
    let Some(issued) = inner.keys.issued(ak) else {
        return Err(unknown_access_key());
    };
    let Some(token) = token else {
        // protocol.md §5.8: an STS key without its token is reported as an invalid key id.
        return Err(unknown_access_key());
    };
    if !ct_eq(token.as_bytes(), issued.security_token.as_bytes()) {
        return Err(err(
            403,
            "InvalidSecurityToken",
            "The security token you provided is invalid.",
        ));
    }
    if inner.clock.now() >= issued.expiration {
        return Err(err(
            403,
            "SecurityTokenExpired",
            "The security token you provided has expired.",
        ));
    }
    Ok(Signer {
        access_key_id: ak.to_owned(),
        secret: issued.access_key_secret,
        policy: issued.policy,
    })
}

/// Session policy evaluation: an explicit Deny wins, otherwise some Allow must match; no policy
/// permits everything the key's owner may do.
pub(super) fn permitted(policy: Option<&Value>, action: &str, resource: &str) -> bool {
    policy.is_none_or(|policy| policy_allows(policy, action, Some(resource)))
}

/// The ARN of this bucket, or of `key` in it.
pub(super) fn resource(inner: &Inner, key: Option<&str>) -> String {
    let base = format!(
        "acs:oss:{}:{}:{}",
        inner.region,
        inner.keys.account_id(),
        inner.bucket
    );
    match key {
        Some(k) => format!("{base}/{k}"),
        None => base,
    }
}
