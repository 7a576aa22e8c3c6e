//! Access tokens (RFC 9068 `at+jwt`, RS256) and the role-to-permission map.

use jsonwebtoken::Header;

use crate::crypto::new_id;
use crate::error::ApiError;
use crate::keys::signer_index;
use crate::startup::AppState;
use crate::store::User;

/// Roles the service knows.
pub(crate) const KNOWN_ROLES: &[&str] = &["user", "admin"];

/// Permissions granted by roles: `user` gets the platform's everyday permissions, `admin`
/// gets `*` (everything).
pub(crate) fn permissions_for(roles: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for role in roles {
        let granted: &[&str] = match role.as_str() {
            "user" => &["positions:read", "alerts:read", "alerts:write", "api_keys:manage"],
            "admin" => &["*"],
            _ => &[],
        };
        for p in granted {
            if !out.iter().any(|x| x == p) {
                out.push((*p).to_owned());
            }
        }
    }
    out
}

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
    let claims = authgate::AccessClaims {
        iss: Some(state.issuer.clone()),
        sub: Some(user.id.clone()),
        aud: Some(authgate::Audience::One(state.config.audience.clone())),
        exp: Some(now as u64 + ttl),
        iat: Some(now as u64),
        nbf: Some(now as u64),
        jti: Some(new_id()),
        sid: Some(sid.to_owned()),
        email: Some(user.email.clone()),
        name: Some(user.name.clone()),
        roles: user.roles.clone(),
        permissions: permissions_for(&user.roles),
        amr: amr.to_vec(),
        ..Default::default()
    };
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
    fn roles_map_to_permissions() {
        let user = permissions_for(&["user".to_owned()]);
        assert_eq!(user, ["positions:read", "alerts:read", "alerts:write", "api_keys:manage"]);
        let admin = permissions_for(&["user".to_owned(), "admin".to_owned()]);
        assert!(permits(&admin, "admin:users"));
        assert!(!permits(&user, "admin:users"));
        assert!(permits(&["admin:*".to_owned()], "admin:keys"));
        assert!(permissions_for(&["unknown".to_owned()]).is_empty());
    }
}
