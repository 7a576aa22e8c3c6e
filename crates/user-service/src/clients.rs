//! Service clients (OAuth 2.0 client credentials, RFC 6749 section 4.4).
//!
//! A client is another service of the platform (the ticker, say). It holds a `client_id`
//! (`svc_` + 80 random bits, not secret) and a secret of 256 random bits, shown once and
//! stored as its SHA-256 (a secret that long needs no slow hash), compared in constant
//! time. It trades them at `POST /v1/auth/token` for a short access token signed like
//! user tokens, with `sub` and `client_id` set to the client id and `scope` and
//! `permissions` set to the granted scopes, so every authgate verifier and guard can
//! read it. Client tokens carry no `sid`, which is what keeps them apart from user
//! tokens: a user token is never accepted as a service token, and a client token is
//! never accepted where a user is required (`Caller` needs a session).
//!
//! Scopes are exact names: wildcards are refused, because `permissions` honours them and a
//! client must only ever hold what an administrator listed one by one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::crypto::{ct_eq, hash_token, new_id, random_bytes, random_token};
use crate::domain::error::{DomainError, DomainResult};
use crate::routes::caller::bearer_token_from_headers;
use crate::startup::{AppState, StartupError};
use crate::store::ClientInfo;

/// The scope that lets a client read decrypted broker credentials.
pub(crate) const CREDENTIALS_READ: &str = "trading_accounts:credentials:read";

/// Prefix of every `client_id`.
pub(crate) const CLIENT_ID_PREFIX: &str = "svc_";

/// Longest accepted client name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Longest accepted scope, in bytes.
const MAX_SCOPE_LEN: usize = 128;
/// Most scopes a client may hold.
const MAX_SCOPES: usize = 32;

/// A stored service client. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone)]
pub(crate) struct ServiceClientRow {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) name: String,
    pub(crate) secret_hash: String,
    pub(crate) scopes: Vec<String>,
    /// The administrator who created it (`None`: the CLI).
    pub(crate) created_by: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) last_used_at: Option<i64>,
}

impl ServiceClientRow {
    pub(crate) fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// Why a new client was refused (the message is client-safe).
#[derive(Debug, thiserror::Error)]
pub(crate) enum InvalidClient {
    #[error("the name must have 1 to 100 characters and no control characters")]
    Name,
    #[error(
        "scopes must be 1 to 32 names of at most 128 printable characters (no spaces, quotes, \
         backslashes or wildcards)"
    )]
    Scopes,
    #[error("unknown scope {0:?}: scopes are permissions listed at GET /v1/permissions")]
    UnknownScope(String),
    #[error("service clients cannot hold admin permissions ({0:?})")]
    AdminScope(String),
}

/// A trimmed, non-empty name without control characters.
fn valid_name(name: &str) -> Result<String, InvalidClient> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(InvalidClient::Name);
    }
    Ok(name.to_owned())
}

/// RFC 6749 section 3.3 `scope-token`: `%x21 / %x23-5B / %x5D-7E`, and no `*`.
fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= MAX_SCOPE_LEN
        && scope.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E) && b != b'*')
}

/// Normalizes the scopes of a new client: each entry may itself hold several names
/// separated by spaces; duplicates are dropped, the order kept.
fn valid_scopes(scopes: &[String]) -> Result<Vec<String>, InvalidClient> {
    let mut out: Vec<String> = Vec::new();
    for scope in scopes.iter().flat_map(|s| s.split_whitespace()) {
        if !valid_scope(scope) {
            return Err(InvalidClient::Scopes);
        }
        // A typo would otherwise make a client whose tokens pass no guard; and a service
        // acting for itself never administers the platform (other services' guards would
        // honour `admin:delete`).
        if !crate::domain::roles::PERMISSIONS.iter().any(|p| p.name == scope) {
            return Err(InvalidClient::UnknownScope(scope.to_owned()));
        }
        if scope.starts_with("admin:") {
            return Err(InvalidClient::AdminScope(scope.to_owned()));
        }
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    if out.is_empty() || out.len() > MAX_SCOPES {
        return Err(InvalidClient::Scopes);
    }
    Ok(out)
}

/// A new `client_id`: readable prefix + 80 random bits in hex.
fn new_client_id() -> String {
    let hex: String = random_bytes::<10>().iter().map(|b| format!("{b:02x}")).collect();
    format!("{CLIENT_ID_PREFIX}{hex}")
}

/// Why registering a client failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RegisterError {
    #[error(transparent)]
    Invalid(#[from] InvalidClient),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl From<RegisterError> for DomainError {
    fn from(e: RegisterError) -> DomainError {
        match e {
            RegisterError::Invalid(e @ InvalidClient::Name) => {
                DomainError::bad_request("invalid_name", e.to_string())
            }
            RegisterError::Invalid(
                e @ (InvalidClient::Scopes | InvalidClient::UnknownScope(_) | InvalidClient::AdminScope(_)),
            ) => DomainError::bad_request("invalid_scopes", e.to_string()),
            RegisterError::Db(e) => DomainError::internal(e),
        }
    }
}

/// Registers a client and audits `client_created`; returns the row and the secret, which
/// exists nowhere else afterwards.
pub(crate) async fn register(
    state: &AppState,
    name: &str,
    scopes: &[String],
    created_by: Option<&str>,
    client: &ClientInfo,
) -> Result<(ServiceClientRow, String), RegisterError> {
    let name = valid_name(name)?;
    let scopes = valid_scopes(scopes)?;
    let secret = random_token();
    let mut row = ServiceClientRow {
        id: new_id(),
        client_id: new_client_id(),
        name,
        secret_hash: hash_token(&secret),
        scopes,
        created_by: created_by.map(str::to_owned),
        created_at: crate::now(),
        revoked_at: None,
        last_used_at: None,
    };
    // 80 random bits make a collision practically impossible; retry once anyway.
    if !state.db.insert_service_client(&row).await? {
        row.client_id = new_client_id();
        if !state.db.insert_service_client(&row).await? {
            return Err(RegisterError::Db(sqlx::Error::Protocol("client_id collision".into())));
        }
    }
    let details = serde_json::json!({ "client_id": row.client_id, "name": row.name, "scopes": row.scopes });
    crate::domain::audit::record(&state.db, "client_created", None, created_by, client, Some(details)).await;
    Ok((row, secret))
}

/// `clients create`: registers a client; returns `(client_id, client_secret)`, the secret
/// shown once.
pub(crate) async fn create(
    state: &AppState,
    name: &str,
    scopes: &[String],
) -> Result<(String, String), StartupError> {
    let client = ClientInfo { ip: None, user_agent: Some("user-service clients create".into()) };
    match register(state, name, scopes, None, &client).await {
        Ok((row, secret)) => Ok((row.client_id, secret)),
        Err(RegisterError::Invalid(e)) => Err(StartupError::Command(e.to_string())),
        Err(RegisterError::Db(e)) => Err(e.into()),
    }
}

/// Why client authentication failed (for the audit log; the client only ever sees
/// `invalid_client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    UnknownClient,
    WrongSecret,
    Revoked,
}

impl AuthFailure {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AuthFailure::UnknownClient => "unknown_client",
            AuthFailure::WrongSecret => "wrong_secret",
            AuthFailure::Revoked => "revoked",
        }
    }
}

/// Checks a client id and secret. The secret's hash is compared in constant time, and an
/// unknown id costs the same hash and comparison as a known one.
pub(crate) async fn authenticate(
    state: &AppState,
    client_id: &str,
    secret: &str,
) -> Result<Result<ServiceClientRow, AuthFailure>, sqlx::Error> {
    let presented = hash_token(secret);
    let row = if client_id.starts_with(CLIENT_ID_PREFIX) && client_id.len() <= 64 {
        state.db.service_client_by_client_id(client_id).await?
    } else {
        None
    };
    let Some(row) = row else {
        // Same work as a real comparison; the outcome is ignored.
        let _ = ct_eq(&presented, &hash_token(""));
        return Ok(Err(AuthFailure::UnknownClient));
    };
    if !ct_eq(&presented, &row.secret_hash) {
        return Ok(Err(AuthFailure::WrongSecret));
    }
    if !row.is_active() {
        return Ok(Err(AuthFailure::Revoked));
    }
    Ok(Ok(row))
}

/// The scopes to grant for a `scope` parameter (`None` or empty: all of the client's);
/// `None` when anything requested is not one of the client's scopes (`invalid_scope`).
pub(crate) fn granted_scopes(client: &ServiceClientRow, requested: Option<&str>) -> Option<Vec<String>> {
    let requested: Vec<&str> = requested.map(|r| r.split_whitespace().collect()).unwrap_or_default();
    if requested.is_empty() {
        return Some(client.scopes.clone());
    }
    let mut out: Vec<String> = Vec::new();
    for scope in requested {
        if !client.scopes.iter().any(|s| s == scope) {
            return None;
        }
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    Some(out)
}

/// Signs a client token; returns `(token, expires_in)` and records `last_used_at`.
pub(crate) async fn issue_token(
    state: &AppState,
    client: &ServiceClientRow,
    scopes: &[String],
) -> DomainResult<(String, u64)> {
    let now = crate::now();
    let ttl = state.config.client_token_ttl_secs;
    let claims = authgate::AccessClaims::builder()
        .iss(state.issuer.clone())
        .sub(client.client_id.clone())
        .aud(state.config.audience.clone())
        .exp(now as u64 + ttl)
        .iat(now as u64)
        .nbf(now as u64)
        .jti(new_id())
        .scope(scopes)
        .permissions(scopes.iter().cloned())
        // RFC 9068 section 2.2: the client the token was issued to.
        .claim("client_id", client.client_id.clone())
        .build();
    let token = crate::domain::tokens::sign_access_token(&state.keys, &claims, now).await?;
    state.db.touch_service_client(&client.id, now).await?;
    Ok((token, ttl))
}

/// A request authenticated with a service-client token (never a user's).
#[derive(Debug, Clone)]
pub(crate) struct ServiceClient {
    pub(crate) client_id: String,
    /// The token's scopes that the client still holds.
    pub(crate) scopes: Vec<String>,
}

impl ServiceClient {
    /// 403 `insufficient_scope` (with the scope in the challenge) unless the token's
    /// scopes cover `scope`, by the same matcher as every permission check.
    pub(crate) fn require(&self, scope: &str) -> Result<(), DomainError> {
        if crate::domain::roles::covers(&self.scopes, scope) {
            Ok(())
        } else {
            Err(DomainError::insufficient_scope(scope))
        }
    }
}

/// Why [`ServiceClient`] refused a request. Handlers that audit refusals take
/// `Result<ServiceClient, ServiceClientRejection>` and turn it into the response with
/// [`ServiceClientRejection::into_error`].
#[derive(Debug)]
pub(crate) enum ServiceClientRejection {
    /// No bearer token: 401.
    Missing,
    /// Invalid or expired token, or the token of a revoked or unknown client: 401.
    /// `subject` is the verified `sub`, if the signature was good.
    /// `refusal` is the answer, in the shape of every authentication failure.
    InvalidToken { subject: Option<String>, refusal: authgate::Error },
    /// A valid token that is not a client token (a user's, even an admin's): 403.
    NotAClient { user_id: String },
    /// Storage failure: 500.
    Internal(DomainError),
}

impl ServiceClientRejection {
    /// A short reason for the audit log.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            ServiceClientRejection::Missing => "missing_token",
            ServiceClientRejection::InvalidToken { .. } => "invalid_token",
            ServiceClientRejection::NotAClient { .. } => "not_a_client_token",
            ServiceClientRejection::Internal(_) => "error",
        }
    }

    /// The response; a user token is refused with `insufficient_scope` naming `scope`.
    pub(crate) fn into_error(self, scope: &str) -> DomainError {
        match self {
            ServiceClientRejection::Missing => DomainError::missing_token(),
            ServiceClientRejection::InvalidToken { refusal, .. } => DomainError::auth(&refusal),
            ServiceClientRejection::NotAClient { .. } => DomainError::insufficient_scope(scope),
            ServiceClientRejection::Internal(e) => e,
        }
    }
}

impl IntoResponse for ServiceClientRejection {
    fn into_response(self) -> Response {
        match self {
            ServiceClientRejection::NotAClient { .. } => {
                DomainError::forbidden("insufficient_scope", "A service client token is required")
                    .into_response()
            }
            other => other.into_error("").into_response(),
        }
    }
}

impl FromRequestParts<AppState> for ServiceClient {
    type Rejection = ServiceClientRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token_from_headers(&parts.headers).ok_or(ServiceClientRejection::Missing)?;
        let principal = state
            .auth()
            .verify(token)
            .await
            .map_err(|refusal| ServiceClientRejection::InvalidToken { subject: None, refusal })?;
        let claims = principal.claims();
        let sub = principal.user_id();
        let client_id = claims.get("client_id").and_then(|v| v.as_str());
        if claims.sid().is_some() || client_id != Some(sub) {
            tracing::debug!("a token that is not a service-client token at a service endpoint");
            return Err(ServiceClientRejection::NotAClient { user_id: sub.to_owned() });
        }
        let row = state
            .db
            .service_client_by_client_id(sub)
            .await
            .map_err(|e| ServiceClientRejection::Internal(e.into()))?;
        let Some(row) = row.filter(ServiceClientRow::is_active) else {
            tracing::debug!(client_id = ?sub, "token of a revoked or unknown service client");
            let refusal =
                authgate::Error::new(authgate::ErrorKind::InvalidClaims, "revoked or unknown client");
            return Err(ServiceClientRejection::InvalidToken { subject: Some(sub.to_owned()), refusal });
        };
        let scopes = claims.scopes().into_iter().filter(|s| row.scopes.contains(s)).collect();
        Ok(ServiceClient { client_id: row.client_id, scopes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scopes: &[&str]) -> ServiceClientRow {
        ServiceClientRow {
            id: "id".into(),
            client_id: "svc_x".into(),
            name: "n".into(),
            secret_hash: String::new(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            created_by: None,
            created_at: 0,
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn scopes_are_rfc6749_tokens_without_wildcards() {
        let ok = valid_scopes(&[
            "positions:read".into(),
            "alerts:read trading_accounts:credentials:read".into(),
            "positions:read".into(),
        ])
        .unwrap();
        assert_eq!(ok, ["positions:read", "alerts:read", "trading_accounts:credentials:read"]);
        for bad in ["*", "admin:*", "a\"b", "a\\b", "é", "\u{7f}", "positions:raed", "admin:delete"] {
            assert!(valid_scopes(&[bad.into()]).is_err(), "{bad:?}");
        }
        assert!(valid_scopes(&[]).is_err());
        assert!(valid_scopes(&[" ".into()]).is_err());
        assert!(valid_scopes(&["x".repeat(129)]).is_err());
        let many: Vec<String> = (0..33).map(|i| format!("s{i}")).collect();
        assert!(valid_scopes(&many).is_err());
        assert!(matches!(valid_scopes(&["positions:raed".into()]), Err(InvalidClient::UnknownScope(_))));
        assert!(matches!(valid_scopes(&["admin:users:read".into()]), Err(InvalidClient::AdminScope(_))));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  ticker ").unwrap(), "ticker");
        assert!(valid_name("   ").is_err());
        assert!(valid_name("a\nb").is_err());
        assert!(valid_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn requested_scopes_must_be_a_subset() {
        let c = client(&["a", "b"]);
        assert_eq!(granted_scopes(&c, None).unwrap(), ["a", "b"]);
        assert_eq!(granted_scopes(&c, Some("")).unwrap(), ["a", "b"]);
        assert_eq!(granted_scopes(&c, Some("b b")).unwrap(), ["b"]);
        assert!(granted_scopes(&c, Some("a c")).is_none());
        assert!(granted_scopes(&c, Some("*")).is_none());
    }

    #[test]
    fn client_ids_are_readable_and_random() {
        let id = new_client_id();
        assert!(id.starts_with("svc_") && id.len() == 24, "{id}");
        assert_ne!(id, new_client_id());
    }
}
