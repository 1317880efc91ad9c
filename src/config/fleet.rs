//! The fleet section: Redis, the key credentials are sealed with, the key prefix and the
//! timeout. Unset `BROKER_REDIS_URL` means every replica works alone.

use std::time::Duration;

use super::reader::Reader;
use crate::fleet::{FleetConfig, RedisMode, SealKey, SealKeys};

pub(crate) fn read(r: &mut Reader<'_>) -> Option<Option<FleetConfig>> {
    let mode = r.parsed(
        "BROKER_REDIS_MODE",
        Some(RedisMode::Standalone),
        RedisMode::parse,
    );
    let url = match mode {
        Some(RedisMode::Cluster) => r.parsed("BROKER_REDIS_URL", None, seed_urls),
        _ => r.parsed("BROKER_REDIS_URL", None, redis_url),
    };
    let ca = r.parsed("BROKER_REDIS_CA_FILE", None, |path| {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {}", e.kind()))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(format!("`{path}` holds no PEM certificate"));
        }
        Ok(Some(pem))
    });
    if let (Some(Some(_)), Some(url)) = (&ca, &url) {
        if !url.split(',').all(|u| u.trim().starts_with("rediss://")) {
            r.problem(
                "BROKER_REDIS_CA_FILE",
                "is set but BROKER_REDIS_URL is not rediss:// (TLS); the CA checks TLS servers only",
            );
        }
    }
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
    Some(Some(FleetConfig {
        url: url?,
        mode: mode?,
        ca: ca.flatten(),
        keys: SealKeys {
            current: current?,
            previous,
        },
        prefix: prefix?,
        timeout: Duration::from_millis(timeout?),
    }))
}

/// `BROKER_REDIS_MODE=cluster`: one or more comma-separated seed nodes, each a Redis URL of
/// one scheme (all `redis://` or all `rediss://`).
fn seed_urls(raw: &str) -> Result<String, String> {
    let nodes: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if nodes.is_empty() {
        return Err("lists no seed node; write redis://host:port[,redis://host:port…]".into());
    }
    for (i, node) in nodes.iter().enumerate() {
        redis_url(node).map_err(|reason| format!("seed node {}: {reason}", i + 1))?;
    }
    if nodes.iter().any(|n| n.starts_with("rediss://"))
        != nodes.iter().all(|n| n.starts_with("rediss://"))
    {
        return Err("mixes redis:// and rediss:// seed nodes; a cluster is all TLS or none".into());
    }
    Ok(nodes.join(","))
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
