//! `sts-broker cors` against the OSS emulator: print, check, apply (OSS V4 header signing with
//! the broker's own identity) and the preflight answers the applied rule produces.

use std::sync::Arc;

use broker_emulators::oss::EmulatedCorsRule;
use sts_broker::bucket_cors::{self as cors, CorsCommand, CorsError};
use sts_broker::clock::SystemClock;
use sts_broker::config::Settings;
use sts_broker::oss::client::OssError;

use crate::harness::{BrokerCommand, TestApp, Vars};

const ORIGIN: &str = "https://app.example.com";

fn settings(app: &TestApp, changes: &[(&str, &str)]) -> Settings {
    let mut vars: Vars = app.vars.clone();
    vars.insert("BROKER_CORS_ORIGINS".into(), ORIGIN.into());
    for (k, v) in changes {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_map(&vars).unwrap()
}

async fn run(settings: &Settings, command: CorsCommand) -> Result<cors::CorsOutcome, CorsError> {
    cors::run(settings, command, Arc::new(SystemClock)).await
}

async fn preflight(app: &TestApp, origin: &str, method: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, app.oss().bucket_url())
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", "content-type, x-oss-date")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn check_apply_check_against_the_emulator() {
    let app = TestApp::builder().with_oss().spawn().await;
    let s = settings(&app, &[]);
    assert_eq!(
        s.default_profile().post.oss_endpoint,
        app.oss().bucket_url(),
        "derived from BROKER_UPLOAD_HOST"
    );

    let printed = run(&s, CorsCommand::Print).await.unwrap();
    assert!(printed
        .report
        .contains("<AllowedOrigin>https://app.example.com</AllowedOrigin>"));
    assert!(printed.report.contains("<ExposeHeader>ETag</ExposeHeader>"));
    assert_eq!(app.oss().request_count(), 0, "printing talks to nobody");

    assert_eq!(preflight(&app, ORIGIN, "POST").await.status().as_u16(), 403);
    let before = run(&s, CorsCommand::Check).await.unwrap();
    assert!(!before.ok);
    assert!(
        before
            .report
            .contains("no rule lets https://app.example.com send POST"),
        "{}",
        before.report
    );

    let applied = run(&s, CorsCommand::Apply).await.unwrap();
    assert!(applied.ok, "{}", applied.report);
    let rules = app.oss().cors_rules().expect("rules stored");
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].origins, [ORIGIN]);
    assert_eq!(rules[0].methods, ["POST", "PUT"]);
    assert_eq!(rules[0].expose, ["ETag", "x-oss-request-id"]);

    let after = run(&s, CorsCommand::Check).await.unwrap();
    assert!(after.ok, "{}", after.report);
    let again = run(&s, CorsCommand::Apply).await.unwrap();
    assert!(again.report.contains("nothing changed"), "{}", again.report);

    let ok = preflight(&app, ORIGIN, "POST").await;
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], ORIGIN);
    assert!(ok.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("ETag"));
    assert_eq!(
        preflight(&app, "https://evil.example.net", "POST")
            .await
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        preflight(&app, ORIGIN, "DELETE").await.status().as_u16(),
        403
    );
    app.assert_no_secrets_leaked(&[&before.report, &after.report, &applied.report]);
}

#[tokio::test]
async fn apply_keeps_the_buckets_other_rules() {
    let app = TestApp::builder().with_oss().spawn().await;
    let other = EmulatedCorsRule {
        origins: vec!["https://admin.example.com".into()],
        methods: vec!["GET".into()],
        headers: vec![],
        expose: vec![],
        max_age: None,
    };
    app.oss().set_cors_rules(Some(vec![other.clone()]));
    let outcome = run(&settings(&app, &[]), CorsCommand::Apply).await.unwrap();
    assert!(outcome.ok);
    let rules = app.oss().cors_rules().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0], other);
}

#[tokio::test]
async fn a_wrong_broker_secret_or_missing_origins_are_errors() {
    let app = TestApp::builder().with_oss().spawn().await;
    let s = settings(
        &app,
        &[(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "not-the-secret-000000000",
        )],
    );
    match run(&s, CorsCommand::Apply).await {
        Err(CorsError::Oss(OssError::Rejected { status, code, .. })) => {
            assert_eq!((status, code.as_str()), (403, "SignatureDoesNotMatch"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(app.oss().cors_rules().is_none());
    let mut vars = app.vars.clone();
    vars.remove("BROKER_CORS_ORIGINS");
    let s = Settings::from_map(&vars).unwrap();
    assert!(matches!(
        run(&s, CorsCommand::Print).await,
        Err(CorsError::NoOrigins)
    ));
}

#[tokio::test]
async fn the_binary_checks_and_applies() {
    let app = TestApp::builder().with_oss().spawn().await;
    let output = |arg: &str| {
        BrokerCommand::new()
            .arg("cors")
            .arg(arg)
            .envs(&app.vars)
            .env("BROKER_CORS_ORIGINS", ORIGIN)
            .output()
    };
    let check = output("--check").await;
    assert_eq!(
        check.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let apply = output("--apply").await;
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let check = output("--check").await;
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let all = [
        String::from_utf8_lossy(&apply.stdout).into_owned(),
        String::from_utf8_lossy(&apply.stderr).into_owned(),
        String::from_utf8_lossy(&check.stdout).into_owned(),
    ];
    for text in &all {
        assert!(!text.contains(&app.broker_secret().unwrap()));
    }
    assert_eq!(app.oss().cors_rules().unwrap().len(), 1);
}

#[tokio::test]
async fn apply_works_with_a_temporary_identity_from_the_metadata_service() {
    use broker_emulators::imds::{ImdsEmulator, ImdsEmulatorConfig};
    let app = TestApp::builder().with_oss().spawn().await;
    let imds = ImdsEmulator::start(
        ImdsEmulatorConfig::new("demo-uploader", Arc::new(SystemClock)),
        app.sts.minter(),
    )
    .await
    .unwrap();
    let mut vars: Vars = app.vars.clone();
    vars.remove("ALIBABA_CLOUD_ACCESS_KEY_ID");
    vars.remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    vars.insert("ALIBABA_CLOUD_ECS_METADATA".into(), "demo-uploader".into());
    vars.insert("BROKER_IMDS_ENDPOINT".into(), imds.endpoint());
    vars.insert("BROKER_CORS_ORIGINS".into(), ORIGIN.into());
    let s = Settings::from_map(&vars).unwrap();
    let applied = run(&s, CorsCommand::Apply).await.unwrap();
    assert!(applied.ok, "{}", applied.report);
    assert_eq!(
        app.oss().cors_rules().expect("rules stored")[0].origins,
        [ORIGIN]
    );
    assert!(run(&s, CorsCommand::Check).await.unwrap().ok);
}
