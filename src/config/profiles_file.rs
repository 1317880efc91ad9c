//! The text of `BROKER_PROFILES_FILE` into one [`Spec`] per profile. Every problem of the file
//! is reported at once, each named `profiles.<name>.<key>` with the line and column TOML gives:
//! a syntax error, each misspelt key, each value of the wrong type. A profile with a problem
//! here is left out, so the others are still checked in full.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::{Spanned, Table, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Spec {
    pub prefix: Option<String>,
    pub max_upload_bytes: Option<u64>,
    pub content_types: Option<Vec<String>>,
    pub post_policy_ttl_seconds: Option<u64>,
    pub duration_seconds: Option<u32>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub upload_host: Option<String>,
    pub role_arn: Option<String>,
    pub object_key: Option<String>,
    pub overwrite: Option<bool>,
    pub callback: Option<CallbackSpec>,
    pub download: Option<DownloadSpec>,
}

/// The keys of [`Spec`], in the order the docs give them.
const PROFILE_KEYS: &[&str] = &[
    "prefix",
    "max_upload_bytes",
    "content_types",
    "post_policy_ttl_seconds",
    "duration_seconds",
    "bucket",
    "region",
    "upload_host",
    "role_arn",
    "object_key",
    "overwrite",
    "callback",
    "download",
];

/// `[profiles.<name>.download]`; each key defaults as the profiles module says.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DownloadSpec {
    pub enabled: Option<bool>,
    pub prefixes: Option<Vec<String>>,
    pub max_expires_seconds: Option<u32>,
    pub processes: Option<Vec<String>>,
    pub host: Option<String>,
}

const DOWNLOAD_KEYS: &[&str] = &[
    "enabled",
    "prefixes",
    "max_expires_seconds",
    "processes",
    "host",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CallbackSpec {
    pub forward_url: String,
}

const CALLBACK_KEYS: &[&str] = &["forward_url"];

type SpannedTable = BTreeMap<Spanned<String>, Spanned<Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    profiles: BTreeMap<Spanned<String>, Spanned<SpannedTable>>,
}

/// What the file holds.
pub(super) struct Parsed {
    /// Each profile without a problem so far, by name.
    pub profiles: Vec<(String, Spec)>,
    /// `profiles.<name>: …` and `line L, column C: …` messages.
    pub problems: Vec<String>,
    /// Some profile has a `callback` table, whether or not it read.
    pub wants_callbacks: bool,
}

/// Reads `text` as a profiles file.
pub(super) fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed {
        profiles: Vec::new(),
        problems: Vec::new(),
        wants_callbacks: false,
    };
    let file: File = match toml::from_str(text) {
        Ok(file) => file,
        Err(e) => {
            // toml's message names the line and the key, never a value of ours worth hiding.
            let at = e.span().map(|s| at(text, &s)).unwrap_or_default();
            parsed.problems.push(format!("{at}{}", e.message()));
            return parsed;
        }
    };
    for (name, table) in file.profiles {
        let name = name.into_inner();
        let table = table.into_inner();
        let has = |key: &str| table.keys().any(|k| k.get_ref() == key);
        parsed.wants_callbacks |= has("callback");
        let has_prefix = has("prefix");
        let before = parsed.problems.len();
        let mut problem = |key: &str, span: &Range<usize>, reason: &str| {
            let at = at(text, span);
            parsed
                .problems
                .push(format!("profiles.{name}{key}: {at}{reason}"));
        };
        let mut known = Table::new();
        for (key, value) in table {
            let (k, span) = (key.get_ref().as_str(), key.span());
            if !PROFILE_KEYS.contains(&k) {
                problem(&format!(".{k}"), &span, &unknown(PROFILE_KEYS));
                continue;
            }
            let nested = match k {
                "download" => DOWNLOAD_KEYS,
                "callback" => CALLBACK_KEYS,
                _ => &[],
            };
            let value_span = value.span();
            let mut value = value.into_inner();
            if let Value::Table(inner) = &mut value {
                inner.retain(|sub, _| {
                    let fits = nested.contains(&sub);
                    if !fits {
                        problem(&format!(".{k}.{sub}"), &value_span, &unknown(nested));
                    }
                    fits
                });
            }
            // Alone, so a wrong type is this key's.
            let alone = Table::from_iter([(k.to_owned(), value)]);
            if let Err(e) = Value::Table(alone.clone()).try_into::<Spec>() {
                problem(&format!(".{k}"), &value_span, &without_value(e.message()));
                continue;
            }
            known.extend(alone);
        }
        if !has_prefix {
            problem("", &(0..0), "has no `prefix`");
        }
        if parsed.problems.len() == before {
            let spec = Value::Table(known).try_into::<Spec>();
            parsed
                .profiles
                .push((name, spec.expect("each key was checked")));
        }
    }
    parsed
}

/// serde's `invalid type: string "…", expected …` without the value, which may be a secret
/// written in the wrong place (a URL with a password, say).
fn without_value(message: &str) -> String {
    match message.split_once(", expected ") {
        Some((_, expected)) => {
            let expected = expected
                .strip_prefix("struct ")
                .map_or(expected, |_| "a table");
            format!("must be {expected}")
        }
        None => message.to_owned(),
    }
}

fn unknown(expected: &[&str]) -> String {
    format!("is not a key here; the keys are {}", expected.join(", "))
}

/// `line L, column C: ` of where `span` starts (empty for an empty span at 0: no place).
fn at(text: &str, span: &Range<usize>) -> String {
    if span.is_empty() && span.start == 0 {
        return String::new();
    }
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        parse(text).problems
    }

    #[test]
    fn a_syntax_error_gives_its_line_and_column() {
        let shown = problems("[profiles.a]\nprefix = = \"x/\"\n");
        assert_eq!(shown.len(), 1);
        assert!(shown[0].starts_with("line 2, column 10: "), "{shown:?}");
    }

    #[test]
    fn every_misspelt_key_and_wrong_type_is_named_at_once() {
        let text = "\
[profiles.a]
prefix = \"a/${sub}/\"
max_upload_byte = 10
content_types = \"image/png\"

[profiles.b]
prefx = \"b/\"
overwrite = \"no\"

[profiles.b.download]
enabled = true
hosts = \"x\"

[profiles.c]
prefix = \"c/${sub}/\"
";
        let parsed = parse(text);
        assert_eq!(
            parsed.problems,
            [
                "profiles.a.content_types: line 4, column 17: must be a sequence",
                "profiles.a.max_upload_byte: line 3, column 1: is not a key here; the keys are prefix, max_upload_bytes, content_types, post_policy_ttl_seconds, duration_seconds, bucket, region, upload_host, role_arn, object_key, overwrite, callback, download",
                "profiles.b.download.hosts: line 10, column 1: is not a key here; the keys are enabled, prefixes, max_expires_seconds, processes, host",
                "profiles.b.overwrite: line 8, column 13: must be a boolean",
                "profiles.b.prefx: line 7, column 1: is not a key here; the keys are prefix, max_upload_bytes, content_types, post_policy_ttl_seconds, duration_seconds, bucket, region, upload_host, role_arn, object_key, overwrite, callback, download",
                "profiles.b: has no `prefix`",
            ]
        );
        // The profile without a problem is still read, for the checks that follow.
        let names: Vec<_> = parsed.profiles.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["c"]);
        assert!(!parsed.wants_callbacks);
    }

    #[test]
    fn a_value_of_the_wrong_type_is_not_quoted() {
        let text = "[profiles.a]\nprefix = \"a/${sub}/\"\ncallback = \"https://u:hunter2@app.example.com/x\"\n";
        assert_eq!(
            problems(text),
            ["profiles.a.callback: line 3, column 12: must be a table"]
        );
    }

    #[test]
    fn a_callback_table_is_seen_even_when_its_profile_has_a_problem() {
        let parsed = parse("[profiles.a]\nprefix = 3\n[profiles.a.callback]\nforward_url = \"https://app.example.com/x\"\n");
        assert!(parsed.wants_callbacks);
        assert_eq!(
            parsed.problems,
            ["profiles.a.prefix: line 2, column 10: must be a string"]
        );
    }

    /// Each listed key alone: serde may dislike its (empty table) value, never its name.
    fn every_key_is_known<T: serde::de::DeserializeOwned>(keys: &[&str]) {
        for key in keys {
            let table = Table::from_iter([((*key).to_owned(), Value::Table(Table::new()))]);
            if let Err(e) = Value::Table(table).try_into::<T>() {
                assert!(
                    !e.message().contains("unknown field"),
                    "{key}: {}",
                    e.message()
                );
            }
        }
    }

    #[test]
    fn the_key_lists_are_the_structs_keys() {
        every_key_is_known::<Spec>(PROFILE_KEYS);
        every_key_is_known::<DownloadSpec>(DOWNLOAD_KEYS);
        every_key_is_known::<CallbackSpec>(CALLBACK_KEYS);
        let unknown = Table::from_iter([("prefixes".to_owned(), Value::Table(Table::new()))]);
        let e = Value::Table(unknown).try_into::<Spec>().err().unwrap();
        assert!(e.message().contains("unknown field"), "{}", e.message());
    }
}
