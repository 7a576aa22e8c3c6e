//! Cold RS256 verification: authgate (token cache off, so every call checks the
//! signature) against a bare `jsonwebtoken::decode` with a pre-built key, interleaved in
//! one process. Each round times a block of each; the fastest block per side counts, since
//! background load only ever slows a block down. Prints both and their ratio.
//!
//! ```text
//! cargo run --release -p authgate --example verify_loop [rounds] [block] [kids]
//! ```
//!
//! `kids` (default 1) signs the tokens in turn under that many key ids of the same RSA
//! key, as during a key rotation: the signature costs the same, only the headers differ.
//!
//! Each side's call is a function of its own that is never inlined, so callgrind can
//! count one side alone, whatever the optimizer does inside it:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*verify_loop*authgate_once*' \
//!     target/release/examples/verify_loop 2 500   # Ir / 1000 = instructions per verify
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use authgate::{KeySet, Verifier};
use authgate_testkit::{TestKey, jwks, standard_claims};
use futures_util::FutureExt as _;

#[allow(clippy::print_stdout)] // this example reports on stdout
fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let block: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let kids: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1).max(1);

    let key = TestKey::shared_rs256();
    let signers: Vec<TestKey> = (0..kids)
        .map(|k| if k == 0 { key.clone() } else { key.clone().with_kid(format!("kid-{k}")) })
        .collect();
    let tokens: Vec<String> = (0..512)
        .map(|i| {
            signers[i % kids]
                .token()
                .claims(standard_claims("https://id.example", "api", &format!("u{i}"), 3600))
                .sign()
        })
        .collect();
    let keys = KeySet::from_jwks_json(&jwks(&signers.iter().collect::<Vec<_>>()).to_string()).expect("jwks");
    let verifier = Verifier::builder()
        .issuer("https://id.example", keys)
        .audience("api")
        .without_token_cache()
        .build()
        .expect("verifier");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk()).expect("jwk");
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["api"]);
    validation.set_issuer(&["https://id.example"]);

    // The floor: the RSA signature check alone, key parsed once, signature pre-decoded.
    let n = base64_url(key.jwk()["n"].as_str().expect("n"));
    let e = base64_url(key.jwk()["e"].as_str().expect("e"));
    let parsed = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
        .expect("rsa key");
    let split: Vec<(String, Vec<u8>)> = tokens
        .iter()
        .map(|t| {
            let (input, sig) = t.rsplit_once('.').expect("jws");
            (input.to_owned(), base64_url(sig))
        })
        .collect();

    let mut best_authgate = Duration::MAX;
    let mut best_jsonwebtoken = Duration::MAX;
    let mut best_signature = Duration::MAX;
    for round in 0..rounds {
        let started = Instant::now();
        for i in 0..block {
            let token = &tokens[(round * block + i) % tokens.len()];
            black_box(authgate_once(&verifier, token));
        }
        best_authgate = best_authgate.min(started.elapsed() / block as u32);

        let started = Instant::now();
        for i in 0..block {
            let token = &tokens[(round * block + i) % tokens.len()];
            black_box(jsonwebtoken_once(token, &decoding, &validation));
        }
        best_jsonwebtoken = best_jsonwebtoken.min(started.elapsed() / block as u32);

        let started = Instant::now();
        for i in 0..block {
            let (input, sig) = &split[(round * block + i) % split.len()];
            signature_once(&parsed, input, sig);
        }
        best_signature = best_signature.min(started.elapsed() / block as u32);
    }
    println!("authgate verify (cold, RS256):        {best_authgate:?}");
    println!("jsonwebtoken::decode (pre-built key): {best_jsonwebtoken:?}");
    println!("signature check alone:                {best_signature:?}");
    println!("ratio: {:.2}", best_authgate.as_secs_f64() / best_jsonwebtoken.as_secs_f64());
}

#[inline(never)]
fn authgate_once(verifier: &Verifier, token: &str) -> authgate::Principal {
    verifier.verify(token).now_or_never().expect("ready").expect("valid")
}

#[inline(never)]
fn jsonwebtoken_once(
    token: &str,
    key: &jsonwebtoken::DecodingKey,
    validation: &jsonwebtoken::Validation,
) -> jsonwebtoken::TokenData<authgate::AccessClaims> {
    jsonwebtoken::decode::<authgate::AccessClaims>(token, key, validation).expect("valid")
}

#[inline(never)]
fn signature_once(key: &aws_lc_rs::signature::ParsedPublicKey, input: &str, sig: &[u8]) {
    key.verify_sig(input.as_bytes(), sig).expect("valid");
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).expect("base64url")
}
