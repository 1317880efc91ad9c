//! Which key signed a PostObject form, checked as OSS does: a form carries V1 fields
//! (`OSSAccessKeyId`, `Signature`, protocol.md §5.4) or V4 fields (`x-oss-credential`, `x-oss-date`,
//! `x-oss-signature`, protocol.md §5.5), never both and never neither; the V4 scope, region and date
//! must fit this bucket and the emulator's clock; the key is resolved with its STS token
//! (`super::access`) and the signature over the Base64 policy recomputed. It never logs the
//! secret or a signature.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::common::{ct_eq, hmac_sha1_base64};

use super::access::{resolve_key, Signer};
use super::errors::{
    access_denied, invalid_argument, signature_mismatch, time_too_skewed, OssError,
};
use super::form::Form;
use super::v4::{parse_scope, parse_v4_datetime, v4_sign, ALGORITHM, MAX_SKEW_SECONDS};
use super::Inner;

/// protocol.md §5.5: a V4 POST is valid at most 7 days from its `x-oss-date`.
const MAX_V4_VALIDITY_DAYS: i64 = 7;

/// A form's verified signer, and whether it signed with V4 (whose fields the policy must bind).
pub(super) struct FormSigner {
    pub(super) signer: Signer,
    pub(super) v4: bool,
}

/// protocol.md §5.4, §5.5: the form's signature, V1 or V4.
pub(super) fn check(
    form: &Form,
    inner: &Inner,
    now: DateTime<Utc>,
) -> Result<FormSigner, OssError> {
    let v1 = ["OSSAccessKeyId", "Signature"]
        .iter()
        .any(|f| form.get(f).is_some());
    let v4 = form.get("x-oss-signature-version").is_some();
    match (v1, v4) {
        (true, true) => Err(invalid_argument(
            "A form must carry either V1 or V4 signature fields, not both.",
        )),
        (false, false) => Err(access_denied(
            "You have no right to access this object because of bucket acl.",
        )),
        (true, false) => Ok(FormSigner {
            signer: check_v1(form, inner)?,
            v4: false,
        }),
        (false, true) => Ok(FormSigner {
            signer: check_v4(form, inner, now)?,
            v4: true,
        }),
    }
}

/// protocol.md §5.4.
pub(super) fn v1_sign(secret: &str, policy: &str) -> String {
    hmac_sha1_base64(secret.as_bytes(), policy.as_bytes())
}

/// protocol.md §5.4: `OSSAccessKeyId`, `policy` and `Signature` together, the signature being
/// Base64(HMAC-SHA1(secret, policy)).
fn check_v1(form: &Form, inner: &Inner) -> Result<Signer, OssError> {
    let (Some(ak), Some(signature), Some(policy)) = (
        form.text("OSSAccessKeyId"),
        form.text("Signature"),
        form.text("policy"),
    ) else {
        return Err(invalid_argument(
            "Bucket POST must contain the fields OSSAccessKeyId, policy and Signature together.",
        ));
    };
    let signer = resolve_key(inner, ak, form.text("x-oss-security-token"))?;
    if !ct_eq(
        v1_sign(&signer.secret, policy).as_bytes(),
        signature.as_bytes(),
    ) {
        return Err(signature_mismatch());
    }
    Ok(signer)
}

/// protocol.md §5.5: every V4 field, a scope for this region, a date within the skew and validity
/// windows, then the signature over the Base64 policy.
fn check_v4(form: &Form, inner: &Inner, now: DateTime<Utc>) -> Result<Signer, OssError> {
    check_v4_fields(form)?;
    let credential = form.text("x-oss-credential").unwrap_or_default();
    let date_field = form.text("x-oss-date").unwrap_or_default();
    let Some((ak, date, region)) = parse_scope(credential) else {
        return Err(invalid_argument(
            "Invalid x-oss-credential: expected <AccessKeyId>/<date>/<region>/oss/aliyun_v4_request.",
        ));
    };
    if NaiveDate::parse_from_str(date, "%Y%m%d").is_err() || date.len() != 8 {
        return Err(invalid_argument("Invalid date in x-oss-credential."));
    }
    if region != inner.region {
        return Err(invalid_argument(format!(
            "Invalid region in x-oss-credential; this bucket is in {}.",
            inner.region
        )));
    }
    check_v4_date(date_field, date, now)?;
    let signer = resolve_key(inner, ak, form.text("x-oss-security-token"))?;
    let policy = form.text("policy").unwrap_or_default();
    let expected = v4_sign(&signer.secret, date, region, policy);
    let sent = form.text("x-oss-signature").unwrap_or_default();
    if !ct_eq(expected.as_bytes(), sent.as_bytes()) {
        return Err(signature_mismatch());
    }
    Ok(signer)
}

/// The V4 fields, present, and the algorithm OSS knows.
fn check_v4_fields(form: &Form) -> Result<(), OssError> {
    let missing = [
        "x-oss-credential",
        "x-oss-date",
        "x-oss-signature",
        "policy",
    ]
    .into_iter()
    .find(|f| form.text(f).is_none());
    if let Some(f) = missing {
        return Err(invalid_argument(format!(
            "A V4 POST must contain the field {f}."
        )));
    }
    let version = form.text("x-oss-signature-version").unwrap_or_default();
    if version != ALGORITHM {
        return Err(invalid_argument(
            "x-oss-signature-version must be OSS4-HMAC-SHA256.",
        ));
    }
    Ok(())
}

/// `x-oss-date`: well-formed, on the scope's date, not too far ahead of the emulator's clock
/// and not older than the validity window.
fn check_v4_date(date_field: &str, date: &str, now: DateTime<Utc>) -> Result<(), OssError> {
    let Some(signed_at) = parse_v4_datetime(date_field) else {
        return Err(invalid_argument("Invalid x-oss-date."));
    };
    if !date_field.starts_with(date) {
        return Err(invalid_argument(
            "x-oss-date does not match the date of x-oss-credential.",
        ));
    }
    if signed_at - now > Duration::seconds(MAX_SKEW_SECONDS) {
        return Err(time_too_skewed());
    }
    if now - signed_at > Duration::days(MAX_V4_VALIDITY_DAYS) {
        return Err(access_denied("Request has expired."));
    }
    Ok(())
}
