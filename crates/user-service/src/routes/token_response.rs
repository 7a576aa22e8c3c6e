//! Answers that carry tokens: the token pair of a login or refresh, the `HttpOnly`
//! refresh cookie, and `Cache-Control: no-store` for anything secret.

use axum::http::header::{CACHE_CONTROL, COOKIE, PRAGMA, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::sessions::SessionTokens;
use crate::state::AppState;

/// Name of the refresh-token cookie.
pub(crate) const REFRESH_COOKIE: &str = "refresh_token";

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
