//! OSS's callback keys: pinned (`BROKER_CALLBACK_PUBLIC_KEY_FILE`), or fetched over HTTPS from
//! `gosspublic.alicdn.com` only (one plain `.pem` name, bounded size), and kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use rsa::RsaPublicKey;

use super::signature;
use super::Refusal;

/// OSS delivers its callback key only under these prefixes (protocol.md §9.4).
pub const KEY_URL_PREFIXES: [&str; 2] = [
    "http://gosspublic.alicdn.com/",
    "https://gosspublic.alicdn.com/",
];

/// Keys that verified a callback, kept for good (bounded; never pushed out).
const MAX_TRUSTED: usize = 8;
/// Keys fetched but not yet seen verifying a callback, and URLs whose fetch failed.
const MAX_PENDING: u64 = 64;
/// How long a failed fetch (or a fetched key nothing verified with) is remembered.
const REMEMBER: Duration = Duration::from_secs(60);
/// Fetches of URLs not yet trusted, at most, per minute.
const FETCHES_PER_MINUTE: u32 = 10;

/// OSS's public keys: pinned, or fetched from an allowed URL. A fetched key is kept for good
/// only once a callback verified with it; unknown URLs never push it out, each URL is fetched
/// by one request at a time, failures are remembered for a minute, and fetches of URLs not yet
/// trusted are limited, so unauthenticated callbacks cannot make the broker fetch at will.
pub struct OssKeys {
    pinned: Option<Arc<RsaPublicKey>>,
    trusted: Mutex<HashMap<String, Arc<RsaPublicKey>>>,
    /// Fetched, not yet trusted (`Some`), or failed (`None`), for [`REMEMBER`].
    recent: moka::sync::Cache<String, Option<Arc<RsaPublicKey>>>,
    flights: moka::sync::Cache<String, Arc<tokio::sync::Mutex<()>>>,
    fetches: crate::ratelimit::KeyedLimiter,
    http: reqwest::Client,
    /// `https://gosspublic.alicdn.com/`, whatever scheme the header named.
    base: String,
}

impl std::fmt::Debug for OssKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OssKeys")
            .field("pinned", &self.pinned.is_some())
            .finish()
    }
}

impl OssKeys {
    pub fn new(pinned: Option<RsaPublicKey>) -> Result<Self, reqwest::Error> {
        Self::with_base(pinned, "https://gosspublic.alicdn.com/")
    }

    fn with_base(pinned: Option<RsaPublicKey>, base: &str) -> Result<Self, reqwest::Error> {
        let http =
            crate::http_client::client(Duration::from_millis(1500), Duration::from_millis(1500))?;
        Ok(Self {
            pinned: pinned.map(Arc::new),
            trusted: Mutex::new(HashMap::new()),
            recent: moka::sync::Cache::builder()
                .max_capacity(MAX_PENDING)
                .time_to_live(REMEMBER)
                .build(),
            flights: moka::sync::Cache::builder()
                .max_capacity(MAX_PENDING)
                .time_to_live(REMEMBER)
                .build(),
            fetches: crate::ratelimit::KeyedLimiter::new(FETCHES_PER_MINUTE, FETCHES_PER_MINUTE, 1),
            http,
            base: base.to_owned(),
        })
    }

    /// Whether OSS's `authorization` signs `message`, with the key `key_url_header` names
    /// (Base64 of the key's URL, as OSS sends it) or the pinned one.
    pub async fn verify(
        &self,
        key_url_header: &str,
        authorization: &str,
        message: &[u8],
    ) -> Result<(), Refusal> {
        let verdict = |key: &RsaPublicKey| {
            if signature::verify(key, authorization, message) {
                Ok(())
            } else {
                Err(Refusal::Signature)
            }
        };
        if let Some(key) = &self.pinned {
            return verdict(key);
        }
        let url = self.url(key_url_header)?;
        if let Some(key) = self.trusted(&url) {
            return verdict(&key);
        }
        let key = self.fetched(&url).await?;
        verdict(&key)?;
        let mut trusted = crate::sync::lock(&self.trusted);
        if trusted.len() < MAX_TRUSTED {
            trusted.insert(url, key);
        }
        Ok(())
    }

    fn trusted(&self, url: &str) -> Option<Arc<RsaPublicKey>> {
        crate::sync::lock(&self.trusted).get(url).cloned()
    }

    /// The key at `url`: remembered, or fetched by one request at a time.
    async fn fetched(&self, url: &str) -> Result<Arc<RsaPublicKey>, Refusal> {
        if let Some(remembered) = self.recent.get(url) {
            return remembered.ok_or(Refusal::KeyFetch);
        }
        let flight = self
            .flights
            .get_with(url.to_owned(), || Arc::new(tokio::sync::Mutex::new(())));
        let _one_at_a_time = flight.lock().await;
        if let Some(key) = self.trusted(url) {
            return Ok(key);
        }
        if let Some(remembered) = self.recent.get(url) {
            return remembered.ok_or(Refusal::KeyFetch);
        }
        if self.fetches.check(&(), chrono::Utc::now()).is_err() {
            return Err(Refusal::KeyFetch);
        }
        let key = self.fetch(url).await.map(Arc::new);
        self.recent.insert(url.to_owned(), key.clone().ok());
        key.map_err(|()| Refusal::KeyFetch)
    }

    /// The allowed key URL `key_url_header` names, always over HTTPS.
    fn url(&self, key_url_header: &str) -> Result<String, Refusal> {
        let url = B64
            .decode(key_url_header.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(Refusal::KeyUrl)?;
        let Some(path) = KEY_URL_PREFIXES.iter().find_map(|p| url.strip_prefix(p)) else {
            return Err(Refusal::KeyUrl);
        };
        // One plain `.pem` file name: no query, fragment, further path or tricks, so a caller
        // cannot make variants of one URL.
        if !(path.ends_with(".pem")
            && path.len() <= 64
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && !path.contains(".."))
        {
            return Err(Refusal::KeyUrl);
        }
        Ok(format!("{}{path}", self.base))
    }

    async fn fetch(&self, url: &str) -> Result<RsaPublicKey, ()> {
        let response = self.http.get(url).send().await.map_err(|_| ())?;
        if !response.status().is_success() || response.content_length().is_some_and(|n| n > 4096) {
            return Err(());
        }
        let text = response.text().await.map_err(|_| ())?;
        if text.len() > 4096 {
            return Err(());
        }
        signature::parse_public_key(&text).map_err(|_| ())
    }
}

#[cfg(test)]
mod tests;
