//! Multipart upload as OSS serves it (protocol.md §17): InitiateMultipartUpload
//! (`POST /<key>?uploads`), UploadPart (`PUT /<key>?partNumber=&uploadId=`), ListParts
//! (`GET /<key>?uploadId=`, paged by `part-number-marker` and `max-parts`), CompleteMultipartUpload
//! (`POST /<key>?uploadId=`, `complete`) and AbortMultipartUpload
//! (`DELETE /<key>?uploadId=`). Every request is signed, in the `Authorization` header or as a V4
//! presigned URL, and allowed by the session policy for the RAM action OSS names (protocol.md
//! §17.1: `oss:PutObject` for initiate, part and complete; `oss:ListParts`; `oss:AbortMultipartUpload`).
//! An upload id belongs to one key; any other key is `NoSuchUpload`. It keeps open uploads in the
//! emulator's state (not to be confused with `super::multipart`, the form-data parser) and never
//! logs a body, key or signature.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use super::access::{permitted, resource, Signer};
use super::errors::{access_denied, err, invalid_argument, OssError};
use super::header_auth::verify_header_auth;
use super::objects::etag;
use super::post_object::check_key_permission;
use super::query_auth::{decoded_query, verify_query_auth};
use super::xml::xml_escape;
use super::{header, Inner, OssEmulator};

mod complete;

/// protocol.md §17.2: part numbers are 1 to 10000.
const MAX_PART_NUMBER: u32 = 10_000;
/// ListParts answers at most this many parts at a time (and by default).
const MAX_LIST_PARTS: usize = 1000;

/// One uploaded part.
#[derive(Clone)]
pub(super) struct Part {
    etag: String,
    body: Vec<u8>,
    modified: DateTime<Utc>,
}

/// An initiated, not yet completed or aborted, upload.
pub(super) struct Upload {
    key: String,
    content_type: String,
    parts: BTreeMap<u32, Part>,
}

/// Open uploads by upload id.
#[derive(Default)]
pub(super) struct Uploads {
    open: HashMap<String, Upload>,
}

impl OssEmulator {
    /// How many multipart uploads are initiated and neither completed nor aborted.
    pub fn open_upload_count(&self) -> usize {
        self.inner.state().uploads.open.len()
    }

    /// The part numbers of an open upload, ascending; `None` when no such upload is open.
    pub fn upload_parts(&self, upload_id: &str) -> Option<Vec<u32>> {
        let state = self.inner.state();
        let upload = state.uploads.open.get(upload_id)?;
        Some(upload.parts.keys().copied().collect())
    }
}

/// The decoded query parameters.
fn query(req: &HttpRequest) -> HashMap<String, String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// Whether a request to an object is one of the multipart operations.
pub(super) fn handles(method: &Method, query_string: &str) -> bool {
    let names: Vec<&str> = query_string
        .split('&')
        .map(|p| p.split('=').next().unwrap_or(""))
        .collect();
    let has = |n: &str| names.contains(&n);
    match *method {
        Method::POST => has("uploads") || has("uploadId"),
        Method::PUT => has("uploadId") && has("partNumber"),
        Method::GET | Method::DELETE => has("uploadId"),
        _ => false,
    }
}

pub(super) async fn handle(
    req: &HttpRequest,
    key: &str,
    body: &[u8],
    inner: &Inner,
    request_id: &str,
) -> Result<HttpResponse, OssError> {
    let params = query(req);
    let upload_id = params.get("uploadId").cloned();
    match (req.method().clone(), upload_id) {
        (Method::POST, None) => initiate(req, key, inner),
        (Method::PUT, Some(id)) => upload_part(req, key, &id, &params, body, inner),
        (Method::GET, Some(id)) => list_parts(req, key, &id, &params, inner),
        (Method::DELETE, Some(id)) => abort(req, key, &id, inner),
        (Method::POST, Some(id)) => {
            complete::complete(req, key, &id, body, inner, request_id).await
        }
        _ => Err(invalid_argument("Unsupported multipart request.")),
    }
}

/// The request's signature: a presigned query (V4 or V1; with an `Authorization` header too it
/// is refused) or the header.
fn authenticate(req: &HttpRequest, key: &str, inner: &Inner) -> Result<Signer, OssError> {
    let query = decoded_query(req.query_string())?;
    match verify_query_auth(req, inner, key, &query)? {
        Some(signer) => Ok(signer),
        None => verify_header_auth(req, inner),
    }
}

/// Signature, then the key and `oss:PutObject` on it.
fn authorize_write(req: &HttpRequest, key: &str, inner: &Inner) -> Result<Signer, OssError> {
    let signer = authenticate(req, key, inner)?;
    check_key_permission(inner, &signer, key)?;
    Ok(signer)
}

/// Signature, then `action` on the object.
fn authorize(req: &HttpRequest, key: &str, inner: &Inner, action: &str) -> Result<(), OssError> {
    let signer = authenticate(req, key, inner)?;
    if !permitted(signer.policy.as_ref(), action, &resource(inner, Some(key))) {
        return Err(access_denied(format!(
            "You are forbidden to {action} on this object."
        )));
    }
    Ok(())
}

pub(super) fn no_such_upload() -> OssError {
    err(
        404,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

/// Whether `x-oss-forbid-overwrite` is `true` (any case).
pub(super) fn forbids_overwrite(req: &HttpRequest) -> bool {
    header(req, "x-oss-forbid-overwrite").is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub(super) fn file_exists() -> OssError {
    err(
        409,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
}

fn xml_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/xml")
        .body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"
        ))
}

fn initiate(req: &HttpRequest, key: &str, inner: &Inner) -> Result<HttpResponse, OssError> {
    authorize_write(req, key, inner)?;
    let mut state = inner.state();
    if forbids_overwrite(req) && state.objects.contains_key(key) {
        return Err(file_exists());
    }
    let upload_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let content_type =
        header(req, "content-type").unwrap_or_else(|| "application/octet-stream".to_owned());
    state.uploads.open.insert(
        upload_id.clone(),
        Upload {
            key: key.to_owned(),
            content_type,
            parts: BTreeMap::new(),
        },
    );
    Ok(xml_response(format!(
        "<InitiateMultipartUploadResult>\n  <Bucket>{}</Bucket>\n  <Key>{}</Key>\n  <UploadId>{upload_id}</UploadId>\n</InitiateMultipartUploadResult>\n",
        xml_escape(&inner.bucket),
        xml_escape(key)
    )))
}

/// A whole number within `range`, written plainly (no sign, no leading zero).
fn plain_number(text: &str, range: std::ops::RangeInclusive<u32>) -> Option<u32> {
    let plain = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    text.parse().ok().filter(|n| plain && range.contains(n))
}

fn upload_part(
    req: &HttpRequest,
    key: &str,
    upload_id: &str,
    params: &HashMap<String, String>,
    body: &[u8],
    inner: &Inner,
) -> Result<HttpResponse, OssError> {
    authorize_write(req, key, inner)?;
    let number = params
        .get("partNumber")
        .and_then(|n| plain_number(n, 1..=MAX_PART_NUMBER))
        .ok_or_else(|| {
            invalid_argument("Part number must be an integer between 1 and 10000, inclusive.")
        })?;
    let tag = etag(body);
    let mut state = inner.state();
    let upload = state
        .uploads
        .open
        .get_mut(upload_id)
        .filter(|u| u.key == key)
        .ok_or_else(no_such_upload)?;
    // protocol.md §17.2: the same part number uploaded again replaces the part.
    upload.parts.insert(
        number,
        Part {
            etag: tag.clone(),
            body: body.to_vec(),
            modified: inner.clock.now(),
        },
    );
    Ok(HttpResponse::Ok().insert_header(("ETag", tag)).finish())
}

fn list_parts(
    req: &HttpRequest,
    key: &str,
    upload_id: &str,
    params: &HashMap<String, String>,
    inner: &Inner,
) -> Result<HttpResponse, OssError> {
    authorize(req, key, inner, "oss:ListParts")?;
    let max = match params.get("max-parts") {
        None => MAX_LIST_PARTS,
        Some(m) => plain_number(m, 1..=MAX_LIST_PARTS as u32)
            .ok_or_else(|| invalid_argument("max-parts must be an integer between 1 and 1000."))?
            as usize,
    };
    let marker = match params.get("part-number-marker") {
        None => 0,
        Some(m) => plain_number(m, 0..=MAX_PART_NUMBER)
            .ok_or_else(|| invalid_argument("part-number-marker must be an integer."))?,
    };
    let state = inner.state();
    let upload = state
        .uploads
        .open
        .get(upload_id)
        .filter(|u| u.key == key)
        .ok_or_else(no_such_upload)?;
    let after: Vec<(&u32, &Part)> = upload.parts.range(marker + 1..).collect();
    let page = &after[..after.len().min(max)];
    let truncated = after.len() > max;
    let next = page.last().map_or(marker, |(n, _)| **n);
    let parts: String = page
        .iter()
        .map(|(n, p)| {
            format!(
                "  <Part>\n    <PartNumber>{n}</PartNumber>\n    <LastModified>{}</LastModified>\n    <ETag>{}</ETag>\n    <Size>{}</Size>\n  </Part>\n",
                p.modified.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                xml_escape(&p.etag),
                p.body.len()
            )
        })
        .collect();
    Ok(xml_response(format!(
        "<ListPartsResult>\n  <Bucket>{}</Bucket>\n  <Key>{}</Key>\n  <UploadId>{}</UploadId>\n  <PartNumberMarker>{marker}</PartNumberMarker>\n  <NextPartNumberMarker>{next}</NextPartNumberMarker>\n  <MaxParts>{max}</MaxParts>\n  <IsTruncated>{truncated}</IsTruncated>\n{parts}</ListPartsResult>\n",
        xml_escape(&inner.bucket),
        xml_escape(key),
        xml_escape(upload_id),
    )))
}

fn abort(
    req: &HttpRequest,
    key: &str,
    upload_id: &str,
    inner: &Inner,
) -> Result<HttpResponse, OssError> {
    authorize(req, key, inner, "oss:AbortMultipartUpload")?;
    let mut state = inner.state();
    match state.uploads.open.get(upload_id) {
        Some(u) if u.key == key => {
            state.uploads.open.remove(upload_id);
            Ok(HttpResponse::NoContent().finish())
        }
        _ => Err(no_such_upload()),
    }
}
