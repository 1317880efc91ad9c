//! What a caller may do, as typed values: the upload directory rendered from the prefix
//! template, the inline STS session policy and the `RoleSessionName`. Policies are serialised
//! from structs, never assembled from strings; nothing here does I/O.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// STS refuses session policies longer than this (protocol.md §1.2, current docs).
pub const MAX_SESSION_POLICY_CHARS: usize = 2048;

/// Object-write actions a client needs for PutObject, PostObject and multipart uploads. OSS
/// authorises InitiateMultipartUpload, UploadPart and CompleteMultipartUpload with
/// `oss:PutObject`; names like `oss:UploadPart` are not RAM actions and would only spend policy
/// characters (protocol.md §1.10).
pub const UPLOAD_ACTIONS: [&str; 3] =
    ["oss:PutObject", "oss:AbortMultipartUpload", "oss:ListParts"];

/// The placeholder in `BROKER_UPLOAD_PREFIX` replaced by the caller's id.
pub const SUB_PLACEHOLDER: &str = "${sub}";

/// A validated OSS bucket name: 3-63 characters of lower-case letters, digits and `-`, starting
/// and ending with a letter or digit (OSS naming rules).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketName(String);

impl BucketName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok_chars = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !(3..=63).contains(&raw.len()) || !ok_chars || raw.starts_with('-') || raw.ends_with('-')
        {
            return Err(
                "must be 3-63 lower-case letters, digits or `-`, starting and ending with a letter or digit"
                    .into(),
            );
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The caller's identity as the broker uses it in keys, policies and session names.
/// Only `[A-Za-z0-9._@-]`, 1-128 characters, never `.` or `..`: such an id cannot contain a
/// wildcard (`*`, `?`), a path separator or anything that needs escaping in a policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallerId(String);

impl CallerId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err("caller id must be 1-128 characters");
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
        {
            return Err("caller id may only contain letters, digits, `.`, `_`, `@` and `-`");
        }
        if raw == "." || raw == ".." {
            return Err("caller id must not be `.` or `..`");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id every caller has under `BROKER_AUTH=none`.
    pub fn anonymous() -> Self {
        Self("anonymous".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `BROKER_UPLOAD_PREFIX`, split around its single `${sub}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPrefix {
    before: String,
    after: String,
}

impl UploadPrefix {
    /// Rules: exactly one `${sub}`; otherwise only `[A-Za-z0-9._/-]`; no leading `/`, no empty,
    /// `.` or `..` segment; ends with `/` so one caller's directory is never a prefix of another's
    /// (`uploads/al` must not cover `uploads/alice/`).
    pub fn parse(template: &str) -> Result<Self, String> {
        let (before, after) = template
            .split_once(SUB_PLACEHOLDER)
            .ok_or("must contain `${sub}` (the caller's id) exactly once")?;
        if after.contains(SUB_PLACEHOLDER) {
            return Err("must contain `${sub}` exactly once".into());
        }
        let literal = format!("{before}x{after}");
        if literal.len() > 512 {
            return Err("must be at most 512 characters".into());
        }
        if !literal
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
        {
            return Err(
                "may only contain letters, digits, `.`, `_`, `-`, `/` and one `${sub}`".into(),
            );
        }
        if !after.ends_with('/') {
            return Err("must end with `/` after `${sub}`, e.g. `uploads/${sub}/`".into());
        }
        let trimmed = literal.trim_end_matches('/');
        if literal.starts_with('/')
            || trimmed
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err("must not start with `/` or contain empty, `.` or `..` segments".into());
        }
        Ok(Self {
            before: before.to_owned(),
            after: after.to_owned(),
        })
    }

    /// The template's part before `${sub}`: the prefix every caller's directory starts with
    /// (the upload root; empty for `${sub}/`).
    pub fn root(&self) -> &str {
        &self.before
    }

    /// The directory (object key prefix) `caller` may write.
    pub fn render(&self, caller: &CallerId) -> String {
        format!("{}{}{}", self.before, caller.as_str(), self.after)
    }
}

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
    resource: [String; 1],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the session policy is {len} characters; STS accepts at most {MAX_SESSION_POLICY_CHARS}")]
pub struct PolicyTooLarge {
    pub len: usize,
}

/// The minified inline session policy allowing only object writes under `dir` of `bucket`.
/// `dir` comes from [`UploadPrefix::render`] and therefore holds no wildcard.
pub fn upload_session_policy(bucket: &BucketName, dir: &str) -> Result<String, PolicyTooLarge> {
    let doc = PolicyDocument {
        version: "1",
        statement: [Statement {
            effect: "Allow",
            action: &UPLOAD_ACTIONS,
            resource: [format!("acs:oss:*:*:{}/{}*", bucket.as_str(), dir)],
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
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:PutObject","oss:AbortMultipartUpload","oss:ListParts"],"Resource":["acs:oss:*:*:examplebucket/uploads/alice/*"]}]}"#
        );
    }

    /// The docs show the policy the broker sends, and name no action OSS does not have.
    #[test]
    fn docs_agree_with_the_session_policy() {
        let sent = upload_session_policy(&bucket(), "uploads/alice/")
            .unwrap()
            .replace("examplebucket", "<bucket>");
        let configuration = include_str!("../docs/configuration.md");
        assert!(
            configuration.contains(&sent),
            "configuration.md lacks {sent}"
        );
        let api = include_str!("../docs/api.md");
        for action in UPLOAD_ACTIONS {
            assert!(
                api.contains(&format!("`{action}`")),
                "api.md lacks {action}"
            );
        }
        for doc in [configuration, api, include_str!("../README.md")] {
            for not_an_action in [
                "oss:InitiateMultipartUpload",
                "oss:UploadPart",
                "oss:CompleteMultipartUpload",
            ] {
                assert!(!doc.contains(not_an_action), "{not_an_action}");
            }
        }
    }

    #[test]
    fn oversized_policy_is_refused_before_sts() {
        let dir = format!("{}/", "d".repeat(2000));
        assert!(upload_session_policy(&bucket(), &dir).unwrap_err().len > 2048);
    }

    #[test]
    fn prefix_templates() {
        let alice = CallerId::parse("alice").unwrap();
        let p = UploadPrefix::parse("uploads/${sub}/").unwrap();
        assert_eq!(p.render(&alice), "uploads/alice/");
        assert_eq!(
            UploadPrefix::parse("${sub}/").unwrap().render(&alice),
            "alice/"
        );
        assert_eq!(
            UploadPrefix::parse("a/b-${sub}/in/")
                .unwrap()
                .render(&alice),
            "a/b-alice/in/"
        );
        for bad in [
            "uploads/",
            "uploads/${sub}",
            "uploads/${sub}/${sub}/",
            "/uploads/${sub}/",
            "uploads//${sub}/",
            "uploads/../${sub}/",
            "uploads/./${sub}/",
            "up*loads/${sub}/",
            "uploads/${user}/${sub}/",
            "uploads/${sub}/ x/",
        ] {
            assert!(UploadPrefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn caller_ids_cannot_carry_wildcards_or_paths() {
        for bad in [
            "",
            "*",
            "a*",
            "?",
            "../bob",
            "bob/../alice",
            "%2e%2e",
            "a b",
            "é",
            ".",
            "..",
        ] {
            assert!(CallerId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(CallerId::parse(&"x".repeat(129)).is_err());
        assert!(CallerId::parse("user-42@mini.app").is_ok());
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
