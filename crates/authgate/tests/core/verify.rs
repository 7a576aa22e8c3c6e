//! J-cases: what the verifier accepts and refuses.

use std::time::Duration;

use authgate::{Algorithm, ErrorKind, Issuer, KeySet, Verifier};
use authgate_testkit::{MockJwksServer, TestKey, jwks, malformed, now, standard_claims};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::helpers::{AUD, ISS, good, kind, verifier};

const ALL_ASYM: [Algorithm; 5] =
    [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA];

#[tokio::test]
async fn j01_valid_tokens_of_every_algorithm_are_accepted() {
    let keys = [
        TestKey::shared_rs256(),
        TestKey::rsa(2048, "PS256"),
        TestKey::es256(),
        TestKey::es384(),
        TestKey::ed25519(),
    ];
    let refs: Vec<&TestKey> = keys.iter().collect();
    let v = verifier(&refs, &ALL_ASYM);
    for key in &keys {
        let user = v.verify(&good(key).sign()).await.unwrap_or_else(|e| panic!("{}: {e}", key.alg()));
        assert_eq!(user.user_id(), "user-1");
        assert_eq!(user.issuer(), Some(ISS));
    }
}

#[tokio::test]
async fn j01_tokens_verify_identically_with_jsonwebtoken() {
    // Interop: what we accept, a standard library accepts too (and vice versa).
    let key = TestKey::shared_rs256();
    let token = good(&key).sign();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[AUD]);
    validation.set_issuer(&[ISS]);
    let decoded = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(decoded.claims["sub"], "user-1");
    assert!(verifier(&[&key], &[Algorithm::RS256]).verify(&token).await.is_ok());
}

#[tokio::test]
async fn j02_alg_none_in_any_spelling_or_type_is_rejected() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    for alg in
        [json!("none"), json!("None"), json!("NONE"), json!("nOnE"), json!(null), json!(""), json!(["RS256"])]
    {
        let token = good(&key).header("alg", alg.clone()).sign();
        assert_eq!(kind(v.verify(&token).await), ErrorKind::AlgorithmNotAllowed, "{alg}");
        let unsigned = good(&key).header("alg", alg.clone()).unsigned();
        assert!(v.verify(&unsigned).await.is_err(), "{alg}");
    }
    let missing = good(&key).remove_header("alg").sign();
    assert_eq!(kind(v.verify(&missing).await), ErrorKind::AlgorithmNotAllowed);
}

#[tokio::test]
async fn j03_stripped_signature_is_rejected() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    let token = good(&key).sign();
    assert_eq!(kind(v.verify(&malformed::strip_signature(&token)).await), ErrorKind::MalformedToken);
    assert_eq!(kind(v.verify(&malformed::drop_signature_segment(&token)).await), ErrorKind::MalformedToken);
}

#[tokio::test]
async fn j04_hs256_signed_with_the_rsa_public_key_is_rejected() {
    let rsa = TestKey::shared_rs256();
    let modulus = URL_SAFE_NO_PAD.decode(rsa.jwk()["n"].as_str().unwrap()).unwrap();
    let secrets: [Vec<u8>; 4] = [
        rsa.public_key_pem().into_bytes(),
        rsa.public_key_der(),
        rsa.rsa_public_key_pkcs1_der().unwrap(),
        modulus,
    ];
    // Even a verifier that (unwisely) allows HS256 next to RS256 must refuse: the key
    // in the set is RSA, and HMAC keys never come from a JWKS.
    for algs in [vec![Algorithm::RS256], vec![Algorithm::RS256, Algorithm::HS256]] {
        let v = verifier(&[&rsa], &algs);
        for secret in &secrets {
            let forged = TestKey::hmac("HS256", secret).with_kid(rsa.kid());
            let token = good(&forged).sign();
            assert_eq!(kind(v.verify(&token).await), ErrorKind::AlgorithmNotAllowed);
        }
    }
    let set_with_oct =
        KeySet::from_jwks_json(&jwks(&[&TestKey::hmac("HS256", &[1; 32])]).to_string()).unwrap();
    assert!(set_with_oct.is_empty(), "oct keys are never taken from a JWKS");
}

#[tokio::test]
async fn j05_algorithm_outside_the_allow_list_or_not_matching_the_key_is_rejected() {
    let ec = TestKey::es256();
    let rsa = TestKey::shared_rs256();
    // Right key, algorithm not allowed.
    let only_rs = verifier(&[&ec, &rsa], &[Algorithm::RS256]);
    assert_eq!(kind(only_rs.verify(&good(&ec).sign()).await), ErrorKind::AlgorithmNotAllowed);
    let ps = rsa.clone().with_alg("PS256");
    assert_eq!(kind(only_rs.verify(&good(&ps).sign()).await), ErrorKind::AlgorithmNotAllowed);
    // Allowed algorithm, wrong curve for the key: ES384 header on a P-256 key.
    let both = verifier(&[&ec], &[Algorithm::ES256, Algorithm::ES384]);
    let lying = good(&ec).header("alg", "ES384").sign();
    assert_eq!(kind(both.verify(&lying).await), ErrorKind::AlgorithmNotAllowed);
    // A JWK that pins RS256 refuses PS256 even though both are RSA.
    let pinned = verifier(&[&rsa], &[Algorithm::RS256, Algorithm::PS256]);
    assert_eq!(kind(pinned.verify(&good(&ps).sign()).await), ErrorKind::AlgorithmNotAllowed);
}

#[tokio::test]
async fn j06_j07_embedded_or_remote_key_references_are_rejected_without_any_request() {
    let key = TestKey::shared_rs256();
    let attacker = TestKey::es256();
    let bait = MockJwksServer::start().await;
    bait.set_keys(&[&attacker]);
    let v = verifier(&[&key], &[Algorithm::RS256, Algorithm::ES256]);
    let cases = [
        good(&attacker).header("jwk", attacker.jwk()).sign(),
        good(&attacker).header("jku", bait.jwks_url()).sign(),
        good(&attacker).header("x5u", bait.jwks_url()).sign(),
        good(&attacker).header("x5c", json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"])).sign(),
    ];
    for token in cases {
        assert_eq!(kind(v.verify(&token).await), ErrorKind::UnsupportedHeader);
    }
    assert_eq!(bait.total_requests(), 0, "no request may ever be made to a URL from a token");
}

#[tokio::test]
async fn j08_hostile_kids_are_rejected_and_never_leave_the_key_set() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key, &TestKey::es256()], &[Algorithm::RS256]);
    let long = "k".repeat(10 * 1024);
    for kid in [
        json!("../../dev/null"),
        json!("' OR 1=1 --"),
        json!("$(rm -rf /)"),
        json!(long),
        json!(42),
        json!(null),
    ] {
        let token = good(&key).header("kid", kid.clone()).sign();
        let err = kind(v.verify(&token).await);
        assert!(
            matches!(err, ErrorKind::UnknownKey | ErrorKind::MalformedToken | ErrorKind::TokenTooLarge),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn j09_missing_kid_with_several_keys_is_rejected() {
    let a = TestKey::shared_rs256();
    let b = TestKey::rs256();
    let v = verifier(&[&a, &b], &[Algorithm::RS256]);
    let token = good(&a).remove_header("kid").sign();
    assert_eq!(kind(v.verify(&token).await), ErrorKind::UnknownKey);
    // With a single key in the set, a token without kid is fine.
    assert!(verifier(&[&a], &[Algorithm::RS256]).verify(&token).await.is_ok());
}

#[tokio::test]
async fn j10_j11_psychic_der_and_wrong_length_ecdsa_signatures_are_rejected() {
    let key = TestKey::es256();
    let v = verifier(&[&key], &[Algorithm::ES256]);
    let token = good(&key).sign();
    let signing_input = &token[..token.rfind('.').unwrap()];
    let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let sig = URL_SAFE_NO_PAD.decode(&token[token.rfind('.').unwrap() + 1..]).unwrap();
    let der = to_der(&sig);
    let mut truncated = sig.clone();
    truncated.pop();
    let mut long = sig.clone();
    long.push(0);
    let r_s_n = [n.clone(), n].concat();
    for bad in [vec![0u8; 64], r_s_n, der, truncated, long] {
        let forged = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&bad));
        assert_eq!(kind(v.verify(&forged).await), ErrorKind::InvalidSignature);
    }
    assert!(v.verify(&token).await.is_ok());
}

#[tokio::test]
async fn j12_crit_is_rejected_even_empty() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    for crit in [json!([]), json!(["exp"]), json!(["b64"])] {
        assert_eq!(
            kind(v.verify(&good(&key).header("crit", crit).sign()).await),
            ErrorKind::UnsupportedHeader
        );
    }
}

#[tokio::test]
async fn j13_tokens_of_other_types_are_rejected() {
    let key = TestKey::shared_rs256();
    let lenient = verifier(&[&key], &[Algorithm::RS256]);
    for typ in ["mfa+jwt", "reset+jwt", "JOSE", "id_token"] {
        assert_eq!(
            kind(lenient.verify(&good(&key).header("typ", typ).sign()).await),
            ErrorKind::InvalidType,
            "{typ}"
        );
    }
    assert!(lenient.verify(&good(&key).header("typ", "JWT").sign()).await.is_ok());
    assert!(lenient.verify(&good(&key).remove_header("typ").sign()).await.is_ok());

    let strict = Verifier::builder()
        .issuer(ISS, KeySet::from_jwks_json(&jwks(&[&key]).to_string()).unwrap())
        .audience(AUD)
        .require_at_jwt()
        .build()
        .unwrap();
    assert!(strict.verify(&good(&key).sign()).await.is_ok());
    assert!(strict.verify(&good(&key).header("typ", "application/at+jwt").sign()).await.is_ok());
    assert_eq!(kind(strict.verify(&good(&key).header("typ", "JWT").sign()).await), ErrorKind::InvalidType);
    assert_eq!(kind(strict.verify(&good(&key).remove_header("typ").sign()).await), ErrorKind::InvalidType);
}

#[tokio::test]
async fn j14_nested_tokens_and_non_object_payloads_are_rejected() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    assert_eq!(kind(v.verify(&good(&key).header("cty", "JWT").sign()).await), ErrorKind::UnsupportedHeader);
    for payload in [&b"[]"[..], b"\"eyJ\"", b"42", b"null"] {
        let token = key.token().raw_payload(payload.to_vec()).sign();
        assert_eq!(kind(v.verify(&token).await), ErrorKind::MalformedToken);
    }
}

#[tokio::test]
async fn j15_jwe_and_other_segment_counts_are_rejected() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    let token = good(&key).sign();
    for n in [1, 2, 4, 5] {
        assert_eq!(
            kind(v.verify(&malformed::with_segments(&token, n)).await),
            ErrorKind::MalformedToken,
            "{n}"
        );
    }
    let json_serialization =
        json!({"payload": "e30", "signatures": [{"protected": "e30", "signature": "AA"}]});
    assert_eq!(kind(v.verify(&json_serialization.to_string()).await), ErrorKind::MalformedToken);
}

fn clocked(key: &TestKey, now: u64, leeway: u64) -> Verifier {
    Verifier::builder()
        .issuer(ISS, KeySet::from_jwks_json(&jwks(&[key]).to_string()).unwrap())
        .audience(AUD)
        .leeway(Duration::from_secs(leeway))
        .clock(move || now)
        .build()
        .unwrap()
}

#[tokio::test]
async fn j16_expiry_respects_the_leeway_exactly() {
    let key = TestKey::shared_rs256();
    let t = 1_800_000_000;
    let l = 60;
    let v = clocked(&key, t, l);
    let at = |exp: u64| good(&key).claim("exp", exp).claim("iat", t - 600).claim("nbf", t - 600).sign();
    assert_eq!(kind(v.verify(&at(t - l - 60)).await), ErrorKind::Expired);
    assert!(v.verify(&at(t + 30)).await.is_ok());
    assert!(v.verify(&at(t - l / 2)).await.is_ok());
}

#[tokio::test]
async fn j17_exp_missing_or_of_the_wrong_type_is_rejected() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    assert_eq!(kind(v.verify(&good(&key).remove_claim("exp").sign()).await), ErrorKind::InvalidClaims);
    for exp in [
        json!("999"),
        json!(true),
        json!(-1),
        json!(1e20),
        json!(now() as f64 + 60.5),
        json!(null),
        json!([1]),
    ] {
        assert_eq!(
            kind(v.verify(&good(&key).claim("exp", exp.clone()).sign()).await),
            ErrorKind::InvalidClaims,
            "{exp}"
        );
    }
}

#[tokio::test]
async fn j18_nbf_or_iat_in_the_future_or_of_the_wrong_type_is_rejected() {
    let key = TestKey::shared_rs256();
    let t = 1_800_000_000;
    let v = clocked(&key, t, 60);
    let base = || good(&key).claim("exp", t + 300).claim("iat", t).claim("nbf", t);
    assert_eq!(kind(v.verify(&base().claim("nbf", t + 120).sign()).await), ErrorKind::NotYetValid);
    assert_eq!(kind(v.verify(&base().claim("iat", t + 120).sign()).await), ErrorKind::NotYetValid);
    assert!(v.verify(&base().claim("nbf", t + 30).sign()).await.is_ok());
    for bad in [json!("0"), json!(false), json!(-5)] {
        assert_eq!(kind(v.verify(&base().claim("nbf", bad.clone()).sign()).await), ErrorKind::InvalidClaims);
        assert_eq!(kind(v.verify(&base().claim("iat", bad).sign()).await), ErrorKind::InvalidClaims);
    }
}

#[tokio::test]
async fn j20_audience_as_string_or_array_containing_ours_only() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    for ok in [json!(AUD), json!([AUD]), json!(["other", AUD])] {
        assert!(v.verify(&good(&key).claim("aud", ok.clone()).sign()).await.is_ok(), "{ok}");
    }
    for bad in [json!(["x"]), json!([]), json!("Trading-Platform"), json!(7), json!([AUD, 7]), json!(null)] {
        assert_eq!(
            kind(v.verify(&good(&key).claim("aud", bad.clone()).sign()).await),
            ErrorKind::InvalidAudience,
            "{bad}"
        );
    }
    assert_eq!(kind(v.verify(&good(&key).remove_claim("aud").sign()).await), ErrorKind::InvalidAudience);
}

#[tokio::test]
async fn j21_issuer_differing_in_any_way_is_rejected() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    for bad in [json!(format!("{ISS}/")), json!(ISS.to_uppercase()), json!([ISS]), json!(1), json!(null)] {
        assert_eq!(
            kind(v.verify(&good(&key).claim("iss", bad.clone()).sign()).await),
            ErrorKind::InvalidIssuer,
            "{bad}"
        );
    }
    assert_eq!(kind(v.verify(&good(&key).remove_claim("iss").sign()).await), ErrorKind::InvalidIssuer);
}

#[tokio::test]
async fn j22_duplicate_members_in_header_or_payload_are_rejected() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    let kid = key.kid().to_owned();
    let header = format!(r#"{{"alg":"RS256","kid":"{kid}","kid":"other"}}"#);
    assert_eq!(
        kind(v.verify(&key.token().raw_header(header.into_bytes()).sign()).await),
        ErrorKind::MalformedToken
    );
    let claims = standard_claims(ISS, AUD, "user-1", 300).to_string();
    let doubled = format!(r#"{}, "sub":"admin"}}"#, claims.trim_end_matches('}'));
    assert_eq!(
        kind(v.verify(&key.token().raw_payload(doubled.into_bytes()).sign()).await),
        ErrorKind::MalformedToken
    );
}

#[tokio::test]
async fn j23_invalid_utf8_lone_surrogates_and_bom_are_rejected() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    let claims = standard_claims(ISS, AUD, "user-1", 300).to_string();
    let bad_payloads: [Vec<u8>; 3] = [
        claims.replace("user-1", "user-\u{1}").replace('\u{1}', "\\ud800").into_bytes(),
        [b"\xef\xbb\xbf".as_slice(), claims.as_bytes()].concat(),
        claims
            .replacen("user-1", "user-\u{7f}", 1)
            .into_bytes()
            .into_iter()
            .map(|b| if b == 0x7f { 0xff } else { b })
            .collect(),
    ];
    for payload in bad_payloads {
        assert_eq!(kind(v.verify(&key.token().raw_payload(payload).sign()).await), ErrorKind::MalformedToken);
    }
}

#[tokio::test]
async fn j24_non_canonical_base64url_is_rejected() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    let token = good(&key).sign();
    let parts: Vec<&str> = token.split('.').collect();
    let trailing = format!("{}.{}.{}", parts[0], parts[1], malformed::non_canonical_trailing_bits(parts[2]));
    for bad in [
        malformed::padded(&token),
        malformed::std_base64_chars(&token),
        malformed::with_space(&token),
        trailing,
    ] {
        assert_eq!(kind(v.verify(&bad).await), ErrorKind::MalformedToken, "{bad}");
    }
}

#[tokio::test]
async fn j25_oversized_and_deeply_nested_tokens_are_rejected_fast() {
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    let big = good(&key).claim("pad", "x".repeat(9 * 1024)).sign();
    assert_eq!(kind(v.verify(&big).await), ErrorKind::TokenTooLarge);
    let huge = format!("{}.e30.AA", "A".repeat(1 << 20));
    assert_eq!(kind(v.verify(&huge).await), ErrorKind::TokenTooLarge);
    let nested = (0..64).fold(json!(1), |acc, _| json!([acc]));
    assert_eq!(kind(v.verify(&good(&key).claim("deep", nested).sign()).await), ErrorKind::MalformedToken);
}

#[tokio::test]
async fn j28_short_or_empty_hmac_secrets_are_a_startup_error() {
    for secret in [&b""[..], b"secret", &[0u8; 31]] {
        assert_eq!(KeySet::from_hmac_secret(secret).unwrap_err().kind(), ErrorKind::Configuration);
    }
    let secret = [9u8; 32];
    let v = Verifier::builder()
        .issuer(ISS, KeySet::from_hmac_secret(&secret).unwrap())
        .audience(AUD)
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap();
    let hs = TestKey::hmac("HS256", &secret);
    assert!(v.verify(&good(&hs).sign()).await.is_ok());
}

#[tokio::test]
async fn j30_valid_signature_from_a_key_not_in_the_set_is_rejected() {
    let trusted = TestKey::shared_rs256();
    let stranger = TestKey::rs256();
    let v = verifier(&[&trusted], &[Algorithm::RS256]);
    assert_eq!(kind(v.verify(&good(&stranger).sign()).await), ErrorKind::UnknownKey);
    let impostor = stranger.clone().with_kid(trusted.kid());
    assert_eq!(kind(v.verify(&good(&impostor).sign()).await), ErrorKind::InvalidSignature);
}

#[tokio::test]
async fn j31_a_token_from_another_issuer_sharing_the_key_set_is_rejected() {
    let shared = TestKey::shared_rs256();
    let partner = TestKey::es256();
    let set = || KeySet::from_jwks_json(&jwks(&[&shared]).to_string()).unwrap();
    let v = Verifier::builder()
        .issuer(ISS, set())
        .add_issuer(
            Issuer::new(
                "https://partner.example",
                KeySet::from_jwks_json(&jwks(&[&partner]).to_string()).unwrap(),
            )
            .audiences(["partner-api"])
            .algorithms([Algorithm::ES256]),
        )
        .audience(AUD)
        .build()
        .unwrap();
    let other_iss = shared.token().claims(standard_claims("https://other.example", AUD, "u", 300)).sign();
    assert_eq!(kind(v.verify(&other_iss).await), ErrorKind::InvalidIssuer);
    // The partner's token verifies only with the partner's key and rules.
    let partner_ok =
        partner.token().claims(standard_claims("https://partner.example", "partner-api", "p1", 300)).sign();
    assert_eq!(v.verify(&partner_ok).await.unwrap().user_id(), "p1");
    let wrong_key =
        shared.token().claims(standard_claims("https://partner.example", "partner-api", "p1", 300)).sign();
    assert_eq!(kind(v.verify(&wrong_key).await), ErrorKind::AlgorithmNotAllowed);
    let wrong_aud = partner.token().claims(standard_claims("https://partner.example", AUD, "p1", 300)).sign();
    assert_eq!(kind(v.verify(&wrong_aud).await), ErrorKind::InvalidAudience);
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn unknown_issuer_is_rejected_without_any_network_call() {
    let idp = MockJwksServer::start().await;
    let key = TestKey::shared_rs256();
    idp.set_keys(&[&key]);
    let v = Verifier::builder()
        .issuer(idp.issuer(), KeySet::from_jwks_url(&idp.jwks_url()).unwrap())
        .audience(AUD)
        .build()
        .unwrap();
    let token = key.token().claims(standard_claims("https://unknown.example", AUD, "u", 300)).sign();
    assert_eq!(kind(v.verify(&token).await), ErrorKind::InvalidIssuer);
    assert_eq!(idp.total_requests(), 0);
}

#[tokio::test]
async fn custom_claims_and_principal_fields_are_exposed() {
    #[derive(serde::Deserialize)]
    struct Custom {
        tier: String,
        accounts: Vec<u32>,
    }
    let key = TestKey::shared_rs256();
    let v = verifier(&[&key], &[Algorithm::RS256]);
    let token = good(&key)
        .claim("email", "a@example.com")
        .claim("roles", json!(["user"]))
        .claim("permissions", json!(["alerts:*"]))
        .claim("scope", "read write")
        .claim("sid", "s-1")
        .claim("tier", "gold")
        .claim("accounts", json!([1, 2]))
        .sign();
    let p = v.verify(&token).await.unwrap();
    assert_eq!(p.email(), Some("a@example.com"));
    assert_eq!(p.roles(), ["user"]);
    assert!(p.has_permission("alerts:write"));
    assert_eq!(p.scopes(), ["read", "write"]);
    assert_eq!(p.session_id(), Some("s-1"));
    assert_eq!(p.auth_method(), authgate::AuthMethod::Jwt);
    assert!(p.expires_at().is_some());
    let custom: Custom = p.claims_as().unwrap();
    assert_eq!((custom.tier.as_str(), custom.accounts), ("gold", vec![1, 2]));
    let direct: Custom = v.verify_claims(&token).await.unwrap();
    assert_eq!(direct.tier, "gold");
    // A claim of the wrong type in the typed set is a 401, not a silent default.
    assert_eq!(kind(v.verify(&good(&key).claim("roles", "admin").sign()).await), ErrorKind::InvalidClaims);
    assert_eq!(kind(v.verify(&good(&key).remove_claim("sub").sign()).await), ErrorKind::InvalidClaims);
}

#[tokio::test]
async fn token_cache_never_outlives_the_token() {
    let key = TestKey::shared_rs256();
    let clock = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1_800_000_000));
    let c = clock.clone();
    let v = Verifier::builder()
        .issuer(ISS, KeySet::from_jwks_json(&jwks(&[&key]).to_string()).unwrap())
        .audience(AUD)
        .leeway(Duration::from_secs(10))
        .clock(move || c.load(std::sync::atomic::Ordering::SeqCst))
        .build()
        .unwrap();
    let t = clock.load(std::sync::atomic::Ordering::SeqCst);
    let token = good(&key).claim("iat", t).claim("nbf", t).claim("exp", t + 60).sign();
    // Cached on its second verification.
    assert!(v.verify(&token).await.is_ok());
    assert!(v.verify(&token).await.is_ok());
    assert!(v.verify(&token).await.is_ok(), "cached");
    clock.store(t + 71, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(kind(v.verify(&token).await), ErrorKind::Expired);
}

#[tokio::test]
async fn static_pem_and_der_keys_verify_tokens() {
    for key in [TestKey::shared_rs256(), TestKey::es256(), TestKey::es384(), TestKey::ed25519()] {
        let alg = Algorithm::from_jose(key.alg()).unwrap();
        for set in [
            KeySet::from_pem(&key.public_key_pem(), None).unwrap(),
            KeySet::from_der(&key.public_key_der(), Some(key.kid())).unwrap(),
        ] {
            let v = Verifier::builder().issuer(ISS, set).audience(AUD).algorithms([alg]).build().unwrap();
            assert!(v.verify(&good(&key).sign()).await.is_ok(), "{}", key.alg());
        }
    }
    assert!(KeySet::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", None).is_err());
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Re-encodes a fixed r||s ECDSA signature as ASN.1 DER (what JWS forbids).
fn to_der(sig: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let mut v = b.iter().copied().skip_while(|x| *x == 0).collect::<Vec<u8>>();
        if v.first().is_some_and(|x| x & 0x80 != 0) {
            v.insert(0, 0);
        }
        [vec![0x02, v.len() as u8], v].concat()
    };
    let (r, s) = sig.split_at(sig.len() / 2);
    let body = [int(r), int(s)].concat();
    [vec![0x30, body.len() as u8], body].concat()
}
