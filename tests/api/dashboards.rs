//! The shipped Grafana dashboard (`deploy/grafana/sts-broker.json`) and alert rules
//! (`deploy/prometheus/alerts.yaml`) name only metrics a running broker exports: a broker in
//! fleet mode (a real Redis) with a temporary identity (the metadata emulator), so that every
//! family it can export is on its `/metrics`, serves a few requests and is scraped.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use broker_emulators::imds::{ImdsEmulator, ImdsEmulatorConfig};
use broker_emulators::sts::{EmulatedRole, StsEmulatorConfig};
use serde_json::Value;
use sts_broker::clock::SystemClock;

use crate::harness::{RedisServer, Sts, TestApp};

const BROKER_ROLE: &str = "broker-identity";
/// Base64 of 32 fixed bytes: the fleet's sealing key here.
const SEAL_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// PromQL words that are not metric names: binary operators, modifiers and aggregations
/// (which may be followed by `by (…)` rather than a parenthesis).
const KEYWORDS: [&str; 22] = [
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
];

/// Removes every `open … close` span (label matchers, range selectors), quotes included.
fn strip_spans(expr: &str, open: char, close: char) -> String {
    let (mut out, mut depth, mut quoted) = (String::new(), 0, false);
    for c in expr.chars() {
        match c {
            '"' if depth > 0 => quoted = !quoted,
            c if c == open && !quoted => depth += 1,
            c if c == close && !quoted && depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The metric names a PromQL expression (or a Grafana `label_values(metric, label)` query)
/// selects: identifiers outside label matchers, ranges and grouping clauses that are not
/// functions, keywords, numbers or Grafana variables.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let expr = match expr.trim().strip_prefix("label_values(") {
        Some(args) => args.split(',').next().unwrap_or_default().to_owned(),
        None => expr.to_owned(),
    };
    let expr = strip_spans(&strip_spans(&expr, '{', '}'), '[', ']');
    let chars: Vec<char> = expr.chars().collect();
    let (mut names, mut i, mut in_grouping) = (BTreeSet::new(), 0, false);
    while i < chars.len() {
        let c = chars[i];
        if !(c.is_ascii_alphanumeric() || "_:$".contains(c)) {
            if c == ')' {
                in_grouping = false;
            }
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:$.".contains(chars[i])) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let next = chars[i..].iter().find(|c| !c.is_whitespace());
        let grouping = [
            "by",
            "without",
            "on",
            "ignoring",
            "group_left",
            "group_right",
        ];
        if grouping.contains(&word.as_str()) && next == Some(&'(') {
            // The labels up to the closing parenthesis (`by (le, route)`) are not metrics.
            in_grouping = true;
        } else if !(c.is_ascii_digit()
            || c == '$'
            || in_grouping
            || next == Some(&'(')
            || KEYWORDS.contains(&word.as_str()))
        {
            names.insert(word);
        }
    }
    names
}

/// The names a scrape can carry: each family, and a histogram's `_bucket`, `_sum`, `_count`.
fn exported_names(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            names.insert(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// Every `expr` of the dashboard's panels and the queries of its variables.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    let mut queries = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(panel) = panels.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            panels.extend(nested);
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(
                target["expr"]
                    .as_str()
                    .expect("every target has an expr")
                    .to_owned(),
            );
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] == "query" {
            queries.push(variable["query"]["query"].as_str().unwrap().to_owned());
        }
    }
    queries
}

/// Every `expr:` of a rules file, single-line or a block scalar (`expr: |`).
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let value = value.trim();
        if !matches!(value, "|" | ">" | "|-" | ">-") {
            exprs.push(value.trim_matches(['"', '\'']).to_owned());
            continue;
        }
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .map(|l| l.trim())
            .collect();
        exprs.push(block.join(" "));
    }
    exprs
}

#[test]
fn the_query_parser_finds_metrics_only() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{job=~"$job",x="by (y)"}[$__rate_interval])))
           / on (job) group_left sum without (instance) (b_total offset 5m) > 1e3 and c"#,
    );
    let expected: BTreeSet<String> = ["a_bucket", "b_total", "c"].map(String::from).into();
    assert_eq!(names, expected);
    let names = metric_names("label_values(sts_broker_build_info, job)");
    assert_eq!(names, ["sts_broker_build_info".to_owned()].into());
}

/// A fleet-mode broker whose identity comes from the metadata emulator, after a few requests.
async fn scrape_everything() -> String {
    let mut config = StsEmulatorConfig::demo();
    config.roles.push(EmulatedRole {
        name: BROKER_ROLE.into(),
        max_session_duration: 3600,
    });
    let sts = Sts::start(config).await;
    let imds = ImdsEmulator::start(
        ImdsEmulatorConfig::new(BROKER_ROLE, Arc::new(SystemClock)),
        sts.minter(),
    )
    .await
    .expect("metadata emulator");
    let redis = RedisServer::start();
    let (imds_url, redis_url) = (imds.endpoint(), redis.url());
    let app = TestApp::builder()
        .sts(&sts)
        .with_oss()
        .vars(move |vars| {
            vars.remove("ALIBABA_CLOUD_ACCESS_KEY_ID");
            vars.remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
            vars.insert("ALIBABA_CLOUD_ECS_METADATA".into(), BROKER_ROLE.into());
            vars.insert("BROKER_IMDS_ENDPOINT".into(), imds_url);
            vars.insert("BROKER_REDIS_URL".into(), redis_url);
            vars.insert("BROKER_CACHE_ENCRYPTION_KEY".into(), SEAL_KEY.into());
        })
        .spawn()
        .await;
    assert_eq!(app.get_token().await.status(), 200);
    assert_eq!(app.get_token().await.status(), 200);
    assert_eq!(app.post_object_params().await.status(), 200);
    assert_eq!(app.healthz().await.status(), 200);
    assert_eq!(app.readyz().await.status(), 200);
    assert_eq!(app.get("/no-such-route").await.status(), 404);
    let response = app.metrics().await;
    assert_eq!(response.status(), 200);
    let scrape = response.text().await.unwrap();
    drop(redis);
    scrape
}

#[tokio::test]
async fn the_dashboard_and_the_alerts_name_only_exported_metrics() {
    let scrape = scrape_everything().await;
    let exported = exported_names(&scrape);
    for family in [
        "sts_broker_identity_expires_in_seconds",
        "sts_broker_fleet_redis_up",
        "sts_broker_http_request_duration_seconds_bucket",
    ] {
        assert!(
            exported.contains(family),
            "{family} missing from:\n{scrape}"
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("grafana/sts-broker.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let alerts = std::fs::read_to_string(root.join("prometheus/alerts.yaml")).unwrap();
    let sources = [
        (
            "deploy/grafana/sts-broker.json",
            dashboard_queries(&dashboard),
        ),
        ("deploy/prometheus/alerts.yaml", rule_exprs(&alerts)),
    ];
    let mut used = BTreeSet::new();
    for (file, queries) in sources {
        assert!(
            queries.len() >= 10,
            "{file}: only {} queries",
            queries.len()
        );
        for query in queries {
            let names = metric_names(&query);
            assert!(!names.is_empty(), "{file}: no metric in `{query}`");
            for name in names {
                assert!(
                    exported.contains(&name),
                    "{file}: `{name}` is not exported by the broker (query `{query}`)"
                );
                used.insert(name);
            }
        }
    }
    assert!(used.contains("sts_broker_sts_requests_total"), "{used:?}");
}
