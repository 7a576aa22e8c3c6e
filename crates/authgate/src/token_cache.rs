//! The verified-token cache: repeated tokens skip signature verification.
//!
//! Entries are keyed by the SHA-256 of the whole token (so a token can only hit its own
//! entry), live no longer than the token's `exp` (plus leeway) nor
//! [`TokenCacheConfig::max_ttl`], and are ignored once their key has left the issuer's
//! key set, so rotating a compromised key out takes effect at the next refresh.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

use crate::key::VerifyingKey;
use crate::keyset::KeySet;
use crate::principal::Principal;

/// Tuning for the verified-token cache.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenCacheConfig {
    /// Maximum number of cached tokens. Default 10 000.
    pub max_entries: u64,
    /// Longest an entry lives, whatever the token's `exp`. Default 5 min.
    pub max_ttl: Duration,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        TokenCacheConfig { max_entries: 10_000, max_ttl: Duration::from_secs(300) }
    }
}

/// One cached verification; shared behind an `Arc` so a hit clones one pointer.
pub(crate) struct Hit {
    principal: Principal,
    key: Arc<VerifyingKey>,
    keys: KeySet,
    /// `exp + leeway`, seconds since the epoch.
    valid_until: u64,
    /// The key set's generation when the key was last seen in it, and until when that
    /// set is usable: while the generation is unchanged the key is certainly still there.
    generation: u64,
    set_usable_until: Option<tokio::time::Instant>,
    ttl: Duration,
}

type Entry = Arc<Hit>;

struct PerEntryTtl;

impl Expiry<[u8; 32], Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &[u8; 32], value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Hashes a key for the cache's table by taking 8 of its bytes: the key is already a
/// SHA-256, so hashing it again (moka's default SipHash) is wasted work on every
/// request. Flooding one bucket is no concern either: only verified tokens get in.
#[derive(Clone, Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its length, then its bytes: the last write is the digest.
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = u64::from_le_bytes(word);
    }
}

type DigestHash = std::hash::BuildHasherDefault<DigestHasher>;

pub(crate) struct TokenCache {
    cache: Cache<[u8; 32], Entry, DigestHash>,
    max_ttl: Duration,
}

impl TokenCache {
    pub(crate) fn new(config: &TokenCacheConfig) -> TokenCache {
        let cache = Cache::builder()
            .max_capacity(config.max_entries)
            .expire_after(PerEntryTtl)
            .build_with_hasher(DigestHash::default());
        TokenCache { cache, max_ttl: config.max_ttl }
    }

    pub(crate) fn digest(token: &str) -> [u8; 32] {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }

    /// A still-valid principal for this token digest, if cached.
    pub(crate) fn get(&self, digest: &[u8; 32], now: u64) -> Option<Principal> {
        let hit = self.cache.get(digest)?;
        let key_still_trusted = if hit.keys.is_unchanged(hit.generation) {
            hit.set_usable_until.is_none_or(|until| tokio::time::Instant::now() < until)
        } else {
            hit.keys.still_has(&hit.key)
        };
        if now > hit.valid_until || !key_still_trusted {
            self.cache.invalidate(digest);
            return None;
        }
        Some(hit.principal.clone())
    }

    pub(crate) fn insert(
        &self,
        digest: [u8; 32],
        principal: Principal,
        key: Arc<VerifyingKey>,
        keys: KeySet,
        valid_until: u64,
        now: u64,
    ) {
        let ttl = Duration::from_secs(valid_until.saturating_sub(now)).min(self.max_ttl);
        let Some((generation, set_usable_until)) = keys.membership(&key) else {
            return;
        };
        if ttl.is_zero() {
            return;
        }
        let hit = Hit { principal, key, keys, valid_until, generation, set_usable_until, ttl };
        self.cache.insert(digest, Arc::new(hit));
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn the_table_hash_is_taken_from_the_digest() {
        let a = TokenCache::digest("a.b.c");
        let b = TokenCache::digest("a.b.d");
        let hash = |d: &[u8; 32]| DigestHash::default().hash_one(d);
        assert_eq!(hash(&a), u64::from_le_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]));
        assert_ne!(hash(&a), hash(&b));
    }
}
