//! API keys: local format checks, the static set, and user-service lookups with caching.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authgate::api_key::{ApiKeyVerifier, RemoteApiKeyVerifier, StaticApiKeys, format};
use authgate::{AuthMethod, ErrorKind, Principal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::kind;

/// A stand-in for user-service's `GET /v1/users/me`: known keys answer 200 with a user.
struct UserServiceStub {
    url: String,
    keys: Arc<Mutex<HashMap<String, String>>>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl UserServiceStub {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let keys: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let (k, r) = (keys.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (k, r) = (k.clone(), r.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    r.fetch_add(1, Ordering::SeqCst);
                    let key = head
                        .lines()
                        .find_map(|l| l.strip_prefix("x-api-key: ").or_else(|| l.strip_prefix("X-API-Key: ")))
                        .map(str::trim)
                        .unwrap_or_default()
                        .to_owned();
                    let user = k.lock().unwrap().get(&key).cloned();
                    let (status, body) = match user {
                        Some(id) => (
                            "200 OK",
                            format!(
                                r#"{{"id":"{id}","email":"{id}@example.com","roles":["user"],"permissions":["positions:read"]}}"#
                            ),
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
        UserServiceStub { url, keys, requests, task }
    }

    fn add(&self, key: &str, user: &str) {
        self.keys.lock().unwrap().insert(key.to_owned(), user.to_owned());
    }

    fn revoke(&self, key: &str) {
        self.keys.lock().unwrap().remove(key);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for UserServiceStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

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
}

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
