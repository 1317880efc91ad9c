//! Whether a secret is too weak to be one: too short, too few different bytes, or a short part
//! repeated. Used for HS256 secrets, the callback secret and the fleet's seal key. No I/O, and
//! the answer never quotes the secret.

/// Secrets shorter than this are refused (for HS256, RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Secrets with fewer different bytes than this are refused (`aaaa…`, `abab…`).
pub const MIN_DISTINCT_BYTES: usize = 8;

/// The length of the shortest `p` with `s[i] == s[i + p]` throughout (`s.len()` when none is
/// shorter): the Knuth-Morris-Pratt failure function of the whole string.
fn shortest_period(s: &[u8]) -> usize {
    let mut fail = vec![0usize; s.len()];
    for i in 1..s.len() {
        let mut k = fail[i - 1];
        while k > 0 && s[i] != s[k] {
            k = fail[k - 1];
        }
        if s[i] == s[k] {
            k += 1;
        }
        fail[i] = k;
    }
    s.len() - fail.last().copied().unwrap_or(0)
}

/// Why `secret` is too weak to be a secret, if it is. The answer is fixed text that
/// never contains the secret or anything computed from it.
///
/// Besides the length, it refuses secrets with little variety: fewer than
/// [`MIN_DISTINCT_BYTES`] different bytes, or made mostly of one short part repeated
/// (`changemechangeme…`): one part at least twice over and nothing else, or fewer different
/// 4-byte windows than half the number of windows. A random secret of 32 bytes or more, even of
/// decimal digits only, passes all of these by a wide margin.
pub fn weak_secret(secret: &[u8]) -> Option<&'static str> {
    if secret.len() < MIN_SECRET_BYTES {
        return Some("must be at least 32 bytes");
    }
    let distinct = secret
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct < MIN_DISTINCT_BYTES {
        return Some(
            "has too little variety to be a secret (fewer than 8 different bytes); \
             generate one, e.g. with `openssl rand -base64 32`",
        );
    }
    let windows = secret.len() - 3;
    let distinct_windows = secret
        .windows(4)
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct_windows * 2 < windows || shortest_period(secret) * 2 <= secret.len() {
        return Some(
            "has too little variety to be a secret (a short part repeated); generate one, \
             e.g. with `openssl rand -base64 32`",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(shortest_period(b"abcabcab"), 3);
        assert_eq!(shortest_period(b"aaaa"), 1);
        assert_eq!(shortest_period(b"abcd"), 4);
        assert_eq!(shortest_period(b"abab"), 2);
        assert_eq!(shortest_period(b"aab"), 3);
    }

    #[test]
    fn secrets_need_length_and_variety() {
        for weak in [
            "short".to_owned(),
            "a".repeat(32),
            "ab".repeat(16),
            "changeme".repeat(4),
            "changeme".repeat(5) + "!",
            "0123456789abcdef".repeat(2),
            "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbcccccccccc".to_owned(),
            "passwordpasswordpasswordpassword2024".to_owned(),
        ] {
            assert!(weak_secret(weak.as_bytes()).is_some(), "{weak}");
        }
        for fine in [
            // `openssl rand -base64 32`, `openssl rand -hex 32`, and 32 random decimal digits.
            "q2mJc1Jk8bVd0yCkO7PpZyH3wR6tL9sXf4nE5aU1gIo=",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "80521947361029384756601928374650",
            "test-only-hs256-secret-0123456789abcdef",
        ] {
            assert_eq!(weak_secret(fine.as_bytes()), None, "{fine}");
        }
        // The message never carries the secret.
        let secret = "changeme".repeat(4);
        assert!(!weak_secret(secret.as_bytes()).unwrap().contains("changeme"));
    }
}
