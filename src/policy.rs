//! What a caller may do, as typed values: the upload directory rendered from the prefix
//! template, the inline STS session policy and the `RoleSessionName`. Policies are serialised
//! from structs, never assembled from strings; nothing here does I/O.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

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
/// documented limits, protocol.md §1.2). When the id had to be altered or cut, a short stable hash of
/// the full id is appended so two callers never share a session name by accident.
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
    // An id that already ends like a hashed name (`-` and 8 hex digits) is hashed too, so a
    // caller can never pick the session name another caller's id was turned into.
    let looks_hashed = cleaned.len() > 9
        && cleaned.as_bytes()[cleaned.len() - 9] == b'-'
        && cleaned[cleaned.len() - 8..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if cleaned == caller && (2..=MAX).contains(&cleaned.len()) && !looks_hashed {
        return cleaned;
    }
    let digest = Sha256::digest(caller.as_bytes());
    let suffix = hex::encode(&digest[..4]);
    let head: String = cleaned.chars().take(MAX - 1 - suffix.len()).collect();
    format!("{head}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // SHA-256("a") starts ca978112 (FIPS 180-2 style test value, widely published).
        assert_eq!(role_session_name("a"), "a-ca978112");
        // A caller cannot claim the name another id was hashed into.
        let claimed = role_session_name("a-ca978112");
        assert_ne!(claimed, "a-ca978112");
        assert!(claimed.starts_with("a-ca978112-") && claimed.len() == 19);
        let long = role_session_name(&"x".repeat(100));
        assert_eq!(long.len(), 32);
        assert_ne!(long, role_session_name(&"x".repeat(101)));
        let altered = role_session_name("bob smith");
        assert!(altered.starts_with("bob-smith-") && altered.len() == 18);
        for name in [long, altered] {
            assert!(name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".@_-".contains(c)));
        }
    }
}
