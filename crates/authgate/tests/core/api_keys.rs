//! API keys: local format checks, the static set, and user-service lookups with caching.

use authgate::api_key::{ApiKeyVerifier, StaticApiKeys, format};
use authgate::{AuthMethod, ErrorKind, Principal};

use crate::helpers::kind;
// The user-service lookups (the `remote` feature).
#[cfg(feature = "remote")]
use {
    authgate::api_key::RemoteApiKeyVerifier,
    std::collections::HashMap,
    std::sync::atomic::{AtomicUsize, Ordering},
    std::sync::{Arc, Mutex},
    std::time::Duration,
    tokio::io::{AsyncReadExt, AsyncWriteExt},
    tokio::net::TcpListener,
};

#[cfg(feature = "remote")]
/// Known keys: key -> (user id, trading account it is bound to).
type Keys = Arc<Mutex<HashMap<String, (String, Option<String>)>>>;

#[cfg(feature = "remote")]
/// A stand-in for user-service's `GET /v1/users/me`: known keys answer 200 with a user
/// and the key (its id and trading-account binding), as user-service does.
struct UserServiceStub {
    url: String,
    addr: std::net::SocketAddr,
    keys: Keys,
    requests: Arc<AtomicUsize>,
    delay: Arc<Mutex<Duration>>,
    task: tokio::task::JoinHandle<()>,
}

#[cfg(feature = "remote")]
impl UserServiceStub {
    async fn start() -> Self {
        Self::start_on("127.0.0.1").await
    }

    async fn start_on(ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let keys: Keys = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let (k, r, d) = (keys.clone(), requests.clone(), delay.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (k, r, d) = (k.clone(), r.clone(), d.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    r.fetch_add(1, Ordering::SeqCst);
                    let wait = *d.lock().unwrap();
                    tokio::time::sleep(wait).await;
                    let key = head
                        .lines()
                        .find_map(|l| l.strip_prefix("x-api-key: ").or_else(|| l.strip_prefix("X-API-Key: ")))
                        .map(str::trim)
                        .unwrap_or_default()
                        .to_owned();
                    let user = k.lock().unwrap().get(&key).cloned();
                    let (status, body) = match user {
                        Some((id, account)) => (
                            "200 OK",
                            serde_json::json!({
                                "id": id, "email": format!("{id}@example.com"), "name": "Ada",
                                "roles": [], "permissions": ["positions:read"], "auth_method": "api_key",
                                "api_key": {"id": format!("key-of-{id}"), "name": "bot", "prefix": "ak_test_ab",
                                            "trading_account_id": account, "expires_at": null},
                            })
                            .to_string(),
                        ),
                        None => ("401 Unauthorized", r#"{"error":"invalid_api_key"}"#.to_owned()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        UserServiceStub { url, addr, keys, requests, delay, task }
    }

    fn add(&self, key: &str, user: &str) {
        self.keys.lock().unwrap().insert(key.to_owned(), (user.to_owned(), None));
    }

    fn add_bound(&self, key: &str, user: &str, account: &str) {
        self.keys.lock().unwrap().insert(key.to_owned(), (user.to_owned(), Some(account.to_owned())));
    }

    fn revoke(&self, key: &str) {
        self.keys.lock().unwrap().remove(key);
    }

    fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

#[cfg(feature = "remote")]
impl Drop for UserServiceStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn remote_keys_are_verified_by_user_service_and_cached() {
    let stub = UserServiceStub::start().await;
    let key = format::generate("test").unwrap();
    stub.add(&key, "user-9");
    let verifier = RemoteApiKeyVerifier::new(&stub.url).unwrap();
    let p = verifier.verify(&key).await.unwrap();
    assert_eq!((p.user_id(), p.auth_method()), ("user-9", AuthMethod::ApiKey));
    assert_eq!(p.email(), Some("user-9@example.com"));
    assert!(p.has_permission("positions:read"));
    assert!(verifier.verify(&key).await.is_ok());
    assert_eq!(stub.requests(), 1, "the second call is answered from the cache");
    // The key itself, and the answer as raw claims.
    let info = p.api_key().expect("key info");
    assert_eq!((info.id(), info.name(), info.trading_account_id()), ("key-of-user-9", Some("bot"), None));
    assert_eq!(p.raw_claims()["api_key"]["prefix"], "ak_test_ab");
    assert!(p.roles().is_empty());
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn a_key_bound_to_a_trading_account_keeps_its_binding_at_the_consumer() {
    let stub = UserServiceStub::start().await;
    let (bound, free) = (format::generate("test").unwrap(), format::generate("test").unwrap());
    stub.add_bound(&bound, "user-9", "acct-42");
    stub.add(&free, "user-9");
    let verifier = RemoteApiKeyVerifier::new(&stub.url).unwrap();
    let p = verifier.verify(&bound).await.unwrap();
    assert_eq!(p.api_key().and_then(|k| k.trading_account_id()), Some("acct-42"));
    let p = verifier.verify(&free).await.unwrap();
    assert_eq!(p.api_key().map(|k| k.trading_account_id()), Some(None));
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn an_answer_without_the_key_is_refused_rather_than_losing_a_binding() {
    // A 200 that names no api_key: whatever binding the key has would be lost.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let body = r#"{"id":"u1","roles":[],"permissions":["*"]}"#;
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
        }
    });
    let verifier = RemoteApiKeyVerifier::new(&url).unwrap();
    let err = verifier.verify(&format::generate("test").unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeySourceUnavailable);
    task.abort();
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn concurrent_lookups_of_one_key_share_one_request() {
    let stub = UserServiceStub::start().await;
    stub.set_delay(Duration::from_millis(200));
    let (known, unknown) = (format::generate("test").unwrap(), format::generate("test").unwrap());
    stub.add(&known, "user-9");
    let verifier = RemoteApiKeyVerifier::new(&stub.url).unwrap();
    for (key, ok) in [(&known, true), (&unknown, false)] {
        let before = stub.requests();
        let lookups = (0..20).map(|_| {
            let verifier = verifier.clone();
            let key = key.clone();
            tokio::spawn(async move { verifier.verify(&key).await.map(|p| p.user_id().to_owned()) })
        });
        for result in futures_util::future::join_all(lookups).await {
            assert_eq!(result.unwrap().is_ok(), ok);
        }
        assert_eq!(stub.requests() - before, 1, "one request for 20 lookups");
    }
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn a_lookup_abandoned_by_its_caller_is_taken_over_by_the_others() {
    let stub = UserServiceStub::start().await;
    stub.set_delay(Duration::from_millis(150));
    let key = format::generate("test").unwrap();
    stub.add(&key, "user-9");
    let verifier = RemoteApiKeyVerifier::new(&stub.url).unwrap();
    let first = tokio::spawn({
        let (verifier, key) = (verifier.clone(), key.clone());
        async move { verifier.verify(&key).await.map(|_| ()) }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let second = tokio::spawn({
        let (verifier, key) = (verifier.clone(), key.clone());
        async move { verifier.verify(&key).await.map(|p| p.user_id().to_owned()) }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    first.abort();
    assert_eq!(second.await.unwrap().unwrap(), "user-9");
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn refused_keys_are_remembered_for_ten_seconds() {
    let stub = UserServiceStub::start().await;
    let key = format::generate("test").unwrap();
    let verifier = RemoteApiKeyVerifier::new(&stub.url).unwrap();
    assert!(format!("{verifier:?}").contains("negative_ttl: 10s"));
    assert_eq!(kind(verifier.verify(&key).await), ErrorKind::InvalidApiKey);
    assert_eq!(kind(verifier.verify(&key).await), ErrorKind::InvalidApiKey);
    assert_eq!(stub.requests(), 1);
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn an_injected_http_client_is_the_one_that_asks() {
    // The stub listens on 127.0.0.2, which only the injected client resolves
    // `localhost` to; the built-in client would reach 127.0.0.1 (or ::1) and find nothing.
    let stub = UserServiceStub::start_on("127.0.0.2").await;
    let key = format::generate("test").unwrap();
    stub.add(&key, "user-9");
    let url = format!("http://localhost:{}/v1/users/me", stub.addr.port());
    let plain = RemoteApiKeyVerifier::from_url(&url).unwrap();
    assert_eq!(kind(plain.verify(&key).await), ErrorKind::KeySourceUnavailable);
    let client = reqwest::Client::builder().resolve("localhost", stub.addr).build().unwrap();
    let injected = RemoteApiKeyVerifier::from_url(&url).unwrap().http_client(client);
    assert_eq!(injected.verify(&key).await.unwrap().user_id(), "user-9");
    assert_eq!(stub.requests(), 1);
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn i24_revoked_key_stops_working_within_the_cache_ttl() {
    let stub = UserServiceStub::start().await;
    let key = format::generate("test").unwrap();
    stub.add(&key, "user-9");
    let verifier = RemoteApiKeyVerifier::new(&stub.url)
        .unwrap()
        .positive_ttl(Duration::from_millis(200))
        .negative_ttl(Duration::from_millis(200));
    assert!(verifier.verify(&key).await.is_ok());
    stub.revoke(&key);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kind(verifier.verify(&key).await), ErrorKind::InvalidApiKey);
    let asked = stub.requests();
    // Refusals are cached briefly too, so a client retrying a dead key costs nothing.
    assert_eq!(kind(verifier.verify(&key).await), ErrorKind::InvalidApiKey);
    assert_eq!(stub.requests(), asked);
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn i24_bad_checksum_or_garbage_never_reaches_user_service() {
    let stub = UserServiceStub::start().await;
    let verifier = RemoteApiKeyVerifier::new(&stub.url).unwrap();
    let key = format::generate("live").unwrap();
    let typo = format!("{}{}", &key[..key.len() - 1], if key.ends_with('0') { '1' } else { '0' });
    for bad in [typo.as_str(), "", "ak_live_short", "Bearer x", &"a".repeat(10_000)] {
        assert_eq!(kind(verifier.verify(bad).await), ErrorKind::InvalidApiKey);
    }
    assert_eq!(stub.requests(), 0);
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn user_service_down_is_503_and_not_cached() {
    let stub = UserServiceStub::start().await;
    let url = stub.url.clone();
    drop(stub);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let verifier = RemoteApiKeyVerifier::new(&url).unwrap();
    let key = format::generate("test").unwrap();
    let err = verifier.verify(&key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeySourceUnavailable);
    assert_eq!(err.status(), 503);
}

#[tokio::test]
async fn static_keys_match_by_hash_only() {
    let key = format::generate("test").unwrap();
    let keys = StaticApiKeys::new()
        .with_hash_hex(&format::hash_hex(&key), Principal::builder("svc", AuthMethod::ApiKey).build())
        .unwrap();
    assert_eq!(keys.verify(&key).await.unwrap().user_id(), "svc");
    assert_eq!(kind(keys.verify(&format::generate("test").unwrap()).await), ErrorKind::InvalidApiKey);
    assert!(
        StaticApiKeys::new()
            .with_hash_hex("nothex", Principal::builder("x", AuthMethod::ApiKey).build())
            .is_err()
    );
    assert!(!format!("{keys:?}").contains(&format::hash_hex(&key)));
}
