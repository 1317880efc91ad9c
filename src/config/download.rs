//! The download section of the default profile (`BROKER_DOWNLOADS`, `BROKER_DOWNLOAD_PREFIXES`,
//! `BROKER_DOWNLOAD_MAX_EXPIRES_SECONDS`, `BROKER_DOWNLOAD_PROCESSES`, `BROKER_DOWNLOAD_HOST`)
//! into `download::DownloadSettings`, and the shared read credential's scope
//! (`issuer::ReadAccess`) any profile's downloads need.

use super::reader::{web_url, Reader};
use crate::download::{
    parse_enabled, parse_max_expires, parse_processes, DownloadSettings, ReadPrefix,
    DEFAULT_MAX_EXPIRES_SECONDS,
};
use crate::issuer::ReadAccess;
use crate::policy::{read_session_policy, BucketName, UploadPrefix};

/// The default profile's downloads, from the environment.
pub(crate) fn read(r: &mut Reader<'_>) -> Option<DownloadSettings> {
    let enabled = r.parsed("BROKER_DOWNLOADS", Some(true), parse_enabled);
    let prefixes = r.parsed(
        "BROKER_DOWNLOAD_PREFIXES",
        Some(Vec::new()),
        ReadPrefix::parse_list,
    );
    let max_expires_seconds = r.parsed(
        "BROKER_DOWNLOAD_MAX_EXPIRES_SECONDS",
        Some(DEFAULT_MAX_EXPIRES_SECONDS),
        parse_max_expires,
    );
    let processes = r.parsed(
        "BROKER_DOWNLOAD_PROCESSES",
        Some(Vec::new()),
        parse_processes,
    );
    let host = r.parsed("BROKER_DOWNLOAD_HOST", Some(None), |raw| {
        host(raw).map(Some)
    });
    Some(DownloadSettings {
        enabled: enabled?,
        prefixes: prefixes?,
        max_expires_seconds: max_expires_seconds?,
        processes: processes?,
        host: host?,
    })
}

/// A download host: an `https://` URL (a custom domain or CDN; `http://` on loopback), kept
/// without its trailing `/`.
pub(crate) fn host(raw: &str) -> Result<String, String> {
    web_url(raw, true).map(|u| u.as_str().trim_end_matches('/').to_owned())
}

/// The session name of a profile's read credential: `sts-broker-reads`, or
/// `sts-broker-reads-<profile>` within 32 characters (longer names end in a hash of the whole).
pub(crate) fn reads_session_name(profile: Option<&str>) -> String {
    const BASE: &str = "sts-broker-reads";
    let Some(profile) = profile else {
        return BASE.to_owned();
    };
    let name = format!("{BASE}-{profile}");
    if name.len() <= 32 {
        return name;
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(name.as_bytes());
    format!("{BASE}-{}", hex::encode(&digest[..7]))
}

/// The read credential's scope for a profile with `settings`: `oss:GetObject` on the upload
/// prefix's pattern (every caller's directory) and on each read prefix's. `None` when the
/// profile's downloads are off; an error (for the configuration to report) when the policy
/// is too large for STS.
pub(crate) fn read_access(
    bucket: &BucketName,
    upload_prefix: &UploadPrefix,
    settings: &DownloadSettings,
    session_name: String,
) -> Result<Option<ReadAccess>, String> {
    if !settings.enabled {
        return Ok(None);
    }
    let own = ReadPrefix::parse(&upload_prefix.template())
        .map_err(|e| format!("the upload prefix cannot be read back: {e}"))?;
    let mut patterns = vec![own.pattern()];
    for prefix in &settings.prefixes {
        let pattern = prefix.pattern();
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    let policy = read_session_policy(bucket, &patterns)
        .map_err(|e| format!("the read prefixes make a session policy STS refuses: {e}"))?;
    Ok(Some(ReadAccess {
        session_name,
        policy,
        patterns,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_scope_covers_every_callers_directory_and_the_read_prefixes() {
        let bucket = BucketName::parse("examplebucket").unwrap();
        let prefix = UploadPrefix::parse("uploads/${sub}/").unwrap();
        let settings = DownloadSettings {
            prefixes: ReadPrefix::parse_list("public/,shared/${sub}/").unwrap(),
            ..DownloadSettings::default()
        };
        let access = read_access(&bucket, &prefix, &settings, "n".into())
            .unwrap()
            .unwrap();
        assert_eq!(access.patterns, ["uploads/*/*", "public/*", "shared/*/*"]);
        assert_eq!(
            access.policy,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:GetObject"],"Resource":["acs:oss:*:*:examplebucket/uploads/*/*","acs:oss:*:*:examplebucket/public/*","acs:oss:*:*:examplebucket/shared/*/*"]}]}"#
        );
        let off = DownloadSettings {
            enabled: false,
            ..settings
        };
        assert_eq!(read_access(&bucket, &prefix, &off, "n".into()), Ok(None));
    }

    #[test]
    fn session_names_fit_sts() {
        assert_eq!(reads_session_name(None), "sts-broker-reads");
        assert_eq!(
            reads_session_name(Some("avatar")),
            "sts-broker-reads-avatar"
        );
        let long = reads_session_name(Some("a-very-long-profile-name-indeed"));
        assert!(
            long.len() <= 32 && long.starts_with("sts-broker-reads-"),
            "{long}"
        );
    }
}
