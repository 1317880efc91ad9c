//! The configuration's tests: defaults, every invalid value, windows, endpoints, secrets.

use super::*;
use crate::key_template::ObjectKeyRule;
use std::time::Duration;

fn base() -> HashMap<String, String> {
    [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tExampleKey"),
        (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "do-not-print-this-secret",
        ),
        ("BROKER_ROLE_ARN", "acs:ram::1234567890123456:role/uploader"),
        ("BROKER_BUCKET", "examplebucket"),
        ("BROKER_REGION", "cn-hangzhou"),
        ("BROKER_AUTH", "none"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn with(changes: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut vars = base();
    for (k, v) in changes {
        if v.is_empty() {
            vars.remove(*k);
        } else {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    Settings::from_map(&vars)
}

#[test]
fn defaults() {
    let s = with(&[]).unwrap();
    assert_eq!(s.server.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(s.sts.endpoints[0].as_str(), "https://sts.aliyuncs.com/");
    assert_eq!(s.sts.endpoints.len(), 1);
    assert_eq!(
        (
            s.default_profile().issuer.refresh_ahead_seconds,
            s.default_profile().issuer.min_ttl_seconds
        ),
        (900, 300)
    );
    assert_eq!(
        (s.sts.max_qps, s.default_profile().issuer.cache_max_entries),
        (50, 10_000)
    );
    assert_eq!(s.default_profile().issuer.duration_seconds, 3600);
    assert_eq!(
        s.default_profile().upload.host,
        "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"
    );
    assert_eq!(s.access.mode, AuthMode::None);
    assert_eq!(s.server.log_format, LogFormat::Json);
    assert_eq!(s.server.metrics_listen, None);
    let separate = with(&[("BROKER_METRICS_LISTEN", "0.0.0.0:9090")]).unwrap();
    assert_eq!(
        separate.server.metrics_listen,
        Some("0.0.0.0:9090".parse().unwrap())
    );
    let same = with(&[("BROKER_METRICS_LISTEN", "127.0.0.1:8080")]).unwrap();
    assert_eq!(same.server.metrics_listen, None);
    assert!(matches!(&s.identity, Identity::Static(k) if k.security_token.is_none()));
    let regional = with(&[("BROKER_STS_REGION", "ap-southeast-1")]).unwrap();
    assert_eq!(
        regional.sts.endpoints[0].as_str(),
        "https://sts.ap-southeast-1.aliyuncs.com/"
    );
}

#[test]
fn table_of_invalid_values() {
    let table: &[(&str, &str)] = &[
        ("BROKER_LISTEN", "localhost"),
        ("BROKER_ROLE_ARN", "acs:ram::123:user/bob"),
        ("BROKER_ROLE_ARN", "role/uploader"),
        ("BROKER_DURATION_SECONDS", "899"),
        ("BROKER_DURATION_SECONDS", "43201"),
        ("BROKER_DURATION_SECONDS", "1h"),
        ("BROKER_STS_ENDPOINT", "http://sts.aliyuncs.com"),
        ("BROKER_STS_ENDPOINT", "http://10.0.0.1:8080"),
        ("BROKER_STS_ENDPOINT", "ftp://127.0.0.1"),
        ("BROKER_STS_ENDPOINT", "https://sts.aliyuncs.com/?x=1"),
        ("BROKER_STS_ENDPOINT", "https://user:pw@sts.aliyuncs.com"),
        ("BROKER_STS_ENDPOINT", "not a url"),
        ("BROKER_STS_REGION", "Hangzhou"),
        ("BROKER_REGION", "oss-cn-hangzhou"),
        ("BROKER_REGION", "cn_hangzhou"),
        ("BROKER_BUCKET", "Example_Bucket"),
        ("BROKER_BUCKET", "ab"),
        ("BROKER_UPLOAD_HOST", "http://cdn.example.com"),
        ("BROKER_UPLOAD_PREFIX", "uploads/"),
        ("BROKER_UPLOAD_PREFIX", "uploads/${sub}"),
        ("BROKER_UPLOAD_PREFIX", "../${sub}/"),
        ("BROKER_AUTH", "basic"),
        ("BROKER_LOG_FORMAT", "xml"),
        ("BROKER_METRICS_LISTEN", "9090"),
        ("BROKER_STS_TIMEOUT_MS", "0"),
        ("BROKER_SHUTDOWN_TIMEOUT_SECONDS", "-1"),
        (
            "BROKER_STS_ENDPOINT",
            "https://sts.aliyuncs.com,http://10.1.1.1",
        ),
        ("BROKER_STS_MAX_QPS", "0"),
        ("BROKER_CACHE_MAX_ENTRIES", "many"),
        ("BROKER_REFRESH_AHEAD_SECONDS", "3600"),
        ("BROKER_REFRESH_AHEAD_SECONDS", "200"),
        ("BROKER_MIN_TTL_SECONDS", "1000"),
        ("BROKER_POST_SIGNATURE", "v2"),
        ("BROKER_POST_POLICY_TTL_SECONDS", "0"),
        ("BROKER_POST_POLICY_TTL_SECONDS", "86401"),
        ("BROKER_MAX_UPLOAD_BYTES", "0"),
        ("BROKER_MAX_UPLOAD_BYTES", "5368709121"),
        ("BROKER_ALLOWED_CONTENT_TYPES", "image/jpeg,jpeg"),
        ("BROKER_ALLOWED_CONTENT_TYPES", "image/$x"),
        ("BROKER_CORS_ORIGINS", "https://app.example.com/path"),
        ("BROKER_CORS_ORIGINS", "app.example.com"),
        ("BROKER_OSS_ENDPOINT", "http://oss.example.com"),
        ("BROKER_OBJECT_KEY", "${name}"),
        ("BROKER_OBJECT_KEY", "/${uuid}"),
        ("BROKER_OBJECT_KEY", "../${uuid}"),
        ("BROKER_OVERWRITE", "no"),
        ("BROKER_PART_URL_TTL_SECONDS", "59"),
        ("BROKER_PART_URL_TTL_SECONDS", "86401"),
    ];
    for (var, value) in table {
        let err = with(&[(var, value)]).expect_err(&format!("{var}={value} accepted"));
        assert!(err.mentions(var), "{var}={value}: {err}");
        assert_eq!(err.problems.len(), 1, "{var}={value}: {err}");
    }
}

#[test]
fn keys_overwrite_and_part_urls_are_read() {
    let plain = with(&[]).unwrap();
    assert_eq!(
        plain.default_profile().post.object_key,
        ObjectKeyRule::Client
    );
    assert!(plain.default_profile().post.overwrite);
    assert_eq!(plain.default_profile().post.part_url_ttl_seconds, 900);
    let set = with(&[
        ("BROKER_OBJECT_KEY", "${date}/${uuid}${ext}"),
        ("BROKER_OVERWRITE", "false"),
        ("BROKER_PART_URL_TTL_SECONDS", "120"),
    ])
    .unwrap();
    assert!(
        matches!(&set.default_profile().post.object_key, ObjectKeyRule::Template(t) if t.as_str() == "${date}/${uuid}${ext}")
    );
    assert!(!set.default_profile().post.overwrite);
    assert_eq!(set.default_profile().post.part_url_ttl_seconds, 120);
    let err = with(&[("BROKER_OBJECT_KEY", "${name}")]).unwrap_err();
    assert!(err.to_string().contains("${filename}"), "{err}");
}

#[test]
fn refresh_windows_scale_or_are_honoured() {
    let short = with(&[("BROKER_DURATION_SECONDS", "900")]).unwrap();
    assert_eq!(
        (
            short.default_profile().issuer.refresh_ahead_seconds,
            short.default_profile().issuer.min_ttl_seconds
        ),
        (225, 75)
    );
    let long = with(&[("BROKER_DURATION_SECONDS", "43200")]).unwrap();
    assert_eq!(
        (
            long.default_profile().issuer.refresh_ahead_seconds,
            long.default_profile().issuer.min_ttl_seconds
        ),
        (10800, 3600)
    );
    let set = with(&[
        ("BROKER_REFRESH_AHEAD_SECONDS", "1200"),
        ("BROKER_MIN_TTL_SECONDS", "600"),
    ])
    .unwrap();
    assert_eq!(
        (
            set.default_profile().issuer.refresh_ahead_seconds,
            set.default_profile().issuer.min_ttl_seconds
        ),
        (1200, 600)
    );
    let err = with(&[
        ("BROKER_REFRESH_AHEAD_SECONDS", "400"),
        ("BROKER_MIN_TTL_SECONDS", "500"),
    ])
    .unwrap_err();
    assert!(err.mentions("BROKER_MIN_TTL_SECONDS"), "{err}");
}

#[test]
fn several_sts_endpoints_in_order() {
    let s = with(&[(
        "BROKER_STS_ENDPOINT",
        "https://sts.cn-hangzhou.aliyuncs.com, https://sts.aliyuncs.com",
    )])
    .unwrap();
    let hosts: Vec<_> = s
        .sts
        .endpoints
        .iter()
        .map(|u| u.host_str().unwrap())
        .collect();
    assert_eq!(hosts, ["sts.cn-hangzhou.aliyuncs.com", "sts.aliyuncs.com"]);
}

#[test]
fn post_settings_defaults_and_values() {
    let s = with(&[]).unwrap();
    assert_eq!(s.default_profile().post.signature, PostSignature::V4);
    assert_eq!(
        s.default_profile().post.policy_ttl,
        Duration::from_secs(600)
    );
    assert_eq!(s.default_profile().post.max_upload_bytes, 10_485_760);
    assert!(
        s.default_profile().post.allowed_content_types.is_empty()
            && s.access.cors_origins.is_empty()
    );
    assert_eq!(
        s.default_profile().post.oss_endpoint,
        "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"
    );
    let s = with(&[
        ("BROKER_POST_SIGNATURE", "v1"),
        ("BROKER_ALLOWED_CONTENT_TYPES", " image/JPEG, image/png ,"),
        (
            "BROKER_CORS_ORIGINS",
            "https://App.Example.com, http://localhost:5173",
        ),
        ("BROKER_UPLOAD_HOST", "http://127.0.0.1:9000/examplebucket"),
    ])
    .unwrap();
    assert_eq!(s.default_profile().post.signature, PostSignature::V1);
    assert_eq!(
        s.default_profile().post.allowed_content_types,
        ["image/jpeg", "image/png"]
    );
    assert_eq!(
        s.access.cors_origins,
        ["https://app.example.com", "http://localhost:5173"]
    );
    assert_eq!(
        s.default_profile().post.oss_endpoint,
        "http://127.0.0.1:9000/examplebucket"
    );
    // A custom domain cannot take API calls: the bucket's own host is used instead.
    let s = with(&[("BROKER_UPLOAD_HOST", "https://cdn.example.com")]).unwrap();
    assert_eq!(
        s.default_profile().post.oss_endpoint,
        "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"
    );
    let s = with(&[
        ("BROKER_UPLOAD_HOST", "https://cdn.example.com"),
        (
            "BROKER_OSS_ENDPOINT",
            "https://examplebucket.oss-cn-hangzhou-internal.aliyuncs.com/",
        ),
    ])
    .unwrap();
    assert_eq!(
        s.default_profile().post.oss_endpoint,
        "https://examplebucket.oss-cn-hangzhou-internal.aliyuncs.com"
    );
}

#[test]
fn http_is_accepted_for_loopback_only() {
    for ok in [
        "http://127.0.0.1:9000",
        "http://localhost:9",
        "http://[::1]:80",
    ] {
        assert!(with(&[("BROKER_STS_ENDPOINT", ok)]).is_ok(), "{ok}");
    }
    assert!(with(&[("BROKER_UPLOAD_HOST", "http://127.0.0.1:9000/bucket")]).is_ok());
}

#[test]
fn every_problem_is_reported_at_once_without_secrets() {
    let vars: HashMap<String, String> = [
        (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "do-not-print-this-secret",
        ),
        ("BROKER_DURATION_SECONDS", "5"),
        ("BROKER_AUTH", "api-key"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let err = Settings::from_map(&vars).unwrap_err();
    for var in [
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "BROKER_ROLE_ARN",
        "BROKER_DURATION_SECONDS",
        "BROKER_BUCKET",
        "BROKER_REGION",
        "BROKER_API_KEYS",
    ] {
        assert!(err.mentions(var), "{var} missing from {err}");
    }
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("do-not-print-this-secret"));
    assert!(shown.contains("BROKER_API_KEYS"), "{shown}");
}

#[test]
fn settings_debug_redacts_the_secret() {
    let s = with(&[("ALIBABA_CLOUD_SECURITY_TOKEN", "CAIS-broker-token")]).unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains("do-not-print-this-secret") && !shown.contains("CAIS-broker-token"));
}
