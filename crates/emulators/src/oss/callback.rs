//! Upload callbacks in PostObject, performed as OSS performs them (protocol.md §5.7, §9): the
//! `callback` form field and its `x:<name>` variables are checked before the object is stored
//! (`param`); once it is stored, the body is filled in (`template`), signed RSA-MD5 with the
//! emulator's own key (`signer`) and POSTed to each `callbackUrl` in turn (`delivery`) until one
//! answers with JSON, which is relayed to the uploader with 200 and the `ETag`; when none does
//! the object stays stored and the uploader gets 203 `CallbackFailed` (EC `0007-00000203`).
//!
//! Where the emulator deliberately differs from OSS:
//! * 127.0.0.0/8 and `localhost` are accepted as callback hosts (OSS refuses them as private
//!   addresses), because the tests receive callbacks on loopback. Every other private address,
//!   and IPv6 at all, is refused as OSS refuses it.
//! * It connects to loopback only. Any other URL passes the checks as at OSS, but its callback
//!   fails ("can not connect") without a connection being tried, and no name is looked up.
//! * The signing key is the emulator's own, served at [`PUBLIC_KEY_PATH`] on its listener, and
//!   `x-oss-pub-key-url` names that URL rather than `gosspublic.alicdn.com`.
//! * It decodes no images: `${imageInfo.*}` are empty for every object, and `${vpcId}` is empty.
//!
//! It must never send a callback for an upload that failed, never retry one, and never log a
//! body, key or signature.

use std::collections::HashMap;

use actix_web::HttpResponse;
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use url::Position;

use super::errors::OssError;
use super::errors::{err, error_response};
use super::form::Form;
use super::Inner;

mod delivery;
mod param;
mod signer;
mod template;
#[cfg(test)]
mod tests;

pub use signer::verify_callback_signature;
pub(super) use signer::CallbackKey;

/// Where the emulator serves its callback public key, outside the bucket's paths.
pub const PUBLIC_KEY_PATH: &str = "/callback-public-key.pem";

/// A PostObject's callback, checked and waiting for the object to be stored.
pub(super) struct PendingCallback {
    param: param::CallbackParam,
    /// The form's `x:<name>` fields.
    custom: HashMap<String, String>,
}

/// protocol.md §9.1, §9.3: the form's `callback` field, checked; `None` when it has none. Custom
/// variables are the fields named `x:<name>` in lower case; `callback-var` is not read.
pub(super) fn from_form(form: &Form) -> Result<Option<PendingCallback>, OssError> {
    let Some(field) = form.text("callback") else {
        return Ok(None);
    };
    let param = param::parse(field)?;
    let custom = form
        .parts
        .iter()
        .filter(|p| p.name.starts_with("x:") && p.filename.is_none())
        .filter_map(|p| Some((p.name.clone(), String::from_utf8(p.value.clone()).ok()?)))
        .collect();
    Ok(Some(PendingCallback { param, custom }))
}

/// protocol.md §9.1: a CompleteMultipartUpload's callback, from its `x-oss-callback` header
/// (the same Base64 JSON as the form field) and `x-oss-callback-var` (Base64 of a JSON object
/// of `x:<name>` string values); checked before anything is stored.
pub(super) fn from_headers(callback: &str, var: Option<&str>) -> Result<PendingCallback, OssError> {
    let param = param::parse(callback)?;
    let Some(var) = var else {
        return Ok(PendingCallback {
            param,
            custom: HashMap::new(),
        });
    };
    let bad = || super::errors::invalid_argument("The callback-var is not base64 encoded json.");
    let decoded = B64.decode(var.trim()).map_err(|_| bad())?;
    let map: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&decoded).map_err(|_| bad())?;
    let custom = map
        .into_iter()
        .filter(|(k, _)| k.starts_with("x:"))
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k.to_ascii_lowercase(), s)),
            _ => Err(bad()),
        })
        .collect::<Result<_, _>>()?;
    Ok(PendingCallback { param, custom })
}

/// What the stored object and its upload request give the callback.
pub(super) struct Stored<'a> {
    pub(super) key: &'a str,
    /// The quoted `ETag` header value.
    pub(super) etag: &'a str,
    pub(super) body: &'a [u8],
    pub(super) content_type: &'a str,
    pub(super) request_id: &'a str,
    pub(super) client_ip: String,
    /// `PostObject` or `CompleteMultipartUpload`.
    pub(super) operation: &'static str,
}

/// protocol.md §9.4, §9.5: sends the callback for the stored object and answers the uploader:
/// 200 with the first JSON reply, or 203 `CallbackFailed` with the last failure.
pub(super) async fn perform(
    pending: PendingCallback,
    inner: &Inner,
    stored: &Stored<'_>,
) -> HttpResponse {
    let param = &pending.param;
    let vars = template::Variables {
        bucket: inner.bucket.clone(),
        object: stored.key.to_owned(),
        etag: stored.etag.trim_matches('"').to_owned(),
        size: stored.body.len() as u64,
        mime_type: stored.content_type.to_owned(),
        crc64: template::crc64(stored.body),
        content_md5: template::content_md5(stored.body),
        client_ip: stored.client_ip.clone(),
        request_id: stored.request_id.to_owned(),
        custom: pending.custom,
        operation: stored.operation,
    };
    let body = template::render(&param.body, param.body_type, &vars).into_bytes();
    let mut failure = String::new();
    for url in &param.urls {
        let target = &url[Position::BeforePath..Position::AfterQuery];
        let outgoing = delivery::Outgoing {
            url,
            host: param.host.as_deref(),
            sni: param.sni,
            headers: headers(inner, param.body_type, stored.request_id, target, &body),
            body: &body,
        };
        match delivery::deliver(outgoing).await {
            Ok(json) => {
                return HttpResponse::Ok()
                    .content_type("application/json")
                    .insert_header(("ETag", stored.etag))
                    .body(json)
            }
            Err(message) => failure = message,
        }
    }
    let failed = err(203, "CallbackFailed", failure).with_ec("0007-00000203");
    let mut response = error_response(inner, stored.request_id, &failed);
    if let Ok(etag) = stored.etag.parse() {
        response
            .headers_mut()
            .insert(actix_web::http::header::ETAG, etag);
    }
    response
}

/// protocol.md §9.4: the headers OSS sends with a callback to `target` carrying `body`.
fn headers(
    inner: &Inner,
    body_type: param::BodyType,
    request_id: &str,
    target: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let date = inner.clock.now().format("%a, %d %b %Y %H:%M:%S GMT");
    vec![
        ("authorization", inner.callback_key.sign(target, body)),
        ("content-md5", template::content_md5(body)),
        ("content-type", body_type.content_type().to_owned()),
        ("date", date.to_string()),
        ("user-agent", "aliyun-oss-callback".to_owned()),
        ("x-oss-bucket", inner.bucket.clone()),
        ("x-oss-pub-key-url", B64.encode(&inner.callback_key_url)),
        ("x-oss-request-id", request_id.to_owned()),
        ("x-oss-requester", inner.keys.account_id().to_owned()),
        ("x-oss-signature-version", "1.0".to_owned()),
        ("x-oss-tag", "CALLBACK".to_owned()),
    ]
}
