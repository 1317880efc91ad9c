//! The POST policy document of a PostObject form (protocol.md §5.3): Base64 JSON with an ISO 8601
//! `expiration` and `conditions`, every condition well-formed before any is evaluated, the
//! policy unexpired, then each condition held against the form (`eq`, `starts-with`, `in`,
//! `not-in`, `content-length-range`); and the V4 rule that every `x-oss-*` field of the form is
//! restricted by a condition, the signing fields and the token by an exact match (protocol.md
//! §5.5, §12.1, read strictly). It must refuse a form any condition does not allow, or a V4
//! field no condition restricts, and never relax a condition.

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::{DateTime, SubsecRound as _, Utc};
use serde_json::Value;

use crate::common::parse_utc_timestamp;

use super::errors::{access_denied, err, OssError};
use super::form::Form;
use super::Inner;

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (protocol.md §5.3: both forms appear in official material); the
/// fraction is checked but not kept.
pub(super) fn parse_expiration(s: &str) -> Option<DateTime<Utc>> {
    parse_utc_timestamp(s).map(|at| at.trunc_subsecs(0))
}

fn policy_failed(condition: &Value) -> OssError {
    let shown = serde_json::to_string(condition)
        .unwrap_or_default()
        .replace(',', ", ");
    err(
        403,
        "AccessDenied",
        format!("Invalid according to Policy: Policy Condition failed: {shown}"),
    )
}

fn invalid_policy(why: &str) -> OssError {
    err(
        400,
        "InvalidPolicyDocument",
        format!("Invalid Policy: {why}"),
    )
}

/// A checked condition, ready to evaluate.
#[derive(Clone)]
pub(super) enum Check {
    Eq(String, String),
    StartsWith(String, String),
    Length(u64, u64),
    In(String, Vec<String>, bool),
}

fn field_ref(v: &Value) -> Result<String, OssError> {
    v.as_str()
        .and_then(|s| s.strip_prefix('$'))
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| invalid_policy("a condition must name a field as \"$name\""))
}

fn shape(condition: &Value) -> Result<Check, OssError> {
    match condition {
        Value::Object(o) => {
            if o.len() != 1 {
                return Err(invalid_policy(
                    "Simple-Conditions must have exactly one property specified.",
                ));
            }
            let (k, v) = o.iter().next().expect("one property");
            let v = v
                .as_str()
                .ok_or_else(|| invalid_policy("a condition value must be a string"))?;
            Ok(Check::Eq(k.to_ascii_lowercase(), v.to_owned()))
        }
        Value::Array(a) => {
            let op = a
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| invalid_policy("a condition must start with its operator"))?;
            match (op.to_ascii_lowercase().as_str(), a.len()) {
                ("eq", 3) | ("starts-with", 3) => {
                    let field = field_ref(&a[1])?;
                    let value = a[2]
                        .as_str()
                        .ok_or_else(|| invalid_policy("a condition value must be a string"))?
                        .to_owned();
                    Ok(if op.eq_ignore_ascii_case("eq") {
                        Check::Eq(field, value)
                    } else {
                        Check::StartsWith(field, value)
                    })
                }
                ("content-length-range", 3) => {
                    let (Some(min), Some(max)) = (a[1].as_u64(), a[2].as_u64()) else {
                        return Err(invalid_policy("content-length-range takes two integers"));
                    };
                    Ok(Check::Length(min, max))
                }
                (kind @ ("in" | "not-in"), 3) => {
                    let field = field_ref(&a[1])?;
                    let values = a[2]
                        .as_array()
                        .and_then(|l| {
                            l.iter()
                                .map(|v| v.as_str().map(str::to_owned))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| invalid_policy("in/not-in take a list of strings"))?;
                    Ok(Check::In(field, values, kind == "in"))
                }
                _ => Err(invalid_policy(&format!(
                    "unknown or malformed condition `{op}`"
                ))),
            }
        }
        _ => Err(invalid_policy("a condition must be an object or an array")),
    }
}

/// What a `$field` refers to in this form.
fn field_value(form: &Form, inner: &Inner, field: &str) -> Option<String> {
    match field {
        "bucket" => Some(inner.bucket.clone()),
        "content-type" => form.effective_content_type(),
        _ => form.text(field).map(str::to_owned),
    }
}

/// protocol.md §5.3: decodes and shapes the form's policy, refuses it once expired, and holds every
/// condition against the form and its `size`-byte file; returns the checked conditions.
pub(super) fn check(
    form: &Form,
    inner: &Inner,
    now: DateTime<Utc>,
    size: u64,
) -> Result<Vec<Check>, OssError> {
    let decoded = B64
        .decode(form.text("policy").unwrap_or_default())
        .map_err(|_| invalid_policy("the policy is not Base64"))?;
    let doc: Value =
        serde_json::from_slice(&decoded).map_err(|_| invalid_policy("the policy is not JSON"))?;
    let expiration = doc
        .get("expiration")
        .and_then(Value::as_str)
        .and_then(parse_expiration)
        .ok_or_else(|| invalid_policy("expiration must be an ISO 8601 UTC time"))?;
    let conditions = doc
        .get("conditions")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_policy("conditions must be an array"))?;
    let checks = conditions
        .iter()
        .map(|c| shape(c).map(|s| (c, s)))
        .collect::<Result<Vec<_>, _>>()?;
    if now > expiration {
        return Err(access_denied(
            "Invalid according to Policy: Policy expired.",
        ));
    }
    for (condition, check) in &checks {
        if !holds(form, inner, check, size)? {
            return Err(policy_failed(condition));
        }
    }
    Ok(checks.into_iter().map(|(_, check)| check).collect())
}

/// Whether one condition holds; a file outside `content-length-range` is its own error.
fn holds(form: &Form, inner: &Inner, check: &Check, size: u64) -> Result<bool, OssError> {
    Ok(match check {
        Check::Eq(field, value) => field_value(form, inner, field).as_deref() == Some(value),
        Check::StartsWith(field, prefix) => {
            field_value(form, inner, field).is_some_and(|v| v.starts_with(prefix.as_str()))
        }
        Check::In(field, values, wanted) => {
            field_value(form, inner, field).is_some_and(|v| values.contains(&v) == *wanted)
        }
        Check::Length(min, max) => {
            if size > *max {
                return Err(err(
                    400,
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size.",
                ));
            }
            if size < *min {
                return Err(err(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size.",
                ));
            }
            true
        }
    })
}

/// The V4 signing fields and the token: each must be pinned by an exact match (protocol.md §5.5).
const V4_PINNED: [&str; 4] = [
    "x-oss-signature-version",
    "x-oss-credential",
    "x-oss-date",
    "x-oss-security-token",
];

/// protocol.md §12.1, strict reading: in a V4 form, every `x-oss-*` field must be restricted by
/// a condition of the policy, except `x-oss-signature` (which the policy cannot name); OSS
/// answers a field that is not with "Extra input fields" (EC 0006-00000228). The signing
/// fields and the token need an exact match (§5.5); any other `x-oss-*` field (object ACL,
/// `x-oss-forbid-overwrite`, `x-oss-meta-*`, `x-oss-content-type`, storage class...) any
/// condition naming it. Fields outside `x-oss-*` (`key`, `callback`, `x:*`, `Content-Type`,
/// `success_action_redirect`, ...) need none: the V4 sample of Alibaba's SDK posts `key`,
/// `callback` and `x:*` unnamed, and the rule is only documented for `x-oss-*`; a condition
/// that names one is still held against the form by [`check`].
pub(super) fn check_v4_fields(form: &Form, checks: &[Check]) -> Result<(), OssError> {
    let fields = &form.parts[..form.parts.len().saturating_sub(1)];
    for part in fields {
        let name = part.name.to_ascii_lowercase();
        if !name.starts_with("x-oss-") || name == "x-oss-signature" {
            continue;
        }
        let exact_only = V4_PINNED.contains(&name.as_str());
        let restricted = checks.iter().any(|check| match check {
            Check::Eq(field, _) => *field == name,
            Check::StartsWith(field, _) | Check::In(field, _, _) => !exact_only && *field == name,
            Check::Length(..) => false,
        });
        if !restricted {
            return Err(access_denied(format!(
                "Invalid according to Policy: Extra input fields: {}",
                part.name
            )));
        }
    }
    Ok(())
}
