//! What the core records through the `metrics` facade: verifications by outcome and
//! method, cache hits and misses, verify latency.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use authgate::Algorithm;
use authgate::metric_names::{AUTH_FAILURES, TOKEN_CACHE, VERIFICATIONS, VERIFY_SECONDS};
use authgate_testkit::TestKey;
use futures_util::FutureExt as _;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

use crate::helpers::{good, verifier};

/// Sums counters and counts histogram samples, by name and sorted labels.
#[derive(Default, Clone)]
struct Tally(Arc<Mutex<HashMap<String, u64>>>);

struct Handle(String, Tally);

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self.1.0.lock().unwrap().entry(self.0.clone()).or_default() += value;
    }
    fn absolute(&self, _value: u64) {}
}

impl HistogramFn for Handle {
    fn record(&self, _value: f64) {
        *self.1.0.lock().unwrap().entry(self.0.clone()).or_default() += 1;
    }
}

fn name(key: &Key) -> String {
    let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for Tally {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Handle(name(key), self.clone())))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Handle(name(key), self.clone())))
    }
}

/// What one token verified three times (cached on its second sighting, so the third is a
/// hit) and one expired token leave, however they were asked for.
fn assert_three_verified_then_one_expired(tally: &Tally) {
    let seen = tally.0.lock().unwrap().clone();
    let get = |k: &str| seen.get(k).copied().unwrap_or(0);
    assert_eq!(get(&format!("{VERIFICATIONS}{{method=jwt,outcome=ok}}")), 3, "{seen:?}");
    assert_eq!(get(&format!("{VERIFICATIONS}{{method=jwt,outcome=expired}}")), 1, "{seen:?}");
    assert_eq!(get(&format!("{AUTH_FAILURES}{{reason=expired}}")), 1, "{seen:?}");
    assert_eq!(get(&format!("{TOKEN_CACHE}{{result=hit}}")), 1, "{seen:?}");
    assert_eq!(get(&format!("{TOKEN_CACHE}{{result=miss}}")), 3, "{seen:?}");
    assert_eq!(get(&format!("{VERIFY_SECONDS}{{method=jwt}}")), 3, "the hit is counted, not timed: {seen:?}");
}

#[test]
fn verifications_cache_results_and_latency_are_recorded() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    let token = good(&key).sign();
    let expired = good(&key).claim("exp", 1000).sign();
    let tally = Tally::default();
    metrics::with_local_recorder(&tally, || {
        // Verified twice (cached on the second sighting), then a hit.
        for t in [&token, &token, &token, &expired] {
            let _ = v.verify(t).now_or_never().expect("static keys never wait");
        }
    });
    assert_three_verified_then_one_expired(&tally);
}

#[test]
fn answers_from_the_cache_without_waiting_are_counted_like_verify() {
    let key = TestKey::shared_rs256();
    let auth = authgate::Authenticator::jwt(verifier(&[&key], &[Algorithm::RS256]));
    let token = good(&key).sign();
    let credentials = authgate::Credentials::builder().bearer(token.as_str()).build();
    let tally = Tally::default();
    metrics::with_local_recorder(&tally, || {
        assert!(auth.authenticate_cached(&credentials).is_none(), "not verified yet");
        // Cached on its second verification.
        for _ in 0..2 {
            let verified = auth.authenticate_credentials(credentials.clone()).now_or_never();
            assert!(matches!(verified, Some(Ok(Some(_)))), "static keys never wait");
        }
        let cached = auth.authenticate_cached(&credentials).expect("now in the cache");
        assert_eq!(cached.user_id(), "user-1");
    });
    let seen = tally.0.lock().unwrap().clone();
    let get = |k: &str| seen.get(k).copied().unwrap_or(0);
    assert_eq!(get(&format!("{VERIFICATIONS}{{method=jwt,outcome=ok}}")), 3, "{seen:?}");
    assert_eq!(get(&format!("{TOKEN_CACHE}{{result=hit}}")), 1, "{seen:?}");
    assert_eq!(get(&format!("{TOKEN_CACHE}{{result=miss}}")), 2, "the first look is not counted: {seen:?}");
    assert_eq!(get(&format!("{VERIFY_SECONDS}{{method=jwt}}")), 2, "the hit is counted, not timed: {seen:?}");
}

/// `attempt` verifies a token whose key is at hand there and then; it must count and
/// time exactly as `Verifier::verify` does (compare the first test).
#[test]
fn tokens_decided_by_attempt_are_counted_like_verify() {
    let key = TestKey::shared_rs256();
    let auth = authgate::Authenticator::jwt(verifier(&[&key], &[Algorithm::RS256]));
    let request = |token: String| {
        http::Request::get("/").header("authorization", format!("Bearer {token}")).body(()).unwrap()
    };
    let fresh = request(good(&key).sign());
    let expired = request(good(&key).claim("exp", 1000).sign());
    let tally = Tally::default();
    metrics::with_local_recorder(&tally, || {
        // Verified twice (cached on the second sighting), then a hit; all decided at once.
        for _ in 0..3 {
            assert!(matches!(auth.attempt(&fresh), Ok(authgate::Attempt::Decided(Some(_)))));
        }
        assert_eq!(
            auth.attempt(&expired).map(|_| ()).map_err(|e| e.kind()),
            Err(authgate::ErrorKind::Expired)
        );
    });
    assert_three_verified_then_one_expired(&tally);
}

/// A token whose key set must be fetched first is left pending by `attempt`, which
/// counts nothing; the full path then counts it once.
#[cfg(feature = "remote")]
#[test]
fn a_token_left_pending_for_its_key_is_counted_once() {
    let key = TestKey::shared_rs256();
    let tally = Tally::default();
    metrics::with_local_recorder(&tally, || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let idp = authgate_testkit::MockJwksServer::start().await;
            idp.set_keys(&[&key]);
            let set =
                authgate::KeySet::from_jwks_url_with(&idp.jwks_url(), crate::helpers::fast_config()).unwrap();
            let verifier = authgate::Verifier::builder()
                .issuer(idp.issuer(), set)
                .audience(crate::helpers::AUD)
                .build()
                .unwrap();
            let auth = authgate::Authenticator::jwt(verifier);
            let claims = authgate_testkit::standard_claims(&idp.issuer(), crate::helpers::AUD, "u1", 300);
            let token = key.token().claims(claims).sign();
            let req =
                http::Request::get("/").header("authorization", format!("Bearer {token}")).body(()).unwrap();
            let Ok(authgate::Attempt::Pending(credentials)) = auth.attempt(&req) else {
                panic!("the key set is not fetched yet: pending");
            };
            let user = auth.authenticate_credentials(credentials).await.unwrap().unwrap();
            assert_eq!(user.user_id(), "u1");
        });
    });
    let seen = tally.0.lock().unwrap().clone();
    let get = |k: &str| seen.get(k).copied().unwrap_or(0);
    assert_eq!(get(&format!("{VERIFICATIONS}{{method=jwt,outcome=ok}}")), 1, "{seen:?}");
    assert_eq!(get(&format!("{TOKEN_CACHE}{{result=miss}}")), 1, "{seen:?}");
    assert_eq!(get(&format!("{VERIFY_SECONDS}{{method=jwt}}")), 1, "{seen:?}");
}

/// Many users, each repeating a token: after two sightings each is answered from the
/// cache, as `authgate_token_cache_total` shows, however their hashes happen to fall.
#[test]
fn a_repeated_working_set_is_answered_from_the_cache_after_two_sightings() {
    let key = TestKey::shared_rs256();
    let set = authgate::KeySet::from_jwks_json(&authgate_testkit::jwks(&[&key]).to_string()).unwrap();
    let mut cache = authgate::TokenCacheConfig::default();
    cache.max_entries = 1_000;
    let v = authgate::Verifier::builder()
        .issuer(crate::helpers::ISS, set)
        .audience(crate::helpers::AUD)
        .token_cache(cache)
        .build()
        .unwrap();
    // 500 users: half of the cache's entries.
    let tokens: Vec<String> = (0..500).map(|i| good(&key).claim("sub", format!("user-{i}")).sign()).collect();
    let misses_per_round: Vec<u64> = (0..4)
        .map(|_| {
            let tally = Tally::default();
            metrics::with_local_recorder(&tally, || {
                for (i, token) in tokens.iter().enumerate() {
                    let user = v.verify(token).now_or_never().expect("static keys never wait").unwrap();
                    assert_eq!(user.user_id(), format!("user-{i}"));
                }
            });
            let seen = tally.0.lock().unwrap().clone();
            seen.get(&format!("{TOKEN_CACHE}{{result=miss}}")).copied().unwrap_or(0)
        })
        .collect();
    assert!(
        misses_per_round[..2].iter().all(|&m| m >= 475),
        "first and second sightings: {misses_per_round:?}"
    );
    assert!(misses_per_round[2..].iter().all(|&m| m <= 25), "then hits: {misses_per_round:?}");
}
