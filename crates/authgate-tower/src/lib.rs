//! # authgate-tower
//!
//! Tower layers and axum extractors around [`authgate`]: one dependency gives a service
//! authentication on every request, the verified caller in its handlers, per-route
//! permission guards, a JWT-or-API-key migration shim, WebSocket authentication with
//! query tokens, and log redaction for those tokens.
//!
//! The layers work over any `tower::Service<http::Request<B>>`; the extractors are
//! written against `axum-core`. Every rejection (status, `WWW-Authenticate`,
//! `Retry-After`, JSON body) comes from [`authgate::Error`], so this crate and
//! `authgate-actix` answer byte for byte the same.
//!
//! ## A complete example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use authgate::{Authenticator, KeySet, Verifier};
//! use authgate_tower::{AuthLayer, CurrentUser, require_permission};
//! use authgate_testkit::{TestKey, jwks, standard_claims};
//! use axum::{Router, body::Body, routing::{delete, get}};
//! use tower::ServiceExt;
//!
//! // Keys: a static JWKS here; `KeySet::from_jwks_url` in a real service.
//! let key = TestKey::shared_rs256();
//! let verifier = Verifier::builder()
//!     .issuer("https://id.example", KeySet::from_jwks_json(&jwks(&[&key]).to_string())?)
//!     .audience("trading-platform")
//!     .build()?;
//!
//! async fn me(user: CurrentUser) -> String {
//!     user.user_id().to_owned()
//! }
//!
//! let app = Router::new()
//!     .route("/api/me", get(me))
//!     .route("/admin/data/{id}", delete(|| async { "deleted" }).layer(require_permission("admin:delete")))
//!     .layer(AuthLayer::new(Authenticator::jwt(verifier)).realm("trading"));
//!
//! let token = key.token().claims(standard_claims("https://id.example", "trading-platform", "user-7", 300)).sign();
//! let req = |method: &str, uri: &str, token: Option<&str>| {
//!     let mut b = http::Request::builder().method(method).uri(uri);
//!     if let Some(t) = token {
//!         b = b.header("authorization", format!("Bearer {t}"));
//!     }
//!     b.body(Body::empty()).unwrap()
//! };
//!
//! let ok = app.clone().oneshot(req("GET", "/api/me", Some(&token))).await?;
//! assert_eq!(ok.status(), 200);
//!
//! let anonymous = app.clone().oneshot(req("GET", "/api/me", None)).await?;
//! assert_eq!(anonymous.status(), 401);
//! assert_eq!(anonymous.headers()["www-authenticate"], r#"Bearer realm="trading""#);
//!
//! let forbidden = app.oneshot(req("DELETE", "/admin/data/1", Some(&token))).await?;
//! assert_eq!(forbidden.status(), 403);
//! # Ok(()) }
//! ```
//!
//! ## What is where
//!
//! | module | for |
//! |---|---|
//! | [`auth`] | [`AuthLayer`]: required/optional authentication, realm, error-body hook, CORS preflight |
//! | [`require`] | [`RequireLayer`], [`require_permission`], [`require_role`]…: per-route 403 guards |
//! | [`extract`] | [`CurrentUser`], [`Claims<T>`] (both also as `Option<_>`), [`UserId`], [`Require<P>`], [`ClientAddr`] |
//! | [`migration`] | [`ApiKeyDeprecation`]: `Deprecation`/`Sunset`/`Link` on API-key responses |
//! | [`ws`] | [`WsAuthLayer`], [`WsSession`]: Origin allow-list, query/subprotocol tokens, 1008 closes |
//! | [`redact`] | [`redact_uri`](redact::redact_uri), [`RedactedMakeSpan`](redact::RedactedMakeSpan) for `TraceLayer` |
//!
//! ## Feature flags
//!
//! | feature | default | what |
//! |---|---|---|
//! | `axum` | on | reads the socket peer from axum's `ConnectInfo<SocketAddr>` for [`ClientAddr`] and per-client limits (axum with only its `tokio` feature); off, only a `SocketAddr` request extension is read |
//! | `remote` | on | authgate's `remote`: keys from a JWKS URL or OIDC discovery, remote API-key verification (brings reqwest) |
//! | `metrics` | on | authgate's `metrics`: `authgate_requests_total` and the core's verification metrics |
//!
//! `authgate-tower = { version = "0.1", default-features = false }` keeps every layer
//! and extractor with static keys only.
//!
//! No WebSocket library is needed: WebSocket handlers use their framework's upgrade
//! (axum's `ws` feature) together with [`WsSession`].
//!
//! ## Metrics
//!
//! `authgate_requests_total{method="jwt"|"api_key"}` counts authenticated requests
//! through the `metrics` facade, next to the core's verification metrics.

#![forbid(unsafe_code)]

pub mod auth;
mod body;
mod client_addr;
mod context;
pub mod extract;
pub mod migration;
mod origin;
pub mod redact;
pub mod require;
mod response;
#[cfg(test)]
mod test_helpers;
pub mod ws;

pub use auth::AuthLayer;
pub use body::AuthBody;
pub use client_addr::{ClientAddr, ClientAddrRejection};
pub use extract::{Claims, CurrentUser, Permission, Require, UserId};
pub use migration::ApiKeyDeprecation;
pub use require::{RequireLayer, require_all, require_any, require_permission, require_role, require_scope};
pub use response::ErrorBody;
pub use ws::{WsAuthLayer, WsSession};

/// The realm named in challenges unless a layer sets its own.
pub const DEFAULT_REALM: &str = "api";
