//! The access layer's settings: the authentication mode and its details, CORS origins and rate
//! limits, as validated values (`config::access` reads them). `Debug` never shows a secret.

use std::fmt;
use std::time::Duration;

use actix_web::http::header::HeaderName;
use ipnet::IpNet;
use secrecy::SecretString;

use crate::auth::api_key::ApiKeys;
use crate::client_address::Forwarding;

/// HS256 secrets shorter than this are refused (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;
/// HS256 secrets with fewer different bytes than this are refused (`aaaa…`, `abab…`).
pub const MIN_HS256_DISTINCT_BYTES: usize = 8;

/// The length of the shortest `p` with `s[i] == s[i + p]` throughout (`s.len()` when none is
/// shorter): the Knuth-Morris-Pratt failure function of the whole string.
fn shortest_period(s: &[u8]) -> usize {
    let mut fail = vec![0usize; s.len()];
    for i in 1..s.len() {
        let mut k = fail[i - 1];
        while k > 0 && s[i] != s[k] {
            k = fail[k - 1];
        }
        if s[i] == s[k] {
            k += 1;
        }
        fail[i] = k;
    }
    s.len() - fail.last().copied().unwrap_or(0)
}

/// Why `secret` is too weak to be an HS256 secret, if it is. The answer is fixed text that
/// never contains the secret or anything computed from it.
///
/// Besides the length, it refuses secrets with little variety: fewer than
/// [`MIN_HS256_DISTINCT_BYTES`] different bytes, or made mostly of one short part repeated
/// (`changemechangeme…`): one part at least twice over and nothing else, or fewer different
/// 4-byte windows than half the number of windows. A random secret of 32 bytes or more, even of
/// decimal digits only, passes all of these by a wide margin.
pub fn weak_hs256_secret(secret: &[u8]) -> Option<&'static str> {
    if secret.len() < MIN_HS256_SECRET_BYTES {
        return Some("must be at least 32 bytes");
    }
    let distinct = secret
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct < MIN_HS256_DISTINCT_BYTES {
        return Some(
            "has too little variety to be a secret (fewer than 8 different characters); \
             generate one, e.g. with `openssl rand -base64 32`",
        );
    }
    let windows = secret.len() - 3;
    let distinct_windows = secret
        .windows(4)
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct_windows * 2 < windows || shortest_period(secret) * 2 <= secret.len() {
        return Some(
            "has too little variety to be a secret (a short part repeated); generate one, \
             e.g. with `openssl rand -base64 32`",
        );
    }
    None
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(shortest_period(b"abcabcab"), 3);
        assert_eq!(shortest_period(b"aaaa"), 1);
        assert_eq!(shortest_period(b"abcd"), 4);
        assert_eq!(shortest_period(b"abab"), 2);
        assert_eq!(shortest_period(b"aab"), 3);
    }

    #[test]
    fn hs256_secrets_need_length_and_variety() {
        for weak in [
            "short".to_owned(),
            "a".repeat(32),
            "ab".repeat(16),
            "changeme".repeat(4),
            "changeme".repeat(5) + "!",
            "0123456789abcdef".repeat(2),
            "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbcccccccccc".to_owned(),
            "passwordpasswordpasswordpassword2024".to_owned(),
        ] {
            assert!(weak_hs256_secret(weak.as_bytes()).is_some(), "{weak}");
        }
        for fine in [
            // `openssl rand -base64 32`, `openssl rand -hex 32`, and 32 random decimal digits.
            "q2mJc1Jk8bVd0yCkO7PpZyH3wR6tL9sXf4nE5aU1gIo=",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "80521947361029384756601928374650",
            "test-only-hs256-secret-0123456789abcdef",
        ] {
            assert_eq!(weak_hs256_secret(fine.as_bytes()), None, "{fine}");
        }
        // The message never carries the secret.
        let secret = "changeme".repeat(4);
        assert!(!weak_hs256_secret(secret.as_bytes())
            .unwrap()
            .contains("changeme"));
    }
}
