//! The one test harness.
//!
//! - [`TestApp`]: a broker in this process, over HTTP on port 0, with the emulators the test
//!   asked for, built by [`TestApp::builder`].
//! - [`BrokerCommand`] / [`BrokerProcess`]: the compiled `sts-broker` binary as a child process
//!   (configuration errors, `serve`, `demo`, `healthcheck`, `cors`).
//! - [`BrokerClient`]: one method per endpoint, shared by both; each returns a [`Call`] that
//!   takes headers, a bearer token, a query or another method and is sent by `.await`.
//! - [`RedisServer`]: a real `redis-server` on a free port, for the fleet tests, and
//!   [`RedisCluster`]: three of them as a Redis Cluster.
//! - The captured log every test checks for leaked secrets, and the contract's error shape.

mod app;
mod cluster;
mod otlp;
mod process;
mod redis;
mod tls_redis;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

pub(crate) use app::{BrokerClient, Call, Sts, TestApp, Vars, OSS_CALLBACK_KEY_FILE};
pub(crate) use cluster::RedisCluster;
pub(crate) use otlp::{OtlpReceiver, ReceivedSpan};
pub(crate) use process::{free_port, BrokerCommand, BrokerProcess};
pub(crate) use redis::RedisServer;
pub(crate) use tls_redis::TlsRedis;

/// Every log line any test's broker wrote, at trace level for the broker and debug for the
/// libraries it uses.
static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn init_log_capture() -> Arc<Mutex<Vec<u8>>> {
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        tracing_subscriber::fmt()
            .json()
            .with_env_filter("sts_broker=trace,debug")
            .with_writer(move || writer.clone())
            .init();
        buffer
    })
    .clone()
}

pub(crate) fn captured_log() -> String {
    String::from_utf8_lossy(&init_log_capture().lock().unwrap()).into_owned()
}

/// Asserts the contract's error shape and returns the body.
pub(crate) async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("X-Request-Id on errors")
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    body
}

/// `*` matches any run of characters, `?` exactly one (RAM policy wildcards).
fn wildcard_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn as_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap().to_owned())
            .collect(),
        _ => panic!("not a string or list: {v}"),
    }
}

/// Whether a session policy allows `action` on `resource` (explicit Deny wins).
pub(crate) fn policy_allows(policy: &Value, action: &str, resource: &str) -> bool {
    let mut allowed = false;
    for statement in policy["Statement"].as_array().unwrap() {
        let hit = as_list(&statement["Action"])
            .iter()
            .any(|a| wildcard_match(a, action))
            && as_list(&statement["Resource"])
                .iter()
                .any(|r| wildcard_match(r, resource));
        match (hit, statement["Effect"].as_str()) {
            (true, Some("Deny")) => return false,
            (true, Some("Allow")) => allowed = true,
            _ => {}
        }
    }
    allowed
}
