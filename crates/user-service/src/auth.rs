//! How the service authenticates its own endpoints: the [`CurrentUser`] extractor.
//!
//! This is the one place that verifies access tokens. It uses `jsonwebtoken` directly
//! against the service's own keys (the core `authgate` crate was still being written);
//! swapping in `authgate::Verifier` means changing only [`verify_access_token`].
//!
//! Beyond the signature and claims, the token's session must still be active and its
//! user enabled, so logout, session revocation and account disabling take effect at once
//! here (other services see them when the 15-minute token expires).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, Validation};

use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::User;
use crate::tokens::{AccessClaims, permissions_for, permits};

/// Tokens longer than this are refused before parsing (J25).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser {
    pub(crate) user: User,
    pub(crate) session_id: String,
    pub(crate) permissions: Vec<String>,
    pub(crate) amr: Vec<String>,
}

impl CurrentUser {
    /// 403 `insufficient_scope` unless the token grants `permission`.
    pub(crate) fn require(&self, permission: &str) -> Result<(), ApiError> {
        if permits(&self.permissions, permission) {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(permission))
        }
    }
}

/// Extracts the bearer token (scheme matched case-insensitively; never from the query).
pub(crate) fn bearer_token_from_headers(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Verifies an access token issued by this service and returns its claims.
pub(crate) async fn verify_access_token(state: &AppState, token: &str) -> Result<AccessClaims, ApiError> {
    let reject = |reason: &str| {
        tracing::debug!(reason, "access token rejected");
        ApiError::invalid_token()
    };
    if token.len() > MAX_TOKEN_BYTES {
        return Err(reject("token too large"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| reject("malformed header"))?;
    if header.alg != Algorithm::RS256 {
        return Err(reject("algorithm not allowed"));
    }
    if !matches!(header.typ.as_deref(), Some("at+jwt") | Some("application/at+jwt")) {
        return Err(reject("not an access token (typ)"));
    }
    if header.crit.is_some() || header.jku.is_some() || header.jwk.is_some() || header.x5u.is_some() {
        return Err(reject("unsupported header parameters"));
    }
    let kid = header.kid.ok_or_else(|| reject("no kid"))?;
    let now = crate::now();
    let (keys, idx) = state
        .keys
        .decoding_key(&kid, now)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| reject("unknown kid"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[state.issuer.as_str()]);
    validation.set_audience(&[state.config.audience.as_str()]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 30;
    let data = jsonwebtoken::decode::<AccessClaims>(token, &keys[idx].decoding, &validation)
        .map_err(|e| reject(&format!("{:?}", e.kind())))?;
    if data.claims.iat > now + 30 {
        return Err(reject("issued in the future"));
    }
    Ok(data.claims)
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token_from_headers(&parts.headers).ok_or_else(ApiError::missing_token)?;
        let claims = verify_access_token(state, token).await?;
        let now = crate::now();
        let session = state.db.session_by_id(&claims.sid).await?;
        let session_ok = session
            .as_ref()
            .is_some_and(|s| s.user_id == claims.sub && s.revoked_at.is_none() && s.expires_at > now);
        if !session_ok {
            tracing::debug!("access token of a revoked or unknown session");
            return Err(ApiError::invalid_token());
        }
        let user = state.db.user_by_id(&claims.sub).await?.filter(User::is_active).ok_or_else(|| {
            tracing::debug!("access token of a missing or disabled user");
            ApiError::invalid_token()
        })?;
        // Permissions follow the user's current roles, so a demotion applies at once here.
        let permissions = permissions_for(&user.roles);
        Ok(CurrentUser { user, session_id: claims.sid, permissions, amr: claims.amr })
    }
}
