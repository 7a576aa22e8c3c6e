//! The verified-token cache: repeated tokens skip signature verification.
//!
//! Entries live no longer than the token's `exp` (plus leeway) nor
//! [`TokenCacheConfig::max_ttl`], and are ignored once their key has left the issuer's
//! key set, so rotating a compromised key out takes effect at the next refresh.
//!
//! # Keys: a keyed hash of the token's tail picks the entry, the full token decides the hit
//!
//! An entry is found by a 64-bit SipHash-1-3, under a secret 128-bit key (std's
//! [`RandomState`]: drawn from the OS at random per process and thread, and stepped for
//! each cache), of the token's length and its last [`HASHED_TAIL`] bytes. It used to be
//! a SHA-256 of the whole token, then a SipHash of the whole token; hashing ~770 bytes
//! on every request cost more than the rest of a cache hit and guards nothing the
//! comparison below does not.
//!
//! - The tail spreads entries as well as the whole token would: a compact JWS ends with
//!   its signature segment, at least 43 characters for every accepted algorithm (HS256's
//!   32 bytes), so the last 32 characters are 192 bits of signature. Signatures of
//!   different signing inputs are unpredictable for anyone without the issuer's key, so
//!   two different verified tokens share a tail only by chance, and then the length and
//!   the 64-bit hash still have to agree too.
//! - Nobody can aim at an entry: SipHash is a keyed pseudo-random function, and the key
//!   never leaves the process, so a client cannot compute which tokens share a hash
//!   with another, nor learn the hash from timing any better than by guessing. Forging
//!   a token that shares a cached token's tail (copying the signature segment onto
//!   another header and payload) reaches that token's entry and no further: see next.
//! - A shared hash never yields another token's principal: each entry keeps the token
//!   it was verified for, and a hit compares all of it with the presented token in
//!   constant time (aws-lc's `CRYPTO_memcmp`; `subtle`'s byte-wise `ct_eq` took 2.6 µs
//!   for an 800-byte token, five times the hash). A mismatch is a miss, so the presented
//!   token is verified like any unknown one. The comparison takes the same time wherever
//!   the tokens differ, so a probe learns nothing of a cached token's bytes (only
//!   whether the lengths differ, and JWT lengths are public anyway).
//! - The worst a collision can do is replace an entry (two verified tokens sharing a
//!   hash, about 2^-64 per pair): one extra verification, never a wrong answer.
//! - Only verified tokens are stored, so unverified input cannot fill the cache.
//!
//! # One lookup per request
//!
//! Middleware ask the cache first, synchronously
//! ([`crate::Authenticator::authenticate_cached`]), and verify only on a miss. The miss
//! is noted in the [`crate::Credentials`] as a [`CacheMiss`] (which cache, and the
//! token's hash), so the verification that follows neither hashes the token nor looks it
//! up again, and records a verified token under the hash already computed. A noted miss
//! only ever skips work: a token verified from scratch gets the same answer.
//!
//! Keeping the token costs its length per entry (about 8 MB for the default 10 000
//! entries of 800-byte tokens); the cache holds tokens that are already in memory of
//! every request anyway and never logs them.
//!
//! # Admission: a token is cached on its second sighting
//!
//! Most tokens a busy service sees once within a few minutes are not seen again soon
//! (many users, each a few requests), and inserting every verified token into the cache
//! cost about 15% of the throughput with distinct tokens. So a verified token is first
//! only noted in a small lossy table of hashes (one atomic word per slot, no locks, no
//! allocation); it enters the cache when it is verified again while still noted there.
//! A client repeating its token pays two verifications instead of one, then hits.
//!
//! # A filter in front of the cache: most new tokens skip the lookup
//!
//! A lookup that misses still costs moka's work (epoch pin, clock read, recording the
//! miss), about a third of the time the cache adds to a first-seen token. So a bitset
//! with one bit per hash slot, set when a token is cached, answers "certainly not
//! cached" for most tokens never cached, and the cache is asked only when the bit is
//! set. The bits come in two generations of [`TokenCacheConfig::max_ttl`] each (by the
//! verifier's clock): an entry inserted in generation `e` has expired before `e + 2`
//! starts, and that is when its generation's bits are cleared, so a live entry's bit is
//! always set in one of the two. Every way the filter can be wrong is safe: a bit set
//! for a token not cached (two tokens sharing a bit, or an expired entry) only costs the
//! lookup it would have cost anyway; a bit cleared early (an insert racing the clear at a
//! generation change, or a clock that jumps) only turns a hit into a miss, and a miss
//! verifies the token like any unknown one.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::hash::Hasher as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Caches a token the first time it is verified instead of the second. Default
    /// `false`: with many distinct tokens, inserting each costs more than the rare
    /// repeat saves; turn it on when nearly every token is reused.
    pub admit_on_first_sighting: bool,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        TokenCacheConfig {
            max_entries: 10_000,
            max_ttl: Duration::from_secs(300),
            admit_on_first_sighting: false,
        }
    }
}

/// One cached verification; shared behind an `Arc` so a hit clones one pointer.
pub(crate) struct Hit {
    /// The verified token, compared in full on every hit.
    token: Box<[u8]>,
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

impl Expiry<u64, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &u64, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The table hash of an entry is its key: the key already is a keyed hash, so hashing
/// it again (moka's default SipHash) would be wasted work on every request.
#[derive(Clone, Default)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for `u64` keys; fold anything else in for safety.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type PassThroughHash = std::hash::BuildHasherDefault<PassThrough>;

/// How many bytes at the end of a token the cache key covers (see the module docs).
pub(crate) const HASHED_TAIL: usize = 32;

/// A token and its hash under the cache's secret key, computed once per request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe<'a> {
    hash: u64,
    token: &'a str,
}

/// A cache miss noted for a token: which cache said so, and the token's hash in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheMiss {
    cache: u64,
    hash: u64,
}

/// Tells caches apart, so a miss noted by one is never taken for another's.
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

/// Remembers the hashes of recently verified tokens, one per slot, so a token is
/// admitted into the cache when seen again. Lossy on purpose: a newer token takes the
/// slot, which only delays an admission.
struct Sightings {
    slots: Box<[AtomicU64]>,
    mask: u64,
}

impl Sightings {
    /// Room for about as many tokens as the cache holds (a power of two, 1 Ki..1 Mi
    /// slots of 8 bytes).
    fn new(max_entries: u64) -> Sightings {
        let n = max_entries.clamp(1 << 10, 1 << 20).next_power_of_two();
        Sightings { slots: (0..n).map(|_| AtomicU64::new(0)).collect(), mask: n - 1 }
    }

    /// True if `hash` was noted before (and is still in its slot); notes it otherwise.
    fn seen_again(&self, hash: u64) -> bool {
        // The low bits pick the slot; the whole hash is stored, so two tokens sharing a
        // slot are told apart. A hash of 0 reads as noted (a 2^-64 early admission).
        let Some(slot) = usize::try_from(hash & self.mask).ok().and_then(|i| self.slots.get(i)) else {
            return false;
        };
        if slot.load(Ordering::Relaxed) == hash {
            return true;
        }
        slot.store(hash, Ordering::Relaxed);
        false
    }
}

/// The filter in front of the cache (see the module docs): one bit per hash slot, in
/// two generations of `generation_secs` each.
struct MaybeCached {
    generations: [Box<[AtomicU64]>; 2],
    /// How far to shift a hash right to get its bit's index.
    shift: u32,
    /// The newest generation bits were set in (seconds since the epoch / `generation_secs`).
    newest: AtomicU64,
    generation_secs: u64,
}

impl MaybeCached {
    /// About 64 bits per cached token (a bit set for another token one time in 64 when
    /// the cache is full), 64 Ki..8 Mi bits per generation.
    fn new(max_entries: u64, max_ttl: Duration) -> MaybeCached {
        let bits = max_entries.saturating_mul(64).clamp(1 << 16, 1 << 23).next_power_of_two();
        let words = || (0..bits / 64).map(|_| AtomicU64::new(0)).collect();
        // Whole seconds, rounded up: an entry never outlives its generation's successor.
        let generation_secs = max_ttl.as_secs() + u64::from(max_ttl.subsec_nanos() > 0);
        MaybeCached {
            generations: [words(), words()],
            shift: 64 - bits.trailing_zeros(),
            newest: AtomicU64::new(0),
            generation_secs: generation_secs.max(1),
        }
    }

    /// The word and bit of `hash`. The high bits pick it: the low ones pick the sightings
    /// slot, and a token sharing one should not share the other.
    fn bit(&self, generation: usize, hash: u64) -> Option<(&AtomicU64, u64)> {
        let index = hash >> self.shift;
        let word = self.generations.get(generation)?.get(usize::try_from(index / 64).ok()?)?;
        Some((word, 1 << (index % 64)))
    }

    /// False when no token with this hash can be in the cache.
    fn may_hold(&self, hash: u64) -> bool {
        (0..2).any(|g| self.bit(g, hash).is_none_or(|(word, bit)| word.load(Ordering::Relaxed) & bit != 0))
    }

    /// Marks `hash` as possibly cached, first clearing a generation that has expired.
    fn mark(&self, hash: u64, now: u64) {
        let mut generation = now / self.generation_secs;
        let newest = self.newest.load(Ordering::Relaxed);
        if generation > newest {
            // The first mark finds both generations as new: nothing to clear.
            let swapped = self
                .newest
                .compare_exchange(newest, generation, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
            if swapped && newest != 0 {
                // Bits older than the previous generation belong to expired entries.
                let stale = if generation - newest >= 2 { 0..2 } else { 0..1 };
                for g in stale.map(|back| (generation - back) % 2) {
                    if let Some(words) = usize::try_from(g).ok().and_then(|g| self.generations.get(g)) {
                        words.iter().for_each(|w| w.store(0, Ordering::Relaxed));
                    }
                }
            }
        } else {
            // A clock that went back: keep setting the newest generation.
            generation = newest;
        }
        if let Some((word, bit)) = usize::try_from(generation % 2).ok().and_then(|g| self.bit(g, hash)) {
            word.fetch_or(bit, Ordering::Relaxed);
        }
    }
}

pub(crate) struct TokenCache<S = RandomState> {
    id: u64,
    cache: Cache<u64, Entry, PassThroughHash>,
    hasher: S,
    sightings: Option<Sightings>,
    maybe_cached: MaybeCached,
    max_ttl: Duration,
}

impl TokenCache {
    pub(crate) fn new(config: &TokenCacheConfig) -> TokenCache {
        TokenCache::with_hasher(config, RandomState::new())
    }
}

impl<S: BuildHasher> TokenCache<S> {
    fn with_hasher(config: &TokenCacheConfig, hasher: S) -> TokenCache<S> {
        let cache = Cache::builder()
            .max_capacity(config.max_entries)
            .expire_after(PerEntryTtl)
            .build_with_hasher(PassThroughHash::default());
        let sightings = (!config.admit_on_first_sighting).then(|| Sightings::new(config.max_entries));
        let id = NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed);
        let maybe_cached = MaybeCached::new(config.max_entries, config.max_ttl);
        TokenCache { id, cache, hasher, sightings, maybe_cached, max_ttl: config.max_ttl }
    }

    /// Hashes the token's length and tail under this cache's key, for [`Self::get`] and
    /// [`Self::insert`].
    pub(crate) fn probe<'a>(&self, token: &'a str) -> Probe<'a> {
        let bytes = token.as_bytes();
        let mut hasher = self.hasher.build_hasher();
        hasher.write(bytes.get(bytes.len().saturating_sub(HASHED_TAIL)..).unwrap_or(bytes));
        hasher.write_usize(bytes.len());
        Probe { hash: hasher.finish(), token }
    }

    /// Notes that `probe` missed, for [`Self::after_miss`].
    pub(crate) fn miss(&self, probe: Probe<'_>) -> CacheMiss {
        CacheMiss { cache: self.id, hash: probe.hash }
    }

    /// The probe for `token` when this cache noted `miss` for it (no hashing, and no
    /// lookup needed); `None` when the miss is another cache's.
    pub(crate) fn after_miss<'a>(&self, token: &'a str, miss: CacheMiss) -> Option<Probe<'a>> {
        (miss.cache == self.id).then_some(Probe { hash: miss.hash, token })
    }

    /// A still-valid principal for exactly this token, if cached.
    pub(crate) fn get(&self, probe: Probe<'_>, now: u64) -> Option<Principal> {
        if !self.maybe_cached.may_hold(probe.hash) {
            return None;
        }
        let hit = self.cache.get(&probe.hash)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(&hit.token, probe.token.as_bytes()).is_err() {
            // Another token's entry: not ours to answer with, nor to drop.
            return None;
        }
        let key_still_trusted = if hit.keys.is_unchanged(hit.generation) {
            hit.set_usable_until.is_none_or(|until| tokio::time::Instant::now() < until)
        } else {
            hit.keys.still_has(&hit.key)
        };
        if now > hit.valid_until || !key_still_trusted {
            self.cache.invalidate(&probe.hash);
            return None;
        }
        Some(hit.principal.clone())
    }

    /// Records a verified token: cached on its second sighting (or at once when
    /// configured so), while its key is still in the set and it has time left.
    /// Takes the principal and key set by reference: a first sighting, the common case
    /// with many users, is only noted, and copies nothing.
    pub(crate) fn insert(
        &self,
        probe: Probe<'_>,
        principal: &Principal,
        key: Arc<VerifyingKey>,
        keys: &KeySet,
        valid_until: u64,
        now: u64,
    ) {
        let ttl = Duration::from_secs(valid_until.saturating_sub(now)).min(self.max_ttl);
        if ttl.is_zero() || self.sightings.as_ref().is_some_and(|s| !s.seen_again(probe.hash)) {
            return;
        }
        let Some((generation, set_usable_until)) = keys.membership(&key) else {
            return;
        };
        let (principal, keys) = (principal.clone(), keys.clone());
        let token = probe.token.as_bytes().into();
        let hit = Hit { token, principal, key, keys, valid_until, generation, set_usable_until, ttl };
        // Marked first: a lookup between the two finds the bit set and asks the cache.
        self.maybe_cached.mark(probe.hash, now);
        self.cache.insert(probe.hash, Arc::new(hit));
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasherDefault;

    use futures_util::FutureExt as _;

    use super::*;
    use crate::principal::AuthMethod;

    /// Every token lands on the same entry, as a forced collision would.
    #[derive(Default)]
    struct Constant;
    impl std::hash::Hasher for Constant {
        fn finish(&self) -> u64 {
            42
        }
        fn write(&mut self, _: &[u8]) {}
    }

    /// Tokens of different lengths get different hashes in the same sightings slot.
    #[derive(Default)]
    struct SameSlot(u64);
    impl std::hash::Hasher for SameSlot {
        fn finish(&self) -> u64 {
            self.0 << 32
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0 += bytes.len() as u64;
        }
    }

    const NOW: u64 = 1_800_000_000;

    fn keys() -> (KeySet, Arc<VerifyingKey>) {
        let keys = KeySet::from_hmac_secret(&[7; 32]).expect("key set");
        let key = keys.key_for(None).now_or_never().expect("static").expect("one key");
        (keys, key)
    }

    fn user(id: &str) -> Principal {
        Principal::builder(id, AuthMethod::Jwt).build()
    }

    /// Records `token` as verified for `id`, valid for another minute.
    fn verified<S: BuildHasher>(cache: &TokenCache<S>, token: &str, id: &str) {
        let (keys, key) = keys();
        cache.insert(cache.probe(token), &user(id), key, &keys, NOW + 60, NOW);
    }

    fn first_sighting() -> TokenCacheConfig {
        TokenCacheConfig { admit_on_first_sighting: true, ..TokenCacheConfig::default() }
    }

    fn cached<S: BuildHasher>(cache: &TokenCache<S>, token: &str, now: u64) -> Option<String> {
        cache.get(cache.probe(token), now).map(|p| p.user_id().to_owned())
    }

    #[test]
    fn a_token_is_cached_on_its_second_sighting_not_its_first() {
        let cache = TokenCache::new(&TokenCacheConfig::default());
        verified(&cache, "a.b.c", "u1");
        assert_eq!(cached(&cache, "a.b.c", NOW), None, "first sighting: only noted");
        verified(&cache, "a.b.c", "u1");
        assert_eq!(cached(&cache, "a.b.c", NOW).as_deref(), Some("u1"), "second sighting: cached");
        assert_eq!(cached(&cache, "a.b.d", NOW), None, "another token is not");
    }

    #[test]
    fn first_sighting_admission_caches_at_once_when_configured() {
        let cache = TokenCache::new(&first_sighting());
        verified(&cache, "a.b.c", "u1");
        assert_eq!(cached(&cache, "a.b.c", NOW).as_deref(), Some("u1"));
    }

    #[test]
    fn a_sighting_is_forgotten_when_another_token_takes_its_slot() {
        let cache =
            TokenCache::with_hasher(&TokenCacheConfig::default(), BuildHasherDefault::<SameSlot>::default());
        assert_ne!(cache.probe("a.b.c").hash, cache.probe("x.y.zz").hash);
        verified(&cache, "a.b.c", "u1");
        verified(&cache, "x.y.zz", "u2");
        verified(&cache, "a.b.c", "u1");
        assert_eq!(cached(&cache, "a.b.c", NOW), None, "its first sighting was overwritten");
        verified(&cache, "a.b.c", "u1");
        assert_eq!(cached(&cache, "a.b.c", NOW).as_deref(), Some("u1"));
    }

    #[test]
    fn a_cached_token_expires_with_its_exp_and_leeway() {
        let cache = TokenCache::new(&TokenCacheConfig::default());
        verified(&cache, "a.b.c", "u1");
        verified(&cache, "a.b.c", "u1");
        assert_eq!(cached(&cache, "a.b.c", NOW + 60).as_deref(), Some("u1"), "valid until exp + leeway");
        assert_eq!(cached(&cache, "a.b.c", NOW + 61), None, "expired");
        assert_eq!(cached(&cache, "a.b.c", NOW), None, "and dropped");
    }

    #[test]
    fn tokens_sharing_a_hash_never_get_each_others_principal() {
        let cache = TokenCache::with_hasher(&first_sighting(), BuildHasherDefault::<Constant>::default());
        assert_eq!(cache.probe("victim.b.c").hash, cache.probe("attacker.b.c").hash);
        verified(&cache, "victim.b.c", "victim");
        assert_eq!(cached(&cache, "attacker.b.c", NOW), None, "same entry, other token: a miss");
        assert_eq!(cached(&cache, "victim.b.cX", NOW), None, "a longer token is another token");
        assert_eq!(cached(&cache, "victim.b.", NOW), None, "so is a prefix");
        assert_eq!(
            cached(&cache, "victim.b.c", NOW).as_deref(),
            Some("victim"),
            "and kept for its own token"
        );
        verified(&cache, "attacker.b.c", "attacker");
        assert_eq!(
            cached(&cache, "victim.b.c", NOW),
            None,
            "a colliding token replaces, never answers for it"
        );
        assert_eq!(cached(&cache, "attacker.b.c", NOW).as_deref(), Some("attacker"));
    }

    /// Two tokens of one length ending in the same signature segment: the tail (and so
    /// the cache entry) is shared, the answer never is.
    #[test]
    fn tokens_sharing_a_signature_segment_never_share_an_answer() {
        let signature = "c2lnbmF0dXJlLXNlZ21lbnQtb2YtYXQtbGVhc3QtNDMtY2hhcmFjdGVycw";
        let victim = format!("eyJoZWFkZXIifQ.eyJzdWIiOiJ2aWN0aW0ifQ.{signature}");
        let forged = format!("eyJoZWFkZXIifQ.eyJzdWIiOiJmb3JnZWQifQ.{signature}");
        assert_eq!(victim.len(), forged.len());
        let cache = TokenCache::new(&first_sighting());
        assert_eq!(cache.probe(&victim).hash, cache.probe(&forged).hash, "same length and tail");
        verified(&cache, &victim, "victim");
        assert_eq!(cached(&cache, &forged, NOW), None, "same entry, other payload: a miss");
        assert_eq!(cached(&cache, &victim, NOW).as_deref(), Some("victim"));
        verified(&cache, &forged, "forged");
        assert_eq!(cached(&cache, &victim, NOW), None, "replaced, never answered for");
        assert_eq!(cached(&cache, &forged, NOW).as_deref(), Some("forged"));
    }

    #[test]
    fn the_hash_covers_the_tail_and_the_length_only() {
        let cache = TokenCache::new(&TokenCacheConfig::default());
        let hash = |token: &str| cache.probe(token).hash;
        let tail = "x".repeat(HASHED_TAIL);
        assert_eq!(hash(&format!("a.b.{tail}")), hash(&format!("c.d.{tail}")), "the head is not hashed");
        assert_ne!(hash(&format!("a.b.{tail}")), hash(&format!("a.bb.{tail}")), "the length is");
        assert_ne!(hash(&format!("a.b.y{}", &tail[1..])), hash(&format!("a.b.{tail}")), "the tail is");
        assert_ne!(hash("a.b.c"), hash("a.b.d"), "short tokens: all of it");
    }

    #[test]
    fn a_noted_miss_stands_for_the_hash_in_its_own_cache_only() {
        let config = TokenCacheConfig::default();
        let (a, b) = (TokenCache::new(&config), TokenCache::new(&config));
        let miss = a.miss(a.probe("a.b.c"));
        assert_eq!(a.after_miss("a.b.c", miss).map(|p| p.hash), Some(a.probe("a.b.c").hash));
        assert!(b.after_miss("a.b.c", miss).is_none(), "another cache hashes with another key");
        // Recorded under the noted hash, found by a fresh probe.
        let (keys, key) = keys();
        for _ in 0..2 {
            let probe = a.after_miss("a.b.c", miss).unwrap();
            a.insert(probe, &user("u1"), key.clone(), &keys, NOW + 60, NOW);
        }
        assert_eq!(cached(&a, "a.b.c", NOW).as_deref(), Some("u1"));
    }

    #[test]
    fn the_hash_is_keyed_per_cache() {
        let config = TokenCacheConfig::default();
        let (a, b) = (TokenCache::new(&config), TokenCache::new(&config));
        let hash = |cache: &TokenCache, token| cache.probe(token).hash;
        assert_ne!(hash(&a, "a.b.c"), hash(&b, "a.b.c"), "two caches, two secret keys");
        assert_eq!(hash(&a, "a.b.c"), hash(&a, "a.b.c"));
        assert_ne!(hash(&a, "a.b.c"), hash(&a, "a.b.d"));
    }

    /// Records `token` as verified (twice, so it is admitted) at `now`, valid long after.
    fn admitted_at<S: BuildHasher>(cache: &TokenCache<S>, token: &str, id: &str, now: u64) {
        let (keys, key) = keys();
        for _ in 0..2 {
            cache.insert(cache.probe(token), &user(id), key.clone(), &keys, now + 3600, now);
        }
    }

    fn one_minute_generations() -> TokenCacheConfig {
        TokenCacheConfig { max_ttl: Duration::from_secs(60), ..TokenCacheConfig::default() }
    }

    #[test]
    fn the_filter_answers_for_tokens_never_cached() {
        let cache = TokenCache::new(&TokenCacheConfig::default());
        let probe = cache.probe("a.b.c");
        assert!(!cache.maybe_cached.may_hold(probe.hash), "nothing cached yet");
        verified(&cache, "a.b.c", "u1");
        assert!(!cache.maybe_cached.may_hold(probe.hash), "a first sighting is only noted");
        verified(&cache, "a.b.c", "u1");
        assert!(cache.maybe_cached.may_hold(probe.hash), "cached, so the cache is asked");
        assert_eq!(cached(&cache, "a.b.c", NOW).as_deref(), Some("u1"));
    }

    #[test]
    fn a_cached_token_stays_visible_until_its_generation_has_expired() {
        let cache = TokenCache::new(&one_minute_generations());
        admitted_at(&cache, "a.b.c", "u1", NOW + 59);
        // The next generation starts: its bits are cleared, the previous ones kept.
        admitted_at(&cache, "x.y.z", "u2", NOW + 60);
        assert_eq!(cached(&cache, "a.b.c", NOW + 119).as_deref(), Some("u1"), "one generation later");
        assert_eq!(cached(&cache, "x.y.z", NOW + 119).as_deref(), Some("u2"));
        // Two generations later every entry of the first has outlived `max_ttl`.
        admitted_at(&cache, "p.q.r", "u3", NOW + 120);
        assert!(!cache.maybe_cached.may_hold(cache.probe("a.b.c").hash), "its bit is cleared");
        assert!(cache.maybe_cached.may_hold(cache.probe("x.y.z").hash), "the newer one's is not");
    }

    #[test]
    fn a_clock_that_goes_back_clears_nothing() {
        let cache = TokenCache::new(&one_minute_generations());
        admitted_at(&cache, "a.b.c", "u1", NOW);
        admitted_at(&cache, "x.y.z", "u2", NOW - 3600);
        assert_eq!(cached(&cache, "a.b.c", NOW).as_deref(), Some("u1"));
        assert_eq!(cached(&cache, "x.y.z", NOW).as_deref(), Some("u2"));
    }

    #[test]
    fn generations_last_max_ttl_rounded_up_to_whole_seconds() {
        let generation = |max_ttl| MaybeCached::new(10_000, max_ttl).generation_secs;
        assert_eq!(generation(Duration::from_secs(300)), 300);
        assert_eq!(generation(Duration::from_millis(1500)), 2);
        assert_eq!(generation(Duration::ZERO), 1);
    }
}
