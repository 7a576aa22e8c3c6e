//! Verification benchmarks: the cost of a cold verify per algorithm against a bare
//! `jsonwebtoken::decode` with a pre-built key (measured in the same run so the ratio
//! is meaningful), a verified-token cache hit, and a key lookup.
//!
//! Run: `cargo bench -p authgate --bench verify`.

use std::hash::BuildHasher as _;
use std::hint::black_box;

use authgate::{Algorithm, KeySet, Verifier};
use authgate_testkit::{TestKey, jwks, standard_claims};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;

const ISS: &str = "https://id.example";
const AUD: &str = "trading-platform";
const DISTINCT: usize = 512;

fn tokens(key: &TestKey) -> Vec<String> {
    (0..DISTINCT)
        .map(|i| key.token().claims(standard_claims(ISS, AUD, &format!("user-{i}"), 3600)).sign())
        .collect()
}

fn verifier(key: &TestKey, cache: bool) -> Verifier {
    let alg = Algorithm::from_jose(key.alg()).expect("alg");
    let builder = Verifier::builder()
        .issuer(ISS, KeySet::from_jwks_json(&jwks(&[key]).to_string()).expect("jwks"))
        .audience(AUD)
        .algorithms([alg]);
    let builder = if cache { builder } else { builder.without_token_cache() };
    builder.build().expect("verifier")
}

/// Static key sets never wait, so the future completes on its first poll.
fn verify_now(v: &Verifier, token: &str) -> authgate::Principal {
    v.verify(token).now_or_never().expect("ready").expect("valid")
}

fn cold(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify_cold");
    for key in [TestKey::shared_rs256(), TestKey::es256(), TestKey::ed25519()] {
        let v = verifier(&key, false);
        let tokens = tokens(&key);
        let mut i = 0;
        group.bench_function(format!("authgate_{}", key.alg()), |b| {
            b.iter(|| {
                i = (i + 1) % DISTINCT;
                black_box(verify_now(&v, &tokens[i]))
            })
        });

        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk()).expect("jwk");
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key");
        let alg: jsonwebtoken::Algorithm = key.alg().parse().expect("alg");
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.set_audience(&[AUD]);
        validation.set_issuer(&[ISS]);
        group.bench_function(format!("jsonwebtoken_decode_{}", key.alg()), |b| {
            b.iter(|| {
                i = (i + 1) % DISTINCT;
                black_box(
                    jsonwebtoken::decode::<authgate::AccessClaims>(&tokens[i], &decoding, &validation)
                        .expect("valid"),
                )
            })
        });
    }
    group.finish();
}

fn cached(c: &mut Criterion) {
    let key = TestKey::shared_rs256();
    let v = verifier(&key, true);
    let token = &tokens(&key)[0];
    // Cached on its second verification.
    verify_now(&v, token);
    verify_now(&v, token);
    c.bench_function("verify_cache_hit_RS256", |b| b.iter(|| black_box(verify_now(&v, black_box(token)))));
}

fn key_lookup(c: &mut Criterion) {
    let keys: Vec<TestKey> = (0..8).map(|i| TestKey::es256().with_kid(format!("key-{i}"))).collect();
    let refs: Vec<&TestKey> = keys.iter().collect();
    let set = KeySet::from_jwks_json(&jwks(&refs).to_string()).expect("jwks");
    c.bench_function("key_lookup_8_keys", |b| b.iter(|| black_box(set.has_kid(black_box("key-5")))));
}

/// The parts of a cache hit, to see where its time goes.
fn cache_hit_parts(c: &mut Criterion) {
    let key = TestKey::shared_rs256();
    let token = tokens(&key).swap_remove(0);
    // The cache key, old and new side by side: a SHA-256 of the token, against a keyed
    // SipHash-1-3 of it plus the constant-time comparison of the whole token on a hit.
    c.bench_function("part_sha256_token", |b| {
        b.iter(|| {
            black_box(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, black_box(token.as_bytes())))
        })
    });
    let keyed = std::collections::hash_map::RandomState::new();
    c.bench_function("part_siphash13_token", |b| {
        b.iter(|| black_box(keyed.hash_one(black_box(token.as_bytes()))))
    });
    let stored: Box<[u8]> = token.as_bytes().into();
    c.bench_function("part_siphash13_token_and_ct_eq", |b| {
        b.iter(|| {
            let presented = black_box(token.as_bytes());
            black_box(keyed.hash_one(presented));
            black_box(aws_lc_rs::constant_time::verify_slices_are_equal(&stored, presented).is_ok())
        })
    });
    // The two constant-time comparisons in the tree.
    c.bench_function("part_ct_eq_subtle", |b| {
        b.iter(|| black_box(bool::from(subtle::ConstantTimeEq::ct_eq(&*stored, black_box(token.as_bytes())))))
    });
    c.bench_function("part_ct_eq_aws_lc", |b| {
        b.iter(|| {
            black_box(
                aws_lc_rs::constant_time::verify_slices_are_equal(&stored, black_box(token.as_bytes()))
                    .is_ok(),
            )
        })
    });
    let cache: moka::sync::Cache<[u8; 32], std::sync::Arc<u64>> = moka::sync::Cache::new(10_000);
    cache.insert([7; 32], std::sync::Arc::new(1));
    c.bench_function("part_moka_get", |b| b.iter(|| black_box(cache.get(black_box(&[7; 32])))));
    c.bench_function("part_system_time_now", |b| b.iter(|| black_box(std::time::SystemTime::now())));
}

criterion_group!(benches, cold, cached, key_lookup, cache_hit_parts);
criterion_main!(benches);
