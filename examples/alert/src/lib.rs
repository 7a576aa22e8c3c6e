//! # example-alert
//!
//! A price-alert service on actix-web whose handlers get the caller from a verified
//! token through `authgate-actix`: one middleware on the `/alerts` scope and a
//! [`authgate_actix::UserId`] in each handler signature.
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /health` | none | 200 `{"status":"ok"}` |
//! | `POST /alerts` | JWT (or API key) with `alerts:write` | 201 with the alert, `user_id` = the token's `sub` |
//! | `GET /alerts` | JWT (or API key) with `alerts:read` | 200, the caller's alerts only |
//! | `DELETE /alerts/{id}` | JWT (or API key) with `alerts:write` | 204 for the owner, 404 for anyone else |
//!
//! Without credentials: 401 with `WWW-Authenticate: Bearer realm="alerts"`; without the
//! permission: 403 `insufficient_scope` (so an API key limited to reading cannot write).
//!
//! Tests and end-to-end suites run it in-process: [`Application::build_with`] on port 0
//! with any [`Authenticator`], then [`Application::port`].

#![forbid(unsafe_code)]

pub mod alerts;
pub mod config;
pub mod routes;

use actix_cors::Cors;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
use actix_web::middleware::Condition;
use actix_web::{App, HttpServer, web};
use authgate::client_addr::TrustedProxies;
use authgate::{AuthMode, Authenticator};
use authgate_actix::{AuthMiddleware, redact, require_permission};

pub use alerts::AlertStore;
pub use config::Config;

/// The realm named in this service's challenges.
pub const REALM: &str = "alerts";

/// The authenticator `config` describes: JWTs from the user-service's JWKS and, during
/// the migration, API keys checked against the user-service (cached for
/// `API_KEY_CACHE_TTL_SECS`).
pub fn authenticator(config: &Config) -> Result<Authenticator, authgate::Error> {
    config.authenticator(AuthMode::Either)
}

/// Permission to list alerts (the platform's `user` role has it).
pub const ALERTS_READ: &str = "alerts:read";
/// Permission to create and delete alerts.
pub const ALERTS_WRITE: &str = "alerts:write";

/// The whole application: routes, authentication on `/alerts`, a permission per route,
/// a redacting access log.
pub fn app(
    authenticator: Authenticator,
    proxies: TrustedProxies,
    store: web::Data<AlertStore>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(store)
        .app_data(web::JsonConfig::default().limit(16 * 1024).error_handler(routes::json_error))
        .route("/health", web::get().to(routes::health))
        .service(
            web::scope("/alerts")
                .wrap(AuthMiddleware::new(authenticator).realm(REALM).trusted_proxies(proxies))
                .route("", web::post().to(routes::create).wrap(require_permission(ALERTS_WRITE)))
                .route("", web::get().to(routes::list).wrap(require_permission(ALERTS_READ)))
                .route("/{id}", web::delete().to(routes::delete).wrap(require_permission(ALERTS_WRITE))),
        )
        .wrap(redact::logger())
}

/// A bound server, serving once [`Application::run_until_stopped`] is awaited.
pub struct Application {
    port: u16,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).finish_non_exhaustive()
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Authentication is misconfigured (bad URL, unknown algorithm...).
    #[error("authentication setup: {0}")]
    Auth(#[from] authgate::Error),
    /// The port could not be bound.
    #[error("listening: {0}")]
    Io(#[from] std::io::Error),
}

impl Application {
    /// Builds the authenticator from `config` and binds `127.0.0.1:{PORT}`, like the
    /// other examples (put a reverse proxy in front to expose it).
    /// Browsers on `CORS_ALLOWED_ORIGINS` (the web frontend in dev) may call it.
    pub fn build(config: &Config) -> Result<Application, StartError> {
        let authenticator = authenticator(config)?;
        Ok(Application::serve(
            authenticator,
            config.trusted_proxies.clone(),
            ("127.0.0.1", config.port),
            &config.cors_allowed_origins,
        )?)
    }

    /// Binds `addr` (e.g. `("127.0.0.1", 0)`) with any authenticator, trusting
    /// `proxies`' `X-Forwarded-For`, and a fresh store.
    pub fn build_with(
        authenticator: Authenticator,
        proxies: TrustedProxies,
        addr: impl std::net::ToSocketAddrs,
    ) -> std::io::Result<Application> {
        Application::serve(authenticator, proxies, addr, &[])
    }

    fn serve(
        authenticator: Authenticator,
        proxies: TrustedProxies,
        addr: impl std::net::ToSocketAddrs,
        origins: &[String],
    ) -> std::io::Result<Application> {
        let store = web::Data::new(AlertStore::new());
        let origins = origins.to_vec();
        let server = HttpServer::new(move || {
            let cors = origins.iter().fold(Cors::default(), |cors, origin| cors.allowed_origin(origin));
            let cors = cors
                .allowed_methods(["GET", "POST", "DELETE"])
                .allowed_headers([AUTHORIZATION, CONTENT_TYPE, HeaderName::from_static("x-api-key")])
                .max_age(600);
            // Without origins the middleware is left out: nothing cross-origin is allowed.
            app(authenticator.clone(), proxies.clone(), store.clone())
                .wrap(Condition::new(!origins.is_empty(), cors))
        })
        .bind(addr)?;
        let port = server.addrs().first().map_or(0, std::net::SocketAddr::port);
        Ok(Application { port, server: server.run() })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
