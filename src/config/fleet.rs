//! The fleet section: Redis, the key credentials are sealed with, the key prefix and the
//! timeout. Unset `BROKER_REDIS_URL` means every replica works alone.

use std::time::Duration;

use sha2::Digest as _;

use super::reader::Reader;
use crate::fleet::{FleetConfig, SealKey, SealKeys};

pub(crate) fn read(r: &mut Reader<'_>) -> Option<Option<FleetConfig>> {
    let url = r.parsed("BROKER_REDIS_URL", None, redis_url);
    let prefix = r.parsed(
        "BROKER_REDIS_KEY_PREFIX",
        Some("sts-broker:".to_owned()),
        prefix,
    );
    let timeout = r.integer("BROKER_REDIS_TIMEOUT_MS", 250, 10, 10_000);
    let previous = r.parsed("BROKER_CACHE_ENCRYPTION_KEY_PREVIOUS", None, SealKey::parse);
    let set = r.is_set("BROKER_REDIS_URL");
    let current = if set {
        r.required_parsed(
            "BROKER_CACHE_ENCRYPTION_KEY",
            "Base64 of 32 random bytes sealing the credentials stored in Redis; `openssl rand -base64 32`",
            SealKey::parse,
        )
    } else {
        if r.is_set("BROKER_CACHE_ENCRYPTION_KEY") {
            r.problem(
                "BROKER_CACHE_ENCRYPTION_KEY",
                "is set without BROKER_REDIS_URL; set both (fleet mode) or neither",
            );
        }
        None
    };
    if !set {
        return Some(None);
    }
    // Read again here (the STS section owns its validation): only its digest names keys.
    let role = r.get("BROKER_ROLE_ARN").unwrap_or_default();
    let digest = sha2::Sha256::digest(role.as_bytes());
    Some(Some(FleetConfig {
        url: url?,
        keys: SealKeys {
            current: current?,
            previous,
        },
        prefix: prefix?,
        timeout: Duration::from_millis(timeout?),
        deployment: hex::encode(&digest[..6]),
    }))
}

/// `redis://` or `rediss://` with a host; the message never quotes the URL (it may hold a
/// password).
fn redis_url(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw).map_err(|_| {
        "is not a URL; write redis://[user:password@]host:port[/db] or rediss://…".to_owned()
    })?;
    if !matches!(url.scheme(), "redis" | "rediss") {
        return Err(format!(
            "scheme `{}` is not supported; use redis:// or rediss:// (TLS)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    redis::Client::open(raw).map_err(|_| "is not a Redis URL the client accepts".to_owned())?;
    Ok(raw.to_owned())
}

fn prefix(raw: &str) -> Result<String, String> {
    if raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.'))
    {
        Ok(raw.to_owned())
    } else {
        Err("must be at most 64 letters, digits or `:_-.` (no braces: the budget's keys carry their own hash tag)".into())
    }
}
