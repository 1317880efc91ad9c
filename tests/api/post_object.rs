//! Server-side signing end to end: forms from `/getPostObjectParams` (V1 and V4) and a
//! mini-program-style client signing with `/getToken` credentials, posted as real multipart
//! bodies to the strict OSS emulator.

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::{Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{json, Map, Value};
use sha1::Sha1;

use crate::harness::{BrokerCommand, TestApp};

/// What the emulator answered.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

impl Answer {
    fn code(&self) -> String {
        self.body
            .split_once("<Code>")
            .and_then(|(_, r)| r.split_once("</Code>"))
            .map(|(c, _)| c.to_owned())
            .unwrap_or_default()
    }

    #[track_caller]
    pub(crate) fn assert_refused(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}",
            self.body
        );
    }
}

/// Posts `fields` then a `file` part, as a browser's FormData or `wx.uploadFile` does.
pub(crate) async fn post(
    host: &str,
    fields: &[(String, String)],
    file: Vec<u8>,
    file_type: &str,
) -> Answer {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.clone(), v.clone());
    }
    let part = reqwest::multipart::Part::bytes(file)
        .file_name("upload.bin")
        .mime_str(file_type)
        .unwrap();
    form = form.part("file", part);
    let response = reqwest::Client::new()
        .post(host)
        .multipart(form)
        .send()
        .await
        .expect("emulator answers");
    Answer {
        status: response.status().as_u16(),
        body: response.text().await.unwrap(),
    }
}

/// `/getPostObjectParams`, checked for the contract's shape; returns the body.
async fn params(app: &TestApp) -> Map<String, Value> {
    let response = app.post_object_params().await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = response.text().await.unwrap();
    let issued = app.sts.last_issued().unwrap();
    assert!(
        !text.contains(&issued.access_key_secret),
        "the secret must never leave the broker in server-side signing"
    );
    assert!(!text.contains(&app.broker_secret().unwrap()));
    serde_json::from_str(&text).unwrap()
}

/// The form fields of a `/getPostObjectParams` answer, plus `key` (and `extra`).
pub(crate) fn fields(
    params: &Map<String, Value>,
    key: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "host" | "dir" | "expire"))
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().expect("form fields are strings").to_owned(),
            )
        })
        .collect();
    out.push(("key".into(), key.into()));
    out.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    out
}

fn set(fields: &mut [(String, String)], name: &str, value: String) {
    fields.iter_mut().find(|(k, _)| k == name).expect(name).1 = value;
}

fn policy_of(params: &Map<String, Value>) -> Value {
    serde_json::from_slice(&B64.decode(params["policy"].as_str().unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn v4_form_uploads_under_dir_and_reads_back() {
    let app = TestApp::builder().with_oss().spawn().await;
    let p = params(&app).await;
    assert_eq!(p["host"], app.oss().bucket_url().as_str());
    assert_eq!(p["dir"], "uploads/anonymous/");
    assert_eq!(p["x-oss-signature-version"], "OSS4-HMAC-SHA256");
    let issued = app.sts.last_issued().unwrap();
    let credential = p["x-oss-credential"].as_str().unwrap();
    assert!(credential.starts_with(&format!("{}/", issued.access_key_id)));
    assert!(credential.ends_with("/cn-hangzhou/oss/aliyun_v4_request"));
    assert_eq!(p["x-oss-security-token"], issued.security_token.as_str());
    assert!(p.get("OSSAccessKeyId").is_none() && p.get("signature").is_none());
    let expire = p["expire"].as_i64().unwrap();
    assert!(
        (expire - (Utc::now().timestamp() + 600)).abs() <= 5,
        "{expire}"
    );
    let policy = policy_of(&p);
    let conditions = policy["conditions"].as_array().unwrap();
    for expected in [
        json!({"bucket": "test-bucket"}),
        json!(["starts-with", "$key", "uploads/anonymous/"]),
        json!(["content-length-range", 1, 10485760]),
        json!({"x-oss-security-token": issued.security_token}),
        json!({"x-oss-credential": credential}),
    ] {
        assert!(conditions.contains(&expected), "{expected} missing");
    }

    let key = "uploads/anonymous/photo.txt";
    let answer = post(
        p["host"].as_str().unwrap(),
        &fields(&p, key, &[]),
        b"hello oss".to_vec(),
        "text/plain",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stored = app.oss().object(key).expect("stored");
    assert_eq!(stored.writer, issued.access_key_id);
    let read = reqwest::get(format!("{}/{key}", p["host"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(read.status().as_u16(), 200);
    assert_eq!(read.bytes().await.unwrap().as_ref(), b"hello oss");
    app.assert_no_secrets_leaked(&[&answer.body]);
}

#[tokio::test]
async fn v1_form_uploads_under_dir_and_reads_back() {
    let app = TestApp::builder()
        .with_oss()
        .vars(|vars| {
            vars.insert("BROKER_POST_SIGNATURE".into(), "v1".into());
        })
        .spawn()
        .await;
    let p = params(&app).await;
    let issued = app.sts.last_issued().unwrap();
    assert_eq!(p["OSSAccessKeyId"], issued.access_key_id.as_str());
    assert!(p["signature"].as_str().is_some_and(|s| s.ends_with('=')));
    assert!(p.get("x-oss-signature").is_none() && p.get("x-oss-credential").is_none());
    let key = "uploads/anonymous/nested/dir/a.bin";
    let body: Vec<u8> = (0..=255).collect();
    let answer = post(
        p["host"].as_str().unwrap(),
        &fields(&p, key, &[]),
        body.clone(),
        "application/octet-stream",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let read = reqwest::get(format!("{}/{key}", app.oss().bucket_url()))
        .await
        .unwrap();
    assert_eq!(read.bytes().await.unwrap().as_ref(), body.as_slice());
    app.assert_no_secrets_leaked(&[&answer.body]);
}

#[tokio::test]
async fn a_key_outside_dir_is_refused() {
    for version in ["v1", "v4"] {
        let app = TestApp::builder()
            .with_oss()
            .vars(|vars| {
                vars.insert("BROKER_POST_SIGNATURE".into(), version.into());
            })
            .spawn()
            .await;
        let p = params(&app).await;
        for key in [
            "uploads/bob/x.txt",
            "uploads/anonymous",
            "x.txt",
            "uploads/anonymou/x",
        ] {
            let answer = post(
                &app.oss().bucket_url(),
                &fields(&p, key, &[]),
                b"x".to_vec(),
                "text/plain",
            )
            .await;
            answer.assert_refused(403, "AccessDenied");
            assert!(
                answer.body.contains("Policy Condition failed"),
                "{}",
                answer.body
            );
        }
        assert_eq!(app.oss().object_count(), 0, "{version}");
    }
}

#[tokio::test]
async fn a_body_over_max_upload_bytes_is_refused() {
    let app = TestApp::builder()
        .with_oss()
        .vars(|vars| {
            vars.insert("BROKER_MAX_UPLOAD_BYTES".into(), "1024".into());
        })
        .spawn()
        .await;
    let p = params(&app).await;
    assert!(policy_of(&p)["conditions"]
        .as_array()
        .unwrap()
        .contains(&json!(["content-length-range", 1, 1024])));
    let host = app.oss().bucket_url();
    let key = "uploads/anonymous/size.bin";
    let answer = post(
        &host,
        &fields(&p, key, &[]),
        vec![7; 1025],
        "application/octet-stream",
    )
    .await;
    answer.assert_refused(400, "EntityTooLarge");
    let answer = post(
        &host,
        &fields(&p, key, &[]),
        Vec::new(),
        "application/octet-stream",
    )
    .await;
    answer.assert_refused(400, "EntityTooSmall");
    let answer = post(
        &host,
        &fields(&p, key, &[]),
        vec![7; 1024],
        "application/octet-stream",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn an_expired_policy_is_refused() {
    for version in ["v1", "v4"] {
        let app = TestApp::builder()
            .with_oss()
            .vars(|vars| {
                vars.insert("BROKER_POST_SIGNATURE".into(), version.into());
                vars.insert("BROKER_POST_POLICY_TTL_SECONDS".into(), "60".into());
            })
            .spawn()
            .await;
        let p = params(&app).await;
        let f = fields(&p, "uploads/anonymous/late.txt", &[]);
        let answer = post(
            &app.oss().bucket_url(),
            &f,
            b"on time".to_vec(),
            "text/plain",
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        app.oss_clock().advance(Duration::seconds(62));
        let answer = post(
            &app.oss().bucket_url(),
            &f,
            b"too late".to_vec(),
            "text/plain",
        )
        .await;
        answer.assert_refused(403, "AccessDenied");
        assert!(answer.body.contains("Policy expired"), "{}", answer.body);
    }
}

#[tokio::test]
async fn the_policy_never_outlives_its_credential() {
    let app = TestApp::builder()
        .with_oss()
        .vars(|vars| {
            vars.insert("BROKER_DURATION_SECONDS".into(), "900".into());
            vars.insert("BROKER_POST_POLICY_TTL_SECONDS".into(), "3600".into());
        })
        .spawn()
        .await;
    let p = params(&app).await;
    let issued = app.sts.last_issued().unwrap();
    assert_eq!(p["expire"].as_i64().unwrap(), issued.expiration.timestamp());
}

#[tokio::test]
async fn a_tampered_policy_or_signature_is_refused() {
    for version in ["v1", "v4"] {
        let app = TestApp::builder()
            .with_oss()
            .vars(|vars| {
                vars.insert("BROKER_POST_SIGNATURE".into(), version.into());
            })
            .spawn()
            .await;
        let p = params(&app).await;
        let host = app.oss().bucket_url();
        let key = "uploads/x.txt";
        let sig_field = if version == "v1" {
            "signature"
        } else {
            "x-oss-signature"
        };

        // A wider prefix in the policy: the signature no longer matches.
        let mut policy = policy_of(&p);
        policy["conditions"][1] = json!(["starts-with", "$key", "uploads/"]);
        let mut f = fields(&p, key, &[]);
        set(&mut f, "policy", B64.encode(policy.to_string()));
        post(&host, &f, b"x".to_vec(), "text/plain")
            .await
            .assert_refused(403, "SignatureDoesNotMatch");

        // A changed signature.
        let mut f = fields(&p, "uploads/anonymous/x.txt", &[]);
        let mut sig = p[sig_field].as_str().unwrap().to_owned();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        sig.replace_range(0..1, flipped);
        set(&mut f, sig_field, sig);
        post(&host, &f, b"x".to_vec(), "text/plain")
            .await
            .assert_refused(403, "SignatureDoesNotMatch");

        // No token, or another one.
        let f: Vec<_> = fields(&p, "uploads/anonymous/x.txt", &[])
            .into_iter()
            .filter(|(k, _)| k != "x-oss-security-token")
            .collect();
        post(&host, &f, b"x".to_vec(), "text/plain")
            .await
            .assert_refused(403, "InvalidAccessKeyId");
        let mut f = fields(&p, "uploads/anonymous/x.txt", &[]);
        set(
            &mut f,
            "x-oss-security-token",
            format!("{}x", p["x-oss-security-token"].as_str().unwrap()),
        );
        post(&host, &f, b"x".to_vec(), "text/plain")
            .await
            .assert_refused(403, "InvalidSecurityToken");

        // A success status other than the one signed.
        let mut f = fields(&p, "uploads/anonymous/x.txt", &[]);
        set(&mut f, "success_action_status", "201".into());
        post(&host, &f, b"x".to_vec(), "text/plain")
            .await
            .assert_refused(403, "AccessDenied");

        if version == "v4" {
            // x-oss-date is bound by the policy: a different one fails even though the
            // signature covers only the policy.
            let mut f = fields(&p, "uploads/anonymous/x.txt", &[]);
            let date = p["x-oss-date"].as_str().unwrap();
            let other = format!(
                "{}{}Z",
                &date[..13],
                if &date[13..15] == "00" { "01" } else { "00" }
            );
            set(&mut f, "x-oss-date", other);
            post(&host, &f, b"x".to_vec(), "text/plain")
                .await
                .assert_refused(403, "AccessDenied");
        }
        assert_eq!(app.oss().object_count(), 0, "{version}");
        app.assert_no_secrets_leaked(&[]);
    }
}

#[tokio::test]
async fn a_disallowed_content_type_is_refused_when_the_list_is_set() {
    let app = TestApp::builder()
        .with_oss()
        .vars(|vars| {
            vars.insert(
                "BROKER_ALLOWED_CONTENT_TYPES".into(),
                "image/png,image/jpeg".into(),
            );
        })
        .spawn()
        .await;
    let p = params(&app).await;
    assert!(policy_of(&p)["conditions"]
        .as_array()
        .unwrap()
        .contains(&json!(["in", "$content-type", ["image/png", "image/jpeg"]])));
    let host = app.oss().bucket_url();
    let key = "uploads/anonymous/pic";
    let ok = post(
        &host,
        &fields(&p, key, &[("Content-Type", "image/png")]),
        b"png".to_vec(),
        "image/png",
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(app.oss().object(key).unwrap().content_type, "image/png");
    for (extra, part_type) in [
        (vec![("Content-Type", "text/html")], "image/png"),
        (vec![], "text/html"),
        (
            vec![
                ("Content-Type", "image/png"),
                ("x-oss-content-type", "text/html"),
            ],
            "image/png",
        ),
    ] {
        post(
            &host,
            &fields(&p, key, &extra),
            b"<script>".to_vec(),
            part_type,
        )
        .await
        .assert_refused(403, "AccessDenied");
    }
    // Without the list, any type goes.
    let open = TestApp::builder().with_oss().spawn().await;
    let p = params(&open).await;
    let ok = post(
        &open.oss().bucket_url(),
        &fields(&p, key, &[]),
        b"<p>".to_vec(),
        "text/html",
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn a_client_cannot_add_fields_the_broker_did_not_sign() {
    for version in ["v4", "v1"] {
        let app = TestApp::builder()
            .with_oss()
            .vars(|vars| {
                vars.insert("BROKER_POST_SIGNATURE".into(), version.into());
            })
            .spawn()
            .await;
        let p = params(&app).await;
        assert_eq!(p["Content-Disposition"], "inline");
        assert!(policy_of(&p)["conditions"]
            .as_array()
            .unwrap()
            .contains(&json!({"Content-Disposition": "inline"})));
        let host = app.oss().bucket_url();
        let key = "uploads/anonymous/added.txt";

        // The broker pins Content-Disposition: another value, or a second one, is refused.
        let mut f = fields(&p, key, &[]);
        set(
            &mut f,
            "Content-Disposition",
            "attachment; filename=invoice.pdf.exe".into(),
        );
        let answer = post(&host, &f, b"x".to_vec(), "text/plain").await;
        answer.assert_refused(403, "AccessDenied");
        assert!(
            answer.body.contains("Policy Condition failed"),
            "{}",
            answer.body
        );
        post(
            &host,
            &fields(&p, key, &[("Content-Disposition", "attachment")]),
            b"x".to_vec(),
            "text/plain",
        )
        .await
        .assert_refused(400, "InvalidArgument");

        if version == "v4" {
            // OSS refuses every x-oss-* field a V4 policy does not restrict (protocol.md
            // §12.1), and the broker's policy restricts only its own.
            for (name, value) in [
                ("x-oss-object-acl", "public-read-write"),
                ("x-oss-forbid-overwrite", "true"),
                ("x-oss-meta-uploaded-by", "admin"),
                ("x-oss-content-type", "text/html"),
            ] {
                let answer = post(
                    &host,
                    &fields(&p, key, &[(name, value)]),
                    b"x".to_vec(),
                    "text/plain",
                )
                .await;
                answer.assert_refused(403, "AccessDenied");
                assert!(
                    answer.body.contains(&format!("Extra input fields: {name}")),
                    "{name}: {}",
                    answer.body
                );
            }
        }
        assert_eq!(app.oss().object_count(), 0, "{version}");
        // The form as given still uploads.
        let answer = post(&host, &fields(&p, key, &[]), b"x".to_vec(), "text/plain").await;
        assert_eq!(answer.status, 200, "{version}: {}", answer.body);
    }
}

/// crypto-js: `CryptoJS.HmacSHA1(policyBase64, secret).toString(CryptoJS.enc.Base64)`.
fn crypto_js_v1_signature(secret: &str, policy_b64: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(policy_b64.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn a_mini_program_signing_with_get_token_uploads_under_dir_only() {
    let app = TestApp::builder().with_oss().spawn().await;
    let token: Value = app.get_token().await.json().await.unwrap();
    let (ak, secret, sts_token, dir, host) = (
        token["AccessKeyId"].as_str().unwrap(),
        token["AccessKeySecret"].as_str().unwrap(),
        token["SecurityToken"].as_str().unwrap(),
        token["Dir"].as_str().unwrap(),
        token["Host"].as_str().unwrap(),
    );
    assert_eq!(host, app.oss().bucket_url());
    // The client's own policy, as the OSS mini-program samples build it; it allows more than
    // `Dir`, so only the credential's session policy keeps it inside.
    let expiration = (Utc::now() + Duration::minutes(5))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let policy = B64.encode(
        json!({"expiration": expiration, "conditions": [
            ["content-length-range", 0, 1_048_576],
            ["starts-with", "$key", ""],
        ]})
        .to_string(),
    );
    let form = |key: &str, with_token: bool| {
        let mut f = vec![
            ("key".to_owned(), key.to_owned()),
            ("policy".to_owned(), policy.clone()),
            ("OSSAccessKeyId".to_owned(), ak.to_owned()),
            (
                "signature".to_owned(),
                crypto_js_v1_signature(secret, &policy),
            ),
        ];
        if with_token {
            f.push(("x-oss-security-token".to_owned(), sts_token.to_owned()));
        }
        f
    };
    let own = format!("{dir}wx-upload.jpg");
    let answer = post(host, &form(&own, true), b"jpeg".to_vec(), "image/jpeg").await;
    assert_eq!(
        answer.status, 204,
        "default success_action_status: {}",
        answer.body
    );
    assert_eq!(app.oss().object(&own).unwrap().body, b"jpeg");

    for outside in ["uploads/bob/wx.jpg", "wx.jpg", "uploads/anonymous"] {
        let answer = post(host, &form(outside, true), b"jpeg".to_vec(), "image/jpeg").await;
        answer.assert_refused(403, "AccessDenied");
        assert!(answer.body.contains("oss:PutObject"), "{}", answer.body);
    }
    post(host, &form(&own, false), b"jpeg".to_vec(), "image/jpeg")
        .await
        .assert_refused(403, "InvalidAccessKeyId");

    // Once the credential has expired, its token is refused too.
    app.oss_clock().advance(Duration::seconds(3601));
    post(host, &form(&own, true), b"jpeg".to_vec(), "image/jpeg")
        .await
        .assert_refused(403, "SecurityTokenExpired");
    app.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn the_emulator_refuses_malformed_forms() {
    let app = TestApp::builder().with_oss().spawn().await;
    let p = params(&app).await;
    let host = app.oss().bucket_url();
    // No signature at all: a private bucket refuses anonymous posts.
    let f = vec![("key".to_owned(), "uploads/anonymous/a".to_owned())];
    post(&host, &f, b"x".to_vec(), "text/plain")
        .await
        .assert_refused(403, "AccessDenied");
    // No key.
    let f: Vec<_> = fields(&p, "", &[])
        .into_iter()
        .filter(|(k, _)| k != "key")
        .collect();
    post(&host, &f, b"x".to_vec(), "text/plain")
        .await
        .assert_refused(400, "InvalidArgument");
    // Not multipart.
    let answer = reqwest::Client::new()
        .post(&host)
        .form(&[("key", "uploads/anonymous/a")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("MalformedPOSTRequest"));
    // A policy that is not JSON, signed correctly by a test-side V1 signer with the temp key.
    let token: Value = app.get_token().await.json().await.unwrap();
    let bad = B64.encode("{not json");
    let f = vec![
        ("key".to_owned(), "uploads/anonymous/a".to_owned()),
        ("policy".to_owned(), bad.clone()),
        (
            "OSSAccessKeyId".to_owned(),
            token["AccessKeyId"].as_str().unwrap().to_owned(),
        ),
        (
            "Signature".to_owned(),
            crypto_js_v1_signature(token["AccessKeySecret"].as_str().unwrap(), &bad),
        ),
        (
            "x-oss-security-token".to_owned(),
            token["SecurityToken"].as_str().unwrap().to_owned(),
        ),
    ];
    post(&host, &f, b"x".to_vec(), "text/plain")
        .await
        .assert_refused(400, "InvalidPolicyDocument");
}

#[tokio::test]
async fn post_object_params_refuses_other_methods() {
    let app = TestApp::builder().with_oss().spawn().await;
    let response = app.post_object_params().method(Method::POST).await;
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(app.sts.request_count(), 0);
}

#[tokio::test]
async fn demo_signs_forms_its_oss_emulator_accepts() {
    let demo = BrokerCommand::new().demo();
    let broker = demo.value("broker");
    let curl = demo.line_with("/getPostObjectParams");
    assert!(
        curl.contains(&format!("curl -s {broker}/getPostObjectParams")),
        "{curl}"
    );
    assert_eq!(demo.address, broker);
    let p: Map<String, Value> = demo.post_object_params().await.json().await.unwrap();
    let host = p["host"].as_str().unwrap().to_owned();
    assert!(
        host.starts_with("http://127.0.0.1:") && host.ends_with("/demo-bucket"),
        "{host}"
    );
    let key = format!("{}demo.txt", p["dir"].as_str().unwrap());
    let answer = post(
        &host,
        &fields(&p, &key, &[]),
        b"demo".to_vec(),
        "text/plain",
    )
    .await;
    drop(demo);
    assert_eq!(answer.status, 200, "{}", answer.body);
}
