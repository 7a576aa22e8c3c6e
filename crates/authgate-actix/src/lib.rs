//! # authgate-actix
//!
//! [actix-web](https://actix.rs) middleware, extractors, guards and WebSocket
//! authentication on top of the framework-free [`authgate`] core: verified JWTs from a
//! JWKS with safe key rotation, API keys during a migration, and the same RFC 6750
//! answers as `authgate-tower` (both build every error from [`authgate::Error`]).
//!
//! | Need | Use |
//! |---|---|
//! | authenticate every request | [`AuthMiddleware`] (`new` or `optional`) |
//! | the caller in a handler | [`CurrentUser`], [`Claims<T>`] (both also as `Option<_>`), [`UserId`] |
//! | a permission, role or scope | [`require_permission`] / [`RequireMiddleware`], or the [`Require`] extractor |
//! | the client's address behind proxies | [`AuthMiddleware::trusted_proxies`] + [`ClientAddr`] |
//! | move clients off API keys | [`AuthMiddleware::deprecate_api_keys`] + the [`REQUESTS_METRIC`] counter |
//! | WebSockets (`actix-ws`, the `ws` feature) | [`WsAuthMiddleware`] + [`WsSession`] |
//! | tokens out of access logs | [`redact`] |
//!
//! The names are `authgate-tower`'s, with actix's `Middleware` where tower says
//! `Layer`: `AuthLayer` / [`AuthMiddleware`], `RequireLayer` / [`RequireMiddleware`],
//! `WsAuthLayer` / [`WsAuthMiddleware`]; the extractors and their rejections
//! (`CurrentUserRejection`...) are the same.
//!
//! ## A complete example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # actix_web::rt::System::new().block_on(async {
//! use actix_web::{App, HttpResponse, test, web};
//! use authgate::{Authenticator, KeySet, Verifier};
//! use authgate_actix::{AuthMiddleware, UserId, require_permission};
//!
//! // In a service: KeySet::from_jwks_url("http://127.0.0.1:8011/v1/auth/.well-known/jwks.json")
//! let keys = KeySet::from_jwks_json(r#"{"keys":[]}"#)?;
//! let verifier = Verifier::builder()
//!     .issuer("http://127.0.0.1:8011", keys)
//!     .audience("trading-platform")
//!     .build()?;
//!
//! async fn my_alerts(UserId(user): UserId) -> HttpResponse {
//!     HttpResponse::Ok().json(serde_json::json!({ "user_id": user }))
//! }
//!
//! let app = test::init_service(
//!     App::new()
//!         .route("/alerts", web::get().to(my_alerts))
//!         .service(
//!             web::scope("/admin")
//!                 .wrap(require_permission("admin:delete"))
//!                 .route("/data/{id}", web::delete().to(HttpResponse::Ok)),
//!         )
//!         .wrap(AuthMiddleware::new(Authenticator::jwt(verifier)).realm("alerts")),
//! )
//! .await;
//!
//! // No token: 401 with the bare challenge (RFC 6750 §3.1) and a JSON body.
//! let res = test::call_service(&app, test::TestRequest::get().uri("/alerts").to_request()).await;
//! assert_eq!(res.status(), 401);
//! assert_eq!(res.headers().get("www-authenticate").unwrap(), r#"Bearer realm="alerts""#);
//! let body = test::read_body(res).await;
//! assert_eq!(body, r#"{"error":"unauthorized","error_description":"authentication required"}"#);
//!
//! // A malformed token: 401 invalid_token.
//! let req = test::TestRequest::get().uri("/alerts").insert_header(("authorization", "Bearer abc"));
//! let res = test::call_service(&app, req.to_request()).await;
//! assert_eq!(res.status(), 401);
//! assert!(res.headers().get("www-authenticate").unwrap().to_str()?.contains(r#"error="invalid_token""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
//!
//! ## Ordering
//!
//! In actix the last `.wrap()` runs first. [`AuthMiddleware`] must run before any
//! guard, so register it last (or on the `App` when guards sit on scopes). Extractors
//! and guards used on a route it does not wrap answer 500 and log an error naming it,
//! rather than letting the request through.
//!
//! ## Feature flags
//!
//! All on by default; actix-web is used with only its `macros` feature.
//!
//! | feature | what it adds |
//! |---|---|
//! | `ws` | WebSocket authentication: [`ws`], [`WsAuthMiddleware`], [`WsSession`] (brings `actix-ws`) |
//! | `remote` | authgate's `remote`: keys from a JWKS URL or OIDC discovery, remote API-key verification (brings reqwest) |
//! | `metrics` | authgate's `metrics`: the [`REQUESTS_METRIC`] counter and the core's verification metrics |
//!
//! `authgate-actix = { version = "0.1", default-features = false }` keeps the middleware,
//! extractors and guards with static keys only.
//!
//! ## Metrics and logs
//!
//! [`REQUESTS_METRIC`] (`authgate_requests_total{method}`) counts authenticated
//! requests by method; the core adds verification metrics. Rejections are logged at
//! DEBUG with their detailed reason (WARN for 503), never with the token.

#![forbid(unsafe_code)]
// docs.rs (nightly) labels items that need a feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod extract;
mod guard;
mod middleware;
pub mod migration;
mod origin;
pub mod redact;
mod reply;
mod source;
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub mod ws;

pub use extract::{
    Claims, ClaimsRejection, ClientAddr, ClientAddrRejection, CurrentUser, CurrentUserRejection, Permission,
    Require, RequireRejection, UserId, UserIdRejection,
};
pub use guard::{
    RequireMiddleware, RequireService, require_all, require_any, require_permission, require_role,
    require_scope,
};
pub use middleware::{AuthMiddleware, AuthService, REQUESTS_METRIC, ResponseFuture};
pub use migration::ApiKeyDeprecation;
pub use reply::{DEFAULT_REALM, ErrorBody};
pub use source::RequestSource;
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub use ws::{WsAuthMiddleware, WsSession, WsSessionRejection};
