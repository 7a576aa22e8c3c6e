//! Compact JWS parsing and header/claims decoding, through the public `Verifier`.
//!
//! The first input byte picks the mode:
//! - even: the rest is a token, verified as-is by a verifier with two issuers (an
//!   HS256 secret and a static JWKS): segments, base64url, header rules, key lookup,
//!   signature checks;
//! - odd: the rest is `header NUL payload` (or only a payload, under a default HS256
//!   header); the harness base64url-encodes and signs them with the HS256 issuer's
//!   secret, so mutations reach claim validation, `Principal` building and
//!   requirement checks instead of dying at the signature.
//!
//! Invariants checked beyond "no panic": an accepted token's principal carries the
//! configured issuer, and every error renders a challenge and a JSON body.
#![no_main]

use std::sync::OnceLock;

use authgate::{Algorithm, Issuer, KeySet, Principal, Requirement, Verifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;

#[path = "../common.rs"]
mod common;

struct Harness {
    rt: tokio::runtime::Runtime,
    verifier: Verifier,
    hmac: aws_lc_rs::hmac::Key,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let hs = KeySet::from_hmac_secret(common::HS_SECRET).expect("fixed secret is long enough");
        let pk = KeySet::from_jwks_json(common::PK_JWKS).expect("fixed JWKS parses");
        let verifier = Verifier::builder()
            .add_issuer(Issuer::new(common::HS_ISSUER, hs).algorithms([
                Algorithm::HS256,
                Algorithm::HS384,
                Algorithm::HS512,
            ]))
            .add_issuer(Issuer::new(common::PK_ISSUER, pk).algorithms([
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::EdDSA,
            ]))
            .audience(common::AUDIENCE)
            .clock(|| common::NOW)
            // No cache: every input takes the full path, and outcomes do not depend on
            // what earlier inputs left behind (reproducible crashes).
            .without_token_cache()
            .build()
            .expect("fixed configuration is valid");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let hmac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, common::HS_SECRET);
        Harness { rt, verifier, hmac }
    })
}

fn signed_token(h: &Harness, input: &[u8]) -> String {
    let (header, payload) = match input.iter().position(|b| *b == common::SIGNED_MODE_SEPARATOR) {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (&br#"{"alg":"HS256","typ":"at+jwt"}"#[..], input),
    };
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let tag = aws_lc_rs::hmac::sign(&h.hmac, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn exercise(user: &Principal) {
    let issuer = user.issuer().unwrap_or_default();
    assert!(issuer == common::HS_ISSUER || issuer == common::PK_ISSUER, "accepted a foreign issuer");
    for requirement in [
        Requirement::permission("admin:delete"),
        Requirement::role("admin"),
        Requirement::scope("read"),
        Requirement::any([Requirement::permission("orders:*"), Requirement::role("trader")]),
    ] {
        assert_eq!(requirement.is_met_by(user), requirement.check(user).is_ok());
    }
    let _ = (user.user_id(), user.roles(), user.permissions(), user.scopes(), user.expires_at());
    let _ = user.claims_as::<serde_json::Value>();
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let h = harness();
    let token = if mode & 1 == 0 {
        match std::str::from_utf8(rest) {
            Ok(token) => token.to_owned(),
            Err(_) => return,
        }
    } else {
        signed_token(h, rest)
    };
    h.rt.block_on(async {
        match h.verifier.verify(&token).await {
            Ok(user) => exercise(&user),
            Err(e) => {
                let _ = (e.status(), e.www_authenticate("fuzz"), e.json_body());
            }
        }
        let _ = h.verifier.verify_claims::<serde_json::Value>(&token).await;
    });
});
