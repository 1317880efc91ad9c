//! Object keys the broker chooses (`BROKER_OBJECT_KEY` / a profile's `object_key`): `client`
//! (the client names the key under its `dir`) or a template of literal text and `${uuid}`,
//! `${date}` (UTC `yyyy/mm/dd`), `${ext}` (the file name's extension, lower-cased,
//! `[a-z0-9]{1,10}`, with its dot; empty when absent) and `${filename}` (the file name made
//! safe), rendered relative to the caller's `dir`. Templates are checked once, when the
//! configuration is read; rendering is a pure function of the file name, a UUID and the time it
//! is given. No I/O, no clock, no randomness of its own.

use chrono::{DateTime, Utc};

/// A template longer than this is refused: the caller's `dir` and the rendered names must still
/// fit OSS's 1023-byte keys.
pub const MAX_TEMPLATE_BYTES: usize = 256;
/// `${filename}` renders at most this many bytes (cut on a character boundary).
pub const MAX_FILENAME_BYTES: usize = 100;
/// `${ext}`: at most this many characters after the dot.
const MAX_EXT_CHARS: usize = 10;
/// `${filename}` when nothing of the name is left.
const FALLBACK_FILENAME: &str = "file";

/// How a profile's keys are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectKeyRule {
    /// The client names the key, under its `dir`.
    Client,
    /// The broker renders this template under the caller's `dir`.
    Template(KeyTemplate),
}

impl ObjectKeyRule {
    /// `client`, or a template (see [`KeyTemplate::parse`]).
    pub fn parse(value: &str) -> Result<ObjectKeyRule, TemplateError> {
        if value == "client" {
            return Ok(ObjectKeyRule::Client);
        }
        KeyTemplate::parse(value).map(ObjectKeyRule::Template)
    }

    /// The template keys are made with: this rule's, or `${uuid}${ext}` when the client names
    /// form keys (multipart keys are always the broker's).
    pub fn broker_template(&self) -> KeyTemplate {
        match self {
            ObjectKeyRule::Template(t) => t.clone(),
            ObjectKeyRule::Client => KeyTemplate {
                pieces: vec![Piece::Uuid, Piece::Ext],
                text: "${uuid}${ext}".into(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Uuid,
    Date,
    Ext,
    Filename,
}

/// A checked template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    pieces: Vec<Piece>,
    /// As configured, for messages and docs.
    text: String,
}

/// Why a template is refused; each names the rule, for the start-up message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_TEMPLATE_BYTES} bytes")]
    TooLong,
    #[error(
        "names `${{{0}}}`; the placeholders are ${{uuid}}, ${{date}}, ${{ext}} and ${{filename}}"
    )]
    UnknownPlaceholder(String),
    #[error("has a `${{` without its `}}`")]
    Unterminated,
    #[error("must be relative to the caller's dir: it may not start with `/`")]
    LeadingSlash,
    #[error("has an empty, `.` or `..` path segment")]
    BadSegment,
    #[error("contains `\\` or a control character")]
    BadCharacter,
}

impl KeyTemplate {
    /// Checks a template: known placeholders only, and literal text that cannot make the key
    /// leave the caller's `dir` or name a `.`/`..` segment.
    pub fn parse(text: &str) -> Result<KeyTemplate, TemplateError> {
        if text.is_empty() {
            return Err(TemplateError::Empty);
        }
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::TooLong);
        }
        if text.contains('\\') || text.chars().any(char::is_control) {
            return Err(TemplateError::BadCharacter);
        }
        if text.starts_with('/') {
            return Err(TemplateError::LeadingSlash);
        }
        let pieces = pieces(text)?;
        // Each segment must render non-empty and never as `.` or `..`. A placeholder always
        // renders something except `${ext}`, so a segment made of `${ext}` alone (or with dots)
        // could be empty or `.`: judge segments with `${ext}` taken as empty.
        let probe: String = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Ext => "",
                _ => "x",
            })
            .collect();
        if probe
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(TemplateError::BadSegment);
        }
        Ok(KeyTemplate {
            pieces,
            text: text.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the template uses the file name (`${ext}` or `${filename}`).
    pub fn uses_filename(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Ext | Piece::Filename))
    }

    /// The key relative to the caller's `dir`, for a file named `filename` (empty when the
    /// client named none), with `uuid` and the time `now` given by the caller.
    pub fn render(&self, filename: &str, uuid: &str, now: DateTime<Utc>) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Uuid => uuid.to_owned(),
                Piece::Date => now.format("%Y/%m/%d").to_string(),
                Piece::Ext => extension(filename),
                Piece::Filename => safe_filename(filename),
            })
            .collect()
    }
}

fn pieces(text: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(TemplateError::Unterminated)?;
        pieces.push(match &after[..end] {
            "uuid" => Piece::Uuid,
            "date" => Piece::Date,
            "ext" => Piece::Ext,
            "filename" => Piece::Filename,
            other => return Err(TemplateError::UnknownPlaceholder(other.to_owned())),
        });
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// The last path segment of a client's file name (browsers may send `C:\fakepath\a.jpg`).
fn base_name(filename: &str) -> &str {
    filename.rsplit(['/', '\\']).next().unwrap_or(filename)
}

/// `${ext}`: `.` and the lower-cased extension when it is 1 to 10 ASCII letters or digits;
/// empty otherwise, and for names without one (`README`, `.profile`, `a.`).
pub fn extension(filename: &str) -> String {
    let base = base_name(filename);
    let Some((stem, ext)) = base.rsplit_once('.') else {
        return String::new();
    };
    let ext = ext.to_ascii_lowercase();
    let valid = !stem.is_empty()
        && (1..=MAX_EXT_CHARS).contains(&ext.len())
        && ext
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if valid {
        format!(".{ext}")
    } else {
        String::new()
    }
}

/// `${filename}`: the base name with every character other than a letter, digit, `.`, `-` or
/// `_` replaced by `-` (runs collapsed), no leading `.` or `-`, cut to 100 bytes; `file` when
/// nothing is left. It never contains `/`, `\`, a control character or a `..` segment.
pub fn safe_filename(filename: &str) -> String {
    let mut out = String::new();
    for c in base_name(filename).chars() {
        let keep = c.is_alphanumeric() || matches!(c, '.' | '-' | '_');
        let c = if keep { c } else { '-' };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        if out.len() + c.len_utf8() > MAX_FILENAME_BYTES {
            break;
        }
        out.push(c);
    }
    let trimmed = out.trim_start_matches(['.', '-']).trim_end_matches('-');
    if trimmed.is_empty() {
        FALLBACK_FILENAME.to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-07T23:59:59+00:00")
            .unwrap()
            .with_timezone(&Utc)
    }

    const UUID: &str = "0b5e8c1a-3f2d-4c6e-9a7b-1d2e3f405162";

    fn render(template: &str, filename: &str) -> String {
        KeyTemplate::parse(template)
            .unwrap()
            .render(filename, UUID, at())
    }

    #[test]
    fn templates_render_each_placeholder() {
        assert_eq!(
            render("${date}/${uuid}${ext}", "Holiday Video.MP4"),
            "2026/03/07/0b5e8c1a-3f2d-4c6e-9a7b-1d2e3f405162.mp4"
        );
        assert_eq!(
            render("in/${uuid}-${filename}", "C:\\fakepath\\my photo (1).JPG"),
            "in/0b5e8c1a-3f2d-4c6e-9a7b-1d2e3f405162-my-photo-1-.JPG"
        );
        assert_eq!(render("avatar${ext}", "x.png"), "avatar.png");
        assert_eq!(render("avatar${ext}", "noext"), "avatar");
        assert_eq!(
            ObjectKeyRule::Client
                .broker_template()
                .render("a.tar.gz", UUID, at()),
            format!("{UUID}.gz")
        );
    }

    #[test]
    fn extensions_are_short_lower_case_and_optional() {
        for (name, ext) in [
            ("a.JPG", ".jpg"),
            ("a.tar.gz", ".gz"),
            ("dir/a.b/c", ""),
            ("README", ""),
            (".profile", ""),
            ("a.", ""),
            ("a.abcdefghij", ".abcdefghij"),
            ("a.abcdefghijk", ""),
            ("a.jp g", ""),
            ("a.jpé", ""),
            ("", ""),
            ("../../x.sh", ".sh"),
        ] {
            assert_eq!(extension(name), ext, "{name:?}");
        }
    }

    #[test]
    fn file_names_are_made_safe() {
        for (name, safe) in [
            ("photo.jpg", "photo.jpg"),
            ("../../etc/passwd", "passwd"),
            ("..", "file"),
            ("...hidden", "hidden"),
            ("a/b\\c d\te\u{0}f", "c-d-e-f"),
            ("  ", "file"),
            ("", "file"),
            ("报告 2026.pdf", "报告-2026.pdf"),
            ("a%2F..%2Fb", "a-2F..-2Fb"),
        ] {
            assert_eq!(safe_filename(name), safe, "{name:?}");
        }
        let long = "é".repeat(80);
        let cut = safe_filename(&long);
        assert!(cut.len() <= MAX_FILENAME_BYTES && cut.chars().all(|c| c == 'é'));
        assert_eq!(cut.len(), 100);
    }

    #[test]
    fn bad_templates_are_refused_with_their_reason() {
        for (template, error) in [
            ("", TemplateError::Empty),
            ("${name}", TemplateError::UnknownPlaceholder("name".into())),
            ("${uuid", TemplateError::Unterminated),
            ("/${uuid}", TemplateError::LeadingSlash),
            ("a//${uuid}", TemplateError::BadSegment),
            ("../${uuid}", TemplateError::BadSegment),
            ("${uuid}/", TemplateError::BadSegment),
            ("${ext}/${uuid}", TemplateError::BadSegment),
            (".${ext}/${uuid}", TemplateError::BadSegment),
            ("a\\${uuid}", TemplateError::BadCharacter),
            ("a\n${uuid}", TemplateError::BadCharacter),
        ] {
            assert_eq!(KeyTemplate::parse(template), Err(error), "{template:?}");
        }
        assert_eq!(
            KeyTemplate::parse(&"a".repeat(MAX_TEMPLATE_BYTES + 1)),
            Err(TemplateError::TooLong)
        );
        let message = KeyTemplate::parse("${name}").unwrap_err().to_string();
        assert!(
            message.contains("${name}") && message.contains("${filename}"),
            "{message}"
        );
        assert_eq!(ObjectKeyRule::parse("client"), Ok(ObjectKeyRule::Client));
        let rule = ObjectKeyRule::parse("${date}/${uuid}${ext}").unwrap();
        assert!(matches!(&rule, ObjectKeyRule::Template(t) if t.uses_filename()));
    }

    #[test]
    fn rendered_keys_pass_the_key_rules() {
        let names = ["", "..", "a/../b", "\u{7}", "x.JPEG", &"n".repeat(5000)];
        for template in [
            "${uuid}${ext}",
            "${date}/${filename}",
            "f/${filename}${ext}",
        ] {
            for name in names {
                let key = format!("uploads/alice/{}", render(template, name));
                assert!(crate::object_key::validate_key(&key).is_ok(), "{key}");
            }
        }
    }
}
