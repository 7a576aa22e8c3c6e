//! K-cases: the JWKS client under rotation, outages and hostile endpoints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authgate::{ErrorKind, KeySet, KeySetConfig, Verifier};
use authgate_testkit::{Behaviour, MockJwksServer, TestKey, standard_claims};
use serde_json::json;

use crate::helpers::{AUD, fast_config, kind};

async fn idp_with(keys: &[&TestKey]) -> MockJwksServer {
    let idp = MockJwksServer::start().await;
    idp.set_keys(keys);
    idp
}

fn remote_verifier(idp: &MockJwksServer, config: KeySetConfig) -> Verifier {
    let set = KeySet::from_jwks_url_with(&idp.jwks_url(), config).unwrap();
    Verifier::builder()
        .issuer(idp.issuer(), set)
        .audience(AUD)
        .algorithms([authgate::Algorithm::RS256, authgate::Algorithm::ES256])
        .build()
        .unwrap()
}

fn token(idp: &MockJwksServer, key: &TestKey, sub: &str) -> String {
    key.token().claims(standard_claims(&idp.issuer(), AUD, sub, 300)).sign()
}

#[tokio::test]
async fn k01_hanging_endpoint_with_cold_cache_fails_within_the_deadline_with_503() {
    let key = TestKey::shared_rs256();
    let idp = idp_with(&[&key]).await;
    idp.set_behaviour(Behaviour::Hang);
    let v = remote_verifier(&idp, fast_config());
    let started = Instant::now();
    let err = v.verify(&token(&idp, &key, "u")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(err.kind(), ErrorKind::KeySourceUnavailable);
    assert_eq!(err.status(), 503);
    assert!(err.retry_after_header().is_some());
    assert!(!err.json_body().contains("127.0.0.1"), "no upstream detail for clients");
}

#[tokio::test]
async fn k01_default_deadline_is_five_seconds_and_other_work_is_unaffected() {
    assert_eq!(KeySetConfig::default().fetch_timeout, Duration::from_secs(5));
    // A static verifier keeps answering while a remote one hangs.
    let key = TestKey::shared_rs256();
    let idp = idp_with(&[&key]).await;
    idp.set_behaviour(Behaviour::Hang);
    let hanging = remote_verifier(&idp, fast_config());
    let fixed = crate::helpers::verifier(&[&key], &[authgate::Algorithm::RS256]);
    let t = token(&idp, &key, "u");
    let slow = tokio::spawn(async move { hanging.verify(&t).await });
    let ok = crate::helpers::good(&key).sign();
    assert!(tokio::time::timeout(Duration::from_millis(200), fixed.verify(&ok)).await.unwrap().is_ok());
    assert!(slow.await.unwrap().is_err());
}

#[tokio::test]
async fn k02_dripping_response_is_aborted_at_the_deadline() {
    let key = TestKey::shared_rs256();
    let idp = idp_with(&[&key]).await;
    idp.set_behaviour(Behaviour::Drip { interval: Duration::from_millis(20) });
    let v = remote_verifier(&idp, fast_config());
    let started = Instant::now();
    assert_eq!(kind(v.verify(&token(&idp, &key, "u")).await), ErrorKind::KeySourceUnavailable);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn k03_huge_or_endless_bodies_are_aborted_at_the_size_cap() {
    let key = TestKey::shared_rs256();
    for behaviour in [Behaviour::Huge { bytes: 50 * 1024 * 1024 }, Behaviour::Endless] {
        let idp = idp_with(&[&key]).await;
        idp.set_behaviour(behaviour);
        let mut config = fast_config();
        config.fetch_timeout = Duration::from_secs(5);
        let v = remote_verifier(&idp, config);
        let started = Instant::now();
        assert_eq!(kind(v.verify(&token(&idp, &key, "u")).await), ErrorKind::KeySourceUnavailable);
        // Aborted by the cap, long before the 5 s deadline.
        assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn k04_failed_refresh_keeps_the_old_keys_verifying() {
    let key = TestKey::shared_rs256();
    let idp = idp_with(&[&key]).await;
    let set = KeySet::from_jwks_url_with(&idp.jwks_url(), fast_config()).unwrap();
    set.refresh().await.unwrap();
    let v = Verifier::builder().issuer(idp.issuer(), set.clone()).audience(AUD).build().unwrap();
    for broken in [Behaviour::Status(500), Behaviour::Status(404)] {
        idp.set_behaviour(broken);
        assert_eq!(set.refresh().await.unwrap_err().kind(), ErrorKind::KeySourceUnavailable);
        assert!(v.verify(&token(&idp, &key, "u1")).await.is_ok());
    }
    idp.set_behaviour(Behaviour::Normal);
    idp.set_body("this is not json");
    assert!(set.refresh().await.is_err());
    idp.set_body(r#"{"not_keys": []}"#);
    assert!(set.refresh().await.is_err());
    assert!(v.verify(&token(&idp, &key, "u2")).await.is_ok());
    assert_eq!(set.kids(), vec![key.kid().to_owned()]);
}

#[tokio::test]
async fn k05_one_malformed_or_unknown_key_does_not_spoil_the_others() {
    let good_key = TestKey::es256();
    let idp = MockJwksServer::start().await;
    let body = json!({"keys": [
        {"kty": "RSA", "kid": "no-modulus", "e": "AQAB"},
        {"kty": "XYZ", "kid": "unknown-kty"},
        {"kty": "EC", "kid": "bad-curve", "crv": "P-521", "x": "AA", "y": "AA"},
        {"kty": "EC", "kid": "not-b64", "crv": "P-256", "x": "!!", "y": "??"},
        "not an object",
        good_key.jwk(),
    ]});
    idp.set_body(body.to_string());
    let v = remote_verifier(&idp, fast_config());
    assert!(v.verify(&token(&idp, &good_key, "u")).await.is_ok());
}

#[tokio::test]
async fn k06_a_kid_shared_by_different_keys_fails_closed() {
    let a = TestKey::shared_rs256().with_kid("same");
    let b = TestKey::rs256().with_kid("same");
    let c = TestKey::es256();
    let idp = idp_with(&[&a, &b, &c]).await;
    let v = remote_verifier(&idp, fast_config());
    assert_eq!(kind(v.verify(&token(&idp, &a, "u")).await), ErrorKind::UnknownKey);
    assert_eq!(kind(v.verify(&token(&idp, &b, "u")).await), ErrorKind::UnknownKey);
    assert!(v.verify(&token(&idp, &c, "u")).await.is_ok());
}

#[tokio::test]
async fn k07_unusable_keys_are_never_used() {
    let rsa = TestKey::shared_rs256();
    let n = rsa.jwk()["n"].clone();
    let as_enc = {
        let mut j = rsa.clone().with_kid("enc").jwk();
        j["use"] = json!("enc");
        j
    };
    let sign_only = {
        let mut j = rsa.clone().with_kid("ops").jwk();
        j["key_ops"] = json!(["sign"]);
        j
    };
    let body = json!({"keys": [
        as_enc,
        sign_only,
        {"kty": "oct", "kid": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"},
        {"kty": "RSA", "kid": "weak", "n": "wM7Z5b0b3c1Q1f7fHDk6uQGqKZV9n2mV6v2b9FbQy9V7Sx8jL4gk2kVv4V8TH0u8o2Zl9kG3r9Hq8kq0CwWlFQ", "e": "AQAB"},
        {"kty": "RSA", "kid": "e1", "n": n, "e": "AQ"},
    ]});
    let idp = MockJwksServer::start().await;
    idp.set_body(body.to_string());
    let set = KeySet::from_jwks_url_with(&idp.jwks_url(), fast_config()).unwrap();
    set.refresh().await.unwrap();
    assert!(set.is_empty(), "usable: {:?}", set.kids());
    let v = Verifier::builder().issuer(idp.issuer(), set).audience(AUD).build().unwrap();
    for kid in ["enc", "ops", "e1"] {
        let t =
            rsa.clone().with_kid(kid).token().claims(standard_claims(&idp.issuer(), AUD, "u", 300)).sign();
        assert_eq!(kind(v.verify(&t).await), ErrorKind::UnknownKey, "{kid}");
    }
}

#[tokio::test]
async fn k08_rotation_new_kid_refreshes_once_and_removed_kid_stops_verifying() {
    let old = TestKey::shared_rs256();
    let new = TestKey::es256();
    let idp = idp_with(&[&old]).await;
    let v = remote_verifier(&idp, fast_config());
    let old_token = token(&idp, &old, "u");
    // Twice, so the token cache holds it.
    assert!(v.verify(&old_token).await.is_ok());
    assert!(v.verify(&old_token).await.is_ok());
    assert_eq!(idp.jwks_requests(), 1);

    idp.set_keys(&[&new]);
    assert!(v.verify(&token(&idp, &new, "u")).await.is_ok());
    assert_eq!(idp.jwks_requests(), 2, "exactly one refresh for the new kid");
    // The old key left the set: even its cached token stops verifying.
    assert_eq!(kind(v.verify(&old_token).await), ErrorKind::UnknownKey);
    assert_eq!(idp.jwks_requests(), 2, "cooldown: no second refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k09_stampede_of_unknown_kids_makes_at_most_one_fetch_in_flight() {
    let known = TestKey::es256();
    let idp = idp_with(&[&known]).await;
    let v = remote_verifier(&idp, fast_config());
    let known_token = token(&idp, &known, "u");
    assert!(v.verify(&known_token).await.is_ok());
    let before = idp.jwks_requests();
    idp.set_behaviour(Behaviour::Delay(Duration::from_millis(300)));

    let tokens: Arc<Vec<String>> = Arc::new(
        (0..1000)
            .map(|i| {
                known
                    .clone()
                    .with_kid(format!("random-{i}"))
                    .token()
                    .claims(standard_claims(&idp.issuer(), AUD, "u", 300))
                    .sign()
            })
            .collect(),
    );
    let semaphore = Arc::new(tokio::sync::Semaphore::new(100));
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let (v, tokens, semaphore) = (v.clone(), tokens.clone(), semaphore.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await.unwrap();
            v.verify(&tokens[i]).await.map(|_| ()).map_err(|e| e.kind())
        }));
    }
    // While the refresh is in flight, a known kid answers without waiting on it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fresh_known = token(&idp, &known, "u2");
    let quick = tokio::time::timeout(Duration::from_millis(150), v.verify(&fresh_known)).await;
    assert!(matches!(quick, Ok(Ok(_))), "known kid waited on the fetch");

    for task in tasks {
        assert_eq!(task.await.unwrap(), Err(ErrorKind::UnknownKey));
    }
    assert!(idp.max_concurrent_jwks_requests() <= 1);
    assert!(idp.jwks_requests() - before <= 2, "{} fetches", idp.jwks_requests() - before);
}

#[tokio::test]
async fn k10_redirects_are_not_followed() {
    let key = TestKey::shared_rs256();
    let elsewhere = idp_with(&[&key]).await;
    let idp = MockJwksServer::start().await;
    idp.set_behaviour(Behaviour::Redirect { location: elsewhere.jwks_url() });
    let v = remote_verifier(&idp, fast_config());
    assert_eq!(kind(v.verify(&token(&idp, &key, "u")).await), ErrorKind::KeySourceUnavailable);
    assert_eq!(elsewhere.total_requests(), 0);
}

#[tokio::test]
async fn k10_an_injected_client_that_follows_redirects_still_gets_no_redirected_keys() {
    let key = TestKey::shared_rs256();
    let elsewhere = idp_with(&[&key]).await;
    let idp = MockJwksServer::start().await;
    idp.set_behaviour(Behaviour::Redirect { location: elsewhere.jwks_url() });
    let following = reqwest::Client::new(); // reqwest follows up to 10 redirects by default
    let v = remote_verifier(&idp, fast_config().with_http_client(following));
    assert_eq!(kind(v.verify(&token(&idp, &key, "u")).await), ErrorKind::KeySourceUnavailable);
}

#[tokio::test]
async fn an_injected_http_client_is_the_one_that_fetches_keys() {
    // The IdP listens on 127.0.0.2; only the injected client resolves `localhost` there.
    let key = TestKey::shared_rs256();
    let idp = MockJwksServer::start_on("127.0.0.2").await;
    idp.set_keys(&[&key]);
    let addr: std::net::SocketAddr = idp.base_url().trim_start_matches("http://").parse().unwrap();
    let url = format!("http://localhost:{}/jwks.json", addr.port());
    let builtin = KeySet::from_jwks_url_with(&url, fast_config()).unwrap();
    assert_eq!(builtin.refresh().await.unwrap_err().kind(), ErrorKind::KeySourceUnavailable);
    let client = reqwest::Client::builder().resolve("localhost", addr).build().unwrap();
    let injected = KeySet::from_jwks_url_with(&url, fast_config().with_http_client(client)).unwrap();
    injected.refresh().await.unwrap();
    assert_eq!(injected.len(), 1);
    assert_eq!(idp.jwks_requests(), 1);
}

#[tokio::test]
async fn k02_k03_deadline_and_size_cap_hold_for_an_injected_client() {
    let idp = MockJwksServer::start().await;
    idp.set_behaviour(Behaviour::Huge { bytes: 10 * 1024 * 1024 });
    let set =
        KeySet::from_jwks_url_with(&idp.jwks_url(), fast_config().with_http_client(reqwest::Client::new()))
            .unwrap();
    assert_eq!(set.refresh().await.unwrap_err().kind(), ErrorKind::KeySourceUnavailable);
    idp.set_behaviour(Behaviour::Hang);
    let started = Instant::now();
    let set =
        KeySet::from_jwks_url_with(&idp.jwks_url(), fast_config().with_http_client(reqwest::Client::new()))
            .unwrap();
    assert_eq!(set.refresh().await.unwrap_err().kind(), ErrorKind::KeySourceUnavailable);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn k11_stale_keys_serve_up_to_max_staleness_then_fail_closed() {
    let key = TestKey::shared_rs256();
    let idp = idp_with(&[&key]).await;
    idp.set_cache_control(Some("max-age=0"));
    let mut config = fast_config();
    config.min_ttl = Duration::from_millis(100);
    config.max_staleness = Duration::from_millis(400);
    let v = remote_verifier(&idp, config);
    assert!(v.verify(&token(&idp, &key, "a")).await.is_ok());
    idp.set_behaviour(Behaviour::Status(503));
    tokio::time::sleep(Duration::from_millis(250)).await;
    // Expired but within the staleness allowance: still verifying.
    assert!(v.verify(&token(&idp, &key, "b")).await.is_ok());
    assert!(v.is_ready());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let err = v.verify(&token(&idp, &key, "c")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeySourceUnavailable);
    assert!(!v.is_ready());
    // The source comes back: verification recovers without a restart.
    idp.set_behaviour(Behaviour::Normal);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(v.verify(&token(&idp, &key, "d")).await.is_ok());
}

#[tokio::test]
async fn k12_plain_http_key_urls_are_refused_unless_loopback_or_opted_in() {
    assert_eq!(
        KeySet::from_jwks_url("http://idp.example/jwks").unwrap_err().kind(),
        ErrorKind::Configuration
    );
    assert!(KeySet::from_jwks_url("http://127.0.0.1:1/jwks").is_ok());
    let mut config = KeySetConfig::default();
    config.allow_http = true;
    assert!(KeySet::from_jwks_url_with("http://idp.example/jwks", config).is_ok());
}

#[tokio::test]
async fn cache_control_max_age_sets_the_refresh_time_within_floor_and_ceiling() {
    let key = TestKey::shared_rs256();
    let idp = idp_with(&[&key]).await;
    idp.set_cache_control(Some("public, max-age=3600"));
    let v = remote_verifier(&idp, fast_config());
    assert!(v.verify(&token(&idp, &key, "a")).await.is_ok());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(v.verify(&token(&idp, &key, "b")).await.is_ok());
    assert_eq!(idp.jwks_requests(), 1, "an hour of max-age: no refresh yet");

    let idp2 = idp_with(&[&key]).await;
    idp2.set_cache_control(Some("max-age=0"));
    let v2 = remote_verifier(&idp2, fast_config());
    assert!(v2.verify(&token(&idp2, &key, "a")).await.is_ok());
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Past the 100 ms floor: the next request triggers a background refresh and does
    // not wait for it.
    assert!(v2.verify(&token(&idp2, &key, "b")).await.is_ok());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(idp2.jwks_requests(), 2);
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks_and_checks_the_issuer() {
    let key = TestKey::shared_rs256();
    let idp = idp_with(&[&key]).await;
    let set = KeySet::from_oidc_issuer(&idp.issuer(), fast_config()).await.unwrap();
    let v = Verifier::builder().issuer(idp.issuer(), set).audience(AUD).build().unwrap();
    assert!(v.verify(&token(&idp, &key, "u")).await.is_ok());
    assert_eq!(idp.discovery_requests(), 1);

    idp.set_issuer("https://evil.example");
    let err = KeySet::from_oidc_issuer(&idp.base_url(), fast_config()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
}

#[tokio::test]
async fn discovery_reads_rfc8414_metadata_when_there_is_no_openid_document() {
    let key = TestKey::shared_rs256();
    let idp = idp_with(&[&key]).await;
    idp.serve_oauth_metadata_only();
    for set in [
        KeySet::from_oidc_issuer(&idp.issuer(), fast_config()).await.unwrap(),
        KeySet::discover(&idp.issuer(), fast_config()).unwrap(),
    ] {
        let v = Verifier::builder().issuer(idp.issuer(), set).audience(AUD).build().unwrap();
        assert!(v.verify(&token(&idp, &key, "u")).await.is_ok());
    }
    // Each discovery: a 404 at the OpenID path, then the RFC 8414 document.
    assert_eq!(idp.discovery_requests(), 4);

    // The issuer check holds for the RFC 8414 document too.
    idp.set_issuer("https://evil.example");
    let err = KeySet::from_oidc_issuer(&idp.base_url(), fast_config()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
}

#[tokio::test]
async fn lazy_discovery_fetches_nothing_until_needed_then_finds_the_keys() {
    let key = TestKey::shared_rs256();
    let idp = idp_with(&[&key]).await;
    let set = KeySet::discover(&idp.issuer(), fast_config()).unwrap();
    let v = Verifier::builder().issuer(idp.issuer(), set).audience(AUD).build().unwrap();
    assert_eq!(idp.total_requests(), 0, "building touches no network");
    assert!(v.verify(&token(&idp, &key, "u")).await.is_ok());
    assert!(v.verify(&token(&idp, &key, "w")).await.is_ok());
    assert_eq!((idp.discovery_requests(), idp.jwks_requests()), (1, 1));

    // A document naming another issuer fails closed (503), never silently.
    let other = idp_with(&[&key]).await;
    other.set_issuer("https://evil.example");
    let set = KeySet::discover(&other.base_url(), fast_config()).unwrap();
    let v = Verifier::builder().issuer(other.base_url(), set).audience(AUD).build().unwrap();
    let err = v.verify(&key.token().claims(standard_claims(&other.base_url(), AUD, "u", 300)).sign()).await;
    assert_eq!(kind(err), ErrorKind::KeySourceUnavailable);
    assert_eq!(other.jwks_requests(), 0);
}

#[tokio::test]
async fn readiness_reports_keys_loaded() {
    let key = TestKey::shared_rs256();
    let idp = idp_with(&[&key]).await;
    let v = remote_verifier(&idp, fast_config());
    assert!(!v.is_ready());
    v.refresh_keys().await.unwrap();
    assert!(v.is_ready());
}
