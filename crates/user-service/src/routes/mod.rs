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
mod trading_accounts;
mod users;
mod views;
mod wellknown;

use std::convert::Infallible;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::header::{CACHE_CONTROL, COOKIE, PRAGMA, SET_COOKIE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::domain::auth::Auth;
use crate::domain::error::DomainError;
use crate::domain::sessions::SessionTokens;
use crate::domain::tokens::AccessTokens;
use crate::routes::error::{REALM, auth_error_body};
use crate::startup::AppState;
use crate::store::ClientInfo;

/// Name of the refresh-token cookie.
pub(crate) const REFRESH_COOKIE: &str = "refresh_token";

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

/// The tower crate's `AuthLayer` over the service's own verifier (same key set, replaced
/// in place on reload): the one place a bearer token is verified for the routes that
/// take `Caller`. It answers in the service's error shape, the same as `DomainError::auth`.
/// Domain operations check permissions once, with `Actor::require`.
pub(crate) fn auth_layer(state: &AppState) -> authgate_tower::AuthLayer {
    authgate_tower::AuthLayer::new(authenticator(state)).realm(REALM).error_body(error_body)
}

/// [`auth_layer`] for a route that also serves callers without a bearer token (an API
/// key, checked by the handler's extractor): a token, if sent, must still be valid.
pub(crate) fn optional_auth_layer(state: &AppState) -> authgate_tower::AuthLayer {
    authgate_tower::AuthLayer::optional(authenticator(state)).realm(REALM).error_body(error_body)
}

fn authenticator(state: &AppState) -> authgate::Authenticator {
    authgate::Authenticator::jwt(state.verifier.clone())
}

fn error_body(e: &authgate::Error) -> (HeaderValue, axum::body::Bytes) {
    (
        HeaderValue::from_static("application/json"),
        axum::body::Bytes::from(serde_json::to_vec(&auth_error_body(e)).unwrap_or_default()),
    )
}

/// Where a request came from (client address, through `TRUSTED_PROXIES`, and user
/// agent), for throttling, audit and sessions.
pub(crate) struct RequestMeta(pub(crate) ClientInfo);

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = caller::client_ip(parts, &state.config.trusted_proxies).map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect::<String>());
        Ok(RequestMeta(ClientInfo { ip, user_agent }))
    }
}

/// The refresh token from the cookie, if any.
pub(crate) fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(
        |pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == REFRESH_COOKIE && !value.is_empty()).then(|| value.to_owned())
        },
    )
}

fn cookie_header(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let mut c = format!(
        "{REFRESH_COOKIE}={value}; Path=/v1/auth; HttpOnly; SameSite={}; Max-Age={max_age}",
        state.config.cookie_samesite.as_str()
    );
    if state.config.cookie_secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("refresh_token=; Max-Age=0"))
}

/// A `Set-Cookie` that removes the refresh cookie.
pub(crate) fn clear_cookie(state: &AppState) -> (axum::http::HeaderName, HeaderValue) {
    (SET_COOKIE, cookie_header(state, "", 0))
}

/// Body of a successful login or refresh.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenPair {
    /// A JWT (`typ: at+jwt`).
    access_token: String,
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// Single use: each refresh answers with a new one. Absent from the answer to a
    /// refresh that used the cookie: that flow keeps it in the `HttpOnly` cookie only.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// How the client holds its refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshFlow {
    /// Login, or a refresh token sent in the body: the body carries the new one too
    /// (API clients without cookies need it).
    Body,
    /// A refresh with the cookie: the new token goes into the cookie only, out of
    /// reach of the page's scripts.
    Cookie,
}

/// Answers a token pair (in the body `wrap` makes of it) with the refresh cookie.
pub(crate) fn token_response<B: Serialize>(
    state: &AppState,
    tokens: SessionTokens,
    flow: RefreshFlow,
    wrap: fn(TokenPair) -> B,
) -> Response {
    let cookie = cookie_header(state, &tokens.refresh_token, state.config.refresh_token_ttl_secs);
    let (access_token, expires_in) = (tokens.access_token, tokens.expires_in);
    let refresh_token = (flow == RefreshFlow::Body).then_some(tokens.refresh_token);
    let pair = TokenPair { access_token, token_type: "Bearer", expires_in, refresh_token };
    let mut response = (StatusCode::OK, [(SET_COOKIE, cookie)], axum::Json(wrap(pair))).into_response();
    no_store(response.headers_mut());
    response
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, for every answer that carries a
/// token or a secret (RFC 6749 section 5.1).
pub(crate) fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

impl crate::startup::StateInner {
    /// What the authentication flows need of this state.
    pub(crate) fn auth(&self) -> Auth<'_> {
        let (keys, roles, issuer, c) = (&*self.keys, &self.roles, self.issuer.as_str(), &self.config);
        let tokens =
            AccessTokens { keys, roles, issuer, audience: &c.audience, ttl_secs: c.access_token_ttl_secs };
        let (db, passwords, throttle, master) = (&self.db, &self.passwords, &self.throttle, &self.master);
        let (mailer, metrics, verifier) = (&self.mailer, &self.metrics, &self.verifier);
        Auth {
            db,
            passwords,
            throttle,
            master,
            mailer,
            metrics,
            verifier,
            tokens,
            link_base: c.link_base(&self.issuer),
            mfa_token_ttl_secs: c.mfa_token_ttl_secs,
            reset_token_ttl_secs: c.reset_token_ttl_secs,
            email_verification_ttl_secs: c.email_verification_ttl_secs,
            password_min_chars: c.password_min_chars,
            refresh_token_ttl_secs: c.refresh_token_ttl_secs,
            require_email_verification: c.require_email_verification,
        }
    }
}

/// RFC 3339 rendering of a Unix time.
pub(crate) fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
