//! Session policies and session names, serialised from structs, never assembled from strings:
//! the inline policy limiting a credential to one directory's uploads (refused above STS's
//! 2048 characters) and the `RoleSessionName` of a caller.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::BucketName;

/// STS refuses session policies longer than this (protocol.md §1.2, current docs).
pub const MAX_SESSION_POLICY_CHARS: usize = 2048;

/// Object-write actions a client needs for PutObject, PostObject and multipart uploads.
pub const UPLOAD_ACTIONS: [&str; 6] = [
    "oss:PutObject",
    "oss:InitiateMultipartUpload",
    "oss:UploadPart",
    "oss:CompleteMultipartUpload",
    "oss:AbortMultipartUpload",
    "oss:ListParts",
];

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyDocument<'a> {
    version: &'static str,
    statement: [Statement<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Statement<'a> {
    effect: &'static str,
    action: &'a [&'static str],
    resource: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the session policy is {len} characters; STS accepts at most {MAX_SESSION_POLICY_CHARS}")]
pub struct PolicyTooLarge {
    pub len: usize,
}

/// The minified inline session policy allowing only object writes under `dir` of `bucket`.
/// `dir` comes from [`super::UploadPrefix::render`] and therefore holds no wildcard.
pub fn upload_session_policy(bucket: &BucketName, dir: &str) -> Result<String, PolicyTooLarge> {
    object_session_policy(bucket, dir, &UPLOAD_ACTIONS)
}

/// [`UPLOAD_ACTIONS`] and `oss:GetObject`: a caller's credential when its profile's downloads
/// are on, so SDKs can sign URLs for what it uploaded.
pub const UPLOAD_AND_READ_ACTIONS: [&str; 7] = [
    "oss:PutObject",
    "oss:InitiateMultipartUpload",
    "oss:UploadPart",
    "oss:CompleteMultipartUpload",
    "oss:AbortMultipartUpload",
    "oss:ListParts",
    "oss:GetObject",
];

/// The read credential of signed download URLs may do this and nothing else.
pub const READ_ACTIONS: [&str; 1] = ["oss:GetObject"];

/// As [`upload_session_policy`], plus `oss:GetObject` on the same `dir`.
pub fn upload_and_read_session_policy(
    bucket: &BucketName,
    dir: &str,
) -> Result<String, PolicyTooLarge> {
    object_session_policy(bucket, dir, &UPLOAD_AND_READ_ACTIONS)
}

/// The session policy of the one credential that signs a profile's download URLs: only
/// `oss:GetObject`, on each of `patterns` (object-key patterns such as `uploads/*/*`, from the
/// configuration's validated prefixes).
pub fn read_session_policy(
    bucket: &BucketName,
    patterns: &[String],
) -> Result<String, PolicyTooLarge> {
    let resources = patterns
        .iter()
        .map(|p| format!("acs:oss:*:*:{}/{p}", bucket.as_str()))
        .collect();
    policy_document(&READ_ACTIONS, resources)
}

/// The minified inline session policy allowing `actions` on the objects under `dir` of
/// `bucket` (one statement; a profile's shared credentials each pick their actions).
pub fn object_session_policy(
    bucket: &BucketName,
    dir: &str,
    actions: &[&'static str],
) -> Result<String, PolicyTooLarge> {
    policy_document(
        actions,
        vec![format!("acs:oss:*:*:{}/{}*", bucket.as_str(), dir)],
    )
}

/// One Allow statement of `actions` on `resources`, minified and size-checked.
fn policy_document(
    actions: &[&'static str],
    resources: Vec<String>,
) -> Result<String, PolicyTooLarge> {
    let doc = PolicyDocument {
        version: "1",
        statement: [Statement {
            effect: "Allow",
            action: actions,
            resource: resources,
        }],
    };
    let json = serde_json::to_string(&doc).expect("a policy of plain strings always serialises");
    let len = json.chars().count();
    if len > MAX_SESSION_POLICY_CHARS {
        return Err(PolicyTooLarge { len });
    }
    Ok(json)
}

/// `RoleSessionName` for a caller: `[A-Za-z0-9.@_-]`, 2-32 characters (the stricter of the two
/// documented limits, protocol.md §1.2). An id that is already such a name is used as it is;
/// any other id (too short, too long, or with other characters) becomes a readable head of the
/// cleaned id, `-` and [`SESSION_HASH_HEX`] hex digits (64 bits) of the SHA-256 of the full id,
/// so two callers cannot be made to share a session name: finding a second id for a chosen
/// victim's name means a 64-bit second preimage.
pub fn role_session_name(caller: &str) -> String {
    const MAX: usize = 32;
    let cleaned: String = caller
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    // `sts-broker-forms…` names the shared form credentials: a caller never gets it as is.
    if cleaned == caller
        && (2..=MAX).contains(&cleaned.len())
        && !looks_hashed(&cleaned)
        && !cleaned.starts_with(RESERVED_SESSION_PREFIX)
    {
        return cleaned;
    }
    let digest = Sha256::digest(caller.as_bytes());
    let suffix = hex::encode(&digest[..SESSION_HASH_HEX / 2]);
    let head: String = cleaned.chars().take(MAX - 1 - suffix.len()).collect();
    format!("{head}-{suffix}")
}

/// The session names of shared form credentials start with this; no caller's does.
pub const RESERVED_SESSION_PREFIX: &str = "sts-broker-forms";

/// Hex digits of the id's SHA-256 in a hashed session name: 16, i.e. 64 bits.
pub const SESSION_HASH_HEX: usize = 16;

/// Whether a name ends like a hashed session name: `-` and 16 hex digits, or `-` and 8 hex
/// digits as earlier versions made them. Such an id is hashed too, so no caller can pick the
/// session name another caller's id was turned into, now or in older audit trails.
fn looks_hashed(name: &str) -> bool {
    [SESSION_HASH_HEX, 8].iter().any(|&digits| {
        name.len() > digits
            && name.as_bytes()[name.len() - digits - 1] == b'-'
            && name[name.len() - digits..]
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_caller_gets_the_shared_form_session_name() {
        for id in ["sts-broker-forms", "sts-broker-forms-avatar"] {
            let name = role_session_name(id);
            assert_ne!(name, id);
            assert!(name.len() <= 32 && name.contains('-'), "{name}");
        }
    }

    fn bucket() -> BucketName {
        BucketName::parse("examplebucket").unwrap()
    }

    #[test]
    fn session_policy_is_exact_and_minified() {
        let policy = upload_session_policy(&bucket(), "uploads/alice/").unwrap();
        assert_eq!(
            policy,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:PutObject","oss:InitiateMultipartUpload","oss:UploadPart","oss:CompleteMultipartUpload","oss:AbortMultipartUpload","oss:ListParts"],"Resource":["acs:oss:*:*:examplebucket/uploads/alice/*"]}]}"#
        );
    }

    #[test]
    fn oversized_policy_is_refused_before_sts() {
        let dir = format!("{}/", "d".repeat(2000));
        assert!(upload_session_policy(&bucket(), &dir).unwrap_err().len > 2048);
    }

    #[test]
    fn session_names() {
        assert_eq!(role_session_name("anonymous"), "anonymous");
        assert_eq!(role_session_name("user-42@mini.app"), "user-42@mini.app");
        // SHA-256("a") starts ca978112ca1bbdca (FIPS 180-2 style test value, widely published).
        assert_eq!(role_session_name("a"), "a-ca978112ca1bbdca");
        // A caller cannot claim the name another id was hashed into, nor the shorter name
        // earlier versions gave it.
        let claimed = role_session_name("a-ca978112");
        assert_ne!(claimed, "a-ca978112");
        assert!(claimed.starts_with("a-ca978112-") && claimed.len() == 27);
        assert_ne!(
            role_session_name("a-ca978112ca1bbdca"),
            "a-ca978112ca1bbdca"
        );
        let long = role_session_name(&"x".repeat(100));
        assert_eq!(long.len(), 32);
        assert_ne!(long, role_session_name(&"x".repeat(101)));
        let altered = role_session_name("bob smith");
        assert!(altered.starts_with("bob-smith-") && altered.len() == 26);
        for name in [long, altered] {
            assert!(name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".@_-".contains(c)));
        }
    }

    #[test]
    fn hashed_session_names_carry_64_bits_of_the_ids_sha256() {
        // Expected values computed outside this code, with Python's hashlib:
        // hashlib.sha256(id.encode()).hexdigest()[:16]
        let long_id = format!("user-{}", "0".repeat(40));
        assert_eq!(
            role_session_name(&long_id),
            "user-0000000000-ee649a9eb1a24943"
        );
        assert_eq!(
            role_session_name(&"x".repeat(100)),
            "xxxxxxxxxxxxxxx-09ecb6ebc8bcefc7"
        );
        assert_eq!(
            role_session_name(&"x".repeat(101)),
            "xxxxxxxxxxxxxxx-c675a2e604b0cd12"
        );
        assert_eq!(
            role_session_name("alice.wonderland@example-corp.com"),
            "alice.wonderlan-cdd43672cff83e51"
        );
        assert_eq!(role_session_name("bob smith"), "bob-smith-7e50351d7a4c5116");
        assert_eq!(
            role_session_name("a-ca978112ca1bbdca"),
            "a-ca978112ca1bb-769f63a7a27a0338"
        );
        // Ids of 2-32 plain characters stay readable, as before.
        let edge = "a".repeat(32);
        assert_eq!(role_session_name(&edge), edge);
        assert_eq!(role_session_name("ab"), "ab");
        // Every name is within STS's rules: 2-32 (so also 2-64) characters of `[A-Za-z0-9.@_-]`.
        for id in [&long_id, "a", "é", "x y", &"z".repeat(128)] {
            let name = role_session_name(id);
            assert!((2..=32).contains(&name.len()), "{name}");
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".@_-".contains(&b)));
        }
    }
}
