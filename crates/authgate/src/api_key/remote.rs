//! API keys verified by user-service, with a short cache and one request per key in
//! flight.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use serde::Deserialize;
use tokio::sync::watch;
use url::Url;

use super::{ApiKeyVerifier, BoxFuture, format};
use crate::error::{Error, ErrorKind};
use crate::fetch;
use crate::principal::{ApiKeyInfo, AuthMethod, Principal};

/// The largest answer read from user-service.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Verifies API keys by asking user-service: `GET {base}/v1/users/me` (or any URL
/// answering the same way, [`RemoteApiKeyVerifier::from_url`]) with `X-API-Key: <key>`.
///
/// - The key's format and checksum are checked locally first, so garbage never reaches
///   the network.
/// - Answers are cached in a bounded cache keyed by the key's SHA-256: accepted keys for
///   [`RemoteApiKeyVerifier::positive_ttl`] (default 60 s, so a revoked key stops
///   working within that time), refused keys for [`RemoteApiKeyVerifier::negative_ttl`]
///   (default 10 s). Outages are not cached and answer 503.
/// - Concurrent lookups of one key share a single request.
/// - The principal carries the key's id and trading-account binding
///   ([`Principal::api_key`]) and the whole answer as its raw claims. An answer without
///   the key's id is refused (503): a binding must never be lost silently.
///
/// Per-client limits on unknown keys live in the [`crate::Authenticator`], which knows
/// the client's address.
///
/// ```
/// use std::time::Duration;
/// use authgate::api_key::RemoteApiKeyVerifier;
/// let keys = RemoteApiKeyVerifier::new("http://127.0.0.1:8011")?.positive_ttl(Duration::from_secs(30));
///
/// // The full URL, and a client with the service mesh's CA.
/// let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
/// let mesh = RemoteApiKeyVerifier::from_url("https://users.internal/v1/users/me")?.http_client(client);
/// # let _ = (keys, mesh);
/// # Ok::<(), authgate::Error>(())
/// ```
#[derive(Clone)]
pub struct RemoteApiKeyVerifier {
    endpoint: Url,
    client: reqwest::Client,
    timeout: Duration,
    positive_ttl: Duration,
    negative_ttl: Duration,
    cache: Cache<[u8; 32], Cached>,
    in_flight: Arc<Mutex<HashMap<[u8; 32], Pending>>>,
}

type Pending = watch::Receiver<Option<Result<Principal, Error>>>;

#[derive(Clone)]
struct Cached {
    answer: Result<Principal, ()>,
    ttl: Duration,
}

struct CachedTtl;

impl Expiry<[u8; 32], Cached> for CachedTtl {
    fn expire_after_create(&self, _key: &[u8; 32], value: &Cached, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The part of user-service's `/v1/users/me` answer we read.
#[derive(Deserialize)]
struct Me {
    #[serde(alias = "user_id")]
    id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    api_key: Option<MeKey>,
}

#[derive(Deserialize)]
struct MeKey {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    trading_account_id: Option<String>,
}

impl RemoteApiKeyVerifier {
    /// A verifier asking the user-service at `base_url` (`https`, or `http` to loopback;
    /// see [`Self::with_http_allowed`]) on `/v1/users/me`.
    pub fn new(base_url: &str) -> Result<Self, Error> {
        Self::build(&me_url(base_url), false)
    }

    /// Like [`Self::new`] but accepts `http://` to any host (an internal network).
    pub fn with_http_allowed(base_url: &str) -> Result<Self, Error> {
        Self::build(&me_url(base_url), true)
    }

    /// A verifier asking exactly `endpoint` (`https`, or `http` to loopback), which
    /// answers like user-service's `GET /v1/users/me` (`API_KEY_VERIFY_URL`).
    pub fn from_url(endpoint: &str) -> Result<Self, Error> {
        Self::build(endpoint, false)
    }

    fn build(endpoint: &str, allow_http: bool) -> Result<Self, Error> {
        let endpoint = fetch::check_url(endpoint, allow_http)?;
        let timeout = Duration::from_secs(5);
        let client = fetch::client(fetch::FetchLimits { deadline: timeout, max_body: MAX_ANSWER_BYTES })?;
        Ok(RemoteApiKeyVerifier {
            endpoint,
            client,
            timeout,
            positive_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            cache: Cache::builder().max_capacity(10_000).expire_after(CachedTtl).build(),
            in_flight: Arc::default(),
        })
    }

    /// Asks with `client` instead of the built-in one (a proxy, a private CA, a shared
    /// pool). The 5 s deadline, the answer cap and the refusal of redirected answers
    /// still apply.
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// How long an accepted key is trusted without asking again (default 60 s).
    #[must_use]
    pub fn positive_ttl(mut self, ttl: Duration) -> Self {
        self.positive_ttl = ttl;
        self
    }

    /// How long a refused key is refused without asking again (default 10 s).
    #[must_use]
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Maximum number of cached answers (default 10 000).
    #[must_use]
    pub fn max_entries(mut self, max: u64) -> Self {
        self.cache = Cache::builder().max_capacity(max).expire_after(CachedTtl).build();
        self
    }

    async fn ask(&self, key: &str) -> Result<Principal, Error> {
        let unavailable = |detail: String| Error::key_source_unavailable(detail, Duration::from_secs(1));
        let exchange = async {
            let mut response = self
                .client
                .get(self.endpoint.clone())
                .header("x-api-key", key)
                .send()
                .await
                .map_err(|e| unavailable(format!("user-service unreachable: {e}")))?;
            if response.url() != &self.endpoint {
                return Err(unavailable("user-service answer came through a redirect".into()));
            }
            match response.status().as_u16() {
                200 => {}
                401 | 403 | 404 => {
                    return Err(Error::new(ErrorKind::InvalidApiKey, "user-service refused the key"));
                }
                status => return Err(unavailable(format!("user-service answered {status}"))),
            }
            let mut body = Vec::new();
            while let Some(chunk) =
                response.chunk().await.map_err(|e| unavailable(format!("user-service body: {e}")))?
            {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(unavailable(format!("user-service answer over {MAX_ANSWER_BYTES} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        let body = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| unavailable("user-service did not answer in time".into()))??;
        let raw: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("user-service answer unreadable: {e}")))?;
        let me =
            Me::deserialize(&raw).map_err(|e| unavailable(format!("user-service answer unreadable: {e}")))?;
        let key_info =
            me.api_key.ok_or_else(|| unavailable("user-service answer names no api_key".into()))?;
        let mut info = ApiKeyInfo::new(key_info.id);
        if let Some(name) = key_info.name {
            info = info.with_name(name);
        }
        if let Some(account) = key_info.trading_account_id {
            info = info.with_trading_account(account);
        }
        let mut builder = Principal::builder(me.id, AuthMethod::ApiKey)
            .roles(me.roles)
            .permissions(me.permissions)
            .api_key(info);
        if let Some(email) = me.email {
            builder = builder.email(email);
        }
        if let Some(name) = me.name {
            builder = builder.name(name);
        }
        Ok(builder.raw_claims(raw).build())
    }

    fn cached(&self, hash: &[u8; 32]) -> Option<Result<Principal, Error>> {
        let cached = self.cache.get(hash)?;
        Some(cached.answer.map_err(|()| Error::new(ErrorKind::InvalidApiKey, "API key refused (cached)")))
    }

    /// Asks user-service once for `key`, however many callers want the answer now.
    async fn ask_once(&self, key: &str, hash: [u8; 32]) -> Result<Principal, Error> {
        loop {
            if let Some(answer) = self.cached(&hash) {
                return answer;
            }
            let role = {
                let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
                match in_flight.get(&hash) {
                    Some(rx) => Err(rx.clone()),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        in_flight.insert(hash, rx);
                        Ok(tx)
                    }
                }
            };
            let tx = match role {
                Ok(tx) => tx,
                Err(mut rx) => match rx.wait_for(Option::is_some).await {
                    Ok(answer) => {
                        return answer.clone().unwrap_or_else(|| {
                            Err(Error::key_source_unavailable(
                                "lookup ended without an answer",
                                Duration::from_secs(1),
                            ))
                        });
                    }
                    // The asking caller went away before an answer: ask again.
                    Err(_) => continue,
                },
            };
            let _done = InFlight { map: &self.in_flight, hash };
            let answer = self.ask(key).await;
            match &answer {
                Ok(p) => self.cache.insert(hash, Cached { answer: Ok(p.clone()), ttl: self.positive_ttl }),
                Err(e) if e.kind() == ErrorKind::InvalidApiKey => {
                    self.cache.insert(hash, Cached { answer: Err(()), ttl: self.negative_ttl });
                }
                Err(_) => {}
            }
            let _ = tx.send(Some(answer.clone()));
            return answer;
        }
    }
}

/// Removes the in-flight entry when the asking caller finishes or is dropped.
struct InFlight<'a> {
    map: &'a Mutex<HashMap<[u8; 32], Pending>>,
    hash: [u8; 32],
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.hash);
    }
}

fn me_url(base_url: &str) -> String {
    format!("{}/v1/users/me", base_url.trim_end_matches('/'))
}

impl ApiKeyVerifier for RemoteApiKeyVerifier {
    fn verify<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Principal, Error>> {
        Box::pin(async move {
            format::check(key)?;
            self.ask_once(key, format::hash(key)).await
        })
    }
}

impl fmt::Debug for RemoteApiKeyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteApiKeyVerifier")
            .field("endpoint", &self.endpoint.as_str())
            .field("positive_ttl", &self.positive_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .finish()
    }
}
