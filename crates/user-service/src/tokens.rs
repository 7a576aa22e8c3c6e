//! Access tokens (RFC 9068 `at+jwt`, RS256) and the permission check. Roles map to
//! permissions in [`crate::roles::RoleCatalog`].

use jsonwebtoken::Header;

use crate::crypto::new_id;
use crate::error::ApiError;
use crate::keys::signer_index;
use crate::startup::AppState;
use crate::store::User;

/// True if `granted` covers `required` (`*` covers everything, `admin:*` covers `admin:x`).
pub(crate) fn permits(granted: &[String], required: &str) -> bool {
    granted.iter().any(|g| {
        g == "*" || g == required || g.strip_suffix('*').is_some_and(|prefix| required.starts_with(prefix))
    })
}

/// Signs an access token for `user` in session `sid`; returns `(token, expires_in)`.
pub(crate) async fn issue_access_token(
    state: &AppState,
    user: &User,
    sid: &str,
    amr: &[String],
) -> Result<(String, u64), ApiError> {
    let now = crate::now();
    let ttl = state.config.access_token_ttl_secs;
    // The core crate's claims type: what the issuer writes is what verifiers read.
    let claims = authgate::AccessClaims::builder()
        .iss(state.issuer.clone())
        .sub(user.id.clone())
        .aud(state.config.audience.clone())
        .exp(now as u64 + ttl)
        .iat(now as u64)
        .nbf(now as u64)
        .jti(new_id())
        .sid(sid)
        .email(user.email.clone())
        .name(user.name.clone())
        .roles(user.roles.clone())
        .permissions(state.roles.permissions_for(&user.roles).await?)
        .amr(amr.iter().cloned())
        .claim("email_verified", user.email_verified)
        .build();
    Ok((sign_access_token(state, &claims, now).await?, ttl))
}

/// Signs `claims` as an access token (`typ: at+jwt`, `kid`) with the key that signs at
/// `now`: user tokens and service-client tokens go through here alike.
pub(crate) async fn sign_access_token(
    state: &AppState,
    claims: &authgate::AccessClaims,
    now: i64,
) -> Result<String, ApiError> {
    let keys = state.keys.keys(now).await.map_err(ApiError::internal)?;
    let idx = signer_index(&keys, now).ok_or_else(|| ApiError::internal("no active signing key"))?;
    let key = &keys[idx];
    let mut header = Header::new(key.alg);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_their_prefix_only() {
        let user = ["positions:read".to_owned(), "alerts:read".to_owned()];
        assert!(permits(&user, "alerts:read"));
        assert!(!permits(&user, "admin:users"));
        assert!(permits(&["*".to_owned()], "admin:users"));
        assert!(permits(&["admin:*".to_owned()], "admin:keys"));
        assert!(!permits(&["admin:*".to_owned()], "alerts:read"));
    }
}
