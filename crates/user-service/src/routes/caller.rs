//! Who is calling, and from where: the auth layers that verify a bearer token, the
//! [`Caller`], [`Acting`] and [`MeCaller`] extractors built on them, and [`RequestMeta`].
//!
//! One path: `authgate_tower::AuthLayer` ([`auth_layer`]) verifies the token
//! with the core crate's `authgate::Verifier`, fed the service's own JWKS, and leaves an
//! `authgate::Principal`. [`Caller`] builds on that principal, never on the header; the
//! domain adds the service's own checks (`Auth::caller`: session active, user enabled,
//! current permissions). Permissions are checked once, in the domain operation, by
//! `Actor::require` on the [`Acting::actor`] the handler passes.
//!
//! A route that takes [`Caller`] must sit behind the auth layer; one that does not
//! answers 401 (no principal), never 500.
//!
//! [`MeCaller`] also accepts an API key in `X-API-Key`: it is used only by
//! `GET /v1/users/me`, the call the core crate's `RemoteApiKeyVerifier` makes. Every
//! other endpoint takes [`Caller`] and so stays JWT-only: a leaked key can identify
//! its owner to other services but cannot manage keys or the account here.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use authgate::client_addr::TrustedProxies;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};

use crate::domain::actor::Actor;
pub(crate) use crate::domain::api_key_auth::ApiKeyCaller;
use crate::domain::api_key_auth::{ApiKeyAuth, refuse};
pub(crate) use crate::domain::auth::Caller;
use crate::domain::error::DomainError;
use crate::routes::error::{REALM, auth_error_body};
use crate::state::AppState;
use crate::store::ClientInfo;

/// Extracts the bearer token (scheme matched case-insensitively; never from the query).
pub(crate) fn bearer_token_from_headers(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = DomainError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(principal) = parts.extensions.get::<authgate::Principal>() else {
            // No principal: no credentials under an optional layer, or a route wired
            // without the auth layer (a bug, logged; still a clean 401, never a panic).
            if parts.headers.contains_key(AUTHORIZATION) {
                tracing::error!(path = %parts.uri.path(), "a route taking Caller has no AuthLayer");
            }
            return Err(DomainError::missing_token());
        };
        state.auth().caller(principal).await
    }
}

/// The caller and where the request came from: what the domain's [`Actor`] borrows.
pub(crate) struct Acting {
    pub(crate) caller: Caller,
    pub(crate) client: ClientInfo,
}

impl FromRequestParts<AppState> for Acting {
    type Rejection = DomainError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Acting, DomainError> {
        let Ok(RequestMeta(client)) = RequestMeta::from_request_parts(parts, state).await;
        Ok(Acting { caller: Caller::from_request_parts(parts, state).await?, client })
    }
}

impl Acting {
    pub(crate) fn actor(&self) -> Actor<'_> {
        Actor { id: &self.caller.user.id, permissions: &self.caller.permissions, client: &self.client }
    }
}

/// The header that carries an API key. The query string is never read (I24): URLs end
/// up in logs and browser histories.
const API_KEY_HEADER: &str = "x-api-key";

/// The caller of `GET /v1/users/me`: a bearer token, or an API key in `X-API-Key`.
#[derive(Debug, Clone)]
pub(crate) enum MeCaller {
    Jwt(Caller),
    ApiKey(ApiKeyCaller),
}

impl FromRequestParts<AppState> for MeCaller {
    type Rejection = DomainError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let mut keys = parts.headers.get_all(API_KEY_HEADER).iter();
        let Some(value) = keys.next() else {
            return Caller::from_request_parts(parts, state).await.map(MeCaller::Jwt);
        };
        // Two credentials could name two users; RFC 6750 section 3.1 calls that a bad request.
        if keys.next().is_some() || parts.headers.contains_key(AUTHORIZATION) {
            return Err(DomainError::bad_request(
                "invalid_request",
                "Send either one API key or one bearer token",
            ));
        }
        let key = value.to_str().map_err(|_| refuse(&state.metrics.api_key_malformed, "not ASCII"))?;
        let ip = client_ip(parts, &state.config.trusted_proxies).map(|ip| ip.to_string());
        let route = match parts.extensions.get::<MatchedPath>() {
            Some(path) => path.as_str().to_owned(),
            None => parts.uri.path().chars().take(200).collect(),
        };
        let (db, roles, metrics, usage) = (&state.db, &state.roles, &state.metrics, &state.usage);
        let keys = ApiKeyAuth { db, roles, metrics, usage, environment: state.config.environment };
        keys.authenticate(key.trim(), ip, route).await.map(MeCaller::ApiKey)
    }
}

/// The client's address: the socket peer or, when the peer is a trusted proxy, the
/// address its forwarding header names (read right to left through trusted hops only,
/// by the core's `authgate::client_addr`).
pub(crate) fn client_ip(parts: &Parts, proxies: &TrustedProxies) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let forwarded = parts.headers.get_all(proxies.proxy_header().name());
    Some(proxies.resolve(peer, forwarded.iter().map(|v| v.as_bytes())))
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
        let ip = client_ip(parts, &state.config.trusted_proxies).map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect::<String>());
        Ok(RequestMeta(ClientInfo { ip, user_agent }))
    }
}
