//! `spawn_app()`, `TestApp` and the captured log every test checks for leaked secrets.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use sts_broker::config::Settings;
use sts_broker::emulator::sts::{StsEmulator, StsEmulatorConfig};
use sts_broker::startup::{Application, Dependencies};

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

fn init_log_capture() -> Arc<Mutex<Vec<u8>>> {
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

pub fn captured_log() -> String {
    String::from_utf8_lossy(&init_log_capture().lock().unwrap()).into_owned()
}

pub struct TestApp {
    pub address: String,
    pub sts: StsEmulator,
    pub sts_config: StsEmulatorConfig,
    pub http: reqwest::Client,
    pub vars: HashMap<String, String>,
}

/// The broker's configuration, pointed at `sts`.
pub fn base_vars(sts: &StsEmulator, config: &StsEmulatorConfig) -> HashMap<String, String> {
    let (id, secret) = config.access_keys[0].clone();
    [
        ("BROKER_LISTEN", "127.0.0.1:0".to_owned()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", id),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret),
        (
            "BROKER_ROLE_ARN",
            format!("acs:ram::{}:role/demo-uploader", config.account_id),
        ),
        ("BROKER_STS_ENDPOINT", sts.endpoint()),
        ("BROKER_STS_TIMEOUT_MS", "3000".to_owned()),
        ("BROKER_BUCKET", "test-bucket".to_owned()),
        ("BROKER_REGION", "cn-hangzhou".to_owned()),
        ("BROKER_AUTH", "none".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an emulator and a broker; `configure` may change the broker's variables.
pub async fn spawn_app_with(configure: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    init_log_capture();
    let sts_config = StsEmulatorConfig::demo();
    let sts = StsEmulator::start(sts_config.clone())
        .await
        .expect("emulator starts");
    let mut vars = base_vars(&sts, &sts_config);
    configure(&mut vars);
    let address = spawn_broker(&vars);
    TestApp {
        address,
        sts,
        sts_config,
        http: reqwest::Client::new(),
        vars,
    }
}

/// Starts one more broker with `vars`; returns its base URL.
pub fn spawn_broker(vars: &HashMap<String, String>) -> String {
    spawn_broker_with(vars, Dependencies::default())
}

/// Starts one more broker with `vars` and its own clock and nonces; returns its base URL.
pub fn spawn_broker_with(vars: &HashMap<String, String>, deps: Dependencies) -> String {
    init_log_capture();
    let settings = Settings::from_map(vars).expect("test settings are valid");
    let app = Application::build(settings, deps).expect("broker binds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

impl TestApp {
    pub async fn get_token(&self) -> reqwest::Response {
        self.get("/getToken").await
    }

    pub async fn healthz(&self) -> reqwest::Response {
        self.get("/healthz").await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("broker answers")
    }

    /// The broker's own long-term secret, when it has one.
    pub fn broker_secret(&self) -> Option<String> {
        self.vars.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET").cloned()
    }

    /// Fails if any credential secret the emulator issued, or the broker's own secret, appears
    /// in the captured log or in `bodies`.
    pub fn assert_no_secrets_leaked(&self, bodies: &[&str]) {
        let log = captured_log();
        let mut secrets: Vec<String> = self.broker_secret().into_iter().collect();
        for issued in self.sts.all_issued() {
            secrets.push(issued.access_key_secret.clone());
            secrets.push(issued.security_token.clone());
        }
        for secret in &secrets {
            assert!(!log.contains(secret.as_str()), "a secret reached the log");
            for body in bodies {
                assert!(
                    !body.contains(secret.as_str()),
                    "a secret reached a body: {body}"
                );
            }
        }
    }
}

/// Asserts the contract's error shape and returns the body.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
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
