//! HTTP routes, one file per resource, each exposing `router()`; plus the helpers they
//! share (client info, the refresh cookie, issuing a token pair).

mod admin;
mod api_keys;
mod auth;
pub(crate) mod caller;
pub(crate) mod error;
mod health;
pub(crate) mod metrics;
mod mfa;
mod oauth_token;
mod openapi;
mod password_policy;
mod roles;
mod service_clients;
mod token_response;
mod trading_accounts;
mod users;
mod views;
mod wellknown;

use axum::Router;
use axum::http::{HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::domain::error::DomainError;
use crate::state::AppState;

/// The whole router.
pub(crate) fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.config.cors_allowed_origins);
    let mut modules = vec![
        (health::router(), "operations"),
        (wellknown::router(), "discovery"),
        (auth::router(&state), "auth"),
        (password_policy::router(), "auth"),
        (users::router(&state), "users"),
        (mfa::router(&state), "mfa"),
        (admin::router(&state), "admin"),
        (api_keys::router(&state), "api-keys"),
        (trading_accounts::router(&state), "trading-accounts"),
        (oauth_token::router(), "service-clients"),
        (service_clients::router(&state), "service-clients"),
        (roles::router(&state), "roles"),
    ];
    if state.config.environment == crate::config::Environment::Dev {
        modules.push((health::dev_router(), "operations"));
    }
    // `x-route-fallback` tells a 404 of no route from a handler's 404 (the OpenAPI test
    // relies on it to check that every documented route is served).
    openapi::router(&state, modules)
        .fallback(|| async { ([("x-route-fallback", "1")], DomainError::not_found()) })
        // Spans record the URI with token and key values redacted (I27): a client that
        // puts its key in the query string is refused, and must not leak it to the logs.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(authgate_tower::redact::RedactedMakeSpan::new()),
        )
        .layer(cors)
        .with_state(state)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE])
        .allow_headers([axum::http::header::AUTHORIZATION, axum::http::header::CONTENT_TYPE]);
    if origins.iter().any(|o| o == "*") {
        return base.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    base.allow_origin(AllowOrigin::list(list)).allow_credentials(true)
}
