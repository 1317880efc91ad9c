//! Who may do what with a multipart upload on the OSS emulator: session-policy actions,
//! presigned part URLs bound to their part and expiring, CORS for part PUTs from a browser, and
//! the upload callback sent on completion.

mod support;

use chrono::Utc;
use reqwest::Method;
use support::multipart::*;
use support::{b64, json_reply, start, Emulators, Receiver, BUCKET};

fn policy(actions: &[&str], prefix: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "1",
        "Statement": [{
            "Effect": "Allow",
            "Action": actions,
            "Resource": [format!("acs:oss:*:*:{BUCKET}/{prefix}*")],
        }],
    })
}

fn sts_cred(em: &Emulators, actions: &[&str], prefix: &str) -> Cred {
    let issued = em
        .sts
        .mint_with_policy("demo-uploader", policy(actions, prefix), 3600)
        .unwrap();
    Cred {
        ak: issued.access_key_id,
        secret: issued.access_key_secret,
        token: Some(issued.security_token),
    }
}

#[tokio::test]
async fn session_policies_name_the_oss_actions() {
    let em = start().await;
    let writer = sts_cred(&em, &["oss:PutObject"], "uploads/a/");
    let full = sts_cred(
        &em,
        &["oss:PutObject", "oss:ListParts", "oss:AbortMultipartUpload"],
        "uploads/a/",
    );
    let key = "uploads/a/v.bin";
    let id = initiate(&em, key, &[], &writer).await;
    let denied = signed(
        &em,
        Method::POST,
        "uploads/b/v.bin",
        &[("uploads", "")],
        &[],
        &writer,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(code_of(denied).await, (403, "AccessDenied".into()));
    let url = presigned(
        &em,
        "PUT",
        key,
        &[("partNumber", "1"), ("uploadId", &id)],
        &writer,
        Utc::now(),
        60,
    );
    assert_eq!(
        client().put(url).body("x").send().await.unwrap().status(),
        200
    );
    for (method, cred, status) in [
        (Method::GET, &writer, 403),
        (Method::GET, &full, 200),
        (Method::DELETE, &writer, 403),
        (Method::DELETE, &full, 204),
    ] {
        let response = signed(&em, method.clone(), key, &[("uploadId", &id)], &[], cred)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            status,
            "{method} {}",
            cred.ak == writer.ak
        );
    }
    // An STS key without its token is unknown to OSS.
    let tokenless = Cred {
        token: None,
        ..sts_cred(&em, &["oss:*"], "")
    };
    let response = signed(&em, Method::POST, key, &[("uploads", "")], &[], &tokenless)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(response).await, (403, "InvalidAccessKeyId".into()));
}

#[tokio::test]
async fn presigned_part_urls_are_bound_and_expire() {
    let em = start().await;
    let key = "uploads/s.bin";
    let id = initiate(&em, key, &[], &long_term()).await;
    let query = [("partNumber", "1"), ("uploadId", id.as_str())];
    let url = presigned(&em, "PUT", key, &query, &long_term(), Utc::now(), 900);
    // Another part number, another method, or a content type the URL did not sign: refused.
    let other_part = url.replace("partNumber=1", "partNumber=2");
    let response = client().put(other_part).body("x").send().await.unwrap();
    assert_eq!(
        code_of(response).await,
        (403, "SignatureDoesNotMatch".into())
    );
    let typed = client()
        .put(&url)
        .header("content-type", "application/json")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(typed).await, (403, "SignatureDoesNotMatch".into()));
    let old = presigned(
        &em,
        "PUT",
        key,
        &query,
        &long_term(),
        Utc::now() - chrono::Duration::seconds(120),
        60,
    );
    let response = client().put(old).body("x").send().await.unwrap();
    let (status, body) = (response.status().as_u16(), response.text().await.unwrap());
    assert_eq!((status, tag(&body, "Code").as_str()), (403, "AccessDenied"));
    assert!(body.contains("Request has expired"), "{body}");
    let too_long = presigned(&em, "PUT", key, &query, &long_term(), Utc::now(), 604_801);
    let response = client().put(too_long).body("x").send().await.unwrap();
    assert_eq!(code_of(response).await, (400, "InvalidArgument".into()));
    assert_eq!(
        client().put(url).body("x").send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn part_puts_from_a_browser_see_the_etag_when_cors_exposes_it() {
    let em = start().await;
    em.oss
        .set_cors_rules(Some(vec![broker_emulators::oss::EmulatedCorsRule {
            origins: vec!["https://app.example".into()],
            methods: vec!["POST".into(), "PUT".into()],
            headers: vec!["*".into()],
            expose: vec!["ETag".into()],
            max_age: None,
        }]));
    let key = "uploads/c.bin";
    let id = initiate(&em, key, &[], &long_term()).await;
    let url = presigned(
        &em,
        "PUT",
        key,
        &[("partNumber", "1"), ("uploadId", &id)],
        &long_term(),
        Utc::now(),
        900,
    );
    let preflight = client()
        .request(Method::OPTIONS, &url)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert!(preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PUT"));
    assert_eq!(preflight.headers()["access-control-expose-headers"], "ETag");
    let put = client()
        .put(&url)
        .header("origin", "https://app.example")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.headers()["access-control-expose-headers"], "ETag");
    assert_eq!(
        put.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = client()
        .request(Method::OPTIONS, &url)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
}

#[tokio::test]
async fn completion_performs_the_callback_once() {
    let em = start().await;
    let receiver = Receiver::start(json_reply("{\"ok\":true}")).await;
    let key = "uploads/cb.bin";
    let id = initiate(&em, key, &[("content-type", "video/mp4")], &long_term()).await;
    let e1 = put_part(&em, key, &id, 1, &bytes(PART, 1)).await;
    let e2 = put_part(&em, key, &id, 2, b"tail").await;
    let callback = b64(&serde_json::json!({
        "callbackUrl": receiver.url("/done"),
        "callbackBody": "{\"key\":${object},\"size\":${size},\"op\":${operation},\"mime\":${mimeType},\"who\":${x:who}}",
        "callbackBodyType": "application/json",
    })
    .to_string());
    let var = b64("{\"x:who\":\"alice\"}");
    let headers = [
        ("x-oss-callback", callback.as_str()),
        ("x-oss-callback-var", var.as_str()),
    ];
    let response = complete(&em, key, &id, parts_xml(&[(1, &e1), (2, &e2)]), &headers).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "{\"ok\":true}");
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"key": key, "size": PART + 4, "op": "CompleteMultipartUpload", "mime": "video/mp4", "who": "alice"})
    );
    // A bad callback header is refused before anything is stored.
    let id = initiate(&em, "uploads/cb2.bin", &[], &long_term()).await;
    let e = put_part(&em, "uploads/cb2.bin", &id, 1, b"x").await;
    let bad = [("x-oss-callback", "not base64!")];
    let response = complete(&em, "uploads/cb2.bin", &id, parts_xml(&[(1, &e)]), &bad).await;
    assert_eq!(code_of(response).await, (400, "InvalidArgument".into()));
    assert!(em.oss.object("uploads/cb2.bin").is_none());
}
