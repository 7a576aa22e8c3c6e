//! J27, continued: Wycheproof vectors beyond the hs256/es256/rs256 JWS groups that
//! `jose.rs` replays.
//!
//! - The JWS file's `rs256` (RS256_2048), `rs384`, `rs512`, `ps256`, `ps384` and `ps512`
//!   groups (`tests/data/wycheproof_jws_rsa.json`), through the same JWS checks and key
//!   binding the verifier uses.
//! - ES384 and EdDSA have no JWS groups, so the `wycheproof` crate's ECDSA P-384/SHA-384
//!   vectors in IEEE P1363 form (JWS's fixed `r || s`) and Ed25519 vectors are replayed
//!   through the verifier's own key import (each group's public key as a JWK) and
//!   signature check. A vector cannot become a *valid* compact JWS, since a JWS signature
//!   covers `base64url(header).base64url(payload)` and not the vector's message; so each
//!   vector's signature also goes, as the signature of a compact JWS, through the public
//!   [`Verifier`], which must refuse it with the right error and never panic.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use wycheproof::TestResult;

use crate::algorithm::Algorithm;
use crate::error::ErrorKind;
use crate::jose::{Scratch, b64_decode, decode_jws};
use crate::jwks::{KeyTable, Lookup};
use crate::key::VerifyingKey;
use crate::{KeySet, Verifier};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The one key of a single-key JWKS, imported as the verifier imports keys.
fn key_from_jwk(jwk: &Value) -> std::sync::Arc<VerifyingKey> {
    let table = KeyTable::parse(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    match table.lookup(jwk["kid"].as_str()) {
        Lookup::Found(key) => key,
        _ => panic!("the JWK did not load: {jwk}"),
    }
}

#[test]
fn j27_wycheproof_rsa_and_pss_jws_groups_match() {
    let doc: Value = serde_json::from_str(include_str!("../tests/data/wycheproof_jws_rsa.json")).unwrap();
    let mut checked = BTreeMap::new();
    for group in doc["groups"].as_array().unwrap() {
        let key = key_from_jwk(&group["key"]);
        let group_alg = Algorithm::from_jose(group["key"]["alg"].as_str().unwrap()).unwrap();
        for case in group["tests"].as_array().unwrap() {
            let jws = case["jws"].as_str().unwrap();
            let id = format!("tcId {} {}", case["tcId"], case["comment"]);
            let verdict = decode_jws(jws, &mut Scratch::new())
                .map(|t| key.allows(t.alg) && key.verify(t.alg, t.signing_input.as_bytes(), t.signature));
            if case["comment"] == "emptyPayload" {
                // A JWS may have an empty payload; an access token may not, so the JWS
                // layer refuses it before any key is used. The signature itself is good.
                assert_eq!(verdict.unwrap_err().kind(), ErrorKind::MalformedToken, "{id}");
                let (input, signature) = jws.rsplit_once('.').unwrap();
                assert!(key.verify(group_alg, input.as_bytes(), &b64_decode(signature).unwrap()), "{id}");
            } else {
                assert_eq!(verdict.unwrap_or(false), case["result"] == "valid", "{id}");
            }
            *checked.entry(group_alg.as_str()).or_insert(0) += 1;
        }
    }
    let expected = [("PS256", 48), ("PS384", 5), ("PS512", 20), ("RS256", 5), ("RS384", 4), ("RS512", 4)];
    assert_eq!(checked, BTreeMap::from(expected));
}

/// A primitive vector: test id, message, signature, expected result.
type Vector = (usize, Vec<u8>, Vec<u8>, TestResult);

/// Replays one primitive vector set: the key through JWK import and `verify`, then the
/// signature through the public verifier as a compact JWS. Returns (vectors, acceptable).
async fn replay(alg: Algorithm, groups: Vec<(Value, Vec<Vector>)>) -> (usize, usize) {
    const ISS: &str = "https://wycheproof.example";
    let (mut vectors, mut acceptable) = (0, 0);
    for (jwk, tests) in groups {
        let key = key_from_jwk(&jwk);
        let verifier = Verifier::builder()
            .issuer(ISS, KeySet::from_jwks_json(&json!({ "keys": [jwk] }).to_string()).unwrap())
            .audience("api")
            .algorithms([alg])
            .clock(|| 1_700_000_000)
            .without_token_cache()
            .build()
            .unwrap();
        let header = b64(json!({ "alg": alg.as_str(), "kid": jwk["kid"] }).to_string().as_bytes());
        let payload =
            b64(json!({ "iss": ISS, "aud": "api", "sub": "u", "exp": 1_700_000_600 }).to_string().as_bytes());
        for (tc_id, msg, sig, result) in tests {
            let ok = key.allows(alg) && key.verify(alg, &msg, &sig);
            match result {
                TestResult::Valid => assert!(ok, "tcId {tc_id} must verify"),
                TestResult::Invalid => assert!(!ok, "tcId {tc_id} must not verify"),
                TestResult::Acceptable => acceptable += 1,
            }
            let token = format!("{header}.{payload}.{}", b64(&sig));
            let err = verifier.verify(&token).await.expect_err("a signature over another message");
            let expected =
                if sig.is_empty() { ErrorKind::MalformedToken } else { ErrorKind::InvalidSignature };
            assert_eq!(err.kind(), expected, "tcId {tc_id}");
            vectors += 1;
        }
    }
    (vectors, acceptable)
}

#[tokio::test]
async fn j27_wycheproof_es384_p1363_vectors_match_through_the_jwk_path() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let set = TestSet::load(TestName::EcdsaSecp384r1Sha384P1363).unwrap();
    let groups = set
        .test_groups
        .into_iter()
        .map(|group| {
            // Uncompressed SEC1 point: 0x04 || x || y, 48 bytes each.
            let point: &[u8] = &group.key.key;
            assert_eq!((point.len(), point[0]), (97, 4));
            let jwk = json!({ "kty": "EC", "crv": "P-384", "kid": "w", "x": b64(&point[1..49]), "y": b64(&point[49..]) });
            let tests = group.tests.into_iter().map(|t| (t.tc_id, t.msg.to_vec(), t.sig.to_vec(), t.result)).collect();
            (jwk, tests)
        })
        .collect();
    let (vectors, acceptable) = replay(Algorithm::ES384, groups).await;
    assert_eq!((vectors, acceptable), (280, 0));
}

#[tokio::test]
async fn j27_wycheproof_ed25519_vectors_match_through_the_jwk_path() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let groups = set
        .test_groups
        .into_iter()
        .map(|group| {
            let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "kid": "w", "x": b64(&group.key.pk) });
            let tests = group
                .tests
                .into_iter()
                .map(|t| (t.tc_id, t.msg.to_vec(), t.sig.to_vec(), t.result))
                .collect();
            (jwk, tests)
        })
        .collect();
    let (vectors, acceptable) = replay(Algorithm::EdDSA, groups).await;
    assert_eq!((vectors, acceptable), (151, 0));
}
