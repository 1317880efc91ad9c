//! The bodies of Uppy Companion's S3 signing protocol as the broker reads and answers them
//! (protocol.md §18): the create body (`filename`, `type`, `metadata`), the completion's parts
//! (`PartNumber` as a number or a string; `ETag` with or without quotes, as Uppy 6 and 5 send
//! them), the batch route's `partNumbers`, and the answers' shapes. Checks here are about form
//! only — part numbers 1–10000, no part twice, ETags OSS could have given — never about who may
//! do what. Pure; no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// protocol.md §17.2: part numbers are 1 to 10000.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// The batch route signs at most this many parts at once.
pub const MAX_BATCH: usize = 1000;
/// An ETag longer than this is not one OSS gave.
const MAX_ETAG_CHARS: usize = 128;

/// `POST /s3/multipart`.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateBody {
    pub filename: String,
    #[serde(rename = "type")]
    pub content_type: String,
    /// Uppy's file meta; read by nothing, accepted as Uppy sends it.
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A part number as Uppy sends it: a JSON number, or a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartNumber(pub u32);

impl<'de> Deserialize<'de> for PartNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let n = match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| D::Error::custom("PartNumber is not a whole number"))?,
            serde_json::Value::String(t)
                if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) =>
            {
                t.parse()
                    .map_err(|_| D::Error::custom("PartNumber out of range"))?
            }
            _ => return Err(D::Error::custom("PartNumber is not a number")),
        };
        u32::try_from(n)
            .map(PartNumber)
            .map_err(|_| D::Error::custom("PartNumber out of range"))
    }
}

/// One part of `POST /s3/multipart/{uploadId}/complete`.
#[derive(Debug, Clone, Deserialize)]
pub struct PartRef {
    #[serde(rename = "PartNumber")]
    pub part_number: PartNumber,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// `POST /s3/multipart/{uploadId}/complete`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompleteBody {
    pub parts: Vec<PartRef>,
}

/// Why the parts a client named cannot be used; `400` with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartsError {
    #[error("part numbers are 1 to {MAX_PART_NUMBER}, not {0}")]
    PartNumber(u32),
    #[error("part {0} is listed twice")]
    Duplicate(u32),
    #[error("part {0} has an ETag OSS cannot have given")]
    BadEtag(u32),
    #[error("partNumbers must be 1 to {MAX_BATCH} comma-separated part numbers")]
    BadList,
    #[error("more than {MAX_PART_NUMBER} parts")]
    TooMany,
    #[error("the upload has no parts")]
    NoParts,
}

/// A part number within 1–10000.
pub fn check_part_number(n: u32) -> Result<u32, PartsError> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n)
    } else {
        Err(PartsError::PartNumber(n))
    }
}

/// The part number in a route's path (`/s3/multipart/{uploadId}/{partNumber}`).
pub fn parse_part_number(text: &str) -> Result<u32, PartsError> {
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.len() <= 5;
    let n = if plain { text.parse().unwrap_or(0) } else { 0 };
    check_part_number(n)
}

/// The quoted form OSS gives (`"ABC…"`): Uppy 6 strips the quotes, Uppy 5 keeps them. Anything
/// but visible ASCII without quotes inside is refused.
fn quoted_etag(number: u32, etag: &str) -> Result<String, PartsError> {
    let bare = etag
        .strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or(etag);
    let fine = !bare.is_empty()
        && bare.len() <= MAX_ETAG_CHARS
        && bare.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
    if fine {
        Ok(format!("\"{bare}\""))
    } else {
        Err(PartsError::BadEtag(number))
    }
}

/// The parts to complete with: each number checked, each ETag in OSS's quoted form, no number
/// twice, ascending (OSS refuses any other order, and clients need not sort).
pub fn normalise_parts(parts: &[PartRef]) -> Result<Vec<(u32, String)>, PartsError> {
    if parts.len() > MAX_PART_NUMBER as usize {
        return Err(PartsError::TooMany);
    }
    let mut out = BTreeMap::new();
    for part in parts {
        let n = check_part_number(part.part_number.0)?;
        let etag = quoted_etag(n, &part.etag)?;
        if out.insert(n, etag).is_some() {
            return Err(PartsError::Duplicate(n));
        }
    }
    Ok(out.into_iter().collect())
}

/// The batch route's `partNumbers=1,2,3`: 1 to 1000 numbers, each 1–10000; repeats are signed
/// once.
pub fn parse_part_numbers(text: &str) -> Result<Vec<u32>, PartsError> {
    let numbers: Vec<u32> = text
        .split(',')
        .map(|n| parse_part_number(n.trim()))
        .collect::<Result<_, _>>()
        .map_err(|e| match e {
            PartsError::PartNumber(0) => PartsError::BadList,
            other => other,
        })?;
    if numbers.is_empty() || numbers.len() > MAX_BATCH {
        return Err(PartsError::BadList);
    }
    let mut unique = numbers;
    unique.sort_unstable();
    unique.dedup();
    Ok(unique)
}

/// `POST /s3/multipart` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Created {
    pub key: String,
    #[serde(rename = "uploadId")]
    pub upload_id: String,
    pub bucket: String,
}

/// `GET /s3/multipart/{uploadId}/{partNumber}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedPart {
    pub url: String,
    /// Seconds the URL stays valid.
    pub expires: u32,
}

/// `GET /s3/multipart/{uploadId}/batch` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedBatch {
    #[serde(rename = "presignedUrls")]
    pub presigned_urls: BTreeMap<String, String>,
}

/// One element of `GET /s3/multipart/{uploadId}`'s array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadedPart {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "Size")]
    pub size: u64,
    /// Quoted, as OSS gives it.
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// `POST /s3/multipart/{uploadId}/complete` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completed {
    pub location: String,
    pub key: String,
    pub bucket: String,
    /// The app's JSON, for a profile with a callback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<serde_json::Value>,
    /// Says the callback failed while the object is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(json: &str) -> Result<Vec<(u32, String)>, String> {
        let body: CompleteBody = serde_json::from_str(json).map_err(|e| e.to_string())?;
        normalise_parts(&body.parts).map_err(|e| e.to_string())
    }

    #[test]
    fn uppy_6_and_5_completions_read_the_same() {
        // Uppy 6 strips the ETag's quotes, Uppy 5 keeps them (protocol.md §18); either order.
        let six = r#"{"parts":[{"PartNumber":2,"ETag":"B2"},{"PartNumber":1,"ETag":"A1"}]}"#;
        let five =
            r#"{"parts":[{"PartNumber":1,"ETag":"\"A1\""},{"PartNumber":"2","ETag":"\"B2\""}]}"#;
        let want = vec![(1, "\"A1\"".to_owned()), (2, "\"B2\"".to_owned())];
        assert_eq!(parts(six).unwrap(), want);
        assert_eq!(parts(five).unwrap(), want);
    }

    #[test]
    fn bad_parts_are_refused_with_a_reason() {
        for (json, reason) in [
            (
                r#"{"parts":[{"PartNumber":0,"ETag":"A"}]}"#,
                "part numbers are 1 to 10000, not 0",
            ),
            (
                r#"{"parts":[{"PartNumber":10001,"ETag":"A"}]}"#,
                "not 10001",
            ),
            (
                r#"{"parts":[{"PartNumber":1,"ETag":"A"},{"PartNumber":1,"ETag":"B"}]}"#,
                "listed twice",
            ),
            (r#"{"parts":[{"PartNumber":1,"ETag":""}]}"#, "ETag"),
            (r#"{"parts":[{"PartNumber":1,"ETag":"\"\""}]}"#, "ETag"),
            (r#"{"parts":[{"PartNumber":1,"ETag":"a\"b"}]}"#, "ETag"),
            (r#"{"parts":[{"PartNumber":1,"ETag":"a b"}]}"#, "ETag"),
            (r#"{"parts":[{"PartNumber":-1,"ETag":"A"}]}"#, "PartNumber"),
            (
                r#"{"parts":[{"PartNumber":"1x","ETag":"A"}]}"#,
                "PartNumber",
            ),
            (
                r#"{"parts":[{"PartNumber":4294967296,"ETag":"A"}]}"#,
                "out of range",
            ),
            (r#"{"parts":[{"ETag":"A"}]}"#, "PartNumber"),
            (r#"{"nothing":[]}"#, "parts"),
        ] {
            let error = parts(json).unwrap_err();
            assert!(error.contains(reason), "{json}: {error}");
        }
        assert_eq!(parts(r#"{"parts":[]}"#).unwrap(), vec![]);
    }

    #[test]
    fn path_and_batch_part_numbers() {
        assert_eq!(parse_part_number("1"), Ok(1));
        assert_eq!(parse_part_number("10000"), Ok(10000));
        for bad in ["0", "10001", "", "+1", "1.0", "99999999999", " 1"] {
            assert!(parse_part_number(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_part_numbers("3,1,2,1"), Ok(vec![1, 2, 3]));
        assert_eq!(parse_part_numbers("1, 2"), Ok(vec![1, 2]));
        for bad in ["", ",", "1,,2", "a", "1;2"] {
            assert_eq!(parse_part_numbers(bad), Err(PartsError::BadList), "{bad:?}");
        }
        assert_eq!(
            parse_part_numbers("1,10001"),
            Err(PartsError::PartNumber(10001))
        );
        let too_many: Vec<String> = (1..=1001).map(|n| n.to_string()).collect();
        assert_eq!(
            parse_part_numbers(&too_many.join(",")),
            Err(PartsError::BadList)
        );
    }

    #[test]
    fn answers_have_companions_names() {
        let created = Created {
            key: "k".into(),
            upload_id: "U".into(),
            bucket: "b".into(),
        };
        assert_eq!(
            serde_json::to_value(&created).unwrap(),
            serde_json::json!({"key": "k", "uploadId": "U", "bucket": "b"})
        );
        let listed = UploadedPart {
            part_number: 1,
            size: 5,
            etag: "\"E\"".into(),
        };
        assert_eq!(
            serde_json::to_value(&listed).unwrap(),
            serde_json::json!({"PartNumber": 1, "Size": 5, "ETag": "\"E\""})
        );
        let done = Completed {
            location: "l".into(),
            key: "k".into(),
            bucket: "b".into(),
            callback: None,
            callback_error: None,
        };
        assert_eq!(
            serde_json::to_value(&done).unwrap(),
            serde_json::json!({"location": "l", "key": "k", "bucket": "b"})
        );
        let batch = SignedBatch {
            presigned_urls: BTreeMap::from([("1".into(), "u1".into())]),
        };
        assert_eq!(
            serde_json::to_value(&batch).unwrap(),
            serde_json::json!({"presignedUrls": {"1": "u1"}})
        );
        let body: CreateBody = serde_json::from_str(
            r#"{"filename":"a.mp4","type":"video/mp4","metadata":{"name":"a.mp4","type":"video/mp4"}}"#,
        )
        .unwrap();
        assert_eq!(body.content_type, "video/mp4");
    }
}
