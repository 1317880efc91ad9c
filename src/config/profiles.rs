//! Upload profiles: `BROKER_PROFILES_FILE`, a TOML file of upload kinds, each its own prefix,
//! limits, lifetimes and optionally bucket, region, upload host, role and callback. The
//! environment forms the profile `default`. Every problem is named (`profiles.<name>.<key>`),
//! misspelt keys included, and so are prefixes of two profiles that overlap.

use super::profiles_file::{parse, Spec};
use super::reader::{is_region_id, web_url, Reader};
use super::sts::{profile_windows, Lifetimes};
use super::upload::{content_types, endpoint_like, UploadSettings};
use crate::credentials::RoleArn;
use crate::download::{parse_max_expires, parse_processes, DownloadSettings, ReadPrefix};
use crate::issuer::{IssuerConfig, PostCredentials, ReadAccess};
use crate::oss::post_object::PostSettings;
use crate::policy::{upload_and_read_session_policy, BucketName, CallerId, UploadPrefix};

/// The name of the profile the environment forms.
pub const DEFAULT_PROFILE: &str = "default";

/// Where a profile's callbacks go.
#[derive(Debug, Clone)]
pub struct CallbackSettings {
    /// The app's URL the broker forwards verified callbacks to.
    pub forward_url: reqwest::Url,
}

/// One profile, validated.
#[derive(Debug, Clone)]
pub struct ProfileSettings {
    pub name: String,
    pub issuer: IssuerConfig,
    pub upload: UploadSettings,
    pub post: PostSettings,
    pub callback: Option<CallbackSettings>,
    /// Signed download URLs (`[profiles.<name>.download]`).
    pub download: DownloadSettings,
}

const VAR: &str = "BROKER_PROFILES_FILE";

/// The default profile's parts, as the environment gave them.
pub(crate) struct Defaults<'a> {
    pub lifetimes: &'a Lifetimes,
    pub upload: &'a UploadSettings,
    pub post: &'a PostSettings,
    pub issuer: &'a IssuerConfig,
    pub download: &'a DownloadSettings,
}

/// Every profile: `default`, built from the environment's sections, then those of
/// `BROKER_PROFILES_FILE`. `None` when a section or the file failed (the problems are recorded);
/// with it, whether some profile of the file has a callback, read or not.
pub(crate) fn read_all(
    r: &mut Reader<'_>,
    defaults: Option<&Defaults<'_>>,
) -> (Option<Vec<ProfileSettings>>, bool) {
    let (others, wants_callbacks) = match read(r, defaults) {
        Some((others, wants_callbacks)) => (others, wants_callbacks),
        // Unset is no profiles; a file that did not read is a problem already recorded.
        None => ((!r.is_set(VAR)).then(Vec::new), false),
    };
    let Some(d) = defaults else {
        return (None, wants_callbacks);
    };
    let mut all = vec![ProfileSettings {
        name: DEFAULT_PROFILE.to_owned(),
        issuer: d.issuer.clone(),
        upload: d.upload.clone(),
        post: d.post.clone(),
        callback: None,
        download: d.download.clone(),
    }];
    let all = others.map(|others| {
        all.extend(others);
        all
    });
    (all, wants_callbacks)
}

/// The profiles of `BROKER_PROFILES_FILE` (`None` when unset or unreadable), each problem of
/// the file recorded, and whether some profile has a callback.
fn read(
    r: &mut Reader<'_>,
    defaults: Option<&Defaults<'_>>,
) -> Option<(Option<Vec<ProfileSettings>>, bool)> {
    let path = r.get(VAR)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => "there is no such file".to_owned(),
                std::io::ErrorKind::PermissionDenied => "the broker may not read it".to_owned(),
                _ => e.to_string(),
            };
            r.problem(VAR, format!("cannot read {path}: {reason}"));
            return None;
        }
    };
    let parsed = parse(&text);
    for problem in &parsed.problems {
        r.problem(VAR, format!("{path}: {problem}"));
    }
    let Some(defaults) = defaults else {
        return Some((None, parsed.wants_callbacks));
    };
    let before = r.problems.len();
    let mut profiles = Vec::new();
    for (name, spec) in parsed.profiles {
        if let Some(profile) = read_profile(r, &name, spec, defaults) {
            profiles.push(profile);
        }
    }
    check_overlaps(r, defaults, &profiles);
    let ok = parsed.problems.is_empty() && r.problems.len() == before;
    Some((ok.then_some(profiles), parsed.wants_callbacks))
}

/// Records a problem of profile `name` as `profiles.<name><key>: <reason>`.
fn problem(r: &mut Reader<'_>, name: &str, key: &str, reason: String) {
    r.problem(VAR, format!("profiles.{name}{key}: {reason}"));
}

fn is_profile_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One profile; its problems are recorded as `profiles.<name>.<key>: …`.
fn read_profile(
    r: &mut Reader<'_>,
    name: &str,
    spec: Spec,
    d: &Defaults<'_>,
) -> Option<ProfileSettings> {
    let before = r.problems.len();
    let problem = |r: &mut Reader<'_>, key: &str, reason: String| problem(r, name, key, reason);
    if !is_profile_name(name) || name == DEFAULT_PROFILE {
        problem(r, "", format!(
            "a profile name is 1-32 of a-z, 0-9 and `-`, and `{DEFAULT_PROFILE}` is the environment's"
        ));
    }
    let prefix = UploadPrefix::parse(spec.prefix.as_deref().unwrap_or_default())
        .map_err(|e| problem(r, ".prefix", e))
        .ok();
    let overrides = overrides(r, name, &spec, d);
    let limits = limits(r, name, &spec, d);
    let object_key = match &spec.object_key {
        Some(raw) => super::upload::object_key(raw)
            .map_err(|e| problem(r, ".object_key", e))
            .ok(),
        None => Some(d.post.object_key.clone()),
    };
    let (prefix, (bucket, region, role_arn, explicit_host)) = (prefix?, overrides?);
    let object_key = object_key?;
    let Limits {
        duration,
        windows,
        max_upload_bytes,
        types,
        ttl,
        callback,
    } = limits?;
    let longest = CallerId::parse(&"x".repeat(CallerId::MAX_LEN)).expect("valid id");
    if let Err(e) = upload_and_read_session_policy(&bucket, &prefix.render(&longest)) {
        problem(
            r,
            ".prefix",
            format!("too long together with the bucket: {e}"),
        );
    }
    if d.issuer.post_credentials == PostCredentials::Shared && prefix.root().is_empty() {
        problem(r, ".prefix", "has no fixed part before `${sub}`, which shared form credentials (BROKER_POST_CREDENTIALS=shared) need".into());
    }
    let inherit_host = spec.bucket.is_none() && spec.region.is_none() && explicit_host.is_none();
    let downloads = downloads_and_reads(r, name, &spec, d, inherit_host, (&bucket, &prefix));
    if r.problems.len() != before {
        return None;
    }
    let (download, reads) = downloads?;
    let host = explicit_host.unwrap_or_else(|| {
        if spec.bucket.is_none() && spec.region.is_none() {
            d.upload.host.clone()
        } else {
            format!("https://{}.oss-{region}.aliyuncs.com", bucket.as_str())
        }
    });
    let upload = UploadSettings {
        bucket,
        region: region.clone(),
        host,
        prefix,
    };
    let post = PostSettings {
        signature: d.post.signature,
        policy_ttl: std::time::Duration::from_secs(ttl),
        max_upload_bytes,
        allowed_content_types: types,
        oss_endpoint: if spec.bucket.is_none() && spec.region.is_none() {
            d.post.oss_endpoint.clone()
        } else {
            endpoint_like(&d.post.oss_endpoint, d.upload, &upload)
        },
        object_key,
        overwrite: spec.overwrite.unwrap_or(d.post.overwrite),
        part_url_ttl_seconds: d.post.part_url_ttl_seconds,
    };
    Some(ProfileSettings {
        name: name.to_owned(),
        issuer: IssuerConfig {
            role_arn,
            duration_seconds: duration,
            refresh_ahead_seconds: windows.0,
            min_ttl_seconds: windows.1,
            forms_session_name: forms_session_name(name),
            reads,
            ..d.issuer.clone()
        },
        upload,
        post,
        callback,
        download,
    })
}

/// [`downloads`] and the read scope they need (the bucket and upload prefix given).
fn downloads_and_reads(
    r: &mut Reader<'_>,
    name: &str,
    spec: &Spec,
    d: &Defaults<'_>,
    inherit_host: bool,
    (bucket, prefix): (&BucketName, &UploadPrefix),
) -> Option<(DownloadSettings, Option<ReadAccess>)> {
    let settings = downloads(r, name, spec, d, inherit_host)?;
    let session_name = super::download::reads_session_name(Some(name));
    match super::download::read_access(bucket, prefix, &settings, session_name) {
        Ok(reads) => Some((settings, reads)),
        Err(e) => {
            problem(r, name, ".download.prefixes", e);
            None
        }
    }
}

/// A profile's `[download]` table over the environment's defaults: `enabled`,
/// `max_expires_seconds` and `processes` default to the environment's; `prefixes` to none;
/// `host` to the environment's download host when the profile serves the default profile's
/// bucket through its host (`inherit_host`), else to the profile's upload host.
fn downloads(
    r: &mut Reader<'_>,
    name: &str,
    spec: &Spec,
    d: &Defaults<'_>,
    inherit_host: bool,
) -> Option<DownloadSettings> {
    let problem = |r: &mut Reader<'_>, key: &str, reason: String| problem(r, name, key, reason);
    let env = d.download;
    let Some(table) = &spec.download else {
        return Some(DownloadSettings {
            prefixes: Vec::new(),
            host: if inherit_host { env.host.clone() } else { None },
            ..env.clone()
        });
    };
    let prefixes = match &table.prefixes {
        Some(list) => ReadPrefix::parse_list(&list.join(","))
            .map_err(|e| problem(r, ".download.prefixes", e))
            .ok(),
        None => Some(Vec::new()),
    };
    let max_expires_seconds = match table.max_expires_seconds {
        Some(n) => parse_max_expires(&n.to_string())
            .map_err(|e| problem(r, ".download.max_expires_seconds", e))
            .ok(),
        None => Some(env.max_expires_seconds),
    };
    let processes = match &table.processes {
        // Each entry one value: a space inside an entry must not split it in two.
        Some(list) => list
            .iter()
            .map(|value| match parse_processes(value)?.as_slice() {
                [one] if one == value => Ok(one.clone()),
                _ => Err(format!("`{value}` is not one x-oss-process value")),
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| problem(r, ".download.processes", e))
            .ok(),
        None => Some(env.processes.clone()),
    };
    let host = match &table.host {
        Some(raw) => super::download::host(raw)
            .map(Some)
            .map_err(|e| problem(r, ".download.host", e))
            .ok(),
        None => Some(if inherit_host { env.host.clone() } else { None }),
    };
    Some(DownloadSettings {
        enabled: table.enabled.unwrap_or(env.enabled),
        prefixes: prefixes?,
        max_expires_seconds: max_expires_seconds?,
        processes: processes?,
        host: host?,
    })
}

/// `sts-broker-forms-<name>`, within the 32 characters the broker keeps session names to (a
/// longer one ends in a hash of the whole, protocol.md §1.2).
fn forms_session_name(profile: &str) -> String {
    let name = format!("{}-{profile}", crate::issuer::SHARED_FORMS_SESSION_NAME);
    if name.len() <= 32 {
        return name;
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(name.as_bytes());
    format!("sts-broker-forms-{}", hex::encode(&digest[..7]))
}

/// The bucket, region, role and upload host a profile may set for itself.
type Overrides = (BucketName, String, RoleArn, Option<String>);

fn overrides(r: &mut Reader<'_>, name: &str, spec: &Spec, d: &Defaults<'_>) -> Option<Overrides> {
    let problem = |r: &mut Reader<'_>, key: &str, reason: String| problem(r, name, key, reason);
    let bucket = match &spec.bucket {
        Some(raw) => BucketName::parse(raw)
            .map_err(|e| problem(r, ".bucket", e))
            .ok(),
        None => Some(d.upload.bucket.clone()),
    };
    let region = match &spec.region {
        Some(raw) if is_region_id(raw) => Some(raw.clone()),
        Some(_) => {
            problem(
                r,
                ".region",
                "must be a region id such as cn-hangzhou".into(),
            );
            None
        }
        None => Some(d.upload.region.clone()),
    };
    let role_arn = match &spec.role_arn {
        Some(raw) => RoleArn::parse(raw)
            .map_err(|e| problem(r, ".role_arn", e))
            .ok(),
        None => Some(d.issuer.role_arn.clone()),
    };
    let explicit_host = match &spec.upload_host {
        Some(raw) => web_url(raw, true)
            .map(|u| Some(u.as_str().trim_end_matches('/').to_owned()))
            .map_err(|e| problem(r, ".upload_host", e))
            .ok(),
        None => Some(None),
    };
    Some((bucket?, region?, role_arn?, explicit_host?))
}

/// A profile's limits and lifetimes, each defaulting to the environment's.
struct Limits {
    duration: u32,
    windows: (u32, u32),
    max_upload_bytes: u64,
    types: Vec<String>,
    ttl: u64,
    callback: Option<CallbackSettings>,
}

fn limits(r: &mut Reader<'_>, name: &str, spec: &Spec, d: &Defaults<'_>) -> Option<Limits> {
    let problem = |r: &mut Reader<'_>, key: &str, reason: String| problem(r, name, key, reason);
    let duration = spec
        .duration_seconds
        .unwrap_or(d.lifetimes.duration_seconds);
    if !(900..=43_200).contains(&duration) {
        problem(
            r,
            ".duration_seconds",
            "must be a whole number from 900 to 43200".into(),
        );
    }
    let windows = match spec.duration_seconds {
        None => Some((
            d.lifetimes.refresh_ahead_seconds,
            d.lifetimes.min_ttl_seconds,
        )),
        Some(_) => profile_windows(duration, d.lifetimes.explicit_windows)
            .map_err(|e| problem(r, ".duration_seconds", e))
            .ok(),
    };
    let max_upload_bytes = spec.max_upload_bytes.unwrap_or(d.post.max_upload_bytes);
    if !(1..=5 * 1024 * 1024 * 1024).contains(&max_upload_bytes) {
        problem(
            r,
            ".max_upload_bytes",
            "must be from 1 to 5368709120 (5 GiB)".into(),
        );
    }
    let types = match &spec.content_types {
        Some(list) => content_types(&list.join(","))
            .map_err(|e| problem(r, ".content_types", e))
            .ok(),
        None => Some(d.post.allowed_content_types.clone()),
    };
    let ttl = spec
        .post_policy_ttl_seconds
        .unwrap_or(d.post.policy_ttl.as_secs());
    if !(10..=86_400).contains(&ttl) {
        problem(
            r,
            ".post_policy_ttl_seconds",
            "must be from 10 to 86400".into(),
        );
    }
    let callback = match &spec.callback {
        Some(c) => web_url(&c.forward_url, true)
            .map(|forward_url| Some(CallbackSettings { forward_url }))
            .map_err(|e| problem(r, ".callback.forward_url", e))
            .ok(),
        None => Some(None),
    };
    Some(Limits {
        duration,
        windows: windows?,
        max_upload_bytes,
        types: types?,
        ttl,
        callback: callback?,
    })
}

/// Two profiles on one bucket whose upload roots are prefixes of one another could let a caller
/// of one write into the other's area: refused.
fn check_overlaps(r: &mut Reader<'_>, d: &Defaults<'_>, profiles: &[ProfileSettings]) {
    let mut all = vec![(DEFAULT_PROFILE, &d.upload.bucket, d.upload.prefix.root())];
    all.extend(
        profiles
            .iter()
            .map(|p| (p.name.as_str(), &p.upload.bucket, p.upload.prefix.root())),
    );
    for (i, (a, bucket_a, root_a)) in all.iter().enumerate() {
        for (b, bucket_b, root_b) in &all[i + 1..] {
            if bucket_a == bucket_b && (root_a.starts_with(root_b) || root_b.starts_with(root_a)) {
                r.problem(
                    VAR,
                    format!(
                        "profiles {a} and {b} overlap: their prefixes start `{root_a}` and `{root_b}` in the same bucket, so a caller of one could write into the other's area; give each a fixed first part of its own (e.g. `avatars/${{sub}}/`)"
                    ),
                );
            }
        }
    }
}

/// Regions where OSS offers upload callbacks (protocol.md §9.1).
const CALLBACK_REGIONS: &[&str] = &[
    "cn-hangzhou",
    "cn-shanghai",
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-wulanchabu",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-hongkong",
    "us-west-1",
    "us-east-1",
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-6",
    "eu-central-1",
    "eu-west-1",
    "me-east-1",
];

/// Start-up warnings about profiles (not problems: the region list may grow).
pub(super) fn warnings(profiles: &[ProfileSettings]) -> Vec<String> {
    profiles
        .iter()
        .filter(|p| p.callback.is_some() && !CALLBACK_REGIONS.contains(&p.upload.region.as_str()))
        .map(|p| {
            format!(
                "profile {} has a callback, but OSS offers upload callbacks in {} only as far as the broker knows; the region is {}",
                p.name,
                CALLBACK_REGIONS.join(", "),
                p.upload.region
            )
        })
        .collect()
}
