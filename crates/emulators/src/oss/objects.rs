//! The emulated bucket's objects: storing what a verified PostObject wrote (honouring
//! `x-oss-forbid-overwrite`) and their ETag. It never checks a signature itself: callers store
//! only after every check passed, and reads are `super::get_object`'s.

use sha2::{Digest as _, Sha256};

use super::errors::{err, OssError};
use super::{Inner, StoredObject};

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
