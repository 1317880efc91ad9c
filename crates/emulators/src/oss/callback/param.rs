//! The `callback` form field of a PostObject (protocol.md §5.7, §9.1): Base64 of a JSON object
//! with `callbackUrl` (at most 5 URLs joined by `;`), `callbackHost`, `callbackBody`,
//! `callbackBodyType` and `callbackSNI`, checked before anything is stored — the 5 KB limit, the
//! URL count, the Base64 and JSON themselves, and that no URL names a private or IPv6 address.
//! Loopback (127.0.0.0/8 and `localhost`) is allowed here although OSS refuses it: the emulator's
//! tests run on loopback. It only reads the parameter; sending is `super::delivery`'s job.

use std::net::Ipv4Addr;

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use serde_json::{Map, Value};
use url::{Host, Url};

use super::super::errors::{invalid_argument, OssError};

/// protocol.md §9.1: the Base64 `callback` field, at most 5 KB.
const MAX_CALLBACK_BYTES: usize = 5 * 1024;
/// protocol.md §9.1: at most 5 URLs.
const MAX_URLS: usize = 5;

/// How `callbackBody` is encoded and sent (protocol.md §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::oss) enum BodyType {
    FormUrlEncoded,
    Json,
}

impl BodyType {
    pub(in crate::oss) fn content_type(self) -> &'static str {
        match self {
            BodyType::FormUrlEncoded => "application/x-www-form-urlencoded",
            BodyType::Json => "application/json",
        }
    }
}

/// A checked callback parameter.
#[derive(Debug, Clone)]
pub(in crate::oss) struct CallbackParam {
    /// Tried in turn until one succeeds.
    pub(in crate::oss) urls: Vec<Url>,
    /// The `Host` header; the URL's host when `None`.
    pub(in crate::oss) host: Option<String>,
    pub(in crate::oss) body: String,
    pub(in crate::oss) body_type: BodyType,
    pub(in crate::oss) sni: bool,
}

fn not_json() -> OssError {
    invalid_argument("The callback configuration is not json format.")
}

/// protocol.md §9.1: decodes and checks the Base64 `callback` field.
pub(in crate::oss) fn parse(field: &str) -> Result<CallbackParam, OssError> {
    if field.len() > MAX_CALLBACK_BYTES {
        return Err(invalid_argument(
            "The callback is too long: at most 5 KB of Base64 is allowed.",
        )
        .with_ec("0007-00000001"));
    }
    let decoded = B64
        .decode(field.trim())
        .map_err(|_| invalid_argument("The callback configuration is not base64 encoded."))?;
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(&decoded) else {
        return Err(not_json());
    };
    let text = |key: &str| -> Result<Option<String>, OssError> {
        match doc.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid_argument(format!("{key} must be a string."))),
        }
    };
    let urls = text("callbackUrl")?
        .ok_or_else(|| invalid_argument("The callback configuration lacks callbackUrl."))?;
    let body = text("callbackBody")?
        .ok_or_else(|| invalid_argument("The callback configuration lacks callbackBody."))?;
    let body_type = match text("callbackBodyType")? {
        None => BodyType::FormUrlEncoded,
        Some(t) if t.eq_ignore_ascii_case("application/x-www-form-urlencoded") => {
            BodyType::FormUrlEncoded
        }
        Some(t) if t.eq_ignore_ascii_case("application/json") => BodyType::Json,
        Some(_) => return Err(invalid_argument("The callbackBodyType is not supported.")),
    };
    Ok(CallbackParam {
        urls: parse_urls(&urls)?,
        host: text("callbackHost")?.filter(|h| !h.is_empty()),
        body,
        body_type,
        sni: sni(&doc)?,
    })
}

fn sni(doc: &Map<String, Value>) -> Result<bool, OssError> {
    match doc.get("callbackSNI") {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid_argument("callbackSNI must be true or false.")),
    }
}

/// `callbackUrl`: 1 to 5 `http`/`https` URLs joined by `;`, none naming a private address.
fn parse_urls(joined: &str) -> Result<Vec<Url>, OssError> {
    let pieces: Vec<&str> = joined.split(';').map(str::trim).collect();
    if pieces.len() > MAX_URLS {
        return Err(
            invalid_argument("The number of callback urls exceeds the limit of 5.")
                .with_ec("0007-00000005"),
        );
    }
    pieces
        .into_iter()
        .map(|piece| {
            let url = Url::parse(piece)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| invalid_argument("The callbackUrl is invalid."))?;
            if !callback_host_allowed(url.host().expect("checked above")) {
                return Err(
                    invalid_argument("Private address is forbidden to callback.")
                        .with_ec("0007-00000007"),
                );
            }
            Ok(url)
        })
        .collect()
}

/// protocol.md §9.1: no IPv6 and no address that is not public; names are not resolved here.
/// Deliberate deviation: 127.0.0.0/8 and `localhost` pass, so tests can receive callbacks.
pub(in crate::oss) fn callback_host_allowed(host: Host<&str>) -> bool {
    match host {
        Host::Ipv6(_) => false,
        Host::Ipv4(ip) => ip.is_loopback() || public_v4(ip),
        Host::Domain(_) => true,
    }
}

/// Not RFC 1918, link-local, shared (RFC 6598), unspecified ("this network"), multicast or
/// broadcast.
fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b);
    !(ip.is_private()
        || ip.is_link_local()
        || shared
        || a == 0
        || ip.is_multicast()
        || ip.is_broadcast())
}

/// Whether the emulator may connect to `url`: only loopback, never a proxy (see `super`).
pub(in crate::oss) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        _ => false,
    }
}
