//! Minting compact JWS tokens, honest or not.
//!
//! A [`TokenBuilder`] starts from a [`TestKey`] with the header
//! `{"alg": <key alg>, "typ": "at+jwt", "kid": <key kid>}` and no claims. Everything in the
//! header and payload can be changed, removed or replaced by raw bytes, but the signature is
//! always computed with the key's own algorithm: the header may lie, which is exactly what
//! algorithm-confusion and kid-injection tests need.
//!
//! ```
//! use authgate_testkit::keys::TestKey;
//! use authgate_testkit::token::{now, standard_claims};
//!
//! let key = TestKey::shared_rs256();
//! let expired = key
//!     .token()
//!     .claims(standard_claims("https://issuer.example", "api", "alice", 60))
//!     .claim("exp", now() - 3600)
//!     .sign();
//!
//! // Header says "none", signature is still RS256: must be rejected.
//! let lying = key.token().header("alg", "none").sign();
//! # assert_eq!(expired.split('.').count(), 3);
//! # assert_eq!(lying.split('.').count(), 3);
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::keys::TestKey;
use crate::{b64, random_hex};

/// Builds and signs one compact JWS; see the [module docs](self).
///
/// Methods take `self` and return it so calls chain; clone a half-built builder to mint
/// variants of one token.
#[derive(Clone, Debug)]
pub struct TokenBuilder {
    key: TestKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    raw_header: Option<Vec<u8>>,
    raw_payload: Option<Vec<u8>>,
}

// With the builder rather than the key, so that `keys` need not know this module.
impl TestKey {
    /// Starts a token signed by this key, with the header `{"alg", "typ": "at+jwt", "kid"}`
    /// and no claims.
    ///
    /// ```
    /// # use authgate_testkit::keys::TestKey;
    /// let token = TestKey::ed25519().token().claim("sub", "alice").sign();
    /// assert_eq!(token.split('.').count(), 3);
    /// ```
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(self.clone())
    }
}

impl TokenBuilder {
    pub(crate) fn new(key: TestKey) -> TokenBuilder {
        let mut header = Map::new();
        header.insert("alg".to_owned(), key.alg().into());
        header.insert("typ".to_owned(), "at+jwt".into());
        header.insert("kid".to_owned(), key.kid().into());
        TokenBuilder { key, header, claims: Map::new(), raw_header: None, raw_payload: None }
    }

    /// Sets a header parameter (replacing it in place if present): `alg` lies, foreign
    /// `kid`s, `crit`, `jku`, `x5u`, embedded `jwk`...
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header parameter, e.g. `kid` to test kid-less key selection or `typ`.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.shift_remove(name);
        self
    }

    /// Sets a claim (replacing it in place if present).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Sets every member of `object` as a claim, e.g. [`standard_claims`]'s result.
    ///
    /// # Panics
    ///
    /// If `object` is not a JSON object.
    pub fn claims(mut self, object: Value) -> Self {
        match object {
            Value::Object(members) => self.claims.extend(members),
            other => panic!("claims() takes a JSON object, got {other}"),
        }
        self
    }

    /// Removes a claim, e.g. `exp` to test that it is required.
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.claims.shift_remove(name);
        self
    }

    /// Uses these exact bytes as the header instead of the JSON built so far, for input no
    /// JSON serializer emits: duplicate members, a byte-order mark, invalid UTF-8, trailing
    /// garbage, a header that is not an object.
    ///
    /// ```
    /// # use authgate_testkit::keys::TestKey;
    /// let token = TestKey::es256()
    ///     .token()
    ///     .raw_header(r#"{"alg":"ES256","alg":"none"}"#)
    ///     .sign();
    /// # assert!(token.starts_with("eyJhbGciOiJFUzI1NiIsImFsZyI6Im5vbmUifQ."));
    /// ```
    pub fn raw_header(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.raw_header = Some(bytes.into());
        self
    }

    /// Uses these exact bytes as the payload instead of the claims built so far (duplicate
    /// claims, numbers out of range, not JSON at all...).
    pub fn raw_payload(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.raw_payload = Some(bytes.into());
        self
    }

    /// The token `b64url(header).b64url(payload).b64url(signature)`, signed with the key's
    /// own algorithm whatever the header says.
    ///
    /// # Panics
    ///
    /// If the key fails to sign (see [`TestKey::sign`]).
    pub fn sign(&self) -> String {
        self.sign_with(&self.key)
    }

    /// Like [`sign`](TokenBuilder::sign) but signed by another key, while the header still
    /// names the builder's key: "signed by an attacker's key with the victim's kid".
    ///
    /// # Panics
    ///
    /// If `key` fails to sign (see [`TestKey::sign`]).
    pub fn sign_with(&self, key: &TestKey) -> String {
        let signing_input = self.signing_input();
        let signature = key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64(signature))
    }

    /// The token with an empty signature segment, `header.payload.`, as an `alg: none`
    /// token would be (set the header's `alg` to `"none"` for the classic attack).
    pub fn unsigned(&self) -> String {
        format!("{}.", self.signing_input())
    }

    fn signing_input(&self) -> String {
        let header = self.raw_header.clone().unwrap_or_else(|| json_bytes(&self.header));
        let payload = self.raw_payload.clone().unwrap_or_else(|| json_bytes(&self.claims));
        format!("{}.{}", b64(header), b64(payload))
    }
}

fn json_bytes(object: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(object).expect("a JSON map always serializes")
}

/// The current time in Unix seconds, the unit of `exp`, `nbf` and `iat`.
///
/// # Panics
///
/// If the system clock is before 1970.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the system clock is before 1970").as_secs()
}

/// The claims of a valid access token: `iss`, `aud`, `sub`, `iat` and `nbf` (now), `exp` (now
/// + `ttl_secs`) and a random `jti`, in that order.
///
/// ```
/// # use authgate_testkit::token::{now, standard_claims};
/// let claims = standard_claims("https://issuer.example", "api", "alice", 300);
/// assert_eq!(claims["aud"], "api");
/// assert!(claims["exp"].as_u64() >= Some(now() + 299));
/// ```
pub fn standard_claims(iss: &str, aud: &str, sub: &str, ttl_secs: u64) -> Value {
    let now = now();
    json!({
        "iss": iss,
        "aud": aud,
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(ttl_secs),
        "jti": random_hex(16),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn segments(token: &str) -> Vec<Vec<u8>> {
        token.split('.').map(|s| URL_SAFE_NO_PAD.decode(s).expect("base64url segment")).collect()
    }

    fn json_segment(token: &str, index: usize) -> Value {
        serde_json::from_slice(&segments(token)[index]).expect("JSON segment")
    }

    #[test]
    fn default_header_names_alg_typ_and_kid_in_that_order() {
        let key = TestKey::es256().with_kid("k1");
        let token = key.token().sign();
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(segments(&token)[0], br#"{"alg":"ES256","typ":"at+jwt","kid":"k1"}"#);
        assert_eq!(segments(&token)[1], b"{}");
    }

    #[test]
    fn signature_covers_the_first_two_segments_for_every_algorithm() {
        let rsa = TestKey::shared_rs256();
        for key in [
            rsa.clone(),
            rsa.with_alg("PS256"),
            TestKey::es256(),
            TestKey::es384(),
            TestKey::ed25519(),
            TestKey::hmac("HS256", b"a-long-enough-hmac-secret-for-tests"),
        ] {
            let token = key.token().claim("sub", "alice").sign();
            let (input, signature) = token.rsplit_once('.').expect("three segments");
            let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
            let expected = key.sign(input.as_bytes());
            if key.alg().starts_with("ES") || key.alg().starts_with("PS") {
                // Randomized signatures: compare lengths, the keys module verifies them.
                assert_eq!(signature.len(), expected.len(), "{key:?}");
            } else {
                assert_eq!(signature, expected, "{key:?}");
            }
            assert_eq!(json_segment(&token, 0)["alg"], key.alg());
        }
    }

    #[test]
    fn header_and_claims_can_be_set_replaced_and_removed() {
        let key = TestKey::ed25519();
        let token = key
            .token()
            .header("alg", "none")
            .header("cty", "JWT")
            .remove_header("typ")
            .claims(json!({"sub": "alice", "scope": "a"}))
            .claim("scope", "b")
            .claim("extra", 1)
            .remove_claim("extra")
            .sign();
        let header = json_segment(&token, 0);
        assert_eq!(header, json!({"alg": "none", "kid": key.kid(), "cty": "JWT"}));
        let keys: Vec<&String> = header.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["alg", "kid", "cty"]);
        assert_eq!(segments(&token)[1], br#"{"sub":"alice","scope":"b"}"#);
        // Still an Ed25519 signature despite the lying header.
        assert_eq!(segments(&token)[2].len(), 64);
    }

    #[test]
    fn raw_segments_are_signed_byte_for_byte() {
        let key = TestKey::hmac("HS256", b"secret");
        let token = key
            .token()
            .raw_header(b"\xEF\xBB\xBF{\"alg\":\"HS256\"}".to_vec())
            .raw_payload([0xff, 0xfe])
            .sign();
        let parts = segments(&token);
        assert_eq!(parts[0], b"\xEF\xBB\xBF{\"alg\":\"HS256\"}");
        assert_eq!(parts[1], [0xff, 0xfe]);
        let (input, _) = token.rsplit_once('.').expect("dots");
        assert_eq!(parts[2], key.sign(input.as_bytes()));
    }

    #[test]
    fn sign_with_keeps_the_header_but_uses_the_other_key() {
        let victim = TestKey::es256().with_kid("victim");
        let attacker = TestKey::hmac("HS256", b"attacker");
        let token = victim.token().sign_with(&attacker);
        assert_eq!(json_segment(&token, 0)["kid"], "victim");
        assert_eq!(json_segment(&token, 0)["alg"], "ES256");
        let (input, _) = token.rsplit_once('.').expect("dots");
        assert_eq!(segments(&token)[2], attacker.sign(input.as_bytes()));
    }

    #[test]
    fn unsigned_has_an_empty_third_segment() {
        let token = TestKey::es256().token().header("alg", "none").unsigned();
        assert!(token.ends_with('.'));
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(token.split('.').nth(2), Some(""));
    }

    #[test]
    fn standard_claims_are_valid_now_in_a_fixed_order() {
        let before = now();
        let claims = standard_claims("https://issuer.example", "api", "alice", 300);
        let keys: Vec<&String> = claims.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"]);
        let iat = claims["iat"].as_u64().expect("number");
        assert!(iat >= before && iat <= now());
        assert_eq!(claims["nbf"], claims["iat"]);
        assert_eq!(claims["exp"].as_u64(), Some(iat + 300));
        assert_ne!(claims["jti"], standard_claims("i", "a", "s", 1)["jti"]);
    }

    #[test]
    #[should_panic(expected = "claims() takes a JSON object")]
    fn claims_rejects_non_objects() {
        let _ = TestKey::es256().token().claims(json!([1, 2]));
    }
}
