//! Traces over OTLP/HTTP: the real binary exports to a real receiver that decodes the protobuf;
//! a caller's `traceparent` is continued and STS sees the trace; a dead collector costs a
//! warning; no tracing configured means no header on the broker's calls.

use std::time::Duration;

use crate::harness::{BrokerCommand, OtlpReceiver, ReceivedSpan, Sts, TestApp};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
}

#[tokio::test]
async fn spans_reach_an_otlp_receiver_continuing_the_callers_trace_into_sts() {
    let receiver = OtlpReceiver::start().await;
    let sts = Sts::demo().await;
    let mut broker = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone())
        .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
        .serve()
        .await;
    let response = broker
        .get_token()
        .header("traceparent", traceparent())
        .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    // Graceful shutdown exports what is still queued.
    broker.signal("TERM");
    assert!(broker.wait_exit(Duration::from_secs(20)).success());

    let spans = receiver.spans();
    let server = named(&spans, "GET /getToken");
    assert_eq!(
        server.trace_id, CALLER_TRACE,
        "the caller's trace is continued"
    );
    assert_eq!(server.parent_span_id, CALLER_SPAN);
    assert_eq!(server.kind, 2, "SERVER");
    assert_eq!(server.attribute("http.route"), Some("/getToken"));
    assert_eq!(server.attribute("http.response.status_code"), Some("200"));
    assert_eq!(server.attribute("profile"), Some("default"));
    assert_eq!(server.service_name, "sts-broker");
    let call = named(&spans, "STS AssumeRole");
    assert_eq!(call.trace_id, CALLER_TRACE);
    assert_eq!(call.kind, 3, "CLIENT");
    assert_eq!(call.attribute("sts.attempt"), Some("1"));
    assert_eq!(call.attribute("sts.outcome"), Some("success"));
    // STS received the trace: the STS call's own span as parent.
    let seen = sts.traceparents();
    assert_eq!(seen, vec![format!("00-{CALLER_TRACE}-{}-01", call.span_id)]);
    // No secret or token in any span.
    let credential: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut secrets = sts.secrets();
    secrets.push(credential["AccessKeySecret"].as_str().unwrap().to_owned());
    secrets.push(credential["SecurityToken"].as_str().unwrap().to_owned());
    for span in &spans {
        for (key, value) in &span.attributes {
            assert!(
                !secrets.iter().any(|s| value.contains(s.as_str())),
                "secret in {key} of {}",
                span.name
            );
        }
    }
}

#[tokio::test]
async fn a_dead_collector_costs_one_warning_and_no_request() {
    let receiver = OtlpReceiver::start().await;
    receiver.fail(true);
    let sts = Sts::demo().await;
    let mut broker = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{}/v1/traces", receiver.endpoint),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .env("OTEL_SERVICE_NAME", "broker-under-test")
        .env("BROKER_RATE_LIMIT_BURST", "100")
        .serve()
        .await;
    for _ in 0..3 {
        for _ in 0..5 {
            assert_eq!(broker.get_token().await.status(), 200);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(receiver.exports() >= 2, "the broker kept trying");
    broker.signal("TERM");
    assert!(broker.wait_exit(Duration::from_secs(20)).success());
    let warnings = broker
        .stderr_lines()
        .into_iter()
        .filter(|l| l.contains("trace export failed"))
        .count();
    assert_eq!(warnings, 1, "one warning a minute");
}

#[tokio::test]
async fn the_sampler_and_service_name_come_from_the_environment() {
    let receiver = OtlpReceiver::start().await;
    let sts = Sts::demo().await;
    let mut broker = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone())
        .env("OTEL_SERVICE_NAME", "uploads-broker")
        .env("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
        .env("OTEL_TRACES_SAMPLER_ARG", "0")
        .serve()
        .await;
    // Ratio 0: a new trace is not sampled; a sampled caller's trace still is (parent-based).
    assert_eq!(broker.healthz().await.status(), 200);
    let response = broker
        .get_token()
        .header("traceparent", traceparent())
        .await;
    assert_eq!(response.status(), 200);
    broker.signal("TERM");
    assert!(broker.wait_exit(Duration::from_secs(20)).success());
    let spans = receiver.spans();
    assert!(
        spans.iter().all(|s| s.trace_id == CALLER_TRACE),
        "{spans:#?}"
    );
    assert_eq!(
        named(&spans, "GET /getToken").service_name,
        "uploads-broker"
    );
}

#[tokio::test]
async fn without_an_endpoint_no_traceparent_is_sent() {
    let app = TestApp::builder().spawn().await;
    let response = app.get_token().header("traceparent", traceparent()).await;
    assert_eq!(response.status(), 200);
    assert!(app.sts.traceparents().is_empty());
}

#[tokio::test]
async fn always_off_exports_nothing_and_passes_the_callers_trace_on_unsampled() {
    let receiver = OtlpReceiver::start().await;
    let sts = Sts::demo().await;
    let mut broker = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone())
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .env("OTEL_TRACES_SAMPLER", "always_off")
        .serve()
        .await;
    let response = broker
        .get_token()
        .header("traceparent", traceparent())
        .header("tracestate", "congo=t61rcWkgMzE")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(broker.healthz().await.status(), 200);
    broker.signal("TERM");
    assert!(broker.wait_exit(Duration::from_secs(20)).success());
    let spans = receiver.spans();
    assert!(spans.is_empty(), "{spans:#?}");
    // STS still sees the caller's trace, flagged not sampled: the broker recorded nothing.
    assert_eq!(
        sts.traceparents(),
        vec![format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00")]
    );
}

/// A new trace the broker does not sample still tells the services it calls so: a fresh trace
/// id, flagged not sampled, a different one per request.
#[tokio::test]
async fn an_unsampled_new_trace_is_passed_on_flagged_not_sampled() {
    let receiver = OtlpReceiver::start().await;
    let sts = Sts::demo().await;
    let mut broker = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone())
        .env("OTEL_TRACES_SAMPLER", "always_off")
        .env("BROKER_AUTH", "header")
        .env("BROKER_TRUSTED_HEADER", "X-User")
        .env("BROKER_TRUSTED_PROXIES", "127.0.0.1/32")
        .serve()
        .await;
    for user in ["alice", "bob"] {
        let response = broker.get_token().header("X-User", user).await;
        assert_eq!(response.status(), 200);
    }
    let seen = sts.traceparents();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for header in &seen {
        let parts: Vec<&str> = header.split('-').collect();
        assert_eq!(parts.len(), 4, "{header}");
        assert_eq!((parts[0], parts[3]), ("00", "00"), "{header}");
        assert_eq!((parts[1].len(), parts[2].len()), (32, 16), "{header}");
        assert!(parts[1].bytes().any(|b| b != b'0'), "{header}");
        assert!(parts[2].bytes().any(|b| b != b'0'), "{header}");
    }
    assert_ne!(seen[0], seen[1]);
    broker.signal("TERM");
    assert!(broker.wait_exit(Duration::from_secs(20)).success());
    assert!(receiver.spans().is_empty());
}

#[tokio::test]
async fn a_callers_unsampled_trace_is_not_exported_under_parentbased_always_on() {
    let receiver = OtlpReceiver::start().await;
    let sts = Sts::demo().await;
    let mut broker = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone())
        .env("OTEL_TRACES_SAMPLER", "parentbased_always_on")
        .serve()
        .await;
    let unsampled = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00");
    let response = broker.get_token().header("traceparent", &unsampled).await;
    assert_eq!(response.status(), 200);
    // A sampled caller afterwards (a cache hit: no STS call) shows the export works.
    let sampled_trace = "0af7651916cd43dd8448eb211c80319c";
    let response = broker
        .get_token()
        .header(
            "traceparent",
            format!("00-{sampled_trace}-b7ad6b7169203331-01"),
        )
        .await;
    assert_eq!(response.status(), 200);
    broker.signal("TERM");
    assert!(broker.wait_exit(Duration::from_secs(20)).success());
    let spans = receiver.spans();
    assert_eq!(named(&spans, "GET /getToken").trace_id, sampled_trace);
    // Nothing of the unsampled request: neither its server span nor its STS call (the start-up
    // health checks are new traces of their own, sampled).
    assert!(
        spans
            .iter()
            .all(|s| s.trace_id != CALLER_TRACE && !s.name.starts_with("STS")),
        "{spans:#?}"
    );
    let requests = spans.iter().filter(|s| s.name == "GET /getToken").count();
    assert_eq!(requests, 1, "{spans:#?}");
    assert_eq!(sts.traceparents(), vec![unsampled]);
}
