//! The INI dialect of `~/.alibabacloud/credentials` (protocol.md §4.2): `[profile]` sections of
//! `key = value` lines, `#`/`;` comments. Parsing only; errors name a line, never its content,
//! because the lines hold secrets.

use std::collections::HashMap;

/// One section's keys and values.
#[derive(Default)]
pub(crate) struct Profile(HashMap<String, String>);

impl Profile {
    /// The trimmed value, if present and not empty.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).filter(|v| !v.is_empty()).cloned()
    }
}

/// Sections by name. A key outside any section, a line that is neither, or a section given
/// twice is an error.
pub(crate) fn parse_ini(text: &str) -> Result<HashMap<String, Profile>, String> {
    let mut sections: HashMap<String, Profile> = HashMap::new();
    let mut current: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| format!("line {line_no}: malformed section header"))?;
            if sections.contains_key(name) {
                return Err(format!("line {line_no}: profile `{name}` is given twice"));
            }
            sections.insert(name.to_owned(), Profile::default());
            current = Some(name.to_owned());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {line_no}: expected `key = value`"))?;
        let section = current
            .as_ref()
            .and_then(|name| sections.get_mut(name))
            .ok_or_else(|| format!("line {line_no}: setting outside any [profile]"))?;
        // Values may be quoted, as some SDK fixtures write them.
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        section
            .0
            .insert(key.trim().to_ascii_lowercase(), value.to_owned());
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_comments_and_quotes() {
        let s = parse_ini(
            "; leading comment\n[default]\n  type = access_key \naccess_key_id=\"LTAIq\"\n\n# x\n[other]\nempty =\n",
        )
        .unwrap();
        assert_eq!(s["default"].get("type").as_deref(), Some("access_key"));
        assert_eq!(s["default"].get("access_key_id").as_deref(), Some("LTAIq"));
        assert_eq!(s["other"].get("empty"), None);
    }

    #[test]
    fn errors_name_the_line_never_its_content() {
        for (text, want) in [
            ("secret-outside\n", "line 1"),
            ("[a]\nsecret-value-without-equals\n", "line 2"),
            ("[a]\n[a]\n", "line 2"),
            ("[]\n", "line 1"),
            ("key = secret-value\n", "line 1"),
        ] {
            let err = parse_ini(text).err().expect("refused");
            assert!(err.starts_with(want), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
