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
    encode_into(&mut out, input, keep_slash);
    out
}

/// Appends [`percent_encode`] of `input` to `out`, without a string of its own: signers build
/// a URL's query in one buffer.
pub fn percent_encode_into(out: &mut String, input: &str) {
    encode_into(out, input, false);
}

/// Appends [`percent_encode_path`] of `input` to `out`.
pub fn percent_encode_path_into(out: &mut String, input: &str) {
    encode_into(out, input, true);
}

/// Whether `byte` stays as it is (the unreserved set, and `/` in paths).
fn stays(byte: u8, keep_slash: bool) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(byte, b'-' | b'_' | b'.' | b'~')
        || (keep_slash && byte == b'/')
}

/// Runs of bytes that stay are copied whole; each other byte becomes `%XY`.
fn encode_into(out: &mut String, input: &str, keep_slash: bool) {
    let bytes = input.as_bytes();
    out.reserve(bytes.len());
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if stays(byte, keep_slash) {
            continue;
        }
        // Only ASCII bytes that stay were skipped, so a non-empty `start..i` is whole chars
        // (an empty one may sit inside a multi-byte char, and is not sliced).
        if start < i {
            out.push_str(&input[start..i]);
        }
        out.push('%');
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        start = i + 1;
    }
    if start < bytes.len() {
        out.push_str(&input[start..]);
    }
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
    fn encoding_into_a_buffer_appends_the_same_bytes() {
        // RFC 3986 unreserved set only; UTF-8 bytes one by one (protocol.md §2.1).
        let mut out = "x=".to_owned();
        percent_encode_into(&mut out, "CAIS+/=ab\u{e9}");
        assert_eq!(out, "x=CAIS%2B%2F%3Dab%C3%A9");
        let mut path = String::new();
        percent_encode_path_into(&mut path, "a/\u{e9} b");
        assert_eq!(path, "a/%C3%A9%20b");
        assert_eq!(percent_encode(""), "");
        assert_eq!(percent_encode("%"), "%25");
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
