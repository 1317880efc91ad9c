//! `spawn_app()`, `TestApp` and the captured log every test checks for leaked secrets.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use broker_emulators::oss::{OssEmulator, OssEmulatorConfig};
use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};
use chrono::Utc;
use serde_json::Value;
use sts_broker::clock::ManualClock;
use sts_broker::config::Settings;
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
    spawn_app_with_deps(Dependencies::default(), configure).await
}

/// [`spawn_app_with`] with the broker's clock and nonces replaced.
pub async fn spawn_app_with_deps(
    deps: Dependencies,
    configure: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    init_log_capture();
    let sts_config = StsEmulatorConfig::demo();
    let sts = StsEmulator::start(sts_config.clone())
        .await
        .expect("emulator starts");
    let mut vars = base_vars(&sts, &sts_config);
    configure(&mut vars);
    let address = spawn_broker_with(&vars, deps);
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

    /// `GET /getToken` with extra request headers.
    pub async fn get_token_with(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(format!("{}/getToken", self.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("broker answers")
    }

    /// `GET /getToken` with `Authorization: Bearer <token>`.
    pub async fn get_token_bearer(&self, token: &str) -> reqwest::Response {
        self.get_token_with(&[("Authorization", &format!("Bearer {token}"))])
            .await
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
pub fn policy_allows(policy: &Value, action: &str, resource: &str) -> bool {
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

/// A broker whose uploads go to a strict OSS emulator (path-style, bucket `test-bucket`) that
/// trusts the keys of the app's STS emulator and runs on a manual clock.
pub struct OssTestApp {
    pub app: TestApp,
    pub oss: OssEmulator,
    pub oss_clock: ManualClock,
}

impl std::ops::Deref for OssTestApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// Like [`spawn_app_with`], plus an OSS emulator that `BROKER_UPLOAD_HOST` points at.
pub async fn spawn_app_with_oss(
    configure: impl FnOnce(&mut HashMap<String, String>),
) -> OssTestApp {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let app = spawn_app_with(|vars| {
        vars.insert(
            "BROKER_UPLOAD_HOST".into(),
            format!("http://127.0.0.1:{port}/test-bucket"),
        );
        configure(vars);
    })
    .await;
    let oss_clock = ManualClock::new(Utc::now());
    let oss = OssEmulator::start_on(
        OssEmulatorConfig {
            bucket: "test-bucket".into(),
            region: "cn-hangzhou".into(),
            keys: app.sts.keys(),
            clock: Arc::new(oss_clock.clone()),
        },
        listener,
    )
    .await
    .expect("oss emulator starts");
    OssTestApp {
        app,
        oss,
        oss_clock,
    }
}

/// A running `sts-broker demo` child process with its printed banner; killed on drop.
pub struct DemoProcess {
    pub child: std::process::Child,
    /// Every line the demo printed before the "Press Ctrl-C" line.
    pub banner: Vec<String>,
}

impl DemoProcess {
    /// Starts `sts-broker demo` on a free loopback port in an empty directory and waits for
    /// its whole banner.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0")
    }

    /// Like [`DemoProcess::start`], with `BROKER_LISTEN=listen`.
    pub fn start_on(listen: &str) -> Self {
        use std::io::{BufRead as _, BufReader};
        let dir = std::env::temp_dir().join(format!("sts-broker-demo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sts-broker"))
            .arg("demo")
            .env_clear()
            .env("BROKER_LISTEN", listen)
            .env("RUST_LOG", "warn")
            .current_dir(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("demo starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut banner = Vec::new();
        loop {
            let line = rx
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("demo prints its banner");
            if line.contains("Press Ctrl-C") {
                break;
            }
            banner.push(line);
        }
        Self { child, banner }
    }

    /// The value printed after `label:` in the banner (e.g. `broker`, `OSS emulator`).
    pub fn value(&self, label: &str) -> String {
        let prefix = format!("{label}:");
        self.banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(&prefix).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no `{label}:` in {:#?}", self.banner))
    }

    /// The first banner line containing `needle`.
    pub fn line_with(&self, needle: &str) -> String {
        self.banner
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}` in {:#?}", self.banner))
            .trim()
            .to_owned()
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
