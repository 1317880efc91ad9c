//! The identity section: the provider chain (protocol.md §4.1 variable names, credentials-go's
//! order): static keys, RRSA/OIDC, the INI credentials file, the ECS instance role. The first
//! configured source wins; when none is, the problem lists what was tried. Reads variables and
//! local files only: never the network, and no secret value ever reaches a message.

use std::path::PathBuf;

use secrecy::SecretString;

use super::reader::Reader;
use super::reader::{EXAMPLE_VALUE, PLACEHOLDER};
use crate::credentials::{AccessKey, RoleArn};
use crate::identity::file::{self, Profile};
use crate::identity::{
    is_role_name, is_session_name, EcsSource, Identity, OidcSource, RamRoleArnSource, Source,
    DEFAULT_IMDS_ENDPOINT,
};
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

/// The reader, plus what the chain tried (for the "nothing configured" problem).
struct Chain<'r, 'a> {
    r: &'r mut Reader<'a>,
    before: usize,
    tried: Vec<String>,
}

impl Chain<'_, '_> {
    fn get(&self, name: &str) -> Option<String> {
        self.r.get(name)
    }

    fn problem(&mut self, variable: &'static str, reason: impl Into<String>) {
        self.r.problem(variable, reason);
    }

    fn no_problems(&self) -> bool {
        self.r.problems.len() == self.before
    }
}

/// Finds the broker's own identity; its problems join the reader's. `HOME` locates the
/// default credentials file.
pub(crate) fn read(r: &mut Reader<'_>) -> Option<Identity> {
    let before = r.problems.len();
    let ecs_disabled = r.flag(ECS_DISABLED, false);
    let imdsv1_disabled = r.flag(IMDSV1_DISABLED, false);
    let mut c = Chain {
        r,
        before,
        tried: Vec::new(),
    };
    if c.get(TOKEN).is_some() && c.get(AK_ID).is_none() && c.get(AK_SECRET).is_none() {
        c.problem(TOKEN, format!("is set without {AK_ID} and {AK_SECRET}"));
    }
    let found = static_keys(&mut c)
        .or_else(|| rrsa(&mut c))
        .or_else(|| credentials_file(&mut c, ecs_disabled, imdsv1_disabled))
        .or_else(|| ecs(&mut c, ecs_disabled, imdsv1_disabled));
    match found {
        Some(identity) if c.no_problems() => Some(identity),
        Some(_) => None,
        None => {
            if c.no_problems() {
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
            None
        }
    }
}

/// `None` also when the source is configured wrongly (a problem is recorded then).
fn static_keys(c: &mut Chain<'_, '_>) -> Option<Identity> {
    match (c.get(AK_ID), c.get(AK_SECRET)) {
        (Some(id), Some(secret)) => {
            // `.env.example` fills both with well-formed placeholders: STS would only refuse
            // them on the first request, so they are refused here.
            let placeholders = [
                (AK_ID, Some(&id)),
                (AK_SECRET, Some(&secret)),
                (TOKEN, c.get(TOKEN).as_ref()),
            ]
            .into_iter()
            .filter(|(_, value)| value.is_some_and(|v| v.contains(PLACEHOLDER)))
            .map(|(name, _)| name)
            .collect::<Vec<_>>();
            for name in &placeholders {
                c.problem(name, EXAMPLE_VALUE);
            }
            if !placeholders.is_empty() {
                return None;
            }
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
    c: &mut Chain<'_, '_>,
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
/// (protocol.md §4.1: the OIDC provider is enabled only if all three are set).
fn rrsa(c: &mut Chain<'_, '_>) -> Option<Identity> {
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
    c: &mut Chain<'_, '_>,
    vars: [&'static str; 4],
    role: String,
    provider: String,
    token_file: String,
    session: Option<String>,
    origin: String,
) -> Option<OidcSource> {
    let before = c.r.problems.len();
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
    (c.r.problems.len() == before).then_some(OidcSource {
        role_arn,
        provider_arn: provider,
        token_file,
        session_name: session,
        origin,
    })
}

/// `acs:ram::<digits>:oidc-provider/<name>` (protocol.md §4.5 example).
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

/// protocol.md §4.2: `ALIBABA_CLOUD_CREDENTIALS_FILE` or `~/.alibabacloud/credentials`, section from
/// `ALIBABA_CLOUD_PROFILE` (default `default`).
fn credentials_file(
    c: &mut Chain<'_, '_>,
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

/// The keys of a profile the chain reads (protocol.md §4.2), besides `type`.
const PROFILE_KEYS: [&str; 7] = [
    "access_key_id",
    "access_key_secret",
    "role_arn",
    "role_session_name",
    "oidc_provider_arn",
    "oidc_token_file_path",
    "role_name",
];

/// protocol.md §4.2 profile types.
fn from_profile(
    c: &mut Chain<'_, '_>,
    profile: &Profile,
    origin: String,
    ecs_disabled: bool,
    imdsv1_disabled: bool,
) -> Option<Identity> {
    let need = |c: &mut Chain<'_, '_>, key: &str| need(c, profile, &origin, key);
    let kind = need(c, "type")?;
    let placeholders = PROFILE_KEYS
        .iter()
        .filter(|key| profile.get(key).is_some_and(|v| v.contains(PLACEHOLDER)))
        .collect::<Vec<_>>();
    for key in &placeholders {
        c.problem(
            CREDENTIALS_FILE,
            format!(
                "{origin}: `{key}` is still an example value ({PLACEHOLDER}…); set the real value"
            ),
        );
    }
    if !placeholders.is_empty() {
        return None;
    }
    match kind.as_str() {
        "access_key" => {
            let (id, secret) = (need(c, "access_key_id"), need(c, "access_key_secret"));
            let key = access_key(c, CREDENTIALS_FILE, id?, secret?, None)?;
            Some(Identity::Static(key))
        }
        "ram_role_arn" => ram_role_profile(c, profile, origin),
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
        "ecs_ram_role" => ecs_profile(c, profile, origin, ecs_disabled, imdsv1_disabled),
        other => {
            c.problem(
                CREDENTIALS_FILE,
                format!("{origin}: type `{other}` is not supported (access_key, ecs_ram_role, ram_role_arn, oidc_role_arn)"),
            );
            None
        }
    }
}

/// A `ram_role_arn` profile: a long-term key that assumes a role (role chaining).
fn ram_role_profile(c: &mut Chain<'_, '_>, profile: &Profile, origin: String) -> Option<Identity> {
    let need = |c: &mut Chain<'_, '_>, key: &str| need(c, profile, &origin, key);
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
            format!("{origin}: role_session_name must be 2-64 letters, digits or `. @ - _`"),
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

/// An `ecs_ram_role` profile: the instance role from the metadata service.
fn ecs_profile(
    c: &mut Chain<'_, '_>,
    profile: &Profile,
    origin: String,
    ecs_disabled: bool,
    imdsv1_disabled: bool,
) -> Option<Identity> {
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

/// The profile's value of `key`, or a problem saying this profile type requires it.
fn need(c: &mut Chain<'_, '_>, profile: &Profile, origin: &str, key: &str) -> Option<String> {
    let value = profile.get(key);
    if value.is_none() {
        c.problem(
            CREDENTIALS_FILE,
            format!("{origin}: `{key}` is required for this type"),
        );
    }
    value
}

/// protocol.md §4.4: only when `ALIBABA_CLOUD_ECS_METADATA` names a role (or `auto`), so a machine off
/// Alibaba Cloud never sends anything to the metadata address.
fn ecs(c: &mut Chain<'_, '_>, disabled: bool, imdsv1_disabled: bool) -> Option<Identity> {
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

/// The metadata base URL: plain `http://` is what the service speaks (protocol.md §4.4).
fn imds_endpoint(c: &mut Chain<'_, '_>) -> Option<reqwest::Url> {
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
mod tests;
