//! The bucket CORS API: `PutBucketCors` and `GetBucketCors`, each signed with OSS V4 header
//! auth (`super::header_auth`) and allowed by the caller's session policy. It validates rules as
//! OSS does (1 to 10 rules, each with origins and known methods, at most one `*` per value) and
//! stores nothing that fails; answering preflights is `super::preflight`'s job.

use actix_web::{HttpRequest, HttpResponse};

use super::access::{permitted, resource};
use super::errors::{access_denied, err, invalid_argument, OssError};
use super::header_auth::verify_header_auth;
use super::xml::{tags, xml_escape, xml_unescape};
use super::{EmulatedCorsRule, Inner};

const CORS_METHODS: [&str; 5] = ["GET", "PUT", "DELETE", "POST", "HEAD"];

/// Header auth, then the session policy's word on `action` for this bucket.
fn authorize(req: &HttpRequest, inner: &Inner, action: &str) -> Result<(), OssError> {
    let signer = verify_header_auth(req, inner)?;
    if !permitted(signer.policy.as_ref(), action, &resource(inner, None)) {
        return Err(access_denied(format!("You are forbidden to {action}.")));
    }
    Ok(())
}

pub(super) fn put_cors(
    req: &HttpRequest,
    body: &[u8],
    inner: &Inner,
) -> Result<HttpResponse, OssError> {
    authorize(req, inner, "oss:PutBucketCors")?;
    let rules = parse_rules(body)?;
    if rules.is_empty() || rules.len() > 10 {
        return Err(invalid_argument(
            "A CORS configuration holds 1 to 10 rules.",
        ));
    }
    inner.state().cors = Some(rules);
    Ok(HttpResponse::Ok().finish())
}

fn malformed() -> OssError {
    err(
        400,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema.",
    )
}

/// The rules of a `<CORSConfiguration>`, each one checked.
fn parse_rules(body: &[u8]) -> Result<Vec<EmulatedCorsRule>, OssError> {
    let xml = std::str::from_utf8(body).map_err(|_| malformed())?;
    let config = tags(xml, "CORSConfiguration");
    let [config] = config.as_slice() else {
        return Err(malformed());
    };
    tags(config, "CORSRule")
        .into_iter()
        .map(parse_rule)
        .collect()
}

fn parse_rule(rule: &str) -> Result<EmulatedCorsRule, OssError> {
    let list = |t| {
        tags(rule, t)
            .into_iter()
            .map(|v| xml_unescape(v.trim()))
            .collect::<Vec<_>>()
    };
    let parsed = EmulatedCorsRule {
        origins: list("AllowedOrigin"),
        methods: list("AllowedMethod"),
        headers: list("AllowedHeader"),
        expose: list("ExposeHeader"),
        max_age: match tags(rule, "MaxAgeSeconds").first() {
            None => None,
            Some(v) => Some(v.trim().parse().map_err(|_| malformed())?),
        },
    };
    let valid = !parsed.origins.is_empty()
        && !parsed.methods.is_empty()
        && parsed
            .methods
            .iter()
            .all(|m| CORS_METHODS.contains(&m.as_str()))
        && parsed
            .origins
            .iter()
            .chain(&parsed.headers)
            .all(|o| o.matches('*').count() <= 1);
    if !valid {
        return Err(invalid_argument(
            "Each CORSRule needs AllowedOrigin and AllowedMethod (GET, PUT, DELETE, POST, HEAD); at most one * per value.",
        ));
    }
    Ok(parsed)
}

pub(super) fn get_cors(req: &HttpRequest, inner: &Inner) -> Result<HttpResponse, OssError> {
    authorize(req, inner, "oss:GetBucketCors")?;
    let Some(rules) = inner.state().cors.clone() else {
        return Err(err(
            404,
            "NoSuchCORSConfiguration",
            "The CORS configuration does not exist.",
        ));
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration>\n");
    for r in &rules {
        xml.push_str("  <CORSRule>\n");
        for (t, values) in [
            ("AllowedOrigin", &r.origins),
            ("AllowedMethod", &r.methods),
            ("AllowedHeader", &r.headers),
            ("ExposeHeader", &r.expose),
        ] {
            for v in values {
                xml.push_str(&format!("    <{t}>{}</{t}>\n", xml_escape(v)));
            }
        }
        if let Some(age) = r.max_age {
            xml.push_str(&format!("    <MaxAgeSeconds>{age}</MaxAgeSeconds>\n"));
        }
        xml.push_str("  </CORSRule>\n");
    }
    xml.push_str("  <ResponseVary>false</ResponseVary>\n</CORSConfiguration>\n");
    Ok(HttpResponse::Ok().content_type("application/xml").body(xml))
}
