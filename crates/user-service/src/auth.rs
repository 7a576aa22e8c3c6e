//! How the service authenticates its own endpoints: the [`Caller`] extractor.
//!
//! One path: `authgate_tower::AuthLayer` (see `routes::auth_layer`) verifies the token
//! with the core crate's `authgate::Verifier`, fed the service's own JWKS (replaced in
//! place whenever the keys are re-read), and leaves an `authgate::Principal`. [`Caller`]
//! builds on that principal, never on the header: it adds the service's own checks (the
//! token's session still active, its user enabled) and the user's *current*
//! permissions, so logout, session revocation, disabling and demotion take effect at
//! once here (other services see them when the 15-minute token expires). Permissions are
//! checked once, by [`Caller::require`], with the core's matcher.
//!
//! A route that takes [`Caller`] must sit behind the auth layer; one that does not
//! answers 401 (no principal), never 500.
//!
//! [`MeCaller`] also accepts an API key in `X-API-Key`: it is used only by
//! `GET /v1/users/me`, the call the core crate's `RemoteApiKeyVerifier` makes. Every
//! other endpoint takes [`Caller`] and so stays JWT-only: a leaked key can identify
//! its owner to other services but cannot manage keys or the account here.

use std::net::{IpAddr, SocketAddr};

use authgate::api_key::format;
use authgate::client_addr::TrustedProxies;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::config::Environment;
use crate::crypto::ct_eq;
use crate::domain::error::DomainError;
use crate::domain::roles::covers;
use crate::metrics::Metrics;
use crate::startup::AppState;
use crate::store::{ApiKey, ApiKeyUsage, User};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) user: User,
    pub(crate) session_id: String,
    pub(crate) permissions: Vec<String>,
    pub(crate) amr: Vec<String>,
}

impl Caller {
    /// 403 `insufficient_scope` unless the user's current roles grant `permission`.
    pub(crate) fn require(&self, permission: &str) -> Result<(), DomainError> {
        if covers(&self.permissions, permission) {
            Ok(())
        } else {
            Err(DomainError::insufficient_scope(permission))
        }
    }
}

/// The core crate's verifier for this service's tokens: its own issuer and audience,
/// `typ: at+jwt` required, the algorithms the service can sign with.
pub(crate) fn build_verifier(
    issuer: &str,
    keys: authgate::KeySet,
    audience: &str,
) -> Result<authgate::Verifier, authgate::Error> {
    use authgate::Algorithm;
    authgate::Verifier::builder()
        .issuer(issuer, keys)
        .audience(audience)
        .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
        .require_at_jwt()
        .leeway(std::time::Duration::from_secs(30))
        .build()
}

/// Extracts the bearer token (scheme matched case-insensitively; never from the query).
pub(crate) fn bearer_token_from_headers(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Verifies an access token issued by this service with the core crate's verifier
/// (size, signature, `typ: at+jwt`, issuer, audience, times), for the few endpoints where
/// a bearer token is optional and so no `AuthLayer` stands in front (logout, resending
/// the verification email, the service-client endpoints that audit refusals).
pub(crate) async fn verify_access_token(
    state: &AppState,
    token: &str,
) -> Result<authgate::Principal, authgate::Error> {
    state.verifier.verify(token).await.inspect_err(|e| tracing::debug!(reason = %e, "access token rejected"))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = DomainError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(principal) = parts.extensions.get::<authgate::Principal>() else {
            // No principal: no credentials under an optional layer, or a route wired
            // without the auth layer (a bug, logged; still a clean 401, never a panic).
            if !parts.headers.contains_key(AUTHORIZATION) {
                return Err(DomainError::missing_token());
            }
            tracing::error!(path = %parts.uri.path(), "a route taking Caller has no AuthLayer");
            return Err(DomainError::missing_token());
        };
        let now = crate::now();
        let sid = principal.session_id().ok_or_else(DomainError::invalid_token)?.to_owned();
        let session = state.db.session_by_id(&sid).await?;
        let session_ok = session.as_ref().is_some_and(|s| {
            s.user_id == principal.user_id() && s.revoked_at.is_none() && s.expires_at > now
        });
        if !session_ok {
            tracing::debug!("access token of a revoked or unknown session");
            return Err(DomainError::invalid_token());
        }
        let user =
            state.db.user_by_id(principal.user_id()).await?.filter(User::is_active).ok_or_else(|| {
                tracing::debug!("access token of a missing or disabled user");
                DomainError::invalid_token()
            })?;
        // Permissions follow the user's current roles, so a demotion applies at once here.
        let permissions = state.roles.permissions_for(&user.roles).await?;
        Ok(Caller { user, session_id: sid, permissions, amr: principal.claims().amr().to_vec() })
    }
}

/// The header that carries an API key. The query string is never read (I24): URLs end
/// up in logs and browser histories.
pub(crate) const API_KEY_HEADER: &str = "x-api-key";

/// Keys longer than this are refused before any parsing (real ones are 46 bytes).
const MAX_API_KEY_BYTES: usize = 128;

/// The environment part of the keys this service issues and accepts: `live` in
/// production, `test` elsewhere, so a test key never works in production and back.
pub(crate) fn api_key_environment(environment: Environment) -> &'static str {
    match environment {
        Environment::Production => "live",
        Environment::Dev | Environment::Staging => "test",
    }
}

/// A caller authenticated by an API key.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeyCaller {
    pub(crate) user: User,
    pub(crate) key: ApiKey,
    /// The key's permissions that its owner still holds (a demotion applies at once).
    pub(crate) permissions: Vec<String>,
}

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
        authenticate_api_key(state, key.trim(), ip, route).await.map(MeCaller::ApiKey)
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

fn refuse(counter: &metrics::Counter, reason: &'static str) -> DomainError {
    Metrics::inc(counter);
    tracing::debug!(reason, "API key rejected");
    DomainError::invalid_api_key()
}

/// Checks a presented key: format and checksum first, with no lookup at all (I24), then
/// the stored SHA-256 (compared in constant time), revocation, expiry and the owner's
/// status. Every use of a known key is queued for the usage log, whatever its outcome.
pub(crate) async fn authenticate_api_key(
    state: &AppState,
    key: &str,
    ip: Option<String>,
    route: String,
) -> Result<ApiKeyCaller, DomainError> {
    let m = &state.metrics;
    if key.len() > MAX_API_KEY_BYTES || format::check(key).is_err() {
        return Err(refuse(&m.api_key_malformed, "malformed key or bad checksum"));
    }
    if format::environment(key) != Some(api_key_environment(state.config.environment)) {
        return Err(refuse(&m.api_key_malformed, "key of another environment"));
    }
    let hash = format::hash_hex(key);
    let Some(stored) = state.db.api_key_by_hash(&hash).await?.filter(|k| ct_eq(&k.key_hash, &hash)) else {
        return Err(refuse(&m.api_key_unknown, "unknown key"));
    };
    let now = crate::now();
    let owner = if stored.revoked_at.is_some() {
        Err("revoked")
    } else if stored.is_expired(now) {
        Err("expired")
    } else {
        match state.db.user_by_id(&stored.user_id).await?.filter(User::is_active) {
            None => Err("owner_disabled"),
            // A key bound to a trading account dies with its owner's access to it (removed
            // from the members, or the account deleted): services trust the binding.
            Some(user) => match &stored.trading_account_id {
                Some(account) if state.db.trading_account_for_member(account, &user.id).await?.is_none() => {
                    Err("account_access_lost")
                }
                _ => Ok(user),
            },
        }
    };
    let outcome = match &owner {
        Ok(_) => "success",
        Err(outcome) => outcome,
    };
    let usage = ApiKeyUsage { api_key_id: stored.id.clone(), at: now, ip, route, outcome };
    if !state.usage.record(usage) {
        Metrics::inc(&m.api_key_usage_dropped);
    }
    let user = match owner {
        Ok(user) => user,
        Err(reason) => {
            tracing::debug!(key_id = %stored.id, reason, "API key refused");
            return Err(refuse(&m.api_key_refused, reason));
        }
    };
    Metrics::inc(&m.api_key_success);
    let owner_permissions = state.roles.permissions_for(&user.roles).await?;
    let permissions = stored.permissions.iter().filter(|p| covers(&owner_permissions, p)).cloned().collect();
    Ok(ApiKeyCaller { user, key: stored, permissions })
}
