//! The client's address behind a load balancer (`BROKER_FORWARDED_HEADER`,
//! `BROKER_FORWARDING_PROXIES`): every per-address limit counts the client the trusted proxy
//! names, per /64 for IPv6, and a peer outside the trusted set cannot choose its address.

use jsonwebtoken::Algorithm;

use crate::harness::{captured_log, expect_error, Sts, TestApp, Vars};
use crate::jwt_support::{claims, hs256, jwt_vars, mint, HS256_SECRET};

fn token(sub: &str) -> String {
    mint(Algorithm::HS256, &hs256(HS256_SECRET), None, &claims(sub))
}

/// JWT callers, 10 first-time callers and 10 failed authentications a minute per address, no overall limit; the header and
/// proxies as given.
async fn broker(header: &str, proxies: &str) -> TestApp {
    let (header, proxies) = (header.to_owned(), proxies.to_owned());
    TestApp::builder()
        .vars(move |vars: &mut Vars| {
            jwt_vars(vars, None);
            vars.insert(
                "BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE".into(),
                "10".into(),
            );
            vars.insert("BROKER_NEW_CALLERS_PER_SECOND".into(), "0".into());
            vars.insert("BROKER_STS_MAX_QPS".into(), "10000".into());
            vars.insert("BROKER_AUTH_FAILURE_LIMIT_PER_MINUTE".into(), "10".into());
            vars.insert("BROKER_FORWARDED_HEADER".into(), header);
            vars.insert("BROKER_FORWARDING_PROXIES".into(), proxies);
        })
        .spawn()
        .await
}

/// A new caller `sub` whose request the proxy forwards with `header: value`.
async fn new_caller(app: &TestApp, sub: &str, header: &str, value: &str) -> reqwest::Response {
    app.get_token()
        .bearer(&token(sub))
        .header(header, value)
        .await
}

#[tokio::test]
async fn new_callers_behind_one_proxy_are_limited_per_client_address() {
    let app = broker("x-forwarded-for", "127.0.0.1/32").await;
    // Thirty clients behind the one proxy: each is a first-time caller of its own address.
    for n in 0..30 {
        let xff = format!("203.0.113.{n}");
        let response = new_caller(&app, &format!("client-{n}"), "x-forwarded-for", &xff).await;
        assert_eq!(response.status(), 200, "client {n}");
    }
    // One client address gets its ten, then 429, whatever it writes left of it.
    for n in 0..10 {
        let xff = format!("192.0.2.{n}, 198.51.100.9");
        let response = new_caller(&app, &format!("busy-{n}"), "x-forwarded-for", &xff).await;
        assert_eq!(response.status(), 200, "busy {n}");
    }
    let refused = new_caller(&app, "busy-10", "x-forwarded-for", "198.51.100.9").await;
    expect_error(refused, 429, "rate-limited").await;
    // Others behind the proxy still get in.
    let other = new_caller(&app, "another", "x-forwarded-for", "203.0.113.200").await;
    assert_eq!(other.status(), 200);
    let log = captured_log();
    assert!(
        log.contains(r#""client_ip":"198.51.100.9""#),
        "client_ip logged"
    );
}

#[tokio::test]
async fn ipv6_clients_are_limited_per_64_through_rfc7239_forwarded() {
    let app = broker("forwarded", "127.0.0.0/8, ::1/128").await;
    // Ten addresses of one /64: one budget.
    for n in 0..10 {
        let node = format!(r#"for="[2001:db8:aa:1::{n:x}]:4711";proto=https"#);
        let response = new_caller(&app, &format!("v6-{n}"), "forwarded", &node).await;
        assert_eq!(response.status(), 200, "v6 {n}");
    }
    let same_64 = r#"for="[2001:db8:aa:1:ffff::1]""#;
    let refused = new_caller(&app, "v6-more", "forwarded", same_64).await;
    expect_error(refused, 429, "rate-limited").await;
    // The next /64 is another client.
    let next_64 = r#"for="[2001:db8:aa:2::1]""#;
    assert_eq!(
        new_caller(&app, "v6-next", "forwarded", next_64)
            .await
            .status(),
        200
    );
    // X-Forwarded-For is not what this broker reads: the peer's own address counts.
    for n in 0..10 {
        let xff = format!("203.0.113.{n}");
        let response = new_caller(&app, &format!("xff-{n}"), "x-forwarded-for", &xff).await;
        assert_eq!(response.status(), 200, "xff {n}");
    }
    let refused = new_caller(&app, "xff-more", "x-forwarded-for", "203.0.113.99").await;
    expect_error(refused, 429, "rate-limited").await;
}

#[tokio::test]
async fn a_peer_outside_the_trusted_set_cannot_choose_its_address() {
    // Loopback (the test's peer) is not a trusted proxy: its header is ignored.
    let app = broker("x-forwarded-for", "10.0.0.0/8").await;
    for n in 0..10 {
        let xff = format!("203.0.113.{n}");
        let response = new_caller(&app, &format!("spoof-{n}"), "x-forwarded-for", &xff).await;
        assert_eq!(response.status(), 200, "spoof {n}");
    }
    let refused = new_caller(&app, "spoof-10", "x-forwarded-for", "203.0.113.77").await;
    expect_error(refused, 429, "rate-limited").await;
    assert!(captured_log().contains(r#""client_ip":"127.0.0.1""#));
}

#[tokio::test]
async fn failed_authentications_and_the_none_mode_limit_count_the_client() {
    let app = broker("x-forwarded-for", "127.0.0.1/32").await;
    for _ in 0..10 {
        let response = app
            .get_token()
            .bearer("not-a-token")
            .header("x-forwarded-for", "198.51.100.66")
            .await;
        assert_eq!(response.status(), 401);
    }
    let over = app
        .get_token()
        .bearer("not-a-token")
        .header("x-forwarded-for", "198.51.100.66")
        .await;
    expect_error(over, 429, "rate-limited").await;
    let elsewhere = app
        .get_token()
        .bearer("not-a-token")
        .header("x-forwarded-for", "198.51.100.67")
        .await;
    assert_eq!(elsewhere.status(), 401, "another client is not locked out");

    let anonymous = TestApp::builder()
        .vars(|vars: &mut Vars| {
            vars.insert("BROKER_AUTH".into(), "none".into());
            vars.insert("BROKER_RATE_LIMIT_PER_MINUTE".into(), "2".into());
            vars.insert("BROKER_RATE_LIMIT_BURST".into(), "2".into());
            vars.insert("BROKER_FORWARDED_HEADER".into(), "x-forwarded-for".into());
            vars.insert("BROKER_FORWARDING_PROXIES".into(), "127.0.0.1".into());
        })
        .spawn()
        .await;
    let from = |ip: &'static str| anonymous.get_token().header("x-forwarded-for", ip);
    assert_eq!(from("192.0.2.1").await.status(), 200);
    assert_eq!(from("192.0.2.1").await.status(), 200);
    expect_error(from("192.0.2.1").await, 429, "rate-limited").await;
    assert_eq!(from("192.0.2.2").await.status(), 200, "per client");
}

#[tokio::test]
async fn a_forwarded_header_needs_its_proxies_and_proxies_need_a_header() {
    let mut vars = Sts::demo().await.broker_vars();
    jwt_vars(&mut vars, None);
    vars.insert("BROKER_FORWARDED_HEADER".into(), "x-forwarded-for".into());
    let error = sts_broker::config::Settings::from_map(&vars).unwrap_err();
    assert!(error.mentions("BROKER_FORWARDING_PROXIES"), "{error}");
    vars.insert("BROKER_FORWARDED_HEADER".into(), "x-real-ip".into());
    let error = sts_broker::config::Settings::from_map(&vars).unwrap_err();
    assert!(error.mentions("BROKER_FORWARDED_HEADER"), "{error}");
    vars.insert("BROKER_FORWARDED_HEADER".into(), "none".into());
    vars.insert("BROKER_FORWARDING_PROXIES".into(), "10.0.0.0/8".into());
    let error = sts_broker::config::Settings::from_map(&vars).unwrap_err();
    assert!(error.mentions("BROKER_FORWARDING_PROXIES"), "{error}");
    vars.insert("BROKER_FORWARDED_HEADER".into(), "forwarded".into());
    assert!(sts_broker::config::Settings::from_map(&vars).is_ok());
}
