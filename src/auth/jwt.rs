//! `BROKER_AUTH=jwt`: verifies a bearer JWT (HS256 with the configured secret, RS256/ES256 with
//! keys from the configured JWKS URL, fetched and cached by `super::jwks`) and returns the
//! subject claim.
//! It must never log or return the token or the secret, never follow URLs a token names
//! (`jku`, `x5u`, embedded `jwk`), and never let the token's header choose the key family.
//! Verifying with a key already known never waits for a key-set fetch.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret as _;

use super::jwks::{JwksCache, Key, KeyRefusal};
use crate::auth::settings::JwtSettings;
use crate::auth::AuthFailure;
use crate::clock::Clock;

/// Tokens longer than this are refused before parsing.
pub const MAX_TOKEN_LEN: usize = 32 * 1024;

/// Why a token was refused; text for the log, free of token content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtFailure {
    Malformed,
    AlgorithmNotAllowed,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    /// `iat` lies further in the future than the leeway.
    IssuedInFuture,
    /// `exp - iat` (or `exp - now` without `iat`) exceeds `BROKER_JWT_MAX_LIFETIME_SECONDS`.
    LifetimeTooLong,
    WrongIssuer,
    WrongAudience,
    MissingClaim,
    SubjectNotAString,
}

impl fmt::Display for JwtFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "JWT is malformed or has an unsupported header",
            Self::AlgorithmNotAllowed => "JWT algorithm is not allowed for the configured keys",
            Self::UnknownKey => "JWT names a key that is not in the key set",
            Self::BadSignature => "JWT signature does not verify",
            Self::Expired => "JWT has expired",
            Self::NotYetValid => "JWT is not valid yet (nbf)",
            Self::IssuedInFuture => "JWT is issued in the future (iat)",
            Self::LifetimeTooLong => {
                "JWT lives longer than BROKER_JWT_MAX_LIFETIME_SECONDS allows (exp - iat)"
            }
            Self::WrongIssuer => "JWT issuer is not the configured one",
            Self::WrongAudience => "JWT audience is not the configured one",
            Self::MissingClaim => "JWT lacks a required claim (exp, iss, aud)",
            Self::SubjectNotAString => "JWT subject claim is missing or not a string",
        })
    }
}

fn classify(kind: &ErrorKind) -> JwtFailure {
    match kind {
        ErrorKind::InvalidSignature => JwtFailure::BadSignature,
        ErrorKind::ExpiredSignature => JwtFailure::Expired,
        ErrorKind::ImmatureSignature => JwtFailure::NotYetValid,
        ErrorKind::InvalidIssuer => JwtFailure::WrongIssuer,
        ErrorKind::InvalidAudience => JwtFailure::WrongAudience,
        ErrorKind::MissingRequiredClaim(_) => JwtFailure::MissingClaim,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            JwtFailure::AlgorithmNotAllowed
        }
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
            JwtFailure::UnknownKey
        }
        _ => JwtFailure::Malformed,
    }
}

impl From<KeyRefusal> for JwtFailure {
    fn from(r: KeyRefusal) -> Self {
        match r {
            KeyRefusal::AlgorithmNotAllowed => Self::AlgorithmNotAllowed,
            KeyRefusal::UnknownKey => Self::UnknownKey,
        }
    }
}

/// Verifies bearer JWTs.
#[derive(Debug)]
pub struct JwtVerifier {
    hs256: Option<Key>,
    jwks: Option<JwksCache>,
    issuer: String,
    audiences: Vec<String>,
    subject_claim: String,
    leeway: Duration,
    max_lifetime: Option<Duration>,
    /// `exp`, `nbf` and `iat` are checked against this clock.
    clock: Arc<dyn Clock>,
}

impl JwtVerifier {
    pub fn new(settings: &JwtSettings, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let hs256 = match &settings.hs256_secret {
            Some(secret) => Some(Key(DecodingKey::from_secret(
                secret.expose_secret().as_bytes(),
            )
            .map_err(|e| format!("HS256 key: {e}"))?)),
            None => None,
        };
        let jwks = match &settings.jwks_url {
            Some(url) => Some(JwksCache::new(
                url.clone(),
                settings.jwks_max_age,
                settings.jwks_min_refetch_interval,
                clock.clone(),
            )?),
            None => None,
        };
        Ok(Self {
            hs256,
            jwks,
            issuer: settings.issuer.clone(),
            audiences: settings.audiences.clone(),
            subject_claim: settings.subject_claim.clone(),
            leeway: settings.leeway,
            max_lifetime: settings.max_lifetime,
            clock,
        })
    }

    /// The raw value of the subject claim of a valid token.
    pub async fn verify(&self, token: &str) -> Result<String, AuthFailure> {
        self.verify_inner(token).await.map_err(AuthFailure::Jwt)
    }

    async fn verify_inner(&self, token: &str) -> Result<String, JwtFailure> {
        if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
            return Err(JwtFailure::Malformed);
        }
        // `alg: none` and any algorithm the crate does not know fail here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtFailure::Malformed)?;
        if header.crit.is_some() {
            // RFC 7515 §4.1.11: extensions we do not understand must be refused.
            return Err(JwtFailure::Malformed);
        }
        // The key is chosen by our configuration for the one algorithm family it belongs to;
        // the header only selects among keys of that family (no HS256 with a public key).
        let key: Arc<DecodingKey> = match header.alg {
            Algorithm::HS256 => match &self.hs256 {
                Some(Key(key)) => Arc::new(key.clone()),
                None => return Err(JwtFailure::AlgorithmNotAllowed),
            },
            Algorithm::RS256 | Algorithm::ES256 => match &self.jwks {
                Some(jwks) => jwks.key_for(header.kid.as_deref(), header.alg).await?,
                None => return Err(JwtFailure::AlgorithmNotAllowed),
            },
            _ => return Err(JwtFailure::AlgorithmNotAllowed),
        };
        let mut validation = Validation::new(header.alg);
        // The crate checks the signature, `iss`, `aud` and that `exp` is a number; the times
        // are checked below against the broker's clock, `iat` and the lifetime included.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )
        .map_err(|e| classify(e.kind()))?;
        self.check_times(&data.claims)?;
        match data.claims.get(&self.subject_claim) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            _ => Err(JwtFailure::SubjectNotAString),
        }
    }
}

impl JwtVerifier {
    /// `exp` (required), `nbf` and `iat` (when present) with the leeway, and the lifetime
    /// when `BROKER_JWT_MAX_LIFETIME_SECONDS` is set. A present time claim that is not a number
    /// is malformed.
    fn check_times(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), JwtFailure> {
        let time = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(value) => value.as_f64().map(Some).ok_or(JwtFailure::Malformed),
        };
        let now = self.clock.now().timestamp() as f64;
        let leeway = self.leeway.as_secs() as f64;
        let exp = time("exp")?.ok_or(JwtFailure::MissingClaim)?;
        if exp + leeway < now {
            return Err(JwtFailure::Expired);
        }
        if time("nbf")?.is_some_and(|nbf| nbf > now + leeway) {
            return Err(JwtFailure::NotYetValid);
        }
        let iat = time("iat")?;
        if iat.is_some_and(|iat| iat > now + leeway) {
            return Err(JwtFailure::IssuedInFuture);
        }
        if let Some(max) = self.max_lifetime {
            // Without `iat` the token is judged by the time it has left, with the leeway for
            // a clock that runs behind the issuer's.
            let lifetime = match iat {
                Some(iat) => exp - iat,
                None => exp - now - leeway,
            };
            if lifetime > max.as_secs() as f64 {
                return Err(JwtFailure::LifetimeTooLong);
            }
        }
        Ok(())
    }
}
