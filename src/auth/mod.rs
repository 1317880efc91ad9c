//! Who the caller is, and whether it may ask now (rate limits): `Access::caller` takes the
//! request's headers and peer address and answers with a `Caller` or a typed `AccessDenied`.
//! The web layer (`state`) turns that into an extractor; nothing here knows the app state or
//! the HTTP error type, and nothing logs or returns a presented credential.

pub mod api_key;
pub mod jwks;
pub mod jwt;
pub mod settings;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use std::net::SocketAddr;

use actix_web::http::header::{HeaderMap, HeaderName, AUTHORIZATION};
use sha2::{Digest as _, Sha256};

use crate::client_address::{limit_key, Forwarding};
use crate::clock::Clock;
use crate::policy::CallerId;
pub use crate::ratelimit::RateLimitKind;
use crate::ratelimit::{retry_after_seconds, KeyedLimiter, DEFAULT_MAX_KEYS};

use self::api_key::ApiKeys;
use self::jwt::{JwtFailure, JwtVerifier};
pub use self::settings::AuthMode;
use self::settings::{AccessSettings, HeaderSettings};

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Why a request gets no caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    /// The reason is for the log only and never holds the credential.
    #[error("unauthenticated: {0}")]
    Unauthenticated(AuthFailure),
    /// The authenticated caller's id is not usable (wildcards, paths, length...).
    #[error("caller id refused: {0}")]
    CallerIdRefused(&'static str),
    #[error("rate limited ({}); retry after {retry_after_seconds} s", kind.describe())]
    RateLimited {
        kind: RateLimitKind,
        retry_after_seconds: u32,
    },
}

/// Why authentication failed. Each reason is fixed text (plus no caller data), for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingCredentials,
    /// Not `Bearer <credential>`, not ASCII, or too long.
    MalformedAuthorization,
    /// Both `Authorization` and `X-Api-Key`, or the trusted header more than once.
    AmbiguousCredentials,
    Jwt(JwtFailure),
    UnknownApiKey,
    /// `BROKER_AUTH=header` and the peer is not in `BROKER_TRUSTED_PROXIES`.
    UntrustedPeer,
    MissingTrustedHeader,
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingCredentials => f.write_str("no credentials presented"),
            Self::MalformedAuthorization => f.write_str("Authorization is not `Bearer <token>`"),
            Self::AmbiguousCredentials => f.write_str("credentials presented more than once"),
            Self::Jwt(reason) => reason.fmt(f),
            Self::UnknownApiKey => f.write_str("API key is not configured"),
            Self::UntrustedPeer => {
                f.write_str("trusted header from a peer not in BROKER_TRUSTED_PROXIES")
            }
            Self::MissingTrustedHeader => f.write_str("trusted header missing"),
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: CallerId,
    /// How it was authenticated (for audit lines).
    pub mode: AuthMode,
    /// The client's address, when the broker can tell it: `None` behind the trusted proxy of
    /// `header` mode, where every request comes from the proxy.
    pub address: Option<IpAddr>,
}

/// How callers are recognised, as configured.
#[derive(Debug)]
enum Authenticator {
    Anonymous,
    Jwt(Box<JwtVerifier>),
    ApiKey(ApiKeys),
    Header(HeaderSettings),
}

/// Authentication plus the two rate limits, shared by all workers.
#[derive(Debug)]
pub struct Access {
    mode: AuthMode,
    authenticator: Authenticator,
    per_caller: KeyedLimiter,
    /// `None` when `BROKER_AUTH_FAILURE_LIMIT_PER_MINUTE=0` or nothing can fail (`none`).
    failures: Option<KeyedLimiter>,
    forwarding: Forwarding,
    clock: Arc<dyn Clock>,
}

impl Access {
    /// `listen` is only named in the warning `none` gives.
    pub fn new(
        access: &AccessSettings,
        listen: SocketAddr,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let missing = |what: &str| format!("BROKER_AUTH={} without {what}", access.mode.as_str());
        let authenticator = match access.mode {
            AuthMode::None => {
                tracing::warn!(
                    listen = %listen,
                    "BROKER_AUTH=none: every caller is `anonymous` and shares one upload directory; \
                     use it only for demos and loopback sidecars"
                );
                Authenticator::Anonymous
            }
            AuthMode::Jwt => Authenticator::Jwt(Box::new(JwtVerifier::new(
                access.jwt.as_ref().ok_or_else(|| missing("JWT settings"))?,
                clock.clone(),
            )?)),
            AuthMode::ApiKey => {
                Authenticator::ApiKey(access.api_keys.clone().ok_or_else(|| missing("API keys"))?)
            }
            AuthMode::Header => Authenticator::Header(
                access
                    .header
                    .clone()
                    .ok_or_else(|| missing("header settings"))?,
            ),
        };
        let limits = access.rate_limit;
        // Under `none` nothing can fail; under `header` every request comes from the trusted
        // proxy, so a per-address limit would let one client lock out everyone behind it.
        let failures = (limits.auth_failures_per_minute > 0
            && !matches!(access.mode, AuthMode::None | AuthMode::Header))
        .then(|| {
            KeyedLimiter::new(
                limits.auth_failures_per_minute,
                limits.auth_failures_per_minute,
                DEFAULT_MAX_KEYS,
            )
        });
        Ok(Self {
            mode: access.mode,
            authenticator,
            per_caller: KeyedLimiter::new(limits.per_minute, limits.burst, DEFAULT_MAX_KEYS),
            failures,
            forwarding: access.forwarding.clone(),
            clock,
        })
    }

    /// The client's address of a request from `peer` with `headers`: the peer itself, or
    /// behind trusted proxies what `BROKER_FORWARDED_HEADER` says (`client_address`).
    pub fn client_address(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        self.forwarding
            .client_address(peer.map(|a| a.ip()), headers)
    }

    /// Authenticates a request from `peer` (the TCP peer) with `headers` and counts it against
    /// the caller's rate limit; `client` is [`Access::client_address`], which every
    /// per-address limit counts (per /64 for IPv6).
    pub async fn caller(
        &self,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        client: Option<IpAddr>,
    ) -> Result<Caller, AccessDenied> {
        let peer = peer.map(|a| a.ip().to_canonical());
        // `None` (no peer address) is one key of its own.
        let address_key = client.map(limit_key);
        let now = self.clock.now();
        // The credential is checked first, and only a failure meets the failure limit: a valid
        // credential passes even from an address that is over it, so one client sending bad
        // tokens cannot lock out everyone behind the same NAT, CGNAT or gateway. Past the limit,
        // a failure is answered `429` with `Retry-After` instead of `401`.
        let raw_id = match self.authenticate(headers, peer).await {
            Ok(raw) => raw,
            Err(failure) => {
                if let Some(failures) = &self.failures {
                    if let Err(wait) = failures.check(&address_key, now) {
                        return Err(AccessDenied::RateLimited {
                            kind: RateLimitKind::AuthFailures,
                            retry_after_seconds: retry_after_seconds(wait),
                        });
                    }
                }
                return Err(AccessDenied::Unauthenticated(failure));
            }
        };
        let id = CallerId::parse(&raw_id).map_err(|reason| {
            // The refused id is hostile input: log only its size and a digest prefix.
            let digest = Sha256::digest(raw_id.as_bytes());
            tracing::warn!(
                auth_mode = self.mode.as_str(),
                caller_id_len = raw_id.len(),
                caller_id_sha256_prefix = %hex::encode(&digest[..8]),
                reason,
                "authenticated caller id refused"
            );
            AccessDenied::CallerIdRefused(reason)
        })?;
        // Under `none` everyone is `anonymous`; limit per address instead of one shared budget.
        // The mode is fixed per process, so the two kinds of key never share a limiter.
        let limited = match self.mode {
            AuthMode::None => self.per_caller.check(&address_key, now),
            _ => self.per_caller.check(id.as_str(), now),
        };
        if let Err(wait) = limited {
            return Err(AccessDenied::RateLimited {
                kind: RateLimitKind::Caller,
                retry_after_seconds: retry_after_seconds(wait),
            });
        }
        Ok(Caller {
            id,
            mode: self.mode,
            // Behind `header` mode's proxy without a forwarded header, the peer is the proxy.
            address: client.filter(|_| self.mode != AuthMode::Header || self.forwarding.enabled()),
        })
    }

    /// The caller's raw id; validated by the caller of this function.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<String, AuthFailure> {
        match &self.authenticator {
            Authenticator::Anonymous => Ok(CallerId::anonymous().as_str().to_owned()),
            Authenticator::Jwt(verifier) => {
                let token = bearer(headers)?.ok_or(AuthFailure::MissingCredentials)?;
                verifier.verify(token).await
            }
            Authenticator::ApiKey(keys) => {
                let from_bearer = bearer(headers)?;
                let from_header = single(headers, &X_API_KEY)?
                    .map(|v| v.to_str().map_err(|_| AuthFailure::MalformedAuthorization))
                    .transpose()?;
                let key = match (from_bearer, from_header) {
                    (Some(_), Some(_)) => return Err(AuthFailure::AmbiguousCredentials),
                    (Some(k), None) | (None, Some(k)) => k,
                    (None, None) => return Err(AuthFailure::MissingCredentials),
                };
                keys.caller_for(key.trim())
                    .map(|id| id.as_str().to_owned())
                    .ok_or(AuthFailure::UnknownApiKey)
            }
            Authenticator::Header(settings) => {
                let trusted = peer
                    .is_some_and(|ip| settings.trusted_proxies.iter().any(|net| net.contains(&ip)));
                if !trusted {
                    return Err(AuthFailure::UntrustedPeer);
                }
                let value = single(headers, &settings.header)?
                    .filter(|v| !v.as_bytes().trim_ascii().is_empty())
                    .ok_or(AuthFailure::MissingTrustedHeader)?;
                // Not-UTF-8 bytes become U+FFFD, which the caller-id rules refuse (403).
                Ok(String::from_utf8_lossy(value.as_bytes()).into_owned())
            }
        }
    }
}

/// At most one value of `name`.
fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a actix_web::http::header::HeaderValue>, AuthFailure> {
    let mut values = headers.get_all(name);
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => Ok(Some(v)),
        (Some(_), Some(_)) => Err(AuthFailure::AmbiguousCredentials),
    }
}

/// The credential of `Authorization: Bearer <credential>`, if that header is present.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AuthFailure> {
    let Some(value) = single(headers, &AUTHORIZATION)? else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| AuthFailure::MalformedAuthorization)?;
    let (scheme, credential) = value
        .split_once(' ')
        .ok_or(AuthFailure::MalformedAuthorization)?;
    let credential = credential.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || credential.is_empty() {
        return Err(AuthFailure::MalformedAuthorization);
    }
    Ok(Some(credential))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(&headers(&[])).unwrap(), None);
        assert_eq!(
            bearer(&headers(&[("authorization", "Bearer abc")])).unwrap(),
            Some("abc")
        );
        assert_eq!(
            bearer(&headers(&[("authorization", "bearer  abc ")])).unwrap(),
            Some("abc")
        );
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc"] {
            assert_eq!(
                bearer(&headers(&[("authorization", bad)])),
                Err(AuthFailure::MalformedAuthorization),
                "{bad}"
            );
        }
        assert_eq!(
            bearer(&headers(&[
                ("authorization", "Bearer a"),
                ("authorization", "Bearer b")
            ])),
            Err(AuthFailure::AmbiguousCredentials)
        );
    }
}
