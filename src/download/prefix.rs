//! The extra prefixes a profile lets callers read (`BROKER_DOWNLOAD_PREFIXES`,
//! `download.prefixes`): templates with at most one `${sub}` (the caller's id), rendered per
//! caller, and the RAM resource pattern that covers every caller's rendering. Text only.

/// The caller's id in a prefix template (the same placeholder as the upload prefix).
pub const SUB: &str = "${sub}";

/// A validated read-prefix template: `public/`, `shared/${sub}/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPrefix {
    before: String,
    /// `Some(after)` when the template has `${sub}`.
    after: Option<String>,
}

impl ReadPrefix {
    /// Rules, as for the upload prefix: only `[A-Za-z0-9._/-]` besides one optional `${sub}`;
    /// no leading `/`; no empty, `.` or `..` segment; ends with `/` (so `public` can never cover
    /// `publicity/`); at most 512 characters.
    pub fn parse(template: &str) -> Result<Self, String> {
        let (before, after) = match template.split_once(SUB) {
            Some((_, a)) if a.contains(SUB) => {
                return Err(format!("`{template}`: `${{sub}}` may appear at most once"))
            }
            Some((b, a)) => (b, Some(a)),
            None => (template, None),
        };
        // Checked with a stand-in for `${sub}`: a caller id is one plain segment.
        let literal = match after {
            Some(a) => format!("{before}x{a}"),
            None => before.to_owned(),
        };
        if literal.is_empty() || literal.len() > 512 {
            return Err(format!("`{template}`: must be 1 to 512 characters"));
        }
        if !literal
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
        {
            return Err(format!(
                "`{template}`: may only contain letters, digits, `.`, `_`, `-`, `/` and one `${{sub}}`"
            ));
        }
        if !literal.ends_with('/') {
            return Err(format!("`{template}`: must end with `/`, e.g. `public/`"));
        }
        let trimmed = literal.trim_end_matches('/');
        if literal.starts_with('/')
            || trimmed
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(format!(
                "`{template}`: must not start with `/` or contain empty, `.` or `..` segments"
            ));
        }
        Ok(Self {
            before: before.to_owned(),
            after: after.map(str::to_owned),
        })
    }

    /// The comma-separated list of `BROKER_DOWNLOAD_PREFIXES`; blanks between commas are
    /// ignored, every problem is reported.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, String> {
        let mut prefixes = Vec::new();
        let mut problems = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Self::parse(item) {
                Ok(p) => prefixes.push(p),
                Err(e) => problems.push(e),
            }
        }
        if problems.is_empty() {
            Ok(prefixes)
        } else {
            Err(problems.join("; "))
        }
    }

    /// The prefix as `sub` (a validated caller id) reads it.
    pub fn render(&self, sub: &str) -> String {
        match &self.after {
            Some(after) => format!("{}{sub}{after}", self.before),
            None => self.before.clone(),
        }
    }

    /// The object-key pattern covering every caller's rendering, for a RAM resource:
    /// `public/*`, `shared/*/photos/*`.
    pub fn pattern(&self) -> String {
        match &self.after {
            Some(after) => format!("{}*{after}*", self.before),
            None => format!("{}*", self.before),
        }
    }

    /// The template as configured.
    pub fn template(&self) -> String {
        match &self.after {
            Some(after) => format!("{}{SUB}{after}", self.before),
            None => self.before.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_and_cover_every_caller() {
        let public = ReadPrefix::parse("public/").unwrap();
        assert_eq!(public.render("alice"), "public/");
        assert_eq!(public.pattern(), "public/*");
        let shared = ReadPrefix::parse("shared/${sub}/photos/").unwrap();
        assert_eq!(shared.render("alice"), "shared/alice/photos/");
        assert_eq!(shared.pattern(), "shared/*/photos/*");
        assert_eq!(shared.template(), "shared/${sub}/photos/");
        let own = ReadPrefix::parse("${sub}/").unwrap();
        assert_eq!(own.render("bob"), "bob/");
        assert_eq!(own.pattern(), "*/*");
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        for (bad, reason) in [
            ("public", "end with `/`"),
            ("/public/", "start with `/`"),
            ("a//b/", "empty"),
            ("a/../b/", "`..`"),
            ("a/./", "`.`"),
            ("pub lic/", "may only contain"),
            ("a*/", "may only contain"),
            ("${sub}/${sub}/", "at most once"),
            ("", "1 to 512"),
        ] {
            let e = ReadPrefix::parse(bad).unwrap_err();
            assert!(e.contains(reason), "{bad}: {e}");
        }
        assert!(ReadPrefix::parse(&format!("{}/", "a".repeat(512))).is_err());
    }

    #[test]
    fn lists_are_comma_separated() {
        let list = ReadPrefix::parse_list(" public/ , shared/${sub}/,,").unwrap();
        assert_eq!(
            list.iter().map(ReadPrefix::template).collect::<Vec<_>>(),
            ["public/", "shared/${sub}/"]
        );
        assert!(ReadPrefix::parse_list("").unwrap().is_empty());
        let e = ReadPrefix::parse_list("public,also bad/").unwrap_err();
        assert!(e.contains("`public`") && e.contains("`also bad/`"), "{e}");
    }
}
