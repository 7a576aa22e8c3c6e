//! How the service authenticates its own endpoints: the [`CurrentUser`] extractor.
//!
//! This is the one place that verifies access tokens: with the core crate's
//! `authgate::Verifier`, fed the service's own JWKS (replaced in place whenever the keys
//! are re-read), so the service checks its tokens exactly as the other services do.
//!
//! Beyond the signature and claims, the token's session must still be active and its
//! user enabled, so logout, session revocation and account disabling take effect at once
//! here (other services see them when the 15-minute token expires).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::User;
use crate::tokens::{permissions_for, permits};

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
/// (signature, `typ: at+jwt`, issuer, audience, times).
pub(crate) async fn verify_access_token(
    state: &AppState,
    token: &str,
) -> Result<authgate::Principal, ApiError> {
    if token.len() > MAX_TOKEN_BYTES {
        tracing::debug!("access token rejected: too large");
        return Err(ApiError::invalid_token());
    }
    // A kid this instance has not loaded yet may come from a rotation elsewhere.
    if let Ok(header) = jsonwebtoken::decode_header(token)
        && let Some(kid) = header.kid
    {
        state.keys.ensure_kid_loaded(&kid, crate::now()).await.map_err(ApiError::internal)?;
    }
    state.verifier.verify(token).await.map_err(|e| {
        tracing::debug!(reason = %e, "access token rejected");
        ApiError::invalid_token()
    })
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token_from_headers(&parts.headers).ok_or_else(ApiError::missing_token)?;
        let principal = verify_access_token(state, token).await?;
        let now = crate::now();
        let sid = principal.session_id().ok_or_else(ApiError::invalid_token)?.to_owned();
        let session = state.db.session_by_id(&sid).await?;
        let session_ok = session.as_ref().is_some_and(|s| {
            s.user_id == principal.user_id() && s.revoked_at.is_none() && s.expires_at > now
        });
        if !session_ok {
            tracing::debug!("access token of a revoked or unknown session");
            return Err(ApiError::invalid_token());
        }
        let user =
            state.db.user_by_id(principal.user_id()).await?.filter(User::is_active).ok_or_else(|| {
                tracing::debug!("access token of a missing or disabled user");
                ApiError::invalid_token()
            })?;
        // Permissions follow the user's current roles, so a demotion applies at once here.
        let permissions = permissions_for(&user.roles);
        Ok(CurrentUser { user, session_id: sid, permissions, amr: principal.claims().amr.clone() })
    }
}
