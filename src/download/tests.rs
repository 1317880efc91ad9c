use super::*;
use crate::oss::presign::PreparedKey;

fn settings() -> DownloadSettings {
    DownloadSettings {
        prefixes: ReadPrefix::parse_list("public/,shared/${sub}/").unwrap(),
        processes: parse_processes("image/resize,w_200 style/thumb").unwrap(),
        ..DownloadSettings::default()
    }
}

fn readable() -> Vec<String> {
    readable_prefixes(&settings(), "uploads/alice/", "alice")
}

fn ask(key: &str) -> UrlRequest<'_> {
    UrlRequest {
        key,
        process: None,
        filename: None,
    }
}

#[test]
fn a_caller_reads_its_directory_and_the_read_prefixes() {
    assert_eq!(readable(), ["uploads/alice/", "public/", "shared/alice/"]);
    for key in [
        "uploads/alice/a.jpg",
        "public/logo.png",
        "shared/alice/x/y.txt",
    ] {
        assert_eq!(allow(&settings(), &readable(), &ask(key)).unwrap().key, key);
    }
    for key in [
        "uploads/bob/a.jpg",
        "uploads/alice2/a.jpg",
        "uploads/alice",
        "shared/bob/x",
        "private/a",
    ] {
        assert_eq!(
            allow(&settings(), &readable(), &ask(key)),
            Err(DownloadError::KeyOutsidePrefix),
            "{key}"
        );
    }
}

#[test]
fn hostile_keys_are_invalid_before_prefixes_are_looked_at() {
    for key in [
        "uploads/alice/../bob/a.jpg",
        "uploads/alice/./a",
        "/uploads/alice/a",
        "uploads/alice\\a",
        "uploads/alice/a\u{0}",
        "",
    ] {
        assert!(
            matches!(
                allow(&settings(), &readable(), &ask(key)),
                Err(DownloadError::InvalidKey(_))
            ),
            "{key:?}"
        );
    }
    let long = format!("uploads/alice/{}", "a".repeat(1010));
    assert_eq!(
        allow(&settings(), &readable(), &ask(&long)),
        Err(DownloadError::InvalidKey(KeyError::TooLong))
    );
}

#[test]
fn off_refuses_everything() {
    let off = DownloadSettings {
        enabled: false,
        ..settings()
    };
    assert_eq!(
        allow(&off, &readable(), &ask("uploads/alice/a.jpg")),
        Err(DownloadError::Disabled)
    );
}

#[test]
fn only_listed_processes_are_signed_and_a_filename_becomes_a_disposition() {
    let with = |process, filename| UrlRequest {
        key: "uploads/alice/a.jpg",
        process,
        filename,
    };
    let allowed = allow(
        &settings(),
        &readable(),
        &with(Some("image/resize,w_200"), Some("photo 1.jpg")),
    )
    .unwrap();
    assert_eq!(
        allowed.query,
        [
            ("x-oss-process".to_owned(), "image/resize,w_200".to_owned()),
            (
                "response-content-disposition".to_owned(),
                "attachment; filename*=UTF-8''photo%201.jpg".to_owned()
            )
        ]
    );
    for refused in ["image/resize,w_2000", "style/thumb2", "image/resize,w_200 "] {
        assert_eq!(
            allow(&settings(), &readable(), &with(Some(refused), None)),
            Err(DownloadError::ProcessNotAllowed),
            "{refused}"
        );
    }
    assert!(allow(&settings(), &readable(), &with(Some(""), Some("")))
        .unwrap()
        .query
        .is_empty());
}

#[test]
fn expiry_defaults_caps_and_refusals() {
    let s = settings();
    assert_eq!(expires_seconds(&s, None), Ok(DEFAULT_EXPIRES_SECONDS));
    assert_eq!(expires_seconds(&s, Some("60")), Ok(60));
    assert_eq!(expires_seconds(&s, Some("999999")), Ok(3600));
    assert_eq!(expires_seconds(&s, Some("99999999999")), Ok(3600));
    assert_eq!(
        expires_seconds(&s, Some("6511486794693000000000")),
        Ok(3600)
    );
    assert_eq!(expires_seconds(&s, Some("0060")), Ok(60));
    let week = DownloadSettings {
        max_expires_seconds: 604_800,
        ..settings()
    };
    assert_eq!(expires_seconds(&week, Some("9999999")), Ok(604_800));
    for bad in ["0", "000", "-1", "1.5", "", " 60", "ten", "+60"] {
        assert_eq!(
            expires_seconds(&s, Some(bad)),
            Err(DownloadError::InvalidExpires),
            "{bad:?}"
        );
    }
}

#[test]
fn configuration_values() {
    assert_eq!(parse_enabled("own"), Ok(true));
    assert_eq!(parse_enabled("off"), Ok(false));
    assert!(parse_enabled("on").is_err());
    assert_eq!(parse_max_expires("604800"), Ok(604_800));
    assert!(parse_max_expires("604801").is_err() && parse_max_expires("0").is_err());
    assert_eq!(
        parse_processes(" image/resize,w_200  style/thumb ").unwrap(),
        ["image/resize,w_200", "style/thumb"]
    );
    assert!(parse_processes("").unwrap().is_empty());
    assert!(parse_processes("image/a&b").is_err());
    assert!(parse_processes("image/照片").is_err());
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap()
}

fn signing(now: i64, credential_expires_at: i64) -> Signing<'static> {
    Signing {
        bucket: "examplebucket",
        region: "cn-hangzhou",
        host: "https://cdn.example.com",
        key: PreparedKey {
            access_key_id: "STS.read",
            secret: "secret",
            encoded_token: Some("token"),
        },
        credential_expires_at: at(credential_expires_at),
        now: at(now),
    }
}

#[test]
fn a_url_never_outlives_its_credential() {
    assert_eq!(signing(1000, 5000).lifetime(900), Ok(900));
    assert_eq!(signing(1000, 1600).lifetime(900), Ok(600));
    assert_eq!(
        signing(1000, 1000).lifetime(900),
        Err(DownloadError::CredentialExpired)
    );
    assert_eq!(
        signing(1000, 900).lifetime(900),
        Err(DownloadError::CredentialExpired)
    );
}

#[test]
fn the_url_points_at_the_host_and_signs_the_extras() {
    let allowed = allow(
        &settings(),
        &readable(),
        &UrlRequest {
            key: "uploads/alice/a b.jpg",
            process: Some("style/thumb"),
            filename: None,
        },
    )
    .unwrap();
    let url = signing(1_700_000_000, 1_700_003_600)
        .url(&allowed, 600)
        .unwrap();
    assert!(
        url.starts_with("https://cdn.example.com/uploads/alice/a%20b.jpg?x-oss-credential=STS.read%2F20231114%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date=20231114T221320Z&x-oss-expires=600&x-oss-process=style%2Fthumb&x-oss-security-token=token&x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-signature="),
        "{url}"
    );
}

#[test]
fn many_urls_sign_as_one_url_each() {
    let allowed: Vec<Allowed> = ["uploads/alice/1", "uploads/alice/2", "public/3"]
        .iter()
        .map(|key| allow(&settings(), &readable(), &ask(key)).unwrap())
        .collect();
    let signing = signing(1_700_000_000, 1_700_003_600);
    let one_by_one: Vec<String> = allowed
        .iter()
        .map(|a| signing.url(a, 300).unwrap())
        .collect();
    assert_eq!(signing.urls(&allowed, 300).unwrap(), one_by_one);
    assert_ne!(one_by_one[0], one_by_one[1]);
}
