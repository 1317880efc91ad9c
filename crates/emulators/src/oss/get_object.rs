//! GetObject, `GET /<bucket>/<key>`, as OSS answers it: a presigned URL (V4 or V1,
//! `super::query_auth`) or an `Authorization` header (`super::header_auth`) names the signer,
//! whose session policy must allow `oss:GetObject` on the object; an unsigned read succeeds only
//! on a public-read bucket ([`BucketAcl`]). On a signed read the `response-*` overrides set the
//! answer's headers (`response-content-disposition` becomes `Content-Disposition`,
//! protocol.md §16.4); `x-oss-process` is echoed in [`PROCESS_ECHO_HEADER`] (the emulator
//! processes no images) so tests see what arrived. It changes nothing it reads.

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse};

use super::access::{permitted, resource};
use super::errors::{access_denied, err, OssError};
use super::header_auth::verify_header_auth;
use super::objects::etag;
use super::query_auth::{decoded_query, single, verify_query_auth};
use super::{header, Inner, OssEmulator, StoredObject};

/// The header in which the emulator repeats the `x-oss-process` a GET carried (not an OSS
/// header: OSS would answer the processed image instead).
pub const PROCESS_ECHO_HEADER: &str = "x-emulator-oss-process";

/// Who may read the bucket's objects without a signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BucketAcl {
    /// Every read must be signed by a key allowed `oss:GetObject` (OSS's default for a new
    /// bucket).
    Private,
    /// Anyone may read; signed reads are still checked. The emulator starts so, because the
    /// upload tests read back what they wrote without signing.
    #[default]
    PublicRead,
}

/// The `response-*` overrides of a signed GetObject and the headers they set.
const OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "content-type"),
    ("response-content-language", "content-language"),
    ("response-expires", "expires"),
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
];

impl OssEmulator {
    /// Sets the bucket's ACL (as the console would); the emulator starts public-read.
    pub fn set_acl(&self, acl: BucketAcl) {
        self.inner.state().acl = acl;
    }

    /// Stores `body` under `key` directly, as a finished upload would, for tests of reading.
    pub fn insert_object(&self, key: &str, body: &[u8], content_type: &str) {
        let object = StoredObject {
            body: body.to_vec(),
            content_type: content_type.to_owned(),
            writer: "test".to_owned(),
        };
        super::objects::store(&self.inner, key, object, false).expect("overwriting is allowed");
    }
}

pub(super) fn get_object(
    req: &HttpRequest,
    key: &str,
    inner: &Inner,
) -> Result<HttpResponse, OssError> {
    let query = decoded_query(req.query_string())?;
    let signed = authorize(req, key, inner, &query)?;
    let (object, modified) = {
        let state = inner.state();
        (
            state.objects.get(key).cloned(),
            state.modified.get(key).copied(),
        )
    };
    let object =
        object.ok_or_else(|| err(404, "NoSuchKey", "The specified key does not exist."))?;
    let mut response = HttpResponse::Ok();
    response
        .content_type(object.content_type.as_str())
        .insert_header(("ETag", etag(&object.body)));
    if let Some(at) = modified {
        response.insert_header((
            "Last-Modified",
            at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        ));
    }
    if signed {
        for (parameter, header_name) in OVERRIDES {
            if let Some(value) = single(&query, parameter)? {
                response.insert_header((header_name, header_value(parameter, value)?));
            }
        }
    }
    if let Some(process) = single(&query, "x-oss-process")? {
        response.insert_header((PROCESS_ECHO_HEADER, header_value("x-oss-process", process)?));
    }
    Ok(response.body(object.body))
}

/// Whether the read is signed (and then allowed `oss:GetObject` on the object), or unsigned on
/// a public-read bucket; anything else is refused.
fn authorize(
    req: &HttpRequest,
    key: &str,
    inner: &Inner,
    query: &[(String, String)],
) -> Result<bool, OssError> {
    let signer = match verify_query_auth(req, inner, key, query)? {
        Some(signer) => signer,
        None if header(req, "authorization").is_some() => verify_header_auth(req, inner)?,
        None if inner.state().acl == BucketAcl::Private => {
            return Err(access_denied(
                "You have no right to access this object because of bucket acl.",
            ));
        }
        None => return Ok(false),
    };
    if !permitted(
        signer.policy.as_ref(),
        "oss:GetObject",
        &resource(inner, Some(key)),
    ) {
        return Err(access_denied(
            "You are forbidden to oss:GetObject on this object.",
        ));
    }
    Ok(true)
}

fn header_value(parameter: &str, value: &str) -> Result<HeaderValue, OssError> {
    HeaderValue::from_str(value)
        .map_err(|_| err(400, "InvalidArgument", format!("{parameter} is invalid.")))
}
