//! The callback section: `BROKER_CALLBACK_URL` (where OSS reaches `/ossCallback`),
//! `BROKER_CALLBACK_SECRET` (signs grants and forwards) and `BROKER_CALLBACK_PUBLIC_KEY_FILE`
//! (OSS's key, pinned). Required only when a profile has a callback; never quotes the secret.

use secrecy::SecretString;

use super::reader::{web_url, Reader};
use crate::callback::signature::parse_public_key;
use crate::callback::CallbackConfig;
use crate::secret_strength::weak_secret;

/// `needed`: some profile has a callback (whether or not that profile read without problems).
pub(crate) fn read(r: &mut Reader<'_>, needed: bool) -> Option<Option<CallbackConfig>> {
    let url = r.parsed("BROKER_CALLBACK_URL", None, |raw| web_url(raw, true));
    let secret = r.parsed("BROKER_CALLBACK_SECRET", None, |raw| {
        match weak_secret(raw.as_bytes()) {
            Some(reason) => Err(reason.to_owned()),
            None => Ok(SecretString::from(raw.to_owned())),
        }
    });
    let pinned_key = r.parsed("BROKER_CALLBACK_PUBLIC_KEY_FILE", None, |path| {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {path}: {}", e.kind()))?;
        parse_public_key(&text).map_err(|e| format!("{path} {e}"))
    });
    if !needed {
        return Some(None);
    }
    let what = "a profile has a callback";
    if url.is_none() && !r.is_set("BROKER_CALLBACK_URL") {
        r.problem(
            "BROKER_CALLBACK_URL",
            format!("is required when {what}: the public URL at which OSS reaches this broker's POST /ossCallback"),
        );
    }
    if secret.is_none() && !r.is_set("BROKER_CALLBACK_SECRET") {
        r.problem(
            "BROKER_CALLBACK_SECRET",
            format!("is required when {what}: at least 32 random bytes signing what the broker forwards"),
        );
    }
    Some(Some(CallbackConfig {
        url: url?,
        secret: secret?,
        pinned_key,
    }))
}
