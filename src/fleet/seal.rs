//! Sealing credentials for the fleet store: AES-256-GCM with a random 96-bit nonce, the value's
//! Redis key as associated data (so a value copied to another scope's key does not open), and
//! the first bytes of the key's digest naming which key sealed it (for rotation). A value that
//! does not open is `None`, never an error with its content.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest as _, Sha256};

use crate::secret_strength::weak_secret;

/// Layout: version (1) | key id (4) | nonce (12) | ciphertext and tag.
const VERSION: u8 = 1;
const HEADER: usize = 1 + 4 + 12;

/// One AES-256 key and its id.
pub struct SealKey {
    key: SecretBox<[u8; 32]>,
    id: [u8; 4],
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({})", hex::encode(self.id))
    }
}

impl Clone for SealKey {
    fn clone(&self) -> Self {
        Self {
            key: SecretBox::new(Box::new(*self.key.expose_secret())),
            id: self.id,
        }
    }
}

impl SealKey {
    /// Base64 of exactly 32 bytes; refused when it is a placeholder or the bytes have too
    /// little variety to be random (`secret_strength`). The message never quotes the value.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.contains("REPLACE_WITH") {
            return Err("is still the example value from .env.example; generate a key with `openssl rand -base64 32`".into());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .map_err(|_| {
                "must be Base64 (e.g. the output of `openssl rand -base64 32`)".to_owned()
            })?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("must decode to exactly 32 bytes, not {}", b.len()))?;
        if let Some(reason) = weak_secret(&key) {
            return Err(format!("decodes to a key that {reason}"));
        }
        let digest = Sha256::digest(key);
        Ok(Self {
            id: [digest[0], digest[1], digest[2], digest[3]],
            key: SecretBox::new(Box::new(key)),
        })
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.expose_secret().into())
    }
}

/// The current key seals; the current and the previous one open.
#[derive(Debug, Clone)]
pub struct SealKeys {
    pub current: SealKey,
    pub previous: Option<SealKey>,
}

impl SealKeys {
    /// Seals `plaintext` for the Redis key `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        // A fresh nonce from the operating system's CSPRNG for every value.
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .current
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM sealing of a small value cannot fail");
        let mut out = Vec::with_capacity(HEADER + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value sealed for `aad`; `None` when it is truncated, tampered with, sealed for
    /// another key or with a key this replica does not have.
    pub fn open(&self, aad: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        if value.len() < HEADER + 16 || value[0] != VERSION {
            return None;
        }
        let id = &value[1..5];
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == id)?;
        key.cipher()
            .decrypt(
                Nonce::from_slice(&value[5..HEADER]),
                Payload {
                    msg: &value[HEADER..],
                    aad,
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fill: u8) -> SealKey {
        let bytes: [u8; 32] = std::array::from_fn(|i| fill.wrapping_add((i * i * 7 + i) as u8));
        SealKey::parse(&base64::engine::general_purpose::STANDARD.encode(bytes)).unwrap()
    }

    #[test]
    fn keys_are_validated_without_quoting_them() {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        for (raw, expect) in [
            (
                "REPLACE_WITH_32_RANDOM_BYTES_BASE64".to_owned(),
                "still the example value",
            ),
            ("not base64!".to_owned(), "Base64"),
            (b64(&[7; 16]), "exactly 32 bytes, not 16"),
            (b64(&[0; 32]), "too little variety"),
            (b64(&b"ab".repeat(16)), "too little variety"),
            (b64(&b"abcdefgh".repeat(4)), "a short part repeated"),
        ] {
            let err = SealKey::parse(&raw).unwrap_err();
            assert!(err.contains(expect), "{err}");
            assert!(!err.contains(&raw), "the value is quoted: {err}");
        }
        assert!(SealKey::parse(&b64(&[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
            25, 26, 27, 28, 29, 30, 31, 32
        ]))
        .is_ok());
    }

    #[test]
    fn sealed_values_open_only_for_their_key_and_aad() {
        let keys = SealKeys {
            current: key(9),
            previous: None,
        };
        let sealed = keys.seal(b"scope-a", b"secret credential");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            keys.open(b"scope-a", &sealed).unwrap(),
            b"secret credential"
        );
        assert!(
            keys.open(b"scope-b", &sealed).is_none(),
            "replayed for another scope"
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(keys.open(b"scope-a", &tampered).is_none());
        assert!(keys.open(b"scope-a", &sealed[..sealed.len() - 1]).is_none());
        assert!(keys.open(b"scope-a", b"").is_none());
        let other = SealKeys {
            current: key(3),
            previous: None,
        };
        assert!(other.open(b"scope-a", &sealed).is_none(), "unknown key");
    }

    #[test]
    fn the_previous_key_still_opens_during_rotation() {
        let old = SealKeys {
            current: key(9),
            previous: None,
        };
        let sealed = old.seal(b"k", b"v");
        let rotated = SealKeys {
            current: key(4),
            previous: Some(key(9)),
        };
        assert_eq!(rotated.open(b"k", &sealed).unwrap(), b"v");
        let resealed = rotated.seal(b"k", b"v");
        assert!(old.open(b"k", &resealed).is_none());
    }
}
