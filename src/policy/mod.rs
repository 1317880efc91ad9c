//! What a caller may do, as typed values: the bucket, the caller id and the upload directory
//! rendered from the prefix template; `session` builds the inline STS session policy and the
//! `RoleSessionName` from them. Nothing here does I/O.

mod session;

pub use session::{
    object_session_policy, read_session_policy, role_session_name, upload_and_read_session_policy,
    upload_session_policy, PolicyTooLarge, MAX_SESSION_POLICY_CHARS, READ_ACTIONS,
    RESERVED_SESSION_PREFIX, SESSION_HASH_HEX, UPLOAD_ACTIONS, UPLOAD_AND_READ_ACTIONS,
};

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

    /// The template as configured, `${sub}` included.
    pub fn template(&self) -> String {
        format!("{}{SUB_PLACEHOLDER}{}", self.before, self.after)
    }

    /// The directory (object key prefix) `caller` may write.
    pub fn render(&self, caller: &CallerId) -> String {
        format!("{}{}{}", self.before, caller.as_str(), self.after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
