//! `GET /getPostObjectParams`: a PostObject form signed server-side with the caller's scoped STS
//! credential, so the client only posts it. Thin: the issuer makes and signs the form
//! (`crate::issuer::form`); this route turns it into the contract's JSON.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::Caller;
use crate::issuer::{FormProfile, SignedForm};
use crate::oss::post_object::SignatureFields;
use crate::web::error::ApiError;
use crate::web::state::AppState;

/// The response body as `serde_json` writes it; field names are the contract (the form fields
/// are posted as they are). Only debug builds (the tests) build it, to check [`render`]'s text.
#[cfg(debug_assertions)]
#[derive(serde::Serialize)]
struct PostParamsResponse<'a> {
    host: &'a str,
    dir: &'a str,
    expire: i64,
    policy: &'a str,
    #[serde(rename = "OSSAccessKeyId", skip_serializing_if = "Option::is_none")]
    oss_access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a str>,
    #[serde(
        rename = "x-oss-signature-version",
        skip_serializing_if = "Option::is_none"
    )]
    signature_version: Option<&'static str>,
    #[serde(rename = "x-oss-credential", skip_serializing_if = "Option::is_none")]
    credential: Option<&'a str>,
    #[serde(rename = "x-oss-date", skip_serializing_if = "Option::is_none")]
    date: Option<&'a str>,
    #[serde(rename = "x-oss-signature", skip_serializing_if = "Option::is_none")]
    v4_signature: Option<&'a str>,
    #[serde(rename = "x-oss-security-token")]
    security_token: &'a str,
    success_action_status: &'static str,
    #[serde(rename = "Content-Disposition")]
    content_disposition: &'static str,
    /// The upload callback (profiles with a callback only), pinned in the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    callback: Option<&'a str>,
    /// The broker's key (`object_key` templates), pinned in the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    /// `true` when the profile does not overwrite, pinned in the policy.
    #[serde(
        rename = "x-oss-forbid-overwrite",
        skip_serializing_if = "Option::is_none"
    )]
    forbid_overwrite: Option<&'static str>,
    /// Not a form field: the profile the form was made for.
    profile: &'a str,
}

#[cfg(debug_assertions)]
impl<'a> PostParamsResponse<'a> {
    /// The signature fields of `signature`'s version.
    fn with_signature(mut self, signature: &'a SignatureFields) -> Self {
        match signature {
            SignatureFields::V1 {
                access_key_id,
                signature,
            } => {
                self.oss_access_key_id = Some(access_key_id);
                self.signature = Some(signature);
            }
            SignatureFields::V4 {
                credential,
                date,
                signature,
            } => {
                self.signature_version = Some(crate::oss::post_signer::V4_ALGORITHM);
                self.credential = Some(credential);
                self.date = Some(date);
                self.v4_signature = Some(signature);
            }
        }
        self
    }
}

/// `?filename=`, the name a broker-chosen key is made from; given twice it is unreadable.
pub fn filename_param(query: &str) -> Result<Option<String>, ApiError> {
    let mut names = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "filename")
        .map(|(_, v)| v.into_owned());
    let first = names.next();
    if names.next().is_some() {
        return Err(ApiError::InvalidRequest("`filename` given twice".into()));
    }
    Ok(first)
}

pub async fn get_post_object_params(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let profile = state.profile(req.query_string())?;
    let settings = &profile.settings;
    let filename = filename_param(req.query_string())?;
    let signed = profile
        .issuer
        .sign_form(
            &caller.id,
            caller.address,
            FormProfile {
                name: &profile.name,
                bucket: settings.upload.bucket.as_str(),
                region: &settings.upload.region,
                post: &settings.post,
                callback: settings.callback.is_some(),
                filename: filename.as_deref(),
                broker_key: false,
            },
        )
        .await?;
    state.metrics.credential_handed_out(
        crate::metrics::Handout::PostForm,
        profile.index,
        signed.outcome,
    );
    let body = render(&settings.upload.host, &signed, &profile.name);
    Ok(super::handout(
        body,
        caller,
        profile,
        signed.dir,
        signed.grant,
        signed.outcome,
    ))
}

/// The answer's JSON, written field by field: the long values (the policy, the security token)
/// need no escape, and `web::json` copies them after one scan instead of escaping byte by byte.
fn render(host: &str, signed: &SignedForm, profile: &str) -> String {
    use crate::web::json::{push_field, push_str};
    let form = &signed.form;
    let mut out = String::with_capacity(512 + form.policy.len() + form.security_token.len());
    out.push_str("{\"host\":");
    push_str(&mut out, host);
    push_field(&mut out, "dir", &signed.dir);
    out.push_str(",\"expire\":");
    out.push_str(&form.expire.timestamp().to_string());
    push_field(&mut out, "policy", &form.policy);
    match &form.signature {
        SignatureFields::V1 {
            access_key_id,
            signature,
        } => {
            push_field(&mut out, "OSSAccessKeyId", access_key_id);
            push_field(&mut out, "signature", signature);
        }
        SignatureFields::V4 {
            credential,
            date,
            signature,
        } => {
            let version = crate::oss::post_signer::V4_ALGORITHM;
            push_field(&mut out, "x-oss-signature-version", version);
            push_field(&mut out, "x-oss-credential", credential);
            push_field(&mut out, "x-oss-date", date);
            push_field(&mut out, "x-oss-signature", signature);
        }
    }
    push_field(&mut out, "x-oss-security-token", &form.security_token);
    push_field(
        &mut out,
        "success_action_status",
        form.success_action_status,
    );
    push_field(&mut out, "Content-Disposition", form.content_disposition);
    for (name, value) in [("callback", &signed.callback), ("key", &signed.key)] {
        if let Some(value) = value {
            push_field(&mut out, name, value);
        }
    }
    if signed.forbid_overwrite {
        push_field(&mut out, "x-oss-forbid-overwrite", "true");
    }
    push_field(&mut out, "profile", profile);
    out.push('}');
    // Tests run debug builds: there the text must be serde_json's, byte for byte (said without
    // the texts, which hold the security token).
    #[cfg(debug_assertions)]
    debug_assert!(
        serde_json::to_string(&serde_form(host, signed, profile)).is_ok_and(|serde| serde == out),
        "the form answer differs from serde_json's"
    );
    out
}

/// The answer as the serde struct holds it (debug builds check [`render`] against it).
#[cfg(debug_assertions)]
fn serde_form<'a>(
    host: &'a str,
    signed: &'a SignedForm,
    profile: &'a str,
) -> PostParamsResponse<'a> {
    let form = &signed.form;
    PostParamsResponse {
        host,
        dir: &signed.dir,
        expire: form.expire.timestamp(),
        policy: &form.policy,
        oss_access_key_id: None,
        signature: None,
        signature_version: None,
        credential: None,
        date: None,
        v4_signature: None,
        security_token: &form.security_token,
        success_action_status: form.success_action_status,
        content_disposition: form.content_disposition,
        callback: signed.callback.as_deref(),
        key: signed.key.as_deref(),
        forbid_overwrite: signed.forbid_overwrite.then_some("true"),
        profile,
    }
    .with_signature(&form.signature)
}
