//! Hand-made OSS V4 signing for the multipart tests (header signatures and presigned URLs),
//! written apart from the emulator's own code, and the requests every multipart test sends.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, Response};
use sha2::{Digest as _, Sha256};

use super::{Emulators, BUCKET, REGION};

pub(crate) const PART: usize = 100 * 1024;

pub(crate) struct Cred {
    pub(crate) ak: String,
    pub(crate) secret: String,
    pub(crate) token: Option<String>,
}

pub(crate) fn long_term() -> Cred {
    Cred {
        ak: super::AK.into(),
        secret: super::SECRET.into(),
        token: None,
    }
}

/// RFC 3986 unreserved bytes kept, everything else `%XX` (OSS V4 `UriEncode`).
pub(crate) fn enc(s: &str, keep_slash: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b'/' if keep_slash => "/".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The encoded query, sorted, and the canonical one (bare names for empty values).
pub(crate) fn query_text(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (enc(k, false), enc(v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn signature(secret: &str, at: DateTime<Utc>, canonical: &str) -> String {
    let (datetime, date) = (
        at.format("%Y%m%dT%H%M%SZ").to_string(),
        at.format("%Y%m%d").to_string(),
    );
    let string_to_sign = format!(
        "OSS4-HMAC-SHA256\n{datetime}\n{date}/{REGION}/oss/aliyun_v4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = format!("aliyun_v4{secret}").into_bytes();
    for step in [date.as_str(), REGION, "oss", "aliyun_v4_request"] {
        key = hmac(&key, step);
    }
    hex::encode(hmac(&key, &string_to_sign))
}

pub(crate) fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A request signed in the `Authorization` header; `headers` are signed when OSS signs them by
/// default (`x-oss-*`, `content-type`).
pub(crate) fn signed(
    em: &Emulators,
    method: Method,
    key: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    cred: &Cred,
) -> reqwest::RequestBuilder {
    let now = Utc::now();
    let datetime = now.format("%Y%m%dT%H%M%SZ").to_string();
    let mut all = owned(headers);
    all.push(("x-oss-date".into(), datetime.clone()));
    all.push(("x-oss-content-sha256".into(), "UNSIGNED-PAYLOAD".into()));
    if let Some(token) = &cred.token {
        all.push(("x-oss-security-token".into(), token.clone()));
    }
    let mut lines: Vec<(String, String)> = all
        .iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                format!("{}:{}\n", n.to_ascii_lowercase(), v.trim()),
            )
        })
        .collect();
    // Sorted by name: `x-oss-callback` before `x-oss-callback-var`.
    lines.sort();
    let lines: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
    let query_string = query_text(&owned(query));
    let canonical = format!(
        "{}\n{}\n{query_string}\n{}\n\nUNSIGNED-PAYLOAD",
        method.as_str(),
        enc(&format!("/{BUCKET}/{key}"), true),
        lines.concat()
    );
    let scope = format!("{}/{REGION}/oss/aliyun_v4_request", now.format("%Y%m%d"));
    let sig = signature(&cred.secret, now, &canonical);
    let url = format!(
        "{}/{BUCKET}/{}?{query_string}",
        em.oss.endpoint(),
        enc(key, true)
    );
    let mut request = client().request(method, url).header(
        "authorization",
        format!(
            "OSS4-HMAC-SHA256 Credential={}/{scope},Signature={sig}",
            cred.ak
        ),
    );
    for (n, v) in &all {
        request = request.header(n.as_str(), v.as_str());
    }
    request
}

/// A V4 presigned URL signed at `at` for `expires` seconds.
pub(crate) fn presigned(
    em: &Emulators,
    method: &str,
    key: &str,
    query: &[(&str, &str)],
    cred: &Cred,
    at: DateTime<Utc>,
    expires: i64,
) -> String {
    let scope = format!("{}/{REGION}/oss/aliyun_v4_request", at.format("%Y%m%d"));
    let mut all = owned(query);
    all.extend(owned(&[
        ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
        ("x-oss-credential", &format!("{}/{scope}", cred.ak)),
        ("x-oss-date", &at.format("%Y%m%dT%H%M%SZ").to_string()),
        ("x-oss-expires", &expires.to_string()),
    ]));
    if let Some(token) = &cred.token {
        all.push(("x-oss-security-token".into(), token.clone()));
    }
    let query_string = query_text(&all);
    let canonical = format!(
        "{method}\n{}\n{query_string}\n\n\nUNSIGNED-PAYLOAD",
        enc(&format!("/{BUCKET}/{key}"), true)
    );
    let sig = signature(&cred.secret, at, &canonical);
    format!(
        "{}/{BUCKET}/{}?{query_string}&x-oss-signature={sig}",
        em.oss.endpoint(),
        enc(key, true)
    )
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The text of the first `<tag>` of an answer.
pub(crate) fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).map(|i| i + open.len()).expect(name);
    xml[start..]
        .split(&format!("</{name}>"))
        .next()
        .unwrap()
        .to_owned()
}

pub(crate) async fn code_of(response: Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (status, tag(&body, "Code"))
}

pub(crate) async fn initiate(
    em: &Emulators,
    key: &str,
    headers: &[(&str, &str)],
    cred: &Cred,
) -> String {
    let response = signed(em, Method::POST, key, &[("uploads", "")], headers, cred)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert_eq!(tag(&body, "Key"), key);
    assert_eq!(tag(&body, "Bucket"), BUCKET);
    tag(&body, "UploadId")
}

pub(crate) async fn put_part(em: &Emulators, key: &str, id: &str, n: u32, bytes: &[u8]) -> String {
    let number = n.to_string();
    let query = [("partNumber", number.as_str()), ("uploadId", id)];
    let response = signed(em, Method::PUT, key, &query, &[], &long_term())
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["etag"].to_str().unwrap().to_owned()
}

pub(crate) fn parts_xml(parts: &[(u32, &str)]) -> String {
    let inner: String = parts
        .iter()
        .map(|(n, e)| format!("<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"))
        .collect();
    format!("<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>")
}

pub(crate) async fn complete(
    em: &Emulators,
    key: &str,
    id: &str,
    body: String,
    headers: &[(&str, &str)],
) -> Response {
    signed(
        em,
        Method::POST,
        key,
        &[("uploadId", id)],
        headers,
        &long_term(),
    )
    .body(body)
    .send()
    .await
    .unwrap()
}

pub(crate) fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
