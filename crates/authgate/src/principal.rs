//! The verified caller that adapters hand to handlers.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::claims::AccessClaims;
use crate::error::{Error, ErrorKind};
use crate::mapping::Grants;

/// How the caller authenticated; services count it to see when API keys can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// A bearer JWT.
    Jwt,
    /// A legacy API key.
    ApiKey,
}

impl AuthMethod {
    /// `"jwt"` or `"api_key"`, as used in responses and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::ApiKey => "api_key",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verified caller: user id, roles, permissions, scopes, how they authenticated and
/// until when, and every claim as it came ([`Principal::raw_claims`]).
///
/// Roles, permissions and scopes are what the issuer's [`crate::ClaimMapping`] read
/// (top-level `roles`, `permissions`, `scope`/`scp` by default). For an API key, the
/// key itself is described by [`Principal::api_key`].
///
/// Cloning is cheap (one `Arc`), so adapters can put it in request extensions freely.
///
/// ```
/// use authgate::{AuthMethod, Principal};
/// let p = Principal::builder("user-42", AuthMethod::ApiKey)
///     .email("a@example.com")
///     .permissions(["positions:read"])
///     .build();
/// assert_eq!(p.user_id(), "user-42");
/// assert!(p.has_permission("positions:read"));
/// assert!(!p.has_permission("positions:write"));
/// ```
#[derive(Clone)]
pub struct Principal(Arc<Inner>);

struct Inner {
    /// `claims.sub` is the user id: always set and non-empty (checked for JWTs, given
    /// to the builder), so it is not kept twice.
    method: AuthMethod,
    claims: AccessClaims,
    scopes: Vec<String>,
    /// Roles and permissions read through a non-standard mapping; `None` means the
    /// typed claims' own (no copy on the default path).
    mapped: Option<Box<(Vec<String>, Vec<String>)>>,
    api_key: Option<ApiKeyInfo>,
    /// The claims as a JSON object, parsed on first use from `payload_json` (JWTs) or
    /// given (builder), so the verify path builds the claims only once.
    raw: OnceLock<Value>,
    payload_json: Box<[u8]>,
}

impl Principal {
    /// Starts a principal for `user_id` (API-key verifiers and tests use this; JWTs
    /// become principals inside the verifier).
    pub fn builder(user_id: impl Into<String>, method: AuthMethod) -> PrincipalBuilder {
        PrincipalBuilder {
            user_id: user_id.into(),
            method,
            claims: AccessClaims::default(),
            raw: None,
            api_key: None,
        }
    }

    pub(crate) fn from_jwt(
        claims: AccessClaims,
        payload_json: Vec<u8>,
        grants: Option<Grants>,
    ) -> Result<Principal, Error> {
        if claims.sub.as_deref().is_none_or(str::is_empty) {
            return Err(Error::new(ErrorKind::InvalidClaims, "sub is missing or empty"));
        }
        let (scopes, mapped) = match grants {
            None => (claims.scopes(), None),
            Some(Grants { roles, permissions, scopes }) => (scopes, Some(Box::new((roles, permissions)))),
        };
        let payload_json = payload_json.into_boxed_slice();
        let method = AuthMethod::Jwt;
        Ok(Principal(Arc::new(Inner {
            method,
            claims,
            scopes,
            mapped,
            api_key: None,
            raw: OnceLock::new(),
            payload_json,
        })))
    }

    /// The user id (`sub`).
    pub fn user_id(&self) -> &str {
        self.0.claims.sub.as_deref().unwrap_or_default()
    }

    /// The email address, if the token carries one.
    pub fn email(&self) -> Option<&str> {
        self.0.claims.email.as_deref()
    }

    /// The display name, if any.
    pub fn name(&self) -> Option<&str> {
        self.0.claims.name.as_deref()
    }

    /// Role names.
    pub fn roles(&self) -> &[String] {
        match &self.0.mapped {
            Some(mapped) => &mapped.0,
            None => &self.0.claims.roles,
        }
    }

    /// Granted permissions (may contain wildcards).
    pub fn permissions(&self) -> &[String] {
        match &self.0.mapped {
            Some(mapped) => &mapped.1,
            None => &self.0.claims.permissions,
        }
    }

    /// The API key the caller authenticated with (its id and trading-account binding),
    /// for [`AuthMethod::ApiKey`] principals whose verifier knows it.
    ///
    /// ```
    /// use authgate::{ApiKeyInfo, AuthMethod, Principal};
    /// let p = Principal::builder("user-1", AuthMethod::ApiKey)
    ///     .api_key(ApiKeyInfo::new("key-9").with_trading_account("acct-3"))
    ///     .build();
    /// let key = p.api_key().unwrap();
    /// assert_eq!((key.id(), key.trading_account_id()), ("key-9", Some("acct-3")));
    /// ```
    pub fn api_key(&self) -> Option<&ApiKeyInfo> {
        self.0.api_key.as_ref()
    }

    /// OAuth scopes (from `scope`/`scp` by default).
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// How the caller authenticated.
    pub fn auth_method(&self) -> AuthMethod {
        self.0.method
    }

    /// The issuer (`iss`), for JWTs.
    pub fn issuer(&self) -> Option<&str> {
        self.0.claims.iss.as_deref()
    }

    /// The login session id (`sid`), if any.
    pub fn session_id(&self) -> Option<&str> {
        self.0.claims.sid.as_deref()
    }

    /// Expiry in seconds since the epoch (`exp`), if the credential expires.
    pub fn expires_at_unix(&self) -> Option<u64> {
        self.0.claims.exp
    }

    /// Expiry as a [`SystemTime`].
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at_unix().map(|s| UNIX_EPOCH + Duration::from_secs(s))
    }

    /// The typed standard claims, as the token carried them.
    pub fn claims(&self) -> &AccessClaims {
        &self.0.claims
    }

    /// All claims as a JSON object: for a JWT, its payload as it came (whatever the
    /// mapping read from it); for an API-key principal, what its verifier filled in (the
    /// identity service's answer, for [`crate::api_key::RemoteApiKeyVerifier`]).
    pub fn raw_claims(&self) -> &Value {
        self.0.raw.get_or_init(|| {
            serde_json::from_slice(&self.0.payload_json)
                .or_else(|_| serde_json::to_value(&self.0.claims))
                .unwrap_or(Value::Null)
        })
    }

    /// Deserializes the raw claims into your own type.
    ///
    /// ```
    /// # use authgate::{AuthMethod, Principal};
    /// #[derive(serde::Deserialize)]
    /// struct Tier { tier: String }
    /// # let p = Principal::builder("u", AuthMethod::Jwt).raw_claims(serde_json::json!({"tier":"gold"})).build();
    /// let tier: Tier = p.claims_as().unwrap();
    /// assert_eq!(tier.tier, "gold");
    /// ```
    pub fn claims_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(self.raw_claims())
            .map_err(|e| Error::new(ErrorKind::InvalidClaims, format!("custom claims: {e}")))
    }

    /// Whether a granted permission covers `required` (see [`crate::Requirement`] for the
    /// wildcard rules).
    pub fn has_permission(&self, required: &str) -> bool {
        self.permissions().iter().any(|g| crate::permission::permission_matches(g, required))
    }

    /// Whether the principal has role `role` (exact match).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().iter().any(|r| r == role)
    }

    /// Whether the principal has scope `scope` (exact match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().iter().any(|s| s == scope)
    }

    /// Time left until `exp + leeway`, measured on the system clock; `None` if the
    /// credential never expires.
    pub fn time_left(&self, leeway: Duration) -> Option<Duration> {
        let exp = self.expires_at()? + leeway;
        Some(exp.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
    }

    /// Resolves when the credential expires (plus `leeway`); never, if it does not.
    /// WebSocket handlers select on it to close the socket with 1008 in time.
    ///
    /// ```
    /// # use authgate::{AuthMethod, Principal};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let past = Principal::builder("u", AuthMethod::Jwt).expires_at_unix(1).build();
    /// past.expired(std::time::Duration::ZERO).await; // already expired: resolves at once
    /// # }
    /// ```
    pub fn expired(&self, leeway: Duration) -> impl std::future::Future<Output = ()> + Send + 'static {
        let left = self.time_left(leeway);
        async move {
            match left {
                Some(left) => tokio::time::sleep(left).await,
                None => std::future::pending::<()>().await,
            }
        }
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("user_id", &self.user_id())
            .field("method", &self.0.method)
            .field("roles", &self.roles())
            .field("permissions", &self.permissions())
            .field("scopes", &self.0.scopes)
            .field("exp", &self.0.claims.exp)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Principal`] by hand (API-key verifiers, tests).
#[derive(Debug)]
#[must_use]
pub struct PrincipalBuilder {
    user_id: String,
    method: AuthMethod,
    claims: AccessClaims,
    raw: Option<Value>,
    api_key: Option<ApiKeyInfo>,
}

impl PrincipalBuilder {
    /// Sets the API key the principal authenticated with.
    pub fn api_key(mut self, key: ApiKeyInfo) -> Self {
        self.api_key = Some(key);
        self
    }
    /// Sets the email address.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.claims.email = Some(email.into());
        self
    }
    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.claims.name = Some(name.into());
        self
    }
    /// Sets the roles.
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.claims.roles = roles.into_iter().map(Into::into).collect();
        self
    }
    /// Sets the permissions.
    pub fn permissions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, permissions: I) -> Self {
        self.claims.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }
    /// Sets the scopes.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.claims.scope = Some(scopes.join(" "));
        self
    }
    /// Sets the expiry (seconds since the epoch).
    pub fn expires_at_unix(mut self, exp: u64) -> Self {
        self.claims.exp = Some(exp);
        self
    }
    /// Sets the raw claims object returned by [`Principal::raw_claims`].
    pub fn raw_claims(mut self, raw: Value) -> Self {
        if let Ok(mut parsed) = serde_json::from_value::<AccessClaims>(raw.clone()) {
            parsed.sub = Some(self.user_id.clone());
            self.claims = AccessClaims { extra: parsed.extra, ..self.claims };
        }
        self.raw = Some(raw);
        self
    }
    /// Finishes the principal.
    pub fn build(self) -> Principal {
        let mut claims = self.claims;
        claims.sub = Some(self.user_id);
        let scopes = claims.scopes();
        let raw = OnceLock::new();
        if let Some(given) = self.raw {
            let _ = raw.set(given);
        }
        let payload_json = Box::default();
        Principal(Arc::new(Inner {
            method: self.method,
            claims,
            scopes,
            mapped: None,
            api_key: self.api_key,
            raw,
            payload_json,
        }))
    }
}

/// The API key behind an [`AuthMethod::ApiKey`] principal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiKeyInfo {
    id: String,
    name: Option<String>,
    trading_account_id: Option<String>,
}

impl ApiKeyInfo {
    /// A key known by its id (not the secret: the identity service's key id).
    pub fn new(id: impl Into<String>) -> ApiKeyInfo {
        ApiKeyInfo { id: id.into(), name: None, trading_account_id: None }
    }
    /// With the name its owner gave it.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> ApiKeyInfo {
        self.name = Some(name.into());
        self
    }
    /// Bound to one trading account.
    #[must_use]
    pub fn with_trading_account(mut self, account_id: impl Into<String>) -> ApiKeyInfo {
        self.trading_account_id = Some(account_id.into());
        self
    }
    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The key's name, if known.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The trading account the key is bound to: a key bound to account X must only
    /// act on X; `None` means the key is not bound to one account.
    pub fn trading_account_id(&self) -> Option<&str> {
        self.trading_account_id.as_deref()
    }
}
