//! Access tokens (RFC 9068 `at+jwt`, RS256), signed here; `jsonwebtoken` only signs, the
//! core's verifier checks them. Roles map to permissions in [`crate::domain::roles::RoleCatalog`].

use jsonwebtoken::Header;

use crate::crypto::new_id;
use crate::domain::error::DomainError;
use crate::domain::signing_keys::signer_index;
use crate::startup::AppState;
use crate::store::User;

/// Signs an access token for `user` in session `sid`; returns `(token, expires_in)`.
pub(crate) async fn issue_access_token(
    state: &AppState,
    user: &User,
    sid: &str,
    amr: &[String],
) -> Result<(String, u64), DomainError> {
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
) -> Result<String, DomainError> {
    let keys = state.keys.keys(now).await.map_err(DomainError::internal)?;
    let idx = signer_index(&keys, now).ok_or_else(|| DomainError::internal("no active signing key"))?;
    let key = &keys[idx];
    let mut header = Header::new(key.alg);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).map_err(DomainError::internal)
}
