//! OSS PostObject policy documents as typed values (protocol.md §5.3): fields, conditions and the
//! document, serialised by serde into the exact JSON OSS reads. Never assembled from strings;
//! nothing here signs, reads the clock or does I/O.

use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap as _, SerializeSeq as _};
use serde::{Serialize, Serializer};

/// A form field a condition can constrain (protocol.md §5.3 "Fields that can be constrained").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Bucket,
    Key,
    ContentType,
    SuccessActionStatus,
    ContentDisposition,
    SignatureVersion,
    Credential,
    Date,
    SecurityToken,
    /// The upload callback (protocol.md §9.3), Base64 JSON.
    Callback,
    /// `x-oss-forbid-overwrite`: `true` keeps an existing object (protocol.md §17.2).
    ForbidOverwrite,
}

impl Field {
    /// The field's name as written in exact-match objects and forms.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bucket => "bucket",
            Self::Key => "key",
            Self::ContentType => "content-type",
            Self::SuccessActionStatus => "success_action_status",
            // The documented spelling (protocol.md §5.2), as the form field is sent.
            Self::ContentDisposition => "Content-Disposition",
            Self::SignatureVersion => "x-oss-signature-version",
            Self::Credential => "x-oss-credential",
            Self::Date => "x-oss-date",
            Self::SecurityToken => "x-oss-security-token",
            Self::Callback => "callback",
            Self::ForbidOverwrite => "x-oss-forbid-overwrite",
        }
    }

    /// `$name`, as array conditions refer to a field.
    fn reference(self) -> String {
        format!("${}", self.name())
    }
}

/// One policy condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `{"field": "value"}`
    Exact(Field, String),
    /// `["starts-with", "$field", "prefix"]`
    StartsWith(Field, String),
    /// `["content-length-range", min, max]`, inclusive bytes.
    ContentLengthRange(u64, u64),
    /// `["in", "$field", ["a", "b"]]`
    In(Field, Vec<String>),
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Exact(field, value) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(field.name(), value)?;
                map.end()
            }
            Self::StartsWith(field, prefix) => {
                ("starts-with", field.reference(), prefix).serialize(serializer)
            }
            Self::ContentLengthRange(min, max) => {
                ("content-length-range", min, max).serialize(serializer)
            }
            Self::In(field, values) => {
                let mut seq = serializer.serialize_seq(Some(3))?;
                seq.serialize_element("in")?;
                seq.serialize_element(&field.reference())?;
                seq.serialize_element(values)?;
                seq.end()
            }
        }
    }
}

/// A POST policy document.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PostPolicy {
    /// ISO 8601 UTC with milliseconds, the form the OSS docs show.
    pub expiration: String,
    pub conditions: Vec<Condition>,
}

impl PostPolicy {
    pub fn new(expiration: DateTime<Utc>, conditions: Vec<Condition>) -> Self {
        Self {
            expiration: expiration.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            conditions,
        }
    }

    /// The compact JSON the signature covers.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a policy of strings and numbers always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_to_the_broker_shaped_vector_bytes() {
        // The exact JSON byte string of the protocol.md §5.5 broker-shaped V4 vector.
        let expected = r#"{"expiration":"2024-01-01T01:00:00.000Z","conditions":[{"bucket":"examplebucket"},["starts-with","$key","uploads/u42/"],["content-length-range",1,10485760],["in","$content-type",["image/jpeg","image/png"]],{"x-oss-signature-version":"OSS4-HMAC-SHA256"},{"x-oss-credential":"STS.testid/20240101/cn-hangzhou/oss/aliyun_v4_request"},{"x-oss-date":"20240101T000000Z"},{"x-oss-security-token":"CAIS+abc/def=="}]}"#;
        let at = DateTime::parse_from_rfc3339("2024-01-01T01:00:00Z")
            .unwrap()
            .to_utc();
        let policy = PostPolicy::new(
            at,
            vec![
                Condition::Exact(Field::Bucket, "examplebucket".into()),
                Condition::StartsWith(Field::Key, "uploads/u42/".into()),
                Condition::ContentLengthRange(1, 10_485_760),
                Condition::In(
                    Field::ContentType,
                    vec!["image/jpeg".into(), "image/png".into()],
                ),
                Condition::Exact(Field::SignatureVersion, "OSS4-HMAC-SHA256".into()),
                Condition::Exact(
                    Field::Credential,
                    "STS.testid/20240101/cn-hangzhou/oss/aliyun_v4_request".into(),
                ),
                Condition::Exact(Field::Date, "20240101T000000Z".into()),
                Condition::Exact(Field::SecurityToken, "CAIS+abc/def==".into()),
            ],
        );
        assert_eq!(policy.to_json(), expected);
    }

    #[test]
    fn values_are_json_escaped_not_spliced() {
        let policy = PostPolicy::new(
            DateTime::UNIX_EPOCH,
            vec![Condition::StartsWith(Field::Key, "a\"],[\"x".into())],
        );
        let parsed: serde_json::Value = serde_json::from_str(&policy.to_json()).unwrap();
        assert_eq!(parsed["conditions"][0][2], "a\"],[\"x");
        assert_eq!(parsed["conditions"].as_array().unwrap().len(), 1);
    }
}
