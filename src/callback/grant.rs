//! The grant a server-signed form's callback body carries: the broker's HMAC over the caller,
//! the profile, the directory and an expiry. OSS signs whatever body a form names, so without
//! it a client that signs its own forms (with a `/getToken` credential) could make OSS deliver
//! a callback naming another caller; `/ossCallback` forwards only bodies whose grant verifies.

use secrecy::{ExposeSecret as _, SecretString};

use crate::encoding::hmac_sha256;

/// What a grant vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantFacts<'a> {
    pub caller: &'a str,
    pub profile: &'a str,
    pub dir: &'a str,
    /// Unix seconds after which the grant is refused.
    pub expires: i64,
}

fn mac(secret: &SecretString, facts: &GrantFacts<'_>) -> String {
    let message = format!(
        "v1\n{}\n{}\n{}\n{}",
        facts.caller, facts.profile, facts.dir, facts.expires
    );
    hex::encode(hmac_sha256(
        secret.expose_secret().as_bytes(),
        message.as_bytes(),
    ))
}

/// `v1.<expires>.<hex HMAC-SHA256>`.
pub fn sign(secret: &SecretString, facts: &GrantFacts<'_>) -> String {
    format!("v1.{}.{}", facts.expires, mac(secret, facts))
}

/// Why a grant was refused (for the audit line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRefusal {
    Malformed,
    Forged,
    Expired,
}

/// Checks `grant` for `facts` (whose `expires` is ignored: the grant's own is used) at `now`.
pub fn verify(
    secret: &SecretString,
    grant: &str,
    facts: GrantFacts<'_>,
    now: i64,
) -> Result<(), GrantRefusal> {
    let mut parts = grant.splitn(3, '.');
    let (Some("v1"), Some(expires), Some(given)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(GrantRefusal::Malformed);
    };
    // Exactly as the broker writes it: `+1000` or `01000` parse to the same number, but a
    // grant has one spelling.
    let written = expires;
    let expires: i64 = expires.parse().map_err(|_| GrantRefusal::Malformed)?;
    if expires.to_string() != written {
        return Err(GrantRefusal::Malformed);
    }
    let expected = mac(secret, &GrantFacts { expires, ..facts });
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        given.as_bytes(),
    )) {
        return Err(GrantRefusal::Forged);
    }
    if now > expires {
        return Err(GrantRefusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_verifies_only_for_what_it_was_made_for() {
        let secret = SecretString::from("0123456789abcdef0123456789abcdef".to_owned());
        let facts = GrantFacts {
            caller: "alice",
            profile: "avatar",
            dir: "avatars/alice/",
            expires: 1_000,
        };
        let grant = sign(&secret, &facts);
        // Independently computed: printf 'v1\nalice\navatar\navatars/alice/\n1000' |
        // openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
        assert_eq!(
            grant,
            "v1.1000.62e6d9143ea7f84f5db2eeb3f882a7eab04774403be9ecf386a1badd14ef7a21"
        );
        assert_eq!(verify(&secret, &grant, facts.clone(), 999), Ok(()));
        assert_eq!(
            verify(&secret, &grant, facts.clone(), 1_001),
            Err(GrantRefusal::Expired)
        );
        for other in [
            GrantFacts {
                caller: "bob",
                ..facts.clone()
            },
            GrantFacts {
                profile: "docs",
                ..facts.clone()
            },
            GrantFacts {
                dir: "avatars/bob/",
                ..facts.clone()
            },
        ] {
            assert_eq!(verify(&secret, &grant, other, 0), Err(GrantRefusal::Forged));
        }
        // `+1000` is the same number to a parser, but not what the broker wrote.
        for spelling in ["v1.+1000.", "v1.01000.", "v1. 1000."] {
            let respelt = grant.replace("v1.1000.", spelling);
            assert_eq!(
                verify(&secret, &respelt, facts.clone(), 0),
                Err(GrantRefusal::Malformed),
                "{spelling}"
            );
        }
        let longer = grant.replace("v1.1000.", "v1.9999.");
        assert_eq!(
            verify(&secret, &longer, facts.clone(), 0),
            Err(GrantRefusal::Forged)
        );
        assert_eq!(
            verify(&secret, "nonsense", facts, 0),
            Err(GrantRefusal::Malformed)
        );
    }
}
