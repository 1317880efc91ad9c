//! Credential values every boundary shares: the broker's own access key, the temporary
//! credentials STS issues (OSS signs with them, the fleet stores them, the routes hand them
//! out) and the role ARN. Secrets live in `secrecy` types and every `Debug` here redacts them.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

/// The identity the broker signs its own STS calls with.
#[derive(Clone)]
pub struct AccessKey {
    pub id: String,
    pub secret: SecretString,
    /// Present when the broker's own identity is itself temporary (protocol.md §1.3 `SecurityToken`).
    pub security_token: Option<SecretString>,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Credentials returned by `AssumeRole`.
#[derive(Clone)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub access_key_secret: SecretString,
    pub security_token: SecretString,
    pub expiration: DateTime<Utc>,
}

impl TemporaryCredentials {
    /// `Expiration` as Alibaba writes it: second precision with a literal `Z`.
    pub fn expiration_string(&self) -> String {
        crate::timefmt::format_timestamp(self.expiration)
    }

    pub fn secret(&self) -> &str {
        self.access_key_secret.expose_secret()
    }

    pub fn token(&self) -> &str {
        self.security_token.expose_secret()
    }
}

impl fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"[redacted]")
            .field("security_token", &"[redacted]")
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// A RAM role ARN, `acs:ram::<account id>:role/<role name>` (protocol.md §1.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleArn(String);

impl RoleArn {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rest = raw
            .strip_prefix("acs:ram::")
            .ok_or("must start with `acs:ram::`")?;
        let (account, name) = rest
            .split_once(":role/")
            .ok_or("must look like `acs:ram::<account id>:role/<role name>`")?;
        if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the account id must be digits".into());
        }
        // RAM role names: 1-64 characters of letters, digits, `.` and `-`.
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err("the role name must be 1-64 letters, digits, `.` or `-`".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn debug_never_shows_secrets() {
        let creds = TemporaryCredentials {
            access_key_id: "STS.id".into(),
            access_key_secret: SecretString::from("s3cr3t-value"),
            security_token: SecretString::from("CAIStoken-value"),
            expiration: Utc::now(),
        };
        let key = AccessKey {
            id: "LTAIid".into(),
            secret: SecretString::from("long-term-secret"),
            security_token: Some(SecretString::from("CAISbroker-token")),
        };
        let printed = format!("{creds:?} {creds:#?} {key:?} {key:#?}");
        for secret in [
            "s3cr3t-value",
            "CAIStoken-value",
            "long-term-secret",
            "CAISbroker-token",
        ] {
            assert!(!printed.contains(secret), "{secret} leaked in {printed}");
        }
        assert!(printed.contains("STS.id") && printed.contains("LTAIid"));
    }

    #[test]
    fn role_arn_shapes() {
        assert!(RoleArn::parse("acs:ram::1234567890123456:role/upload-role").is_ok());
        for bad in [
            "",
            "acs:ram::abc:role/x",
            "acs:ram::123:user/x",
            "acs:ram::123:role/",
            "acs:ram::123:role/a b",
            "arn:aws:iam::123:role/x",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
    }
}
