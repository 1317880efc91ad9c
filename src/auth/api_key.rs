//! `BROKER_AUTH=api-key`: configured keys, held only as SHA-256 digests with their caller id,
//! and the constant-time lookup of a presented key. Never stores, logs or prints a key.

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::policy::CallerId;

/// Keys longer than this are refused before hashing.
pub const MAX_KEY_LEN: usize = 1024;

#[derive(Clone)]
struct Entry {
    caller: CallerId,
    digest: [u8; 32],
}

/// The configured keys as `(caller id, SHA-256 digest)` pairs.
#[derive(Clone)]
pub struct ApiKeys {
    entries: Vec<Entry>,
}

/// Digests are not keys, but they are still kept out of logs: a weak key could be guessed
/// offline from its digest.
impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|e| format!("{}:[digest redacted]", e.caller.as_str())),
            )
            .finish()
    }
}

/// One parsed `caller:<hex digest>` entry.
pub struct ParsedEntry(Entry);

impl ApiKeys {
    /// Parses `caller:<64 hex digits>` items; messages name the entry by position only.
    pub fn parse_entries<'a>(
        items: impl Iterator<Item = &'a str>,
    ) -> Result<Vec<ParsedEntry>, String> {
        let mut out = Vec::new();
        for (i, item) in items.map(str::trim).enumerate() {
            let n = i + 1;
            if item.is_empty() {
                continue;
            }
            let (caller, hex_digest) = item.rsplit_once(':').ok_or(format!(
                "entry {n} is not `caller:<hex SHA-256 of the key>`"
            ))?;
            let caller =
                CallerId::parse(caller.trim()).map_err(|reason| format!("entry {n}: {reason}"))?;
            let bytes = hex::decode(hex_digest.trim())
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or(format!(
                    "entry {n}: the digest must be 64 hex digits (SHA-256 of the key)"
                ))?;
            let mut digest = [0u8; 32];
            digest.copy_from_slice(&bytes);
            out.push(ParsedEntry(Entry { caller, digest }));
        }
        Ok(out)
    }

    pub fn new(entries: Vec<ParsedEntry>) -> Result<Self, String> {
        let entries: Vec<Entry> = entries.into_iter().map(|e| e.0).collect();
        if entries.is_empty() {
            return Err("no keys configured".into());
        }
        for (i, a) in entries.iter().enumerate() {
            if entries[..i].iter().any(|b| b.digest == a.digest) {
                return Err(format!(
                    "the key of `{}` is listed twice; every key must be unique",
                    a.caller.as_str()
                ));
            }
        }
        Ok(Self { entries })
    }

    /// The caller a presented key belongs to. Every digest is compared, in constant time, so
    /// timing does not tell how much of a digest matched.
    pub fn caller_for(&self, presented: &str) -> Option<CallerId> {
        if presented.is_empty() || presented.len() > MAX_KEY_LEN {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(&digest)) {
                found = Some(entry.caller.clone());
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SHA-256("abc") from FIPS 180-2, Appendix B.1.
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn lookup_by_digest() {
        let keys = ApiKeys::new(
            ApiKeys::parse_entries([format!("alice:{ABC}").as_str()].into_iter()).unwrap(),
        )
        .unwrap();
        assert_eq!(keys.caller_for("abc").unwrap().as_str(), "alice");
        assert!(keys.caller_for("abd").is_none());
        assert!(keys.caller_for("").is_none());
        assert!(!format!("{keys:?}").contains(ABC));
    }

    #[test]
    fn bad_entries() {
        for bad in [
            "alice",
            "alice:xyz",
            "alice:abcd",
            "../bob:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "a*:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ] {
            let err = ApiKeys::parse_entries([bad].into_iter()).err().expect(bad);
            assert!(err.starts_with("entry 1"), "{err}");
            assert!(!err.contains(ABC));
        }
        let dup = format!("a:{ABC},b:{ABC}");
        assert!(ApiKeys::new(ApiKeys::parse_entries(dup.split(',')).unwrap()).is_err());
    }
}
