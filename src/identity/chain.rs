//! The provider chain (spec §4.1 variable names, credentials-go's order): static keys, RRSA/OIDC,
//! the INI credentials file, the ECS instance role. The first configured source wins; when none
//! is, the error lists what was tried. Reads variables and local files only: never the network,
//! and no secret value ever reaches a message.

use std::path::PathBuf;

use secrecy::SecretString;

use super::file::{self, Profile};
use super::{
    is_role_name, is_session_name, EcsSource, Identity, OidcSource, RamRoleArnSource, Source,
    DEFAULT_IMDS_ENDPOINT,
};
use crate::sts::types::{AccessKey, RoleArn};
use std::sync::Arc;

const AK_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
const AK_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
const TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
const ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
const PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
const TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
const SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
const CREDENTIALS_FILE: &str = "ALIBABA_CLOUD_CREDENTIALS_FILE";
const PROFILE: &str = "ALIBABA_CLOUD_PROFILE";
const ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";
const ECS_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
const IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";
const IMDS_ENDPOINT: &str = "BROKER_IMDS_ENDPOINT";

/// One offending variable and why (the config module turns these into its own problems).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProblem {
    pub variable: &'static str,
    pub reason: String,
}

struct Chain<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<IdentityProblem>,
    tried: Vec<String>,
}

impl Chain<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.get)(name)
    }

    fn problem(&mut self, variable: &'static str, reason: impl Into<String>) {
        self.problems.push(IdentityProblem {
            variable,
            reason: reason.into(),
        });
    }

    /// `true`/`false` (any case); unset is `false`.
    fn flag(&mut self, name: &'static str) -> bool {
        match self.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                self.problem(name, "must be `true` or `false`");
                false
            }
        }
    }
}

/// Finds the broker's own identity from the variables `get` returns (trimmed, empty = unset).
/// `HOME` locates the default credentials file.
pub fn resolve(get: &dyn Fn(&str) -> Option<String>) -> Result<Identity, Vec<IdentityProblem>> {
    let mut c = Chain {
        get,
        problems: Vec::new(),
        tried: Vec::new(),
    };
    let ecs_disabled = c.flag(ECS_DISABLED);
    let imdsv1_disabled = c.flag(IMDSV1_DISABLED);
    if c.get(TOKEN).is_some() && c.get(AK_ID).is_none() && c.get(AK_SECRET).is_none() {
        c.problem(TOKEN, format!("is set without {AK_ID} and {AK_SECRET}"));
    }
    let found = static_keys(&mut c)
        .or_else(|| rrsa(&mut c))
        .or_else(|| credentials_file(&mut c, ecs_disabled, imdsv1_disabled))
        .or_else(|| ecs(&mut c, ecs_disabled, imdsv1_disabled));
    match found {
        Some(identity) if c.problems.is_empty() => Ok(identity),
        Some(_) => Err(c.problems),
        None => {
            if c.problems.is_empty() {
                let tried = c
                    .tried
                    .iter()
                    .enumerate()
                    .map(|(i, t)| format!("\n      {}. {t}", i + 1))
                    .collect::<String>();
                c.problem(
                    AK_ID,
                    format!("no identity for calling STS; tried, in order:{tried}"),
                );
            }
            Err(c.problems)
        }
    }
}

/// `None` also when the source is configured wrongly (a problem is recorded then).
fn static_keys(c: &mut Chain<'_>) -> Option<Identity> {
    match (c.get(AK_ID), c.get(AK_SECRET)) {
        (Some(id), Some(secret)) => {
            let key = access_key(c, AK_ID, id, secret, c.get(TOKEN))?;
            Some(Identity::Static(key))
        }
        (Some(_), None) => {
            c.problem(AK_SECRET, format!("is required when {AK_ID} is set"));
            None
        }
        (None, Some(_)) => {
            c.problem(AK_ID, format!("is required when {AK_SECRET} is set"));
            None
        }
        (None, None) => {
            c.tried
                .push(format!("static keys: {AK_ID} and {AK_SECRET} are not set"));
            None
        }
    }
}

fn access_key(
    c: &mut Chain<'_>,
    variable: &'static str,
    id: String,
    secret: String,
    token: Option<String>,
) -> Option<AccessKey> {
    if !id.bytes().all(|b| b.is_ascii_graphic()) || id.len() > 128 {
        c.problem(
            variable,
            "the access key id must be printable ASCII without spaces, at most 128 characters",
        );
        return None;
    }
    Some(AccessKey {
        id,
        secret: SecretString::from(secret),
        security_token: token.map(SecretString::from),
    })
}

/// RRSA is meant once the provider ARN or the token file is set; all three are needed then
/// (spec §4.1: the OIDC provider is enabled only if all three are set).
fn rrsa(c: &mut Chain<'_>) -> Option<Identity> {
    let (role, provider, token_file) = (c.get(ROLE_ARN), c.get(PROVIDER_ARN), c.get(TOKEN_FILE));
    if provider.is_none() && token_file.is_none() {
        c.tried.push(match role {
            Some(_) => {
                format!("RRSA/OIDC: {ROLE_ARN} is set but {PROVIDER_ARN} and {TOKEN_FILE} are not")
            }
            None => format!("RRSA/OIDC: {ROLE_ARN}, {PROVIDER_ARN} and {TOKEN_FILE} are not set"),
        });
        return None;
    }
    for (name, value) in [
        (ROLE_ARN, &role),
        (PROVIDER_ARN, &provider),
        (TOKEN_FILE, &token_file),
    ] {
        if value.is_none() {
            c.problem(
                name,
                format!("is required for RRSA/OIDC together with {ROLE_ARN}, {PROVIDER_ARN} and {TOKEN_FILE}"),
            );
        }
    }
    let source = oidc_source(
        c,
        [ROLE_ARN, PROVIDER_ARN, TOKEN_FILE, SESSION_NAME],
        role?,
        provider?,
        token_file?,
        c.get(SESSION_NAME),
        "environment".into(),
    )?;
    Some(Identity::Source(Arc::new(Source::Oidc(source))))
}

/// Validates an OIDC source; `vars` name what a problem is reported against.
fn oidc_source(
    c: &mut Chain<'_>,
    vars: [&'static str; 4],
    role: String,
    provider: String,
    token_file: String,
    session: Option<String>,
    origin: String,
) -> Option<OidcSource> {
    let before = c.problems.len();
    let role_arn = match RoleArn::parse(&role) {
        Ok(arn) => Some(arn),
        Err(reason) => {
            c.problem(vars[0], format!("role ARN: {reason}"));
            None
        }
    };
    if !is_oidc_provider_arn(&provider) {
        c.problem(
            vars[1],
            "the OIDC provider ARN must look like `acs:ram::<account id>:oidc-provider/<name>`",
        );
    }
    let token_file = PathBuf::from(token_file);
    if let Err(e) = std::fs::metadata(&token_file).and_then(|m| {
        if m.is_file() {
            Ok(())
        } else {
            Err(std::io::Error::other("not a regular file"))
        }
    }) {
        c.problem(
            vars[2],
            format!(
                "the OIDC token file {} cannot be read: {e}",
                token_file.display()
            ),
        );
    }
    if let Some(name) = &session {
        if !is_session_name(name) {
            c.problem(
                vars[3],
                "the role session name must be 2-64 letters, digits or `. @ - _`",
            );
        }
    }
    let role_arn = role_arn?;
    (c.problems.len() == before).then_some(OidcSource {
        role_arn,
        provider_arn: provider,
        token_file,
        session_name: session,
        origin,
    })
}

/// `acs:ram::<digits>:oidc-provider/<name>` (spec §4.5 example).
fn is_oidc_provider_arn(raw: &str) -> bool {
    raw.strip_prefix("acs:ram::")
        .and_then(|rest| rest.split_once(":oidc-provider/"))
        .is_some_and(|(account, name)| {
            !account.is_empty()
                && account.bytes().all(|b| b.is_ascii_digit())
                && (1..=128).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

/// Spec §4.2: `ALIBABA_CLOUD_CREDENTIALS_FILE` or `~/.alibabacloud/credentials`, section from
/// `ALIBABA_CLOUD_PROFILE` (default `default`).
fn credentials_file(
    c: &mut Chain<'_>,
    ecs_disabled: bool,
    imdsv1_disabled: bool,
) -> Option<Identity> {
    let explicit = c.get(CREDENTIALS_FILE);
    let profile_name = c.get(PROFILE);
    let path = match (&explicit, c.get("HOME")) {
        (Some(path), _) => PathBuf::from(path),
        (None, Some(home)) => PathBuf::from(home)
            .join(".alibabacloud")
            .join("credentials"),
        (None, None) => {
            c.tried.push(format!(
                "credentials file: {CREDENTIALS_FILE} is not set and there is no HOME"
            ));
            return None;
        }
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
            c.tried
                .push(format!("credentials file {}: not found", path.display()));
            return None;
        }
        Err(e) => {
            c.problem(
                CREDENTIALS_FILE,
                format!(
                    "the credentials file {} cannot be read: {e}",
                    path.display()
                ),
            );
            return None;
        }
    };
    let sections = match file::parse_ini(&text) {
        Ok(sections) => sections,
        Err(reason) => {
            c.problem(CREDENTIALS_FILE, format!("{}: {reason}", path.display()));
            return None;
        }
    };
    let name = profile_name.clone().unwrap_or_else(|| "default".into());
    let Some(profile) = sections.get(&name) else {
        if explicit.is_some() || profile_name.is_some() {
            c.problem(
                PROFILE,
                format!("profile `{name}` is not in {}", path.display()),
            );
        } else {
            c.tried.push(format!(
                "credentials file {}: no profile `{name}`",
                path.display()
            ));
        }
        return None;
    };
    let origin = format!("profile `{name}` of {}", path.display());
    from_profile(c, profile, origin, ecs_disabled, imdsv1_disabled)
}

/// Spec §4.2 profile types.
fn from_profile(
    c: &mut Chain<'_>,
    profile: &Profile,
    origin: String,
    ecs_disabled: bool,
    imdsv1_disabled: bool,
) -> Option<Identity> {
    let need = |c: &mut Chain<'_>, key: &str| {
        let value = profile.get(key);
        if value.is_none() {
            c.problem(
                CREDENTIALS_FILE,
                format!("{origin}: `{key}` is required for this type"),
            );
        }
        value
    };
    let kind = need(c, "type")?;
    match kind.as_str() {
        "access_key" => {
            let (id, secret) = (need(c, "access_key_id"), need(c, "access_key_secret"));
            let key = access_key(c, CREDENTIALS_FILE, id?, secret?, None)?;
            Some(Identity::Static(key))
        }
        "ram_role_arn" => {
            let (id, secret, role) = (
                need(c, "access_key_id"),
                need(c, "access_key_secret"),
                need(c, "role_arn"),
            );
            let key = access_key(c, CREDENTIALS_FILE, id?, secret?, None);
            let role_arn = match RoleArn::parse(&role?) {
                Ok(arn) => Some(arn),
                Err(reason) => {
                    c.problem(CREDENTIALS_FILE, format!("{origin}: role_arn: {reason}"));
                    None
                }
            };
            let session = profile.get("role_session_name");
            if session.as_deref().is_some_and(|s| !is_session_name(s)) {
                c.problem(
                    CREDENTIALS_FILE,
                    format!(
                        "{origin}: role_session_name must be 2-64 letters, digits or `. @ - _`"
                    ),
                );
                return None;
            }
            Some(Identity::Source(Arc::new(Source::RamRoleArn(
                RamRoleArnSource {
                    key: key?,
                    role_arn: role_arn?,
                    session_name: session,
                    origin,
                },
            ))))
        }
        "oidc_role_arn" => {
            let (provider, token_file, role) = (
                need(c, "oidc_provider_arn"),
                need(c, "oidc_token_file_path"),
                need(c, "role_arn"),
            );
            let source = oidc_source(
                c,
                [CREDENTIALS_FILE; 4],
                role?,
                provider?,
                token_file?,
                profile.get("role_session_name"),
                origin,
            )?;
            Some(Identity::Source(Arc::new(Source::Oidc(source))))
        }
        "ecs_ram_role" => {
            if ecs_disabled {
                c.problem(
                    ECS_DISABLED,
                    format!("{origin} uses the ECS instance role, which this disables"),
                );
                return None;
            }
            let role = profile.get("role_name");
            if role.as_deref().is_some_and(|r| !is_role_name(r)) {
                c.problem(
                    CREDENTIALS_FILE,
                    format!("{origin}: role_name must be 1-64 letters, digits, `.` or `-`"),
                );
                return None;
            }
            let endpoint = imds_endpoint(c)?;
            Some(Identity::Source(Arc::new(Source::Ecs(EcsSource {
                endpoint,
                role_name: role,
                imdsv1_allowed: !imdsv1_disabled,
                origin,
            }))))
        }
        other => {
            c.problem(
                CREDENTIALS_FILE,
                format!("{origin}: type `{other}` is not supported (access_key, ecs_ram_role, ram_role_arn, oidc_role_arn)"),
            );
            None
        }
    }
}

/// Spec §4.4: only when `ALIBABA_CLOUD_ECS_METADATA` names a role (or `auto`), so a machine off
/// Alibaba Cloud never sends anything to the metadata address.
fn ecs(c: &mut Chain<'_>, disabled: bool, imdsv1_disabled: bool) -> Option<Identity> {
    let Some(role) = c.get(ECS_METADATA) else {
        c.tried.push(format!(
            "ECS instance role: {ECS_METADATA} is not set (never probed by default)"
        ));
        return None;
    };
    if disabled {
        c.tried.push(format!(
            "ECS instance role: disabled by {ECS_DISABLED}=true"
        ));
        return None;
    }
    let role_name = if role.eq_ignore_ascii_case("auto") {
        None
    } else if is_role_name(&role) {
        Some(role)
    } else {
        c.problem(
            ECS_METADATA,
            "must be the instance's RAM role name (1-64 letters, digits, `.` or `-`) or `auto`",
        );
        return None;
    };
    let endpoint = imds_endpoint(c)?;
    Some(Identity::Source(Arc::new(Source::Ecs(EcsSource {
        endpoint,
        role_name,
        imdsv1_allowed: !imdsv1_disabled,
        origin: "environment".into(),
    }))))
}

/// The metadata base URL: plain `http://` is what the service speaks (spec §4.4).
fn imds_endpoint(c: &mut Chain<'_>) -> Option<reqwest::Url> {
    let raw = c
        .get(IMDS_ENDPOINT)
        .unwrap_or_else(|| DEFAULT_IMDS_ENDPOINT.to_owned());
    let check = |raw: &str| -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err("must be an http:// or https:// URL with a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
            return Err("must be a base URL without path, query or fragment".into());
        }
        Ok(url)
    };
    match check(&raw) {
        Ok(url) => Some(url),
        Err(reason) => {
            c.problem(IMDS_ENDPOINT, reason);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sts-broker-chain-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn run(vars: &[(&str, &str)]) -> Result<Identity, Vec<IdentityProblem>> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(&|name| map.get(name).cloned())
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
            shown.contains("BROKER_IMDS_ENDPOINT:")
                && shown.contains("ALIBABA_CLOUD_IMDSV1_DISABLED:"),
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
}
