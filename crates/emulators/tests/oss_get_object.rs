//! GetObject on the OSS emulator: presigned V4 and V1 URLs (signature, expiry, security token,
//! the session policy's `oss:GetObject`), the bucket ACL for unsigned reads, and the signed
//! `response-content-disposition` and `x-oss-process` arriving. URLs are signed here with the
//! test's own code (protocol.md §16.1, §16.2), neither the emulator's nor the broker's.

mod support;

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use broker_emulators::oss::{BucketAcl, OssEmulator, PROCESS_ECHO_HEADER};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use support::{start, Emulators, AK, BUCKET, REGION, SECRET};

/// RFC 3986 unreserved characters stay; with `keep_slash`, `/` too.
fn enc(s: &str, keep_slash: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b'/' if keep_slash => "/".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hmac256(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

struct Key<'a> {
    id: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
}

const LONG_TERM: Key<'static> = Key {
    id: AK,
    secret: SECRET,
    token: None,
};

/// A V4 presigned GET of `key`, signed at `at` for `expires` seconds, with `extra` parameters.
fn v4_url(
    oss: &OssEmulator,
    key: &str,
    signer: &Key<'_>,
    at: DateTime<Utc>,
    expires: u32,
    extra: &[(&str, &str)],
) -> String {
    let datetime = at.format("%Y%m%dT%H%M%SZ").to_string();
    let date = at.format("%Y%m%d").to_string();
    let mut query: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let scope = format!("{date}/{REGION}/oss/aliyun_v4_request");
    query.push(("x-oss-signature-version".into(), "OSS4-HMAC-SHA256".into()));
    query.push(("x-oss-credential".into(), format!("{}/{scope}", signer.id)));
    query.push(("x-oss-date".into(), datetime.clone()));
    query.push(("x-oss-expires".into(), expires.to_string()));
    if let Some(token) = signer.token {
        query.push(("x-oss-security-token".into(), token.into()));
    }
    let mut encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k, false), enc(v, false)))
        .collect();
    encoded.sort();
    let canonical_query = encoded.join("&");
    let canonical = format!(
        "GET\n{}\n{canonical_query}\n\n\nUNSIGNED-PAYLOAD",
        enc(&format!("/{BUCKET}/{key}"), true)
    );
    let to_sign = format!(
        "OSS4-HMAC-SHA256\n{datetime}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut signing_key = format!("aliyun_v4{}", signer.secret).into_bytes();
    for step in [date.as_str(), REGION, "oss", "aliyun_v4_request"] {
        signing_key = hmac256(&signing_key, step);
    }
    let signature = hex::encode(hmac256(&signing_key, &to_sign));
    format!(
        "{}/{}?{canonical_query}&x-oss-signature={signature}",
        oss.bucket_url(),
        enc(key, true)
    )
}

/// A V1 presigned GET of `key` valid until `expires` (Unix seconds).
fn v1_url(oss: &OssEmulator, key: &str, signer: &Key<'_>, expires: i64) -> String {
    let mut resource = format!("/{BUCKET}/{key}");
    if let Some(token) = signer.token {
        resource.push_str(&format!("?security-token={token}"));
    }
    let to_sign = format!("GET\n\n\n{expires}\n{resource}");
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(signer.secret.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    let mut url = format!(
        "{}/{}?Expires={expires}&OSSAccessKeyId={}&Signature={}",
        oss.bucket_url(),
        enc(key, true),
        signer.id,
        enc(&signature, false)
    );
    if let Some(token) = signer.token {
        url.push_str(&format!("&security-token={}", enc(token, false)));
    }
    url
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .expect("the emulator answers")
}

/// The status and `<Code>` of an answer.
async fn outcome(url: &str) -> (u16, String) {
    let response = get(url).await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let code = body
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map_or(String::new(), |(code, _)| code.to_owned());
    (status, code)
}

async fn private_bucket_with_objects() -> Emulators {
    let em = start().await;
    em.oss.set_acl(BucketAcl::Private);
    em.oss
        .insert_object("uploads/alice/a b+c.txt", b"alice's bytes", "text/plain");
    em.oss
        .insert_object("uploads/bob/b.txt", b"bob's bytes", "text/plain");
    em
}

fn read_policy(resources: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"], "Resource": resources}]
    })
}

#[tokio::test]
async fn a_private_bucket_is_read_only_through_a_signature() {
    let em = private_bucket_with_objects().await;
    let key = "uploads/alice/a b+c.txt";
    let unsigned = format!("{}/{}", em.oss.bucket_url(), enc(key, true));
    assert_eq!(outcome(&unsigned).await, (403, "AccessDenied".into()));

    let url = v4_url(&em.oss, key, &LONG_TERM, Utc::now(), 600, &[]);
    let response = get(&url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert!(response.headers().get("content-disposition").is_none());
    assert_eq!(&response.bytes().await.unwrap()[..], b"alice's bytes");

    let v1 = v1_url(&em.oss, key, &LONG_TERM, Utc::now().timestamp() + 60);
    assert_eq!(&get(&v1).await.bytes().await.unwrap()[..], b"alice's bytes");
}

#[tokio::test]
async fn changed_urls_are_refused() {
    let em = private_bucket_with_objects().await;
    let key = "uploads/alice/a b+c.txt";
    let url = v4_url(&em.oss, key, &LONG_TERM, Utc::now(), 600, &[]);
    let mismatch = (403, "SignatureDoesNotMatch".to_owned());
    // Another key under the same signature, a changed expiry, an added parameter, a flipped
    // signature character.
    let other_key = url.replace("a%20b%2Bc.txt", "a%20b%2Bd.txt");
    assert_eq!(outcome(&other_key).await, mismatch);
    assert_eq!(
        outcome(&url.replace("x-oss-expires=600", "x-oss-expires=6000")).await,
        mismatch
    );
    assert_eq!(
        outcome(&format!("{url}&response-content-type=text%2Fhtml")).await,
        mismatch
    );
    let (head, signature) = url.rsplit_once('=').unwrap();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    assert_eq!(
        outcome(&format!("{head}={flipped}{}", &signature[1..])).await,
        mismatch
    );
    let v1 = v1_url(&em.oss, key, &LONG_TERM, Utc::now().timestamp() + 60);
    let later = Utc::now().timestamp() + 3600;
    let expires = v1
        .split("Expires=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert_eq!(
        outcome(&v1.replace(&format!("Expires={expires}"), &format!("Expires={later}"))).await,
        mismatch
    );
}

#[tokio::test]
async fn expired_urls_are_refused() {
    let em = private_bucket_with_objects().await;
    let key = "uploads/bob/b.txt";
    let expired = (403, "AccessDenied".to_owned());
    let past = Utc::now() - Duration::seconds(700);
    assert_eq!(
        outcome(&v4_url(&em.oss, key, &LONG_TERM, past, 600, &[])).await,
        expired
    );
    assert_eq!(
        get(&v4_url(&em.oss, key, &LONG_TERM, past, 800, &[]))
            .await
            .status(),
        200
    );
    let v1 = v1_url(&em.oss, key, &LONG_TERM, Utc::now().timestamp() - 1);
    let response = get(&v1).await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.headers()["x-oss-ec"], "0002-00000069");
    // More than 7 days, or signed for the future beyond the 15-minute allowance.
    assert_eq!(
        outcome(&v4_url(&em.oss, key, &LONG_TERM, Utc::now(), 604_801, &[])).await,
        (400, "InvalidArgument".into())
    );
    let future = Utc::now() + Duration::minutes(20);
    assert_eq!(
        outcome(&v4_url(&em.oss, key, &LONG_TERM, future, 600, &[])).await,
        expired
    );
}

#[tokio::test]
async fn a_temporary_credential_reads_what_its_policy_allows_with_its_token() {
    let em = private_bucket_with_objects().await;
    let allowed = read_policy(&["acs:oss:*:*:examplebucket/uploads/alice/*"]);
    let cred = em
        .sts
        .mint_with_policy("demo-uploader", allowed, 3600)
        .expect("a role");
    let with_token = Key {
        id: &cred.access_key_id,
        secret: &cred.access_key_secret,
        token: Some(&cred.security_token),
    };
    let now = Utc::now();
    let alice = "uploads/alice/a b+c.txt";
    assert_eq!(
        get(&v4_url(&em.oss, alice, &with_token, now, 600, &[]))
            .await
            .status(),
        200
    );
    let v1 = v1_url(&em.oss, alice, &with_token, now.timestamp() + 60);
    assert_eq!(get(&v1).await.status(), 200);
    assert_eq!(
        outcome(&v4_url(
            &em.oss,
            "uploads/bob/b.txt",
            &with_token,
            now,
            600,
            &[]
        ))
        .await,
        (403, "AccessDenied".into())
    );
    let without_token = Key {
        token: None,
        ..with_token
    };
    assert_eq!(
        outcome(&v4_url(&em.oss, alice, &without_token, now, 600, &[])).await,
        (403, "InvalidAccessKeyId".into())
    );
    let wrong_token = Key {
        token: Some("not-the-token"),
        ..with_token
    };
    assert_eq!(
        outcome(&v4_url(&em.oss, alice, &wrong_token, now, 600, &[])).await,
        (403, "InvalidSecurityToken".into())
    );
    em.sts.expire_credential(&cred.access_key_id);
    assert_eq!(
        outcome(&v4_url(&em.oss, alice, &with_token, now, 600, &[])).await,
        (403, "SecurityTokenExpired".into())
    );
}

#[tokio::test]
async fn a_policy_without_get_object_reads_nothing() {
    let em = private_bucket_with_objects().await;
    let write_only = serde_json::json!({
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": ["oss:PutObject"],
                       "Resource": ["acs:oss:*:*:examplebucket/uploads/alice/*"]}]
    });
    let cred = em
        .sts
        .mint_with_policy("demo-uploader", write_only, 3600)
        .unwrap();
    let key = Key {
        id: &cred.access_key_id,
        secret: &cred.access_key_secret,
        token: Some(&cred.security_token),
    };
    let url = v4_url(
        &em.oss,
        "uploads/alice/a b+c.txt",
        &key,
        Utc::now(),
        600,
        &[],
    );
    assert_eq!(outcome(&url).await, (403, "AccessDenied".into()));
}

#[tokio::test]
async fn signed_overrides_and_processing_arrive() {
    let em = private_bucket_with_objects().await;
    let disposition = "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.txt";
    let url = v4_url(
        &em.oss,
        "uploads/bob/b.txt",
        &LONG_TERM,
        Utc::now(),
        600,
        &[
            ("response-content-disposition", disposition),
            ("x-oss-process", "image/resize,w_200"),
        ],
    );
    let response = get(&url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-disposition"], disposition);
    assert_eq!(
        response.headers()[PROCESS_ECHO_HEADER],
        "image/resize,w_200"
    );
    let missing = v4_url(
        &em.oss,
        "uploads/bob/none",
        &LONG_TERM,
        Utc::now(),
        600,
        &[],
    );
    assert_eq!(outcome(&missing).await, (404, "NoSuchKey".into()));
}

#[tokio::test]
async fn a_public_read_bucket_still_checks_signatures() {
    let em = start().await;
    em.oss
        .insert_object("uploads/p.txt", b"public", "text/plain");
    let plain = format!("{}/uploads/p.txt", em.oss.bucket_url());
    assert_eq!(&get(&plain).await.bytes().await.unwrap()[..], b"public");
    // Overrides on an unsigned read are not applied.
    let unsigned = get(&format!("{plain}?response-content-disposition=attachment")).await;
    assert_eq!(unsigned.status(), 200);
    assert!(unsigned.headers().get("content-disposition").is_none());
    let url = v4_url(&em.oss, "uploads/p.txt", &LONG_TERM, Utc::now(), 600, &[]);
    assert_eq!(
        outcome(&url.replace("x-oss-expires=600", "x-oss-expires=601")).await,
        (403, "SignatureDoesNotMatch".into())
    );
}
