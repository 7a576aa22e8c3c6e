//! Access tokens (RFC 9068 `at+jwt`): signed here with the key that signs now
//! (`jsonwebtoken` only signs), verified by the core's verifier built here. Roles map to
//! permissions in [`RoleCatalog`].

use jsonwebtoken::Header;

use crate::crypto::new_id;
use crate::domain::error::DomainError;
use crate::domain::roles::RoleCatalog;
use crate::domain::signing_keys::{KeyManager, signer_index};
use crate::store::User;

/// What signing a user's access token needs.
pub(crate) struct AccessTokens<'a> {
    pub(crate) keys: &'a KeyManager,
    pub(crate) roles: &'a RoleCatalog,
    pub(crate) issuer: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) ttl_secs: u64,
}

impl AccessTokens<'_> {
    /// Signs an access token for `user` in session `sid`; returns `(token, expires_in)`.
    pub(crate) async fn issue(
        &self,
        user: &User,
        sid: &str,
        amr: &[String],
    ) -> Result<(String, u64), DomainError> {
        let now = crate::now();
        // The core crate's claims type: what the issuer writes is what verifiers read.
        let claims = authgate::AccessClaims::builder()
            .iss(self.issuer.to_owned())
            .sub(user.id.clone())
            .aud(self.audience.to_owned())
            .exp(now as u64 + self.ttl_secs)
            .iat(now as u64)
            .nbf(now as u64)
            .jti(new_id())
            .sid(sid)
            .email(user.email.clone())
            .name(user.name.clone())
            .roles(user.roles.clone())
            .permissions(self.roles.permissions_for(&user.roles).await?)
            .amr(amr.iter().cloned())
            .claim("email_verified", user.email_verified)
            .build();
        Ok((sign_access_token(self.keys, &claims, now).await?, self.ttl_secs))
    }
}

/// Signs `claims` as an access token (`typ: at+jwt`, `kid`) with the key that signs at
/// `now`: user tokens and service-client tokens go through here alike.
pub(crate) async fn sign_access_token(
    keys: &KeyManager,
    claims: &authgate::AccessClaims,
    now: i64,
) -> Result<String, DomainError> {
    let keys = keys.keys(now).await.map_err(DomainError::internal)?;
    let idx = signer_index(&keys, now).ok_or_else(|| DomainError::internal("no active signing key"))?;
    let key = &keys[idx];
    let mut header = Header::new(key.alg);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).map_err(DomainError::internal)
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
