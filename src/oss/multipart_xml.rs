//! The XML of OSS's multipart API (protocol.md §17.2): the `CompleteMultipartUpload` body the
//! broker sends, and strict readers of OSS's answers (`InitiateMultipartUploadResult`,
//! `ListPartsResult`, `CompleteMultipartUploadResult`, `Error`). A reader refuses an answer whose
//! root is not the expected element, or that lacks, repeats or garbles a field the broker relies
//! on; elements it does not read are ignored (OSS adds fields over time). Pure functions; no I/O.

use std::fmt::Write as _;

/// An answer that is not what OSS documents; the text says what is wrong, never the body.
pub type XmlError = String;

/// `<InitiateMultipartUploadResult>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiated {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

/// One `<Part>` of a `ListPartsResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    pub part_number: u32,
    /// As OSS gives it, quotes included.
    pub etag: String,
    pub size: u64,
}

/// One page of `ListParts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartsPage {
    pub parts: Vec<ListedPart>,
    pub truncated: bool,
    pub next_marker: u32,
}

/// `<CompleteMultipartUploadResult>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub location: String,
    pub bucket: String,
    pub key: String,
    pub etag: String,
}

/// An OSS `<Error>` document's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDocument {
    pub code: String,
    pub message: String,
    pub request_id: String,
    pub ec: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn unescape(s: &str) -> Result<String, XmlError> {
    const ENTITIES: [(&str, &str); 5] = [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&apos;", "'"),
        ("&amp;", "&"),
    ];
    if s.contains('<') {
        return Err("unexpected markup in a value".into());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let (entity, text) = ENTITIES
            .iter()
            .find(|(e, _)| rest[i..].starts_with(e))
            .ok_or("an entity the broker does not read")?;
        out.push_str(text);
        rest = &rest[i + entity.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The contents of every `<tag>` (with or without attributes) directly or deeper inside `xml`.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after_name = &rest[start + open.len()..];
        // `<Part>` must not match `<PartNumber>`: the name ends at `>` or whitespace.
        let Some(first) = after_name.chars().next() else {
            break;
        };
        if first != '>' && !first.is_ascii_whitespace() {
            rest = after_name;
            continue;
        }
        let Some(gt) = after_name.find('>') else {
            break;
        };
        let body = &after_name[gt + 1..];
        let Some(end) = body.find(&close) else {
            break;
        };
        found.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    found
}

/// The one `<tag>` of `xml`; an error when it is missing or repeated.
fn one<'a>(xml: &'a str, tag: &str) -> Result<&'a str, XmlError> {
    match elements(xml, tag).as_slice() {
        [only] => Ok(only),
        [] => Err(format!("no <{tag}>")),
        _ => Err(format!("more than one <{tag}>")),
    }
}

/// The unescaped, trimmed text of the one `<tag>`.
fn text(xml: &str, tag: &str) -> Result<String, XmlError> {
    unescape(one(xml, tag)?.trim())
}

fn number<T: std::str::FromStr>(xml: &str, tag: &str) -> Result<T, XmlError> {
    let value = text(xml, tag)?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("<{tag}> is not a number"));
    }
    value
        .parse()
        .map_err(|_| format!("<{tag}> is out of range"))
}

fn non_empty(xml: &str, tag: &str) -> Result<String, XmlError> {
    let value = text(xml, tag)?;
    if value.is_empty() {
        return Err(format!("<{tag}> is empty"));
    }
    Ok(value)
}

/// The body of `CompleteMultipartUpload`: each part's number and ETag, in the order given.
pub fn complete_body(parts: &[(u32, String)]) -> String {
    let mut xml =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>\n");
    for (number, etag) in parts {
        let _ = writeln!(
            xml,
            "  <Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
            escape(etag)
        );
    }
    xml.push_str("</CompleteMultipartUpload>\n");
    xml
}

pub fn parse_initiated(xml: &str) -> Result<Initiated, XmlError> {
    let root = one(xml, "InitiateMultipartUploadResult")?;
    Ok(Initiated {
        bucket: non_empty(root, "Bucket")?,
        key: non_empty(root, "Key")?,
        upload_id: non_empty(root, "UploadId")?,
    })
}

pub fn parse_parts_page(xml: &str) -> Result<PartsPage, XmlError> {
    let root = one(xml, "ListPartsResult")?;
    let truncated = match text(root, "IsTruncated")?.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err("<IsTruncated> is neither true nor false".into()),
    };
    let parts = elements(root, "Part")
        .into_iter()
        .map(|part| {
            Ok(ListedPart {
                part_number: number(part, "PartNumber")?,
                etag: non_empty(part, "ETag")?,
                size: number(part, "Size")?,
            })
        })
        .collect::<Result<Vec<_>, XmlError>>()?;
    if parts
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Err("parts are not in ascending order".into());
    }
    Ok(PartsPage {
        parts,
        truncated,
        next_marker: number(root, "NextPartNumberMarker")?,
    })
}

pub fn parse_completed(xml: &str) -> Result<Completed, XmlError> {
    let root = one(xml, "CompleteMultipartUploadResult")?;
    Ok(Completed {
        location: non_empty(root, "Location")?,
        bucket: non_empty(root, "Bucket")?,
        key: non_empty(root, "Key")?,
        etag: non_empty(root, "ETag")?,
    })
}

/// An `<Error>` document; `None` when the body is not one.
pub fn parse_error(xml: &str) -> Option<ErrorDocument> {
    let root = one(xml, "Error").ok()?;
    Some(ErrorDocument {
        code: non_empty(root, "Code").ok()?,
        message: text(root, "Message").unwrap_or_default(),
        request_id: text(root, "RequestId").unwrap_or_default(),
        ec: text(root, "EC").ok().filter(|ec| !ec.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Answers shaped as the OSS API reference pages print them (protocol.md §17.2), with the
    // namespace attribute some OSS answers carry on their root.
    const INITIATED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
    <Bucket>oss-example</Bucket>
    <Key>multipart.data</Key>
    <UploadId>0004B9894A22E5B1888A1E29F823****</UploadId>
</InitiateMultipartUploadResult>"#;

    const LISTED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
    <Bucket>multipart_upload</Bucket>
    <Key>multipart.data</Key>
    <UploadId>0004B999EF5A239BB9138C6227D6****</UploadId>
    <NextPartNumberMarker>5</NextPartNumberMarker>
    <MaxParts>1000</MaxParts>
    <IsTruncated>true</IsTruncated>
    <Part>
        <PartNumber>1</PartNumber>
        <LastModified>2012-02-23T07:01:34.000Z</LastModified>
        <ETag>&quot;3349DC700140D7F86A0784842780****&quot;</ETag>
        <Size>6291456</Size>
    </Part>
    <Part>
        <PartNumber>5</PartNumber>
        <LastModified>2012-02-23T07:02:03.000Z</LastModified>
        <ETag>"3349DC700140D7F86A0784842780****"</ETag>
        <Size>1024</Size>
    </Part>
</ListPartsResult>"#;

    #[test]
    fn initiate_answers_are_read() {
        assert_eq!(
            parse_initiated(INITIATED).unwrap(),
            Initiated {
                bucket: "oss-example".into(),
                key: "multipart.data".into(),
                upload_id: "0004B9894A22E5B1888A1E29F823****".into(),
            }
        );
        for broken in [
            INITIATED.replace("<UploadId>0004B9894A22E5B1888A1E29F823****</UploadId>", ""),
            INITIATED.replace("0004B9894A22E5B1888A1E29F823****", ""),
            INITIATED.replace("<Key>", "<Key>a</Key><Key>"),
            INITIATED.replace("InitiateMultipartUploadResult", "Other"),
            "<Error><Code>AccessDenied</Code></Error>".into(),
        ] {
            assert!(parse_initiated(&broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn parts_pages_are_read_strictly() {
        let page = parse_parts_page(LISTED).unwrap();
        assert!(page.truncated);
        assert_eq!(page.next_marker, 5);
        assert_eq!(
            page.parts,
            vec![
                ListedPart {
                    part_number: 1,
                    etag: "\"3349DC700140D7F86A0784842780****\"".into(),
                    size: 6_291_456,
                },
                ListedPart {
                    part_number: 5,
                    etag: "\"3349DC700140D7F86A0784842780****\"".into(),
                    size: 1024,
                },
            ]
        );
        for broken in [
            LISTED.replace("<Size>1024</Size>", "<Size>-1</Size>"),
            LISTED.replace("<Size>1024</Size>", ""),
            LISTED.replace("<PartNumber>5</PartNumber>", "<PartNumber>1</PartNumber>"),
            LISTED.replace("<IsTruncated>true", "<IsTruncated>yes"),
            LISTED.replace("<NextPartNumberMarker>5</NextPartNumberMarker>", ""),
            LISTED.replace("<ETag>\"3349", "<ETag></ETag><ETag>\"3349"),
        ] {
            assert!(parse_parts_page(&broken).is_err(), "{broken}");
        }
        let empty = "<ListPartsResult><NextPartNumberMarker>0</NextPartNumberMarker><IsTruncated>false</IsTruncated></ListPartsResult>";
        assert_eq!(parse_parts_page(empty).unwrap().parts, vec![]);
    }

    #[test]
    fn completion_answers_and_errors_are_read() {
        let xml = "<CompleteMultipartUploadResult><Location>http://b.oss-cn-hangzhou.aliyuncs.com/a%20b</Location><Bucket>b</Bucket><Key>a b</Key><ETag>\"X-3\"</ETag></CompleteMultipartUploadResult>";
        let done = parse_completed(xml).unwrap();
        assert_eq!((done.key.as_str(), done.etag.as_str()), ("a b", "\"X-3\""));
        assert!(parse_completed(&xml.replace("<Bucket>b</Bucket>", "")).is_err());
        let error = "<?xml version=\"1.0\"?>\n<Error>\n  <Code>EntityTooSmall</Code>\n  <Message>Your proposed upload is smaller than the minimum allowed size.</Message>\n  <RequestId>5C3D9175B6FC201293AD****</RequestId>\n  <EC>0042-00000001</EC>\n</Error>";
        let doc = parse_error(error).unwrap();
        assert_eq!(doc.code, "EntityTooSmall");
        assert_eq!(doc.request_id, "5C3D9175B6FC201293AD****");
        assert_eq!(doc.ec.as_deref(), Some("0042-00000001"));
        assert!(parse_error("<Error><Message>no code</Message></Error>").is_none());
        assert!(parse_error("{\"json\": true}").is_none());
    }

    #[test]
    fn complete_bodies_list_parts_in_the_given_order_escaped() {
        let body = complete_body(&[(1, "\"A\"".into()), (2, "\"B&C\"".into())]);
        assert_eq!(
            body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>\n  <Part><PartNumber>1</PartNumber><ETag>&quot;A&quot;</ETag></Part>\n  <Part><PartNumber>2</PartNumber><ETag>&quot;B&amp;C&quot;</ETag></Part>\n</CompleteMultipartUpload>\n"
        );
    }

    #[test]
    fn element_names_do_not_match_longer_names() {
        assert_eq!(
            elements("<Part>1</Part><PartNumber>2</PartNumber>", "Part"),
            vec!["1"]
        );
        assert_eq!(
            elements("<PartNumber>2</PartNumber>", "Part"),
            Vec::<&str>::new()
        );
        assert_eq!(unescape("a &lt; b &amp;lt;").unwrap(), "a < b &lt;");
        assert!(unescape("a &nbsp; b").is_err() && unescape("a <b/>").is_err());
    }
}
