//! The OSS emulator's own `multipart/form-data` parser (RFC 7578), strict as OSS is: a
//! `multipart/form-data` content type with a 1-70 character boundary, CRLF framing, a
//! `Content-Disposition: form-data` naming every part, and a closing delimiter. It returns
//! `None` for anything else and never guesses; what the fields must hold is `super::form`'s job.

/// One part of a `multipart/form-data` body.
pub(super) struct Part {
    /// As sent; lookups ignore case (protocol.md §5.2: the API page calls names case-insensitive).
    pub(super) name: String,
    pub(super) filename: Option<String>,
    pub(super) content_type: Option<String>,
    pub(super) value: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(super) fn boundary(content_type: &str) -> Option<String> {
    let mut pieces = content_type.split(';');
    let essence = pieces.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    pieces
        .find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"').to_owned())
        })
        .filter(|b| (1..=70).contains(&b.len()))
}

/// `form-data; name="a"; filename="b"` → (name, filename).
fn disposition(value: &str) -> Option<(String, Option<String>)> {
    let (kind, mut rest) = value.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let (mut name, mut filename) = (None, None);
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(val),
            "filename" => filename = Some(val),
            _ => {}
        }
        rest = next.trim_start();
        rest = match rest.strip_prefix(';') {
            Some(r) => r,
            None if rest.is_empty() => rest,
            None => return None,
        };
    }
    Some((name?, filename))
}

pub(super) fn parse_multipart(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let first = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = body.strip_prefix(first.as_bytes())?;
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let header_end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..header_end]).ok()?;
        let content = &rest[header_end + 4..];
        let end = find(content, delimiter.as_bytes())?;
        let (mut name, mut filename, mut content_type) = (None, None, None);
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(':')?;
            match k.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    let (n, f) = disposition(v.trim())?;
                    name = Some(n);
                    filename = f;
                }
                "content-type" => content_type = Some(v.trim().to_owned()),
                _ => {}
            }
        }
        parts.push(Part {
            name: name?,
            filename,
            content_type,
            value: content[..end].to_vec(),
        });
        rest = &content[end + delimiter.len()..];
    }
}
