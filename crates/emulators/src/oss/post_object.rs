//! PostObject (protocol.md §5.2–§5.5, §9), step by step: parse the form and check its shape, check
//! the signature (V1 or V4, with the STS token), check the POST policy (and, for V4, that it
//! restricts every `x-oss-*` field, protocol.md §12.1), check the key and what the credential's
//! session policy allows, check the upload callback, then store and answer — through the callback
//! when there is one. Each step lives in its own module; this one only orders them and must not
//! store anything, or send a callback, before every check passed.

use actix_web::{HttpRequest, HttpResponse};

use super::access::{permitted, resource, Signer};
use super::callback::{self, Stored};
use super::errors::{access_denied, err, OssError};
use super::form::Form;
use super::objects::{etag, store};
use super::xml::xml_escape;
use super::{form_signature, post_policy, Inner, StoredObject};

pub(super) async fn post_object(
    req: &HttpRequest,
    body: &[u8],
    inner: &Inner,
    request_id: &str,
) -> Result<HttpResponse, OssError> {
    let form = Form::parse(req, body)?;
    let (file, key) = form.check_shape()?;
    let now = inner.clock.now();
    let signed = form_signature::check(&form, inner, now)?;
    let checks = post_policy::check(&form, inner, now, file.value.len() as u64)?;
    if signed.v4 {
        post_policy::check_v4_fields(&form, &checks)?;
    }
    check_key_permission(inner, &signed.signer, &key)?;
    let pending_callback = callback::from_form(&form)?;

    let forbid_overwrite = form
        .text("x-oss-forbid-overwrite")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let content_type = form
        .effective_content_type()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let tag = etag(&file.value);
    let object = StoredObject {
        body: file.value.clone(),
        content_type: content_type.clone(),
        writer: signed.signer.access_key_id.clone(),
    };
    store(inner, &key, object, forbid_overwrite)?;
    let Some(pending) = pending_callback else {
        return Ok(respond(req, inner, &form, &key, tag));
    };
    let stored = Stored {
        key: &key,
        etag: &tag,
        body: &file.value,
        content_type: &content_type,
        request_id,
        client_ip: req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        operation: "PostObject",
    };
    Ok(callback::perform(pending, inner, &stored).await)
}

/// The key, then what the credential may do with it.
pub(super) fn check_key_permission(
    inner: &Inner,
    signer: &Signer,
    key: &str,
) -> Result<(), OssError> {
    if key.len() > 1023 || key.starts_with('/') || key.starts_with('\\') {
        return Err(err(
            400,
            "InvalidObjectName",
            "The specified object is not valid.",
        ));
    }
    if !permitted(
        signer.policy.as_ref(),
        "oss:PutObject",
        &resource(inner, Some(key)),
    ) {
        return Err(access_denied(
            "You are forbidden to oss:PutObject on this object.",
        ));
    }
    Ok(())
}

/// protocol.md §5.2: 200 and 204 have empty bodies, 201 an XML PostResponse; anything else is 204.
fn respond(req: &HttpRequest, inner: &Inner, form: &Form, key: &str, tag: String) -> HttpResponse {
    let location = format!("{}/{}", req.connection_info().host(), key);
    match form.text("success_action_status") {
        Some("200") => HttpResponse::Ok().insert_header(("ETag", tag)).finish(),
        Some("201") => HttpResponse::Created()
            .content_type("application/xml")
            .insert_header(("ETag", tag.clone()))
            .body(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>\n  <Bucket>{}</Bucket>\n  <Location>http://{}</Location>\n  <Key>{}</Key>\n  <ETag>{}</ETag>\n</PostResponse>\n",
                xml_escape(&inner.bucket),
                xml_escape(&location),
                xml_escape(key),
                xml_escape(&tag)
            )),
        _ => HttpResponse::NoContent().insert_header(("ETag", tag)).finish(),
    }
}
