//! The upload-callback signature of protocol.md §9.4: the emulator's own 512-bit RSA key (made
//! when the emulator starts, never written anywhere), the string OSS signs — the URL-decoded
//! path, then the raw query with its `?` when there is one, `\n`, the body exactly as sent — and
//! RSASSA-PKCS1-v1_5 with MD5 over it, Base64. It also verifies such a signature with a PEM
//! public key, for the emulator's own tests and for test receivers. It must never sign with, or
//! accept, any other hash, and never logs a key or a signature.

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use md5::{Digest as _, Md5};
use rsa::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use rsa::rand_core::OsRng;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};

use crate::common::percent_decode;

/// protocol.md §5.7: OSS's own callback key is 512 bits; the emulator's is too.
const KEY_BITS: usize = 512;

/// The emulator's callback signing key.
pub(in crate::oss) struct CallbackKey {
    private: RsaPrivateKey,
    public_pem: String,
}

impl CallbackKey {
    /// A fresh key from the operating system's RNG.
    pub(in crate::oss) fn generate() -> std::io::Result<CallbackKey> {
        let private = RsaPrivateKey::new(&mut OsRng, KEY_BITS).map_err(std::io::Error::other)?;
        let public_pem = RsaPublicKey::from(&private)
            .to_public_key_pem(LineEnding::LF)
            .map_err(std::io::Error::other)?;
        Ok(CallbackKey {
            private,
            public_pem,
        })
    }

    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), as OSS publishes its own.
    pub(in crate::oss) fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// The `Authorization` header value for a callback to `target` (path and query as sent)
    /// carrying `body`.
    pub(in crate::oss) fn sign(&self, target: &str, body: &[u8]) -> String {
        let digest = Md5::digest(string_to_sign(target, body));
        let signature = self
            .private
            .sign(Pkcs1v15Sign::new::<Md5>(), &digest)
            .expect("a 512-bit key signs a 16-byte MD5 digest");
        B64.encode(signature)
    }
}

/// protocol.md §9.4: `unquote(path) + ?query + "\n" + body`, where `target` is the request target
/// as sent (`/index.php?id=1&index=2`). Only the path is decoded; the query stays raw and keeps
/// its `?`; an empty query adds no `?`.
pub(in crate::oss) fn string_to_sign(target: &str, body: &[u8]) -> Vec<u8> {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) if !query.is_empty() => (path, Some(query)),
        Some((path, _)) => (path, None),
        None => (target, None),
    };
    let mut out = percent_decode(path).unwrap_or_else(|| path.to_owned());
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out.push('\n');
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Whether `authorization` (Base64) is the RSA-MD5 signature of protocol.md §9.4 over a callback
/// to `target` carrying `body`, under the SubjectPublicKeyInfo PEM `public_key_pem`.
pub fn verify_callback_signature(
    public_key_pem: &str,
    target: &str,
    body: &[u8],
    authorization: &str,
) -> bool {
    let Ok(key) = RsaPublicKey::from_public_key_pem(public_key_pem) else {
        return false;
    };
    let Ok(signature) = B64.decode(authorization.trim()) else {
        return false;
    };
    let digest = Md5::digest(string_to_sign(target, body));
    key.verify(Pkcs1v15Sign::new::<Md5>(), &digest, &signature)
        .is_ok()
}
