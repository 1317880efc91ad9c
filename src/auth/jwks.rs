//! The JWKS key set of `BROKER_AUTH=jwt`: fetched from the configured URL only (never a URL a
//! token names), bounded in size and keys, cached with a maximum age and refetched at a bounded
//! rate when a token names an unknown `kid`. Verifying with a key already known never waits
//! for a fetch.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::clock::Clock;

/// A JWKS document larger than this is refused.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Keys kept from one JWKS document.
const MAX_JWKS_KEYS: usize = 64;
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// A verification key; the HS256 secret it may hold is redacted in `Debug`.
pub(super) struct Key(pub(super) DecodingKey);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// Why the key set has no key for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyRefusal {
    /// The key set declares another algorithm for the token's key.
    AlgorithmNotAllowed,
    /// No such key, and no fetch may run now.
    UnknownKey,
}

/// The key family a JWT algorithm needs from the key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    EcP256,
}

fn family_of(alg: Algorithm) -> Option<Family> {
    match alg {
        Algorithm::RS256 => Some(Family::Rsa),
        Algorithm::ES256 => Some(Family::EcP256),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct CachedKey {
    family: Family,
    /// The `alg` the key set declares for it, if any; a token must then use exactly that.
    declared: Option<KeyAlgorithm>,
    key: Arc<Key>,
}

impl CachedKey {
    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| !matches!(u, jsonwebtoken::jwk::PublicKeyUse::Signature))
        {
            return None;
        }
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Family::Rsa,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Family::EcP256
            }
            // Symmetric keys from a URL would mix HMAC with public keys: never.
            _ => return None,
        };
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self {
            family,
            declared: jwk.common.key_algorithm,
            key: Arc::new(Key(key)),
        })
    }

    fn fits(&self, alg: Algorithm) -> bool {
        let declared_ok = match self.declared {
            None => true,
            Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
            Some(_) => false,
        };
        declared_ok && family_of(alg) == Some(self.family)
    }
}

/// One fetched key set. It is never changed, only replaced whole by the next fetch.
#[derive(Debug, Default)]
struct KeySet {
    /// Keys with a `kid`, and those without (usable only when the token names none).
    by_kid: HashMap<String, CachedKey>,
    anonymous: Vec<CachedKey>,
    /// `None` until the first successful fetch.
    fetched_at: Option<DateTime<Utc>>,
}

/// What a key set has for a token.
enum Lookup {
    Found(Arc<DecodingKey>),
    /// The `kid` is known, but its key is not for this algorithm.
    WrongAlgorithm,
    /// An unknown `kid`, or no single fitting key for a token without one.
    Missing,
}

impl KeySet {
    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let candidate = match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(key) if key.fits(alg) => Some(key),
                Some(_) => return Lookup::WrongAlgorithm,
                None => None,
            },
            // Without a `kid`, only an unambiguous key will do.
            None => {
                let mut fitting = self
                    .by_kid
                    .values()
                    .chain(self.anonymous.iter())
                    .filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            }
        };
        match candidate {
            Some(key) => Lookup::Found(Arc::new(key.key.0.clone())),
            None => Lookup::Missing,
        }
    }
}

/// When the key set was last asked for, and the fetch under way, if any.
#[derive(Debug, Default)]
struct Refetch {
    last_attempt: Option<DateTime<Utc>>,
    /// Closed (its sender dropped) when the fetch under way has ended, however it ended.
    in_flight: Option<tokio::sync::watch::Receiver<()>>,
}

/// The key set behind `BROKER_JWT_JWKS_URL`: fetched on first use, refetched when older than
/// `max_age` or when a token names an unknown `kid`, but never more often than once per
/// `min_refetch` (a flood of made-up `kid`s costs one request per interval), and never two
/// fetches at once.
///
/// A fetch runs in a task of its own, outside every lock: the key set is swapped in when it has
/// arrived. A token whose key is known is verified at once, with the keys at hand, even while a
/// fetch is under way or the set is due for a refresh (which then runs in the background). Only
/// a token whose key is not known waits, for the fetch under way or for one it may start.
#[derive(Debug, Clone)]
pub struct JwksCache(Arc<Jwks>);

#[derive(Debug)]
struct Jwks {
    url: reqwest::Url,
    http: reqwest::Client,
    max_age: chrono::Duration,
    min_refetch: chrono::Duration,
    clock: Arc<dyn Clock>,
    /// Held only to clone or replace the `Arc`, never across an await.
    keys: RwLock<Arc<KeySet>>,
    /// Held only to decide whether to fetch, never across an await.
    refetch: Mutex<Refetch>,
}

/// Ends a fetch: clears `in_flight` and then wakes its waiters (by dropping the sender), also
/// when the fetch task panics or is dropped.
struct FetchDone {
    jwks: Arc<Jwks>,
    _wake: tokio::sync::watch::Sender<()>,
}

impl Drop for FetchDone {
    fn drop(&mut self) {
        self.jwks
            .refetch
            .lock()
            .expect("JWKS refetch lock")
            .in_flight = None;
    }
}

impl JwksCache {
    pub(super) fn new(
        url: reqwest::Url,
        max_age: Duration,
        min_refetch: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        // The identity provider is reached directly: a proxy from the environment would see
        // and could change the keys every token is verified with.
        let http = crate::http_client::client(JWKS_TIMEOUT, JWKS_TIMEOUT)
            .map_err(|e| format!("JWKS HTTP client: {e}"))?;
        let to_chrono =
            |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        Ok(Self(Arc::new(Jwks {
            url,
            http,
            max_age: to_chrono(max_age),
            min_refetch: to_chrono(min_refetch),
            clock,
            keys: RwLock::new(Arc::new(KeySet::default())),
            refetch: Mutex::new(Refetch::default()),
        })))
    }

    fn keys(&self) -> Arc<KeySet> {
        crate::sync::read(&self.0.keys).clone()
    }

    pub(super) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<DecodingKey>, KeyRefusal> {
        let keys = self.keys();
        match keys.lookup(kid, alg) {
            Lookup::Found(key) => {
                let now = self.0.clock.now();
                if keys.fetched_at.is_none_or(|at| now - at >= self.0.max_age) {
                    // Due for a refresh: in the background; this token does not wait for it.
                    let _ = self.start_fetch();
                }
                return Ok(key);
            }
            Lookup::WrongAlgorithm => return Err(KeyRefusal::AlgorithmNotAllowed),
            Lookup::Missing => {}
        }
        // A key we do not have (or no keys yet): wait for the fetch under way, or start one if
        // the interval allows; otherwise refuse at once.
        let Some(mut done) = self.start_fetch() else {
            return Err(KeyRefusal::UnknownKey);
        };
        // Returns when the fetch has ended (the sender is dropped); the fetch times out itself.
        let _ = done.changed().await;
        match self.keys().lookup(kid, alg) {
            Lookup::Found(key) => Ok(key),
            Lookup::WrongAlgorithm => Err(KeyRefusal::AlgorithmNotAllowed),
            Lookup::Missing => Err(KeyRefusal::UnknownKey),
        }
    }

    /// The fetch under way, or a new one when the last attempt is at least `min_refetch` old;
    /// `None` when neither. A new fetch runs in its own task, so it finishes even when the
    /// request that started it goes away.
    fn start_fetch(&self) -> Option<tokio::sync::watch::Receiver<()>> {
        let mut refetch = crate::sync::lock(&self.0.refetch);
        if let Some(done) = &refetch.in_flight {
            return Some(done.clone());
        }
        let now = self.0.clock.now();
        if refetch
            .last_attempt
            .is_some_and(|at| now - at < self.0.min_refetch)
        {
            return None;
        }
        refetch.last_attempt = Some(now);
        let (wake, done) = tokio::sync::watch::channel(());
        refetch.in_flight = Some(done.clone());
        drop(refetch);
        let guard = FetchDone {
            jwks: self.0.clone(),
            _wake: wake,
        };
        tokio::spawn(async move {
            let jwks = &guard.jwks;
            match jwks.fetch().await {
                Ok((by_kid, anonymous)) => {
                    tracing::info!(
                        url = %jwks.url,
                        keys = by_kid.len() + anonymous.len(),
                        "JWKS fetched"
                    );
                    let set = Arc::new(KeySet {
                        by_kid,
                        anonymous,
                        fetched_at: Some(now),
                    });
                    *crate::sync::write(&jwks.keys) = set;
                }
                Err(reason) => tracing::warn!(
                    url = %jwks.url,
                    reason,
                    "JWKS fetch failed; keeping the keys already known"
                ),
            }
            drop(guard);
        });
        Some(done)
    }
}

impl Jwks {
    #[allow(clippy::type_complexity)]
    async fn fetch(&self) -> Result<(HashMap<String, CachedKey>, Vec<CachedKey>), String> {
        let mut response = self
            .http
            .get(self.url.clone())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
            }
        }
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))?;
        let mut by_kid = HashMap::new();
        let mut anonymous = Vec::new();
        for jwk in set.keys.iter().take(MAX_JWKS_KEYS) {
            let Some(key) = CachedKey::from_jwk(jwk) else {
                continue;
            };
            match &jwk.common.key_id {
                Some(kid) => {
                    by_kid.insert(kid.clone(), key);
                }
                None => anonymous.push(key),
            }
        }
        if by_kid.is_empty() && anonymous.is_empty() {
            return Err("no usable RS256/ES256 signing keys".into());
        }
        Ok((by_kid, anonymous))
    }
}
