//! Production concerns, end to end: metrics move as requests happen, readiness before and after
//! the first issuance and during an STS outage, request ids, JSON logs and graceful shutdown of
//! the real binary.

use std::future::IntoFuture as _;
use std::time::{Duration, Instant};

use broker_emulators::sts::Fault;
use serde_json::Value;

use crate::harness::{captured_log, free_port, BrokerCommand, Call, Sts, TestApp};

/// The value of one series in a Prometheus text exposition (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(|v| v.trim().parse::<f64>().expect("a number"))
        })
        .unwrap_or(0.0)
}

async fn scrape(metrics: Call) -> String {
    let response = metrics.await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_move_as_requests_happen() {
    let app = TestApp::builder().spawn().await;
    let before = scrape(app.metrics()).await;
    assert!(
        before.contains("# TYPE sts_broker_http_requests_total counter"),
        "{before}"
    );
    let ok = r#"sts_broker_http_requests_total{route="/getToken",status="200"}"#;
    let miss = r#"sts_broker_credentials_handed_out_total{endpoint="/getToken",cache="miss",profile="default"}"#;
    let hit = r#"sts_broker_credentials_handed_out_total{endpoint="/getToken",cache="hit",profile="default"}"#;
    let assume_ok =
        r#"sts_broker_sts_requests_total{action="AssumeRole",outcome="success",code=""}"#;
    assert_eq!(sample(&before, ok), 0.0);

    for _ in 0..3 {
        assert_eq!(app.get_token().await.status(), 200);
    }
    assert_eq!(app.get("/no/such/path").await.status(), 404);
    let after = scrape(app.metrics()).await;
    assert_eq!(sample(&after, ok), 3.0, "{after}");
    assert_eq!(sample(&after, miss), 1.0);
    assert_eq!(sample(&after, hit), 2.0);
    assert_eq!(sample(&after, "sts_broker_cache_misses_total"), 1.0);
    assert_eq!(sample(&after, "sts_broker_cache_hits_total"), 2.0);
    assert_eq!(sample(&after, "sts_broker_cache_entries"), 1.0);
    assert_eq!(sample(&after, assume_ok), 1.0);
    assert_eq!(
        sample(
            &after,
            r#"sts_broker_sts_request_duration_seconds_count{action="AssumeRole"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            r#"sts_broker_http_request_duration_seconds_count{route="/getToken"}"#
        ),
        3.0
    );
    // The path asked for is never a label; unmatched requests share one.
    assert_eq!(
        sample(
            &after,
            r#"sts_broker_http_requests_total{route="unmatched",status="404"}"#
        ),
        1.0
    );
    assert!(!after.contains("/no/such/path"));
    // The previous scrape is itself counted.
    assert_eq!(
        sample(
            &after,
            r#"sts_broker_http_requests_total{route="/metrics",status="200"}"#
        ),
        1.0
    );
    app.assert_no_secrets_leaked(&[&after]);
}

#[tokio::test]
async fn sts_errors_and_rate_limits_are_counted_with_bounded_labels() {
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_RATE_LIMIT_PER_MINUTE".into(), "1".into());
            vars.insert("BROKER_RATE_LIMIT_BURST".into(), "1".into());
        })
        .spawn()
        .await;
    app.sts.set_fault(Some(Fault::Throttle));
    assert_eq!(app.get_token().await.status(), 503);
    assert_eq!(app.get_token().await.status(), 429);
    let text = scrape(app.metrics()).await;
    let throttled = sample(
        &text,
        r#"sts_broker_sts_requests_total{action="AssumeRole",outcome="rejected",code="Throttling.User"}"#,
    );
    assert!(throttled >= 1.0, "{text}");
    assert_eq!(
        sample(&text, r#"sts_broker_rate_limited_total{limit="caller"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"sts_broker_http_requests_total{route="/getToken",status="429"}"#
        ),
        1.0
    );
    // A caller id is never a label.
    assert!(!text.contains("anonymous"), "{text}");
}

#[tokio::test]
async fn metrics_can_have_their_own_listener() {
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_METRICS_LISTEN".into(), "127.0.0.1:0".into());
        })
        .spawn()
        .await;
    assert_ne!(app.port(), app.metrics_port());
    assert_eq!(app.get("/metrics").await.status(), 404);
    assert_eq!(app.get_token().await.status(), 200);
    let text = scrape(app.metrics()).await;
    assert_eq!(
        sample(
            &text,
            r#"sts_broker_http_requests_total{route="/getToken",status="200"}"#
        ),
        1.0,
        "{text}"
    );
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = app.readyz().await;
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn readiness_before_and_after_the_first_issuance_and_during_an_outage() {
    // Callers named by a trusted header, so a second caller can miss the cache.
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_AUTH".into(), "header".into());
            vars.insert("BROKER_TRUSTED_HEADER".into(), "X-User".into());
            vars.insert("BROKER_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        })
        .spawn()
        .await;
    // STS down from the start: nothing cached, the check fails: not ready.
    app.sts.set_fault(Some(Fault::DropConnection));
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    assert_eq!(body["sts"], "unreachable");
    assert_eq!(body["serving_from_cache"], false);

    // STS back; the first issuance proves the broker can issue.
    app.sts.set_fault(None);
    let alice = app.get_token().headers(&[("X-User", "alice")]).await;
    assert_eq!(alice.status(), 200);
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true);
    assert_eq!(body["sts"], "ok");
    assert_eq!(body["serving_from_cache"], false);

    // STS down again: a new caller fails, alice is still served from the cache, and the broker
    // stays ready, saying why.
    app.sts.set_fault(Some(Fault::DropConnection));
    let bob = app.get_token().headers(&[("X-User", "bob")]).await;
    assert_eq!(bob.status(), 503);
    let alice = app.get_token().headers(&[("X-User", "alice")]).await;
    assert_eq!(alice.status(), 200);
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true);
    assert_eq!(body["sts"], "unreachable");
    assert_eq!(body["serving_from_cache"], true);
}

#[tokio::test]
async fn readiness_with_nothing_cached_is_proved_by_get_caller_identity_once() {
    let app = TestApp::builder().spawn().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sts"], "ok");
    assert_eq!(body["serving_from_cache"], false);
    let calls = app.sts.request_count();
    assert!(calls >= 1);
    // Further probes use the cached result.
    for _ in 0..5 {
        assert_eq!(readyz(&app).await.0, 200);
    }
    assert_eq!(app.sts.request_count(), calls);
    assert_eq!(
        app.sts.issued_count(),
        0,
        "readiness never issues credentials"
    );
    // Liveness stays cheap: it never asks STS.
    assert_eq!(app.healthz().await.status(), 200);
    assert_eq!(app.sts.request_count(), calls);
}

#[tokio::test]
async fn request_ids_round_trip() {
    let app = TestApp::builder().spawn().await;
    let sent = app
        .get_token()
        .headers(&[("X-Request-Id", "client-req.42:a_b")])
        .await;
    assert_eq!(sent.headers()["x-request-id"], "client-req.42:a_b");
    let insane = app
        .get_token()
        .headers(&[("X-Request-Id", "has spaces and {braces}")])
        .await;
    let generated = insane.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(generated, "has spaces and {braces}");
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    let error = app.get("/nope").header("X-Request-Id", "trace-404").await;
    assert_eq!(error.headers()["x-request-id"], "trace-404");
    let body: Value = error.json().await.unwrap();
    assert_eq!(body["request_id"], "trace-404");
    for (path, call) in [
        ("/readyz", app.readyz()),
        ("/metrics", app.metrics()),
        ("/healthz", app.healthz()),
    ] {
        let r = call.header("X-Request-Id", "probe-1").await;
        assert_eq!(r.headers()["x-request-id"], "probe-1", "{path}");
    }
}

/// The captured log lines (JSON) of `target` whose `client_request_id` is `client_id`.
fn lines_with_client_id(target: &str, client_id: &str) -> Vec<Value> {
    captured_log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == target && l["fields"]["client_request_id"] == client_id)
        .collect()
}

#[tokio::test]
async fn audit_lines_carry_the_brokers_own_request_id_beside_the_callers() {
    let app = TestApp::builder().spawn().await;
    // A caller sends the same id twice, as if to make two requests one in the audit trail.
    for _ in 0..2 {
        let response = app
            .get_token()
            .header("X-Request-Id", "forged-audit-id")
            .await;
        assert_eq!(response.status(), 200);
        // The response still echoes the caller's id.
        assert_eq!(response.headers()["x-request-id"], "forged-audit-id");
    }
    let lines = lines_with_client_id("audit", "forged-audit-id");
    assert_eq!(lines.len(), 2, "{lines:?}");
    let own: Vec<&str> = lines
        .iter()
        .map(|l| l["fields"]["request_id"].as_str().expect("request_id"))
        .collect();
    assert_ne!(own[0], own[1], "each request has its own id");
    for id in &own {
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        assert_ne!(*id, "forged-audit-id");
    }
    // An insane id is not logged at all; the line still has the broker's id, and the answer
    // carries that same id.
    let response = app.get_token().header("X-Request-Id", "has spaces").await;
    let answered = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let line = captured_log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["target"] == "audit" && l["fields"]["request_id"] == answered.as_str())
        .expect("the audit line under the id the answer carries");
    assert!(line["fields"].get("client_request_id").is_none(), "{line}");
    // Refused requests: the request line has both ids, the error body the caller's.
    let refused = app
        .get("/nope")
        .header("X-Request-Id", "forged-404-id")
        .await;
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["request_id"], "forged-404-id");
    let lines = captured_log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["client_request_id"] == "forged-404-id")
        .collect::<Vec<_>>();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["fields"]["message"], "request refused");
    let own = lines[0]["fields"]["request_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(own).is_ok(), "{own}");
}

/// The real binary against `sts`, an emulator in this process, with `extra` variables.
async fn serve(sts: &Sts, extra: &[(&str, &str)]) -> crate::harness::BrokerProcess {
    let mut command = BrokerCommand::new().envs(&sts.broker_vars());
    for (name, value) in extra {
        command = command.env(name, *value);
    }
    command.serve().await
}

#[tokio::test]
async fn sigterm_lets_a_slow_request_finish_and_exits_zero() {
    let sts = Sts::demo().await;
    let mut broker = serve(
        &sts,
        &[
            ("BROKER_SHUTDOWN_TIMEOUT_SECONDS", "20"),
            ("RUST_LOG", "info"),
        ],
    )
    .await;
    sts.enqueue_faults([Fault::Delay(Duration::from_millis(2500))]);
    let slow = tokio::spawn(broker.get_token().into_future());
    // Let the request reach the broker and its AssumeRole reach the (slow) emulator.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sts.request_count() == 0 {
        assert!(Instant::now() < deadline, "the request never reached STS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.signal("TERM");
    let response = slow.await.expect("the in-flight request is answered");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Code"], "Success");
    let exit = broker.wait_exit(Duration::from_secs(20));
    assert!(exit.success(), "{exit:?}");
    let log: Vec<String> = broker.stderr_lines();
    assert!(
        log.iter().any(|l| l.contains("shutdown complete")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn sigint_is_graceful_too() {
    let sts = Sts::demo().await;
    let mut broker = serve(&sts, &[]).await;
    broker.signal("INT");
    let exit = broker.wait_exit(Duration::from_secs(20));
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn log_lines_are_json_with_request_and_sts_request_ids() {
    let sts = Sts::demo().await;
    let mut broker = serve(&sts, &[("BROKER_LOG_FORMAT", "json"), ("RUST_LOG", "info")]).await;
    let response = broker
        .get_token()
        .header("X-Request-Id", "log-test-1")
        .await;
    assert_eq!(response.status(), 200);
    broker.signal("TERM");
    assert!(broker.wait_exit(Duration::from_secs(20)).success());
    let lines: Vec<String> = broker.stderr_lines();
    assert!(!lines.is_empty());
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let request = parsed
        .iter()
        .find(|v| v["route"] == "/getToken")
        .expect("one line per request");
    // A credential handed out: the request's line is the audit line.
    assert_eq!(request["message"], "credentials handed out");
    assert_eq!(request["target"], "audit");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("\"route\":\"/getToken\""))
            .count(),
        1,
        "exactly one line for the request"
    );
    // The caller's id is logged beside the broker's own, which it cannot choose.
    assert_eq!(request["client_request_id"], "log-test-1");
    let own = request["request_id"]
        .as_str()
        .expect("the broker's own request id");
    assert!(uuid::Uuid::parse_str(own).is_ok(), "{request}");
    assert_eq!(request["method"], "GET");
    assert_eq!(request["status"], 200);
    assert!(request["latency_ms"].as_f64().is_some(), "{request}");
    assert!(request["level"].is_string() && request["timestamp"].is_string());
    let assumed = parsed
        .iter()
        .find(|v| v["message"] == "AssumeRole succeeded")
        .expect("the AssumeRole line");
    // Lines written deeper down carry the same (broker's own) request id.
    assert_eq!(assumed["request_id"], request["request_id"]);
    let issued = sts.last_issued().expect("issued");
    assert!(assumed["sts_request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty() && id != "-"));
    let all = lines.join("\n");
    assert!(!all.contains(&issued.access_key_secret));
    assert!(!all.contains(&issued.security_token));
    assert!(!all.contains(&sts.config.access_keys[0].1));
}

#[tokio::test]
async fn healthcheck_subcommand_reports_the_broker_state() {
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_LISTEN".into(), "0.0.0.0:0".into());
            vars.insert("BROKER_ALLOW_ANONYMOUS".into(), "true".into());
        })
        .spawn()
        .await;
    let run = |listen: String| {
        BrokerCommand::new()
            .arg("healthcheck")
            .env("BROKER_LISTEN", listen)
            .output()
    };
    // A wildcard bind is probed on loopback.
    let up = run(format!("0.0.0.0:{}", app.port())).await;
    assert!(up.status.success(), "{up:?}");
    let down = run(format!("127.0.0.1:{}", free_port())).await;
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(String::from_utf8_lossy(&down.stderr).contains("healthcheck"));
}

#[tokio::test]
async fn latency_is_logged_in_whole_microseconds_without_float_noise() {
    let sts = Sts::demo().await;
    let mut broker = serve(&sts, &[("BROKER_LOG_FORMAT", "json"), ("RUST_LOG", "info")]).await;
    for _ in 0..5 {
        assert_eq!(broker.get_token().await.status(), 200);
        assert_eq!(broker.healthz().await.status(), 200);
    }
    broker.signal("TERM");
    assert!(broker.wait_exit(Duration::from_secs(20)).success());
    let lines: Vec<String> = broker.stderr_lines();
    // The audit line (a credential handed out) and the plain request line alike.
    for route in ["/getToken", "/healthz"] {
        let written: Vec<&str> = lines
            .iter()
            .filter(|l| l.contains(&format!("\"route\":\"{route}\"")))
            .map(|l| {
                // The number as written, not as parsed.
                let after = l.split("\"latency_ms\":").nth(1).expect("latency_ms");
                after.split([',', '}']).next().unwrap()
            })
            .collect();
        // (`/healthz` also has the probe that waited for the broker to come up.)
        assert!(written.len() >= 5, "{route}: {lines:#?}");
        for number in written {
            assert!(number.parse::<f64>().is_ok_and(|ms| ms >= 0.0), "{number}");
            let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
            assert!(
                decimals <= 3,
                "{route}: latency_ms {number} has float noise"
            );
        }
    }
}
