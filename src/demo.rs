//! `sts-broker demo`: the broker wired to the built-in STS and OSS emulators on loopback, with no cloud
//! account and no configuration beyond an optional `BROKER_LISTEN`. Never used by `serve`.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::startup::{Application, Dependencies};
use broker_emulators::oss::{EmulatedCorsRule, OssEmulator, OssEmulatorConfig};
use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};

pub const DEMO_BUCKET: &str = "demo-bucket";
pub const DEMO_REGION: &str = "cn-hangzhou";
pub const DEMO_ROLE: &str = "demo-uploader";

/// The settings `demo` runs the broker with, pointed at an emulator.
pub fn demo_settings(
    emulator: &StsEmulator,
    config: &StsEmulatorConfig,
    listen: SocketAddr,
) -> Result<Settings, crate::config::ConfigError> {
    let (key_id, key_secret) = config
        .access_keys
        .first()
        .cloned()
        .expect("the demo emulator has an access key");
    let vars: HashMap<String, String> = [
        ("BROKER_LISTEN", listen.to_string()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", key_id),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", key_secret),
        (
            "BROKER_ROLE_ARN",
            format!("acs:ram::{}:role/{DEMO_ROLE}", config.account_id),
        ),
        ("BROKER_STS_ENDPOINT", emulator.endpoint()),
        ("BROKER_BUCKET", DEMO_BUCKET.to_owned()),
        ("BROKER_REGION", DEMO_REGION.to_owned()),
        ("BROKER_AUTH", "none".to_owned()),
        // The demo hands out only the emulator's credentials, so anonymous callers are fine
        // even on a non-loopback address (a container publishing its port, say).
        ("BROKER_ALLOW_ANONYMOUS", "true".to_owned()),
        ("BROKER_LOG_FORMAT", "pretty".to_owned()),
        ("BROKER_SHUTDOWN_TIMEOUT_SECONDS", "5".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(PASSED_THROUGH.iter().filter_map(|name| {
        std::env::var(name)
            .ok()
            .map(|value| ((*name).to_owned(), value))
    }))
    .collect();
    Settings::from_map(&vars)
}

/// The bucket CORS rule that lets the demo page (served by the broker at `address`) post forms
/// and read objects back (protocol.md §5.6): its origin as a browser may spell it.
pub fn demo_page_cors_rule(address: SocketAddr) -> EmulatedCorsRule {
    let port = address.port();
    let mut origins = vec![format!("http://{address}")];
    if address.ip().is_loopback() || address.ip().is_unspecified() {
        origins.push(format!("http://127.0.0.1:{port}"));
        origins.push(format!("http://localhost:{port}"));
    }
    origins.dedup();
    EmulatedCorsRule {
        origins,
        methods: vec!["GET".into(), "POST".into(), "HEAD".into()],
        headers: vec!["*".into()],
        expose: vec!["ETag".into(), "x-oss-request-id".into()],
        max_age: Some(600),
    }
}

/// Variables `demo` takes from the environment on top of its fixed settings (e.g. generous rate
/// limits for a load or contract test); a bad value stops the demo with the usual
/// configuration message, from [`demo_settings`].
pub const PASSED_THROUGH: &[&str] = &["BROKER_RATE_LIMIT_PER_MINUTE", "BROKER_RATE_LIMIT_BURST"];

/// Runs the demo until SIGINT (Ctrl-C) or SIGTERM, then stops gracefully like `serve`.
/// `listen` comes from `BROKER_LISTEN` (default 127.0.0.1:8080).
pub async fn run(listen: SocketAddr) -> std::io::Result<()> {
    let config = StsEmulatorConfig::demo();
    let emulator_listener = TcpListener::bind(("127.0.0.1", 0))?;
    let emulator = StsEmulator::start_on(config.clone(), emulator_listener).await?;
    let mut settings = demo_settings(&emulator, &config, listen).map_err(std::io::Error::other)?;
    let oss = OssEmulator::start_on(
        OssEmulatorConfig {
            bucket: DEMO_BUCKET.to_owned(),
            region: DEMO_REGION.to_owned(),
            keys: emulator.keys(),
            clock: std::sync::Arc::new(SystemClock),
        },
        TcpListener::bind(("127.0.0.1", 0))?,
    )
    .await?;
    // Path-style on loopback: forms are posted to the emulated bucket.
    settings.upload.host = oss.bucket_url();
    settings.post.oss_endpoint = oss.bucket_url();
    let broker_listener = TcpListener::bind(listen)?;
    let address = broker_listener.local_addr()?;
    // The demo page is served by the broker and posts to the emulated bucket on another port.
    oss.set_cors_rules(Some(vec![demo_page_cors_rule(address)]));
    let app = Application::build_with_routes(
        settings,
        Dependencies::default(),
        broker_listener,
        crate::routes::demo_page::configure,
    )?;
    println!(
        "sts-broker demo\n\
         \n  broker:        http://{address}\n  STS emulator:  {}\n  OSS emulator:  {}\n  bucket:        {DEMO_BUCKET} ({DEMO_REGION}), callers are `anonymous`\n\
         \nUpload a file from a browser:\n  http://{address}/demo\n\nTry:\n  curl -s http://{address}/getToken\n  curl -s http://{address}/getPostObjectParams\n  curl -s http://{address}/healthz\n  curl -s http://{address}/readyz\n  curl -s http://{address}/metrics\n\
         \nPress Ctrl-C to stop (in-flight requests finish first).",
        emulator.endpoint(),
        oss.bucket_url()
    );
    let result = app.run_until_signalled().await;
    oss.stop().await;
    emulator.stop().await;
    // stdout may be a closed pipe by now (`demo | head`); the message is not worth a panic.
    let _ = writeln!(std::io::stdout(), "sts-broker demo stopped");
    result
}
