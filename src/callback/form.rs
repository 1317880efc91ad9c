//! The `callback` field of a server-signed form: the JSON OSS posts back after the upload
//! (with OSS's system variables and the broker's grant for the caller, profile and directory),
//! Base64, at most OSS's 5 KB.

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use serde::Serialize;

use super::grant;
use super::CallbackConfig;

/// OSS refuses a Base64 `callback` field over this (protocol.md §9.1).
pub const MAX_CALLBACK_FIELD: usize = 5 * 1024;

/// The `callback` form field (Base64 JSON) for one caller's form: OSS fills the system
/// variables into a JSON body that also carries the caller, the profile, the directory and the
/// broker's grant. `None` when it would exceed OSS's 5 KB.
pub fn form_field(
    config: &CallbackConfig,
    caller: &str,
    profile: &str,
    dir: &str,
    expires: i64,
) -> Option<String> {
    let grant = grant::sign(
        &config.secret,
        &grant::GrantFacts {
            caller,
            profile,
            dir,
            expires,
        },
    );
    let quoted = |s: &str| serde_json::to_string(s).expect("strings serialise");
    // protocol.md §9.2: in a JSON body the placeholders are written unquoted.
    let body = format!(
        "{{\"bucket\":${{bucket}},\"object\":${{object}},\"size\":${{size}},\"etag\":${{etag}},\"mimeType\":${{mimeType}},\"caller\":{},\"profile\":{},\"dir\":{},\"grant\":{},\"reqId\":${{reqId}}}}",
        quoted(caller),
        quoted(profile),
        quoted(dir),
        quoted(&grant)
    );
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Param<'a> {
        callback_url: &'a str,
        callback_body: &'a str,
        callback_body_type: &'static str,
        #[serde(rename = "callbackSNI")]
        callback_sni: bool,
    }
    let json = serde_json::to_vec(&Param {
        callback_url: config.url.as_str(),
        callback_body: &body,
        callback_body_type: "application/json",
        // protocol.md §9.1: without SNI an HTTPS callback can fail on the certificate.
        callback_sni: config.url.scheme() == "https",
    })
    .expect("plain strings serialise");
    let field = B64.encode(json);
    (field.len() <= MAX_CALLBACK_FIELD).then_some(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn config() -> CallbackConfig {
        CallbackConfig {
            url: "https://upload.example.com/ossCallback".parse().unwrap(),
            secret: SecretString::from("0123456789abcdef0123456789abcdef".to_owned()),
            pinned_key: None,
        }
    }

    #[test]
    fn the_form_field_is_oss_json_with_unquoted_placeholders() {
        let field = form_field(&config(), "al\"ice", "avatar", "avatars/al\"ice/", 1000).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&B64.decode(&field).unwrap()).unwrap();
        assert_eq!(
            json["callbackUrl"],
            "https://upload.example.com/ossCallback"
        );
        assert_eq!(json["callbackBodyType"], "application/json");
        assert_eq!(json["callbackSNI"], true);
        let body = json["callbackBody"].as_str().unwrap();
        assert!(body.starts_with(r#"{"bucket":${bucket},"object":${object},"size":${size},"etag":${etag},"mimeType":${mimeType},"caller":"al\"ice","profile":"avatar""#), "{body}");
        assert!(body.contains(r#""grant":"v1.1000."#));
        let long = "x".repeat(4000);
        assert!(
            form_field(&config(), &long, "p", &long, 1).is_none(),
            "over OSS's 5 KB"
        );
    }
}
