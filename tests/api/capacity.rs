//! STS calls that do not grow with callers: shared credentials for server-signed forms, a
//! cache a flood of new callers cannot empty, limits on first-time callers, and the share of
//! the STS budget kept for refreshing credentials in use.

use std::net::IpAddr;
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use sts_broker::clock::ManualClock;

use crate::harness::{expect_error, Sts, TestApp, Vars};
use crate::jwt_support::{claims, hs256, jwt_vars, mint, HS256_SECRET};
use crate::post_object::{fields, post};

fn token(sub: &str) -> String {
    mint(Algorithm::HS256, &hs256(HS256_SECRET), None, &claims(sub))
}

/// An HTTP client whose requests come from `local` (any 127.0.0.0/8 address is loopback).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn token_from(http: &reqwest::Client, app: &TestApp, sub: &str) -> reqwest::Response {
    http.get(format!("{}/getToken", app.address))
        .bearer_auth(token(sub))
        .send()
        .await
        .unwrap()
}

async fn key_id(http: &reqwest::Client, app: &TestApp, sub: &str) -> String {
    let response = token_from(http, app, sub).await;
    assert_eq!(response.status(), 200, "{sub}");
    let body: Value = response.json().await.unwrap();
    body["AccessKeyId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn server_signed_forms_of_many_callers_cost_one_assume_role_and_stay_in_their_dir() {
    let app = TestApp::builder()
        .with_oss()
        .vars(|vars| jwt_vars(vars, None))
        .spawn()
        .await;
    let mut forms: Vec<(String, Map<String, Value>)> = Vec::new();
    for n in 0..10 {
        let caller = format!("user-{n}");
        let response = app.post_object_params().bearer(&token(&caller)).await;
        assert_eq!(response.status(), 200);
        forms.push((caller, response.json().await.unwrap()));
    }
    assert_eq!(
        app.sts.issued_count(),
        1,
        "one credential signs every caller's form"
    );
    let shared = app.sts.last_issued().unwrap();
    assert_eq!(shared.role_session_name, "sts-broker-forms");
    for (caller, form) in &forms {
        let dir = format!("uploads/{caller}/");
        assert_eq!(form["dir"], dir.as_str());
        let host = form["host"].as_str().unwrap();
        let own = post(
            host,
            &fields(form, &format!("{dir}a.txt"), &[]),
            b"x".to_vec(),
            "text/plain",
        )
        .await;
        assert!(
            [200, 204].contains(&own.status),
            "{caller}'s form uploads under its own dir"
        );
        // Another caller's directory, with this caller's form: refused by OSS.
        let other = if caller == "user-0" {
            "user-1"
        } else {
            "user-0"
        };
        let theirs = post(
            host,
            &fields(form, &format!("uploads/{other}/b.txt"), &[]),
            b"x".to_vec(),
            "text/plain",
        )
        .await;
        theirs.assert_refused(403, "AccessDenied");
    }
    // The audit lines still name each caller.
    let log = crate::harness::captured_log();
    for (caller, _) in &forms {
        assert!(
            log.lines().any(|l| l.contains("credentials handed out")
                && l.contains(&format!("\"caller\":\"{caller}\""))
                && l.contains(&format!("\"dir\":\"uploads/{caller}/\""))),
            "no audit line for {caller}"
        );
    }
}

#[tokio::test]
async fn a_prefix_without_a_fixed_root_is_refused_for_shared_forms() {
    let sts = Sts::demo().await;
    let mut vars = sts.broker_vars();
    vars.insert("BROKER_UPLOAD_PREFIX".into(), "${sub}/".into());
    let error = sts_broker::config::Settings::from_map(&vars).unwrap_err();
    let shown = error.to_string();
    assert!(error.mentions("BROKER_POST_CREDENTIALS"), "{shown}");
    assert!(
        shown.contains("BROKER_POST_CREDENTIALS=per-caller"),
        "{shown}"
    );
    vars.insert("BROKER_POST_CREDENTIALS".into(), "per-caller".into());
    assert!(sts_broker::config::Settings::from_map(&vars).is_ok());
}

/// The review's reproduction: 20 established callers (each asked again a minute later), then
/// new callers from another address, three times the cache size, each asking twice and thrice.
/// Afterwards every established caller still has its credential.
#[tokio::test]
async fn a_flood_of_new_callers_cannot_evict_established_ones() {
    let clock = ManualClock::new(Utc::now());
    let app = TestApp::builder()
        .clock(clock.clone())
        .vars(|vars: &mut Vars| {
            jwt_vars(vars, None);
            vars.insert("BROKER_CACHE_MAX_ENTRIES".into(), "100".into());
            vars.insert("BROKER_STS_MAX_QPS".into(), "10000".into());
            vars.insert(
                "BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE".into(),
                "0".into(),
            );
            vars.insert("BROKER_NEW_CALLERS_PER_SECOND".into(), "0".into());
        })
        .spawn()
        .await;
    let established = client_from("127.0.0.1");
    let mut keys = Vec::new();
    for n in 0..20 {
        keys.push(key_id(&established, &app, &format!("established-{n}")).await);
    }
    clock.advance(chrono::Duration::seconds(61));
    for (n, key) in keys.iter().enumerate() {
        let again = key_id(&established, &app, &format!("established-{n}")).await;
        assert_eq!(&again, key);
    }
    let flood = client_from("127.0.0.2");
    for n in 0..300 {
        for _ in 0..(2 + n % 2) {
            token_from(&flood, &app, &format!("fresh-{n}")).await;
        }
    }
    let issued = app.sts.issued_count();
    for (n, key) in keys.iter().enumerate() {
        assert_eq!(
            &key_id(&established, &app, &format!("established-{n}")).await,
            key
        );
    }
    assert_eq!(
        app.sts.issued_count(),
        issued,
        "no established caller needed a new credential"
    );
}

#[tokio::test]
async fn first_time_callers_over_the_limit_get_429_and_established_ones_do_not() {
    let app = TestApp::builder()
        .vars(|vars: &mut Vars| {
            jwt_vars(vars, None);
            vars.insert(
                "BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE".into(),
                "10".into(),
            );
        })
        .spawn()
        .await;
    let busy = client_from("127.0.0.2");
    key_id(&busy, &app, "regular").await;
    for n in 1..10 {
        key_id(&busy, &app, &format!("new-{n}")).await;
    }
    let refused = token_from(&busy, &app, "one-too-many").await;
    let retry_after: u32 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    expect_error(refused, 429, "rate-limited").await;
    // An established caller from the same address is served; so is a new one from elsewhere.
    key_id(&busy, &app, "regular").await;
    key_id(&client_from("127.0.0.3"), &app, "elsewhere").await;
    let text = app.metrics().await.text().await.unwrap();
    assert!(
        text.contains(r#"sts_broker_rate_limited_total{limit="new-caller-address"} 1"#),
        "{text}"
    );
}

/// With the clock past the floor, established callers need a new credential at the moment a
/// flood of new callers spends the first-load share of the budget: the reserved share serves
/// them.
#[tokio::test]
async fn refreshes_of_credentials_in_use_keep_their_share_of_the_budget_during_a_flood() {
    let clock = sts_broker::clock::ManualClock::new(chrono::Utc::now());
    let sts = Sts::start(broker_emulators::sts::StsEmulatorConfig {
        clock: std::sync::Arc::new(clock.clone()),
        ..broker_emulators::sts::StsEmulatorConfig::demo()
    })
    .await;
    let app = TestApp::builder()
        .sts(&sts)
        .clock(clock.clone())
        .vars(|vars: &mut Vars| {
            jwt_vars(vars, None);
            vars.insert("BROKER_STS_MAX_QPS".into(), "10".into());
            vars.insert("BROKER_STS_REFRESH_RESERVE_PERCENT".into(), "50".into());
            vars.insert(
                "BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE".into(),
                "0".into(),
            );
            vars.insert("BROKER_NEW_CALLERS_PER_SECOND".into(), "0".into());
            vars.insert("BROKER_STS_RETRY_BUDGET_MS".into(), "300".into());
        })
        .spawn()
        .await;
    let http = client_from("127.0.0.1");
    let mut keys = Vec::new();
    for n in 0..5 {
        keys.push(key_id(&http, &app, &format!("established-{n}")).await);
    }
    // Let the budget refill, then put every established credential under the floor.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    clock.advance(chrono::Duration::seconds(3600 - 200));
    let flood = client_from("127.0.0.2");
    let flooding: Vec<_> = (0..40)
        .map(|n| {
            let (flood, address) = (flood.clone(), app.address.clone());
            tokio::spawn(async move {
                flood
                    .get(format!("{address}/getToken"))
                    .bearer_auth(token(&format!("flood-{n}")))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let flood_statuses: Vec<u16> = futures_util::future::join_all(flooding)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(
        flood_statuses.contains(&503),
        "the flood spent the first-load share"
    );
    for (n, old) in keys.iter().enumerate() {
        let fresh = key_id(&http, &app, &format!("established-{n}")).await;
        assert_ne!(&fresh, old, "established-{n} got a new credential");
    }
}
