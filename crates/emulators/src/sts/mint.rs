//! Where the STS emulator's temporary credentials are born: random key ids, secrets and
//! `CAIS…` tokens, and [`issue`], which records each credential so later requests (to STS or
//! OSS) can be checked against it. It checks no request and never logs what it mints.

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::errors::{fail, StsError};
use super::{Inner, Issued, IssuedCredential};

pub(super) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub(super) const DIGITS: &[u8] = b"0123456789";

/// Mints and remembers a temporary credential for the role at `role_index`: the one place
/// credentials are born, whichever way they are asked for.
pub(super) fn issue(
    inner: &Inner,
    role_index: usize,
    session: &str,
    policy: Option<Value>,
    duration: u32,
    now: DateTime<Utc>,
) -> Result<IssuedCredential, StsError> {
    let (role, role_id) = &inner.roles[role_index];
    // Second precision, so `issued().expiration` equals the `Expiration` the client parses.
    let expiration = DateTime::from_timestamp(now.timestamp() + i64::from(duration), 0)
        .ok_or_else(|| fail("InternalError"))?;
    let cred = IssuedCredential {
        access_key_id: format!("STS.{}", random_from(ALNUM, 28)),
        access_key_secret: random_from(ALNUM, 40),
        security_token: mint_token(),
        expiration,
        role_arn: format!("acs:ram::{}:role/{}", inner.account_id, role.name),
        role_session_name: session.to_owned(),
        policy,
        duration_seconds: duration,
    };
    inner.state().issued.insert(
        cred.access_key_id.clone(),
        Issued {
            cred: cred.clone(),
            role_id: role_id.clone(),
        },
    );
    Ok(cred)
}

/// Uniform random bytes from UUIDv4s, skipping the bytes that carry version/variant bits.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 14);
    while out.len() < n {
        let u = uuid::Uuid::new_v4().into_bytes();
        out.extend(
            (u.iter().enumerate())
                .filter(|(i, _)| *i != 6 && *i != 8)
                .map(|(_, b)| *b),
        );
    }
    out.truncate(n);
    out
}

pub(super) fn random_from(alphabet: &[u8], n: usize) -> String {
    // Rejection sampling keeps the distribution uniform.
    let limit = 256 - 256 % alphabet.len();
    let mut s = String::with_capacity(n);
    while s.len() < n {
        for b in random_bytes(n).into_iter().map(usize::from) {
            if b < limit && s.len() < n {
                s.push(char::from(alphabet[b % alphabet.len()]));
            }
        }
    }
    s
}

/// `CAIS` + base64 of 900–902 random bytes: longer than any real token seen (protocol.md §6) and, two
/// times in three, `=`-padded, so clients must encode it properly.
pub(super) fn mint_token() -> String {
    let extra = usize::from(random_bytes(1)[0] % 3);
    format!("CAIS{}", B64.encode(random_bytes(900 + extra)))
}
