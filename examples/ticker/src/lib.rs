//! The example ticker: a WebSocket quote feed protected by `authgate-tower`.
//!
//! | route | authentication |
//! |---|---|
//! | `GET /health` | none; `{"status":"ok"}` |
//! | `GET /ready` | none; 200 once signing keys are loaded, else 503 |
//! | `GET /ws/quotes?token=...[&account_id=...]` | WebSocket; token in `?token=`, `Sec-WebSocket-Protocol: bearer, <token>` or `Authorization`; Origin allow-list; quotes for one of the caller's trading accounts; closes with 1008 when the token expires |
//! | `GET /subscription-status` | JWT; `{"user_id": ..., "status": "active"}` |
//!
//! Subscribing reads the caller's trading accounts from user-service (with the caller's
//! token) and the chosen account's broker credentials (with the ticker's own
//! service-client token): see [`subscribe`] for the flow and [`routes::quotes`] for what
//! the socket answers. Query tokens never reach logs: the trace layer records a redacted
//! URI; the service secret and broker credentials are never logged either.

use std::net::SocketAddr;
use std::time::Duration;

use authgate::Authenticator;
use authgate_tower::redact::RedactedMakeSpan;
use axum::Router;
use tower_http::trace::TraceLayer;

pub mod broker;
pub mod config;
pub mod quotes;
pub mod routes;
pub mod service_token;
pub mod subscribe;

pub use config::Config;
pub use subscribe::Subscriptions;

/// The JWT authenticator from `JWKS_URL`, `JWT_ISSUER`, `JWT_AUDIENCE`,
/// `JWT_ALGORITHMS` and `JWT_LEEWAY_SECS`.
pub fn authenticator(config: &Config) -> Result<Authenticator, authgate::Error> {
    Ok(Authenticator::jwt(config.verifier()?))
}

/// The whole application, ready to serve.
pub fn app(auth: Authenticator, allowed_origins: &[String], subscriptions: Subscriptions) -> Router {
    Router::new()
        .merge(routes::quotes::router(&auth, allowed_origins, subscriptions))
        .merge(routes::subscription::router(&auth))
        .merge(routes::health::router(auth))
        .layer(TraceLayer::new_for_http().make_span_with(RedactedMakeSpan::new()))
}

/// Loads the signing keys, retrying every `retry` until it works (`/ready` turns 200).
pub async fn warm_up(auth: Authenticator, retry: Duration) {
    let Some(verifier) = auth.verifier() else { return };
    while let Err(e) = verifier.refresh_keys().await {
        tracing::warn!(reason = %e, "signing keys not loaded yet; retrying");
        tokio::time::sleep(retry).await;
    }
    tracing::info!("signing keys loaded");
}

/// A bound, not yet running, ticker.
#[derive(Debug)]
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
}

/// Why the ticker could not start.
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
        let auth = authenticator(config)?;
        let subscriptions = Subscriptions::new(config)?;
        match &config.service_client {
            Some(client) => {
                tracing::info!(client_id = %client.client_id, "reading broker credentials as this service client")
            }
            None => tracing::warn!(
                "no SERVICE_CLIENT_ID/SERVICE_CLIENT_SECRET: every subscription will be refused with 503 \
                 service_client_not_configured (create one with `user-service clients create --name ticker \
                 --scopes {}`)",
                config::CREDENTIALS_SCOPE
            ),
        }
        tokio::spawn(warm_up(auth.clone(), Duration::from_secs(2)));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        Ok(Application { listener, router: app(auth, &config.ws_allowed_origins, subscriptions) })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until Ctrl-C.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    }
}
