//! The broker's own identity from every source of the chain, end to end: static keys with a
//! token, RRSA with a rotated token file, each credentials-file type, the ECS instance role over
//! IMDSv2, v1 fallback and v1 disabled; refresh across expiry on a manual clock shared by the
//! broker and the emulators, and the forced refresh on `InvalidSecurityToken.*`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use broker_emulators::imds::{ImdsEmulator, ImdsEmulatorConfig};
use broker_emulators::sts::{EmulatedRole, Fault, StsEmulatorConfig};
use chrono::{Duration, DurationRound as _, Utc};
use serde_json::{json, Value};
use sts_broker::clock::{Clock as _, ManualClock};

use crate::harness::{captured_log, BrokerCommand, Sts, TestApp};

/// The role the broker's own identity assumes; the emulator's roles default to 1 h sessions.
const BROKER_ROLE: &str = "broker-identity";

/// One STS emulator and one manual clock shared by every broker a test spawns, a directory
/// for token and credentials files, and a counter that makes every request a new caller.
struct World {
    clock: ManualClock,
    sts: Sts,
    dir: PathBuf,
    /// For requests straight to the emulators.
    http: reqwest::Client,
    callers: std::sync::atomic::AtomicUsize,
}

async fn world() -> World {
    // Whole seconds, so the emulators' second-precision stamps line up with the clock.
    let start = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let clock = ManualClock::new(start);
    let mut config = StsEmulatorConfig::demo();
    config.roles.push(EmulatedRole {
        name: BROKER_ROLE.into(),
        max_session_duration: 3600,
    });
    config.clock = Arc::new(clock.clone());
    let sts = Sts::start(config).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sts-broker-identity-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    World {
        clock,
        sts,
        dir,
        http: reqwest::Client::new(),
        callers: std::sync::atomic::AtomicUsize::new(0),
    }
}

impl World {
    fn role_arn(&self, role: &str) -> String {
        format!("acs:ram::{}:role/{role}", self.sts.config.account_id)
    }

    fn provider_arn(&self) -> String {
        format!(
            "acs:ram::{}:oidc-provider/ack-rrsa-test",
            self.sts.config.account_id
        )
    }

    /// A broker on the shared emulator and manual clock, with no identity but `identity`.
    async fn spawn(&self, identity: &[(&str, String)]) -> TestApp {
        TestApp::builder()
            .sts(&self.sts)
            .clock(self.clock.clone())
            .vars(|vars| {
                vars.remove("ALIBABA_CLOUD_ACCESS_KEY_ID");
                vars.remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
                // Every request comes from a new caller (see `get_token`), so each one reaches
                // STS instead of being answered from the credential cache.
                vars.insert("BROKER_AUTH".into(), "header".into());
                vars.insert("BROKER_RATE_LIMIT_PER_MINUTE".into(), "100000".into());
                vars.insert("BROKER_RATE_LIMIT_BURST".into(), "10000".into());
                for (k, v) in identity {
                    vars.insert((*k).to_owned(), v.clone());
                }
            })
            .spawn()
            .await
    }

    async fn get_token(&self, broker: &TestApp) -> (u16, Value) {
        let caller = self
            .callers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = broker
            .get_token()
            .header("X-Authenticated-User", format!("caller-{caller}"))
            .await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// A JWT-shaped token expiring `exp_in` seconds after the clock's now (not signed: the
    /// emulator checks shape and expiry only).
    fn jwt(&self, sub: &str, exp_in: i64) -> String {
        let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let now = self.clock.now().timestamp();
        format!(
            "{}.{}.{}",
            part(json!({"alg": "RS256", "kid": "test"})),
            part(json!({
                "iss": "https://oidc-ack.cn-hangzhou.example/test",
                "sub": sub,
                "aud": ["sts.aliyuncs.com"],
                "iat": now,
                "exp": now + exp_in,
            })),
            URL_SAFE_NO_PAD.encode(format!("signature-of-{sub}"))
        )
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn last_caller(&self) -> String {
        self.sts
            .assume_role_callers()
            .last()
            .cloned()
            .expect("an AssumeRole was accepted")
    }

    /// No credential either emulator handed out, no OIDC token and nothing in `extra` is in
    /// the captured log.
    fn assert_no_secrets_leaked(&self, extra: &[String]) {
        let log = captured_log();
        let mut secrets: Vec<String> = extra.to_vec();
        secrets.extend(self.sts.secrets());
        for secret in &secrets {
            assert!(!log.contains(secret.as_str()), "a secret reached the log");
        }
    }

    async fn imds(&self, configure: impl FnOnce(&mut ImdsEmulatorConfig)) -> ImdsEmulator {
        let mut config = ImdsEmulatorConfig::new(BROKER_ROLE, Arc::new(self.clock.clone()));
        configure(&mut config);
        ImdsEmulator::start(config, self.sts.minter())
            .await
            .expect("metadata emulator")
    }
}

/// Polls `done` for up to two seconds of real time (background loads run on their own task).
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn static_keys_with_a_security_token_sign_assume_role_and_are_never_refreshed() {
    let w = world().await;
    let own = w.sts.mint_for_role(BROKER_ROLE, 3600).expect("role exists");
    let broker = w
        .spawn(&[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", own.access_key_id.clone()),
            (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                own.access_key_secret.clone(),
            ),
            ("ALIBABA_CLOUD_SECURITY_TOKEN", own.security_token.clone()),
        ])
        .await;
    let (status, body) = w.get_token(&broker).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.last_caller(), own.access_key_id);

    // A static token STS calls expired cannot be refreshed: the refusal, without a retry.
    assert!(w.sts.expire_credential(&own.access_key_id));
    let before = w.sts.request_count();
    let (status, body) = w.get_token(&broker).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["upstream_code"], "InvalidSecurityToken.Expired");
    assert_eq!(w.sts.request_count(), before + 1, "no retry");
    w.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn rrsa_assumes_role_with_oidc_and_rereads_the_rotated_token_file() {
    let w = world().await;
    let first = w.jwt("system:serviceaccount:uploads:sts-broker", 3600);
    let token_file = w.write("token", &first);
    let broker = w
        .spawn(&[
            ("ALIBABA_CLOUD_ROLE_ARN", w.role_arn(BROKER_ROLE)),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", w.provider_arn()),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file.clone()),
            ("ALIBABA_CLOUD_ROLE_SESSION_NAME", "broker-pod".into()),
        ])
        .await;
    let (status, body) = w.get_token(&broker).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        w.sts.oidc_tokens(),
        vec![first.clone()],
        "one load, single flight"
    );
    let own = w
        .sts
        .issued(&w.last_caller())
        .expect("an emulator credential");
    assert_eq!(
        (own.role_arn.as_str(), own.role_session_name.as_str()),
        (w.role_arn(BROKER_ROLE).as_str(), "broker-pod")
    );

    // The kubelet rotates the token; 50 minutes on, the identity is inside its refresh window
    // (a fifth of 3600 s plus jitter): the old key still serves while a background load runs.
    let second = w.jwt("system:serviceaccount:uploads:sts-broker", 3 * 3600);
    w.write("token", &second);
    w.clock.advance(Duration::minutes(50));
    let (status, _) = w.get_token(&broker).await;
    assert_eq!(status, 200);
    eventually("the rotated token to be used", || {
        w.sts.oidc_tokens() == vec![first.clone(), second.clone()]
    })
    .await;

    // Past the first identity's expiry, AssumeRole is signed with the second one.
    w.clock.advance(Duration::minutes(15));
    let (status, body) = w.get_token(&broker).await;
    assert_eq!(status, 200, "{body}");
    let now_signing = w.last_caller();
    assert_ne!(now_signing, own.access_key_id);
    assert_eq!(w.sts.oidc_tokens().len(), 2);
    w.assert_no_secrets_leaked(&[first, second]);
}

#[tokio::test]
async fn credentials_file_profiles_of_every_type() {
    let w = world().await;
    let imds = w.imds(|_| {}).await;
    let (key_id, key_secret) = w.sts.config.access_keys[0].clone();
    let token_file = w.write("token", &w.jwt("file-profile", 3 * 3600));
    let file = w.write(
        "credentials",
        &format!(
            "[default]\ntype = access_key\naccess_key_id = {key_id}\naccess_key_secret = {key_secret}\n\n\
             [chain]\ntype = ram_role_arn\naccess_key_id = {key_id}\naccess_key_secret = {key_secret}\n\
             role_arn = {}\nrole_session_name = broker-chain\n\n\
             [rrsa]\ntype = oidc_role_arn\noidc_provider_arn = {}\noidc_token_file_path = {token_file}\n\
             role_arn = {}\nrole_session_name = broker-file-oidc\n\n\
             [ecs]\ntype = ecs_ram_role\nrole_name = {BROKER_ROLE}\n",
            w.role_arn(BROKER_ROLE),
            w.provider_arn(),
            w.role_arn(BROKER_ROLE),
        ),
    );
    let profile = |profile: &str| {
        [
            ("ALIBABA_CLOUD_CREDENTIALS_FILE", file.clone()),
            ("ALIBABA_CLOUD_PROFILE", profile.into()),
            ("BROKER_IMDS_ENDPOINT", imds.endpoint()),
        ]
    };
    let session_of_caller = |w: &World| {
        w.sts
            .issued(&w.last_caller())
            .map(|c| (c.role_arn, c.role_session_name))
    };

    let (status, body) = w.get_token(&w.spawn(&profile("default")).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        w.last_caller(),
        key_id,
        "access_key signs with the file's key"
    );

    let (status, body) = w.get_token(&w.spawn(&profile("chain")).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        session_of_caller(&w),
        Some((w.role_arn(BROKER_ROLE), "broker-chain".into())),
        "ram_role_arn signs with the role session its key assumed"
    );

    let (status, body) = w.get_token(&w.spawn(&profile("rrsa")).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        session_of_caller(&w),
        Some((w.role_arn(BROKER_ROLE), "broker-file-oidc".into()))
    );
    assert_eq!(w.sts.oidc_tokens().len(), 1);

    let (status, body) = w.get_token(&w.spawn(&profile("ecs")).await).await;
    assert_eq!(status, 200, "{body}");
    let served: Vec<String> = imds.served().into_iter().map(|c| c.access_key_id).collect();
    assert!(
        served.contains(&w.last_caller()),
        "ecs_ram_role signs with the instance role"
    );
    w.assert_no_secrets_leaked(&[key_secret]);
}

#[tokio::test]
async fn ecs_role_over_imdsv2_discovers_the_role_and_always_sends_the_token() {
    let w = world().await;
    let imds = w.imds(|c| c.require_token = true).await;
    let broker = w
        .spawn(&[
            ("ALIBABA_CLOUD_ECS_METADATA", "auto".into()),
            ("BROKER_IMDS_ENDPOINT", imds.endpoint()),
        ])
        .await;
    let (status, body) = w.get_token(&broker).await;
    assert_eq!(status, 200, "{body}");
    let stats = imds.stats();
    assert!(stats.token_requests >= 1, "{stats:?}");
    assert!(
        stats.gets_with_token >= 2,
        "role listing and credentials: {stats:?}"
    );
    assert_eq!(stats.gets_without_token, 0, "{stats:?}");
    assert_eq!(imds.served()[0].access_key_id, w.last_caller());
    w.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn ecs_role_falls_back_to_imdsv1_without_a_token_endpoint() {
    let w = world().await;
    let imds = w.imds(|c| c.token_endpoint = false).await;
    let broker = w
        .spawn(&[
            ("ALIBABA_CLOUD_ECS_METADATA", BROKER_ROLE.into()),
            ("BROKER_IMDS_ENDPOINT", imds.endpoint()),
        ])
        .await;
    let (status, body) = w.get_token(&broker).await;
    assert_eq!(status, 200, "{body}");
    let stats = imds.stats();
    assert!(stats.token_requests >= 1, "v2 is tried first: {stats:?}");
    assert!(stats.gets_without_token >= 1, "{stats:?}");
    assert_eq!(imds.served()[0].access_key_id, w.last_caller());
    w.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn ecs_role_with_imdsv1_disabled_never_sends_a_tokenless_request() {
    let w = world().await;
    let imds = w.imds(|c| c.token_endpoint = false).await;
    let broker = w
        .spawn(&[
            ("ALIBABA_CLOUD_ECS_METADATA", BROKER_ROLE.into()),
            ("ALIBABA_CLOUD_IMDSV1_DISABLED", "true".into()),
            ("BROKER_IMDS_ENDPOINT", imds.endpoint()),
        ])
        .await;
    let (status, body) = w.get_token(&broker).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("upstream-unavailable")),
        "{body}"
    );
    let stats = imds.stats();
    assert!(stats.token_requests >= 1, "{stats:?}");
    assert_eq!(
        (stats.gets_without_token, stats.credentials_served),
        (0, 0),
        "{stats:?}"
    );
    assert_eq!(w.sts.request_count(), 0, "no STS call without an identity");
}

#[tokio::test]
async fn an_identity_that_expires_during_the_run_is_refreshed_and_get_token_keeps_working() {
    let w = world().await;
    let imds = w.imds(|c| c.credential_seconds = 3600).await;
    let broker = w
        .spawn(&[
            ("ALIBABA_CLOUD_ECS_METADATA", BROKER_ROLE.into()),
            ("BROKER_IMDS_ENDPOINT", imds.endpoint()),
        ])
        .await;
    let mut signers = Vec::new();
    for round in 0..3 {
        let (status, body) = w.get_token(&broker).await;
        assert_eq!(status, 200, "round {round}: {body}");
        signers.push(w.last_caller());
        // Well past the identity's expiry: the next call must load a new one first.
        w.clock.advance(Duration::minutes(90));
    }
    signers.dedup();
    assert_eq!(signers.len(), 3, "a new identity each round: {signers:?}");
    let served: Vec<String> = imds.served().into_iter().map(|c| c.access_key_id).collect();
    assert!(signers.iter().all(|s| served.contains(s)));
    // The metrics report how long the broker's own (temporary) identity has left.
    assert_eq!(w.get_token(&broker).await.0, 200);
    let metrics = broker.metrics().await.text().await.unwrap();
    let left: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sts_broker_identity_expires_in_seconds "))
        .expect("identity expiry gauge")
        .parse()
        .unwrap();
    assert!(left > 0.0 && left <= 3600.0, "{left}");
    w.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn invalid_security_token_forces_one_refresh_and_one_retry() {
    let w = world().await;
    let token_file = w.write("token", &w.jwt("retry", 3 * 3600));
    let broker = w
        .spawn(&[
            ("ALIBABA_CLOUD_ROLE_ARN", w.role_arn(BROKER_ROLE)),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", w.provider_arn()),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file),
        ])
        .await;
    assert_eq!(w.get_token(&broker).await.0, 200);
    let first = w.last_caller();

    // STS says the (locally still valid) identity expired: refresh once, retry once.
    w.sts.expire_credential(&first);
    let before = w.sts.request_count();
    let (status, body) = w.get_token(&broker).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(w.last_caller(), first);
    assert_eq!(w.sts.oidc_tokens().len(), 2);
    assert_eq!(
        w.sts.request_count(),
        before + 3,
        "AssumeRole, AssumeRoleWithOIDC, AssumeRole"
    );
    w.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn a_second_invalid_security_token_is_returned_without_another_retry() {
    let w = world().await;
    let imds = w.imds(|_| {}).await;
    let broker = w
        .spawn(&[
            ("ALIBABA_CLOUD_ECS_METADATA", BROKER_ROLE.into()),
            ("BROKER_IMDS_ENDPOINT", imds.endpoint()),
        ])
        .await;
    assert_eq!(w.get_token(&broker).await.0, 200);
    let (sts_before, served_before) = (w.sts.request_count(), imds.stats().credentials_served);
    w.sts.enqueue_faults([
        Fault::Reject("InvalidSecurityToken.Expired"),
        Fault::Reject("InvalidSecurityToken.Expired"),
    ]);
    let (status, body) = w.get_token(&broker).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["upstream_code"], "InvalidSecurityToken.Expired");
    assert_eq!(w.sts.request_count(), sts_before + 2, "exactly one retry");
    assert_eq!(
        imds.stats().credentials_served,
        served_before + 1,
        "exactly one forced refresh"
    );
    w.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn startup_without_any_identity_source_lists_what_was_tried() {
    let output = BrokerCommand::new()
        .home()
        .env("BROKER_ROLE_ARN", "acs:ram::1234567890123456:role/r")
        .env("BROKER_BUCKET", "b-bucket")
        .env("BROKER_REGION", "cn-hangzhou")
        .env("BROKER_AUTH", "none")
        .output()
        .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "invalid configuration (1 problem)",
        "ALIBABA_CLOUD_ACCESS_KEY_ID: no identity for calling STS; tried, in order:",
        "1. static keys",
        "2. RRSA/OIDC",
        "3. credentials file",
        "4. ECS instance role: ALIBABA_CLOUD_ECS_METADATA is not set",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from:\n{stderr}");
    }
}

/// Parameters to replace (`Some`) or remove (`None`) in a good request.
type Changes = Vec<(&'static str, Option<String>)>;

#[tokio::test]
async fn sts_emulator_is_strict_about_assume_role_with_oidc() {
    let w = world().await;
    let now = w.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let good_token = w.jwt("strict", 600);
    let good: Vec<(&str, String)> = vec![
        ("Action", "AssumeRoleWithOIDC".into()),
        ("Version", "2015-04-01".into()),
        ("Format", "JSON".into()),
        ("Timestamp", now),
        ("RoleArn", w.role_arn(BROKER_ROLE)),
        ("OIDCProviderArn", w.provider_arn()),
        ("OIDCToken", good_token.clone()),
        ("RoleSessionName", "strict-session".into()),
        ("DurationSeconds", "900".into()),
    ];
    let call = |changes: Changes| {
        let mut params = good.clone();
        for (name, value) in changes {
            params.retain(|(k, _)| *k != name);
            params.extend(value.map(|v| (name, v)));
        }
        let http = w.http.clone();
        let url = format!("{}/", w.sts.endpoint());
        async move {
            let r = http.post(url).form(&params).send().await.expect("sent");
            let status = r.status().as_u16();
            let body: Value = r.json().await.expect("JSON");
            (
                status,
                body["Code"].as_str().unwrap_or("<none>").to_owned(),
                body,
            )
        }
    };
    let (status, _, body) = call(vec![]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["OIDCTokenInfo"]["Subject"], "strict");
    assert!(body["Credentials"]["AccessKeyId"]
        .as_str()
        .is_some_and(|id| id.starts_with("STS.")));
    assert_eq!(
        body["AssumedRoleUser"]["Arn"],
        format!("{}/strict-session", w.role_arn(BROKER_ROLE))
    );

    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let not_json = format!(
        "{}.{}.c2ln",
        part(json!({"alg": "RS256"})),
        URL_SAFE_NO_PAD.encode("not json")
    );
    let no_sub = format!(
        "{}.{}.c2ln",
        part(json!({"alg": "RS256"})),
        part(json!({"iss": "i", "exp": 1}))
    );
    let other_account = "acs:ram::9999999999999999:oidc-provider/ack-rrsa-test".to_owned();
    #[rustfmt::skip]
    let cases: Vec<(Changes, u16, &str)> = vec![
        (vec![("AccessKeyId", Some("LTAI5tDemoBrokerKey00001".into()))], 400, "InvalidParameter"),
        (vec![("Signature", Some("x".into()))], 400, "InvalidParameter"),
        (vec![("Timestamp", None)], 400, "MissingParameter"),
        (vec![("Version", Some("2014-05-26".into()))], 400, "InvalidParameter"),
        (vec![("OIDCProviderArn", None)], 400, "MissingParameter"),
        (vec![("OIDCProviderArn", Some(w.role_arn(BROKER_ROLE)))], 400, "InvalidParameter.OIDCProviderArn"),
        (vec![("OIDCProviderArn", Some(other_account))], 401, "AuthenticationFail.NoPermission"),
        (vec![("OIDCToken", None)], 400, "MissingParameter"),
        (vec![("OIDCToken", Some("a.b".into()))], 401, "AuthenticationFail.OIDCToken.Invalid"),
        (vec![("OIDCToken", Some(not_json))], 401, "AuthenticationFail.OIDCToken.Invalid"),
        (vec![("OIDCToken", Some(no_sub))], 401, "AuthenticationFail.OIDCToken.Invalid"),
        (vec![("OIDCToken", Some(format!("{good_token}=")))], 401, "AuthenticationFail.OIDCToken.Invalid"),
        (vec![("OIDCToken", Some(w.jwt("late", -1)))], 401, "AuthenticationFail.OIDCToken.Expired"),
        (vec![("RoleArn", Some(w.role_arn("nope")))], 404, "EntityNotExist.Role"),
        (vec![("RoleArn", Some("broker-identity".into()))], 400, "InvalidParameter.RoleArn"),
        (vec![("RoleSessionName", Some("x".into()))], 400, "InvalidParameter.RoleSessionName"),
        (vec![("DurationSeconds", Some("7200".into()))], 400, "InvalidParameter.DurationSeconds"),
        (vec![("DurationSeconds", Some("899".into()))], 400, "InvalidParameter.DurationSeconds"),
    ];
    for (changes, want_status, want_code) in cases {
        let shown = format!("{changes:?}");
        let (status, code, body) = call(changes).await;
        assert_eq!(
            (status, code.as_str()),
            (want_status, want_code),
            "{shown}: {body}"
        );
    }
    assert_eq!(w.sts.oidc_tokens(), vec![good_token]);
}

#[tokio::test]
async fn metadata_emulator_enforces_its_token_rules() {
    let w = world().await;
    let imds = w.imds(|c| c.require_token = true).await;
    let base = imds.endpoint();
    let put = |ttl: Option<&str>, forwarded: bool| {
        let mut r = w.http.put(format!("{base}/latest/api/token"));
        if let Some(ttl) = ttl {
            r = r.header("X-aliyun-ecs-metadata-token-ttl-seconds", ttl);
        }
        if forwarded {
            r = r.header("X-Forwarded-For", "10.0.0.1");
        }
        async move { r.send().await.expect("sent") }
    };
    assert_eq!(put(None, false).await.status().as_u16(), 400);
    assert_eq!(put(Some("21601"), false).await.status().as_u16(), 400);
    assert_eq!(put(Some("0"), false).await.status().as_u16(), 400);
    assert_eq!(put(Some("60"), true).await.status().as_u16(), 403);
    let token = put(Some("60"), false).await.text().await.unwrap();
    let get = |path: &str, token: Option<&str>| {
        let mut r = w.http.get(format!(
            "{base}/latest/meta-data/ram/security-credentials/{path}"
        ));
        if let Some(t) = token {
            r = r.header("X-aliyun-ecs-metadata-token", t);
        }
        async move { r.send().await.expect("sent") }
    };
    assert_eq!(
        get("", None).await.status().as_u16(),
        401,
        "hardened: v1 refused"
    );
    assert_eq!(get("", Some("forged")).await.status().as_u16(), 401);
    assert_eq!(
        get("", Some(&token)).await.text().await.unwrap(),
        BROKER_ROLE
    );
    assert_eq!(get("other-role", Some(&token)).await.status().as_u16(), 404);
    let creds: Value = get(BROKER_ROLE, Some(&token)).await.json().await.unwrap();
    assert_eq!(creds["Code"], "Success");
    for field in [
        "AccessKeyId",
        "AccessKeySecret",
        "SecurityToken",
        "Expiration",
        "LastUpdated",
    ] {
        assert!(
            creds[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}: {creds}"
        );
    }
    // STS knows the minted credential; the session token lapses after its TTL.
    let issued = w
        .sts
        .issued(creds["AccessKeyId"].as_str().unwrap())
        .expect("minted via STS");
    assert_eq!(issued.role_arn, w.role_arn(BROKER_ROLE));
    w.clock.advance(Duration::seconds(61));
    assert_eq!(
        get("", Some(&token)).await.status().as_u16(),
        401,
        "token expired"
    );
}
