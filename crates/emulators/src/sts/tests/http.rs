//! HTTP tests of the STS emulator: requests signed by the test-only signer of the parent module,
//! sent over loopback, and the exact codes, statuses and bookkeeping that come back.

use super::*;
use std::time::Duration as StdDuration;

#[tokio::test]
async fn assume_role_happy_paths() {
    let f = fx().await;
    let (status, body) = f
        .call(
            "AssumeRole",
            &[
                ("RoleArn", UPLOADER),
                ("RoleSessionName", "user-42@mini.app"),
            ],
        )
        .await;
    assert_first_answer(&f, status, &body);

    // GET with every parameter in the query (credentials-java/-python, protocol.md §1.4).
    let get = signed(
        "GET",
        AK,
        SECRET,
        None,
        f.params(
            "AssumeRole",
            &[("RoleArn", SHORT), ("RoleSessionName", "get.user")],
        ),
    );
    assert_eq!(f.json("GET", &get).await.0, 200);
    // Common params in the query, business params in the body (credentials-go, protocol.md §1.4).
    let policy = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"acs:oss:*:*:b/u/*"}]}"#;
    let extra = [
        ("RoleArn", UPLOADER),
        ("RoleSessionName", "s-2"),
        ("DurationSeconds", "43200"),
        ("Policy", policy),
    ];
    let all = signed("POST", AK, SECRET, None, f.params("AssumeRole", &extra));
    let (form, query): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(k, _)| extra.iter().any(|(n, _)| n == k));
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    let resp = f
        .http
        .post(format!("{}/?{q}", f.em.endpoint()))
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 200);
    let last = f.em.last_issued().expect("issued");
    assert_eq!(last.expiration, f.clock.now() + Duration::seconds(43200));
    assert_eq!(last.policy, serde_json::from_str::<Value>(policy).ok());
    assert_eq!((f.em.issued_count(), f.em.request_count()), (3, 3));
    f.em.stop().await;
}

/// The first answer of `assume_role_happy_paths`: its shape, and what the emulator remembers.
fn assert_first_answer(f: &Fx, status: u16, body: &Value) {
    assert_eq!(status, 200, "{body}");
    let (creds, user) = (&body["Credentials"], &body["AssumedRoleUser"]);
    let id = creds["AccessKeyId"].as_str().expect("id");
    assert!(id.starts_with("STS.") && id.len() == 32);
    assert_eq!(creds["AccessKeySecret"].as_str().map(str::len), Some(40));
    let token = creds["SecurityToken"].as_str().expect("token");
    assert!(token.starts_with("CAIS") && token.len() > 1000);
    assert_eq!(creds["Expiration"], "2024-05-01T13:00:00Z");
    assert_eq!(user["Arn"], format!("{UPLOADER}/user-42@mini.app"));
    assert!(user["AssumedRoleId"]
        .as_str()
        .expect("id")
        .ends_with(":user-42@mini.app"));
    let rid = body["RequestId"].as_str().expect("rid");
    assert!(rid.len() == 36 && rid == rid.to_uppercase() && body.get("SourceIdentity").is_none());
    let issued = f.em.issued(id).expect("issued");
    assert_eq!(
        (
            issued.access_key_secret.as_str(),
            issued.security_token.as_str()
        ),
        (creds["AccessKeySecret"].as_str().expect("s"), token)
    );
    assert_eq!(
        (issued.role_arn.as_str(), issued.role_session_name.as_str()),
        (UPLOADER, "user-42@mini.app")
    );
    assert_eq!(
        (issued.duration_seconds, issued.policy.clone()),
        (3600, None)
    );
    assert_eq!(
        f.em.last_issued().map(|c| c.access_key_id),
        Some(id.to_string())
    );
}

#[tokio::test]
async fn signature_mismatch_echoes_string_to_sign_and_keeps_nonce() {
    let f = fx().await;
    let params = f.params("GetCallerIdentity", &[]);
    let forged = signed("POST", AK, "wrong-secret", None, params.clone());
    let (status, body) = f.json("POST", &forged).await;
    assert_eq!((status, code(&body)), (400, "SignatureDoesNotMatch"));
    let want = format!(
        "Specified signature is not matched with our calculation. server string to sign is:{}",
        test_string_to_sign("POST", &forged)
    );
    assert_eq!(body["Message"], want);
    assert_eq!(body["HostId"], "sts.aliyuncs.com");
    assert_eq!(
        body["Recommend"],
        "https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch&product=Sts"
    );
    // Signed for POST but sent as GET: the method is signed too.
    assert_eq!(
        code(
            &f.json("GET", &signed("POST", AK, SECRET, None, params.clone()))
                .await
                .1
        ),
        "SignatureDoesNotMatch"
    );
    // The forgeries did not burn the nonce; a genuine request with it then does.
    let genuine = signed("POST", AK, SECRET, None, params);
    assert_eq!(f.json("POST", &genuine).await.0, 200);
    let (status, body) = f.json("POST", &genuine).await;
    assert_eq!((status, code(&body)), (400, "SignatureNonceUsed"));
    // 32 minutes later the nonce is forgotten (same nonce, fresh timestamp).
    f.clock.advance(Duration::minutes(32));
    let nonce = genuine
        .iter()
        .find(|(k, _)| k == "SignatureNonce")
        .map(|(_, v)| v.clone());
    let mut again = f.params("GetCallerIdentity", &[]);
    again.retain(|(k, _)| k != "SignatureNonce");
    again.push(("SignatureNonce".into(), nonce.expect("nonce")));
    assert_eq!(
        f.json("POST", &signed("POST", AK, SECRET, None, again))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn timestamps_and_request_shape() {
    let f = fx().await;
    let at = |min: i64| {
        (f.clock.now() + Duration::minutes(min))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let millis = f.clock.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    #[rustfmt::skip]
    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("Timestamp", Some(at(-20)), 400, "InvalidTimeStamp.Expired"),
        ("Timestamp", Some(at(20)), 400, "InvalidTimeStamp.Expired"),
        ("Timestamp", Some(at(-14)), 200, "<none>"),
        ("Timestamp", Some(millis), 200, "<none>"),
        ("Timestamp", Some("2024-05-01 12:00:00".into()), 400, "IllegalTimestamp"),
        ("Timestamp", None, 400, "MissingParameter"),
        ("Format", Some("XML".into()), 400, "InvalidParameter.Format"),
        ("Format", Some("json".into()), 200, "<none>"),
        ("Version", Some("2014-05-26".into()), 400, "InvalidParameter"),
        ("SignatureMethod", Some("HMAC-SHA256".into()), 400, "InvalidParameter"),
        ("SignatureVersion", Some("2.0".into()), 400, "InvalidParameter"),
        ("Action", Some("DescribeRegions".into()), 404, "InvalidAction.NotFound"),
        ("Note", Some("a b+c*~ 中".into()), 200, "<none>"),
    ];
    for (name, value, st, expected) in cases {
        let (status, body) = f.tweaked(name, value.as_deref()).await;
        assert_eq!((status, code(&body)), (st, expected), "{name}={value:?}");
        if expected == "MissingParameter" {
            assert!(body["Message"]
                .as_str()
                .unwrap_or_default()
                .contains("\"Timestamp\""));
        }
        if expected == "InvalidParameter.Format" {
            assert!(body["Message"]
                .as_str()
                .unwrap_or_default()
                .contains("JSON only"));
        }
    }
    assert_request_shape_refusals(&f).await;
}

/// The rest of `timestamps_and_request_shape`: an unknown key, the wrong method or path, a
/// non-form body and a parameter given twice.
async fn assert_request_shape_refusals(f: &Fx) {
    let unknown = signed(
        "POST",
        "LTAI5tNobody",
        SECRET,
        None,
        f.params("GetCallerIdentity", &[]),
    );
    let (status, body) = f.json("POST", &unknown).await;
    assert_eq!((status, code(&body)), (404, "InvalidAccessKeyId.NotFound"));
    let url = format!("{}/", f.em.endpoint());
    let put = f.http.put(&url).send().await.expect("sent");
    assert_eq!(put.status().as_u16(), 403);
    assert_eq!(
        code(&put.json().await.expect("json")),
        "UnsupportedHTTPMethod"
    );
    assert_eq!(
        f.http
            .get(format!("{url}other"))
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16(),
        404
    );
    let text = f
        .http
        .post(&url)
        .header("content-type", "application/xml")
        .body("<a/>")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        code(&text.json().await.expect("json")),
        "InvalidParameter.ContentType"
    );
    let dup = f
        .http
        .post(format!("{url}?Action=GetCallerIdentity"))
        .form(&[("Action", "GetCallerIdentity")]);
    let body: Value = dup.send().await.expect("sent").json().await.expect("json");
    assert_eq!(code(&body), "InvalidParameter");
}

#[tokio::test]
async fn assume_role_parameter_checks() {
    let f = fx().await;
    let big = |n: usize| {
        let (head, tail) = (
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":""#,
            r#""}]}"#,
        );
        format!("{head}{}{tail}", "r".repeat(n - head.len() - tail.len()))
    };
    let (p2048, p2049, long_session) = (big(2048), big(2049), "a".repeat(65));
    let grammar = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject"}]}"#;
    #[rustfmt::skip]
    let cases: &[Case<'_>] = &[
        (&[("RoleSessionName", "s1")], 400, "MissingParameter"),
        (&[("RoleArn", "acs:ram::1234567890123456:user/bob"), ("RoleSessionName", "s1")], 400, "InvalidParameter.RoleArn"),
        (&[("RoleArn", "demo-uploader"), ("RoleSessionName", "s1")], 400, "InvalidParameter.RoleArn"),
        (&[("RoleArn", "acs:ram::12x:role/demo-uploader"), ("RoleSessionName", "s1")], 400, "InvalidParameter.RoleArn"),
        (&[("RoleArn", "acs:ram::1234567890123456:role/nope"), ("RoleSessionName", "s1")], 404, "EntityNotExist.Role"),
        (&[("RoleArn", "acs:ram::9999999999999999:role/demo-uploader"), ("RoleSessionName", "s1")], 404, "EntityNotExist.Role"),
        (&[("RoleArn", UPLOADER)], 400, "MissingParameter"),
        (&[("RoleArn", UPLOADER), ("RoleSessionName", "x")], 400, "InvalidParameter.RoleSessionName"),
        (&[("RoleArn", UPLOADER), ("RoleSessionName", "has space")], 400, "InvalidParameter.RoleSessionName"),
        (&[("RoleArn", UPLOADER), ("RoleSessionName", &long_session)], 400, "InvalidParameter.RoleSessionName"),
        (&[("RoleArn", SHORT), ("RoleSessionName", "s1"), ("DurationSeconds", "7200")], 400, "InvalidParameter.DurationSeconds"),
        (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("DurationSeconds", "43201")], 400, "InvalidParameter.DurationSeconds"),
        (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("DurationSeconds", "899")], 400, "InvalidParameter.DurationSeconds"),
        (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("DurationSeconds", "+1000")], 400, "InvalidParameter.DurationSeconds"),
        (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("Policy", grammar)], 400, "InvalidParameter.PolicyGrammar"),
        (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("Policy", "")], 400, "InvalidParameter.PolicySize"),
        (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("Policy", &p2049)], 400, "InvalidParameter.PolicySize"),
        (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("Policy", &p2048)], 200, "<none>"),
        (&[("RoleArn", SHORT), ("RoleSessionName", "s1"), ("DurationSeconds", "3600")], 200, "<none>"),
    ];
    for (extra, st, expected) in cases {
        let (status, body) = f.call("AssumeRole", extra).await;
        assert_eq!((status, code(&body)), (*st, *expected), "{extra:?}");
    }
    assert_eq!(f.em.issued_count(), 2);
}

#[tokio::test]
async fn temporary_credentials() {
    let f = fx().await;
    let cred = f
        .issue(&[
            ("RoleArn", UPLOADER),
            ("RoleSessionName", "tmp"),
            ("DurationSeconds", "900"),
        ])
        .await;
    let token = cred.security_token.as_str();
    let (status, body) = f
        .call_as(&cred, Some(token), "GetCallerIdentity", &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["IdentityType"].as_str(), body["AccountId"].as_str()),
        (Some("AssumedRoleUser"), Some(ACCT))
    );
    assert_eq!(body["Arn"], format!("{UPLOADER}/tmp"));
    assert_eq!(
        body["PrincipalId"],
        format!("{}:tmp", body["RoleId"].as_str().expect("role id"))
    );
    let (_, body) = f.call("GetCallerIdentity", &[]).await;
    assert_eq!(body["IdentityType"], "RAMUser");
    assert!(body["UserId"].is_string() && body["PrincipalId"] == body["UserId"]);

    let (status, body) = f.call_as(&cred, None, "GetCallerIdentity", &[]).await;
    assert_eq!((status, code(&body)), (400, "MissingSecurityToken"));
    let (status, body) = f
        .call_as(&cred, Some(&format!("{token}x")), "GetCallerIdentity", &[])
        .await;
    assert_eq!(
        (status, code(&body)),
        (400, "InvalidSecurityToken.MismatchWithAccessKey")
    );
    let with_token = signed(
        "POST",
        AK,
        SECRET,
        Some(token),
        f.params("GetCallerIdentity", &[]),
    );
    let (status, body) = f.json("POST", &with_token).await;
    assert_eq!(
        (status, code(&body)),
        (400, "InvalidSecurityToken.Malformed")
    );
    f.clock.advance(Duration::seconds(900));
    let (status, body) = f
        .call_as(&cred, Some(token), "GetCallerIdentity", &[])
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidSecurityToken.Expired"));
}

#[tokio::test]
async fn temporary_caller_needs_sts_assume_role_in_its_policy() {
    let f = fx().await;
    let oss_only = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}]}"#;
    let sts_all = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:*","sts:*"],"Resource":"*"}]}"#;
    let target = [("RoleArn", SHORT), ("RoleSessionName", "chained")];
    for (policy, expected) in [
        (Some(oss_only), "NoPermission"),
        (Some(sts_all), "<none>"),
        (None, "<none>"),
    ] {
        let mut extra = vec![("RoleArn", UPLOADER), ("RoleSessionName", "first")];
        extra.extend(policy.map(|p| ("Policy", p)));
        let cred = f.issue(&extra).await;
        let (status, body) = f
            .call_as(&cred, Some(&cred.security_token), "AssumeRole", &target)
            .await;
        assert_eq!(
            (status, code(&body)),
            (if policy == Some(oss_only) { 403 } else { 200 }, expected)
        );
    }
}

#[tokio::test]
async fn faults() {
    let f = fx().await;
    f.em.enqueue_faults([
        Fault::Throttle,
        Fault::InternalError,
        Fault::ServiceUnavailable,
    ]);
    f.em.set_fault(Some(Fault::Garbage));
    for (st, expected) in [
        (400, "Throttling.User"),
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
    ] {
        let (status, body) = f.call("GetCallerIdentity", &[]).await;
        assert_eq!((status, code(&body)), (st, expected));
    }
    for _ in 0..2 {
        let (status, text) = f
            .raw(
                "POST",
                &signed("POST", AK, SECRET, None, f.params("GetCallerIdentity", &[])),
            )
            .await;
        assert!(
            status == 200 && serde_json::from_str::<Value>(&text).is_err(),
            "garbage must not be JSON"
        );
    }
    f.em.set_fault(None);

    f.em.enqueue_faults([Fault::Delay(StdDuration::from_millis(300))]);
    let started = std::time::Instant::now();
    assert_eq!(
        f.call(
            "AssumeRole",
            &[("RoleArn", UPLOADER), ("RoleSessionName", "slow")]
        )
        .await
        .0,
        200
    );
    assert!(started.elapsed() >= StdDuration::from_millis(300));

    f.em.enqueue_faults([Fault::DropConnection]);
    let params = signed("POST", AK, SECRET, None, f.params("GetCallerIdentity", &[]));
    let sent = f
        .http
        .post(format!("{}/", f.em.endpoint()))
        .form(&params)
        .send()
        .await;
    assert!(
        sent.is_err(),
        "a dropped connection must not look like an HTTP answer"
    );
    // Faults neither consume nonces nor issue anything; every request is counted.
    assert_eq!(f.json("POST", &params).await.0, 200);
    assert_eq!((f.em.request_count(), f.em.issued_count()), (8, 1));
    f.em.stop().await;
}
