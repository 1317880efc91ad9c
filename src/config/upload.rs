//! The upload section (bucket, region, the host clients post to, the prefix template) and the
//! server-side signing section (`/getPostObjectParams` and `sts-broker cors`).

use std::time::Duration;

use super::reader::{is_loopback_host, is_region_id, web_url, Reader};
use crate::issuer::PostCredentials;
use crate::key_template::ObjectKeyRule;
use crate::oss::post_object::{PostSettings, PostSignature};
use crate::policy::{upload_and_read_session_policy, BucketName, CallerId, UploadPrefix};

/// Where clients upload.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub bucket: BucketName,
    pub region: String,
    /// The URL clients post forms to, without a trailing `/`.
    pub host: String,
    pub prefix: UploadPrefix,
}

/// OSS allows objects up to 5 GB through PostObject (protocol.md §5.1).
const MAX_POST_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

pub(crate) fn read_upload(r: &mut Reader<'_>) -> Option<UploadSettings> {
    let bucket = r.required_parsed("BROKER_BUCKET", "the OSS bucket clients upload to", |raw| {
        BucketName::parse(raw)
    });
    let region = r.required_parsed(
        "BROKER_REGION",
        "the bucket's region id, e.g. cn-hangzhou",
        |raw| {
            if is_region_id(raw) {
                Ok(raw.to_owned())
            } else {
                Err(
                    "must be a region id such as cn-hangzhou (plain id, without an `oss-` prefix)"
                        .into(),
                )
            }
        },
    );
    let host = upload_host(r);
    let host = host.map(|u| u.as_str().trim_end_matches('/').to_owned());
    let host = host.or_else(|| match (&bucket, &region) {
        (Some(b), Some(reg)) => Some(format!("https://{}.oss-{reg}.aliyuncs.com", b.as_str())),
        _ => None,
    });
    let prefix = r.parsed(
        "BROKER_UPLOAD_PREFIX",
        Some(UploadPrefix::parse("uploads/${sub}/").expect("default prefix is valid")),
        |raw| UploadPrefix::parse(raw).map_err(|e| explain_lost_placeholder(raw, e)),
    );
    // The longest possible caller id must still give a policy STS accepts.
    if let (Some(bucket), Some(prefix)) = (&bucket, &prefix) {
        let longest = CallerId::parse(&"x".repeat(CallerId::MAX_LEN)).expect("valid id");
        if let Err(e) = upload_and_read_session_policy(bucket, &prefix.render(&longest)) {
            r.problem(
                "BROKER_UPLOAD_PREFIX",
                format!("too long together with BROKER_BUCKET: {e}"),
            );
        }
    }
    Some(UploadSettings {
        bucket: bucket?,
        region: region?,
        host: host?,
        prefix: prefix?,
    })
}

/// A prefix without `${sub}` most often lost it on the way in: `.env` (like a shell) substitutes
/// `${…}` in unquoted and double-quoted values, so `uploads/${sub}/` arrives as `uploads//`. Say
/// so, with the value it probably was, and that single quotes keep it.
fn explain_lost_placeholder(raw: &str, reason: String) -> String {
    if raw.contains("${sub}") {
        return reason;
    }
    let was = match raw.find("//") {
        Some(at) => Some(format!("{}/${{sub}}/{}", &raw[..at], &raw[at + 2..])),
        None => raw.strip_prefix('/').map(|rest| format!("${{sub}}/{rest}")),
    };
    match was {
        Some(was) => format!(
            "{reason}; `{raw}` looks like `{was}` with `${{sub}}` substituted by nothing: .env, like a \
             shell, substitutes `${{…}}` in unquoted and double-quoted values, so write it in single \
             quotes: BROKER_UPLOAD_PREFIX='{was}'"
        ),
        None => format!(
            "{reason}; in .env or a shell, write the value in single quotes (BROKER_UPLOAD_PREFIX='uploads/${{sub}}/'), \
             or `${{sub}}` is substituted before the broker sees it"
        ),
    }
}

/// `BROKER_UPLOAD_HOST`, the one parser of it (the post section reads the result).
fn upload_host(r: &mut Reader<'_>) -> Option<reqwest::Url> {
    r.parsed("BROKER_UPLOAD_HOST", None, |raw| web_url(raw, true))
}

/// A MIME type as `type/subtype`: token characters only, so it can never carry a `$`, a comma
/// or anything that needs escaping in a policy.
fn is_mime_type(raw: &str) -> bool {
    let token = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#&-^_.+".contains(&b))
    };
    raw.len() <= 255
        && raw
            .split_once('/')
            .is_some_and(|(t, s)| token(t) && token(s))
}

/// Whether `url` is the bucket's own OSS host (virtual-hosted) or a loopback emulator whose
/// path is the bucket (path-style); anything else is a custom domain that cannot take API calls.
fn is_bucket_api_url(url: &reqwest::Url, bucket: &BucketName, region: &str) -> bool {
    let expected = format!("{}.oss-{region}.aliyuncs.com", bucket.as_str());
    let virtual_hosted = url
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case(&expected))
        && url.path() == "/";
    let path_style = is_loopback_host(url)
        && url.path().trim_end_matches('/') == format!("/{}", bucket.as_str());
    virtual_hosted || path_style
}

pub(crate) fn content_types(raw: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = raw
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    match list.iter().find(|t| !is_mime_type(t)) {
        Some(bad) => Err(format!(
            "`{bad}` is not a MIME type; write a comma-separated list such as image/jpeg,image/png"
        )),
        None => Ok(list),
    }
}

/// The bucket's URL for OSS API calls: `explicit` (`BROKER_OSS_ENDPOINT`), else the upload host
/// when it is the bucket's own OSS host (or a loopback emulator), else the bucket's default
/// host.
pub(crate) fn oss_endpoint_for(u: &UploadSettings, explicit: Option<reqwest::Url>) -> String {
    let host = reqwest::Url::parse(&u.host).ok();
    let derived = explicit.or_else(|| host.filter(|h| is_bucket_api_url(h, &u.bucket, &u.region)));
    match derived {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => format!(
            "https://{}.oss-{}.aliyuncs.com",
            u.bucket.as_str(),
            u.region
        ),
    }
}

/// `BROKER_POST_CREDENTIALS`; `shared` needs an upload root that is not the whole bucket.
pub(crate) fn read_post_credentials(
    r: &mut Reader<'_>,
    upload: Option<&UploadSettings>,
) -> Option<PostCredentials> {
    let mode = r.parsed(
        "BROKER_POST_CREDENTIALS",
        Some(PostCredentials::Shared),
        |raw| match raw {
            "shared" => Ok(PostCredentials::Shared),
            "per-caller" => Ok(PostCredentials::PerCaller),
            _ => Err("must be `shared` or `per-caller`".into()),
        },
    )?;
    if let (PostCredentials::Shared, Some(upload)) = (mode, upload) {
        if upload.prefix.root().is_empty() {
            r.problem(
                "BROKER_POST_CREDENTIALS",
                "`shared` (the default) signs every caller's form with one credential for the \
                 upload root, the part of BROKER_UPLOAD_PREFIX before `${sub}`; this prefix has \
                 none, so that credential could write anywhere in the bucket. Give the prefix a \
                 fixed first part (e.g. `uploads/${sub}/`) or set BROKER_POST_CREDENTIALS=per-caller",
            );
            return None;
        }
    }
    Some(mode)
}

/// `upload` is `None` when the upload section itself had problems.
pub(crate) fn read_post(
    r: &mut Reader<'_>,
    upload: Option<&UploadSettings>,
) -> Option<PostSettings> {
    let signature = r.parsed(
        "BROKER_POST_SIGNATURE",
        Some(PostSignature::V4),
        |raw| match raw {
            "v4" => Ok(PostSignature::V4),
            "v1" => Ok(PostSignature::V1),
            _ => Err("must be `v4` (OSS4-HMAC-SHA256) or `v1` (HMAC-SHA1)".into()),
        },
    );
    // V4 requests are valid at most 7 days from x-oss-date (protocol.md §5.5); a day is plenty.
    let policy_ttl = r.integer("BROKER_POST_POLICY_TTL_SECONDS", 600, 10, 86_400);
    let max_upload_bytes = r.integer(
        "BROKER_MAX_UPLOAD_BYTES",
        10_485_760,
        1,
        MAX_POST_OBJECT_BYTES,
    );
    let allowed_content_types = r.parsed(
        "BROKER_ALLOWED_CONTENT_TYPES",
        Some(Vec::new()),
        content_types,
    );
    let explicit_endpoint = r.parsed("BROKER_OSS_ENDPOINT", None, |raw| web_url(raw, true));
    let oss_endpoint = upload.map(|u| oss_endpoint_for(u, explicit_endpoint));
    let object_key = r.parsed("BROKER_OBJECT_KEY", Some(ObjectKeyRule::Client), object_key);
    let overwrite = r.parsed("BROKER_OVERWRITE", Some(true), overwrite);
    // A part URL must outlive a slow part's upload, and is capped by its credential anyway.
    let part_ttl = r.integer("BROKER_PART_URL_TTL_SECONDS", 900, 60, 86_400);
    Some(PostSettings {
        signature: signature?,
        policy_ttl: Duration::from_secs(policy_ttl?),
        max_upload_bytes: max_upload_bytes?,
        allowed_content_types: allowed_content_types?,
        oss_endpoint: oss_endpoint?,
        object_key: object_key?,
        overwrite: overwrite?,
        part_url_ttl_seconds: u32::try_from(part_ttl?).ok()?,
    })
}

/// `client` or a key template (`crate::key_template`), with the rule it breaks.
pub(crate) fn object_key(raw: &str) -> Result<ObjectKeyRule, String> {
    ObjectKeyRule::parse(raw).map_err(|e| {
        format!("must be `client` or a key template such as `${{date}}/${{uuid}}${{ext}}`; this one {e}")
    })
}

fn overwrite(raw: &str) -> Result<bool, String> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be `true` (default) or `false`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::explain_lost_placeholder;
    use crate::policy::UploadPrefix;

    fn message(raw: &str) -> String {
        UploadPrefix::parse(raw)
            .map_err(|e| explain_lost_placeholder(raw, e))
            .unwrap_err()
    }

    #[test]
    fn a_substituted_placeholder_is_explained_with_the_likely_value() {
        let m = message("uploads//");
        assert!(m.starts_with("must contain `${sub}`"), "{m}");
        assert!(m.contains("single quotes"), "{m}");
        assert!(m.contains("BROKER_UPLOAD_PREFIX='uploads/${sub}/'"), "{m}");
        let m = message("/");
        assert!(m.contains("BROKER_UPLOAD_PREFIX='${sub}/'"), "{m}");
        let m = message("tenant/a//files/");
        assert!(
            m.contains("BROKER_UPLOAD_PREFIX='tenant/a/${sub}/files/'"),
            "{m}"
        );
        let m = message("uploads/");
        assert!(m.contains("single quotes"), "{m}");
    }

    #[test]
    fn other_prefix_problems_keep_their_own_message() {
        let m = message("uploads/${sub}");
        assert!(!m.contains("single quotes"), "{m}");
        assert!(m.contains("must end with `/`"), "{m}");
    }
}
