//! Benchmark helper: the latency a cache miss adds over the STS emulator's own answer time.
//! Times N direct signed AssumeRole calls to the emulator, then N `/getToken` requests to one
//! warmed-up in-process broker, each from a caller it has not seen (so each is a miss and a
//! real AssumeRole), and prints both.
//!
//! usage: bench-miss-latency [samples]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};
use secrecy::SecretString;
use sts_broker::clock::{SystemClock, UuidNonces};
use sts_broker::config::Settings;
use sts_broker::credentials::{AccessKey, RoleArn};
use sts_broker::policy::{upload_session_policy, BucketName};
use sts_broker::startup::{Application, Dependencies};
use sts_broker::sts::client::{AssumeRoleRequest, Priority, StsClient, StsConfig};

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
        StsConfig {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            ..StsConfig::for_endpoint(sts.endpoint().parse().unwrap())
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
                    priority: Priority::First,
                },
            )
            .await
            .expect("direct AssumeRole");
        direct.push(started.elapsed());
    }

    // Through the broker: callers identified by a trusted sidecar header, a new one per
    // sample, so every request misses the cache.
    let vars: HashMap<String, String> = [
        ("BROKER_LISTEN", "127.0.0.1:0".to_owned()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", key_id.clone()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", key_secret.clone()),
        ("BROKER_ROLE_ARN", role.clone()),
        ("BROKER_STS_ENDPOINT", sts.endpoint()),
        ("BROKER_BUCKET", "bench-bucket".to_owned()),
        ("BROKER_REGION", "cn-hangzhou".to_owned()),
        ("BROKER_AUTH", "header".to_owned()),
        ("BROKER_STS_MAX_QPS", "10000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let app = Application::build(Settings::from_map(&vars).unwrap(), Dependencies::default())
        .expect("broker");
    let url = format!("http://127.0.0.1:{}/getToken", app.port());
    let server = tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let get = |caller: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let response = http
                .get(&url)
                .header("X-Authenticated-User", caller)
                .send()
                .await
                .expect("broker answers");
            assert!(response.status().is_success(), "{}", response.status());
            let _ = response.bytes().await;
        }
    };
    // Warm the client-to-broker and broker-to-STS connections.
    get("warm-up".to_owned()).await;
    let mut through = Vec::with_capacity(samples);
    for i in 0..samples {
        let started = Instant::now();
        get(format!("caller-{i}")).await;
        through.push(started.elapsed());
    }
    server.abort();

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
