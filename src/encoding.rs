//! The byte-level primitives every signer shares: the one percent-encoder (RPC and OSS V4 use
//! the same unreserved set, protocol.md §2.1 and §5.5) and the HMAC helpers. No I/O, no clock;
//! keys are only borrowed.

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;
use sha2::Sha256;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes with the RPC rule (protocol.md §2.1): `A-Z a-z 0-9 - _ . ~` stay, every
/// other UTF-8 byte becomes `%XY` with upper-case hex (so space is `%20`, `*` is `%2A`).
pub fn percent_encode(input: &str) -> String {
    encode(input, false)
}

/// As [`percent_encode`], but `/` stays: the URI path of OSS V4 header signing.
pub fn percent_encode_path(input: &str) -> String {
    encode(input, true)
}

/// Decodes `%XY` escapes (any case); everything else, a malformed `%` included, stays as it
/// is. `+` is not a space here: this is for paths, not form bodies.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn encode(input: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len() * 3);
    for &byte in input.as_bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// HMAC-SHA1 of `data` keyed with `key` as given.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Base64 (standard alphabet, padded) of [`hmac_sha1`].
pub fn hmac_sha1_base64(key: &[u8], data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha1(key, data))
}

/// HMAC-SHA256 of `data` keyed with `key` as given.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_encoding_keeps_only_the_slash() {
        assert_eq!(percent_encode_path("a b/c*~"), "a%20b/c%2A~");
        assert_eq!(percent_encode("a b/c*~"), "a%20b%2Fc%2A~");
    }

    #[test]
    fn hmac_rfc2202_and_rfc4231_vectors() {
        // RFC 2202 test case 2 (HMAC-SHA1) and RFC 4231 test case 2 (HMAC-SHA256).
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
