//! Object keys a caller names (to read back, or to continue an upload): the rules a key must pass
//! before anything is signed for it (protocol.md §16.5), and whether it lies under a prefix, one
//! whole `/`-separated segment at a time. Pure functions; no I/O, no policy, no notion of callers.

/// OSS keys are 1 to 1023 bytes of UTF-8 (protocol.md §16.5).
pub const MAX_KEY_BYTES: usize = 1023;

/// Why a key is refused (`400 invalid-key`); each says which rule it broke, never echoing the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is empty")]
    Empty,
    #[error("the key is longer than {MAX_KEY_BYTES} bytes")]
    TooLong,
    #[error("the key starts with `/`")]
    LeadingSlash,
    #[error("the key has a `.` or `..` segment")]
    DotSegment,
    #[error("the key contains `\\`")]
    Backslash,
    #[error("the key contains a control character")]
    ControlCharacter,
}

/// Checks `key` against the rules of protocol.md §16.5. OSS itself would store `a/../b` and
/// `a\b` as they are, but a CDN, proxy or browser in front of a custom domain may normalise such
/// a path into another key; refusing them keeps the key that was checked the key that is read.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong);
    }
    if key.starts_with('/') {
        return Err(KeyError::LeadingSlash);
    }
    if key.contains('\\') {
        return Err(KeyError::Backslash);
    }
    if key.chars().any(char::is_control) {
        return Err(KeyError::ControlCharacter);
    }
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(KeyError::DotSegment);
    }
    Ok(())
}

/// Whether `key` names an object under `prefix`, segment by segment: `uploads/alice` (with or
/// without its trailing `/`) holds `uploads/alice/a.jpg` but not `uploads/alice2/a.jpg`, nor
/// the bare `uploads/alice/`. An empty prefix holds nothing (a whole bucket is never a prefix
/// here). Validate the key first: this compares text only.
pub fn is_under(key: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return false;
    }
    key.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|name| !name.is_empty())
}

/// The first of `prefixes` holding `key`, if any.
pub fn first_holding<'p>(key: &str, prefixes: &'p [String]) -> Option<&'p str> {
    prefixes
        .iter()
        .map(String::as_str)
        .find(|prefix| is_under(key, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_pass() {
        for key in [
            "uploads/alice/a.jpg",
            "uploads/alice/photo 1 (copy).JPG",
            "uploads/alice/日本語/名前.png",
            "uploads/alice/.hidden",
            "uploads/alice/a..b",
            "uploads/alice/...",
            "k",
            "uploads/alice//a.jpg",
        ] {
            assert_eq!(validate_key(key), Ok(()), "{key}");
        }
        assert_eq!(validate_key(&"a".repeat(MAX_KEY_BYTES)), Ok(()));
    }

    #[test]
    fn each_rule_refuses() {
        let cases: &[(&str, KeyError)] = &[
            ("", KeyError::Empty),
            ("/uploads/alice/a.jpg", KeyError::LeadingSlash),
            ("uploads/alice/../bob/a.jpg", KeyError::DotSegment),
            ("uploads/alice/./a.jpg", KeyError::DotSegment),
            ("uploads/alice/..", KeyError::DotSegment),
            ("..", KeyError::DotSegment),
            ("./a", KeyError::DotSegment),
            ("uploads/alice\\..\\bob", KeyError::Backslash),
            ("uploads/alice/a\u{0}.jpg", KeyError::ControlCharacter),
            ("uploads/alice/a\n.jpg", KeyError::ControlCharacter),
            ("uploads/alice/a\u{7f}.jpg", KeyError::ControlCharacter),
            ("uploads/alice/a\u{85}.jpg", KeyError::ControlCharacter),
        ];
        for (key, expected) in cases {
            assert_eq!(validate_key(key), Err(*expected), "{key:?}");
        }
        assert_eq!(
            validate_key(&"a".repeat(MAX_KEY_BYTES + 1)),
            Err(KeyError::TooLong)
        );
        // Bytes, not characters: 342 three-byte characters are 1026 bytes.
        assert_eq!(validate_key(&"名".repeat(342)), Err(KeyError::TooLong));
    }

    #[test]
    fn the_message_never_echoes_the_key() {
        let key = "uploads/secret-name/../x";
        let message = validate_key(key).unwrap_err().to_string();
        assert!(!message.contains("secret-name"), "{message}");
    }

    #[test]
    fn prefixes_are_compared_by_whole_segments() {
        assert!(is_under("uploads/alice/a.jpg", "uploads/alice/"));
        assert!(is_under("uploads/alice/a.jpg", "uploads/alice"));
        assert!(is_under("uploads/alice/x/y/z", "uploads/alice/"));
        assert!(is_under("public/logo.png", "public/"));
        assert!(!is_under("uploads/alice2/a.jpg", "uploads/alice/"));
        assert!(!is_under("uploads/alice2/a.jpg", "uploads/alice"));
        assert!(!is_under("uploads/alice/", "uploads/alice/"));
        assert!(!is_under("uploads/alice", "uploads/alice/"));
        assert!(!is_under("uploads/bob/a.jpg", "uploads/alice/"));
        assert!(!is_under("a.jpg", ""));
        assert!(!is_under("a.jpg", "/"));
        assert!(!is_under("Uploads/alice/a.jpg", "uploads/alice/"));
    }

    #[test]
    fn the_first_prefix_that_holds_the_key() {
        let prefixes = vec!["uploads/alice/".to_owned(), "public/".to_owned()];
        assert_eq!(first_holding("public/a.png", &prefixes), Some("public/"));
        assert_eq!(
            first_holding("uploads/alice/a", &prefixes),
            Some("uploads/alice/")
        );
        assert_eq!(first_holding("private/a.png", &prefixes), None);
    }
}
