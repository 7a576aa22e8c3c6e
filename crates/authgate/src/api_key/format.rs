//! The API-key format: `ak_{env}_{32 base62 random}{6 base62 CRC32}`.
//!
//! 32 base62 characters carry 190 bits of randomness (OWASP ASVS asks for >= 128; the
//! platform asks for >= 160). The CRC32 checksum lets verifiers refuse typos and
//! made-up keys locally (I24), and the readable prefix lets secret scanners find leaked
//! keys. Keys are stored as their SHA-256 ([`hash_hex`]); the plaintext is shown once.
//!
//! ```
//! use authgate::api_key::format;
//! let key = format::generate("live").unwrap();
//! assert!(key.starts_with("ak_live_"));
//! assert!(format::check(&key).is_ok());
//! let mut typo = key.clone();
//! typo.replace_range(10..11, if &key[10..11] == "a" { "b" } else { "a" });
//! assert!(format::check(&typo).is_err());
//! ```

use crate::error::{Error, ErrorKind};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
const MAX_ENV_LEN: usize = 16;

/// Generates a new key for environment `env` (lowercase letters, e.g. `live`, `test`).
pub fn generate(env: &str) -> Result<String, Error> {
    if !valid_env(env) {
        return Err(Error::new(
            ErrorKind::Configuration,
            "API key environment must be 1-16 lowercase letters",
        ));
    }
    let mut key = format!("ak_{env}_");
    let mut produced = 0;
    while produced < RANDOM_LEN {
        let mut buf = [0u8; 64];
        aws_lc_rs::rand::fill(&mut buf)
            .map_err(|_| Error::new(ErrorKind::Configuration, "system random generator failed"))?;
        // Rejection sampling keeps every character uniform (248 = 4 * 62).
        for b in buf.into_iter().filter(|b| *b < 248) {
            if produced == RANDOM_LEN {
                break;
            }
            key.push(ALPHABET[usize::from(b % 62)] as char);
            produced += 1;
        }
    }
    let checksum = checksum(&key);
    key.push_str(&checksum);
    Ok(key)
}

/// Checks prefix, length, alphabet and checksum, without any lookup.
pub fn check(key: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::new(ErrorKind::InvalidApiKey, format!("API key {why}"));
    let rest = key.strip_prefix("ak_").ok_or_else(|| bad("has no ak_ prefix"))?;
    let (env, body) = rest.split_once('_').ok_or_else(|| bad("has no environment"))?;
    if !valid_env(env) {
        return Err(bad("has a bad environment"));
    }
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad("has the wrong length or characters"));
    }
    let (payload, sum) = key.split_at(key.len() - CHECKSUM_LEN);
    if checksum(payload) != sum {
        return Err(bad("checksum does not match"));
    }
    Ok(())
}

/// The environment part of a well-formed key (`live` in `ak_live_…`).
pub fn environment(key: &str) -> Option<&str> {
    key.strip_prefix("ak_")?.split_once('_').map(|(env, _)| env)
}

/// The first characters of a key, safe to show in listings and logs (`ak_live_AbC1`).
pub fn display_prefix(key: &str) -> &str {
    let end = key.char_indices().nth(12).map_or(key.len(), |(i, _)| i);
    &key[..end]
}

/// SHA-256 of the key, the only form in which keys are stored.
pub fn hash(key: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// [`hash`] as lowercase hex.
pub fn hash_hex(key: &str) -> String {
    hash(key).iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_env(env: &str) -> bool {
    !env.is_empty() && env.len() <= MAX_ENV_LEN && env.bytes().all(|b| b.is_ascii_lowercase())
}

fn checksum(payload: &str) -> String {
    let mut n = crc32fast::hash(payload.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|b| *b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i23_keys_are_prefixed_random_and_checksummed() {
        let a = generate("live").unwrap();
        let b = generate("test").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), "ak_live_".len() + 38);
        assert_eq!(environment(&b), Some("test"));
        assert!(check(&a).is_ok() && check(&b).is_ok());
        assert_eq!(hash_hex(&a).len(), 64);
        assert_eq!(display_prefix(&a).len(), 12);
    }

    #[test]
    fn i24_malformed_keys_are_refused_locally() {
        let good = generate("live").unwrap();
        let flipped = {
            let mut k = good.clone().into_bytes();
            let i = 10;
            k[i] = if k[i] == b'x' { b'y' } else { b'x' };
            String::from_utf8(k).unwrap()
        };
        for bad in [
            "",
            "ak_",
            "ak_live_",
            "sk_live_0000",
            &good[..good.len() - 1],
            &format!("{good}0"),
            &flipped,
            &good.replace("ak_live_", "ak_LIVE_"),
        ] {
            assert_eq!(check(bad).unwrap_err().kind(), ErrorKind::InvalidApiKey, "{bad:?}");
        }
        assert!(generate("Live").is_err());
    }
}
