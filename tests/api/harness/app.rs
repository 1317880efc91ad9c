//! [`TestApp`]: a broker in this process with the emulators a test asked for; [`BrokerClient`]
//! and [`Call`]: the HTTP requests every test sends to a broker.

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use broker_emulators::oss::{OssEmulator, OssEmulatorConfig};
use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};
use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use sts_broker::clock::{Clock, ManualClock};
use sts_broker::config::Settings;
use sts_broker::startup::{Application, Dependencies};

use super::{captured_log, init_log_capture};

/// Set, before the `vars` changes run, to the path of a file holding the OSS emulator's
/// callback public key (PEM), so a test can pin it with `BROKER_CALLBACK_PUBLIC_KEY_FILE`.
/// Never passed to the broker itself.
pub(crate) const OSS_CALLBACK_KEY_FILE: &str = "TEST_OSS_CALLBACK_KEY_FILE";

/// A broker's configuration: the variables `Settings::from_map` reads.
pub(crate) type Vars = HashMap<String, String>;

/// A strict STS emulator on port 0 and the configuration it was started with. Clones share the
/// one emulator, so several brokers can use it.
#[derive(Clone)]
pub(crate) struct Sts {
    emulator: Arc<StsEmulator>,
    pub config: StsEmulatorConfig,
}

impl Deref for Sts {
    type Target = StsEmulator;
    fn deref(&self) -> &StsEmulator {
        &self.emulator
    }
}

impl Sts {
    pub(crate) async fn start(config: StsEmulatorConfig) -> Self {
        let emulator = StsEmulator::start(config.clone())
            .await
            .expect("emulator starts");
        Self {
            emulator: Arc::new(emulator),
            config,
        }
    }

    /// The emulator with its demo account, keys and roles.
    pub(crate) async fn demo() -> Self {
        Self::start(StsEmulatorConfig::demo()).await
    }

    /// A broker's configuration pointed at this emulator: its first long-term key, the
    /// `demo-uploader` role, bucket `test-bucket` in `cn-hangzhou`, `BROKER_AUTH=none`, port 0.
    pub(crate) fn broker_vars(&self) -> Vars {
        let (id, secret) = self.config.access_keys[0].clone();
        [
            ("BROKER_LISTEN", "127.0.0.1:0".to_owned()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", id),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret),
            (
                "BROKER_ROLE_ARN",
                format!("acs:ram::{}:role/demo-uploader", self.config.account_id),
            ),
            ("BROKER_STS_ENDPOINT", self.endpoint()),
            ("BROKER_STS_TIMEOUT_MS", "3000".to_owned()),
            ("BROKER_BUCKET", "test-bucket".to_owned()),
            ("BROKER_REGION", "cn-hangzhou".to_owned()),
            ("BROKER_AUTH", "none".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Every secret the emulator handed out: credential secrets, security tokens and the OIDC
    /// tokens it accepted.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        for issued in self.all_issued() {
            secrets.push(issued.access_key_secret);
            secrets.push(issued.security_token);
        }
        secrets.extend(self.oidc_tokens());
        secrets
    }
}

/// HTTP requests to one broker: one method per endpoint, plus [`BrokerClient::get`] for any
/// other path. Each returns a [`Call`]; `.await` sends it.
#[derive(Clone)]
pub(crate) struct BrokerClient {
    /// The broker's base URL, `http://127.0.0.1:<port>`.
    pub address: String,
    /// Where `/metrics` is served: `address`, or its own listener's URL.
    metrics_address: String,
    http: reqwest::Client,
}

impl BrokerClient {
    /// Requests to the broker at `address`, `/metrics` included.
    pub(crate) fn at(address: impl Into<String>) -> Self {
        let address = address.into();
        Self {
            metrics_address: address.clone(),
            address,
            http: reqwest::Client::new(),
        }
    }

    /// `GET /getToken`.
    pub(crate) fn get_token(&self) -> Call {
        self.get("/getToken")
    }

    /// `GET /getPostObjectParams`.
    pub(crate) fn post_object_params(&self) -> Call {
        self.get("/getPostObjectParams")
    }

    /// `GET /healthz`.
    pub(crate) fn healthz(&self) -> Call {
        self.get("/healthz")
    }

    /// `GET /readyz`.
    pub(crate) fn readyz(&self) -> Call {
        self.get("/readyz")
    }

    /// `GET /metrics`, on the metrics listener when the broker has one.
    pub(crate) fn metrics(&self) -> Call {
        Call::new(&self.http, format!("{}/metrics", self.metrics_address))
    }

    /// `GET <path>` on the main listener.
    pub(crate) fn get(&self, path: &str) -> Call {
        Call::new(&self.http, format!("{}{path}", self.address))
    }
}

/// One request to a broker, sent when awaited. `GET` unless [`Call::method`] says otherwise.
#[must_use = "a call is sent only when awaited"]
pub(crate) struct Call {
    http: reqwest::Client,
    method: Method,
    url: String,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    body: Option<String>,
}

impl Call {
    fn new(http: &reqwest::Client, url: String) -> Self {
        Self {
            http: http.clone(),
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            query: Vec::new(),
            body: None,
        }
    }

    /// Sends `body` (e.g. JSON, with the caller setting `Content-Type`).
    pub(crate) fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The same path with another method (`POST`, `OPTIONS` for a preflight...).
    pub(crate) fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Adds a request header; `value` may be any bytes a header can carry.
    pub(crate) fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
        let value = HeaderValue::from_bytes(value.as_ref()).expect("a header value");
        self.headers.append(name, value);
        self
    }

    /// Adds each of `headers`, in order.
    pub(crate) fn headers(self, headers: &[(&str, &str)]) -> Self {
        headers
            .iter()
            .fold(self, |call, (name, value)| call.header(name, value))
    }

    /// `Authorization: Bearer <token>`.
    pub(crate) fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// Appends `pairs` to the URL's query string.
    pub(crate) fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        self.query.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    /// Sends the request; panics if the broker does not answer at all.
    pub(crate) async fn send(self) -> reqwest::Response {
        let mut url = url::Url::parse(&self.url).expect("a URL");
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.query);
        }
        let mut request = (self.http.request(self.method, url)).headers(self.headers);
        if let Some(body) = self.body {
            request = request.body(body);
        }
        request.send().await.expect("broker answers")
    }
}

impl IntoFuture for Call {
    type Output = reqwest::Response;
    type IntoFuture = Pin<Box<dyn Future<Output = reqwest::Response> + Send>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A broker running in this test's process on the tokio runtime, with the STS emulator it
/// talks to and, when asked for, an OSS emulator. Dereferences to its [`BrokerClient`].
pub(crate) struct TestApp {
    client: BrokerClient,
    pub sts: Sts,
    /// The variables the broker was started with.
    pub vars: Vars,
    oss: Option<(OssEmulator, ManualClock)>,
    port: u16,
    metrics_port: u16,
    /// The OSS emulator's callback key file, which `vars` may name.
    _key_file: Option<RemovedOnDrop>,
}

/// A file of the test's own, removed with the app.
struct RemovedOnDrop(std::path::PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Deref for TestApp {
    type Target = BrokerClient;
    fn deref(&self) -> &BrokerClient {
        &self.client
    }
}

impl TestApp {
    /// The one way to start a broker in process; `.spawn().await` starts it.
    pub(crate) fn builder<'a>() -> TestAppBuilder<'a> {
        TestAppBuilder {
            configure: Vec::new(),
            deps: Dependencies::default(),
            sts: None,
            vars: None,
            oss: false,
            listener: None,
        }
    }

    /// A builder for one more broker on this app's STS emulator, starting from this app's
    /// variables (and its own clock and nonces unless told otherwise).
    pub(crate) fn another_broker(&self) -> TestAppBuilder<'static> {
        let mut builder = Self::builder().sts(&self.sts);
        builder.vars = Some(self.vars.clone());
        builder
    }

    /// The main listener's port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on (the main one unless `BROKER_METRICS_LISTEN` is set).
    pub(crate) fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// The OSS emulator (path-style, bucket `test-bucket`) that `BROKER_UPLOAD_HOST` points at.
    #[track_caller]
    pub(crate) fn oss(&self) -> &OssEmulator {
        &self.oss.as_ref().expect("built `.with_oss()`").0
    }

    /// The OSS emulator's manual clock.
    #[track_caller]
    pub(crate) fn oss_clock(&self) -> &ManualClock {
        &self.oss.as_ref().expect("built `.with_oss()`").1
    }

    /// The broker's own long-term secret, when it has one.
    pub(crate) fn broker_secret(&self) -> Option<String> {
        self.vars.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET").cloned()
    }

    /// Fails if any secret the STS emulator handed out, or the broker's own secret, appears in
    /// the captured log or in `bodies`.
    pub(crate) fn assert_no_secrets_leaked(&self, bodies: &[&str]) {
        let log = captured_log();
        let mut secrets: Vec<String> = self.broker_secret().into_iter().collect();
        secrets.extend(self.sts.secrets());
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

/// One change to a broker's variables.
type Configure<'a> = Box<dyn FnOnce(&mut Vars) + 'a>;

/// Builds a [`TestApp`]: which emulators, the broker's variables, clock and nonces.
#[must_use = "nothing starts until `.spawn().await`"]
pub(crate) struct TestAppBuilder<'a> {
    configure: Vec<Configure<'a>>,
    deps: Dependencies,
    /// An emulator already running; a new demo one when `None`.
    sts: Option<Sts>,
    /// The variables to start from instead of the STS emulator's [`Sts::broker_vars`].
    vars: Option<Vars>,
    oss: bool,
    /// A listener bound beforehand, for a test that needs the broker's port in its variables
    /// (binding later to a port found free races other tests for it).
    listener: Option<std::net::TcpListener>,
}

impl<'a> TestAppBuilder<'a> {
    /// Changes the broker's variables (after the defaults; several calls apply in order).
    pub(crate) fn vars(mut self, configure: impl FnOnce(&mut Vars) + 'a) -> Self {
        self.configure.push(Box::new(configure));
        self
    }

    /// The broker's clock and nonces.
    pub(crate) fn deps(mut self, deps: Dependencies) -> Self {
        self.deps = deps;
        self
    }

    /// The broker's clock (nonces stay as they are).
    pub(crate) fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.deps.clock = Arc::new(clock);
        self
    }

    /// Uses `sts`, already running (perhaps with its own configuration, perhaps used by other
    /// brokers), instead of a new demo emulator.
    pub(crate) fn sts(mut self, sts: &Sts) -> Self {
        self.sts = Some(sts.clone());
        self
    }

    /// Adds a strict OSS emulator on a manual clock (path-style, bucket `test-bucket`, trusting
    /// the STS emulator's keys) and points `BROKER_UPLOAD_HOST` at it before the `vars` changes.
    pub(crate) fn with_oss(mut self) -> Self {
        self.oss = true;
        self
    }

    /// Serves on `listener` (already bound) instead of binding `BROKER_LISTEN`.
    pub(crate) fn on(mut self, listener: std::net::TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    pub(crate) async fn spawn(self) -> TestApp {
        init_log_capture();
        let sts = match self.sts {
            Some(sts) => sts,
            None => Sts::demo().await,
        };
        let mut vars = self.vars.unwrap_or_else(|| sts.broker_vars());
        let oss_listener = self.oss.then(|| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().unwrap().port();
            vars.insert(
                "BROKER_UPLOAD_HOST".into(),
                format!("http://127.0.0.1:{port}/test-bucket"),
            );
            listener
        });
        // The OSS emulator runs before the broker is configured, so a test can pin the
        // emulator's callback key (`OSS_CALLBACK_KEY_FILE` below).
        let mut oss = None;
        let mut pem_file = None;
        if let Some(listener) = oss_listener {
            let clock = ManualClock::new(Utc::now());
            let emulator = OssEmulator::start_on(
                OssEmulatorConfig {
                    bucket: "test-bucket".into(),
                    region: "cn-hangzhou".into(),
                    keys: sts.keys(),
                    clock: Arc::new(clock.clone()),
                },
                listener,
            )
            .await
            .expect("oss emulator starts");
            let pem =
                std::env::temp_dir().join(format!("oss-callback-{}.pem", uuid::Uuid::new_v4()));
            std::fs::write(&pem, emulator.callback_public_key_pem()).expect("write the key");
            vars.insert(OSS_CALLBACK_KEY_FILE.into(), pem.display().to_string());
            pem_file = Some(RemovedOnDrop(pem));
            oss = Some((emulator, clock));
        }
        for configure in self.configure {
            configure(&mut vars);
        }
        vars.remove(OSS_CALLBACK_KEY_FILE);
        let settings = Settings::from_map(&vars).expect("test settings are valid");
        let app = match self.listener {
            Some(listener) => Application::build_on(settings, self.deps, listener),
            None => Application::build(settings, self.deps),
        }
        .expect("broker binds");
        let (port, metrics_port) = (app.port(), app.metrics_port());
        tokio::spawn(app.run_until_stopped());
        let mut client = BrokerClient::at(format!("http://127.0.0.1:{port}"));
        client.metrics_address = format!("http://127.0.0.1:{metrics_port}");
        TestApp {
            client,
            sts,
            vars,
            oss,
            port,
            metrics_port,
            _key_file: pem_file,
        }
    }
}
