//! Builds the PostObject form a client posts as it is: the policy (from typed conditions) and its
//! V1 or V4 signature, made with the caller's temporary STS credential. Pure: the caller passes
//! the clock's "now"; no I/O, and the secret is only read to sign.

use std::fmt;

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::{DateTime, Duration, Utc};

/// Which OSS PostObject signature `/getPostObjectParams` produces (`BROKER_POST_SIGNATURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostSignature {
    /// HMAC-SHA1 over the Base64 policy (protocol.md §5.4).
    V1,
    /// `OSS4-HMAC-SHA256` with the `aliyun_v4` derived key (protocol.md §5.5).
    V4,
}

/// Settings of the server-side signing flow and of the bucket CORS set-up.
#[derive(Debug, Clone)]
pub struct PostSettings {
    pub signature: PostSignature,
    /// `BROKER_POST_POLICY_TTL_SECONDS`: how long a signed policy is valid (capped by the
    /// signing credential's own expiry).
    pub policy_ttl: std::time::Duration,
    /// `BROKER_MAX_UPLOAD_BYTES`: upper bound of `content-length-range`.
    pub max_upload_bytes: u64,
    /// `BROKER_ALLOWED_CONTENT_TYPES`: when non-empty, an `in` condition on `$content-type`.
    pub allowed_content_types: Vec<String>,
    /// The bucket's own URL for OSS API calls (`PutBucketCors`), without a trailing `/`:
    /// `https://<bucket>.oss-<region>.aliyuncs.com`, or path-style `http://127.0.0.1:<port>/<bucket>`.
    pub oss_endpoint: String,
    /// `BROKER_OBJECT_KEY` / `object_key`: who names keys (forms and multipart uploads).
    pub object_key: crate::key_template::ObjectKeyRule,
    /// `BROKER_OVERWRITE` / `overwrite`: `false` pins `x-oss-forbid-overwrite: true`.
    pub overwrite: bool,
    /// `BROKER_PART_URL_TTL_SECONDS`: how long a multipart part URL works.
    pub part_url_ttl_seconds: u32,
}
use crate::credentials::TemporaryCredentials;
use crate::oss::post_policy::{Condition, Field, PostPolicy};
use crate::oss::post_signer::{
    v1_signature, v4_credential, v4_date, v4_datetime, v4_signature, v4_signing_key_reused,
    V4_ALGORITHM,
};

/// The `success_action_status` the policy pins: `200` with an empty body, the status
/// `wx.uploadFile` and Alibaba's browser demo expect (protocol.md §5.2; OSS's default is 204).
pub const SUCCESS_ACTION_STATUS: &str = "200";

/// The `Content-Disposition` the form sets and the policy pins: `inline`, what a browser does
/// with an object that has none. Pinned so that a client cannot choose one (an `attachment`
/// with a misleading file name, say) for what it uploads: OSS does not ask the policy to name
/// fields outside `x-oss-*` (protocol.md §12.1), so only an exact condition on a field the
/// form carries (§5.3, and never one it lacks, §12.2 code 226) makes OSS refuse a change.
pub const CONTENT_DISPOSITION: &str = "inline";

/// What the form must allow.
#[derive(Debug, Clone)]
pub struct PostRequest<'a> {
    pub bucket: &'a str,
    /// Plain region id, e.g. `cn-hangzhou`.
    pub region: &'a str,
    /// The key prefix the caller may write; keys must start with it.
    pub dir: &'a str,
    pub signature: PostSignature,
    pub ttl: Duration,
    pub max_upload_bytes: u64,
    /// Empty: any content type.
    pub allowed_content_types: &'a [String],
    /// The `callback` field, pinned in the policy so nobody can change where OSS calls back.
    pub callback: Option<&'a str>,
    /// The broker's key for this form (an exact condition instead of `starts-with dir`).
    pub key: Option<&'a str>,
    /// `x-oss-forbid-overwrite: true`, pinned: OSS keeps an existing object.
    pub forbid_overwrite: bool,
}

/// Signature fields, per version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureFields {
    V1 {
        access_key_id: String,
        signature: String,
    },
    V4 {
        credential: String,
        date: String,
        signature: String,
    },
}

/// The signed form.
#[derive(Clone)]
pub struct PostForm {
    /// When the policy expires (never after the credential).
    pub expire: DateTime<Utc>,
    /// Base64 of the policy JSON, to post as the `policy` field.
    pub policy: String,
    pub signature: SignatureFields,
    /// `x-oss-security-token`.
    pub security_token: String,
    pub success_action_status: &'static str,
    /// `Content-Disposition`, pinned ([`CONTENT_DISPOSITION`]).
    pub content_disposition: &'static str,
}

impl fmt::Debug for PostForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostForm")
            .field("expire", &self.expire)
            .field("signature", &self.signature)
            .field("security_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PostFormError {
    #[error("the signing credential expires at {expiration}, which is not after now ({now})")]
    CredentialExpired {
        expiration: DateTime<Utc>,
        now: DateTime<Utc>,
    },
}

/// The policy conditions, in the order the form is checked. Besides the V4 signing fields
/// (added by [`build`]), they name no `x-oss-*` field: in a V4 form OSS refuses every
/// `x-oss-*` field the policy does not restrict (protocol.md §12.1, strict reading), so a
/// client cannot add an object ACL, `x-oss-meta-*` or `x-oss-content-type` to a form the broker
/// signed. `x-oss-forbid-overwrite` is named (exactly `true`) only when the profile does not
/// overwrite, so a client can neither drop it nor add it.
fn conditions(req: &PostRequest<'_>) -> Vec<Condition> {
    let mut conditions = vec![
        Condition::Exact(Field::Bucket, req.bucket.to_owned()),
        match req.key {
            Some(key) => Condition::Exact(Field::Key, key.to_owned()),
            None => Condition::StartsWith(Field::Key, req.dir.to_owned()),
        },
        Condition::ContentLengthRange(1, req.max_upload_bytes),
    ];
    if !req.allowed_content_types.is_empty() {
        conditions.push(Condition::In(
            Field::ContentType,
            req.allowed_content_types.to_vec(),
        ));
    }
    conditions.push(Condition::Exact(
        Field::SuccessActionStatus,
        SUCCESS_ACTION_STATUS.to_owned(),
    ));
    conditions.push(Condition::Exact(
        Field::ContentDisposition,
        CONTENT_DISPOSITION.to_owned(),
    ));
    if let Some(callback) = req.callback {
        conditions.push(Condition::Exact(Field::Callback, callback.to_owned()));
    }
    if req.forbid_overwrite {
        conditions.push(Condition::Exact(Field::ForbidOverwrite, "true".to_owned()));
    }
    conditions
}

/// Signs a form for `req` with `creds` at `now`.
pub fn build(
    req: &PostRequest<'_>,
    creds: &TemporaryCredentials,
    now: DateTime<Utc>,
) -> Result<PostForm, PostFormError> {
    if creds.expiration <= now {
        return Err(PostFormError::CredentialExpired {
            expiration: creds.expiration,
            now,
        });
    }
    // Whole seconds: `expire` is unix seconds and must not promise more than the policy.
    let expire = (now + req.ttl).min(creds.expiration);
    let expire = DateTime::from_timestamp(expire.timestamp(), 0).unwrap_or(expire);
    let mut conditions = conditions(req);
    let token = creds.token().to_owned();
    let (policy, signature) = match req.signature {
        PostSignature::V1 => {
            let policy = B64.encode(PostPolicy::new(expire, conditions).to_json());
            let signature = SignatureFields::V1 {
                access_key_id: creds.access_key_id.clone(),
                signature: v1_signature(creds.secret(), &policy),
            };
            (policy, signature)
        }
        PostSignature::V4 => {
            let date = v4_date(now);
            let credential = v4_credential(&creds.access_key_id, &date, req.region);
            let datetime = v4_datetime(now);
            // Bind the signature fields and the token into the policy, as the SDK samples do
            // (protocol.md §5.5), so none of them can be swapped.
            conditions.extend([
                Condition::Exact(Field::SignatureVersion, V4_ALGORITHM.to_owned()),
                Condition::Exact(Field::Credential, credential.clone()),
                Condition::Exact(Field::Date, datetime.clone()),
                Condition::Exact(Field::SecurityToken, token.clone()),
            ]);
            let policy = B64.encode(PostPolicy::new(expire, conditions).to_json());
            let key = v4_signing_key_reused(creds.secret(), &date, req.region);
            let signature = SignatureFields::V4 {
                credential,
                date: datetime,
                signature: v4_signature(&key, &policy),
            };
            (policy, signature)
        }
    };
    Ok(PostForm {
        expire,
        policy,
        signature,
        security_token: token,
        success_action_status: SUCCESS_ACTION_STATUS,
        content_disposition: CONTENT_DISPOSITION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn creds(expiration: &str) -> TemporaryCredentials {
        TemporaryCredentials {
            access_key_id: "STS.testid".into(),
            access_key_secret: SecretString::from("testsecret"),
            security_token: SecretString::from("CAIS+abc/def=="),
            expiration: at(expiration),
        }
    }

    fn request(signature: PostSignature, types: &[String]) -> PostRequest<'_> {
        PostRequest {
            bucket: "examplebucket",
            region: "cn-hangzhou",
            dir: "uploads/u42/",
            signature,
            ttl: Duration::hours(1),
            max_upload_bytes: 10_485_760,
            allowed_content_types: types,
            callback: None,
            key: None,
            forbid_overwrite: false,
        }
    }

    #[test]
    fn a_broker_key_and_forbid_overwrite_are_pinned_exactly() {
        let mut req = request(PostSignature::V1, &[]);
        req.key = Some("uploads/u42/2024/01/01/id.jpg");
        req.forbid_overwrite = true;
        let form = build(
            &req,
            &creds("2024-01-01T06:00:00Z"),
            at("2024-01-01T00:00:00Z"),
        )
        .unwrap();
        let json = String::from_utf8(B64.decode(&form.policy).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"expiration":"2024-01-01T01:00:00.000Z","conditions":[{"bucket":"examplebucket"},{"key":"uploads/u42/2024/01/01/id.jpg"},["content-length-range",1,10485760],{"success_action_status":"200"},{"Content-Disposition":"inline"},{"x-oss-forbid-overwrite":"true"}]}"#
        );
    }

    fn policy_json(form: &PostForm) -> serde_json::Value {
        serde_json::from_slice(&B64.decode(&form.policy).unwrap()).unwrap()
    }

    #[test]
    fn v4_form_matches_the_broker_shaped_vector_plus_success_status() {
        // protocol.md §5.5 broker-shaped vector, with the `success_action_status` and
        // `Content-Disposition` conditions the broker adds before the V4 bindings; the signing
        // key is the vector's literal.
        let types = ["image/jpeg".to_owned(), "image/png".to_owned()];
        let form = build(
            &request(PostSignature::V4, &types),
            &creds("2024-01-01T06:00:00Z"),
            at("2024-01-01T00:00:00Z"),
        )
        .unwrap();
        let json = String::from_utf8(B64.decode(&form.policy).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"expiration":"2024-01-01T01:00:00.000Z","conditions":[{"bucket":"examplebucket"},["starts-with","$key","uploads/u42/"],["content-length-range",1,10485760],["in","$content-type",["image/jpeg","image/png"]],{"success_action_status":"200"},{"Content-Disposition":"inline"},{"x-oss-signature-version":"OSS4-HMAC-SHA256"},{"x-oss-credential":"STS.testid/20240101/cn-hangzhou/oss/aliyun_v4_request"},{"x-oss-date":"20240101T000000Z"},{"x-oss-security-token":"CAIS+abc/def=="}]}"#
        );
        let SignatureFields::V4 {
            credential,
            date,
            signature,
        } = &form.signature
        else {
            panic!("v4 expected")
        };
        assert_eq!(
            credential,
            "STS.testid/20240101/cn-hangzhou/oss/aliyun_v4_request"
        );
        assert_eq!(date, "20240101T000000Z");
        let key = hex::decode("b8e5a5ac6459626c763fd79a11287c23e8e1b19e0745c273239a99c7d944be03")
            .unwrap();
        let mut expected = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        hmac::Mac::update(&mut expected, form.policy.as_bytes());
        assert_eq!(
            signature,
            &hex::encode(hmac::Mac::finalize(expected).into_bytes())
        );
        assert_eq!(form.expire, at("2024-01-01T01:00:00Z"));
    }

    use hmac::KeyInit;

    #[test]
    fn v1_form_matches_the_broker_shaped_vector_shape() {
        let form = build(
            &request(PostSignature::V1, &[]),
            &creds("2024-01-01T06:00:00Z"),
            at("2024-01-01T00:00:00Z"),
        )
        .unwrap();
        let json = String::from_utf8(B64.decode(&form.policy).unwrap()).unwrap();
        // The protocol.md §5.4 broker-shaped V1 policy plus `success_action_status` and
        // `Content-Disposition`.
        assert_eq!(
            json,
            r#"{"expiration":"2024-01-01T01:00:00.000Z","conditions":[{"bucket":"examplebucket"},["starts-with","$key","uploads/u42/"],["content-length-range",1,10485760],{"success_action_status":"200"},{"Content-Disposition":"inline"}]}"#
        );
        assert!(matches!(
            &form.signature,
            SignatureFields::V1 { access_key_id, .. } if access_key_id == "STS.testid"
        ));
        assert_eq!(form.security_token, "CAIS+abc/def==");
    }

    #[test]
    fn expiration_is_capped_by_the_credential() {
        let form = build(
            &request(PostSignature::V4, &[]),
            &creds("2024-01-01T00:10:00Z"),
            at("2024-01-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(form.expire, at("2024-01-01T00:10:00Z"));
        assert_eq!(policy_json(&form)["expiration"], "2024-01-01T00:10:00.000Z");
        let err = build(
            &request(PostSignature::V1, &[]),
            &creds("2024-01-01T00:00:00Z"),
            at("2024-01-01T00:00:00Z"),
        )
        .unwrap_err();
        assert!(matches!(err, PostFormError::CredentialExpired { .. }));
    }

    #[test]
    fn debug_redacts_the_token() {
        let form = build(
            &request(PostSignature::V1, &[]),
            &creds("2024-01-01T06:00:00Z"),
            at("2024-01-01T00:00:00Z"),
        )
        .unwrap();
        assert!(!format!("{form:?}").contains("CAIS+abc"));
    }

    #[test]
    fn the_policy_restricts_no_x_oss_field_but_the_v4_ones() {
        // OSS refuses an x-oss-* field a V4 policy does not restrict (protocol.md §12.1): a
        // condition naming another one would let a client add it to a signed form.
        for signature in [PostSignature::V4, PostSignature::V1] {
            let types = ["image/png".to_owned()];
            let form = build(
                &request(signature, &types),
                &creds("2024-01-01T06:00:00Z"),
                at("2024-01-01T00:00:00Z"),
            )
            .unwrap();
            let named: Vec<String> = policy_json(&form)["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| match c {
                    serde_json::Value::Object(o) => o.keys().next().cloned(),
                    serde_json::Value::Array(a) => {
                        a[1].as_str().map(|f| f.trim_start_matches('$').to_owned())
                    }
                    _ => None,
                })
                .filter(|f| f.to_ascii_lowercase().starts_with("x-oss-"))
                .collect();
            let expected: &[&str] = match signature {
                PostSignature::V4 => &[
                    "x-oss-signature-version",
                    "x-oss-credential",
                    "x-oss-date",
                    "x-oss-security-token",
                ],
                PostSignature::V1 => &[],
            };
            assert_eq!(named, expected, "{signature:?}");
            assert_eq!(form.content_disposition, "inline");
            assert!(policy_json(&form)["conditions"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!({"Content-Disposition": "inline"})));
        }
    }
}
