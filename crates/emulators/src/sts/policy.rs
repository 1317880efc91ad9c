//! The session-policy grammar STS enforces on `Policy` (protocol.md §1.2): size, JSON shape,
//! `"Version": "1"` and well-formed statements. Only a policy that passes is ever attached to a
//! credential; evaluating one is `crate::common::policy_allows`, shared with OSS. It must not
//! accept anything real STS would refuse.

use serde_json::Value;

use crate::common::string_list;

use super::errors::{fail, StsError};

/// `Policy`: optional, 1-2048 characters, grammatical (protocol.md §1.2).
pub(super) fn policy_param(value: Option<&str>) -> Result<Option<Value>, StsError> {
    match value {
        None => Ok(None),
        Some(text) if !(1..=2048).contains(&text.chars().count()) => {
            Err(fail("InvalidParameter.PolicySize"))
        }
        Some(text) => check_policy(text)
            .map(Some)
            .ok_or_else(|| fail("InvalidParameter.PolicyGrammar")),
    }
}

/// Session-policy grammar (protocol.md §1.2 `Policy`): `"Version": "1"` and a non-empty `Statement`
/// array of {Effect, Action, Resource, Condition?}; nothing else.
pub(super) fn check_policy(text: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(text).ok()?;
    let obj = v.as_object()?;
    let statements = obj.get("Statement")?.as_array()?;
    let ok = obj.keys().all(|k| k == "Version" || k == "Statement")
        && obj.get("Version")?.as_str()? == "1"
        && !statements.is_empty()
        && statements.iter().all(statement_ok);
    ok.then_some(v)
}

fn statement_ok(s: &Value) -> bool {
    let Some(o) = s.as_object() else {
        return false;
    };
    o.keys()
        .all(|k| matches!(k.as_str(), "Effect" | "Action" | "Resource" | "Condition"))
        && matches!(
            o.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        )
        && string_list(o.get("Action")).is_some_and(|l| l.iter().all(|a| action_shaped(a)))
        && string_list(o.get("Resource")).is_some_and(|l| l.iter().all(|r| !r.is_empty()))
        && o.get("Condition").is_none_or(Value::is_object)
}

/// `service:Name` with `*` wildcards, or a bare `*` (as in RAM's AdministratorAccess policy).
fn action_shaped(a: &str) -> bool {
    let part_ok = |p: &str, extra: &[u8]| {
        !p.is_empty() && (p.bytes()).all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    a == "*"
        || (a.split_once(':'))
            .is_some_and(|(svc, name)| part_ok(svc, b"*-") && part_ok(name, b"*-_"))
}
