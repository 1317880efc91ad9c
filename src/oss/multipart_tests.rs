//! Tests of the broker's multipart calls: the requests as built (headers, query, body, and one
//! signature against a literal computed independently), then the calls against the strict OSS
//! emulator — a three-part upload with parts PUT through presigned URLs, ListParts across pages,
//! OSS's refusals as typed values, complete-all, forbid-overwrite, abort.

use std::sync::Arc;

use broker_emulators::oss::{OssEmulator, OssEmulatorConfig};
use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};
use chrono::{DateTime, Utc};

use super::*;
use crate::clock::SystemClock;
use crate::oss::presign::{presign, PresignRequest, Validity};

fn key(token: Option<&str>) -> PresignKey<'_> {
    PresignKey {
        access_key_id: "ak",
        secret: "sk",
        security_token: token,
    }
}

fn target() -> MultipartTarget {
    MultipartTarget {
        bucket_url: "http://127.0.0.1:9/examplebucket".into(),
        bucket: "examplebucket".into(),
        region: "cn-hangzhou".into(),
    }
}

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn header<'a>(p: &'a Prepared, name: &str) -> Option<&'a str> {
    p.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn initiate_is_signed_with_its_type_and_overwrite_header() {
    let p = target().initiate(
        &key(Some("tok")),
        at(),
        "uploads/a b.bin",
        "video/mp4",
        true,
    );
    assert_eq!(p.method, "POST");
    assert_eq!(
        p.url,
        "http://127.0.0.1:9/examplebucket/uploads/a%20b.bin?uploads"
    );
    assert_eq!(header(&p, "content-type"), Some("video/mp4"));
    assert_eq!(header(&p, "x-oss-forbid-overwrite"), Some("true"));
    assert_eq!(header(&p, "x-oss-security-token"), Some("tok"));
    // Computed with Python's hmac/hashlib from the canonical request of protocol.md §5.5:
    // POST /examplebucket/uploads/a%20b.bin?uploads, the five signed headers above, at
    // 20261204T120000Z, ak "ak", sk "sk", cn-hangzhou.
    assert_eq!(
        header(&p, "authorization"),
        Some("OSS4-HMAC-SHA256 Credential=ak/20261204/cn-hangzhou/oss/aliyun_v4_request,Signature=f69b747f94797a8a81d5fa4a0151193c7c446dbf098aeca5b05f3ca35bc9ebad")
    );
    let plain = target().initiate(&key(None), at(), "k", "image/png", false);
    assert_eq!(header(&plain, "x-oss-forbid-overwrite"), None);
    assert_eq!(header(&plain, "x-oss-security-token"), None);
    assert!(plain.body.is_none());
}

#[test]
fn list_complete_and_abort_requests() {
    let list = target().list_parts(&key(None), at(), "k", "ID+1", 0);
    assert_eq!(
        list.url,
        "http://127.0.0.1:9/examplebucket/k?uploadId=ID%2B1&max-parts=1000"
    );
    let next = target().list_parts(&key(None), at(), "k", "ID", 1000);
    assert!(
        next.url.ends_with("&part-number-marker=1000"),
        "{}",
        next.url
    );

    let listed = CompleteRequest {
        parts: PartsToJoin::Listed(vec![(1, "\"A\"".into()), (2, "\"B\"".into())]),
        forbid_overwrite: true,
        callback: Some("Y2I=".into()),
        callback_var: Some("dmFy".into()),
    };
    let p = target().complete(&key(None), at(), "k", "ID", &listed);
    assert_eq!(
        (p.method, p.url.as_str()),
        ("POST", "http://127.0.0.1:9/examplebucket/k?uploadId=ID")
    );
    assert!(p
        .body
        .as_deref()
        .unwrap()
        .contains("<PartNumber>2</PartNumber><ETag>&quot;B&quot;</ETag>"));
    assert_eq!(header(&p, "content-type"), Some("application/xml"));
    assert_eq!(header(&p, "x-oss-forbid-overwrite"), Some("true"));
    assert_eq!(header(&p, "x-oss-callback"), Some("Y2I="));
    assert_eq!(header(&p, "x-oss-callback-var"), Some("dmFy"));
    assert_eq!(header(&p, "x-oss-complete-all"), None);

    let all = CompleteRequest {
        parts: PartsToJoin::All,
        forbid_overwrite: false,
        callback: None,
        callback_var: None,
    };
    let p = target().complete(&key(None), at(), "k", "ID", &all);
    assert_eq!(header(&p, "x-oss-complete-all"), Some("yes"));
    assert_eq!(
        (p.body.as_deref(), header(&p, "content-type")),
        (None, None)
    );
    assert_eq!(header(&p, "x-oss-forbid-overwrite"), None);

    let abort = target().abort(&key(None), at(), "k", "ID");
    assert_eq!(
        (abort.method, abort.url.as_str()),
        ("DELETE", "http://127.0.0.1:9/examplebucket/k?uploadId=ID")
    );
}

#[test]
fn refusals_say_whose_fault_they_are() {
    let refusal = |code: &str| OssRefusal {
        status: 400,
        code: code.into(),
        message: String::new(),
        request_id: String::new(),
        ec: None,
    };
    for code in ["EntityTooSmall", "InvalidPart", "InvalidPartOrder"] {
        assert!(refusal(code).is_uploaders_fault(), "{code}");
    }
    for code in [
        "AccessDenied",
        "SignatureDoesNotMatch",
        "NoSuchUpload",
        "MalformedXML",
    ] {
        assert!(!refusal(code).is_uploaders_fault(), "{code}");
    }
    assert!(refusal("NoSuchUpload").is_no_such_upload());
    assert!(refusal("FileAlreadyExists").is_file_exists());
}

/// The demo account's long-term key, as the emulators know it.
fn demo_key() -> PresignKey<'static> {
    PresignKey {
        access_key_id: "LTAI5tDemoBrokerKey00001",
        secret: "EmuDemoSecretDoNotUseInProd001",
        security_token: None,
    }
}

struct Setup {
    _sts: StsEmulator,
    oss: OssEmulator,
    client: MultipartClient,
    /// The uploader's own connection, for part PUTs.
    http: reqwest::Client,
}

async fn setup() -> Setup {
    let sts = StsEmulator::start(StsEmulatorConfig::demo()).await.unwrap();
    let oss = OssEmulator::start(OssEmulatorConfig {
        bucket: "examplebucket".into(),
        region: "cn-hangzhou".into(),
        keys: sts.keys(),
        clock: Arc::new(SystemClock),
    })
    .await
    .unwrap();
    let target = MultipartTarget {
        bucket_url: oss.bucket_url(),
        bucket: "examplebucket".into(),
        region: "cn-hangzhou".into(),
    };
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let client = MultipartClient::new(http.clone(), target, Arc::new(SystemClock));
    Setup {
        _sts: sts,
        oss,
        client,
        http,
    }
}

/// PUTs a part through a presigned URL as a browser would (no header but the body).
async fn put_part(s: &Setup, object: &str, upload_id: &str, number: u32, body: Vec<u8>) -> String {
    let query = vec![
        ("partNumber".to_owned(), number.to_string()),
        ("uploadId".to_owned(), upload_id.to_owned()),
    ];
    let k = demo_key();
    let url = presign(
        &PresignRequest {
            method: "PUT",
            bucket: "examplebucket",
            key: object,
            query: &query,
            headers: &[],
            additional_headers: &[],
        },
        &k,
        "cn-hangzhou",
        Validity {
            signed_at: Utc::now(),
            expires: 600,
        },
        &s.oss.bucket_url(),
    )
    .unwrap();
    let response = s.http.put(url.url).body(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["etag"].to_str().unwrap().to_owned()
}

fn listed(parts: &[ListedPart]) -> PartsToJoin {
    PartsToJoin::Listed(
        parts
            .iter()
            .map(|p| (p.part_number, p.etag.clone()))
            .collect(),
    )
}

fn plain(parts: PartsToJoin) -> CompleteRequest {
    CompleteRequest {
        parts,
        forbid_overwrite: false,
        callback: None,
        callback_var: None,
    }
}

/// Listed out of order: OSS's own refusal, typed, and the upload stays.
async fn out_of_order_is_refused(s: &Setup, object: &str, upload_id: &str, parts: &[ListedPart]) {
    let mut wrong: Vec<(u32, String)> = parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    wrong.swap(0, 1);
    let e = s
        .client
        .complete(
            &demo_key(),
            object,
            upload_id,
            &plain(PartsToJoin::Listed(wrong)),
        )
        .await
        .unwrap_err();
    let refusal = e.refusal().expect("OSS refused");
    assert_eq!(
        (refusal.status, refusal.code.as_str()),
        (400, "InvalidPartOrder")
    );
    assert!(refusal.is_uploaders_fault() && !refusal.request_id.is_empty());
}

#[tokio::test]
async fn three_parts_against_the_emulator() {
    let s = setup().await;
    let object = "uploads/alice/v.mp4";
    let up = s
        .client
        .initiate(&demo_key(), object, "video/mp4", true)
        .await
        .unwrap();
    assert_eq!(up.key, object);
    let sizes = [100 * 1024, 100 * 1024, 17];
    for (i, size) in sizes.iter().enumerate() {
        put_part(
            &s,
            object,
            &up.upload_id,
            i as u32 + 1,
            vec![i as u8; *size],
        )
        .await;
    }
    let parts = s
        .client
        .list_parts(&demo_key(), object, &up.upload_id)
        .await
        .unwrap();
    assert_eq!(
        parts.iter().map(|p| p.size).collect::<Vec<_>>(),
        vec![102_400, 102_400, 17]
    );

    out_of_order_is_refused(&s, object, &up.upload_id, &parts).await;
    let done = s
        .client
        .complete(&demo_key(), object, &up.upload_id, &plain(listed(&parts)))
        .await
        .unwrap();
    let Completion::Stored(done) = done else {
        panic!("no callback was asked: {done:?}")
    };
    assert_eq!(
        (done.key.as_str(), done.bucket.as_str()),
        (object, "examplebucket")
    );
    let stored = s.oss.object(object).unwrap();
    assert_eq!(stored.body.len(), 204_817);
    assert_eq!(stored.content_type, "video/mp4");

    // The key exists now: forbid-overwrite refuses a new upload of it at once.
    let e = s
        .client
        .initiate(&demo_key(), object, "video/mp4", true)
        .await
        .unwrap_err();
    assert!(e.refusal().unwrap().is_file_exists());
    let e = s
        .client
        .list_parts(&demo_key(), object, &up.upload_id)
        .await
        .unwrap_err();
    assert!(e.refusal().unwrap().is_no_such_upload());
}

#[tokio::test]
async fn list_parts_follows_the_marker_and_small_parts_are_the_uploaders_fault() {
    let s = setup().await;
    let object = "uploads/many.bin";
    let up = s
        .client
        .initiate(&demo_key(), object, "application/octet-stream", false)
        .await
        .unwrap();
    for number in 1..=1002 {
        put_part(&s, object, &up.upload_id, number, vec![1]).await;
    }
    let parts = s
        .client
        .list_parts(&demo_key(), object, &up.upload_id)
        .await
        .unwrap();
    assert_eq!(parts.len(), 1002);
    assert_eq!(parts.last().unwrap().part_number, 1002);
    let e = s
        .client
        .complete(&demo_key(), object, &up.upload_id, &plain(PartsToJoin::All))
        .await
        .unwrap_err();
    assert_eq!(e.refusal().unwrap().code, "EntityTooSmall");
    assert!(e.refusal().unwrap().is_uploaders_fault());
    s.client
        .abort(&demo_key(), object, &up.upload_id)
        .await
        .unwrap();
    assert_eq!(s.oss.open_upload_count(), 0);
    let e = s
        .client
        .abort(&demo_key(), object, &up.upload_id)
        .await
        .unwrap_err();
    assert!(e.refusal().unwrap().is_no_such_upload());
}

#[tokio::test]
async fn complete_all_and_forbid_overwrite_at_completion() {
    let s = setup().await;
    let object = "uploads/once.txt";
    let first = s
        .client
        .initiate(&demo_key(), object, "text/plain", true)
        .await
        .unwrap();
    let second = s
        .client
        .initiate(&demo_key(), object, "text/plain", true)
        .await
        .unwrap();
    put_part(&s, object, &first.upload_id, 1, b"first".to_vec()).await;
    put_part(&s, object, &second.upload_id, 1, b"second".to_vec()).await;
    let forbid = CompleteRequest {
        forbid_overwrite: true,
        ..plain(PartsToJoin::All)
    };
    let done = s
        .client
        .complete(&demo_key(), object, &first.upload_id, &forbid)
        .await
        .unwrap();
    assert!(matches!(done, Completion::Stored(_)));
    let e = s
        .client
        .complete(&demo_key(), object, &second.upload_id, &forbid)
        .await
        .unwrap_err();
    assert_eq!(e.refusal().unwrap().status, 409);
    assert!(e.refusal().unwrap().is_file_exists());
    assert_eq!(s.oss.object(object).unwrap().body, b"first");
}
