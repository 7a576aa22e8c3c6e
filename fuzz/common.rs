//! Fixed keys, issuers and time shared by the fuzz targets and the seed generator
//! (included with `#[path]` by both, so they cannot drift apart).
#![allow(dead_code)]

/// The verifiers' clock: tokens are judged as of this instant, so seeds stay valid.
pub const NOW: u64 = 1_700_000_000;
/// Issuer whose tokens are HS256-signed with [`HS_SECRET`]; the `jws` target signs
/// fuzzed headers and payloads with it to reach claim validation.
pub const HS_ISSUER: &str = "https://hs.fuzz.example";
/// Issuer verified with the public keys in [`PK_JWKS`].
pub const PK_ISSUER: &str = "https://pk.fuzz.example";
/// The one accepted audience.
pub const AUDIENCE: &str = "fuzz-api";
/// 32-byte HMAC secret (the minimum the verifier accepts).
pub const HS_SECRET: &[u8; 32] = b"authgate-fuzz-hs256-secret-32byt";

/// The public keys of Wycheproof's JWS `es256` and `rs256` groups, so their vectors
/// (seeded into the `jws` corpus) find their keys.
pub const PK_JWKS: &str = r#"{"keys":[
{"kty":"EC","alg":"ES256","use":"sig","kid":"kid-ec-sign","crv":"P-256","x":"04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY","y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw"},
{"kty":"RSA","alg":"RS256","use":"sig","kid":"kid-rsa-sign","e":"AQAB","n":"kqGboBfAWttWPCA-0cGRgsY6SaYoIARt0B_PkaEcIq9HPYNdu9n6UuWHuuTHrjF_ZoQW97r5HaAorNvrMEGTGdxCHZdEtkHvNVVmrtxTBLiQCbCozXhFoIrVcr3qUBrdGnNn_M3jJi7Wg7p_-x62nS5gNG875oyheRkutHsQXikFZwsN3q_TsPNOVlCiHy8mxzaFTUQGm-X8UYexFyAivlDSjgDJLAZSWfxd7k9Gxuwa3AUfQqQcVcegmgKGCaErQ3qQbh1x7WB6iopE3_-GZ8HMAVtR9AmrVscqYsnjhaCehfAI0iKKs8zXr8tISc0ORbaalrkk03H1ZrsEnDKEWQ"}
]}"#;

/// Separates the header from the payload in the `jws` target's signed mode (a NUL
/// byte never occurs in valid JSON).
pub const SIGNED_MODE_SEPARATOR: u8 = 0;
