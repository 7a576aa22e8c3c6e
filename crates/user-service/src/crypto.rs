//! Small crypto helpers: the master key (AES-256-GCM), random tokens, hashing of stored
//! secrets and constant-time comparison. Randomness and digests come from aws-lc-rs, the
//! workspace's only crypto backend.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;

/// Version prefix of ciphertexts written with the current master key.
const CIPHER_VERSION: &str = "v1";

/// Fills a buffer from the system CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The system RNG failing is unrecoverable; aws-lc aborts internally in that case too.
    aws_lc_rs::rand::fill(&mut buf).expect("system random number generator failed");
    buf
}

/// An opaque token of 256 random bits, base64url without padding.
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A random identifier formatted like a UUID v4.
pub(crate) fn new_id() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// SHA-256 of a token, hex: what the database stores instead of the token.
pub(crate) fn hash_token(token: &str) -> String {
    digest::digest(&digest::SHA256, token.as_bytes()).as_ref().iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256, base64url: used for JWK thumbprints.
pub(crate) fn sha256_b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, data).as_ref())
}

/// Constant-time equality of two strings.
pub(crate) fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Decodes `MASTER_ENCRYPTION_KEY` (base64 of exactly 32 bytes; a `dev-` prefix is allowed).
pub(crate) fn decode_master_key(value: &str) -> Result<[u8; 32], ()> {
    let v = value.trim();
    let v = v.strip_prefix("dev-").unwrap_or(v);
    let bytes = STANDARD.decode(v).or_else(|_| URL_SAFE_NO_PAD.decode(v)).map_err(|_| ())?;
    bytes.try_into().map_err(|_| ())
}

/// A new development master key, marked with the `dev-` prefix production refuses.
pub(crate) fn new_dev_master_key() -> String {
    format!("dev-{}", STANDARD.encode(random_bytes::<32>()))
}

/// Decryption failed: wrong key, tampered data or wrong associated data.
#[derive(Debug, thiserror::Error)]
#[error("decryption failed")]
pub(crate) struct DecryptError;

/// AES-256-GCM with the master key; each ciphertext has a random 96-bit nonce and binds
/// associated data (the owning row's id) so ciphertexts cannot be moved between rows.
#[derive(Clone)]
pub(crate) struct MasterKey {
    cipher: Aes256Gcm,
}

impl MasterKey {
    pub(crate) fn new(key: &[u8; 32]) -> MasterKey {
        MasterKey { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)) }
    }

    /// `v1:` + base64(nonce || ciphertext || tag).
    pub(crate) fn encrypt(&self, plaintext: &[u8], aad: &str) -> String {
        let nonce_bytes = random_bytes::<12>();
        let nonce = Nonce::from_slice(&nonce_bytes);
        let ct = self
            .cipher
            .encrypt(nonce, Payload { msg: plaintext, aad: aad.as_bytes() })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        format!("{CIPHER_VERSION}:{}", STANDARD.encode(out))
    }

    pub(crate) fn decrypt(&self, stored: &str, aad: &str) -> Result<Vec<u8>, DecryptError> {
        let b64 = stored.strip_prefix("v1:").ok_or(DecryptError)?;
        let raw = STANDARD.decode(b64).map_err(|_| DecryptError)?;
        if raw.len() < 12 + 16 {
            return Err(DecryptError);
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: aad.as_bytes() })
            .map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i28_ciphertexts_are_bound_to_their_row_and_tampering_fails() {
        let key = MasterKey::new(&random_bytes::<32>());
        let a = key.encrypt(b"secret", "row-a");
        assert_eq!(key.decrypt(&a, "row-a").unwrap(), b"secret");
        assert!(key.decrypt(&a, "row-b").is_err());
        let mut raw = STANDARD.decode(a.trim_start_matches("v1:")).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(key.decrypt(&format!("v1:{}", STANDARD.encode(raw)), "row-a").is_err());
        assert_ne!(key.encrypt(b"secret", "row-a"), key.encrypt(b"secret", "row-a"), "random nonces");
    }

    #[test]
    fn dev_master_keys_decode_and_ids_look_like_uuids() {
        assert!(decode_master_key(&new_dev_master_key()).is_ok());
        assert_eq!(new_id().len(), 36);
        assert_eq!(random_token().len(), 43);
    }
}
