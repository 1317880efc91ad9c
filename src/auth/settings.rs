//! The access layer's settings: the authentication mode and its details, CORS origins and rate
//! limits, as validated values (`config::access` reads them). `Debug` never shows a secret.

use std::fmt;
use std::time::Duration;

use actix_web::http::header::HeaderName;
use ipnet::IpNet;
use secrecy::SecretString;

use crate::auth::api_key::ApiKeys;
use crate::client_address::Forwarding;

pub use crate::secret_strength::{
    weak_secret as weak_hs256_secret, MIN_SECRET_BYTES as MIN_HS256_SECRET_BYTES,
};

/// How callers are authenticated (`BROKER_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every caller is `anonymous`.
    None,
    /// `Authorization: Bearer <JWT>`; the caller is a claim (`sub`).
    Jwt,
    /// A configured API key (bearer or `X-Api-Key`) names the caller.
    ApiKey,
    /// A trusted sidecar/proxy names the caller in a header.
    Header,
}

impl AuthMode {
    /// The `BROKER_AUTH` spelling, also used in audit lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Jwt => "jwt",
            Self::ApiKey => "api-key",
            Self::Header => "header",
        }
    }
}

/// Everything that decides who may get a credential and how often.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    pub mode: AuthMode,
    pub jwt: Option<JwtSettings>,
    pub api_keys: Option<ApiKeys>,
    pub header: Option<HeaderSettings>,
    /// `BROKER_ALLOW_ANONYMOUS`: `none` on a non-loopback address.
    pub allow_anonymous: bool,
    /// `BROKER_CORS_ORIGINS`, each serialised as `scheme://host[:port]`.
    pub cors_origins: Vec<String>,
    /// `BROKER_FORWARDED_HEADER` and `BROKER_FORWARDING_PROXIES`: the client's address behind
    /// a load balancer (not to be confused with `header` mode's `BROKER_TRUSTED_PROXIES`,
    /// which vouch for the caller's id).
    pub forwarding: Forwarding,
    pub rate_limit: RateLimitSettings,
}

/// `BROKER_AUTH=jwt`.
#[derive(Clone)]
pub struct JwtSettings {
    pub hs256_secret: Option<SecretString>,
    pub jwks_url: Option<reqwest::Url>,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub subject_claim: String,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// `BROKER_JWT_MAX_LIFETIME_SECONDS`: tokens meant to live longer than this (`exp - iat`,
    /// or `exp - now` without `iat`) are refused; `None`: no limit.
    pub max_lifetime: Option<Duration>,
    /// The key set is refetched when older than this (on next use).
    pub jwks_max_age: Duration,
    /// At most one fetch per this interval, whatever unknown `kid`s callers present.
    pub jwks_min_refetch_interval: Duration,
}

impl fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSettings")
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("jwks_url", &self.jwks_url.as_ref().map(|u| u.as_str()))
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("subject_claim", &self.subject_claim)
            .field("leeway", &self.leeway)
            .field("max_lifetime", &self.max_lifetime)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("jwks_min_refetch_interval", &self.jwks_min_refetch_interval)
            .finish()
    }
}

/// `BROKER_AUTH=header`.
#[derive(Debug, Clone)]
pub struct HeaderSettings {
    pub header: HeaderName,
    pub trusted_proxies: Vec<IpNet>,
}

/// Per-caller and per-address limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub per_minute: u32,
    pub burst: u32,
    /// Failed authentications allowed per address and minute (also the burst); 0 turns it off.
    /// Past it, failing requests from that address get `429`; valid credentials still pass.
    pub auth_failures_per_minute: u32,
}
