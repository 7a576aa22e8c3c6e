//! Dual authentication: a JWT, an API key, or either, during a migration.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

use crate::api_key::ApiKeyVerifier;
use crate::error::{Error, ErrorKind};
use crate::principal::{AuthMethod, Principal};
use crate::source::{CredentialParts, CredentialSource, Credentials, TokenSources};
use crate::verifier::{Verifier, record_outcome};

/// Which credentials an [`Authenticator`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthMode {
    /// Bearer JWTs only; an `X-API-Key` header is ignored.
    #[default]
    JwtOnly,
    /// API keys only; bearer tokens are ignored.
    ApiKeyOnly,
    /// Either; the principal says which was used ([`Principal::auth_method`]).
    Either,
}

/// Authenticates requests: reads credentials with [`TokenSources`], verifies them with
/// a [`Verifier`] and/or an [`ApiKeyVerifier`], and returns the [`Principal`].
///
/// When a request carries both a JWT and an API key (mode [`AuthMode::Either`]), both
/// are verified and must name the same user; otherwise the request is a 400
/// `invalid_request`, since a client mixing identities is a bug or an attack.
///
/// API keys pass a public checksum, so anyone can make valid-looking ones. A client
/// address (see [`crate::client_addr`]) whose API keys were refused more than 10 times
/// in a minute gets 429 with `Retry-After` for its next API keys, before the API-key
/// verifier (and the identity service behind it) is asked
/// ([`AuthenticatorBuilder::unknown_api_key_limit`]). Requests whose address the adapter
/// could not tell share one budget.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use authgate::{AuthMethod, AuthMode, Authenticator, KeySet, Principal, Verifier};
/// use authgate::api_key::{StaticApiKeys, format};
/// use authgate_testkit::{TestKey, jwks, standard_claims};
///
/// let key = TestKey::shared_rs256();
/// let verifier = Verifier::builder()
///     .issuer("https://id.example", KeySet::from_jwks_json(&jwks(&[&key]).to_string())?)
///     .audience("trading-platform")
///     .build()?;
/// let api_key = format::generate("test")?;
/// let keys = StaticApiKeys::new().with_key(&api_key, Principal::builder("u1", AuthMethod::ApiKey).build());
/// let auth = Authenticator::builder().jwt(verifier).api_keys(keys).mode(AuthMode::Either).build()?;
///
/// let token = key.token().claims(standard_claims("https://id.example", "trading-platform", "u1", 300)).sign();
/// let with_jwt = http::Request::get("/api").header("authorization", format!("Bearer {token}")).body(())?;
/// let with_key = http::Request::get("/api").header("x-api-key", &api_key).body(())?;
/// assert_eq!(auth.authenticate(&with_jwt).await?.unwrap().auth_method(), AuthMethod::Jwt);
/// assert_eq!(auth.authenticate(&with_key).await?.unwrap().auth_method(), AuthMethod::ApiKey);
/// assert!(auth.authenticate(&http::Request::get("/").body(())?).await?.is_none());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Authenticator {
    verifier: Option<Verifier>,
    api_keys: Option<Arc<dyn ApiKeyVerifier>>,
    mode: AuthMode,
    sources: TokenSources,
    limit: Option<Arc<FailureLimit>>,
}

/// Builds an [`Authenticator`].
#[must_use]
pub struct AuthenticatorBuilder {
    verifier: Option<Verifier>,
    api_keys: Option<Arc<dyn ApiKeyVerifier>>,
    mode: Option<AuthMode>,
    sources: TokenSources,
    limit: Option<(u32, Duration)>,
}

impl Default for AuthenticatorBuilder {
    fn default() -> Self {
        AuthenticatorBuilder {
            verifier: None,
            api_keys: None,
            mode: None,
            sources: TokenSources::default(),
            limit: Some((10, Duration::from_secs(60))),
        }
    }
}

impl AuthenticatorBuilder {
    /// Verifies bearer JWTs with `verifier`.
    pub fn jwt(mut self, verifier: Verifier) -> Self {
        self.verifier = Some(verifier);
        self
    }
    /// Verifies API keys with `verifier`.
    pub fn api_keys(mut self, verifier: impl ApiKeyVerifier) -> Self {
        self.api_keys = Some(Arc::new(verifier));
        self
    }
    /// Sets the mode (default: [`AuthMode::JwtOnly`], or [`AuthMode::ApiKeyOnly`] when only
    /// an API-key verifier is given).
    pub fn mode(mut self, mode: AuthMode) -> Self {
        self.mode = Some(mode);
        self
    }
    /// Sets where credentials are read from.
    pub fn sources(mut self, sources: TokenSources) -> Self {
        self.sources = sources;
        self
    }
    /// After `max` refused API keys from one client address within `window` (default
    /// 10 a minute), its API keys answer 429 until the window ends, without asking the
    /// API-key verifier.
    pub fn unknown_api_key_limit(mut self, max: u32, window: Duration) -> Self {
        self.limit = Some((max, window));
        self
    }
    /// No per-client limit on refused API keys (a trusted, internal caller only).
    pub fn without_unknown_api_key_limit(mut self) -> Self {
        self.limit = None;
        self
    }
    /// Checks that the mode has the verifiers it needs.
    pub fn build(self) -> Result<Authenticator, Error> {
        let mode = self.mode.unwrap_or(match (&self.verifier, &self.api_keys) {
            (None, Some(_)) => AuthMode::ApiKeyOnly,
            _ => AuthMode::JwtOnly,
        });
        let needs_jwt = matches!(mode, AuthMode::JwtOnly | AuthMode::Either);
        let needs_keys = matches!(mode, AuthMode::ApiKeyOnly | AuthMode::Either);
        if needs_jwt && self.verifier.is_none() {
            return Err(Error::new(ErrorKind::Configuration, "this mode needs a JWT verifier"));
        }
        if needs_keys && self.api_keys.is_none() {
            return Err(Error::new(ErrorKind::Configuration, "this mode needs an API-key verifier"));
        }
        let limit = match (self.limit, needs_keys) {
            (Some((max, window)), true) => Some(Arc::new(FailureLimit::new(max, window))),
            _ => None,
        };
        Ok(Authenticator {
            verifier: self.verifier,
            api_keys: self.api_keys,
            mode,
            sources: self.sources,
            limit,
        })
    }
}

impl Authenticator {
    /// Starts a builder.
    pub fn builder() -> AuthenticatorBuilder {
        AuthenticatorBuilder::default()
    }

    /// A JWT-only authenticator reading the `Authorization` header.
    pub fn jwt(verifier: Verifier) -> Authenticator {
        Authenticator {
            verifier: Some(verifier),
            api_keys: None,
            mode: AuthMode::JwtOnly,
            sources: TokenSources::default(),
            limit: None,
        }
    }

    /// The same authenticator reading credentials from other places (e.g.
    /// [`TokenSources::websocket`] for a WebSocket route).
    #[must_use]
    pub fn with_sources(&self, sources: TokenSources) -> Authenticator {
        Authenticator { sources, ..self.clone() }
    }

    /// The mode.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The credential sources.
    pub fn sources(&self) -> &TokenSources {
        &self.sources
    }

    /// The JWT verifier, if any (e.g. for its leeway or readiness).
    pub fn verifier(&self) -> Option<&Verifier> {
        self.verifier.as_ref()
    }

    /// True when every JWT issuer has usable keys (always true without JWTs).
    pub fn is_ready(&self) -> bool {
        self.verifier.as_ref().is_none_or(Verifier::is_ready)
    }

    /// Authenticates a request. `Ok(None)` means it carried no credentials this
    /// authenticator reads; the adapter decides whether that is a 401 (required) or
    /// fine (optional). Bad credentials are always an error.
    pub async fn authenticate<R: CredentialSource + ?Sized>(
        &self,
        req: &R,
    ) -> Result<Option<Principal>, Error> {
        match self.attempt(req)? {
            Attempt::Decided(principal) => Ok(principal),
            Attempt::Pending(credentials) => self.authenticate_credentials(credentials).await,
        }
    }

    /// Authenticates credentials already extracted.
    pub async fn authenticate_credentials(
        &self,
        credentials: Credentials<'_>,
    ) -> Result<Option<Principal>, Error> {
        let CredentialParts { bearer, api_key, client_addr, cache_miss } = credentials.into_parts();
        let bearer = bearer.filter(|_| self.mode != AuthMode::ApiKeyOnly);
        let api_key = api_key.filter(|_| self.mode != AuthMode::JwtOnly);
        let from_jwt = match (&bearer, &self.verifier) {
            (Some(token), Some(verifier)) => Some(verifier.verify_after(token, cache_miss).await?),
            _ => None,
        };
        let from_key = match (&api_key, &self.api_keys) {
            (Some(key), Some(keys)) => {
                let started = std::time::Instant::now();
                let limited = self.limit.as_ref().and_then(|l| l.check(client_addr).err());
                let result = match limited {
                    Some(limited) => Err(limited),
                    None => keys.verify(key).await,
                };
                if let (Err(e), Some(limit)) = (&result, &self.limit)
                    && e.kind() == ErrorKind::InvalidApiKey
                {
                    limit.record_failure(client_addr);
                }
                record_outcome(AuthMethod::ApiKey, &result, started);
                Some(result?)
            }
            _ => None,
        };
        match (from_jwt, from_key) {
            (Some(jwt), Some(key)) if jwt.user_id() != key.user_id() => Err(Error::new(
                ErrorKind::InvalidRequest,
                "the bearer token and the API key name different users",
            )),
            (Some(jwt), _) => Ok(Some(jwt)),
            (None, key) => Ok(key),
        }
    }
}

impl Authenticator {
    /// The caller, answered at once from the verified-token cache: `Some` when the only
    /// credential this authenticator reads is a bearer token in that cache and still
    /// valid (counted in the metrics like any verification). A token enters the cache
    /// when it is verified a second time (see [`crate::TokenCacheConfig`]). `None` means nothing is
    /// decided yet: call [`Authenticator::authenticate_credentials`].
    ///
    /// For credentials at hand (taken from a WebSocket message, say); with a request,
    /// [`Authenticator::attempt`] does this and the extraction in one. A miss is noted in
    /// `credentials` (and kept by [`Credentials::into_owned`]), so passing the same
    /// credentials on to [`Authenticator::authenticate_credentials`] costs no second
    /// cache lookup.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use authgate::{Authenticator, KeySet, TokenSources, Verifier};
    /// # use authgate_testkit::{TestKey, jwks, standard_claims};
    /// # let key = TestKey::shared_rs256();
    /// # let verifier = Verifier::builder()
    /// #     .issuer("https://id.example", KeySet::from_jwks_json(&jwks(&[&key]).to_string())?)
    /// #     .audience("api").build()?;
    /// let auth = Authenticator::jwt(verifier);
    /// # let token = key.token().claims(standard_claims("https://id.example", "api", "u1", 300)).sign();
    /// let req = http::Request::get("/").header("authorization", format!("Bearer {token}")).body(())?;
    /// let credentials = auth.sources().extract(&req)?;
    /// assert!(auth.authenticate_cached(&credentials).is_none()); // never seen: verify it
    /// let user = match auth.authenticate_cached(&credentials) {
    ///     Some(user) => Some(user),
    ///     None => auth.authenticate_credentials(credentials).await?,
    /// };
    /// assert_eq!(user.map(|u| u.user_id().to_owned()).as_deref(), Some("u1"));
    /// auth.authenticate(&req).await?; // verified again: now cached
    /// let again = auth.sources().extract(&req)?;
    /// assert_eq!(auth.authenticate_cached(&again).map(|u| u.user_id().to_owned()).as_deref(), Some("u1"));
    /// # Ok(()) }
    /// ```
    pub fn authenticate_cached(&self, credentials: &Credentials<'_>) -> Option<Principal> {
        self.verifier.as_ref()?.verify_cached(self.lone_bearer(credentials)?, credentials.cache_miss_slot())
    }

    /// The bearer token when it is the only credential this authenticator reads: then
    /// the token alone decides (no API key to look up and compare).
    fn lone_bearer<'c>(&self, credentials: &'c Credentials<'_>) -> Option<&'c str> {
        let reads_api_key = credentials.api_key().is_some() && self.mode != AuthMode::JwtOnly;
        if reads_api_key || self.mode == AuthMode::ApiKeyOnly {
            return None;
        }
        credentials.bearer()
    }

    /// Authentication as far as it goes without waiting: the answer when it is known now,
    /// else the credentials to verify. Equal in every answer to
    /// [`Authenticator::authenticate`], which is `attempt` followed by
    /// [`Authenticator::authenticate_credentials`] for [`Attempt::Pending`].
    ///
    /// - [`Attempt::Decided`]`(Some(caller))`: a token the verified-token cache holds, or
    ///   a bearer token (the only credential this authenticator reads) verified now
    ///   because its key is at hand;
    /// - [`Attempt::Decided`]`(None)`: no credentials at all (the adapter decides whether
    ///   that is a 401);
    /// - [`Attempt::Pending`]: credentials that need waiting for: an API key to look up,
    ///   or a token whose key set must be fetched first (not fetched yet, or a key it
    ///   does not hold yet). A cache miss is noted in them, so the verification neither
    ///   hashes the token nor looks it up again. Call [`Credentials::into_owned`] if the
    ///   future outlives the request;
    /// - `Err`: credentials that cannot be read (a repeated header, a malformed one) or a
    ///   token refused now (bad signature, expired...).
    ///
    /// A signature check is computation, not waiting, so it runs here: middleware call
    /// `attempt` first, and a token costs them neither a future nor a copy of the token
    /// unless its keys must be fetched.
    ///
    /// A request whose only credential is one `Authorization: Bearer <token>` header is
    /// looked up by the header's bytes before [`TokenSources::extract`] validates them: a
    /// token byte-for-byte equal to one verified before passes that validation just as
    /// the verified one did, so it need not be read twice. On a miss, a token of
    /// printable ASCII is what `extract` would read from that request, so it is verified
    /// without reading the request again. Every other request is extracted first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use authgate::{Attempt, Authenticator, KeySet, Verifier};
    /// # use authgate_testkit::{TestKey, jwks, standard_claims};
    /// # let key = TestKey::shared_rs256();
    /// # let verifier = Verifier::builder()
    /// #     .issuer("https://id.example", KeySet::from_jwks_json(&jwks(&[&key]).to_string())?)
    /// #     .audience("api").build()?;
    /// let auth = Authenticator::jwt(verifier);
    /// # let token = key.token().claims(standard_claims("https://id.example", "api", "u1", 300)).sign();
    /// let req = http::Request::get("/").header("authorization", format!("Bearer {token}")).body(())?;
    /// for _ in 0..3 {
    ///     let user = match auth.attempt(&req)? {
    ///         Attempt::Decided(user) => user, // verified now; the third time from the cache
    ///         Attempt::Pending(credentials) => auth.authenticate_credentials(credentials).await?,
    ///     };
    ///     assert_eq!(user.map(|u| u.user_id().to_owned()).as_deref(), Some("u1"));
    /// }
    /// assert!(matches!(auth.attempt(&req)?, Attempt::Decided(Some(_))));
    /// # Ok(()) }
    /// ```
    pub fn attempt<'a, R: CredentialSource + ?Sized>(&self, req: &'a R) -> Result<Attempt<'a>, Error> {
        let sole_token = match (&self.verifier, self.mode) {
            (Some(_), AuthMode::ApiKeyOnly) | (None, _) => None,
            (Some(verifier), _) => self.sources.sole_bearer_token(req).map(|token| (verifier, token)),
        };
        if let Some((verifier, token)) = sole_token {
            match verifier.cached(token) {
                Ok(principal) => return Ok(Attempt::Decided(Some(principal))),
                // Missed: when `extract` would read these very bytes, they are the
                // credentials, and the miss stands for them. (With spaces around the
                // token, `extract` trims, and then its own token is looked up.)
                Err(miss) => {
                    if let Some(credentials) = self.sources.sole_bearer_credentials(req, token) {
                        if let Some(miss) = miss {
                            let _ = credentials.cache_miss_slot().set(miss);
                        }
                        return self.verify_without_waiting(credentials);
                    }
                }
            }
        }
        self.attempt_cached(self.sources.extract(req)?)
    }

    /// [`Authenticator::attempt`] for extracted credentials: decided when there are none,
    /// the cache holds their token or it can be verified now.
    fn attempt_cached<'a>(&self, credentials: Credentials<'a>) -> Result<Attempt<'a>, Error> {
        if credentials.is_empty() {
            return Ok(Attempt::Decided(None));
        }
        match self.authenticate_cached(&credentials) {
            Some(principal) => Ok(Attempt::Decided(Some(principal))),
            None => self.verify_without_waiting(credentials),
        }
    }

    /// Verifies credentials that missed the cache, when they are a bearer token alone
    /// (as this authenticator reads them) and its key is at hand: the check is pure
    /// computation, so a future would only cost an allocation and a copy of the token.
    /// Pending when an API key must be looked up or the key set fetched.
    fn verify_without_waiting<'a>(&self, credentials: Credentials<'a>) -> Result<Attempt<'a>, Error> {
        let (Some(verifier), Some(token)) = (&self.verifier, self.lone_bearer(&credentials)) else {
            return Ok(Attempt::Pending(credentials));
        };
        match verifier.verify_now_after(token, credentials.cache_miss_slot().get().copied()) {
            Some(outcome) => outcome.map(|principal| Attempt::Decided(Some(principal))),
            None => Ok(Attempt::Pending(credentials)),
        }
    }
}

/// How far [`Authenticator::attempt`] got without waiting. Complete like
/// [`std::task::Poll`]: a request is decided or it is not.
#[derive(Debug)]
pub enum Attempt<'a> {
    /// The answer: the caller (a cached token, or one verified with its key at hand), or
    /// `None` when the request carries no credentials.
    Decided(Option<Principal>),
    /// Credentials whose verification must wait (an API key, keys to fetch): pass them
    /// to [`Authenticator::authenticate_credentials`].
    Pending(Credentials<'a>),
}

/// Counts refused API keys per client address in fixed windows.
struct FailureLimit {
    max: u32,
    window: Duration,
    counts: Cache<Option<IpAddr>, Arc<Window>>,
}

struct Window {
    started: Instant,
    failures: AtomicU32,
}

struct WindowTtl(Duration);

impl Expiry<Option<IpAddr>, Arc<Window>> for WindowTtl {
    fn expire_after_create(&self, _: &Option<IpAddr>, _: &Arc<Window>, _: Instant) -> Option<Duration> {
        Some(self.0)
    }
}

impl FailureLimit {
    fn new(max: u32, window: Duration) -> FailureLimit {
        let counts = Cache::builder().max_capacity(100_000).expire_after(WindowTtl(window)).build();
        FailureLimit { max, window, counts }
    }

    /// `Err(429)` while `addr` is over the limit.
    fn check(&self, addr: Option<IpAddr>) -> Result<(), Error> {
        match self.counts.get(&addr) {
            Some(w) if w.failures.load(Ordering::Relaxed) >= self.max => {
                let left = self.window.saturating_sub(w.started.elapsed());
                Err(Error::rate_limited(
                    format!("{} refused API keys from {addr:?} within {:?}", self.max, self.window),
                    left.max(Duration::from_secs(1)),
                ))
            }
            _ => Ok(()),
        }
    }

    fn record_failure(&self, addr: Option<IpAddr>) {
        let window = self
            .counts
            .get_with(addr, || Arc::new(Window { started: Instant::now(), failures: AtomicU32::new(0) }));
        window.failures.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("mode", &self.mode)
            .field("verifier", &self.verifier)
            .field("api_keys", &self.api_keys.is_some())
            .field("sources", &self.sources)
            .finish()
    }
}
