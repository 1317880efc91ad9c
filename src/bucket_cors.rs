//! `sts-broker cors [--apply | --check]`: the bucket CORS rule that browser uploads from
//! `BROKER_CORS_ORIGINS` need, printed, checked against the bucket or added to it. A command:
//! it loads the broker's own key and talks to OSS only through `oss::client`; it never prints a
//! secret.

use std::sync::Arc;

use crate::clock::{Clock, NonceSource, UuidNonces};
use crate::config::Settings;
use crate::credentials::AccessKey;
use crate::identity::{IdentityError, IdentityErrorKind};
use crate::oss::client::{OssClient, OssError};
use crate::oss::cors_rules::{missing, to_xml, upload_rule, MAX_RULES};
use crate::sts::client::StsClient;

/// `sts-broker cors` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorsCommand {
    /// Print the rule.
    Print,
    /// Add the rule to the bucket (keeping other rules) unless it is already there.
    Apply,
    /// Report what the bucket lacks.
    Check,
}

/// What the command found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOutcome {
    /// `false` when `--check` found something missing.
    pub ok: bool,
    pub report: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CorsError {
    #[error("BROKER_CORS_ORIGINS is not set: name the origins browsers upload from")]
    NoOrigins,
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Oss(#[from] OssError),
    #[error("the bucket already has {0} CORS rules; OSS keeps at most {MAX_RULES}")]
    TooManyRules(usize),
}

/// Runs `sts-broker cors [--apply|--check]`.
pub async fn run(
    settings: &Settings,
    command: CorsCommand,
    clock: Arc<dyn Clock>,
) -> Result<CorsOutcome, CorsError> {
    let origins = &settings.access.cors_origins;
    if origins.is_empty() {
        return Err(CorsError::NoOrigins);
    }
    let rule = upload_rule(origins);
    if command == CorsCommand::Print {
        return Ok(CorsOutcome {
            ok: true,
            report: to_xml(std::slice::from_ref(&rule)),
        });
    }
    let key = own_key(settings, clock.clone()).await?;
    // The command works on the default profile's bucket.
    let profile = settings.default_profile();
    let client = OssClient::new(
        &profile.post.oss_endpoint,
        profile.upload.bucket.as_str(),
        &profile.upload.region,
        clock,
    )?;
    let existing = client.get_bucket_cors(&key).await?.unwrap_or_default();
    let findings = missing(&existing, origins);
    let bucket = profile.upload.bucket.as_str();
    if command == CorsCommand::Check {
        return Ok(check_report(bucket, origins, &findings));
    }
    if findings.is_empty() {
        return Ok(CorsOutcome {
            ok: true,
            report: format!("bucket {bucket}: CORS already allows uploads; nothing changed\n"),
        });
    }
    // PutBucketCors replaces every rule: keep the bucket's other rules.
    if existing.len() >= MAX_RULES {
        return Err(CorsError::TooManyRules(existing.len()));
    }
    let mut rules = existing;
    rules.push(rule);
    client.put_bucket_cors(&key, &rules).await?;
    Ok(CorsOutcome {
        ok: true,
        report: format!(
            "bucket {bucket}: CORS rule added for {} ({} rule(s) in total)\n",
            origins.join(", "),
            rules.len()
        ),
    })
}

/// The broker's own key: a temporary identity (RRSA, instance role, role chaining) is loaded
/// through STS first.
async fn own_key(settings: &Settings, clock: Arc<dyn Clock>) -> Result<AccessKey, CorsError> {
    let nonces: Arc<dyn NonceSource> = Arc::new(UuidNonces);
    let sts = StsClient::new(settings.sts.clone(), clock.clone(), nonces.clone()).map_err(|e| {
        IdentityError::new(
            IdentityErrorKind::Client,
            format!("cannot build the STS client: {e}"),
        )
    })?;
    Ok(settings
        .identity
        .start(&sts, clock, nonces)?
        .current()
        .await?)
}

fn check_report(bucket: &str, origins: &[String], findings: &[String]) -> CorsOutcome {
    if findings.is_empty() {
        return CorsOutcome {
            ok: true,
            report: format!(
                "bucket {bucket}: CORS allows uploads from {}\n",
                origins.join(", ")
            ),
        };
    }
    CorsOutcome {
        ok: false,
        report: format!(
            "bucket {bucket}: CORS is missing:\n{}\nrun `sts-broker cors --apply` to add the rule\n",
            findings
                .iter()
                .map(|f| format!("  - {f}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}
