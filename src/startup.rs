//! Wiring: shared state, routes, middleware and the bound server. `Application::build` binds
//! (port 0 works) and reports the port; nothing here makes decisions about credentials.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::clock::{Clock, NonceSource, SystemClock, UuidNonces};
use crate::config::{ProfileSettings, Settings};
use crate::issuer::{Issuer, UploadArea};
use crate::metrics::Metrics;
use crate::multipart::{MultipartSettings, ProfileMultipart};
use crate::oss::multipart::{MultipartClient, MultipartTarget};
use crate::readiness::{Readiness, ReadinessPolicy, StsHealth};
use crate::routes;
use crate::services::{ServiceSettings, Services};
use crate::web::error::ApiError;
use crate::web::middleware::request_context;
use crate::web::state::{AppState, ProfileState};

/// Time and randomness the application uses; tests replace them.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub clock: Arc<dyn Clock>,
    pub nonces: Arc<dyn NonceSource>,
}

impl Default for Dependencies {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            nonces: Arc::new(UuidNonces),
        }
    }
}

/// Why the broker could not start; the listener errors name their variable and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The main listener (`BROKER_LISTEN`) could not be bound.
    #[error("{}", listen_failure("BROKER_LISTEN", *.addr, .source))]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The metrics listener (`BROKER_METRICS_LISTEN`) could not be bound.
    #[error("{}", listen_failure("BROKER_METRICS_LISTEN", *.addr, .source))]
    MetricsListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The shared state could not be built: a configuration the clients refuse, the broker's
    /// identity failing to start, or the fleet's Redis settings.
    #[error("{0}")]
    State(std::io::Error),
    /// The HTTP server refused a bound listener.
    #[error("{0}")]
    Server(std::io::Error),
}

impl From<StartupError> for std::io::Error {
    fn from(e: StartupError) -> Self {
        match e {
            StartupError::Listen { ref source, .. }
            | StartupError::MetricsListen { ref source, .. } => {
                std::io::Error::new(source.kind(), e.to_string())
            }
            StartupError::State(e) | StartupError::Server(e) => e,
        }
    }
}

/// Why `addr` (the value of `variable`) cannot be listened on, saying what to do about it.
fn listen_failure(variable: &str, addr: SocketAddr, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen on {addr} ({variable}): the address is already in use, perhaps by another sts-broker; stop that one, or set {variable} to a free address (port 0 picks one)"
        ),
        _ => format!("cannot listen on {addr} ({variable}): {e}"),
    }
}

/// A bound, not yet running broker.
pub struct Application {
    port: u16,
    server: Server,
    /// `/metrics` on its own listener (`BROKER_METRICS_LISTEN`), with its port.
    metrics_server: Option<(u16, Server)>,
}

impl Application {
    pub fn build(settings: Settings, deps: Dependencies) -> Result<Self, StartupError> {
        let addr = settings.server.listen;
        let listener =
            TcpListener::bind(addr).map_err(|source| StartupError::Listen { addr, source })?;
        Self::build_on(settings, deps, listener)
    }

    pub fn build_on(
        settings: Settings,
        deps: Dependencies,
        listener: TcpListener,
    ) -> Result<Self, StartupError> {
        Self::build_with_routes(settings, deps, listener, |_| {})
    }

    /// As `build_on`, plus the routes `extra_routes` adds (the demo page, in demo mode only).
    pub fn build_with_routes(
        settings: Settings,
        deps: Dependencies,
        listener: TcpListener,
        extra_routes: fn(&mut web::ServiceConfig),
    ) -> Result<Self, StartupError> {
        let port = listener.local_addr().map_err(StartupError::Server)?.port();
        let metrics_listener = match settings.server.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .map_err(|source| StartupError::MetricsListen { addr, source })?,
            ),
            None => None,
        };
        let shutdown_timeout = settings.server.shutdown_timeout.as_secs();
        let state = web::Data::new(app_state(settings, deps).map_err(StartupError::State)?);
        let metrics_here = metrics_listener.is_none();
        let metrics_server = match metrics_listener {
            Some(listener) => Some((
                listener.local_addr().map_err(StartupError::Server)?.port(),
                metrics_server(state.clone(), listener, shutdown_timeout)
                    .map_err(StartupError::Server)?,
            )),
            None => None,
        };
        let server = HttpServer::new(move || {
            let app = App::new()
                .app_data(state.clone())
                .wrap(from_fn(crate::web::cors::cors))
                .wrap(from_fn(crate::web::hosts::allowed_host))
                .wrap(from_fn(request_context))
                .service(get_only("/getToken", routes::token::get_token))
                .service(get_only(
                    "/getPostObjectParams",
                    routes::post_params::get_post_object_params,
                ))
                .service(web::scope("/s3").configure(routes::multipart::configure))
                .service(
                    web::scope("/profiles/{profile}/s3").configure(routes::multipart::configure),
                )
                .service(get_only(
                    "/getObjectUrl",
                    routes::object_urls::get_object_url,
                ))
                .service(
                    web::resource("/getObjectUrls")
                        .app_data(web::PayloadConfig::new(routes::object_urls::MAX_BODY))
                        .route(web::post().to(routes::object_urls::get_object_urls))
                        .default_service(web::to(post_only)),
                )
                .service(get_only("/healthz", routes::health::healthz))
                .service(get_only("/readyz", routes::ready::readyz))
                .service(
                    web::resource("/ossCallback")
                        .app_data(web::PayloadConfig::new(routes::oss_callback::MAX_BODY))
                        .route(web::post().to(routes::oss_callback::oss_callback))
                        .default_service(web::to(post_only)),
                );
            let app = if metrics_here {
                app.service(metrics_resource())
            } else {
                app
            };
            app.configure(extra_routes)
                .default_service(web::to(not_found))
        })
        // Signals are handled by `crate::shutdown` (actix would treat SIGINT as a forced stop).
        .disable_signals()
        .shutdown_timeout(shutdown_timeout)
        .listen(listener)
        .map_err(StartupError::Server)?
        .run();
        Ok(Self {
            port,
            server,
            metrics_server,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on: its own listener's, or the main one's.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_server.as_ref().map_or(self.port, |(p, _)| *p)
    }

    /// Runs until the server stops (tests; nothing here listens for signals).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let servers = self.servers();
        futures_util::future::try_join_all(servers)
            .await
            .map(|_| ())
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully (`crate::shutdown`).
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        crate::shutdown::run_until_signalled(self.servers()).await
    }

    fn servers(self) -> Vec<Server> {
        std::iter::once(self.server)
            .chain(self.metrics_server.map(|(_, s)| s))
            .collect()
    }
}

/// Everything the handlers share: the services built once (observed by metrics and
/// readiness), one issuer per profile on them, and the access layer.
fn app_state(settings: Settings, deps: Dependencies) -> std::io::Result<AppState> {
    let all_profiles = settings.profiles.clone();
    let names = all_profiles.iter().map(|p| p.name.clone()).collect();
    let metrics = Arc::new(Metrics::with_profiles(names));
    let health = Arc::new(StsHealth::default());
    let services = Services::start(
        ServiceSettings {
            sts: &settings.sts,
            identity: &settings.identity,
            fleet: settings.fleet.as_ref(),
            new_callers: settings.default_profile().issuer.new_callers,
            callback: settings.callback.as_ref(),
        },
        deps.clock.clone(),
        deps.nonces.clone(),
        vec![metrics.clone(), health.clone()],
    )
    .map_err(std::io::Error::other)?;
    if services.callbacks.is_none() {
        if let Some(p) = all_profiles.iter().find(|p| p.callback.is_some()) {
            return Err(std::io::Error::other(format!(
                "profile {} has a callback but BROKER_CALLBACK_URL is not set",
                p.name
            )));
        }
    }
    let oss_http = crate::oss::client::OssClient::http().map_err(std::io::Error::other)?;
    let profiles = all_profiles
        .into_iter()
        .enumerate()
        .map(|(index, profile)| {
            let issuer = Issuer::new(
                services.clone(),
                profile.issuer.clone(),
                UploadArea {
                    bucket: profile.upload.bucket.clone(),
                    prefix: profile.upload.prefix.clone(),
                },
            );
            let (issuer, multipart) = with_multipart(issuer, &profile, &oss_http, &deps.clock);
            ProfileState {
                index,
                name: profile.name.as_str().into(),
                role_arn: profile.issuer.role_arn.as_str().into(),
                issuer,
                multipart,
                settings: profile,
            }
        })
        .collect();
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    let access =
        crate::auth::Access::new(&settings.access, settings.server.listen, deps.clock.clone())
            .map_err(std::io::Error::other)?;
    Ok(AppState {
        services,
        profiles,
        allowed_hosts: settings.server.allowed_hosts.clone(),
        cors_origins: settings.access.cors_origins.clone(),
        access,
        metrics,
        readiness: Readiness::new(health, ReadinessPolicy::default()),
    })
}

/// A profile's multipart set-up and its shared credential's scope (`oss:PutObject`,
/// `oss:AbortMultipartUpload`, `oss:ListParts` on the upload root); none when the prefix has no
/// fixed root (that credential could write anywhere in the bucket).
fn with_multipart(
    issuer: Issuer,
    profile: &ProfileSettings,
    http: &reqwest::Client,
    clock: &Arc<dyn Clock>,
) -> (Issuer, Option<ProfileMultipart>) {
    let root = profile.upload.prefix.root();
    let policy = crate::multipart::session_policy(&profile.upload.bucket, root);
    let (false, Ok(policy)) = (root.is_empty(), policy) else {
        return (issuer, None);
    };
    let issuer = issuer.with_shared_scope(
        crate::multipart::SCOPE,
        crate::multipart::session_name(&profile.name),
        root.to_owned(),
        policy,
    );
    let target = MultipartTarget {
        bucket_url: profile.post.oss_endpoint.clone(),
        bucket: profile.upload.bucket.as_str().to_owned(),
        region: profile.upload.region.clone(),
    };
    let multipart = ProfileMultipart {
        settings: MultipartSettings {
            object_key: profile.post.object_key.clone(),
            overwrite: profile.post.overwrite,
            part_url_ttl_seconds: profile.post.part_url_ttl_seconds,
            max_upload_bytes: profile.post.max_upload_bytes,
            allowed_content_types: profile.post.allowed_content_types.clone(),
            upload_host: profile.upload.host.clone(),
        },
        client: MultipartClient::new(http.clone(), target, clock.clone()),
    };
    (issuer, Some(multipart))
}

/// `/metrics` alone on its own listener (`BROKER_METRICS_LISTEN`).
fn metrics_server(
    state: web::Data<AppState>,
    listener: TcpListener,
    shutdown_timeout: u64,
) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(request_context))
            .service(metrics_resource())
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(shutdown_timeout)
    .listen(listener)?
    .run())
}

/// A fixed path answering `GET` with `handler` and anything else with `405`.
fn get_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(web::to(method_not_allowed))
}

fn metrics_resource() -> actix_web::Resource {
    web::resource("/metrics")
        .route(web::get().to(routes::metrics::metrics))
        .default_service(web::to(method_not_allowed))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

async fn post_only() -> Result<HttpResponse, ApiError> {
    Err(ApiError::PostOnly)
}
