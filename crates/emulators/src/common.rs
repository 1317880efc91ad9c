//! The small pieces of the emulators' own verification code that STS and OSS both need: RPC
//! percent-encoding and URL-path decoding, HMAC-SHA1/HMAC-SHA256, a constant-time comparison,
//! ISO 8601 UTC timestamps, RAM wildcards, session-policy evaluation and a lock that survives a
//! panicking handler. One copy of each, so the emulators cannot drift apart. It must never import
//! the broker's code (the emulators check the broker with their own), and it knows no service's
//! error codes or wire shapes.

use std::sync::{Mutex, MutexGuard};

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha1::Sha1;
use sha2::Sha256;

/// Locks `mutex`, taking over the state of a handler that panicked while holding it: a
/// panicking handler must not wedge every later request.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// protocol.md §2.1 step 2: form-urlencode, then `+`→`%20`, `*`→`%2A`, `%7E`→`~`. What is left
/// unescaped is exactly RFC 3986's unreserved set (letters, digits, `-`, `_`, `.`, `~`), which is
/// also OSS V4's `UriEncode`.
pub(crate) fn percent_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
        .replace('*', "%2A")
        .replace("%7E", "~")
}

/// [`percent_encode`] that leaves `/` as it is (OSS V4 canonical URIs). Every `%` of the encoded
/// text starts an escape, so `%2F` there can only be an encoded `/`.
pub(crate) fn percent_encode_path(s: &str) -> String {
    percent_encode(s).replace("%2F", "/")
}

/// `%XX` decoding of a URL path segment; `None` for malformed escapes or non-UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Base64(HMAC-SHA1(key, data)): STS RPC signatures and OSS V1 form signatures.
pub(crate) fn hmac_sha1_base64(key: &[u8], data: &[u8]) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    B64.encode(mac.finalize().into_bytes())
}

/// HMAC-SHA256(key, data): OSS V4 key derivation and signatures.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Compares secrets and signatures without an early exit on the first differing byte.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `YYYY-MM-DDTHH:MM:SSZ`, optionally with 1–9 fractional digits (ali-oss sends milliseconds).
pub(crate) fn parse_utc_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let body = s.strip_suffix('Z')?;
    let (main, frac) = match body.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (body, None),
    };
    // chrono tolerates unpadded fields; the wire format does not.
    if main.len() != 19 {
        return None;
    }
    let at = NaiveDateTime::parse_from_str(main, "%Y-%m-%dT%H:%M:%S")
        .ok()?
        .and_utc();
    match frac {
        None => Some(at),
        Some(f) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            Some(at + Duration::nanoseconds(format!("{f:0<9}").parse().ok()?))
        }
        Some(_) => None,
    }
}

/// RAM wildcards, case-sensitive: `*` any run and, when `question_mark` is set, `?` one
/// character.
pub(crate) fn wildcard(pattern: &str, text: &str, question_mark: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let one = |c: char| question_mark && c == '?';
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (one(p[pi]) || (p[pi] != '*' && p[pi] == t[ti])) {
            (pi, ti) = (pi + 1, ti + 1);
        } else if pi < p.len() && p[pi] == '*' {
            (star, mark, pi) = (Some(pi), ti, pi + 1);
        } else if let Some(s) = star {
            (pi, mark) = (s + 1, mark + 1);
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A non-empty string, or a non-empty array of strings.
pub(crate) fn string_list(v: Option<&Value>) -> Option<Vec<&str>> {
    match v? {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) if !a.is_empty() => a.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// Session-policy evaluation: an explicit Deny wins, otherwise some Allow statement must match.
/// Actions match case-insensitively with `*` and `?`; `resource`, when given, case-sensitively.
/// Every policy reaching here passed the STS emulator's grammar check when it was issued.
pub(crate) fn policy_allows(policy: &Value, action: &str, resource: Option<&str>) -> bool {
    let statements = policy["Statement"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let action = action.to_ascii_lowercase();
    let matches = |s: &Value| {
        string_list(s.get("Action"))
            .is_some_and(|l| (l.iter()).any(|a| wildcard(&a.to_ascii_lowercase(), &action, true)))
            && resource.is_none_or(|r| {
                string_list(s.get("Resource"))
                    .is_some_and(|l| l.iter().any(|pat| wildcard(pat, r, true)))
            })
    };
    let effect =
        |e: &str| (statements.iter()).any(|s| s["Effect"].as_str() == Some(e) && matches(s));
    !effect("Deny") && effect("Allow")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OSS V4 `UriEncode` the OSS emulator used before it shared [`percent_encode`]: a byte
    /// table, kept here to show the shared encoder is the same function.
    fn uri_encode(s: &str, keep_slash: bool) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric()
                    || matches!(b, b'-' | b'_' | b'.' | b'~')
                    || (keep_slash && b == b'/')
                {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[test]
    fn percent_encoders_equal_the_oss_byte_table() {
        let every_ascii: String = (0u8..128).map(char::from).collect();
        for s in [
            every_ascii.as_str(),
            "/bucket/uploads/a b+c*~%2F%25/中文",
            "%2F",
            "",
        ] {
            assert_eq!(percent_encode(s), uri_encode(s, false), "{s:?}");
            assert_eq!(percent_encode_path(s), uri_encode(s, true), "{s:?}");
        }
    }

    #[test]
    fn wildcards_with_and_without_question_marks() {
        assert!(wildcard("a*b*c", "axxbyyc", false) && !wildcard("a*b", "axxc", false));
        assert!(wildcard("a?c", "abc", true) && !wildcard("a?c", "abc", false));
        assert!(wildcard("a?c", "a?c", false) && !wildcard("a?c", "ac", true));
        assert!(wildcard("中*", "中文", true) && !wildcard("A*", "a", true));
    }

    #[test]
    fn timestamps_keep_their_fraction() {
        let at = parse_utc_timestamp("2024-01-01T01:00:00.5Z").expect("valid");
        assert_eq!(at.timestamp_subsec_millis(), 500);
        for bad in ["2024-01-01T01:00:00.Z", "2024-01-01T01:00:00.1234567890Z"] {
            assert!(parse_utc_timestamp(bad).is_none(), "{bad}");
        }
    }
}
