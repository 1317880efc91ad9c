//! HeadObject on the OSS emulator: OSS V4 header signatures (long-term keys and STS tokens),
//! the object's headers as `GET` gives them, and bodiless 404 and 403 answers.

mod support;

use reqwest::Method;
use support::{start, v4_signed, Upload, AK, SECRET};

#[tokio::test]
async fn head_gives_the_objects_headers_and_no_body() {
    let em = start().await;
    let mut upload = Upload::new("uploads/h.txt", b"hello world");
    upload.content_type = "text/markdown".into();
    assert_eq!(upload.post(&em.oss).await.status(), 204);
    let endpoint = em.oss.endpoint();

    let head = v4_signed(Method::HEAD, &endpoint, "uploads/h.txt", AK, SECRET, None)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let headers = head.headers().clone();
    assert_eq!(headers["content-length"], "11");
    assert_eq!(headers["content-type"], "text/markdown");
    assert!(headers.contains_key("x-oss-request-id"));
    let modified = headers["last-modified"].to_str().unwrap();
    assert!(modified.ends_with(" GMT"), "{modified}");
    assert!(
        chrono::DateTime::parse_from_rfc2822(modified).is_ok(),
        "{modified}"
    );
    assert!(head.bytes().await.unwrap().is_empty());

    let get = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/uploads/h.txt", em.oss.bucket_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(headers["etag"], get.headers()["etag"]);
    let etag = headers["etag"].to_str().unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
}

#[tokio::test]
async fn head_of_a_missing_key_is_404_without_a_body() {
    let em = start().await;
    let head = v4_signed(
        Method::HEAD,
        &em.oss.endpoint(),
        "uploads/none.txt",
        AK,
        SECRET,
        None,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(head.status(), 404);
    assert!(head.headers().contains_key("x-oss-request-id"));
    assert_eq!(head.headers()["content-length"], "0");
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn head_refuses_bad_signatures_and_anonymous_callers() {
    let em = start().await;
    Upload::new("uploads/s.txt", b"x").post(&em.oss).await;
    let endpoint = em.oss.endpoint();
    let wrong = v4_signed(
        Method::HEAD,
        &endpoint,
        "uploads/s.txt",
        AK,
        "not-the-secret",
        None,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(wrong.status(), 403);
    assert!(wrong.bytes().await.unwrap().is_empty());
    // Signed for another key than the one requested.
    let other = v4_signed(Method::HEAD, &endpoint, "uploads/t.txt", AK, SECRET, None)
        .build()
        .unwrap();
    let mut moved = other.try_clone().unwrap();
    *moved.url_mut() = format!("{}/uploads/s.txt", em.oss.bucket_url())
        .parse()
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(client.execute(moved).await.unwrap().status(), 403);
    let anonymous = client
        .head(format!("{}/uploads/s.txt", em.oss.bucket_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);
}

#[tokio::test]
async fn head_takes_sts_credentials_with_their_token() {
    let em = start().await;
    Upload::new("uploads/sts.txt", b"abc").post(&em.oss).await;
    let cred = em.sts.mint_for_role("demo-uploader", 3600).expect("a role");
    let endpoint = em.oss.endpoint();
    let head = |token: Option<&str>| {
        v4_signed(
            Method::HEAD,
            &endpoint,
            "uploads/sts.txt",
            &cred.access_key_id,
            &cred.access_key_secret,
            token,
        )
        .send()
    };
    let ok = head(Some(&cred.security_token)).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-length"], "3");
    assert_eq!(head(None).await.unwrap().status(), 403);
    assert_eq!(head(Some("wrong-token")).await.unwrap().status(), 403);
}
