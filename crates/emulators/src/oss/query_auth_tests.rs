//! The query-signature checks against the published vectors of protocol.md §16.1 (V4) and §16.2
//! (V1): requests rebuilt from the vectors' inputs, with the vectors' signatures as literals.

use std::sync::{Arc, Mutex};

use actix_web::http::Method;
use actix_web::test::TestRequest;
use broker_clock::ManualClock;
use chrono::{DateTime, Duration};

use super::*;
use crate::oss::CallbackKey;
use crate::sts::{StsEmulator, StsEmulatorConfig};

async fn inner_at(unix: i64) -> (Inner, StsEmulator, ManualClock) {
    let clock = ManualClock::new(DateTime::from_timestamp(unix, 0).unwrap());
    let sts = StsEmulator::start(StsEmulatorConfig {
        access_keys: vec![("ak".into(), "sk".into())],
        clock: Arc::new(clock.clone()),
        ..StsEmulatorConfig::demo()
    })
    .await
    .unwrap();
    let inner = Inner {
        bucket: "bucket".into(),
        region: "cn-hangzhou".into(),
        keys: sts.keys(),
        clock: Arc::new(clock.clone()),
        state: Mutex::new(Default::default()),
        callback_key: CallbackKey::generate().unwrap(),
        callback_key_url: "http://127.0.0.1:9/key.pem".into(),
    };
    (inner, sts, clock)
}

/// The Go SDK v2 query vectors' request: `PUT /bucket/1234+-/123/1.txt` with their headers and
/// query, plus `signing` (the signing parameters as the URL carries them).
fn v4_vector_request(signing: &str) -> actix_web::HttpRequest {
    let uri = format!(
        "/bucket/1234%2B-/123/1.txt?param1=value1&%2Bparam1=value3&%7Cparam1=value4&%2Bparam2=&%7Cparam2=&param2=&{signing}"
    );
    TestRequest::default()
        .method(Method::PUT)
        .uri(&uri)
        .insert_header(("x-oss-head1", "value"))
        .insert_header(("abc", "value"))
        .insert_header(("ZAbc", "value"))
        .insert_header(("XYZ", "value"))
        .insert_header(("content-type", "application/octet-stream"))
        .to_http_request()
}

fn check(inner: &Inner, req: &actix_web::HttpRequest, key: &str) -> Result<String, OssError> {
    let query = decoded_query(req.query_string())?;
    verify_query_auth(req, inner, key, &query).map(|s| s.expect("signed").access_key_id)
}

const KEY: &str = "1234+-/123/1.txt";
const CREDENTIAL: &str = "x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request";

#[tokio::test]
async fn v4_published_vectors_verify() {
    // protocol.md §16.1: TestV4AuthQuery, TestV4AuthQueryToken, TestV4AuthQueryWithAdditionalHeaders.
    let cases = [
        (
            1_702_781_677,
            "x-oss-date=20231217T025437Z&x-oss-expires=599&x-oss-signature=a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe",
        ),
        (
            1_702_785_388,
            "x-oss-date=20231217T035628Z&x-oss-expires=599&x-oss-security-token=token&x-oss-signature=3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5",
        ),
        (
            1_702_783_809,
            "x-oss-date=20231217T033009Z&x-oss-expires=599&x-oss-additional-headers=abc%3Bzabc&x-oss-signature=6bd984bfe531afb6db1f7550983a741b103a8c58e5e14f83ea474c2322dfa2b7",
        ),
    ];
    for (signed_at, params) in cases {
        let (inner, _sts, _clock) = inner_at(signed_at + 30).await;
        let signing = format!("x-oss-signature-version=OSS4-HMAC-SHA256&{CREDENTIAL}&{params}");
        assert_eq!(
            check(&inner, &v4_vector_request(&signing), KEY).map_err(|e| e.code),
            Ok("ak".to_owned()),
            "{params}"
        );
    }
}

fn token_vector_signing(signature: &str) -> String {
    format!(
        "x-oss-signature-version=OSS4-HMAC-SHA256&{CREDENTIAL}&x-oss-date=20231217T035628Z&x-oss-expires=599&x-oss-security-token=token&x-oss-signature={signature}"
    )
}

const TOKEN_SIGNATURE: &str = "3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5";

#[tokio::test]
async fn v4_changes_are_refused() {
    let (inner, _sts, clock) = inner_at(1_702_785_388).await;
    let good = token_vector_signing(TOKEN_SIGNATURE);
    let code =
        |req: &actix_web::HttpRequest, key: &str| check(&inner, req, key).map_err(|e| e.code);
    assert!(code(&v4_vector_request(&good), KEY).is_ok());
    // Another key, another value, one more parameter, a flipped signature digit.
    assert_eq!(
        code(&v4_vector_request(&good), "1234+-/123/2.txt"),
        Err("SignatureDoesNotMatch")
    );
    let changed = good.replace("x-oss-expires=599", "x-oss-expires=598");
    assert_eq!(
        code(&v4_vector_request(&changed), KEY),
        Err("SignatureDoesNotMatch")
    );
    let added = format!("{good}&x-oss-process=image%2Fresize%2Cw_10");
    assert_eq!(
        code(&v4_vector_request(&added), KEY),
        Err("SignatureDoesNotMatch")
    );
    let flipped = token_vector_signing(&TOKEN_SIGNATURE.replace("3817", "3818"));
    assert_eq!(
        code(&v4_vector_request(&flipped), KEY),
        Err("SignatureDoesNotMatch")
    );
    // Expiry: the last second still works, the next one does not.
    clock.set(DateTime::from_timestamp(1_702_785_388 + 599, 0).unwrap());
    assert!(code(&v4_vector_request(&good), KEY).is_ok());
    clock.set(DateTime::from_timestamp(1_702_785_388 + 600, 0).unwrap());
    let expired = check(&inner, &v4_vector_request(&good), KEY).unwrap_err();
    assert_eq!(
        (expired.code, expired.ec),
        ("AccessDenied", Some("0002-00000069"))
    );
    // Earlier than 15 minutes before x-oss-date.
    clock.set(DateTime::from_timestamp(1_702_785_388, 0).unwrap() - Duration::seconds(901));
    let early = check(&inner, &v4_vector_request(&good), KEY).unwrap_err();
    assert_eq!(
        (early.code, early.ec),
        ("AccessDenied", Some("0002-00000235"))
    );
    clock.set(DateTime::from_timestamp(1_702_785_388, 0).unwrap() - Duration::seconds(900));
    assert!(code(&v4_vector_request(&good), KEY).is_ok());
}

#[tokio::test]
async fn v4_shapes_are_refused() {
    let (inner, _sts, _clock) = inner_at(1_702_785_388).await;
    let good = token_vector_signing(TOKEN_SIGNATURE);
    let code = |signing: &str| check(&inner, &v4_vector_request(signing), KEY).map_err(|e| e.code);
    for bad in [
        good.replace("x-oss-expires=599", "x-oss-expires=604801"),
        good.replace("x-oss-expires=599", "x-oss-expires=0"),
        good.replace("x-oss-expires=599", "x-oss-expires=-5"),
        good.replace("x-oss-expires=599", "x-oss-expires=1702785987"),
        good.replace("&x-oss-expires=599", ""),
        good.replace("x-oss-date=20231217T035628Z", "x-oss-date=20231218T035628Z"),
        good.replace("x-oss-date=20231217T035628Z", "x-oss-date=2023-12-17"),
        good.replace("OSS4-HMAC-SHA256", "OSS2"),
        good.replace("cn-hangzhou", "cn-beijing"),
        format!("{good}&x-oss-date=20231217T035628Z"),
    ] {
        assert_eq!(code(&bad).unwrap_err(), "InvalidArgument", "{bad}");
    }
    // Signed with both V1 and V4 parameters.
    assert_eq!(
        code(&format!("{good}&Expires=1")).unwrap_err(),
        "InvalidArgument"
    );
}

#[tokio::test]
async fn v1_published_vectors_verify() {
    // protocol.md §16.2: TestV1AuthQuery, both cases.
    let (inner, _sts, _clock) = inner_at(1_699_807_000).await;
    let get = |uri: &str| TestRequest::get().uri(uri).to_http_request();
    let plain = get("/bucket/key?Expires=1699807420&OSSAccessKeyId=ak&Signature=dcLTea%2BYh9ApirQ8o8dOPqtvJXQ%3D&versionId=versionId");
    assert_eq!(
        check(&inner, &plain, "key").map_err(|e| e.code),
        Ok("ak".into())
    );
    let token = get("/bucket/key%2B123?Expires=1699808204&OSSAccessKeyId=ak&Signature=jzKYRrM5y6Br0dRFPaTGOsbrDhY%3D&security-token=token&versionId=versionId");
    assert_eq!(
        check(&inner, &token, "key+123").map_err(|e| e.code),
        Ok("ak".into())
    );
    // protocol.md §16.2: a `+` of the signature sent raw reads as a space.
    let raw_plus = get("/bucket/key?Expires=1699807420&OSSAccessKeyId=ak&Signature=dcLTea+Yh9ApirQ8o8dOPqtvJXQ%3D&versionId=versionId");
    assert_eq!(
        check(&inner, &raw_plus, "key").unwrap_err().code,
        "SignatureDoesNotMatch"
    );
    let other = get("/bucket/key?Expires=1699807420&OSSAccessKeyId=ak&Signature=dcLTea%2BYh9ApirQ8o8dOPqtvJXQ%3D&versionId=other");
    assert_eq!(
        check(&inner, &other, "key").unwrap_err().code,
        "SignatureDoesNotMatch"
    );
    let missing = get("/bucket/key?Expires=1699807420&OSSAccessKeyId=ak&versionId=versionId");
    assert_eq!(
        check(&inner, &missing, "key").unwrap_err().code,
        "InvalidArgument"
    );
    let malformed = get("/bucket/key?Expires=soon&OSSAccessKeyId=ak&Signature=x");
    let e = check(&inner, &malformed, "key").unwrap_err();
    assert_eq!((e.code, e.ec), ("InvalidArgument", Some("0002-00000070")));
}

#[tokio::test]
async fn v1_expires_is_absolute() {
    let (inner, _sts, clock) = inner_at(1_699_807_420).await;
    let req = TestRequest::get()
        .uri("/bucket/key?Expires=1699807420&OSSAccessKeyId=ak&Signature=dcLTea%2BYh9ApirQ8o8dOPqtvJXQ%3D&versionId=versionId")
        .to_http_request();
    assert!(check(&inner, &req, "key").is_ok());
    clock.set(DateTime::from_timestamp(1_699_807_421, 0).unwrap());
    let e = check(&inner, &req, "key").unwrap_err();
    assert_eq!((e.code, e.ec), ("AccessDenied", Some("0002-00000069")));
}

#[tokio::test]
async fn unsigned_queries_are_not_signatures() {
    let (inner, _sts, _clock) = inner_at(0).await;
    let req = TestRequest::get()
        .uri("/bucket/key?x-oss-process=image%2Fresize%2Cw_1")
        .to_http_request();
    let query = decoded_query(req.query_string()).unwrap();
    assert!(verify_query_auth(&req, &inner, "key", &query)
        .unwrap()
        .is_none());
    assert!(decoded_query("a=%zz").is_err());
}
