//! Key sets: where verification keys come from, and how they stay fresh.
//!
//! A [`KeySet`] is either static (a JWKS document, PEM/DER public keys or an HMAC
//! secret given at start-up) or remote (a JWKS URL, possibly found through OIDC
//! discovery; the `remote` feature). Remote sets follow these rules, which is what "key
//! rotation done right" means here:
//!
//! - **No waiting on the hot path.** A token whose `kid` is in the cached set is verified
//!   at once. The cache is read by cloning an `Arc` under a read lock held for
//!   nanoseconds; no lock is ever held across I/O.
//! - **Freshness.** The set lives for the response's `Cache-Control: max-age`, clamped
//!   between [`KeySetConfig::min_ttl`] and [`KeySetConfig::max_ttl`]
//!   ([`KeySetConfig::default_ttl`] when absent), and is refreshed in the background
//!   ahead of expiry.
//! - **Rotation.** An unknown `kid` triggers one refresh, at most once per
//!   [`KeySetConfig::unknown_kid_cooldown`]; all callers share the single fetch in flight.
//! - **Outages.** A failed refresh keeps the last good keys for up to
//!   [`KeySetConfig::max_staleness`] past their expiry, retrying with exponential backoff;
//!   after that, or with nothing cached, verification fails closed with
//!   [`ErrorKind::KeySourceUnavailable`] (503 + `Retry-After`), never with a 401 that
//!   would blame the client.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind};
#[cfg(feature = "remote")]
use crate::fetch::{self, FetchLimits};
use crate::jose;
use crate::jwks::{KeyTable, Lookup};
use crate::key::{self, VerifyingKey};
use crate::metric_names;
#[cfg(feature = "remote")]
use url::Url;

/// Tuning for remote key sets. The defaults suit an identity provider that rotates keys
/// every few days; tests shorten them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeySetConfig {
    /// Total deadline for one fetch, connect to last byte. Default 5 s.
    pub fetch_timeout: Duration,
    /// Largest JWKS body accepted. Default 64 KiB.
    pub max_body_bytes: usize,
    /// Shortest cache lifetime, whatever `max-age` says. Default 5 min.
    pub min_ttl: Duration,
    /// Longest cache lifetime. Default 24 h.
    pub max_ttl: Duration,
    /// Lifetime when the response has no `max-age`. Default 10 min.
    pub default_ttl: Duration,
    /// Minimum time between refreshes caused by unknown `kid`s. Default 30 s.
    pub unknown_kid_cooldown: Duration,
    /// How long past expiry the last good keys are still used while the source fails.
    /// Default 24 h.
    pub max_staleness: Duration,
    /// First retry delay after a failed fetch; doubles up to [`Self::max_backoff`].
    /// Default 1 s.
    pub min_backoff: Duration,
    /// Longest retry delay. Default 5 min.
    pub max_backoff: Duration,
    /// Allow `http://` URLs to non-loopback hosts. Default false.
    pub allow_http: bool,
    /// The HTTP client to fetch with (a proxy, a private CA, a client certificate, a
    /// shared connection pool). Default `None`: a built-in client that follows no
    /// redirects. Either way each fetch keeps [`Self::fetch_timeout`] and
    /// [`Self::max_body_bytes`], and an answer that came through a redirect is refused.
    #[cfg(feature = "remote")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    pub http_client: Option<reqwest::Client>,
}

impl Default for KeySetConfig {
    fn default() -> Self {
        KeySetConfig {
            fetch_timeout: Duration::from_secs(5),
            max_body_bytes: 64 * 1024,
            min_ttl: Duration::from_secs(5 * 60),
            max_ttl: Duration::from_secs(24 * 60 * 60),
            default_ttl: Duration::from_secs(10 * 60),
            unknown_kid_cooldown: Duration::from_secs(30),
            max_staleness: Duration::from_secs(24 * 60 * 60),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5 * 60),
            allow_http: false,
            #[cfg(feature = "remote")]
            http_client: None,
        }
    }
}

impl KeySetConfig {
    /// Fetches with `client` instead of the built-in one.
    ///
    /// ```
    /// use authgate::{KeySet, KeySetConfig};
    /// let client = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .build()
    ///     .unwrap(); // in a service: add .proxy(..), .add_root_certificate(..)
    /// let config = KeySetConfig::default().with_http_client(client);
    /// let keys = KeySet::from_jwks_url_with("https://idp.example/jwks.json", config).unwrap();
    /// # let _ = keys;
    /// ```
    #[cfg(feature = "remote")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    #[must_use]
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    #[cfg(feature = "remote")]
    fn client(&self) -> Result<reqwest::Client, Error> {
        fetch::client_or_default(self.http_client.as_ref(), self.limits())
    }

    #[cfg(feature = "remote")]
    fn limits(&self) -> FetchLimits {
        FetchLimits { deadline: self.fetch_timeout, max_body: self.max_body_bytes }
    }

    fn ttl(&self, max_age: Option<Duration>) -> Duration {
        max_age.unwrap_or(self.default_ttl).clamp(self.min_ttl, self.max_ttl.max(self.min_ttl))
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.min_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// A set of verification keys, static or fetched from a JWKS URL.
///
/// Cheap to clone: clones share the cache and the single fetch in flight.
///
#[cfg_attr(feature = "remote", doc = "```")]
#[cfg_attr(not(feature = "remote"), doc = "```ignore")]
/// # async fn run() -> Result<(), authgate::Error> {
/// use authgate::KeySet;
/// // Remote: fetched lazily on first use (or at once with `refresh`).
/// let remote = KeySet::from_jwks_url("https://idp.example.com/.well-known/jwks.json")?;
/// // Static: a document you already have.
/// let fixed = KeySet::from_jwks_json(r#"{"keys":[]}"#)?;
/// assert!(fixed.is_ready() && !remote.is_ready());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KeySet {
    inner: Arc<Inner>,
}

/// What a static set runs on an unknown kid (see [`KeySet::on_unknown_kid`]).
type UnknownKidHook =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

struct Inner {
    remote: Option<Remote>,
    on_unknown_kid: RwLock<Option<UnknownKidHook>>,
    config: KeySetConfig,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped on every install, so caches can tell "same set as before" with one load.
    generation: AtomicU64,
    refresh: Mutex<RefreshState>,
}

#[cfg(feature = "remote")]
struct Remote {
    target: Target,
    client: reqwest::Client,
}

/// Without the `remote` feature every set is static: this type has no values, and the
/// refresh machinery below is never entered.
#[cfg(not(feature = "remote"))]
enum Remote {}

#[cfg(not(feature = "remote"))]
impl Remote {
    fn url_for_logs(&self) -> &str {
        match *self {}
    }

    async fn fetch(&self, _config: &KeySetConfig) -> Result<(KeyTable, Option<Duration>), Error> {
        match *self {}
    }
}

/// Where a remote set's keys are.
#[cfg(feature = "remote")]
enum Target {
    Jwks(Url),
    /// Found through discovery on the first fetch, then kept.
    Discover {
        issuer: String,
        discovery: Box<DiscoveryUrls>,
        jwks: std::sync::OnceLock<Url>,
    },
}

#[cfg(feature = "remote")]
impl Remote {
    fn url_for_logs(&self) -> &str {
        match &self.target {
            Target::Jwks(url) => url.as_str(),
            Target::Discover { jwks, discovery, .. } => jwks.get().unwrap_or(&discovery.openid).as_str(),
        }
    }

    async fn jwks_url(&self, config: &KeySetConfig) -> Result<Url, Error> {
        match &self.target {
            Target::Jwks(url) => Ok(url.clone()),
            Target::Discover { issuer, discovery, jwks } => {
                if let Some(url) = jwks.get() {
                    return Ok(url.clone());
                }
                let url = discover_jwks_uri(&self.client, issuer, discovery, config).await?;
                Ok(jwks.get_or_init(|| url).clone())
            }
        }
    }

    /// One fetch of the key set: its keys and the response's `max-age`.
    async fn fetch(&self, config: &KeySetConfig) -> Result<(KeyTable, Option<Duration>), Error> {
        let url = self.jwks_url(config).await?;
        let fetched = fetch::get(&self.client, &url, config.limits()).await?;
        let table = KeyTable::parse(&fetched.body)?;
        Ok((table, fetched.max_age))
    }
}

/// Where an issuer's metadata may be: OpenID Connect Discovery appends
/// `/.well-known/openid-configuration` to the issuer; RFC 8414 (OAuth 2.0 Authorization
/// Server Metadata) inserts `/.well-known/oauth-authorization-server` before the
/// issuer's path.
#[cfg(feature = "remote")]
struct DiscoveryUrls {
    openid: Url,
    oauth: Url,
}

#[cfg(feature = "remote")]
impl DiscoveryUrls {
    fn for_issuer(issuer: &str, allow_http: bool) -> Result<DiscoveryUrls, Error> {
        let issuer = issuer.trim_end_matches('/');
        let openid = fetch::check_url(&format!("{issuer}/.well-known/openid-configuration"), allow_http)?;
        let mut oauth = openid.clone();
        let path = Url::parse(issuer).map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default();
        oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
        Ok(DiscoveryUrls { openid, oauth })
    }
}

/// Reads `jwks_uri` from the issuer's metadata, which must name exactly `issuer`: the
/// OpenID Connect document, or the RFC 8414 one when the former is not found (404).
#[cfg(feature = "remote")]
async fn discover_jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
    discovery: &DiscoveryUrls,
    config: &KeySetConfig,
) -> Result<Url, Error> {
    let fetched = match fetch::get_unless_missing(client, &discovery.openid, config.limits()).await? {
        Some(fetched) => fetched,
        None => fetch::get(client, &discovery.oauth, config.limits()).await?,
    };
    let doc = jose::parse_object(&fetched.body, "discovery document")
        .map_err(|e| Error::new(ErrorKind::KeySourceUnavailable, e.detail().to_owned()))?;
    match doc.get("issuer").and_then(|v| v.as_str()) {
        Some(announced) if announced == issuer => {}
        announced => {
            return Err(Error::new(
                ErrorKind::Configuration,
                format!("discovery document names issuer {announced:?}, expected {issuer:?}"),
            ));
        }
    }
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::new(ErrorKind::KeySourceUnavailable, "discovery document has no jwks_uri"))?;
    fetch::check_url(jwks_uri, config.allow_http)
}

struct Snapshot {
    table: KeyTable,
    /// When a background refresh becomes due; `None` for static sets.
    refresh_at: Option<Instant>,
    /// After this the keys are too stale to trust; `None` for static sets.
    usable_until: Option<Instant>,
}

type Outcome = Option<Result<(), Error>>;

#[derive(Default)]
struct RefreshState {
    in_flight: Option<watch::Receiver<Outcome>>,
    last_unknown_kid_refresh: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
}

impl KeySet {
    /// A remote set fetched from `url` with default limits. Nothing is fetched until the
    /// first verification or [`KeySet::refresh`].
    ///
    /// `http://` URLs are refused unless the host is loopback (see
    /// [`KeySet::from_jwks_url_with`] and [`KeySetConfig::allow_http`]).
    #[cfg(feature = "remote")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    pub fn from_jwks_url(url: &str) -> Result<KeySet, Error> {
        KeySet::from_jwks_url_with(url, KeySetConfig::default())
    }

    /// A remote set with explicit tuning.
    ///
    /// ```
    /// use std::time::Duration;
    /// use authgate::{KeySet, KeySetConfig};
    /// let mut config = KeySetConfig::default();
    /// config.unknown_kid_cooldown = Duration::from_secs(60);
    /// config.allow_http = true; // an internal network without TLS
    /// let keys = KeySet::from_jwks_url_with("http://user-service.internal/jwks.json", config).unwrap();
    /// assert!(!keys.is_ready());
    /// ```
    #[cfg(feature = "remote")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    pub fn from_jwks_url_with(url: &str, config: KeySetConfig) -> Result<KeySet, Error> {
        let url = fetch::check_url(url, config.allow_http)?;
        let client = config.client()?;
        Ok(KeySet::new(Some(Remote { target: Target::Jwks(url), client }), config, None))
    }

    /// Discovers the JWKS URL of `issuer` through OpenID Connect Discovery
    /// (`{issuer}/.well-known/openid-configuration`) or, when that answers 404, RFC 8414
    /// Authorization Server Metadata (`/.well-known/oauth-authorization-server` before the
    /// issuer's path), checking that the document names exactly this issuer, then builds
    /// a remote set for its `jwks_uri`.
    #[cfg(feature = "remote")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    pub async fn from_oidc_issuer(issuer: &str, config: KeySetConfig) -> Result<KeySet, Error> {
        let discovery = DiscoveryUrls::for_issuer(issuer, config.allow_http)?;
        let client = config.client()?;
        let url = discover_jwks_uri(&client, issuer, &discovery, &config).await?;
        Ok(KeySet::new(Some(Remote { target: Target::Jwks(url), client }), config, None))
    }

    /// Like [`KeySet::from_oidc_issuer`], but nothing is fetched now: the discovery
    /// document is read on the first fetch (first verification or
    /// [`KeySet::refresh`]), so a service starts while its identity provider is still
    /// down and becomes ready when it answers. A document naming another issuer fails
    /// that fetch (503), never silently.
    ///
    /// ```
    /// use authgate::{KeySet, KeySetConfig};
    /// let keys = KeySet::discover("https://login.example.com/tenant", KeySetConfig::default())?;
    /// assert!(!keys.is_ready()); // nothing fetched yet
    /// # Ok::<(), authgate::Error>(())
    /// ```
    #[cfg(feature = "remote")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
    pub fn discover(issuer: &str, config: KeySetConfig) -> Result<KeySet, Error> {
        let discovery = DiscoveryUrls::for_issuer(issuer, config.allow_http)?;
        let client = config.client()?;
        let target = Target::Discover {
            issuer: issuer.to_owned(),
            discovery: Box::new(discovery),
            jwks: std::sync::OnceLock::new(),
        };
        Ok(KeySet::new(Some(Remote { target, client }), config, None))
    }

    /// A static set from a JWKS document. Unusable keys are skipped (and logged); a
    /// document that is not a JWKS is a configuration error.
    pub fn from_jwks_json(json: &str) -> Result<KeySet, Error> {
        let table = KeyTable::parse(json.as_bytes())
            .map_err(|e| Error::new(ErrorKind::Configuration, e.detail().to_owned()))?;
        Ok(KeySet::from_table(table))
    }

    /// A static set of one public key in PEM (`BEGIN PUBLIC KEY`, or `BEGIN RSA PUBLIC
    /// KEY`): RSA (>= 2048 bits), EC P-256/P-384 or Ed25519. With `kid = None` the key
    /// verifies tokens whatever `kid` they carry.
    pub fn from_pem(pem: &str, kid: Option<&str>) -> Result<KeySet, Error> {
        KeySet::from_der(&key::pem_to_der(pem)?, kid)
    }

    /// A static set of one public key in DER (SubjectPublicKeyInfo or RSAPublicKey).
    pub fn from_der(der: &[u8], kid: Option<&str>) -> Result<KeySet, Error> {
        let key = VerifyingKey::from_der(kid.map(str::to_owned), der)?;
        Ok(KeySet::from_table(KeyTable::from_keys([key])))
    }

    /// A static HMAC secret for HS256/384/512. Secrets shorter than 32 bytes are a
    /// configuration error (J28), so a typo'd or empty secret cannot go live.
    ///
    /// ```
    /// use authgate::{ErrorKind, KeySet};
    /// assert!(KeySet::from_hmac_secret(&[7u8; 32]).is_ok());
    /// let err = KeySet::from_hmac_secret(b"short").err().unwrap();
    /// assert_eq!(err.kind(), ErrorKind::Configuration);
    /// ```
    pub fn from_hmac_secret(secret: &[u8]) -> Result<KeySet, Error> {
        let key = VerifyingKey::hmac(None, secret)?;
        Ok(KeySet::from_table(KeyTable::from_keys([key])))
    }

    fn from_table(table: KeyTable) -> KeySet {
        let snapshot = Snapshot { table, refresh_at: None, usable_until: None };
        KeySet::new(None, KeySetConfig::default(), Some(snapshot))
    }

    fn new(remote: Option<Remote>, config: KeySetConfig, snapshot: Option<Snapshot>) -> KeySet {
        KeySet {
            inner: Arc::new(Inner {
                remote,
                on_unknown_kid: RwLock::new(None),
                config,
                current: RwLock::new(snapshot.map(Arc::new)),
                generation: AtomicU64::new(0),
                refresh: Mutex::new(RefreshState::default()),
            }),
        }
    }

    /// Replaces the keys with a new JWKS document, as an issuer does for its own
    /// verifier after rotating its signing key. A remote set goes on refreshing from its
    /// URL afterwards.
    pub fn replace_jwks_json(&self, json: &str) -> Result<(), Error> {
        let table = KeyTable::parse(json.as_bytes())
            .map_err(|e| Error::new(ErrorKind::Configuration, e.detail().to_owned()))?;
        let snapshot = match &self.inner.remote {
            None => Snapshot { table, refresh_at: None, usable_until: None },
            Some(_) => self.inner.fresh_snapshot(table, None, Instant::now()),
        };
        self.inner.install(snapshot);
        Ok(())
    }

    /// For a static set that its owner replaces in place (an issuer verifying its own
    /// tokens): `hook` runs when a token names a `kid` the set does not hold, and the
    /// lookup is tried once more after it. The hook re-reads the keys (another instance
    /// may have rotated), calls [`Self::replace_jwks_json`], and limits its own rate: an
    /// attacker chooses the kids. A remote set refreshes from its URL instead.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), authgate::Error> {
    /// let keys = authgate::KeySet::from_jwks_json(r#"{"keys":[]}"#)?;
    /// let reloaded = keys.clone();
    /// keys.on_unknown_kid(move || {
    ///     let keys = reloaded.clone();
    ///     async move {
    ///         // Re-read the published keys from the database here.
    ///         let _ = keys.replace_jwks_json(r#"{"keys":[]}"#);
    ///     }
    /// });
    /// # Ok(()) }
    /// ```
    pub fn on_unknown_kid<F, Fut>(&self, hook: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let hook: UnknownKidHook = Arc::new(move || Box::pin(hook()));
        *self.inner.on_unknown_kid.write().unwrap_or_else(PoisonError::into_inner) = Some(hook);
    }

    /// True when keys are loaded and not past their maximum staleness: the readiness
    /// check for a service that cannot verify anything without them.
    pub fn is_ready(&self) -> bool {
        self.inner.snapshot().is_some_and(|s| s.usable_at(Instant::now()))
    }

    /// The `kid`s currently loaded (for diagnostics).
    pub fn kids(&self) -> Vec<String> {
        self.inner.snapshot().map(|s| s.table.kids().map(str::to_owned).collect()).unwrap_or_default()
    }

    /// Whether a usable key with this `kid` is loaded now (no fetch is triggered).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.inner.snapshot().is_some_and(|s| {
            s.usable_at(Instant::now())
                && matches!(s.table.lookup(Some(kid)), Lookup::Found(k) if k.kid.as_deref() == Some(kid))
        })
    }

    /// The number of usable keys currently loaded.
    pub fn len(&self) -> usize {
        self.inner.snapshot().map_or(0, |s| s.table.len())
    }

    /// True when no usable key is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fetches the set now (sharing a fetch already in flight) and waits for it. Use at
    /// start-up to warm the cache; a static set returns at once.
    pub async fn refresh(&self) -> Result<(), Error> {
        if self.inner.remote.is_none() {
            return Ok(());
        }
        let rx = self.inner.start_or_join_refresh();
        Inner::wait(rx).await
    }

    /// The key for a token's `kid` when the current key set holds it and is usable:
    /// what [`Self::key_for`] answers without waiting (starting the same background
    /// refresh when one is due). `None` means ask [`Self::key_for`].
    pub(crate) fn key_now(&self, kid: Option<&str>) -> Option<Arc<VerifyingKey>> {
        let now = Instant::now();
        let snapshot = self.inner.snapshot().filter(|s| s.usable_at(now))?;
        let Lookup::Found(key) = snapshot.table.lookup(kid) else {
            return None;
        };
        if snapshot.refresh_at.is_some_and(|at| now >= at) {
            self.inner.refresh_in_background(now);
        }
        Some(key)
    }

    /// Finds the key for a token's `kid`, refreshing as the rules above allow.
    pub(crate) async fn key_for(&self, kid: Option<&str>) -> Result<Arc<VerifyingKey>, Error> {
        let now = Instant::now();
        let snapshot = self.inner.snapshot().filter(|s| s.usable_at(now));
        let Some(snapshot) = snapshot else {
            // Cold, or too stale to trust: only a successful fetch helps.
            if self.inner.remote.is_none() {
                return Err(Error::new(ErrorKind::UnknownKey, "empty static key set"));
            }
            let rx = self.inner.join_refresh_unless_backing_off(now)?;
            Inner::wait(rx).await?;
            return match self.inner.snapshot().map(|s| s.table.lookup(kid)) {
                Some(Lookup::Found(key)) => Ok(key),
                _ => Err(unknown_kid(kid)),
            };
        };
        if snapshot.refresh_at.is_some_and(|at| now >= at) {
            self.inner.refresh_in_background(now);
        }
        match snapshot.table.lookup(kid) {
            Lookup::Found(key) => Ok(key),
            Lookup::Conflicted => Err(Error::new(
                ErrorKind::UnknownKey,
                format!("kid {:?} is published for several different keys", kid.map(jose::truncate)),
            )),
            Lookup::Ambiguous => {
                Err(Error::new(ErrorKind::UnknownKey, "token has no kid and the key set holds several keys"))
            }
            Lookup::Unknown => {
                let hook = self.inner.on_unknown_kid.read().unwrap_or_else(PoisonError::into_inner).clone();
                if let (None, Some(hook)) = (&self.inner.remote, hook) {
                    hook().await;
                    return match self.inner.snapshot().map(|s| s.table.lookup(kid)) {
                        Some(Lookup::Found(key)) => Ok(key),
                        _ => Err(unknown_kid(kid)),
                    };
                }
                let Some(rx) = self.inner.refresh_for_unknown_kid(now) else {
                    return Err(unknown_kid(kid));
                };
                if let Err(e) = Inner::wait(rx).await {
                    tracing::debug!(error = %e, "refresh for an unknown kid failed");
                    return Err(unknown_kid(kid));
                }
                match self.inner.snapshot().map(|s| s.table.lookup(kid)) {
                    Some(Lookup::Found(key)) => Ok(key),
                    _ => Err(unknown_kid(kid)),
                }
            }
        }
    }

    /// Whether this exact key is still in the current set (the token cache drops hits
    /// whose key was rotated out).
    pub(crate) fn still_has(&self, key: &Arc<VerifyingKey>) -> bool {
        self.membership(key).is_some()
    }

    /// If the current set holds this exact key: the set's generation and until when it is
    /// usable. A cache can then re-check with [`Self::is_unchanged`], one atomic load,
    /// instead of a lookup.
    pub(crate) fn membership(&self, key: &Arc<VerifyingKey>) -> Option<(u64, Option<Instant>)> {
        let generation = self.inner.generation.load(Ordering::Acquire);
        let snapshot = self.inner.snapshot()?;
        (snapshot.usable_at(Instant::now()) && snapshot.table.contains(key))
            .then_some((generation, snapshot.usable_until))
    }

    /// Whether no new set was installed since `generation` was read.
    pub(crate) fn is_unchanged(&self, generation: u64) -> bool {
        self.inner.generation.load(Ordering::Acquire) == generation
    }
}

fn unknown_kid(kid: Option<&str>) -> Error {
    Error::new(ErrorKind::UnknownKey, format!("no key for kid {:?}", kid.map(jose::truncate)))
}

impl Snapshot {
    fn usable_at(&self, now: Instant) -> bool {
        self.usable_until.is_none_or(|until| now < until)
    }
}

impl Inner {
    fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn install(&self, snapshot: Snapshot) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        *current = Some(Arc::new(snapshot));
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, RefreshState> {
        self.refresh.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh_snapshot(&self, table: KeyTable, max_age: Option<Duration>, now: Instant) -> Snapshot {
        let ttl = self.config.ttl(max_age);
        // Refresh ahead: at 80% of the lifetime, so a slow or failing fetch has time.
        let refresh_at = now.checked_add(ttl.mul_f64(0.8));
        let usable_until = now.checked_add(ttl).and_then(|t| t.checked_add(self.config.max_staleness));
        Snapshot { table, refresh_at, usable_until }
    }

    /// Joins the fetch in flight or starts one.
    fn start_or_join_refresh(self: &Arc<Self>) -> watch::Receiver<Outcome> {
        let mut state = self.state();
        if let Some(rx) = &state.in_flight {
            return rx.clone();
        }
        self.start(&mut state)
    }

    /// Like [`Self::start_or_join_refresh`], but during backoff after a failure answers
    /// at once with 503 instead of hammering a source that is down.
    fn join_refresh_unless_backing_off(
        self: &Arc<Self>,
        now: Instant,
    ) -> Result<watch::Receiver<Outcome>, Error> {
        let mut state = self.state();
        if let Some(rx) = &state.in_flight {
            return Ok(rx.clone());
        }
        if let Some(retry_at) = state.retry_at.filter(|at| now < *at) {
            return Err(Error::key_source_unavailable(
                "key source failing and no usable keys cached",
                retry_at - now,
            ));
        }
        Ok(self.start(&mut state))
    }

    /// An unknown kid may refresh once per cooldown, and not during backoff.
    fn refresh_for_unknown_kid(self: &Arc<Self>, now: Instant) -> Option<watch::Receiver<Outcome>> {
        self.remote.as_ref()?;
        let mut state = self.state();
        if let Some(rx) = &state.in_flight {
            return Some(rx.clone());
        }
        let cooling = state
            .last_unknown_kid_refresh
            .is_some_and(|last| now.duration_since(last) < self.config.unknown_kid_cooldown);
        let backing_off = state.retry_at.is_some_and(|at| now < at);
        if cooling || backing_off {
            return None;
        }
        state.last_unknown_kid_refresh = Some(now);
        Some(self.start(&mut state))
    }

    fn refresh_in_background(self: &Arc<Self>, now: Instant) {
        let mut state = self.state();
        if state.in_flight.is_none() && state.retry_at.is_none_or(|at| now >= at) {
            drop(self.start(&mut state));
        }
    }

    /// Starts the single fetch. Runs as its own task so that a caller giving up (a
    /// client disconnecting) never cancels the fetch others are waiting on.
    fn start(self: &Arc<Self>, state: &mut RefreshState) -> watch::Receiver<Outcome> {
        let (tx, rx) = watch::channel(None);
        state.in_flight = Some(rx.clone());
        let inner = Arc::clone(self);
        let task = async move {
            let result = inner.fetch_and_install().await;
            {
                let mut state = inner.state();
                state.in_flight = None;
                match &result {
                    Ok(()) => {
                        state.failures = 0;
                        state.retry_at = None;
                    }
                    Err(_) => {
                        state.failures = state.failures.saturating_add(1);
                        state.retry_at = Instant::now().checked_add(inner.config.backoff(state.failures));
                    }
                }
            }
            let _ = tx.send(Some(result));
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn(task)),
            // Without a Tokio runtime there is nobody to hand the task to; the waiter
            // drives it instead (see `wait`).
            Err(_) => drop(std::thread::spawn(move || {
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt.block_on(task),
                    Err(e) => tracing::error!(error = %e, "cannot start a runtime to fetch keys"),
                }
            })),
        }
        rx
    }

    async fn fetch_and_install(&self) -> Result<(), Error> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let result = remote.fetch(&self.config).await;
        metric_names::record!(started.elapsed().as_secs_f64(); metric_names::KEY_FETCH_SECONDS);
        match result {
            Ok((table, max_age)) => {
                metric_names::increment!(metric_names::KEY_FETCHES, "outcome" => "ok");
                tracing::debug!(url = remote.url_for_logs(), keys = table.len(), "key set refreshed");
                self.install(self.fresh_snapshot(table, max_age, Instant::now()));
                Ok(())
            }
            Err(e) => {
                metric_names::increment!(metric_names::KEY_FETCHES, "outcome" => "error");
                tracing::warn!(error = %e, "key set refresh failed; keeping the last good keys");
                Err(Error::key_source_unavailable(e.detail().to_owned(), self.config.min_backoff))
            }
        }
    }

    async fn wait(mut rx: watch::Receiver<Outcome>) -> Result<(), Error> {
        match rx.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Ok(())),
            Err(_) => Err(Error::key_source_unavailable("key fetch task ended", Duration::from_secs(1))),
        }
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("url", &self.inner.remote.as_ref().map(Remote::url_for_logs))
            .field("keys", &self.len())
            .finish()
    }
}

// Discovery exists only with the `remote` feature.
#[cfg(all(test, feature = "remote"))]
mod tests {
    use super::*;

    #[test]
    fn rfc8414_metadata_path_goes_before_the_issuer_path() {
        let urls = DiscoveryUrls::for_issuer("https://login.example.com/tenant/", false).unwrap();
        assert_eq!(urls.openid.as_str(), "https://login.example.com/tenant/.well-known/openid-configuration");
        assert_eq!(
            urls.oauth.as_str(),
            "https://login.example.com/.well-known/oauth-authorization-server/tenant"
        );
        let urls = DiscoveryUrls::for_issuer("https://login.example.com", false).unwrap();
        assert_eq!(urls.openid.as_str(), "https://login.example.com/.well-known/openid-configuration");
        assert_eq!(urls.oauth.as_str(), "https://login.example.com/.well-known/oauth-authorization-server");
    }
}
