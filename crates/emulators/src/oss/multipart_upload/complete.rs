//! CompleteMultipartUpload (`POST /<key>?uploadId=`, protocol.md §17.2): the parts list of the
//! body, strictly ascending (`InvalidPartOrder`), each part uploaded with exactly the ETag OSS
//! gave it, quotes included (`InvalidPart`); or, with `x-oss-complete-all: yes` and an empty body,
//! every uploaded part in order. Every part but the last must hold at least 100 KB
//! (`EntityTooSmall`); `x-oss-forbid-overwrite: true` keeps an existing object
//! (`FileAlreadyExists`, the upload stays open); an `x-oss-callback` header is checked before
//! anything is stored and performed after, as PostObject's callback is. Nothing is stored, and the
//! upload stays open, unless every check passed.
//!
//! Deliberate difference from OSS: the object's ETag is the emulator's hash of its bytes (as for
//! every stored object), not OSS's `"<md5 of the part MD5s>-<count>"`.

use actix_web::{HttpRequest, HttpResponse};

use super::super::callback::{self, Stored};
use super::super::errors::{err, invalid_argument, OssError};
use super::super::objects::etag;
use super::super::xml::{tags, xml_escape, xml_unescape};
use super::super::{header, Inner, StoredObject};
use super::{authorize_write, file_exists, forbids_overwrite, no_such_upload, plain_number};
use super::{Part, MAX_PART_NUMBER};

/// protocol.md §17.3: every part but the last holds at least 100 KB.
const MIN_PART_BYTES: usize = 100 * 1024;

fn malformed() -> OssError {
    err(
        400,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema.",
    )
}

/// `(part number, ETag)` of each `<Part>` of a `<CompleteMultipartUpload>`, as listed.
fn parse_parts(body: &[u8]) -> Result<Vec<(u32, String)>, OssError> {
    let xml = std::str::from_utf8(body).map_err(|_| malformed())?;
    let roots = tags(xml, "CompleteMultipartUpload");
    let [root] = roots.as_slice() else {
        return Err(malformed());
    };
    let parts: Vec<(u32, String)> = tags(root, "Part")
        .into_iter()
        .map(|part| {
            let numbers = tags(part, "PartNumber");
            let etags = tags(part, "ETag");
            let ([number], [tag]) = (numbers.as_slice(), etags.as_slice()) else {
                return Err(malformed());
            };
            let number = plain_number(number.trim(), 1..=MAX_PART_NUMBER).ok_or_else(|| {
                invalid_argument("Part number must be an integer between 1 and 10000, inclusive.")
            })?;
            Ok((number, xml_unescape(tag.trim())))
        })
        .collect::<Result<_, _>>()?;
    if parts.is_empty() {
        return Err(malformed());
    }
    Ok(parts)
}

/// The body's list, or none for `x-oss-complete-all: yes` (whose body must be empty).
fn requested_parts(req: &HttpRequest, body: &[u8]) -> Result<Option<Vec<(u32, String)>>, OssError> {
    match header(req, "x-oss-complete-all") {
        None => parse_parts(body).map(Some),
        Some(v) if v == "yes" && body.is_empty() => Ok(None),
        Some(v) if v == "yes" => Err(invalid_argument(
            "The body must be empty when x-oss-complete-all is yes.",
        )
        .with_ec("0042-00000216")),
        Some(_) => Err(invalid_argument("x-oss-complete-all must be yes.")),
    }
}

/// The parts to join, in order, checked against what was uploaded.
fn chosen_parts(
    uploaded: &std::collections::BTreeMap<u32, Part>,
    requested: Option<Vec<(u32, String)>>,
) -> Result<Vec<Part>, OssError> {
    let Some(requested) = requested else {
        if uploaded.is_empty() {
            return Err(invalid_argument("The upload has no parts to complete."));
        }
        return Ok(uploaded.values().cloned().collect());
    };
    if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(err(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        ));
    }
    requested
        .iter()
        .map(|(number, tag)| {
            uploaded
                .get(number)
                .filter(|p| p.etag == *tag)
                .cloned()
                .ok_or_else(|| {
                    err(
                        400,
                        "InvalidPart",
                        "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
                    )
                })
        })
        .collect()
}

/// Joins the parts and stores the object, under one lock, once every check passed; the upload
/// is then gone. Answers the stored object.
fn assemble(
    req: &HttpRequest,
    key: &str,
    upload_id: &str,
    requested: Option<Vec<(u32, String)>>,
    inner: &Inner,
    writer: String,
) -> Result<StoredObject, OssError> {
    let mut state = inner.state();
    let upload = state
        .uploads
        .open
        .get(upload_id)
        .filter(|u| u.key == key)
        .ok_or_else(no_such_upload)?;
    let parts = chosen_parts(&upload.parts, requested)?;
    if parts[..parts.len() - 1]
        .iter()
        .any(|p| p.body.len() < MIN_PART_BYTES)
    {
        return Err(err(
            400,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size.",
        ));
    }
    if forbids_overwrite(req) && state.objects.contains_key(key) {
        return Err(file_exists());
    }
    let object = StoredObject {
        body: parts.into_iter().flat_map(|p| p.body).collect(),
        content_type: upload.content_type.clone(),
        writer,
    };
    state.uploads.open.remove(upload_id);
    state.objects.insert(key.to_owned(), object.clone());
    state.modified.insert(key.to_owned(), inner.clock.now());
    Ok(object)
}

pub(super) async fn complete(
    req: &HttpRequest,
    key: &str,
    upload_id: &str,
    body: &[u8],
    inner: &Inner,
    request_id: &str,
) -> Result<HttpResponse, OssError> {
    let signer = authorize_write(req, key, inner)?;
    let requested = requested_parts(req, body)?;
    let pending = match header(req, "x-oss-callback") {
        Some(cb) => Some(callback::from_headers(
            &cb,
            header(req, "x-oss-callback-var").as_deref(),
        )?),
        None => None,
    };
    let object = assemble(req, key, upload_id, requested, inner, signer.access_key_id)?;
    let tag = etag(&object.body);
    if let Some(pending) = pending {
        let stored = Stored {
            key,
            etag: &tag,
            body: &object.body,
            content_type: &object.content_type,
            request_id,
            client_ip: req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            operation: "CompleteMultipartUpload",
        };
        return Ok(callback::perform(pending, inner, &stored).await);
    }
    let location = format!(
        "http://{}/{}/{}",
        req.connection_info().host(),
        inner.bucket,
        key
    );
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .insert_header(("ETag", tag.clone()))
        .body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>\n  <Location>{}</Location>\n  <Bucket>{}</Bucket>\n  <Key>{}</Key>\n  <ETag>{}</ETag>\n</CompleteMultipartUploadResult>\n",
            xml_escape(&location),
            xml_escape(&inner.bucket),
            xml_escape(key),
            xml_escape(&tag)
        )))
}
