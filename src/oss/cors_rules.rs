//! Bucket CORS for uploads (protocol.md §5.6): the rule browser uploads need for
//! `BROKER_CORS_ORIGINS`, its XML (`PutBucketCors` / `GetBucketCors` bodies) and what an existing
//! configuration lacks, as pure values: no I/O (the `sts-broker cors` command that uses them is
//! `crate::bucket_cors`); never prints a secret.

use std::fmt::Write as _;

/// Methods uploads use: POST (PostObject, multipart initiate/complete) and PUT (PutObject,
/// UploadPart).
pub const UPLOAD_METHODS: [&str; 2] = ["POST", "PUT"];
/// Headers browser SDKs read: multipart uploads need `ETag`; `x-oss-request-id` for support.
pub const EXPOSE_HEADERS: [&str; 2] = ["ETag", "x-oss-request-id"];
/// OSS keeps at most this many rules per bucket (protocol.md §5.6).
pub const MAX_RULES: usize = 10;
const MAX_AGE_SECONDS: u32 = 600;

/// One `CORSRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsRule {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

/// The rule uploads from `origins` need.
pub fn upload_rule(origins: &[String]) -> CorsRule {
    CorsRule {
        allowed_origins: origins.to_vec(),
        allowed_methods: UPLOAD_METHODS.iter().map(|m| (*m).to_owned()).collect(),
        // Browser SDKs send Authorization, Content-Type, Content-MD5 and many x-oss-* headers.
        allowed_headers: vec!["*".to_owned()],
        expose_headers: EXPOSE_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
        max_age_seconds: Some(MAX_AGE_SECONDS),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// A `CORSConfiguration` document.
pub fn to_xml(rules: &[CorsRule]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration>\n");
    for rule in rules {
        xml.push_str("  <CORSRule>\n");
        for (tag, values) in [
            ("AllowedOrigin", &rule.allowed_origins),
            ("AllowedMethod", &rule.allowed_methods),
            ("AllowedHeader", &rule.allowed_headers),
            ("ExposeHeader", &rule.expose_headers),
        ] {
            for v in values {
                let _ = writeln!(xml, "    <{tag}>{}</{tag}>", escape(v));
            }
        }
        if let Some(age) = rule.max_age_seconds {
            let _ = writeln!(xml, "    <MaxAgeSeconds>{age}</MaxAgeSeconds>");
        }
        xml.push_str("  </CORSRule>\n");
    }
    xml.push_str("  <ResponseVary>false</ResponseVary>\n</CORSConfiguration>\n");
    xml
}

/// The text of every `<tag>…</tag>` directly in `xml`, in order.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

/// Reads a `GetBucketCors` answer.
pub fn from_xml(xml: &str) -> Result<Vec<CorsRule>, String> {
    if elements(xml, "CORSConfiguration").is_empty() {
        return Err("not a CORSConfiguration document".into());
    }
    elements(xml, "CORSRule")
        .into_iter()
        .map(|rule| {
            let list = |tag| {
                elements(rule, tag)
                    .into_iter()
                    .map(|v| unescape(v.trim()))
                    .collect()
            };
            let max_age_seconds = match elements(rule, "MaxAgeSeconds").first() {
                None => None,
                Some(v) => Some(
                    v.trim()
                        .parse()
                        .map_err(|_| format!("MaxAgeSeconds `{v}` is not a number"))?,
                ),
            };
            Ok(CorsRule {
                allowed_origins: list("AllowedOrigin"),
                allowed_methods: list("AllowedMethod"),
                allowed_headers: list("AllowedHeader"),
                expose_headers: list("ExposeHeader"),
                max_age_seconds,
            })
        })
        .collect()
}

/// `*` matches any run of characters (OSS allows one `*` in an origin or header).
fn wildcard(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(text),
        Some((head, tail)) => {
            let t = text.to_ascii_lowercase();
            t.len() >= head.len() + tail.len()
                && t.starts_with(&head.to_ascii_lowercase())
                && t.ends_with(&tail.to_ascii_lowercase())
        }
    }
}

/// What `actual` lacks for uploads from `origins`; empty when nothing is missing.
pub fn missing(actual: &[CorsRule], origins: &[String]) -> Vec<String> {
    let mut findings = Vec::new();
    for origin in origins {
        for method in UPLOAD_METHODS {
            let rule = actual.iter().find(|r| {
                r.allowed_origins.iter().any(|o| wildcard(o, origin))
                    && r.allowed_methods
                        .iter()
                        .any(|m| m.eq_ignore_ascii_case(method))
            });
            let Some(rule) = rule else {
                findings.push(format!("no rule lets {origin} send {method}"));
                continue;
            };
            if !rule.allowed_headers.iter().any(|h| h == "*") {
                findings.push(format!(
                    "the rule for {origin} {method} does not allow every request header (`*`)"
                ));
            }
            for header in EXPOSE_HEADERS {
                if !rule
                    .expose_headers
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(header))
                {
                    findings.push(format!(
                        "the rule for {origin} {method} does not expose {header}"
                    ));
                }
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> Vec<String> {
        vec![
            "https://app.example.com".into(),
            "http://localhost:5173".into(),
        ]
    }

    #[test]
    fn rule_round_trips_through_xml() {
        let rule = upload_rule(&origins());
        let xml = to_xml(std::slice::from_ref(&rule));
        assert!(xml.contains("<AllowedMethod>POST</AllowedMethod>"));
        assert!(xml.contains("<ExposeHeader>ETag</ExposeHeader>"));
        assert_eq!(from_xml(&xml).unwrap(), vec![rule]);
        let odd = CorsRule {
            allowed_origins: vec!["https://a.example.com/?a=<b>&c".into()],
            ..CorsRule::default()
        };
        assert_eq!(
            from_xml(&to_xml(std::slice::from_ref(&odd))).unwrap(),
            vec![odd]
        );
        assert!(from_xml("<Error/>").is_err());
    }

    #[test]
    fn missing_reports_each_gap() {
        assert!(missing(&[upload_rule(&origins())], &origins()).is_empty());
        let star = CorsRule {
            allowed_origins: vec!["*".into()],
            allowed_methods: vec!["GET".into(), "POST".into()],
            allowed_headers: vec!["*".into()],
            expose_headers: vec!["etag".into()],
            max_age_seconds: None,
        };
        let found = missing(&[star], &origins()[..1]);
        assert_eq!(
            found,
            vec![
                "the rule for https://app.example.com POST does not expose x-oss-request-id",
                "no rule lets https://app.example.com send PUT",
            ]
        );
        let sub = CorsRule {
            allowed_origins: vec!["https://*.example.com".into()],
            ..upload_rule(&[])
        };
        assert!(missing(&[sub], &origins()[..1]).is_empty());
    }
}
