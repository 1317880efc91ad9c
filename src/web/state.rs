//! The web layer's shared state: the services, every profile with its issuer, the access
//! layer, metrics and readiness, and the profile a request names. Domain modules never see
//! this type.

use std::sync::Arc;

use crate::auth::Access;
use crate::config::{AllowedHosts, ProfileSettings};
use crate::issuer::Issuer;
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::services::Services;
use crate::web::body::BodyReader;
use crate::web::error::ApiError;

/// One upload profile: its settings and its own issuer (scopes, cache, policies).
#[derive(Debug)]
pub struct ProfileState {
    /// Its position in `AppState::profiles`, for metrics.
    pub index: usize,
    pub name: Arc<str>,
    pub role_arn: Arc<str>,
    pub settings: ProfileSettings,
    pub issuer: Issuer,
    /// Multipart uploads (`/s3/multipart…`); `None` when the prefix has no fixed root for the
    /// shared multipart credential.
    pub multipart: Option<crate::multipart::ProfileMultipart>,
}

/// State shared by all handlers.
#[derive(Debug)]
pub struct AppState {
    /// What every profile shares (STS, identity, credential store, callbacks, clock).
    pub services: Arc<Services>,
    /// Every profile, `default` first.
    pub profiles: Vec<ProfileState>,
    /// `BROKER_ALLOWED_HOSTS`.
    pub allowed_hosts: AllowedHosts,
    /// `BROKER_CORS_ORIGINS`.
    pub cors_origins: Vec<String>,
    /// Who the caller is and whether it may ask now.
    pub access: Access,
    pub metrics: Arc<Metrics>,
    pub readiness: Readiness,
    /// How the routes that read a body read it (deadline, concurrent readers).
    pub bodies: BodyReader,
}

/// `?profile=` on the credential endpoints, read from the raw query string (other parameters
/// are ignored; `profile` given twice is as unknown as a name nobody configured).
#[derive(Debug)]
pub struct ProfileQuery {
    pub profile: Option<String>,
}

impl ProfileQuery {
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut names = form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "profile")
            .map(|(_, v)| v.into_owned());
        let profile = names.next();
        if names.next().is_some() {
            return Err(ApiError::UnknownProfile);
        }
        Ok(Self { profile })
    }
}

impl AppState {
    /// The state registered with the app, borrowed from `req` (taking `web::Data` as a
    /// handler argument clones a count every worker shares, on every request).
    pub fn of(req: &actix_web::HttpRequest) -> Result<&Self, ApiError> {
        req.app_data::<actix_web::web::Data<Self>>()
            .map(|data| &***data)
            .ok_or_else(|| ApiError::Internal("application state is not registered".into()))
    }

    /// The profile `default`, the environment's.
    pub fn default_profile(&self) -> &ProfileState {
        &self.profiles[0]
    }

    /// The profile a request's query string names (`default` when it names none); an
    /// unknown, empty or repeated name is `400 unknown-profile`.
    pub fn profile(&self, query_string: &str) -> Result<&ProfileState, ApiError> {
        let query = ProfileQuery::parse(query_string)?;
        let profile = match query.profile.as_deref() {
            None => Ok(self.default_profile()),
            Some(name) => self
                .profiles
                .iter()
                .find(|p| &*p.name == name)
                .ok_or(ApiError::UnknownProfile),
        }?;
        // Only a configured profile's name: never what the caller wrote.
        crate::trace::record_current("profile", &profile.name);
        Ok(profile)
    }

    /// The profile named in the path (`/profiles/<name>/s3/…`), else the query's; a path and a
    /// query naming different profiles is `400 unknown-profile`.
    pub fn profile_of(
        &self,
        path_name: Option<&str>,
        query_string: &str,
    ) -> Result<&ProfileState, ApiError> {
        let Some(name) = path_name else {
            return self.profile(query_string);
        };
        let query = ProfileQuery::parse(query_string)?;
        if query.profile.as_deref().is_some_and(|q| q != name) {
            return Err(ApiError::UnknownProfile);
        }
        self.profiles
            .iter()
            .find(|p| &*p.name == name)
            .ok_or(ApiError::UnknownProfile)
    }

    /// Every profile's issuer (readiness looks at all their caches).
    pub fn issuers(&self) -> Vec<&Issuer> {
        self.profiles.iter().map(|p| &p.issuer).collect()
    }

    /// The profile called `name` that has a callback (the profile a callback body names).
    pub fn callback_profile(&self, name: &str) -> Option<&ProfileState> {
        self.profiles
            .iter()
            .find(|p| &*p.name == name && p.settings.callback.is_some())
    }
}
