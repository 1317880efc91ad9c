//! RPC signature version 1.0 as STS checks it (protocol.md §2.1): the canonical string to sign built
//! from the decoded parameters and its HMAC-SHA1 with `secret + "&"`. It uses the emulator's own
//! encoder and HMAC (`crate::common`), never the broker's signer; only the comparison result and
//! the string to sign (which real STS echoes) leave it, never the secret.

use std::collections::BTreeMap;

use crate::common::{ct_eq, hmac_sha1_base64, percent_encode};

use super::errors::{fail_with, StsError};

/// protocol.md §2.1 steps 1–4: every parameter but `Signature`, sorted by raw name (BTreeMap order).
pub(super) fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    let canonical = (params.iter())
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical)
    )
}

/// protocol.md §2.1 step 5: Base64(HMAC-SHA1(secret + "&", string_to_sign)).
pub(super) fn sign(secret: &str, string_to_sign: &str) -> String {
    hmac_sha1_base64(format!("{secret}&").as_bytes(), string_to_sign.as_bytes())
}

/// protocol.md §2.1: recomputes the signature from the decoded parameters and compares it with the
/// `Signature` sent.
pub(super) fn verify(
    method: &str,
    params: &BTreeMap<String, String>,
    secret: &str,
) -> Result<(), StsError> {
    let string_to_sign = string_to_sign(method, params);
    let sent = params
        .get("Signature")
        .map(String::as_str)
        .unwrap_or_default();
    if !ct_eq(sign(secret, &string_to_sign).as_bytes(), sent.as_bytes()) {
        // Real STS echoes its string to sign (protocol.md §1.6); the broker must never leak it.
        let msg = format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}");
        return Err(fail_with("SignatureDoesNotMatch", msg));
    }
    Ok(())
}
