//! The broker's own identity for signing STS calls. Callers ask [`Identity::current`] for the
//! key to sign with right now; where it comes from (and how it is refreshed) is decided here only.

use crate::sts::types::AccessKey;

/// Why no key could be had.
#[derive(Debug, thiserror::Error)]
#[error("the broker's own identity is unavailable: {0}")]
pub struct IdentityError(pub String);

/// A source of the broker's own credentials.
#[derive(Debug, Clone)]
pub enum Identity {
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` (+ `_SECURITY_TOKEN`), used as given.
    Static(AccessKey),
}

impl Identity {
    /// The key to sign with now.
    pub async fn current(&self) -> Result<AccessKey, IdentityError> {
        match self {
            Self::Static(key) => Ok(key.clone()),
        }
    }

    /// A short, secret-free description for logs ("static access key LTAI…").
    pub fn describe(&self) -> String {
        match self {
            Self::Static(key) => format!(
                "static access key {}{}",
                key.id,
                if key.security_token.is_some() {
                    " with security token"
                } else {
                    ""
                }
            ),
        }
    }
}
