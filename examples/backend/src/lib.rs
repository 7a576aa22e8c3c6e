//! The example backend: a REST service protected by `authgate-tower`.
//!
//! | route | authentication |
//! |---|---|
//! | `GET /health` | none; `{"status":"ok"}` |
//! | `GET /ready` | none; 200 once signing keys are loaded, else 503 |
//! | `GET /api/positions` | JWT or `X-API-Key` (API keys get `Deprecation` headers) |
//! | `GET /api/me` | JWT only |
//! | `DELETE /admin/data/{id}` | JWT with permission `admin:delete` |

use std::net::SocketAddr;
use std::time::Duration;

use authgate_tower::redact::RedactedMakeSpan;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub mod auth;
pub mod config;
pub mod positions;
pub mod routes;

pub use auth::Auth;
pub use config::Config;

/// The whole application, ready to serve or to be driven with `oneshot`.
pub fn app(auth: Auth) -> Router {
    Router::new()
        .merge(routes::api::router(&auth))
        .merge(routes::admin::router(&auth))
        .merge(routes::health::router(auth))
        .layer(TraceLayer::new_for_http().make_span_with(RedactedMakeSpan::new()))
}

/// CORS for browser apps on `origins` (the web frontend): bearer tokens and API keys in
/// headers, no cookies, so no credentials mode.
pub fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, HeaderName::from_static("x-api-key")])
}

/// A bound, not yet running, backend.
#[derive(Debug)]
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
}

/// Why the backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad environment or authentication settings.
    #[error("configuration: {0}")]
    Auth(#[from] authgate::Error),
    /// The port could not be bound.
    #[error("binding the port: {0}")]
    Io(#[from] std::io::Error),
}

impl Application {
    /// Binds `127.0.0.1:{port}` and starts loading the signing keys in the background.
    pub async fn build(config: &Config) -> Result<Application, StartError> {
        let auth = Auth::from_config(config)?;
        tokio::spawn(auth.clone().warm_up(Duration::from_secs(2)));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let router = app(auth).layer(cors(&config.cors_allowed_origins));
        Ok(Application { listener, router })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until Ctrl-C, telling handlers the socket peer (for `ClientAddr` and the
    /// per-client limit on unknown API keys).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    }
}
