//! OSS upload callbacks for profiles with a `[callback]`: the `callback` field the broker puts
//! (pinned) into a server-signed form, and the checks `POST /ossCallback` makes before it
//! forwards anything to the app: OSS's RSA-MD5 signature (with OSS's key from
//! `gosspublic.alicdn.com` only, or a pinned key), the broker's own grant in the body, the key
//! under the grant's directory, and the object itself (HeadObject with the broker's identity
//! must show the size and ETag the body states). Forwarding signs the app's copy with
//! `BROKER_CALLBACK_SECRET`. Nothing here knows HTTP requests of the broker's own API.

mod form;
pub mod grant;
mod handle;
mod keys;
pub mod signature;

pub use form::{form_field, MAX_CALLBACK_FIELD};
pub use handle::{CallbackAudit, CallbackError, CallbackRequest, DEADLINE};
pub use keys::{OssKeys, KEY_URL_PREFIXES};

use std::sync::Arc;
use std::time::Duration;

use rsa::RsaPublicKey;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::encoding::hmac_sha256;

/// The callback section: where OSS reaches the broker, the forwarding secret, a pinned key.
#[derive(Clone)]
pub struct CallbackConfig {
    /// `BROKER_CALLBACK_URL`: this broker's `/ossCallback` as OSS reaches it.
    pub url: reqwest::Url,
    /// `BROKER_CALLBACK_SECRET`: signs grants and what the broker forwards.
    pub secret: SecretString,
    /// `BROKER_CALLBACK_PUBLIC_KEY_FILE`: OSS's key, pinned (no fetch).
    pub pinned_key: Option<RsaPublicKey>,
}

impl std::fmt::Debug for CallbackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackConfig")
            .field("url", &self.url.as_str())
            .field("secret", &"[redacted]")
            .field("pinned_key", &self.pinned_key.is_some())
            .finish()
    }
}

/// The body OSS posts back, as the form's template asked for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackBody {
    pub bucket: String,
    pub object: String,
    pub size: u64,
    pub etag: String,
    #[serde(rename = "mimeType")]
    pub mime_type: String,
    pub caller: String,
    pub profile: String,
    pub dir: String,
    pub grant: String,
}

/// Why a callback was refused or failed (for the audit line; callers only see `403`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no Authorization or x-oss-pub-key-url header")]
    MissingHeaders,
    #[error("the public key URL is not under gosspublic.alicdn.com")]
    KeyUrl,
    #[error("OSS's public key could not be fetched or read")]
    KeyFetch,
    #[error("OSS's signature does not verify")]
    Signature,
    #[error("the body is not the broker's callback body")]
    Body,
    #[error("the body names a profile without a callback")]
    Profile,
    #[error("the grant is malformed")]
    GrantMalformed,
    #[error("the grant was not made by this broker for this caller, profile and directory")]
    GrantForged,
    #[error("the grant has expired")]
    GrantExpired,
    #[error("the object key is outside the grant's directory, or the bucket is another")]
    OutsideDir,
    #[error("the object does not exist")]
    NoObject,
    #[error("the object's size, ETag or content type differs from the body's")]
    ObjectMismatch,
    #[error("this object's callback was already forwarded")]
    Replayed,
    #[error("the object could not be checked (HeadObject failed)")]
    HeadFailed,
}

impl From<grant::GrantRefusal> for Refusal {
    fn from(r: grant::GrantRefusal) -> Self {
        match r {
            grant::GrantRefusal::Malformed => Self::GrantMalformed,
            grant::GrantRefusal::Forged => Self::GrantForged,
            grant::GrantRefusal::Expired => Self::GrantExpired,
        }
    }
}

/// What the broker forwards to the app: the contract's JSON.
#[derive(Debug, Serialize)]
pub struct Forward<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub size: u64,
    pub etag: &'a str,
    pub mime_type: &'a str,
    pub caller: &'a str,
    pub profile: &'a str,
}

/// `X-Broker-Signature` for `body` sent at `timestamp`: `v1=<hex HMAC-SHA256(secret,
/// timestamp + "." + body)>`.
pub fn forward_signature(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    format!(
        "v1={}",
        hex::encode(hmac_sha256(secret.expose_secret().as_bytes(), &message))
    )
}

/// The app's answer, relayed to OSS (and by OSS to the uploader) when it is a 2xx JSON body of
/// at most 1 MB; anything else fails the callback.
pub const MAX_APP_ANSWER: usize = 1024 * 1024;

/// Where one profile's verified callbacks go, and how to check its objects.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub bucket: &'a str,
    pub region: &'a str,
    /// The bucket's URL for HeadObject (`BROKER_OSS_ENDPOINT`).
    pub oss_endpoint: &'a str,
    pub forward_url: &'a reqwest::Url,
}

/// Why the app's answer cannot be relayed (the callback then fails, and OSS tells the uploader
/// `203 CallbackFailed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ForwardFailure {
    #[error("the app did not answer in time")]
    Timeout,
    #[error("the app could not be reached")]
    Unreachable,
    #[error("the app answered a status other than 2xx")]
    Status,
    #[error("the app's answer is not a JSON body of at most 1 MB")]
    NotJson,
}

/// The checks and the forward of `POST /ossCallback`, with the keys and clients they need.
#[derive(Debug)]
pub struct Callbacks {
    pub config: CallbackConfig,
    keys: OssKeys,
    http: reqwest::Client,
    /// HeadObject's client, built once (not per callback).
    oss_http: reqwest::Client,
    /// Objects whose callback was forwarded lately (bucket, key, ETag): OSS sends each callback
    /// once, so a second delivery is a replay and is refused.
    forwarded: moka::sync::Cache<(String, String, String), ()>,
}

impl Callbacks {
    pub fn new(config: CallbackConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            keys: OssKeys::new(config.pinned_key.clone())?,
            // No redirects: one would repeat the forward as a GET without its body. Each
            // forward sets its own timeout (what is left of OSS's 5 s).
            http: crate::http_client::client(Duration::from_secs(2), Duration::from_secs(5))?,
            oss_http: crate::oss::client::OssClient::http()?,
            forwarded: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(2 * 3600))
                .build(),
            config,
        })
    }

    /// OSS's signature over the request, then the body's shape, then the grant (for `now`).
    pub async fn verify(
        &self,
        path_and_query: &str,
        authorization: Option<&str>,
        key_url: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<CallbackBody, Refusal> {
        let (Some(authorization), Some(key_url)) = (authorization, key_url) else {
            return Err(Refusal::MissingHeaders);
        };
        let key = self.keys.key(key_url).await?;
        if !signature::verify(
            &key,
            authorization,
            &signature::string_to_verify(path_and_query, body),
        ) {
            return Err(Refusal::Signature);
        }
        let parsed: CallbackBody = serde_json::from_slice(body).map_err(|_| Refusal::Body)?;
        grant::verify(
            &self.config.secret,
            &parsed.grant,
            grant::GrantFacts {
                caller: &parsed.caller,
                profile: &parsed.profile,
                dir: &parsed.dir,
                expires: 0,
            },
            now,
        )?;
        Ok(parsed)
    }

    /// The object must be in the profile's bucket, under the grant's directory, and exist with
    /// the size and ETag the body states (HeadObject with the broker's own `identity`).
    pub async fn confirm(
        &self,
        body: &CallbackBody,
        target: Target<'_>,
        identity: &crate::credentials::AccessKey,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Result<(), Refusal> {
        let rest = body.object.strip_prefix(body.dir.as_str()).unwrap_or("");
        if body.bucket != target.bucket
            || body.dir.is_empty()
            || !body.object.starts_with(&body.dir)
            || rest.is_empty()
            || rest
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
            || rest.chars().any(|c| c == '\\' || c.is_control())
        {
            return Err(Refusal::OutsideDir);
        }
        let seen = (
            body.bucket.clone(),
            body.object.clone(),
            body.etag.trim_matches('"').to_ascii_uppercase(),
        );
        if self.forwarded.contains_key(&seen) {
            return Err(Refusal::Replayed);
        }
        let client = crate::oss::client::OssClient::with_http(
            self.oss_http.clone(),
            target.oss_endpoint,
            target.bucket,
            target.region,
            clock,
        );
        match client.head_object(identity, &body.object).await {
            Ok(Some((size, etag, content_type)))
                if size == body.size
                    && etag.eq_ignore_ascii_case(body.etag.trim_matches('"'))
                    && content_type.eq_ignore_ascii_case(&body.mime_type) =>
            {
                self.forwarded.insert(seen, ());
                Ok(())
            }
            Ok(Some(_)) => Err(Refusal::ObjectMismatch),
            Ok(None) => Err(Refusal::NoObject),
            Err(_) => Err(Refusal::HeadFailed),
        }
    }

    /// Forwards the contract's JSON to the app, signed; the app's 2xx JSON answer comes back.
    pub async fn forward(
        &self,
        body: &CallbackBody,
        target: Target<'_>,
        now: i64,
        timeout: Duration,
    ) -> Result<Vec<u8>, ForwardFailure> {
        let json = serde_json::to_vec(&Forward {
            bucket: &body.bucket,
            key: &body.object,
            size: body.size,
            etag: body.etag.trim_matches('"'),
            mime_type: &body.mime_type,
            caller: &body.caller,
            profile: &body.profile,
        })
        .expect("plain values serialise");
        let request = self
            .http
            .post(target.forward_url.clone())
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("x-broker-timestamp", now.to_string())
            .header(
                "x-broker-signature",
                forward_signature(&self.config.secret, now, &json),
            )
            .body(json);
        let response = crate::trace::send(request, crate::trace::client_span("callback forward"))
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    ForwardFailure::Timeout
                } else {
                    ForwardFailure::Unreachable
                }
            })?;
        if !response.status().is_success() {
            return Err(ForwardFailure::Status);
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_APP_ANSWER as u64)
        {
            return Err(ForwardFailure::NotJson);
        }
        let answer = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                ForwardFailure::Timeout
            } else {
                ForwardFailure::Unreachable
            }
        })?;
        if answer.len() > MAX_APP_ANSWER
            || serde_json::from_slice::<serde_json::Value>(&answer).is_err()
        {
            return Err(ForwardFailure::NotJson);
        }
        Ok(answer.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CallbackConfig {
        CallbackConfig {
            url: "https://upload.example.com/ossCallback".parse().unwrap(),
            secret: SecretString::from("0123456789abcdef0123456789abcdef".to_owned()),
            pinned_key: None,
        }
    }

    #[test]
    fn forward_signature_vector() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
        assert_eq!(
            forward_signature(&config().secret, 1_700_000_000, br#"{"a":1}"#),
            "v1=f05f2539e3ae1c49aec5f8cfdad75ef6b06480b133973ffbb7ec9e18827af177"
        );
    }
}
