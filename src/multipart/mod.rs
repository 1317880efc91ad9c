//! Multipart uploads the broker runs for a caller (protocol.md §17, §18): the key is the
//! broker's (the profile's template under the caller's `dir`), the type one of the profile's,
//! every key named later must lie under that `dir`, part URLs are presigned PUTs bound to one
//! part of one upload, and a completion whose parts (summed from ListParts) exceed the profile's
//! limit aborts the upload instead. It works with the signing key it is handed (the profile's
//! shared multipart credential) and the OSS client; it knows no HTTP status and no app state.
//! OSS refusing the uploader's own doing (`EntityTooSmall`, `InvalidPart`, `NoSuchUpload`)
//! becomes a [`Refusal`]; anything else OSS or the network does is [`Failure::Upstream`].

pub mod wire;

use chrono::{DateTime, Utc};

use crate::encoding::percent_encode;
use crate::encoding::percent_encode_path;
use crate::key_template::ObjectKeyRule;
use crate::object_key::{is_under, validate_key, KeyError};
use crate::oss::multipart::{
    CompleteRequest, Completion, MultipartClient, MultipartError, OssRefusal, PartsToJoin,
};
use crate::oss::presign::{presign_prepared, PreparedKey, PresignKey, PresignRequest, Validity};
use crate::policy::{object_session_policy, BucketName, PolicyTooLarge};
use wire::{check_part_number, Completed, Created, PartsError, SignedPart, UploadedPart};

/// The name of a profile's shared multipart credential among its issuer's shared scopes.
pub const SCOPE: &str = "multipart";
/// protocol.md §17.1: what the shared multipart credential may do, on the upload root.
pub const ACTIONS: [&str; 3] = ["oss:PutObject", "oss:AbortMultipartUpload", "oss:ListParts"];
/// The session name of the default profile's shared multipart credential; another profile's is
/// this, `-` and its name (a hash when that is over STS's 32 characters, protocol.md §1.2).
pub const SESSION_NAME: &str = "sts-broker-multipart";

/// The session name of profile `profile`'s shared multipart credential.
pub fn session_name(profile: &str) -> String {
    if profile == "default" {
        return SESSION_NAME.to_owned();
    }
    let name = format!("{SESSION_NAME}-{profile}");
    if name.len() <= 32 {
        return name;
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(name.as_bytes());
    format!("{SESSION_NAME}-{}", hex::encode(&digest[..5]))
}

/// The session policy of the shared multipart credential over the upload `root`.
pub fn session_policy(bucket: &BucketName, root: &str) -> Result<String, PolicyTooLarge> {
    object_session_policy(bucket, root, &ACTIONS)
}

/// A profile's multipart rules.
#[derive(Debug, Clone)]
pub struct MultipartSettings {
    /// `object_key`: how keys are named (`${uuid}${ext}` when `client`).
    pub object_key: ObjectKeyRule,
    /// `overwrite = false`: `x-oss-forbid-overwrite: true` on initiate and complete.
    pub overwrite: bool,
    /// `BROKER_PART_URL_TTL_SECONDS`: how long a part URL works (capped by the credential).
    pub part_url_ttl_seconds: u32,
    /// `max_upload_bytes`: the most a completed upload may hold.
    pub max_upload_bytes: u64,
    /// `content_types`: empty allows any.
    pub allowed_content_types: Vec<String>,
    /// Where clients PUT parts and find objects: the upload host, without a trailing `/`.
    pub upload_host: String,
}

/// A profile's multipart set-up: its rules and the client of its bucket.
#[derive(Debug, Clone)]
pub struct ProfileMultipart {
    pub settings: MultipartSettings,
    pub client: MultipartClient,
}

/// Why the broker will not do what the caller asked; each is the caller's to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("invalid key: {0}")]
    InvalidKey(KeyError),
    #[error("the key is outside the caller's directory")]
    KeyOutsidePrefix,
    #[error("the content type is not one this profile allows")]
    ContentTypeNotAllowed,
    #[error("the content type is not a MIME type")]
    InvalidContentType,
    #[error("no such upload for this key")]
    NoSuchUpload,
    #[error("the upload holds {total} bytes, over the limit of {max}")]
    TooLarge { total: u64, max: u64 },
    #[error("{0}")]
    Parts(PartsError),
    #[error("an object with this key exists and this profile does not overwrite")]
    ObjectExists,
    /// OSS refused the uploader's parts (`EntityTooSmall`, `InvalidPart`, `InvalidPartOrder`).
    #[error("OSS refused the parts: {}", .0.code)]
    Oss(OssRefusal),
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Upstream(MultipartError),
    #[error("the signing credential expires too soon to sign a part URL")]
    CredentialExpiring,
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(r)
    }
}

impl From<MultipartError> for Failure {
    /// OSS's refusals of what the uploader did are the uploader's; the rest are upstream.
    fn from(e: MultipartError) -> Self {
        match e.refusal() {
            Some(r) if r.is_no_such_upload() => Refusal::NoSuchUpload.into(),
            Some(r) if r.is_file_exists() => Refusal::ObjectExists.into(),
            Some(r) if r.is_uploaders_fault() => Refusal::Oss(r.clone()).into(),
            _ => Failure::Upstream(e),
        }
    }
}

/// One caller's multipart work in one profile, signed with `key` (valid until `key_expires`).
pub struct CallerUploads<'a> {
    pub settings: &'a MultipartSettings,
    pub client: &'a MultipartClient,
    pub key: PresignKey<'a>,
    /// `key`'s security token percent-encoded, when its holder keeps it encoded (a grant does,
    /// once per credential); `None` encodes it per URL.
    pub encoded_token: Option<&'a str>,
    pub key_expires: DateTime<Utc>,
    /// The caller's directory in this profile (`uploads/alice/`).
    pub dir: &'a str,
}

/// A content type OSS would store: `type/subtype` of visible ASCII, at most 255 bytes.
fn is_mime(t: &str) -> bool {
    t.len() <= 255
        && t.split_once('/')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        && t.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

impl CallerUploads<'_> {
    /// A key the caller names must be a valid key under its `dir`.
    pub fn check_key(&self, key: &str) -> Result<(), Refusal> {
        validate_key(key).map_err(Refusal::InvalidKey)?;
        if !is_under(key, self.dir) {
            return Err(Refusal::KeyOutsidePrefix);
        }
        Ok(())
    }

    /// The type must be a MIME type, and one of the profile's when it names any.
    pub fn check_type(&self, content_type: &str) -> Result<(), Refusal> {
        if !is_mime(content_type) {
            return Err(Refusal::InvalidContentType);
        }
        let allowed = &self.settings.allowed_content_types;
        if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(content_type)) {
            return Err(Refusal::ContentTypeNotAllowed);
        }
        Ok(())
    }

    /// The broker's key for `filename`: the profile's template under the caller's `dir`.
    pub fn choose_key(
        &self,
        filename: &str,
        uuid: &str,
        now: DateTime<Utc>,
    ) -> Result<String, Refusal> {
        let relative = self
            .settings
            .object_key
            .broker_template()
            .render(filename, uuid, now);
        let key = format!("{}{relative}", self.dir);
        self.check_key(&key)?;
        Ok(key)
    }

    /// `POST /s3/multipart`: checks the type, chooses the key, initiates the upload.
    pub async fn create(
        &self,
        filename: &str,
        content_type: &str,
        uuid: &str,
        now: DateTime<Utc>,
    ) -> Result<Created, Failure> {
        self.check_type(content_type)?;
        let key = self.choose_key(filename, uuid, now)?;
        let forbid = !self.settings.overwrite;
        let initiated = self
            .client
            .initiate(&self.key, &key, content_type, forbid)
            .await?;
        Ok(Created {
            key,
            upload_id: initiated.upload_id,
            bucket: self.client.target().bucket.clone(),
        })
    }

    /// A presigned PUT for one part, valid for the part TTL or until the credential expires.
    pub fn sign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        now: DateTime<Utc>,
    ) -> Result<SignedPart, Failure> {
        self.check_key(key)?;
        check_part_number(part_number).map_err(Refusal::Parts)?;
        if upload_id.is_empty() {
            return Err(Refusal::NoSuchUpload.into());
        }
        let left = (self.key_expires - now).num_seconds();
        let expires = i64::from(self.settings.part_url_ttl_seconds).min(left);
        let expires = u32::try_from(expires)
            .ok()
            .filter(|e| *e >= 1)
            .ok_or(Failure::CredentialExpiring)?;
        let query = vec![
            ("partNumber".to_owned(), part_number.to_string()),
            ("uploadId".to_owned(), upload_id.to_owned()),
        ];
        let target = self.client.target();
        let request = PresignRequest {
            method: "PUT",
            bucket: &target.bucket,
            key,
            query: &query,
            // Browsers and mini programs send a part with no type: none is signed.
            headers: &[],
            additional_headers: &[],
        };
        let validity = Validity {
            signed_at: now,
            expires,
        };
        let encoded = match (self.encoded_token, self.key.security_token) {
            (Some(held), _) => Some(std::borrow::Cow::Borrowed(held)),
            (None, token) => token.map(|t| std::borrow::Cow::Owned(percent_encode(t))),
        };
        let key = PreparedKey {
            access_key_id: self.key.access_key_id,
            secret: self.key.secret,
            encoded_token: encoded.as_deref(),
        };
        let url = presign_prepared(
            &request,
            &key,
            &target.region,
            validity,
            &self.settings.upload_host,
        )
        .map_err(|_| Failure::CredentialExpiring)?;
        Ok(SignedPart {
            url: url.url,
            expires,
        })
    }

    /// `GET /s3/multipart/{uploadId}`: every uploaded part.
    pub async fn list(&self, key: &str, upload_id: &str) -> Result<Vec<UploadedPart>, Failure> {
        self.check_key(key)?;
        let parts = self.client.list_parts(&self.key, key, upload_id).await?;
        Ok(parts
            .into_iter()
            .map(|p| UploadedPart {
                part_number: p.part_number,
                size: p.size,
                etag: p.etag,
            })
            .collect())
    }

    /// `DELETE /s3/multipart/{uploadId}`.
    pub async fn abort(&self, key: &str, upload_id: &str) -> Result<(), Failure> {
        self.check_key(key)?;
        self.client.abort(&self.key, key, upload_id).await?;
        Ok(())
    }

    /// `POST /s3/multipart/{uploadId}/complete`: the parts' total (from ListParts) within the
    /// limit, or the upload is aborted and refused as too large; then the completion, with the
    /// profile's callback when `callback` is given. An empty `parts` joins every uploaded part
    /// (for clients that cannot read `ETag`).
    pub async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(u32, String)>,
        callback: Option<String>,
    ) -> Result<Completed, Failure> {
        self.check_key(key)?;
        let uploaded = self.client.list_parts(&self.key, key, upload_id).await?;
        let total: u64 = uploaded.iter().map(|p| p.size).sum();
        let max = self.settings.max_upload_bytes;
        if total > max {
            if let Err(e) = self.client.abort(&self.key, key, upload_id).await {
                tracing::warn!(error = %e, "could not abort an upload over its limit");
            }
            return Err(Refusal::TooLarge { total, max }.into());
        }
        let parts = if parts.is_empty() {
            uploaded
                .into_iter()
                .map(|p| (p.part_number, p.etag))
                .collect()
        } else {
            parts
        };
        if parts.is_empty() {
            return Err(Refusal::Parts(PartsError::NoParts).into());
        }
        let request = CompleteRequest {
            parts: PartsToJoin::Listed(parts),
            forbid_overwrite: !self.settings.overwrite,
            callback,
            callback_var: None,
        };
        let completion = self
            .client
            .complete(&self.key, key, upload_id, &request)
            .await?;
        let mut answer = Completed {
            location: format!("{}/{}", self.settings.upload_host, percent_encode_path(key)),
            key: key.to_owned(),
            bucket: self.client.target().bucket.clone(),
            callback: None,
            callback_error: None,
        };
        match completion {
            Completion::Stored(_) => {}
            Completion::CallbackAnswered(json) => answer.callback = Some(json),
            Completion::CallbackFailed { .. } => {
                answer.callback_error =
                    Some("the object is stored, but the callback to the app failed".into());
            }
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests;
