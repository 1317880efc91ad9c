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

/// Keys fetched from OSS's key URLs, bounded.
const MAX_KEYS: usize = 8;

/// OSS's public keys: pinned, or fetched from an allowed URL once and kept.
pub struct OssKeys {
    pinned: Option<Arc<RsaPublicKey>>,
    fetched: Mutex<HashMap<String, Arc<RsaPublicKey>>>,
    http: reqwest::Client,
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
        let http =
            crate::http_client::client(Duration::from_millis(1500), Duration::from_millis(1500))?;
        Ok(Self {
            pinned: pinned.map(Arc::new),
            fetched: Mutex::new(HashMap::new()),
            http,
        })
    }

    /// The key for `key_url_header` (Base64 of the key's URL, as OSS sends it).
    pub async fn key(&self, key_url_header: &str) -> Result<Arc<RsaPublicKey>, Refusal> {
        if let Some(key) = &self.pinned {
            return Ok(key.clone());
        }
        let url = B64
            .decode(key_url_header.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(Refusal::KeyUrl)?;
        let Some(path) = KEY_URL_PREFIXES.iter().find_map(|p| url.strip_prefix(p)) else {
            return Err(Refusal::KeyUrl);
        };
        // One plain `.pem` file name: no query, fragment, further path or tricks, so a caller
        // cannot fill the cache with variants of one URL.
        if !(path.ends_with(".pem")
            && path.len() <= 64
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && !path.contains(".."))
        {
            return Err(Refusal::KeyUrl);
        }
        // Always over HTTPS, whatever scheme the header named.
        let url = format!("https://gosspublic.alicdn.com/{path}");
        if let Some(key) = crate::sync::lock(&self.fetched).get(&url) {
            return Ok(key.clone());
        }
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|_| Refusal::KeyFetch)?;
        if !response.status().is_success() {
            return Err(Refusal::KeyFetch);
        }
        if response.content_length().is_some_and(|n| n > 4096) {
            return Err(Refusal::KeyFetch);
        }
        let text = response.text().await.map_err(|_| Refusal::KeyFetch)?;
        if text.len() > 4096 {
            return Err(Refusal::KeyFetch);
        }
        let key = Arc::new(signature::parse_public_key(&text).map_err(|_| Refusal::KeyFetch)?);
        let mut fetched = crate::sync::lock(&self.fetched);
        if fetched.len() < MAX_KEYS {
            fetched.insert(url, key.clone());
        }
        Ok(key)
    }
}
