//! Raw environment → validated [`Settings`], section by section. Each section's reader lives in
//! its own file and produces the settings type of the module that uses it (`StsConfig` for the
//! STS client, `IssuerConfig` for the issuer, `AccessSettings` for the access layer, ...); this
//! module only assembles them. Every problem of every section is collected and reported at
//! once, naming the variable; nothing here binds sockets or talks to the network, and no
//! secret value is ever part of a message. [`variables::VARIABLES`] lists every variable read.

mod access;
mod callback;
mod download;
mod fleet;
mod forwarding;
mod identity;
mod profiles;
mod profiles_file;
mod reader;
mod server;
mod sts;
mod tracing;
mod upload;
pub mod variables;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

use crate::auth::settings::AccessSettings;
use crate::callback::CallbackConfig;
use crate::fleet::FleetConfig;
use crate::identity::Identity;
use crate::issuer::IssuerConfig;
use crate::sts::client::StsConfig;

pub use profiles::{CallbackSettings, ProfileSettings, DEFAULT_PROFILE};
pub(crate) use reader::Reader;
pub use server::{host_of_header, AllowedHosts, ServerSettings};
pub use upload::UploadSettings;
pub use variables::UnknownVariable;

pub use crate::auth::settings::AuthMode;
pub use crate::oss::post_object::PostSignature;
pub use crate::telemetry::LogFormat;

/// Everything the broker needs, validated, by section.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    /// The broker's own key (or where to get it).
    pub identity: Identity,
    pub sts: StsConfig,
    /// Authentication, CORS and rate limits.
    pub access: AccessSettings,
    /// Fleet mode on Redis; `None`: this replica works alone.
    pub fleet: Option<FleetConfig>,
    /// Every profile, `default` (the environment's) first, then those of
    /// `BROKER_PROFILES_FILE`; each profile's issuer, upload and signing settings live here
    /// only.
    pub profiles: Vec<ProfileSettings>,
    /// Upload callbacks, when a profile has one.
    pub callback: Option<CallbackConfig>,
}

impl Settings {
    /// The profile `default`, the environment's.
    pub fn default_profile(&self) -> &ProfileSettings {
        &self.profiles[0]
    }

    /// Start-up warnings: valid settings that are probably not what was meant.
    pub fn warnings(&self) -> Vec<String> {
        profiles::warnings(&self.profiles)
    }
}

/// One offending variable and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub variable: &'static str,
    pub reason: String,
}

/// All configuration problems found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    pub fn mentions(&self, variable: &str) -> bool {
        self.problems.iter().any(|p| p.variable == variable)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration ({} problem{}):",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}: {}", p.variable, p.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&env_lookup)
    }

    /// Reads from a map (tests, `demo`), with exactly the rules of [`Settings::from_env`].
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| vars.get(name).cloned())
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(lookup);
        let settings = read_all(&mut r);
        match settings {
            Some(settings) if r.problems.is_empty() => Ok(settings),
            _ => Err(ConfigError {
                problems: r.problems,
            }),
        }
    }
}

/// Every section, each reporting its own problems; `None` when any section failed.
fn read_all(r: &mut Reader<'_>) -> Option<Settings> {
    let server = server::read(r);
    let identity = identity::read(r);
    let sts = sts::read_sts(r);
    let lifetimes = sts::read_lifetimes(r);
    let upload = upload::read_upload(r);
    let access = access::read(r, server.as_ref().map(|s| s.listen));
    let post = upload::read_post(r, upload.as_ref());
    let post_credentials = upload::read_post_credentials(r, upload.as_ref());
    let new_callers = sts::read_new_callers(r, sts.as_ref());
    let fleet = fleet::read(r);
    let download = download::read(r);
    // The default profile's read credential, from its bucket, prefix and downloads.
    let reads = match (&upload, &download) {
        (Some(u), Some(d)) => {
            let name = download::reads_session_name(None);
            download::read_access(&u.bucket, &u.prefix, d, name)
                .map_err(|e| r.problem("BROKER_DOWNLOAD_PREFIXES", e))
                .ok()
        }
        _ => None,
    };
    let issuer = match (&lifetimes, post_credentials, new_callers, reads) {
        (Some(l), Some(post_credentials), Some(new_callers), Some(reads)) => Some(IssuerConfig {
            role_arn: l.role_arn.clone(),
            duration_seconds: l.duration_seconds,
            refresh_ahead_seconds: l.refresh_ahead_seconds,
            min_ttl_seconds: l.min_ttl_seconds,
            cache_max_entries: l.cache_max_entries,
            refresh_jitter: l.refresh_jitter,
            post_credentials,
            new_callers,
            forms_session_name: crate::issuer::SHARED_FORMS_SESSION_NAME.to_owned(),
            reads,
        }),
        _ => None,
    };
    let defaults = match (&lifetimes, &upload, &post, &issuer, &download) {
        (Some(lifetimes), Some(upload), Some(post), Some(issuer), Some(download)) => {
            Some(profiles::Defaults {
                lifetimes,
                upload,
                post,
                issuer,
                download,
            })
        }
        _ => None,
    };
    let (profiles, wants_callbacks) = profiles::read_all(r, defaults.as_ref());
    let callback = callback::read(r, wants_callbacks);
    Some(Settings {
        callback: callback?,
        server: server?,
        identity: identity?,
        sts: sts?,
        access: access?,
        fleet: fleet?,
        profiles: profiles?,
    })
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `BROKER_LISTEN` and `BROKER_LOG_FORMAT` alone, for commands that need no other settings
/// (`demo`, `healthcheck`); the same parsers and messages as [`Settings::from_env`].
pub fn listen_and_log_format(
    lookup: &dyn Fn(&str) -> Option<String>,
    default_format: LogFormat,
) -> Result<(SocketAddr, LogFormat), ConfigError> {
    let mut r = Reader::new(lookup);
    let listen = server::listen(&mut r);
    let format = server::log_format(&mut r, default_format);
    match (listen, format) {
        (Some(listen), Some(format)) if r.problems.is_empty() => Ok((listen, format)),
        _ => Err(ConfigError {
            problems: r.problems,
        }),
    }
}

/// [`listen_and_log_format`] over the process environment.
pub fn listen_and_log_format_from_env(
    default_format: LogFormat,
) -> Result<(SocketAddr, LogFormat), ConfigError> {
    listen_and_log_format(&env_lookup, default_format)
}

/// The set variables (the process environment, with `.env` once loaded) that look like the
/// broker's, `BROKER_*` or `ALIBABA_CLOUD_*`, but that it does not read: a misspelt name is
/// otherwise silently ignored. Only names are looked at; no value is read.
pub fn unknown_variables_in_env() -> Vec<UnknownVariable> {
    variables::unknown(std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()))
}

#[cfg(test)]
mod tests;
