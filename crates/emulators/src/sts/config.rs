//! What the STS emulator is configured with and hands out: the account's roles and long-term
//! keys ([`StsEmulatorConfig`], [`EmulatedRole`]), the faults a test can inject ([`Fault`]) and
//! the temporary credentials it issues ([`IssuedCredential`]). Plain data: it checks nothing and
//! its `Debug` output must never show a secret or a token.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use broker_clock::{Clock, SystemClock};

/// A RAM role in the emulator's own account.
#[derive(Debug, Clone)]
pub struct EmulatedRole {
    pub name: String,
    pub max_session_duration: u32,
}

/// What the emulator knows: its account, long-term RAM-user keys, roles and clock.
#[derive(Clone)]
pub struct StsEmulatorConfig {
    pub account_id: String,
    pub access_keys: Vec<(String, String)>,
    pub roles: Vec<EmulatedRole>,
    pub clock: Arc<dyn Clock>,
}

impl StsEmulatorConfig {
    /// The configuration `sts-broker demo` runs against.
    pub fn demo() -> Self {
        let role = |name: &str, max_session_duration| EmulatedRole {
            name: name.into(),
            max_session_duration,
        };
        Self {
            account_id: "1234567890123456".into(),
            access_keys: vec![(
                "LTAI5tDemoBrokerKey00001".into(),
                "EmuDemoSecretDoNotUseInProd001".into(),
            )],
            roles: vec![role("demo-uploader", 43200), role("short-role", 3600)],
            clock: Arc::new(SystemClock),
        }
    }
}

/// A failure injected into the emulator's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    InternalError,
    ServiceUnavailable,
    Delay(StdDuration),
    Garbage,
    DropConnection,
    /// An error document with this code (from the table above), e.g.
    /// `InvalidSecurityToken.Expired`.
    Reject(&'static str),
}

/// A temporary credential the emulator handed out.
#[derive(Clone)]
pub struct IssuedCredential {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expiration: DateTime<Utc>,
    pub role_arn: String,
    pub role_session_name: String,
    pub policy: Option<Value>,
    pub duration_seconds: u32,
}

impl std::fmt::Debug for IssuedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCredential")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("security_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .field("role_arn", &self.role_arn)
            .field("role_session_name", &self.role_session_name)
            .field("policy", &self.policy)
            .field("duration_seconds", &self.duration_seconds)
            .finish()
    }
}
