//! API keys from configuration, stored as SHA-256 hashes.

use std::fmt;

use subtle::ConstantTimeEq;

use super::{ApiKeyVerifier, BoxFuture, format};
use crate::error::{Error, ErrorKind};
use crate::principal::Principal;

/// A fixed set of API keys, each mapped to the principal it authenticates.
///
/// Only hashes are kept; a presented key is hashed and compared against every entry in
/// constant time, so neither timing nor memory reveals a key.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), authgate::Error> {
/// use authgate::{AuthMethod, Principal};
/// use authgate::api_key::{ApiKeyVerifier, StaticApiKeys, format};
///
/// let key = format::generate("test")?;
/// let keys = StaticApiKeys::new()
///     .with_hash_hex(&format::hash_hex(&key), Principal::builder("svc-1", AuthMethod::ApiKey).build())?;
/// assert_eq!(keys.verify(&key).await?.user_id(), "svc-1");
/// assert!(keys.verify("ak_test_nope").await.is_err());
/// # Ok(()) }
/// ```
#[derive(Default, Clone)]
pub struct StaticApiKeys {
    entries: Vec<([u8; 32], Principal)>,
}

impl StaticApiKeys {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key by its SHA-256 hash in hex (as configuration holds it).
    pub fn with_hash_hex(mut self, hex: &str, principal: Principal) -> Result<Self, Error> {
        let hash = decode_hex32(hex)
            .ok_or_else(|| Error::new(ErrorKind::Configuration, "API key hash must be 64 hex characters"))?;
        self.entries.push((hash, principal));
        Ok(self)
    }

    /// Adds a plaintext key (tests, local development); only its hash is kept.
    pub fn with_key(mut self, key: &str, principal: Principal) -> Self {
        self.entries.push((format::hash(key), principal));
        self
    }

    fn find(&self, key: &str) -> Option<Principal> {
        let presented = format::hash(key);
        let mut found = None;
        // Visit every entry whatever matches, so timing does not depend on the position.
        for (hash, principal) in &self.entries {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(principal.clone());
            }
        }
        found
    }
}

impl ApiKeyVerifier for StaticApiKeys {
    fn verify<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Principal, Error>> {
        let result = self.find(key).ok_or_else(|| Error::new(ErrorKind::InvalidApiKey, "unknown API key"));
        Box::pin(std::future::ready(result))
    }
}

impl fmt::Debug for StaticApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticApiKeys").field("keys", &self.entries.len()).finish()
    }
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    // `from_str_radix` alone would take a sign ("+f" is 15): digits only (found by fuzzing).
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthMethod;

    #[test]
    fn hash_hex_must_be_64_hex_digits_without_signs() {
        let principal = || Principal::builder("svc", AuthMethod::ApiKey).build();
        let good = format::hash_hex("ak_test_x");
        assert!(StaticApiKeys::new().with_hash_hex(&good, principal()).is_ok());
        assert!(StaticApiKeys::new().with_hash_hex(&good.to_uppercase(), principal()).is_ok());
        // Fuzz crash: "+6" parsed as the byte 6, so a 64-character string with signs in it
        // was taken for a hash.
        let signed = "f20a11f2d5+65217d1f2d5f98de71df262365217da2b2965975951733fb1ce2f";
        for bad in [signed, &good[..63], "", &format!("{}-1", &good[..62])] {
            let err = StaticApiKeys::new().with_hash_hex(bad, principal()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Configuration, "{bad:?}");
        }
    }
}
