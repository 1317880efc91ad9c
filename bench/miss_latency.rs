//! Benchmark helper: the latency a cache miss adds over the STS emulator's own answer time.
//! Times N direct signed AssumeRole calls to the emulator, then N cold `/getToken` requests
//! (each against a freshly started in-process broker, so each is a miss), and prints both.
//!
//! usage: bench-miss-latency [samples]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use sts_broker::clock::{SystemClock, UuidNonces};
use sts_broker::config::Settings;
use sts_broker::emulator::sts::{StsEmulator, StsEmulatorConfig};
use sts_broker::policy::{upload_session_policy, BucketName};
use sts_broker::startup::{Application, Dependencies};
use sts_broker::sts::client::{AssumeRoleRequest, StsClient, StsTimeouts};
use sts_broker::sts::types::{AccessKey, RoleArn};

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

#[tokio::main]
async fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let config = StsEmulatorConfig::demo();
    let sts = StsEmulator::start(config.clone()).await.expect("emulator");
    let (key_id, key_secret) = config.access_keys[0].clone();
    let role = format!("acs:ram::{}:role/demo-uploader", config.account_id);

    // Direct: the broker's own signed client straight at the emulator.
    let client = StsClient::new(
        sts.endpoint().parse().unwrap(),
        StsTimeouts {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(5),
        },
        Arc::new(SystemClock),
        Arc::new(UuidNonces),
    )
    .unwrap();
    let identity = AccessKey {
        id: key_id.clone(),
        secret: SecretString::from(key_secret.clone()),
        security_token: None,
    };
    let role_arn = RoleArn::parse(&role).unwrap();
    let policy = upload_session_policy(
        &BucketName::parse("bench-bucket").unwrap(),
        "uploads/anonymous/",
    )
    .unwrap();
    let mut direct = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        client
            .assume_role(
                &identity,
                &AssumeRoleRequest {
                    role_arn: &role_arn,
                    role_session_name: "anonymous",
                    duration_seconds: 3600,
                    policy: &policy,
                },
            )
            .await
            .expect("direct AssumeRole");
        direct.push(started.elapsed());
    }

    // Through the broker: a fresh broker per sample, so every request is a cold miss.
    let http = reqwest::Client::new();
    let mut through = Vec::with_capacity(samples);
    for _ in 0..samples {
        let vars: HashMap<String, String> = [
            ("BROKER_LISTEN", "127.0.0.1:0".to_owned()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", key_id.clone()),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", key_secret.clone()),
            ("BROKER_ROLE_ARN", role.clone()),
            ("BROKER_STS_ENDPOINT", sts.endpoint()),
            ("BROKER_BUCKET", "bench-bucket".to_owned()),
            ("BROKER_REGION", "cn-hangzhou".to_owned()),
            ("BROKER_AUTH", "none".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let app = Application::build(Settings::from_map(&vars).unwrap(), Dependencies::default())
            .expect("broker");
        let url = format!("http://127.0.0.1:{}/getToken", app.port());
        let server = tokio::spawn(app.run_until_stopped());
        // Warm the HTTP connection path with a request that cannot reach STS.
        let _ = http.get(url.replace("/getToken", "/healthz")).send().await;
        let started = Instant::now();
        let response = http.get(&url).send().await.expect("broker answers");
        assert!(response.status().is_success());
        let _ = response.bytes().await;
        through.push(started.elapsed());
        server.abort();
    }

    let d50 = percentile(&mut direct, 0.5);
    let d99 = percentile(&mut direct, 0.99);
    let t50 = percentile(&mut through, 0.5);
    let t99 = percentile(&mut through, 0.99);
    println!("samples {samples}");
    println!("direct AssumeRole to emulator: p50 {d50:?} p99 {d99:?}");
    println!("cold /getToken through broker: p50 {t50:?} p99 {t99:?}");
    let added =
        |through: Duration, direct: Duration| (through.as_secs_f64() - direct.as_secs_f64()) * 1e6;
    println!(
        "added by a miss: p50 {:+.0}µs p99 {:+.0}µs",
        added(t50, d50),
        added(t99, d99)
    );
}
