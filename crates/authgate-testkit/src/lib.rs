//! Test fixtures for code that verifies JWTs against a JWKS: signing keys, JWKS documents,
//! tokens (well-formed and deliberately broken) and a mock JWKS / OIDC discovery server that
//! can misbehave on demand.
//!
//! `authgate`'s own tests use it, and so can yours: a verifier is only as good as the
//! hostile inputs it was tested against, and producing those by hand (a PS256 signature, an
//! ECDSA signature in fixed `r || s` form, a JWKS endpoint that never finishes its body) is
//! tedious and easy to get subtly wrong.
//!
//! ```
//! use authgate_testkit::malformed;
//! use authgate_testkit::server::{Behaviour, MockJwksServer};
//! use authgate_testkit::token::standard_claims;
//! use authgate_testkit::keys::TestKey;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A signing key and a token an issuer could have produced.
//! let key = TestKey::es256().with_kid("2024-signing");
//! let token = key
//!     .token()
//!     .claims(standard_claims("https://issuer.example", "my-api", "user-42", 300))
//!     .claim("scope", "orders:read")
//!     .sign();
//! assert_eq!(token.split('.').count(), 3);
//!
//! // The same token, broken in a way a verifier must reject.
//! let forged = malformed::tamper_payload(&token);
//! assert_ne!(forged, token);
//!
//! // A JWKS endpoint to point the verifier at.
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     let server = MockJwksServer::start().await;
//!     server.set_keys(&[&key]);
//!     assert!(server.jwks_url().ends_with("/jwks.json"));
//!     // ... build the verifier with `server.jwks_url()`, verify `token`, then:
//!     server.set_behaviour(Behaviour::Status(503));
//!     // ... and check the verifier keeps serving from its cache.
//! });
//! # Ok(())
//! # }
//! ```
//!
//! # Modules
//!
//! | Module | Use it for |
//! |---|---|
//! | [`conformance`] | The status/challenge/body table every authgate framework adapter must pass |
//! | [`keys`] | RSA, ECDSA, Ed25519 and HMAC keys with their JWK, DER and PEM forms |
//! | [`token`] | Building and signing compact JWS tokens, including lying headers |
//! | [`malformed`] | String surgery on tokens for negative tests |
//! | [`providers`] | Access tokens shaped like Keycloak's, Auth0's, Entra ID's, Okta's, Cognito's and ours, from documented fixtures |
//! | [`server`] | A local JWKS + discovery server with failure modes |
//!
//! # Feature flags
//!
//! - `remote` (off by default): turns on authgate's `remote` feature and adds the
//!   conformance case of an issuer whose key source is down (`DOWN_ISSUER`, 503). An
//!   adapter's tests turn it on; authgate's own tests leave it off, so that
//!   `cargo test -p authgate --no-default-features` builds authgate without it.
//!
//! It needs a tokio runtime only for [`server`].
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod conformance;
pub mod keys;
pub mod malformed;
pub mod prometheus;
pub mod providers;
pub mod server;
pub mod token;

pub use keys::{TestKey, jwks};
pub use server::{Behaviour, MockJwksServer};
pub use token::{TokenBuilder, now, standard_claims};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// base64url without padding, the only encoding JWS compact serialization allows.
pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `len` random bytes as lowercase hex (`2 * len` characters).
pub(crate) fn random_hex(len: usize) -> String {
    let mut bytes = vec![0_u8; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
