//! OSS's callback signature (protocol.md §5.7, §9.4): RSA (PKCS#1 v1.5) with MD5 over the
//! URL-decoded path, the raw query with its `?`, a newline and the body as received. Pure: the
//! key comes from the caller; OSS's key is 512 bits, which `rsa` 0.9 accepts.

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use md5::Md5;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::{Pkcs1v15Sign, RsaPublicKey};

/// The string OSS signs for a callback to `path_and_query` with `body`.
pub fn string_to_verify(path_and_query: &str, body: &[u8]) -> Vec<u8> {
    let (path, query) = match path_and_query.find('?') {
        Some(at) => path_and_query.split_at(at),
        None => (path_and_query, ""),
    };
    let decoded = crate::encoding::percent_decode(path);
    // An empty query (a bare `?`) adds nothing.
    let query = if query == "?" { "" } else { query };
    let mut out = Vec::with_capacity(decoded.len() + query.len() + 1 + body.len());
    out.extend_from_slice(&decoded);
    out.extend_from_slice(query.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

/// A PEM (`BEGIN PUBLIC KEY`) or Base64 SPKI DER public key.
pub fn parse_public_key(text: &str) -> Result<RsaPublicKey, String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return RsaPublicKey::from_public_key_pem(text)
            .map_err(|_| "is not a PEM RSA public key (-----BEGIN PUBLIC KEY-----)".to_owned());
    }
    let der = B64
        .decode(text)
        .map_err(|_| "is neither PEM nor Base64 DER".to_owned())?;
    RsaPublicKey::from_public_key_der(&der).map_err(|_| "is not an RSA public key".to_owned())
}

/// Whether `authorization` (Base64 of the signature) signs `message` with `key`.
pub fn verify(key: &RsaPublicKey, authorization: &str, message: &[u8]) -> bool {
    let Ok(signature) = B64.decode(authorization.trim()) else {
        return false;
    };
    let digest = <Md5 as md5::Digest>::digest(message);
    key.verify(Pkcs1v15Sign::new::<Md5>(), &digest, &signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OSS's callback key (protocol.md §5.7), SPKI DER in Base64.
    const OSS_KEY: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKs/JBGzwUB2aVht4crBx3oIPBLNsjGsC0fTXv+nvlmklvkcolvpvXLTjaxUHR3W9LXxQ2EHXAJfCB+6H2YF1k8CAwEAAQ==";

    #[test]
    fn published_vectors() {
        let key = parse_public_key(OSS_KEY).unwrap();
        // protocol.md §9.4 (a): the official example verifies...
        let a = "kKQeGTRccDKyHB3H9vF+xYMSrmhMZjzzl2/kdD1ktNVgbWEfYTQG0G2SU/RaHBovRCE8OkQDjC3uG33esH2txA==";
        let message = string_to_verify("/index.php?id=1&index=2", b"bucket=yonghu-test");
        assert_eq!(message, b"/index.php?id=1&index=2\nbucket=yonghu-test");
        assert!(verify(&key, a, &message));
        // (b) ...but not over the current page's body.
        assert!(!verify(
            &key,
            a,
            &string_to_verify("/index.php?id=1&index=2", b"bucket=examplebucket")
        ));
        // (c) Cloudreve's captured callback: path + "\n" + body, no `?` inserted.
        let body = br#"{"name":"2f7b2ccf30e9270ea920f1ab8a4037a546a2f0d5.jpg","source_name":"1/1_hFRtDLgM_2f7b2ccf30e9270ea920f1ab8a4037a546a2f0d5.jpg","size":114020,"pic_info":"810,539"}"#;
        let c = "e5LwzwTkP9AFAItT4YzvdJOHd0Y0wqTMWhsV/h5SG90JYGAmMd+8LQyj96R+9qUfJWjMt6suuUh7LaOryR87Dw==";
        let path = "/api/v3/callback/oss/TnXx5E5VyfJUyM1UdkdDu1rtnJ34EbmH";
        assert!(verify(&key, c, &string_to_verify(path, body)));
        let with_question_mark: Vec<u8> = format!("{path}?\n")
            .bytes()
            .chain(body.iter().copied())
            .collect();
        assert!(
            !verify(&key, c, &with_question_mark),
            "a `?` is never inserted"
        );
    }

    #[test]
    fn only_the_path_is_decoded() {
        assert_eq!(
            string_to_verify("/a%20b/c?x=%20", b"B"),
            b"/a b/c?x=%20\nB".to_vec()
        );
        assert_eq!(string_to_verify("/p?", b"B"), b"/p\nB".to_vec());
    }
}
