//! Server-side form issuance (`/getPostObjectParams`): the credential that signs it (the
//! profile's shared form credential or the caller's own), the policy's expiry, the pinned
//! `callback` field for profiles with a callback, and the signed PostObject form. The route
//! only turns the result into the contract's JSON.

use std::net::IpAddr;
use std::sync::Arc;

use super::{Grant, IssueError, Issuer};
use crate::cache::Outcome;
use crate::key_template::ObjectKeyRule;
use crate::oss::post_object::{self, PostForm, PostRequest, PostSettings};
use crate::policy::CallerId;

/// The profile's facts a form is made from.
#[derive(Debug, Clone, Copy)]
pub struct FormProfile<'a> {
    pub name: &'a str,
    pub bucket: &'a str,
    pub region: &'a str,
    pub post: &'a PostSettings,
    /// Whether OSS calls back after an upload with this form.
    pub callback: bool,
    /// When the broker names the key (`object_key`, or always for `/s3/params`): the file name
    /// the key is made from (empty when the client gave none).
    pub filename: Option<&'a str>,
    /// Whether the key is the broker's even when `object_key` is `client` (`/s3/params`).
    pub broker_key: bool,
}

/// A signed form and what it was made with.
#[derive(Debug)]
pub struct SignedForm {
    pub form: PostForm,
    /// The caller's directory the form is confined to.
    pub dir: String,
    pub grant: Arc<Grant>,
    pub outcome: Outcome,
    /// The form's `callback` field (profiles with a callback only).
    pub callback: Option<String>,
    /// The broker's key, pinned in the policy, when it names the key.
    pub key: Option<String>,
    /// Whether the form carries `x-oss-forbid-overwrite: true`.
    pub forbid_overwrite: bool,
}

/// Why no form could be made.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error(transparent)]
    Issue(#[from] IssueError),
    #[error("policy TTL out of range")]
    PolicyTtl,
    #[error("a callback profile without BROKER_CALLBACK_URL")]
    NoCallbackConfig,
    #[error("the callback field exceeds OSS's 5 KB")]
    CallbackTooLarge,
    #[error(transparent)]
    Build(#[from] post_object::PostFormError),
}

impl Issuer {
    /// A PostObject form for `caller` under `profile`, signed now.
    pub async fn sign_form(
        &self,
        caller: &CallerId,
        address: Option<IpAddr>,
        profile: FormProfile<'_>,
    ) -> Result<SignedForm, FormError> {
        let issued = self.issue_form_credential(caller, address).await?;
        let post = profile.post;
        let ttl = chrono::Duration::from_std(post.policy_ttl).map_err(|_| FormError::PolicyTtl)?;
        let now = self.services.clock.now();
        // A callback's grant stays valid an hour past the policy: an upload may start at the
        // last moment and take a while.
        let expires = (now + ttl).timestamp() + 3600;
        let callback = if profile.callback {
            let config = &self
                .services
                .callbacks
                .as_ref()
                .ok_or(FormError::NoCallbackConfig)?
                .config;
            let field = crate::callback::form_field(
                config,
                caller.as_str(),
                profile.name,
                &issued.dir,
                expires,
            );
            Some(field.ok_or(FormError::CallbackTooLarge)?)
        } else {
            None
        };
        let key = form_key(&profile, &issued.dir, now);
        let forbid_overwrite = !post.overwrite;
        let form = post_object::build(
            &PostRequest {
                bucket: profile.bucket,
                region: profile.region,
                dir: &issued.dir,
                signature: post.signature,
                ttl,
                max_upload_bytes: post.max_upload_bytes,
                allowed_content_types: &post.allowed_content_types,
                callback: callback.as_deref(),
                key: key.as_deref(),
                forbid_overwrite,
            },
            &issued.grant.credentials,
            now,
        )?;
        tracing::debug!(
            dir = %issued.dir,
            expire = form.expire.timestamp(),
            signature_version = ?post.signature,
            "post form signed"
        );
        Ok(SignedForm {
            form,
            dir: issued.dir,
            grant: issued.grant,
            outcome: issued.outcome,
            callback,
            key,
            forbid_overwrite,
        })
    }
}

/// The key a form pins, when the broker names it: the profile's template (or `${uuid}${ext}`
/// where the client would name it but `broker_key` says otherwise) under the caller's `dir`.
fn form_key(
    profile: &FormProfile<'_>,
    dir: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let rule = &profile.post.object_key;
    let template = match rule {
        ObjectKeyRule::Template(t) => t.clone(),
        ObjectKeyRule::Client if profile.broker_key => rule.broker_template(),
        ObjectKeyRule::Client => return None,
    };
    let uuid = uuid::Uuid::new_v4().hyphenated().to_string();
    Some(format!(
        "{dir}{}",
        template.render(profile.filename.unwrap_or(""), &uuid, now)
    ))
}
