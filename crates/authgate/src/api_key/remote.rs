//! API keys verified by user-service, with a short cache.

use std::fmt;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use serde::Deserialize;
use url::Url;

use super::{ApiKeyVerifier, BoxFuture, format};
use crate::error::{Error, ErrorKind};
use crate::fetch;
use crate::principal::{AuthMethod, Principal};

/// Verifies API keys by asking user-service: `GET {base}/v1/users/me` with
/// `X-API-Key: <key>`.
///
/// The key's format and checksum are checked locally first, so garbage never reaches
/// the network. Answers are cached in a bounded cache keyed by the key's SHA-256:
/// accepted keys for [`RemoteApiKeyVerifier::positive_ttl`] (default 60 s, so a revoked
/// key stops working within that time), refused keys for
/// [`RemoteApiKeyVerifier::negative_ttl`] (default 5 s). Outages are not cached and
/// answer 503.
///
/// ```
/// use std::time::Duration;
/// use authgate::api_key::RemoteApiKeyVerifier;
/// let keys = RemoteApiKeyVerifier::new("http://127.0.0.1:8011")
///     .unwrap()
///     .positive_ttl(Duration::from_secs(30));
/// # let _ = keys;
/// ```
#[derive(Clone)]
pub struct RemoteApiKeyVerifier {
    endpoint: Url,
    client: reqwest::Client,
    timeout: Duration,
    positive_ttl: Duration,
    negative_ttl: Duration,
    cache: Cache<[u8; 32], Cached>,
}

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
}

impl RemoteApiKeyVerifier {
    /// A verifier asking the user-service at `base_url` (`https`, or `http` to loopback;
    /// see [`Self::with_http_allowed`]).
    pub fn new(base_url: &str) -> Result<Self, Error> {
        Self::build(base_url, false)
    }

    /// Like [`Self::new`] but accepts `http://` to any host (an internal network).
    pub fn with_http_allowed(base_url: &str) -> Result<Self, Error> {
        Self::build(base_url, true)
    }

    fn build(base_url: &str, allow_http: bool) -> Result<Self, Error> {
        let endpoint = format!("{}/v1/users/me", base_url.trim_end_matches('/'));
        let endpoint = fetch::check_url(&endpoint, allow_http)?;
        let timeout = Duration::from_secs(5);
        let client = fetch::client(fetch::FetchLimits { deadline: timeout, max_body: 64 * 1024 })?;
        Ok(RemoteApiKeyVerifier {
            endpoint,
            client,
            timeout,
            positive_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            cache: Cache::builder().max_capacity(10_000).expire_after(CachedTtl).build(),
        })
    }

    /// How long an accepted key is trusted without asking again (default 60 s).
    #[must_use]
    pub fn positive_ttl(mut self, ttl: Duration) -> Self {
        self.positive_ttl = ttl;
        self
    }

    /// How long a refused key is refused without asking again (default 5 s).
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
        let request = self.client.get(self.endpoint.clone()).header("x-api-key", key).send();
        let response = tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| unavailable("user-service did not answer in time".into()))?
            .map_err(|e| unavailable(format!("user-service unreachable: {e}")))?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 | 404 => {
                return Err(Error::new(ErrorKind::InvalidApiKey, "user-service refused the key"));
            }
            status => return Err(unavailable(format!("user-service answered {status}"))),
        }
        let body = tokio::time::timeout(self.timeout, response.bytes())
            .await
            .map_err(|_| unavailable("user-service body timed out".into()))?
            .map_err(|e| unavailable(format!("user-service body: {e}")))?;
        let me: Me = serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("user-service answer unreadable: {e}")))?;
        let mut builder =
            Principal::builder(me.id, AuthMethod::ApiKey).roles(me.roles).permissions(me.permissions);
        if let Some(email) = me.email {
            builder = builder.email(email);
        }
        if let Some(name) = me.name {
            builder = builder.name(name);
        }
        Ok(builder.build())
    }
}

impl ApiKeyVerifier for RemoteApiKeyVerifier {
    fn verify<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Principal, Error>> {
        Box::pin(async move {
            format::check(key)?;
            let hash = format::hash(key);
            if let Some(cached) = self.cache.get(&hash) {
                return cached
                    .answer
                    .map_err(|()| Error::new(ErrorKind::InvalidApiKey, "API key refused (cached)"));
            }
            let answer = self.ask(key).await;
            match &answer {
                Ok(p) => self.cache.insert(hash, Cached { answer: Ok(p.clone()), ttl: self.positive_ttl }),
                Err(e) if e.kind() == ErrorKind::InvalidApiKey => {
                    self.cache.insert(hash, Cached { answer: Err(()), ttl: self.negative_ttl });
                }
                Err(_) => {}
            }
            answer
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
