//! Service clients (OAuth 2.0 client credentials, RFC 6749 section 4.4): registering and
//! revoking them, authenticating them, granting their scopes and issuing their tokens.
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

use serde::Serialize;

use crate::crypto::{ct_eq, hash_token, new_id, random_bytes, random_token};
use crate::db::Db;
use crate::domain::actor::Actor;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::input::{MAX_NAME_CHARS, printable};
use crate::domain::signing_keys::KeyManager;
use crate::store::{ClientInfo, ServiceClientRow};
use crate::throttle::Throttle;

/// The scope that lets a client read decrypted broker credentials.
pub(crate) const CREDENTIALS_READ: &str = "trading_accounts:credentials:read";

/// Prefix of every `client_id`.
pub(crate) const CLIENT_ID_PREFIX: &str = "svc_";
const CLIENTS_READ: &str = "admin:clients:read";
const CLIENTS_WRITE: &str = "admin:clients:write";

/// Longest accepted client name, in characters.
/// Longest accepted scope, in bytes.
const MAX_SCOPE_LEN: usize = 128;
/// Most scopes a client may hold.
const MAX_SCOPES: usize = 32;

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

/// A trimmed, non-empty name without control characters.
fn valid_name(name: &str) -> Result<String, InvalidClient> {
    let name = name.trim();
    printable(name, MAX_NAME_CHARS).then(|| name.to_owned()).ok_or(InvalidClient::Name)
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
            RegisterError::Invalid(e) => DomainError::bad_request("invalid_scopes", e.to_string()),
            RegisterError::Db(e) => DomainError::internal(e),
        }
    }
}

/// Registers a client for an administrator; returns the row and the secret, which exists
/// nowhere else afterwards.
pub(crate) async fn register(
    db: &Db,
    actor: &Actor<'_>,
    name: &str,
    scopes: &[String],
) -> DomainResult<(ServiceClientRow, String)> {
    actor.require(CLIENTS_WRITE)?;
    Ok(insert(db, name, scopes, Some(actor.id), actor.client).await?)
}

/// Registers a client and audits `client_created`.
async fn insert(
    db: &Db,
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
    if !db.insert_service_client(&row).await? {
        row.client_id = new_client_id();
        if !db.insert_service_client(&row).await? {
            return Err(RegisterError::Db(sqlx::Error::Protocol("client_id collision".into())));
        }
    }
    let details = serde_json::json!({ "client_id": row.client_id, "name": row.name, "scopes": row.scopes });
    db.audit("client_created", None, created_by, client, Some(details)).await;
    Ok((row, secret))
}

/// `clients create`: registers a client; returns `(client_id, client_secret)`, the secret
/// shown once.
pub(crate) async fn create(
    db: &Db,
    name: &str,
    scopes: &[String],
) -> Result<(String, String), RegisterError> {
    let client = ClientInfo { ip: None, user_agent: Some("user-service clients create".into()) };
    let (row, secret) = insert(db, name, scopes, None, &client).await?;
    Ok((row.client_id, secret))
}

/// Checks a client id and secret; a refusal says why, for the audit log only (the client
/// only ever sees `invalid_client`). The secret's hash is compared in constant time, and
/// an unknown id costs the same hash and comparison as a known one.
async fn authenticate(
    db: &Db,
    client_id: &str,
    secret: &str,
) -> Result<Result<ServiceClientRow, &'static str>, sqlx::Error> {
    let presented = hash_token(secret);
    let row = if client_id.starts_with(CLIENT_ID_PREFIX) && client_id.len() <= 64 {
        db.service_client_by_client_id(client_id).await?
    } else {
        None
    };
    let Some(row) = row else {
        // Same work as a real comparison; the outcome is ignored.
        let _ = ct_eq(&presented, &hash_token(""));
        return Ok(Err("unknown_client"));
    };
    if !ct_eq(&presented, &row.secret_hash) {
        return Ok(Err("wrong_secret"));
    }
    if !row.is_active() {
        return Ok(Err("revoked"));
    }
    Ok(Ok(row))
}

/// The scopes to grant for a `scope` parameter (`None` or empty: all of the client's);
/// `None` when anything requested is not one of the client's scopes (`invalid_scope`).
fn granted_scopes(client: &ServiceClientRow, requested: Option<&str>) -> Option<Vec<String>> {
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

/// The clients, revoked ones included, a page at a time.
pub(crate) async fn list(
    db: &Db,
    actor: &Actor<'_>,
    limit: i64,
    offset: i64,
) -> DomainResult<Vec<ServiceClientRow>> {
    actor.require(CLIENTS_READ)?;
    Ok(db.list_service_clients(limit, offset).await?)
}

/// Revokes a client (by id or client id) and audits `client_revoked`: it gets no new
/// tokens, and its current tokens stop working at this service at once.
pub(crate) async fn revoke(db: &Db, actor: &Actor<'_>, id: &str) -> DomainResult<()> {
    actor.require(CLIENTS_WRITE)?;
    let row = db.revoke_service_client(id, crate::now()).await?.ok_or_else(DomainError::not_found)?;
    let details = serde_json::json!({ "client_id": row.client_id });
    db.audit("client_revoked", None, Some(actor.id), actor.client, Some(details)).await;
    Ok(())
}

/// A refusal of the token endpoint (RFC 6749 section 5.2), as its body is sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OAuthError {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`, `invalid_scope`,
    /// `too_many_requests` or `server_error`.
    pub(crate) error: &'static str,
    /// A client-safe explanation.
    #[serde(rename = "error_description")]
    pub(crate) description: &'static str,
    /// For `too_many_requests`: seconds before trying again (`Retry-After`).
    #[serde(skip)]
    pub(crate) retry_after: Option<u64>,
}

impl OAuthError {
    pub(crate) fn new(error: &'static str, description: &'static str) -> OAuthError {
        OAuthError { error, description, retry_after: None }
    }

    pub(crate) fn invalid_request(description: &'static str) -> OAuthError {
        OAuthError::new("invalid_request", description)
    }

    /// Unknown client, wrong secret or revoked: one answer for all.
    pub(crate) fn invalid_client() -> OAuthError {
        OAuthError::new("invalid_client", "Client authentication failed")
    }

    fn server_error(cause: impl std::fmt::Display) -> OAuthError {
        tracing::error!(error = %cause, "internal error at the token endpoint");
        OAuthError::new("server_error", "Internal server error")
    }
}

/// A granted client token.
pub(crate) struct ClientToken {
    pub(crate) access_token: String,
    pub(crate) expires_in: u64,
    pub(crate) scopes: Vec<String>,
}

/// The client-credentials grant: what authenticating a client and signing its tokens take.
pub(crate) struct ClientTokens<'a> {
    pub(crate) db: &'a Db,
    pub(crate) keys: &'a KeyManager,
    pub(crate) throttle: &'a Throttle,
    pub(crate) issuer: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) ttl_secs: u64,
}

impl ClientTokens<'_> {
    /// Trades a client's id and secret (sent by `method`) for a token with the requested
    /// scopes. Failed authentications are throttled per client id and address with the
    /// login throttle's counters, and audited.
    pub(crate) async fn grant(
        &self,
        client_id: &str,
        secret: &str,
        method: &'static str,
        scope: Option<&str>,
        info: &ClientInfo,
    ) -> Result<ClientToken, OAuthError> {
        let ip = info.ip.as_deref();
        let key = client_key(client_id, ip);
        let attempt = match self.throttle.begin(&self.throttle.login_keys(&key, ip), crate::now()).await {
            Ok(Ok(attempt)) => attempt,
            Ok(Err(retry)) => {
                let e = OAuthError::new("too_many_requests", "Too many failed attempts, try again later");
                return Err(OAuthError { retry_after: Some(retry), ..e });
            }
            Err(e) => return Err(OAuthError::server_error(e)),
        };
        let client = match authenticate(self.db, client_id, secret).await.map_err(OAuthError::server_error)? {
            Ok(client) => client,
            Err(reason) => {
                tracing::debug!(client_id = ?audit_str(client_id), reason, "client authentication failed");
                let details = serde_json::json!({
                    "client_id": audit_str(client_id),
                    "reason": reason,
                    "method": method,
                });
                self.db.audit("client_auth_failed", None, None, info, Some(details)).await;
                if attempt.filled(&key) {
                    let details = serde_json::json!({ "client_id": audit_str(client_id) });
                    self.db.audit("client_locked", None, None, info, Some(details)).await;
                }
                return Err(OAuthError::invalid_client());
            }
        };
        self.throttle.release(attempt).await.map_err(OAuthError::server_error)?;
        self.throttle.counters.clear(&key).await.map_err(OAuthError::server_error)?;
        let scopes = granted_scopes(&client, scope).ok_or_else(|| {
            OAuthError::new("invalid_scope", "The requested scope exceeds the scopes of the client")
        })?;
        // The cause was logged where the error was made.
        let (access_token, expires_in) = self
            .issue_token(&client, &scopes)
            .await
            .map_err(|_| OAuthError::server_error("issuing a client token failed"))?;
        Ok(ClientToken { access_token, expires_in, scopes })
    }

    /// Signs a client token; returns `(token, expires_in)` and records `last_used_at`.
    async fn issue_token(&self, client: &ServiceClientRow, scopes: &[String]) -> DomainResult<(String, u64)> {
        let now = crate::now();
        let ttl = self.ttl_secs;
        let claims = authgate::AccessClaims::builder()
            .iss(self.issuer.to_owned())
            .sub(client.client_id.clone())
            .aud(self.audience.to_owned())
            .exp(now as u64 + ttl)
            .iat(now as u64)
            .nbf(now as u64)
            .jti(new_id())
            .scope(scopes)
            .permissions(scopes.iter().cloned())
            // RFC 9068 section 2.2: the client the token was issued to.
            .claim("client_id", client.client_id.clone())
            .build();
        let token = crate::domain::tokens::sign_access_token(self.keys, &claims, now).await?;
        self.db.touch_service_client(&client.id, now).await?;
        Ok((token, ttl))
    }
}

/// Throttling key of a client id (hashed: the id is caller-controlled and unbounded).
/// The failure counter of one client *from one address*: client ids are public (every
/// token names its client), so a counter per client alone would let anyone lock the real
/// service out by sending wrong secrets. The throttle's own per-address counter still
/// bounds guessing from one address across clients.
fn client_key(client_id: &str, ip: Option<&str>) -> String {
    format!("client:{}", hash_token(&format!("{client_id}\n{}", ip.unwrap_or("-"))))
}

/// A caller-controlled string, bounded for the audit log.
pub(crate) fn audit_str(s: &str) -> String {
    s.chars().take(64).collect()
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
    pub(crate) fn require(&self, scope: &str) -> DomainResult<()> {
        let covered = crate::domain::actor::covers(&self.scopes, scope);
        covered.then_some(()).ok_or_else(|| DomainError::insufficient_scope(scope))
    }
}

/// A caller refused as a service client, as its audit record names it.
pub(crate) struct RefusedService {
    /// The verified `sub` of a revoked or unknown client's token.
    pub(crate) client_id: Option<String>,
    /// The user whose token was sent where a client token is required.
    pub(crate) user_id: Option<String>,
    /// A short reason for the audit log.
    pub(crate) reason: &'static str,
    /// The answer; `None` for a user's token, refused as lacking the scope asked for.
    pub(crate) error: Option<DomainError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_failure_counter_is_per_address() {
        // Client ids are public: one address failing must not lock the client elsewhere.
        assert_ne!(client_key("svc_1", Some("10.0.0.1")), client_key("svc_1", Some("10.0.0.2")));
        assert_ne!(client_key("svc_1", Some("10.0.0.1")), client_key("svc_2", Some("10.0.0.1")));
        assert_eq!(client_key("svc_1", None), client_key("svc_1", None));
    }

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
