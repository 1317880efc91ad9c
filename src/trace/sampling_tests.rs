//! The decisions and the parser checked against the OpenTelemetry SDK's own sampler and W3C
//! propagator (an implementation independent of the code under test) and the W3C examples.

use super::*;
use actix_web::http::header::HeaderName;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{SpanKind, TraceContextExt as _, TraceId};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler as SdkSampler, SamplingDecision, ShouldSample as _};
use std::collections::HashMap;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn sdk_context(traceparent: &str) -> Context {
    let carrier: HashMap<String, String> =
        [("traceparent".to_owned(), traceparent.to_owned())].into();
    TraceContextPropagator::new().extract(&carrier)
}

fn sdk_sampler(name: &str, arg: f64) -> SdkSampler {
    let root = match name.trim_start_matches("parentbased_") {
        "always_on" => SdkSampler::AlwaysOn,
        "always_off" => SdkSampler::AlwaysOff,
        _ => SdkSampler::TraceIdRatioBased(arg),
    };
    if name.starts_with("parentbased_") {
        SdkSampler::ParentBased(Box::new(root))
    } else {
        root
    }
}

const NAMES: [&str; 6] = [
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

#[test]
fn every_sampler_decides_a_callers_trace_as_the_sdk_does() {
    let mut rng = fastrand::Rng::with_seed(24);
    for name in NAMES {
        for arg in [0.0, 0.25, 0.5, 0.9, 1.0] {
            let (ours, warning) = Sampler::from_values(Some(name), Some(&arg.to_string()));
            assert!(warning.is_none());
            let sdk = sdk_sampler(name, arg);
            for _ in 0..400 {
                let trace = format!("{:032x}", rng.u128(1..));
                let flags = if rng.bool() { "01" } else { "00" };
                let value = format!("00-{trace}-00f067aa0ba902b7-{flags}");
                let parent = TraceParent::of(&headers(&[("traceparent", &value)])).unwrap();
                let cx = sdk_context(&value);
                let trace_id = cx.span().span_context().trace_id();
                let expected = sdk
                    .should_sample(Some(&cx), trace_id, "x", &SpanKind::Server, &[], &[])
                    .decision;
                let decided = ours.sampled(Some(&parent), || unreachable!("the caller's trace"));
                assert_eq!(
                    decided,
                    expected == SamplingDecision::RecordAndSample,
                    "{name} {arg} {value}"
                );
            }
            // A new trace: the ratio is applied to the id the decision is made on.
            for _ in 0..400 {
                let id = rng.u128(1..);
                let expected = sdk
                    .should_sample(None, TraceId::from(id), "x", &SpanKind::Server, &[], &[])
                    .decision;
                let decided = ours.sampled(None, || id as u64);
                assert_eq!(
                    decided,
                    expected == SamplingDecision::RecordAndSample,
                    "{name} {arg}"
                );
            }
        }
    }
}

#[test]
fn sampler_names_and_fallbacks() {
    assert_eq!(Sampler::from_values(None, None), (Sampler::default(), None));
    let (s, w) = Sampler::from_values(Some("parentbased_traceidratio"), Some("0.1"));
    assert_eq!(
        s,
        Sampler {
            root: Root::Ratio(0.1),
            parent_based: true
        }
    );
    assert!(w.is_none());
    let (s, w) = Sampler::from_values(Some("traceidratio"), Some("lots"));
    assert_eq!(s.root, Root::Ratio(1.0));
    assert!(!s.parent_based);
    assert!(w.unwrap().contains("OTEL_TRACES_SAMPLER_ARG"));
    let (s, w) = Sampler::from_values(Some("jaeger_remote"), None);
    assert_eq!(s, Sampler::default());
    assert!(w.unwrap().contains("parentbased_always_on"));
    let (s, _) = Sampler::from_values(Some("traceidratio"), Some("7"));
    assert_eq!(s.root, Root::Ratio(1.0));
}

#[test]
fn the_w3c_example_is_parsed_and_passed_on_unsampled() {
    let h = headers(&[
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", "congo=t61rcWkgMzE"),
    ]);
    let p = TraceParent::of(&h).unwrap();
    assert!(p.sampled);
    assert_eq!(p.state.as_ref().unwrap(), "congo=t61rcWkgMzE");
    assert_eq!(
        p.unsampled_header(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    );
}

#[test]
fn invalid_traceparents_are_no_parent() {
    let t = "4bf92f3577b34da6a3ce929d0e0e4736";
    let s = "00f067aa0ba902b7";
    let bad = [
        format!("00-{t}-{s}-0"),
        format!("00-{t}-{s}-01-extra"),
        format!("ff-{t}-{s}-01"),
        format!("00-{}-{s}-01", t.to_uppercase()),
        format!("00-{}-{s}-01", "0".repeat(32)),
        format!("00-{t}-{}-01", "0".repeat(16)),
        format!("00-{t}-{s}-0g"),
        format!("0x-{t}-{s}-01"),
        format!("00_{t}-{s}-01"),
        format!("01-{t}-{s}-01x"),
        String::new(),
    ];
    for value in bad {
        assert!(
            TraceParent::of(&headers(&[("traceparent", &value)])).is_none(),
            "{value:?}"
        );
    }
    // A later version may append fields after a dash.
    let later = format!("01-{t}-{s}-01-more");
    let p = TraceParent::of(&headers(&[("traceparent", &later)])).unwrap();
    assert!(p.sampled);
    // Flags other than `sampled` are ignored.
    let p = TraceParent::of(&headers(&[("traceparent", &format!("00-{t}-{s}-02"))])).unwrap();
    assert!(!p.sampled);
    assert!(TraceParent::of(&HeaderMap::new()).is_none());
}
