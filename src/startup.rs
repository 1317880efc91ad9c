//! Wiring: shared state, routes, middleware and the bound server. `Application::build` binds
//! (port 0 works) and reports the port; nothing here makes decisions about credentials.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::clock::{Clock, NonceSource, SystemClock, UuidNonces};
use crate::config::Settings;
use crate::error::{ApiError, REQUEST_ID};
use crate::issuer::Issuer;
use crate::metrics::{Metrics, Route};
use crate::readiness::{Readiness, ReadinessPolicy, StsHealth};
use crate::routes;
use crate::sts::client::StsClient;

/// State shared by all handlers.
#[derive(Debug)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub issuer: Issuer,
    pub clock: Arc<dyn Clock>,
    /// Who the caller is and whether it may ask now.
    pub access: crate::auth::Access,
    pub metrics: Arc<Metrics>,
    pub readiness: Readiness,
}

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

/// A bound, not yet running broker.
pub struct Application {
    port: u16,
    server: Server,
    /// `/metrics` on its own listener (`BROKER_METRICS_LISTEN`), with its port.
    metrics_server: Option<(u16, Server)>,
}

impl Application {
    pub fn build(settings: Settings, deps: Dependencies) -> std::io::Result<Self> {
        let listener = TcpListener::bind(settings.listen)?;
        Self::build_on(settings, deps, listener)
    }

    pub fn build_on(
        settings: Settings,
        deps: Dependencies,
        listener: TcpListener,
    ) -> std::io::Result<Self> {
        Self::build_with_routes(settings, deps, listener, |_| {})
    }

    /// As `build_on`, plus the routes `extra_routes` adds (the demo page, in demo mode only).
    pub fn build_with_routes(
        settings: Settings,
        deps: Dependencies,
        listener: TcpListener,
        extra_routes: fn(&mut web::ServiceConfig),
    ) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(StsHealth::default());
        let sts = StsClient::from_settings(&settings, deps.clock.clone(), deps.nonces.clone())
            .map_err(std::io::Error::other)?
            .observed_by(metrics.clone())
            .observed_by(health.clone());
        // A temporary identity (RRSA, ECS role, role chaining) starts refreshing itself here.
        let identity = settings
            .identity
            .start(&sts, deps.clock.clone(), deps.nonces)
            .map_err(std::io::Error::other)?;
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr)?),
            None => None,
        };
        let shutdown_timeout = settings.shutdown_timeout.as_secs();
        let settings = Arc::new(settings);
        let issuer = Issuer::new(sts, identity, settings.clone(), deps.clock.clone());
        let access = crate::auth::Access::new(&settings, deps.clock.clone())
            .map_err(std::io::Error::other)?;
        let state = web::Data::new(AppState {
            settings,
            issuer,
            clock: deps.clock,
            access,
            metrics,
            readiness: Readiness::new(health, ReadinessPolicy::default()),
        });
        let metrics_here = metrics_listener.is_none();
        let metrics_server = match metrics_listener {
            Some(listener) => {
                let port = listener.local_addr()?.port();
                let state = state.clone();
                let server = HttpServer::new(move || {
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
                .run();
                Some((port, server))
            }
            None => None,
        };
        let server = HttpServer::new(move || {
            let app = App::new()
                .app_data(state.clone())
                .wrap(from_fn(crate::cors::cors))
                .wrap(from_fn(request_context))
                .service(
                    web::resource("/getToken")
                        .route(web::get().to(routes::token::get_token))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/getPostObjectParams")
                        .route(web::get().to(routes::post_params::get_post_object_params))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/healthz")
                        .route(web::get().to(routes::health::healthz))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/readyz")
                        .route(web::get().to(routes::ready::readyz))
                        .default_service(web::to(method_not_allowed)),
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
        .listen(listener)?
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

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's request id is reused when it is short and plain; anything else is replaced.
fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_owned())
}

/// Gives every request an id (echoed in `X-Request-Id` and error bodies) and logs one line per
/// request. Never logs headers or bodies.
async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id: std::rc::Rc<str> = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
        .into();
    let method = req.method().clone();
    // The broker's own routes are fixed paths: name them without asking the router to build
    // the pattern string (the demo page's routes go the slow way).
    let route: std::borrow::Cow<'static, str> = match Route::from_pattern(Some(req.path())) {
        Route::Unmatched => req
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned())
            .into(),
        known => known.as_str().into(),
    };
    let started = Instant::now();
    let mut res = REQUEST_ID
        .scope(request_id.clone(), async move { next.call(req).await })
        .await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if let Some(metrics) = res
        .request()
        .app_data::<web::Data<AppState>>()
        .map(|state| &state.metrics)
    {
        metrics.observe_request(Route::from_pattern(Some(&route)), status, elapsed);
        if let Some(ApiError::RateLimited { scope, .. }) = res
            .response()
            .error()
            .and_then(|e| e.as_error::<ApiError>())
        {
            metrics.rate_limited(scope);
        }
    }
    {
        let extensions = res.response().extensions();
        let audit = extensions.get::<routes::token::AuditRecord>();
        let state = res.request().app_data::<web::Data<AppState>>();
        if let (Some(audit), Some(state)) = (audit, state) {
            // A credential handed out: the audit line is this request's line.
            audit.log(
                &state.settings,
                &request_id,
                method.as_str(),
                &route,
                status,
                latency_ms,
            );
        } else {
            log_request(&res, &request_id, &method, &route, status, latency_ms);
        }
    }
    res.headers_mut().insert(
        X_REQUEST_ID,
        HeaderValue::from_str(&request_id).expect("request ids are plain ASCII"),
    );
    Ok(res)
}

fn log_request<B>(
    res: &ServiceResponse<B>,
    request_id: &str,
    method: &actix_web::http::Method,
    route: &str,
    status: u16,
    latency_ms: f64,
) {
    match res.response().error() {
        Some(error) if status >= 500 => tracing::error!(
            request_id = %request_id, %method, route, status, latency_ms,
            error = ?error, "request failed"
        ),
        Some(error) => tracing::warn!(
            request_id = %request_id, %method, route, status, latency_ms,
            error = %error, "request refused"
        ),
        None => {
            tracing::info!(request_id = %request_id, %method, route, status, latency_ms, "request")
        }
    }
}
