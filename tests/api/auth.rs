//! Caller authentication end to end: JWT (HS256, RS256/ES256 from a loopback JWKS), API keys,
//! the trusted header and `none`. Every refusal is the same 401.

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use sts_broker::clock::ManualClock;
use sts_broker::config::Settings;

use crate::harness::{captured_log, expect_error, TestApp, Vars};
use crate::jwt_support::*;

/// The one 401 every authentication failure gets.
pub(crate) async fn expect_401(response: reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("Bearer".to_owned())
    );
    let body = expect_error(response, 401, "unauthenticated").await;
    assert_eq!(body["message"], "Authentication is required.");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
}

async fn dir_of(response: reqwest::Response) -> String {
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    body["Dir"].as_str().unwrap().to_owned()
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[tokio::test]
async fn hs256_tokens_are_verified_with_issuer_audience_and_time_checks() {
    let app = TestApp::builder()
        .vars(|vars| jwt_vars(vars, None))
        .spawn()
        .await;
    let key = hs256(HS256_SECRET);

    let token = mint(Algorithm::HS256, &key, None, &claims("alice"));
    assert_eq!(
        dir_of(app.get_token().bearer(&token).await).await,
        "uploads/alice/"
    );
    assert_eq!(app.sts.last_issued().unwrap().role_session_name, "alice");

    // `aud` as a list containing ours; `exp` just past but inside the 30 s leeway.
    let mut c = claims("carol");
    c["aud"] = json!(["other-app", AUDIENCE]);
    c["exp"] = json!(now() - 10);
    assert_eq!(
        dir_of(
            app.get_token()
                .bearer(&mint(Algorithm::HS256, &key, None, &c))
                .await
        )
        .await,
        "uploads/carol/"
    );

    let issued_before = app.sts.issued_count();
    let refused: Vec<(&str, Value)> = vec![
        ("expired", json!({"exp": now() - 120})),
        ("not yet valid", json!({"nbf": now() + 120})),
        ("wrong issuer", json!({"iss": "https://evil.invalid/"})),
        ("wrong audience", json!({"aud": "other-app"})),
        ("no exp", json!({"exp": null})),
        ("no aud", json!({"aud": null})),
        ("no iss", json!({"iss": null})),
        ("numeric sub", json!({"sub": 42})),
        ("no sub", json!({"sub": null})),
    ];
    for (what, change) in refused {
        let mut c = claims("alice");
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        let response = app
            .get_token()
            .bearer(&mint(Algorithm::HS256, &key, None, &c))
            .await;
        assert_eq!(response.status().as_u16(), 401, "{what}");
        expect_401(response).await;
    }

    // Wrong secret, garbage, and not a bearer at all.
    let wrong = mint(
        Algorithm::HS256,
        &hs256("another-secret-another-secret-0123"),
        None,
        &claims("alice"),
    );
    expect_401(app.get_token().bearer(&wrong).await).await;
    expect_401(app.get_token().bearer("not.a.jwt").await).await;
    expect_401(app.get_token().bearer("abc").await).await;
    expect_401(app.get_token().await).await;
    expect_401(
        app.get_token()
            .headers(&[("Authorization", &format!("Basic {token}"))])
            .await,
    )
    .await;
    // A tampered payload with the original signature.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims("bob").to_string())
    };
    expect_401(app.get_token().bearer(&parts.join(".")).await).await;

    assert_eq!(app.sts.issued_count(), issued_before, "no STS call on 401");
    let log = captured_log();
    assert!(log.contains("JWT has expired"), "reason is logged");
    assert!(!log.contains(&token) && !log.contains(&wrong));
}

#[tokio::test]
async fn tokens_issued_in_the_future_or_living_too_long_are_refused() {
    let app = TestApp::builder()
        .vars(|vars| {
            jwt_vars(vars, None);
            vars.insert("BROKER_JWT_MAX_LIFETIME_SECONDS".into(), "86400".into());
        })
        .spawn()
        .await;
    let key = hs256(HS256_SECRET);
    let with = |change: Value| {
        let mut c = claims("alice");
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        mint(Algorithm::HS256, &key, None, &c)
    };
    let accepted = [
        ("an hour", json!({})),
        (
            "exactly the maximum",
            json!({"iat": now() - 100, "exp": now() + 86_300}),
        ),
        ("iat inside the leeway", json!({"iat": now() + 20})),
        ("no iat, an hour left", json!({"iat": null})),
    ];
    for (what, change) in accepted {
        let answer = app.get_token().bearer(&with(change)).await;
        assert_eq!(answer.status().as_u16(), 200, "{what}");
    }
    let issued_before = app.sts.issued_count();
    let refused = [
        ("exp in the year 2200", json!({"exp": 7_258_118_400i64})),
        (
            "a day and a second",
            json!({"iat": now(), "exp": now() + 86_401}),
        ),
        (
            "no iat, two days left",
            json!({"iat": null, "exp": now() + 2 * 86_400}),
        ),
        ("iat two minutes ahead", json!({"iat": now() + 120})),
        ("iat not a number", json!({"iat": "yesterday"})),
        ("nbf not a number", json!({"nbf": "now"})),
    ];
    for (what, change) in refused {
        let response = app.get_token().bearer(&with(change)).await;
        assert_eq!(response.status().as_u16(), 401, "{what}");
        expect_401(response).await;
    }
    assert_eq!(app.sts.issued_count(), issued_before, "no STS call on 401");
    let log = captured_log();
    assert!(log.contains("JWT lives longer than BROKER_JWT_MAX_LIFETIME_SECONDS"));
    assert!(log.contains("JWT is issued in the future (iat)"));
}

#[tokio::test]
async fn without_a_maximum_lifetime_iat_in_the_future_is_still_refused() {
    let app = TestApp::builder()
        .vars(|vars| jwt_vars(vars, None))
        .spawn()
        .await;
    let key = hs256(HS256_SECRET);
    let mut c = claims("alice");
    c["exp"] = json!(7_258_118_400i64);
    assert_eq!(
        dir_of(
            app.get_token()
                .bearer(&mint(Algorithm::HS256, &key, None, &c))
                .await
        )
        .await,
        "uploads/alice/",
        "the maximum lifetime is optional"
    );
    let mut c = claims("alice");
    c["iat"] = json!(now() + 3600);
    expect_401(
        app.get_token()
            .bearer(&mint(Algorithm::HS256, &key, None, &c))
            .await,
    )
    .await;
}

#[tokio::test]
async fn the_subject_claim_can_be_chosen() {
    let app = TestApp::builder()
        .vars(|vars| {
            jwt_vars(vars, None);
            vars.insert("BROKER_JWT_SUBJECT_CLAIM".into(), "uid".into());
        })
        .spawn()
        .await;
    let key = hs256(HS256_SECRET);
    let mut c = claims("ignored-sub");
    c["uid"] = json!("u-1001");
    let token = mint(Algorithm::HS256, &key, None, &c);
    assert_eq!(
        dir_of(app.get_token().bearer(&token).await).await,
        "uploads/u-1001/"
    );
    // Without the chosen claim the token is refused, `sub` is not a fallback.
    let token = mint(Algorithm::HS256, &key, None, &claims("alice"));
    expect_401(app.get_token().bearer(&token).await).await;
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_the_jwks() {
    let (ra, eck) = (rsa(RSA_A), ec(EC_P256));
    let jwks = JwksServer::start(vec![
        public_jwk(&ra, Algorithm::RS256, "rsa-a"),
        public_jwk(&eck, Algorithm::ES256, "ec-1"),
    ])
    .await;
    let app = TestApp::builder()
        .vars(|vars| {
            jwt_vars(vars, Some(&jwks.url));
            vars.remove("BROKER_JWT_HS256_SECRET");
        })
        .spawn()
        .await;
    let rs = mint(Algorithm::RS256, &ra, Some("rsa-a"), &claims("rita"));
    assert_eq!(
        dir_of(app.get_token().bearer(&rs).await).await,
        "uploads/rita/"
    );
    let es = mint(Algorithm::ES256, &eck, Some("ec-1"), &claims("eve"));
    assert_eq!(
        dir_of(app.get_token().bearer(&es).await).await,
        "uploads/eve/"
    );
    assert_eq!(jwks.hits(), 1, "the key set is cached");

    // Signed by a key that is not in the set, under a known kid.
    let rb = rsa(RSA_B);
    let forged = mint(Algorithm::RS256, &rb, Some("rsa-a"), &claims("rita"));
    expect_401(app.get_token().bearer(&forged).await).await;
    // A kid of the wrong family for the algorithm.
    let confused = mint(Algorithm::RS256, &ra, Some("ec-1"), &claims("rita"));
    expect_401(app.get_token().bearer(&confused).await).await;
    // HS256 is not accepted at all without BROKER_JWT_HS256_SECRET.
    let hs = mint(
        Algorithm::HS256,
        &hs256(HS256_SECRET),
        None,
        &claims("rita"),
    );
    expect_401(app.get_token().bearer(&hs).await).await;
}

#[tokio::test]
async fn alg_none_and_algorithm_confusion_are_refused() {
    let ra = rsa(RSA_A);
    let jwks = JwksServer::start(vec![public_jwk(&ra, Algorithm::RS256, "rsa-a")]).await;
    // Both HS256 and JWKS configured: the classic confusion attack signs HS256 with the public
    // key; it must be checked against the HS256 secret only, and fail.
    let app = TestApp::builder()
        .vars(|vars| jwt_vars(vars, Some(&jwks.url)))
        .spawn()
        .await;
    let c = claims("mallory");
    let forged = forge_hs256(
        &json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-a"}),
        &c,
        RSA_A_PUBLIC,
    );
    expect_401(app.get_token().bearer(&forged).await).await;
    expect_401(app.get_token().bearer(&unsigned(&c)).await).await;
    for alg in ["None", "NONE", "nOnE", "HS512", "RS512", "PS256", "EdDSA"] {
        let token = forge_hs256(
            &json!({"alg": alg, "typ": "JWT"}),
            &c,
            HS256_SECRET.as_bytes(),
        );
        expect_401(app.get_token().bearer(&token).await).await;
    }
    // A `crit` header we do not understand.
    let crit = forge_hs256(
        &json!({"alg": "HS256", "crit": ["exp-ext"], "exp-ext": 1}),
        &c,
        HS256_SECRET.as_bytes(),
    );
    expect_401(app.get_token().bearer(&crit).await).await;

    // A token naming its own key set (`jku`) or embedding its own key (`jwk`): never followed.
    let attacker = JwksServer::start(vec![public_jwk(&rsa(RSA_B), Algorithm::RS256, "evil")]).await;
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some("evil".into());
    header.jku = Some(attacker.url.clone());
    header.jwk = Some(public_jwk(&rsa(RSA_B), Algorithm::RS256, "evil"));
    let token = jsonwebtoken::encode(&header, &c, &rsa(RSA_B)).unwrap();
    expect_401(app.get_token().bearer(&token).await).await;
    assert_eq!(attacker.hits(), 0);
    assert_eq!(app.sts.issued_count(), 0);
}

#[tokio::test]
async fn unknown_kids_refetch_the_jwks_at_a_bounded_rate_and_rotation_works() {
    let (ra, rb) = (rsa(RSA_A), rsa(RSA_B));
    let jwks = JwksServer::start(vec![public_jwk(&ra, Algorithm::RS256, "a")]).await;
    let clock = ManualClock::new(chrono::Utc::now());
    let app = TestApp::builder()
        .clock(clock.clone())
        .vars(|vars| {
            jwt_vars(vars, Some(&jwks.url));
            vars.insert("BROKER_JWT_JWKS_MIN_REFETCH_SECONDS".into(), "30".into());
        })
        .spawn()
        .await;
    let token_a = mint(Algorithm::RS256, &ra, Some("a"), &claims("alice"));
    assert_eq!(
        app.get_token().bearer(&token_a).await.status().as_u16(),
        200
    );
    assert_eq!(jwks.hits(), 1);

    // A flood of made-up kids costs nothing within the interval.
    for i in 0..25 {
        let token = mint(
            Algorithm::RS256,
            &rb,
            Some(&format!("made-up-{i}")),
            &claims("x"),
        );
        expect_401(app.get_token().bearer(&token).await).await;
    }
    assert_eq!(jwks.hits(), 1);

    // The issuer rotates to key b: refused until the interval has passed, then fetched once.
    jwks.set_keys(vec![
        public_jwk(&ra, Algorithm::RS256, "a"),
        public_jwk(&rb, Algorithm::RS256, "b"),
    ]);
    let token_b = mint(Algorithm::RS256, &rb, Some("b"), &claims("bob"));
    expect_401(app.get_token().bearer(&token_b).await).await;
    clock.advance(chrono::Duration::seconds(31));
    assert_eq!(
        dir_of(app.get_token().bearer(&token_b).await).await,
        "uploads/bob/"
    );
    assert_eq!(jwks.hits(), 2);
    assert_eq!(
        app.get_token().bearer(&token_a).await.status().as_u16(),
        200
    );
    assert_eq!(jwks.hits(), 2);
}

#[tokio::test]
async fn an_unreachable_jwks_is_a_401_not_a_crash() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/jwks",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let app = TestApp::builder()
        .vars(|vars| jwt_vars(vars, Some(&url)))
        .spawn()
        .await;
    let token = mint(Algorithm::RS256, &rsa(RSA_A), Some("a"), &claims("alice"));
    expect_401(app.get_token().bearer(&token).await).await;
    // HS256 keeps working while the key set is unreachable.
    let hs = mint(
        Algorithm::HS256,
        &hs256(HS256_SECRET),
        None,
        &claims("alice"),
    );
    assert_eq!(app.get_token().bearer(&hs).await.status().as_u16(), 200);
}

pub(crate) const ALICE_KEY: &str = "test-only-api-key-alice-6f1c2a";
pub(crate) const BOB_KEY: &str = "test-only-api-key-bob-93be07";

pub(crate) fn api_key_vars(vars: &mut Vars) {
    vars.insert("BROKER_AUTH".into(), "api-key".into());
    vars.insert(
        "BROKER_API_KEYS".into(),
        format!(
            "alice:{},bob:{}",
            sha256_hex(ALICE_KEY),
            sha256_hex(BOB_KEY)
        ),
    );
    generous_limits(vars);
}

#[tokio::test]
async fn api_keys_as_bearer_or_x_api_key() {
    let app = TestApp::builder().vars(api_key_vars).spawn().await;
    assert_eq!(
        dir_of(app.get_token().bearer(ALICE_KEY).await).await,
        "uploads/alice/"
    );
    assert_eq!(
        dir_of(app.get_token().headers(&[("X-Api-Key", BOB_KEY)]).await).await,
        "uploads/bob/"
    );
    expect_401(
        app.get_token()
            .bearer("test-only-api-key-alice-6f1c2b")
            .await,
    )
    .await;
    expect_401(app.get_token().headers(&[("X-Api-Key", "nope")]).await).await;
    expect_401(app.get_token().await).await;
    // The digest itself is not a key.
    expect_401(app.get_token().bearer(&sha256_hex(ALICE_KEY)).await).await;
    // Two credentials at once are ambiguous.
    expect_401(
        app.get_token()
            .headers(&[
                ("Authorization", &format!("Bearer {ALICE_KEY}")),
                ("X-Api-Key", BOB_KEY),
            ])
            .await,
    )
    .await;
    let log = captured_log();
    assert!(!log.contains(ALICE_KEY) && !log.contains(BOB_KEY));
    assert!(!log.contains(&sha256_hex(ALICE_KEY)));
}

#[tokio::test]
async fn api_keys_can_come_from_a_file() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sts-broker-keys-{}", uuid::Uuid::new_v4()));
    std::fs::write(
        &path,
        format!("# caller:sha256\n\nalice:{}\n", sha256_hex(ALICE_KEY)),
    )
    .unwrap();
    let app = TestApp::builder()
        .vars(|vars| {
            api_key_vars(vars);
            vars.remove("BROKER_API_KEYS");
            vars.insert("BROKER_API_KEYS_FILE".into(), path.display().to_string());
        })
        .spawn()
        .await;
    assert_eq!(
        dir_of(app.get_token().bearer(ALICE_KEY).await).await,
        "uploads/alice/"
    );
    expect_401(app.get_token().bearer(BOB_KEY).await).await;
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn trusted_header_is_honoured_only_from_trusted_proxies() {
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_AUTH".into(), "header".into());
            generous_limits(vars);
        })
        .spawn()
        .await;
    assert_eq!(
        dir_of(
            app.get_token()
                .headers(&[("X-Authenticated-User", "alice")])
                .await
        )
        .await,
        "uploads/alice/"
    );
    expect_401(app.get_token().await).await;
    expect_401(app.get_token().bearer("alice").await).await;

    // Same request from a peer outside BROKER_TRUSTED_PROXIES (loopback is not listed).
    let untrusted = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_AUTH".into(), "header".into());
            vars.insert(
                "BROKER_TRUSTED_PROXIES".into(),
                "10.0.0.0/8, 192.168.0.1".into(),
            );
            vars.insert("BROKER_TRUSTED_HEADER".into(), "X-Forwarded-User".into());
        })
        .spawn()
        .await;
    expect_401(
        untrusted
            .get_token()
            .headers(&[("X-Forwarded-User", "alice")])
            .await,
    )
    .await;
    assert_eq!(untrusted.sts.issued_count(), 0);
    assert!(captured_log().contains("peer not in BROKER_TRUSTED_PROXIES"));
}

fn settings_with(changes: &[(&str, &str)]) -> Result<Settings, sts_broker::config::ConfigError> {
    let mut vars: Vars = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tExampleKey"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "x-secret"),
        ("BROKER_ROLE_ARN", "acs:ram::1234567890123456:role/uploader"),
        ("BROKER_BUCKET", "examplebucket"),
        ("BROKER_REGION", "cn-hangzhou"),
        ("BROKER_AUTH", "none"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in changes {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_map(&vars)
}

#[tokio::test]
async fn auth_none_is_refused_on_a_public_address_unless_allowed_and_warns() {
    let err = settings_with(&[("BROKER_LISTEN", "0.0.0.0:8080")]).unwrap_err();
    assert!(err.mentions("BROKER_AUTH"), "{err}");
    assert!(err.to_string().contains("BROKER_ALLOW_ANONYMOUS"), "{err}");
    assert!(settings_with(&[("BROKER_LISTEN", "[::]:8080"), ("BROKER_AUTH", "none")]).is_err());
    assert!(settings_with(&[
        ("BROKER_LISTEN", "0.0.0.0:8080"),
        ("BROKER_ALLOW_ANONYMOUS", "true")
    ])
    .is_ok());
    assert!(settings_with(&[("BROKER_LISTEN", "[::1]:8080")]).is_ok());
    // Other modes are fine anywhere (header mode there with a Host allow-list).
    assert!(settings_with(&[
        ("BROKER_LISTEN", "0.0.0.0:8080"),
        ("BROKER_AUTH", "header"),
        ("BROKER_ALLOWED_HOSTS", "broker.internal")
    ])
    .is_ok());

    let _app: TestApp = TestApp::builder().spawn().await;
    assert!(captured_log().contains("BROKER_AUTH=none: every caller is `anonymous`"));
}

/// Every `NAME=value` of `.env.example`, commented out or not, whose value is a placeholder.
fn example_placeholders() -> Vec<(String, String, bool)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example"))
        .expect(".env.example");
    text.lines()
        .filter_map(|line| {
            let (active, line) = match line.strip_prefix("# ") {
                Some(rest) => (false, rest),
                None => (true, line),
            };
            let (name, value) = line.split_once('=')?;
            let name_ok = name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            (name_ok && value.contains("REPLACE_WITH_"))
                .then(|| (name.to_owned(), value.trim_matches('\'').to_owned(), active))
        })
        .collect()
}

#[test]
fn every_placeholder_of_the_example_is_refused_without_being_quoted() {
    let placeholders = example_placeholders();
    let names: Vec<&str> = placeholders.iter().map(|(n, _, _)| n.as_str()).collect();
    for expected in [
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
        "BROKER_ROLE_ARN",
        "BROKER_BUCKET",
        "BROKER_REGION",
        "BROKER_AUTH",
        "BROKER_JWT_HS256_SECRET",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} not found in .env.example"
        );
    }
    // Each one alone, in an otherwise valid configuration (the JWT secret in jwt mode).
    for (name, value, _) in &placeholders {
        let mut changes = vec![(name.as_str(), value.as_str())];
        if name.starts_with("BROKER_JWT_") {
            changes.extend([
                ("BROKER_AUTH", "jwt"),
                ("BROKER_JWT_ISSUER", ISSUER),
                ("BROKER_JWT_AUDIENCE", AUDIENCE),
            ]);
        }
        let err = settings_with(&changes).expect_err(name);
        assert!(err.mentions(name), "{name} not named: {err}");
        assert!(!err.to_string().contains(value.as_str()), "{err}");
        for p in err.problems.iter().filter(|p| p.variable == name) {
            assert!(p.reason.contains(STILL_EXAMPLE), "{name}: {err}");
        }
    }
    // The file as it is: every variable it sets is named, once.
    let active: Vars = placeholders
        .iter()
        .filter(|(_, _, active)| *active)
        .map(|(n, v, _)| (n.clone(), v.clone()))
        .collect();
    let err = Settings::from_map(&active).expect_err("the example is not a configuration");
    for name in active.keys() {
        let named = err.problems.iter().filter(|p| p.variable == name).count();
        assert_eq!(named, 1, "{name} in {err}");
    }
    // ... each saying the same thing: none complains about a shape the user never typed.
    for p in &err.problems {
        assert!(p.reason.contains(STILL_EXAMPLE), "{err}");
    }
    // The identity's key alone was accepted before (it is well-formed).
    let err = settings_with(&[("ALIBABA_CLOUD_ACCESS_KEY_ID", "REPLACE_WITH_ACCESS_KEY_ID")])
        .unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert!(err.to_string().contains(STILL_EXAMPLE), "{err}");
}

const STILL_EXAMPLE: &str = "is still the example value from .env.example";

#[test]
fn placeholders_are_refused_in_every_variable_even_unused_ones() {
    // From the deployment examples, and a few a user might write by analogy.
    for (name, value) in [
        ("BROKER_JWT_ISSUER", "https://REPLACE_WITH_IDP_HOST/"),
        (
            "BROKER_JWT_JWKS_URL",
            "https://REPLACE_WITH_IDP_HOST/.well-known/jwks.json",
        ),
        ("BROKER_REDIS_KEY_PREFIX", "REPLACE_WITH_PREFIX:"),
        ("BROKER_UPLOAD_PREFIX", "REPLACE_WITH_DIR/${sub}/"),
        (
            "ALIBABA_CLOUD_ROLE_SESSION_NAME",
            "REPLACE_WITH_SESSION_NAME",
        ),
        ("ALIBABA_CLOUD_PROFILE", "REPLACE_WITH_PROFILE"),
        ("BROKER_TRUSTED_HEADER", "X-REPLACE_WITH_HEADER"),
    ] {
        let err = settings_with(&[(name, value)]).expect_err(name);
        assert!(err.mentions(name), "{name}: {err}");
        assert!(!err.to_string().contains(value), "{err}");
    }
}

#[test]
fn hs256_secrets_with_little_variety_are_refused_without_being_quoted() {
    let jwt = |secret: &str| {
        settings_with(&[
            ("BROKER_AUTH", "jwt"),
            ("BROKER_JWT_HS256_SECRET", secret),
            ("BROKER_JWT_ISSUER", ISSUER),
            ("BROKER_JWT_AUDIENCE", AUDIENCE),
        ])
    };
    for weak in [
        "a".repeat(32),
        "changeme".repeat(4),
        "changeme".repeat(6) + "!",
        "ab".repeat(20),
        "0123456789abcdef".repeat(3),
    ] {
        let err = jwt(&weak).expect_err(&weak);
        assert!(err.mentions("BROKER_JWT_HS256_SECRET"), "{err}");
        assert!(err.to_string().contains("variety"), "{err}");
        assert!(!err.to_string().contains(&weak[..8]), "{err}");
    }
    for fine in [
        HS256_SECRET,
        "q2mJc1Jk8bVd0yCkO7PpZyH3wR6tL9sXf4nE5aU1gIo=",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ] {
        assert!(jwt(fine).is_ok(), "{fine}");
    }
}

#[test]
fn the_maximum_token_lifetime_is_a_whole_number_of_seconds() {
    let jwt = |lifetime: &str| {
        settings_with(&[
            ("BROKER_AUTH", "jwt"),
            ("BROKER_JWT_HS256_SECRET", HS256_SECRET),
            ("BROKER_JWT_ISSUER", ISSUER),
            ("BROKER_JWT_AUDIENCE", AUDIENCE),
            ("BROKER_JWT_MAX_LIFETIME_SECONDS", lifetime),
        ])
    };
    let max = |s: Settings| s.access.jwt.unwrap().max_lifetime;
    assert_eq!(
        max(jwt("86400").unwrap()),
        Some(std::time::Duration::from_secs(86400))
    );
    assert_eq!(max(jwt("").unwrap()), None);
    for bad in ["0", "forever", "-1", "31536001"] {
        let err = jwt(bad).expect_err(bad);
        assert!(err.mentions("BROKER_JWT_MAX_LIFETIME_SECONDS"), "{err}");
    }
}

#[test]
fn auth_configuration_problems_are_reported_together() {
    let err = settings_with(&[
        ("BROKER_AUTH", "jwt"),
        ("BROKER_JWT_HS256_SECRET", "short"),
        ("BROKER_JWT_JWKS_URL", "http://idp.example.com/jwks"),
        ("BROKER_CORS_ORIGINS", "*"),
        ("BROKER_RATE_LIMIT_PER_MINUTE", "0"),
        ("BROKER_RATE_LIMIT_BURST", "many"),
    ])
    .unwrap_err();
    for var in [
        "BROKER_JWT_HS256_SECRET",
        "BROKER_JWT_JWKS_URL",
        "BROKER_JWT_ISSUER",
        "BROKER_JWT_AUDIENCE",
        "BROKER_CORS_ORIGINS",
        "BROKER_RATE_LIMIT_PER_MINUTE",
        "BROKER_RATE_LIMIT_BURST",
    ] {
        assert!(err.mentions(var), "{var} missing from {err}");
    }
    assert!(!err.to_string().contains("short"), "{err}");

    let err = settings_with(&[
        ("BROKER_AUTH", "api-key"),
        ("BROKER_API_KEYS", "alice:abc,../bob:00"),
    ])
    .unwrap_err();
    assert!(err.mentions("BROKER_API_KEYS"), "{err}");
    let err = settings_with(&[
        ("BROKER_AUTH", "header"),
        ("BROKER_TRUSTED_PROXIES", "10.0.0.0/40"),
        ("BROKER_TRUSTED_HEADER", "Authorization"),
    ])
    .unwrap_err();
    assert!(err.mentions("BROKER_TRUSTED_PROXIES") && err.mentions("BROKER_TRUSTED_HEADER"));
}
