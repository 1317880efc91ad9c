//! The emulated bucket's objects: storing what a verified PostObject wrote (honouring
//! `x-oss-forbid-overwrite`) and reading it back with `GET /<bucket>/<key>`. Reads are open —
//! the emulator checks writes, which is what the broker hands out — and it never checks a
//! signature itself: callers store only after every check passed.

use actix_web::HttpResponse;
use sha2::{Digest as _, Sha256};

use super::errors::{err, OssError};
use super::{Inner, StoredObject};

pub(super) fn get_object(key: &str, inner: &Inner) -> Result<HttpResponse, OssError> {
    // Reads are open: the emulator checks writes, which is what the broker hands out.
    let object = inner
        .state()
        .objects
        .get(key)
        .cloned()
        .ok_or_else(|| err(404, "NoSuchKey", "The specified key does not exist."))?;
    Ok(HttpResponse::Ok()
        .content_type(object.content_type.as_str())
        .insert_header(("ETag", etag(&object.body)))
        .body(object.body))
}

/// A quoted hex ETag (not MD5 as in OSS; only its shape matters to clients here).
pub(super) fn etag(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode_upper(&Sha256::digest(body)[..16]))
}

/// Stores `object` under `key` as written now, unless `forbid_overwrite` and the key exists.
pub(super) fn store(
    inner: &Inner,
    key: &str,
    object: StoredObject,
    forbid_overwrite: bool,
) -> Result<(), OssError> {
    let mut st = inner.state();
    if forbid_overwrite && st.objects.contains_key(key) {
        return Err(err(
            409,
            "FileAlreadyExists",
            "The object you specified already exists.",
        ));
    }
    st.objects.insert(key.to_owned(), object);
    st.modified.insert(key.to_owned(), inner.clock.now());
    Ok(())
}
