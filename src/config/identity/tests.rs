//! The provider chain's tests: order, partial sources, profiles, the "tried" list.

use super::*;
use crate::config::Problem;
use std::collections::HashMap;
use std::path::Path;

/// A fresh directory, removed with its contents when dropped.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir() -> TempDir {
    let dir = std::env::temp_dir().join(format!("sts-broker-chain-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn run(vars: &[(&str, &str)]) -> Result<Identity, Vec<Problem>> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = |name: &str| map.get(name).cloned();
    let mut r = Reader::new(&lookup);
    let found = read(&mut r);
    match found {
        Some(identity) if r.problems.is_empty() => Ok(identity),
        _ => Err(r.problems),
    }
}

fn problems(vars: &[(&str, &str)]) -> String {
    let err = run(vars).expect_err("refused");
    err.iter()
        .map(|p| format!("{}: {}", p.variable, p.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

const PROVIDER: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1";
const ROLE: &str = "acs:ram::1234567890123456:role/broker";

#[test]
fn nothing_configured_lists_every_source_tried() {
    let home = dir();
    let shown = problems(&[("HOME", home.to_str().unwrap())]);
    assert!(
        shown.starts_with("ALIBABA_CLOUD_ACCESS_KEY_ID: no identity"),
        "{shown}"
    );
    for needle in [
        "1. static keys",
        "2. RRSA/OIDC",
        "3. credentials file",
        ".alibabacloud/credentials: not found",
        "4. ECS instance role: ALIBABA_CLOUD_ECS_METADATA is not set",
    ] {
        assert!(shown.contains(needle), "{needle} missing from {shown}");
    }
    let shown = problems(&[
        ("ALIBABA_CLOUD_ECS_METADATA", "auto"),
        ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "TRUE"),
    ]);
    assert!(
        shown.contains("disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED=true"),
        "{shown}"
    );
    assert!(shown.contains("there is no HOME"), "{shown}");
}

#[test]
fn first_configured_source_wins() {
    let d = dir();
    let token = d.join("token");
    std::fs::write(&token, "a.b.c").unwrap();
    let rrsa = [
        ("ALIBABA_CLOUD_ROLE_ARN", ROLE),
        ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.to_str().unwrap()),
        ("ALIBABA_CLOUD_ECS_METADATA", "auto"),
    ];
    let with_keys = [
        &rrsa[..],
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIx"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s"),
        ],
    ]
    .concat();
    assert!(matches!(run(&with_keys).unwrap(), Identity::Static(_)));
    let identity = run(&rrsa).unwrap();
    assert!(
        matches!(&identity, Identity::Source(s) if matches!(**s, Source::Oidc(_))),
        "{identity:?}"
    );
    assert!(
        identity.describe().contains("RRSA"),
        "{}",
        identity.describe()
    );
    let ecs = run(&[("ALIBABA_CLOUD_ECS_METADATA", "auto")]).unwrap();
    assert!(
        ecs.describe().contains("http://100.100.100.200"),
        "{}",
        ecs.describe()
    );
}

#[test]
fn partial_or_invalid_sources_are_problems() {
    let shown = problems(&[("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER)]);
    assert!(
        shown.contains("ALIBABA_CLOUD_ROLE_ARN: is required"),
        "{shown}"
    );
    assert!(
        shown.contains("ALIBABA_CLOUD_OIDC_TOKEN_FILE: is required"),
        "{shown}"
    );
    let shown = problems(&[
        ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:user/x"),
        ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1:role/x"),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/nonexistent/token"),
        ("ALIBABA_CLOUD_ROLE_SESSION_NAME", "a"),
    ]);
    for var in [ROLE_ARN, PROVIDER_ARN, TOKEN_FILE, SESSION_NAME] {
        assert!(
            shown.contains(&format!("{var}:")),
            "{var} missing from {shown}"
        );
    }
    let shown = problems(&[("ALIBABA_CLOUD_ECS_METADATA", "bad/role")]);
    assert!(shown.starts_with("ALIBABA_CLOUD_ECS_METADATA:"), "{shown}");
    let shown = problems(&[
        ("ALIBABA_CLOUD_ECS_METADATA", "r"),
        ("BROKER_IMDS_ENDPOINT", "http://127.0.0.1:9/latest"),
        ("ALIBABA_CLOUD_IMDSV1_DISABLED", "yes"),
    ]);
    assert!(
        shown.contains("BROKER_IMDS_ENDPOINT:") && shown.contains("ALIBABA_CLOUD_IMDSV1_DISABLED:"),
        "{shown}"
    );
    let shown = problems(&[("ALIBABA_CLOUD_SECURITY_TOKEN", "CAIS-leak-me")]);
    assert!(
        shown.contains("ALIBABA_CLOUD_SECURITY_TOKEN: is set without"),
        "{shown}"
    );
    assert!(!shown.contains("CAIS-leak-me"));
}

#[test]
fn credentials_file_profiles() {
    let d = dir();
    let token = d.join("token");
    std::fs::write(&token, "a.b.c").unwrap();
    let path = d.join("credentials");
    std::fs::write(
        &path,
        format!(
            "# comment\n[default]\ntype = access_key\naccess_key_id = LTAIfile\naccess_key_secret = file-secret-value\n\n\
             [chain]\ntype=ram_role_arn\naccess_key_id=LTAIchain\naccess_key_secret=chain-secret-value\nrole_arn={ROLE}\nrole_session_name=broker.chain\n\
             [oidc]\ntype = oidc_role_arn\noidc_provider_arn = {PROVIDER}\noidc_token_file_path = {}\nrole_arn = {ROLE}\n\
             [ecs]\ntype = ecs_ram_role\nrole_name = EcsRole\n\
             [rsa]\ntype = rsa_key_pair\n\
             [broken]\ntype = ram_role_arn\naccess_key_id = LTAIb\naccess_key_secret = broken-secret-value\n",
            token.display()
        ),
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let with = |profile: &str| {
        run(&[
            ("ALIBABA_CLOUD_CREDENTIALS_FILE", file),
            ("ALIBABA_CLOUD_PROFILE", profile),
        ])
    };
    assert!(matches!(with("default").unwrap(), Identity::Static(k) if k.id == "LTAIfile"));
    let chain = with("chain").unwrap();
    assert!(chain.describe().contains("LTAIchain") && chain.describe().contains(ROLE));
    assert!(with("oidc").unwrap().describe().contains("RRSA"));
    assert!(with("ecs").unwrap().describe().contains("EcsRole"));
    let err = |profile: &str| {
        with(profile)
            .unwrap_err()
            .iter()
            .map(|p| format!("{}: {}", p.variable, p.reason))
            .collect::<String>()
    };
    assert!(err("rsa").contains("type `rsa_key_pair` is not supported"));
    assert!(err("broken").contains("`role_arn` is required"));
    assert!(err("nope").contains("ALIBABA_CLOUD_PROFILE: profile `nope`"));
    let disabled = run(&[
        ("ALIBABA_CLOUD_CREDENTIALS_FILE", file),
        ("ALIBABA_CLOUD_PROFILE", "ecs"),
        ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"),
    ]);
    assert!(disabled.is_err());
    // The default file under HOME, default profile.
    let home = dir();
    std::fs::create_dir_all(home.join(".alibabacloud")).unwrap();
    std::fs::copy(&path, home.join(".alibabacloud/credentials")).unwrap();
    let found = run(&[("HOME", home.to_str().unwrap())]).unwrap();
    assert!(matches!(found, Identity::Static(k) if k.id == "LTAIfile"));
    let missing = run(&[("ALIBABA_CLOUD_CREDENTIALS_FILE", "/nonexistent/creds")]);
    assert!(missing.unwrap_err()[0].variable == CREDENTIALS_FILE);
    // No secret from the file in any description or problem.
    for profile in ["default", "chain", "broken"] {
        let shown = format!(
            "{:?} {:?}",
            with(profile),
            with(profile).map(|i| i.describe())
        );
        for secret in [
            "file-secret-value",
            "chain-secret-value",
            "broken-secret-value",
        ] {
            assert!(!shown.contains(secret), "{profile}: {shown}");
        }
    }
}

#[test]
fn placeholders_in_the_chain_are_refused_and_never_quoted() {
    // The static keys of `.env.example`, alone and with the optional token: each is named.
    let shown = problems(&[
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "REPLACE_WITH_ACCESS_KEY_ID"),
        (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "REPLACE_WITH_ACCESS_KEY_SECRET",
        ),
        (
            "ALIBABA_CLOUD_SECURITY_TOKEN",
            "REPLACE_WITH_SECURITY_TOKEN",
        ),
    ]);
    for var in [AK_ID, AK_SECRET, TOKEN] {
        assert!(
            shown.contains(&format!("{var}: is still the example value")),
            "{var}: {shown}"
        );
    }
    let shown = problems(&[
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tRealLookingId"),
        (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "REPLACE_WITH_ACCESS_KEY_SECRET",
        ),
    ]);
    assert!(
        shown.starts_with(&format!("{AK_SECRET}: is still")),
        "{shown}"
    );
    assert!(!shown.contains(AK_ID), "{shown}");
    // The same placeholders in a credentials-file profile, of any type.
    let d = dir();
    let path = d.join("credentials");
    std::fs::write(
        &path,
        format!(
            "[default]\ntype = access_key\naccess_key_id = REPLACE_WITH_ACCESS_KEY_ID\naccess_key_secret = REPLACE_WITH_ACCESS_KEY_SECRET\n\
             [chain]\ntype = ram_role_arn\naccess_key_id = LTAIchain\naccess_key_secret = chain-secret-value\nrole_arn = {ROLE}\nrole_session_name = REPLACE_WITH_SESSION_NAME\n"
        ),
    )
    .unwrap();
    let file = path.to_str().unwrap();
    for (profile, keys) in [
        ("default", &["access_key_id", "access_key_secret"][..]),
        ("chain", &["role_session_name"][..]),
    ] {
        let shown = problems(&[
            ("ALIBABA_CLOUD_CREDENTIALS_FILE", file),
            ("ALIBABA_CLOUD_PROFILE", profile),
        ]);
        for key in keys {
            assert!(
                shown.contains(&format!("`{key}` is still an example value (REPLACE_WITH_")),
                "{profile}: {shown}"
            );
        }
        assert!(!shown.contains("REPLACE_WITH_ACCESS") && !shown.contains("chain-secret"));
    }
}
