//! The verified-token cache: repeated tokens skip signature verification.
//!
//! Entries live no longer than the token's `exp` (plus leeway) nor
//! [`TokenCacheConfig::max_ttl`], and are ignored once their key has left the issuer's
//! key set, so rotating a compromised key out takes effect at the next refresh.
//!
//! # Keys: a keyed mix of the token's tail picks the bucket, the full token decides the hit
//!
//! An entry is found by a 64-bit keyed mix of the token's length and its last
//! [`HASHED_TAIL`] bytes: each 16 bytes, XORed with a secret 128-bit key (drawn from
//! std's [`RandomState`], so from the OS, per cache), are folded by one 64x64-bit
//! multiply (foldhash's construction). It used to be a SHA-256 of the whole token, then a
//! SipHash of the whole token, then a SipHash of the tail; the mix costs about 30
//! instructions, a tenth of the last, and guards nothing less, because the hash never
//! decides an answer:
//!
//! - The tail spreads entries as well as the whole token would: a compact JWS ends with
//!   its signature segment, at least 43 characters for every accepted algorithm (HS256's
//!   32 bytes), so the last 32 characters are 192 bits of signature. Signatures of
//!   different signing inputs are unpredictable for anyone without the issuer's key, so
//!   two different verified tokens share a tail only by chance.
//! - Nobody can aim at an entry in a way that matters. Only verified tokens are stored,
//!   and a client cannot choose the signature of a token it is issued; it could only
//!   pick, among many tokens issued to it, those landing beside another user's token,
//!   which needs that token's tail (a secret bearer credential it does not have) and the
//!   cache's key. The mix is not a pseudo-random function, so it promises no more than
//!   that; a collision it allows costs one extra verification, never a wrong answer.
//! - A shared bucket or hash never yields another token's principal: each entry keeps
//!   the token it was verified for, and a hit compares all of it with the presented token
//!   in constant time (the `constant_time_eq` crate: 16 bytes per step with SSE2, and an
//!   optimization barrier so the compiler cannot stop at the first difference; 310
//!   instructions for a 717-byte token, where aws-lc's `CRYPTO_memcmp` took 400 and
//!   `subtle`'s byte-wise `ct_eq` 2.6 µs). A
//!   mismatch is a miss, so the presented token is verified like any unknown one. The
//!   comparison takes the same time wherever the tokens differ, so a probe learns nothing
//!   of a cached token's bytes (only whether the lengths differ, and JWT lengths are
//!   public anyway). The hash is compared first, in variable time: it is a function of
//!   the presented token and a key the client never sees, and tells it nothing it could
//!   not learn by trying the token.
//!
//! # An eight-way table, no eviction machinery
//!
//! The cache is a fixed table of `max_entries / 8` buckets of eight entries each, behind
//! one read-write lock per bucket (readers share it; a writer holds it for a few stores,
//! never across I/O). Each entry's hash sits in the bucket beside its pointer, so a hit
//! is a read of the bucket, a hash compare per entry, the token compare and a clone of
//! the principal's `Arc`: about 400 instructions, where a general-purpose concurrent
//! cache (moka, used here before) spent 1,000 on its frequency sketch, read log and
//! clock. An insert takes the entry holding the same hash, else an empty one, else the
//! one expiring first. Eight ways, not two, so that chance does not cost capacity: with
//! half of `max_entries` in use, two-entry buckets that three or more tokens fell into
//! kept missing 18% of the repeats; eight-entry buckets miss about 1%. Entries expire by
//! the verifier's clock: never later than the token's `exp` (plus leeway) nor
//! [`TokenCacheConfig::max_ttl`] after they were cached.
//!
//! # One lookup per request
//!
//! Middleware ask the cache first, synchronously ([`crate::Authenticator::attempt`]),
//! and verify only on a miss. The miss
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
//! only noted in a Bloom filter (two bits per token, atomic words, no locks, no
//! allocation, cleared after about as many notes as the cache holds, at least 1 024); it
//! enters the cache when it is verified again while still noted there. A client
//! repeating its token pays two verifications instead of one, then hits.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::key::VerifyingKey;
use crate::keyset::KeySet;
use crate::principal::Principal;

/// Tuning for the verified-token cache.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenCacheConfig {
    /// Maximum number of cached tokens (rounded up to a multiple of eight, the entries
    /// of a bucket). Default 10 000.
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

/// One cached verification; shared behind an `Arc` so an insert moves one pointer.
pub(crate) struct Hit {
    /// The verified token, compared in full on every hit.
    token: Box<[u8]>,
    principal: Principal,
    key: Arc<VerifyingKey>,
    keys: KeySet,
    /// The last second it may answer (seconds since the epoch): `exp + leeway`, or
    /// [`TokenCacheConfig::max_ttl`] after it was cached if that comes first.
    valid_until: u64,
    /// The key set's generation when the key was last seen in it, and until when that
    /// set is usable: while the generation is unchanged the key is certainly still there.
    generation: u64,
    set_usable_until: Option<tokio::time::Instant>,
}

impl Hit {
    /// Whether the key that verified the token is still trusted by its issuer's key set.
    fn key_still_trusted(&self) -> bool {
        if self.keys.is_unchanged(self.generation) {
            self.set_usable_until.is_none_or(|until| tokio::time::Instant::now() < until)
        } else {
            self.keys.still_has(&self.key)
        }
    }
}

/// Entries per bucket. With two, a working set of half of `max_entries` lost 18% of
/// its repeats for good: a bucket that three or more of its tokens fall into by chance
/// (a quarter of them, at that load) keeps only two. With eight, about 1%.
const WAYS: usize = 8;

/// The entries sharing a bucket, each with the hash it was cached under beside it, so a
/// probe reads the bucket's own memory and follows a pointer only for a matching hash.
type Bucket = RwLock<[Slot; WAYS]>;

#[derive(Default)]
struct Slot {
    hash: u64,
    hit: Option<Arc<Hit>>,
}

impl Slot {
    /// The entry for exactly `probe`'s token: the same hash, then the whole token
    /// compared in constant time.
    fn holds(&self, probe: &Probe<'_>) -> Option<&Arc<Hit>> {
        let hit = self.hit.as_ref().filter(|_| self.hash == probe.hash)?;
        constant_time_eq::constant_time_eq(&hit.token, probe.token).then_some(hit)
    }
}

/// The default hasher of the cache key: a keyed multiply-fold (see the module docs).
#[derive(Clone)]
pub(crate) struct TailMix {
    key: [u64; 2],
}

impl TailMix {
    /// A secret key drawn from std's [`RandomState`] (the OS's randomness).
    fn new() -> TailMix {
        let random = RandomState::new();
        TailMix { key: [random.hash_one(0x5eed_u64), random.hash_one(0xf01d_u64)] }
    }
}

impl BuildHasher for TailMix {
    type Hasher = TailMixer;

    fn build_hasher(&self) -> TailMixer {
        TailMixer { key: self.key, state: self.key[0].rotate_left(23) }
    }
}

/// The state of one [`TailMix`] hash.
pub(crate) struct TailMixer {
    key: [u64; 2],
    state: u64,
}

/// The upper and lower halves of a full 64x64-bit product, XORed.
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for TailMixer {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(16) {
            let mut block = [0u8; 16];
            block.iter_mut().zip(chunk).for_each(|(to, from)| *to = *from);
            let block = u128::from_le_bytes(block);
            let (lo, hi) = (block as u64, (block >> 64) as u64);
            self.state = folded_multiply(lo ^ self.key[0] ^ self.state, hi ^ self.key[1]);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.state = folded_multiply(self.state ^ n as u64 ^ self.key[1], self.key[0] | 1);
    }

    fn finish(&self) -> u64 {
        folded_multiply(self.state, self.key[1] | 1)
    }
}

/// How many bytes at the end of a token the cache key covers (see the module docs).
pub(crate) const HASHED_TAIL: usize = 32;

/// A token and its hash under the cache's secret key, computed once per request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe<'a> {
    hash: u64,
    token: &'a [u8],
}

/// A cache miss noted for a token: which cache said so, and the token's hash in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheMiss {
    cache: u64,
    hash: u64,
}

/// Tells caches apart, so a miss noted by one is never taken for another's.
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

/// Remembers which tokens were verified recently, so a token is admitted into the cache
/// when seen again: a Bloom filter of two bits per token, cleared once it has noted
/// about as many tokens as the cache holds (TinyLFU's doorkeeper).
///
/// Notes never overwrite each other. A table of one hash per slot, used before, did:
/// two tokens sharing a slot, seen in turn, each replaced the other's note, so neither
/// was ever admitted. With 5 000 users repeating their tokens and the default 10 000
/// entries, that kept a quarter of them missing for good. Here a token is forgotten
/// only when the filter is cleared, and a token noted by chance (another token set its
/// two bits, about 1% of them at the fullest) is only admitted early.
struct Sightings {
    words: Box<[AtomicU64]>,
    /// Bits in the filter, less one (a power of two).
    mask: u64,
    /// Tokens noted since the filter was last cleared, and how many clear it.
    noted: AtomicU64,
    limit: u64,
}

impl Sightings {
    /// 16 bits per token the cache holds (a power of two, 16 Ki..64 Mi bits), cleared
    /// after one note per 16 bits: at least 1 024, so a tiny cache still admits tokens.
    fn new(max_entries: u64) -> Sightings {
        let bits = max_entries.saturating_mul(16).clamp(1 << 14, 1 << 26).next_power_of_two();
        Sightings {
            words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            mask: bits - 1,
            noted: AtomicU64::new(0),
            limit: bits / 16,
        }
    }

    /// True if `hash` was noted since the filter was last cleared; notes it otherwise.
    fn seen_again(&self, hash: u64) -> bool {
        // Two bits from separate halves of the hash (the bucket uses its upper bits, in
        // a different way).
        let bits = [hash & self.mask, (hash >> 32) & self.mask];
        let word = |bit: u64| usize::try_from(bit / 64).ok().and_then(|i| self.words.get(i));
        let is_set = |bit: u64| word(bit).is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (bit % 64)) != 0);
        if bits.iter().all(|&bit| is_set(bit)) {
            return true;
        }
        for bit in bits {
            if let Some(w) = word(bit) {
                w.fetch_or(1 << (bit % 64), Ordering::Relaxed);
            }
        }
        // Cleared once full, so one-off tokens do not fill it up and admit everything.
        // Racing clears only forget notes, which delays admissions.
        if self.noted.fetch_add(1, Ordering::Relaxed) + 1 >= self.limit {
            self.noted.store(0, Ordering::Relaxed);
            for w in &self.words {
                w.store(0, Ordering::Relaxed);
            }
        }
        false
    }
}

pub(crate) struct TokenCache<S = TailMix> {
    id: u64,
    buckets: Box<[Bucket]>,
    hasher: S,
    sightings: Option<Sightings>,
    /// [`TokenCacheConfig::max_ttl`] in whole seconds, rounded up.
    max_ttl_secs: u64,
}

impl TokenCache {
    pub(crate) fn new(config: &TokenCacheConfig) -> TokenCache {
        TokenCache::with_hasher(config, TailMix::new())
    }
}

impl<S: BuildHasher> TokenCache<S> {
    fn with_hasher(config: &TokenCacheConfig, hasher: S) -> TokenCache<S> {
        // At most 2^21 buckets (16 Mi entries), so a mistaken huge `max_entries` costs
        // about 300 MB of empty buckets at worst, not all memory.
        let buckets = config.max_entries.div_ceil(WAYS as u64).clamp(1, 1 << 21);
        let buckets = (0..buckets).map(|_| RwLock::default()).collect();
        let sightings = (!config.admit_on_first_sighting).then(|| Sightings::new(config.max_entries));
        let id = NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed);
        let max_ttl = config.max_ttl;
        let max_ttl_secs = max_ttl.as_secs() + u64::from(max_ttl.subsec_nanos() > 0);
        TokenCache { id, buckets, hasher, sightings, max_ttl_secs }
    }

    /// Hashes the token's length and tail under this cache's key, for [`Self::get`] and
    /// [`Self::insert`].
    pub(crate) fn probe<'a, T: AsRef<[u8]> + ?Sized>(&self, token: &'a T) -> Probe<'a> {
        let bytes = token.as_ref();
        let mut hasher = self.hasher.build_hasher();
        hasher.write(bytes.get(bytes.len().saturating_sub(HASHED_TAIL)..).unwrap_or(bytes));
        hasher.write_usize(bytes.len());
        Probe { hash: hasher.finish(), token: bytes }
    }

    /// Notes that `probe` missed, for [`Self::after_miss`].
    pub(crate) fn miss(&self, probe: Probe<'_>) -> CacheMiss {
        CacheMiss { cache: self.id, hash: probe.hash }
    }

    /// The probe for `token` when this cache noted `miss` for it (no hashing, and no
    /// lookup needed); `None` when the miss is another cache's.
    pub(crate) fn after_miss<'a, T: AsRef<[u8]> + ?Sized>(
        &self,
        token: &'a T,
        miss: CacheMiss,
    ) -> Option<Probe<'a>> {
        (miss.cache == self.id).then_some(Probe { hash: miss.hash, token: token.as_ref() })
    }

    /// The bucket of `hash`: its upper bits, scaled to the table.
    fn bucket(&self, hash: u64) -> Option<&Bucket> {
        let index = (u128::from(hash) * self.buckets.len() as u128) >> 64;
        self.buckets.get(usize::try_from(index).ok()?)
    }

    /// A still-valid principal for exactly this token, if cached.
    pub(crate) fn get(&self, probe: Probe<'_>, now: u64) -> Option<Principal> {
        let bucket = self.bucket(probe.hash)?;
        {
            // Entries are replaced whole, so a panic elsewhere cannot leave one half-written.
            let slots = bucket.read().unwrap_or_else(PoisonError::into_inner);
            let hit = slots.iter().find_map(|slot| slot.holds(&probe))?;
            if now <= hit.valid_until && hit.key_still_trusted() {
                return Some(hit.principal.clone());
            }
        }
        // Expired, or its key left the key set: drop it, unless replaced meanwhile (by
        // another token of the same hash, so compared in constant time again).
        let mut slots = bucket.write().unwrap_or_else(PoisonError::into_inner);
        for slot in slots.iter_mut() {
            if slot.holds(&probe).is_some() {
                slot.hit = None;
            }
        }
        None
    }

    pub(crate) fn insert(
        &self,
        probe: Probe<'_>,
        principal: &Principal,
        key: Arc<VerifyingKey>,
        keys: &KeySet,
        valid_until: u64,
        now: u64,
    ) {
        let valid_until = valid_until.min(now.saturating_add(self.max_ttl_secs));
        if valid_until <= now || self.sightings.as_ref().is_some_and(|s| !s.seen_again(probe.hash)) {
            return;
        }
        let Some((generation, set_usable_until)) = keys.membership(&key) else {
            return;
        };
        let Some(bucket) = self.bucket(probe.hash) else { return };
        let hit = Arc::new(Hit {
            token: probe.token.into(),
            principal: principal.clone(),
            key,
            keys: keys.clone(),
            valid_until,
            generation,
            set_usable_until,
        });
        let mut slots = bucket.write().unwrap_or_else(PoisonError::into_inner);
        // The entry of the same hash (the token again, or one it collides with), else an
        // empty one, else the one expiring first (an expired one, if there is one).
        let same = slots.iter().position(|slot| slot.hit.is_some() && slot.hash == probe.hash);
        let free = || slots.iter().position(|slot| slot.hit.is_none());
        let first_to_expire = || {
            let until = |slot: &Slot| slot.hit.as_ref().map_or(0, |hit| hit.valid_until);
            (0..WAYS).min_by_key(|&i| slots.get(i).map_or(0, until)).unwrap_or(0)
        };
        let victim = same.or_else(free).unwrap_or_else(first_to_expire);
        if let Some(slot) = slots.get_mut(victim) {
            *slot = Slot { hash: probe.hash, hit: Some(hit) };
        }
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

    /// Tokens whose hashes share a sightings bit, seen in turn: neither keeps the other
    /// out (a table of one hash per slot admitted neither, ever).
    #[test]
    fn tokens_sharing_sightings_bits_are_both_admitted() {
        let cache =
            TokenCache::with_hasher(&TokenCacheConfig::default(), BuildHasherDefault::<SameSlot>::default());
        assert_ne!(cache.probe("a.b.c").hash, cache.probe("x.y.zz").hash);
        for _ in 0..2 {
            verified(&cache, "a.b.c", "u1");
            verified(&cache, "x.y.zz", "u2");
        }
        assert_eq!(cached(&cache, "a.b.c", NOW).as_deref(), Some("u1"));
        assert_eq!(cached(&cache, "x.y.zz", NOW).as_deref(), Some("u2"));
    }

    /// A tiny cache still admits a repeated token: the filter is sized (and cleared)
    /// for at least 1 024 notes, not for `max_entries` of them.
    #[test]
    fn a_cache_of_one_entry_admits_a_token_on_its_second_sighting() {
        let cache = TokenCache::new(&TokenCacheConfig { max_entries: 1, ..TokenCacheConfig::default() });
        verified(&cache, "a.b.c", "u1");
        verified(&cache, "a.b.c", "u1");
        assert_eq!(cached(&cache, "a.b.c", NOW).as_deref(), Some("u1"));
    }

    #[test]
    fn sightings_are_forgotten_once_as_many_tokens_as_the_cache_holds_were_noted() {
        let sightings = Sightings::new(1_024);
        let spread = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        assert!(!sightings.seen_again(spread(0)), "first sighting");
        assert!(sightings.seen_again(spread(0)), "second");
        for i in 1..1_023 {
            sightings.seen_again(spread(i));
        }
        assert!(sightings.seen_again(spread(0)), "1 023 notes: still remembered");
        sightings.seen_again(spread(5_000));
        assert!(!sightings.seen_again(spread(0)), "the 1 024th cleared the filter");
    }

    #[test]
    fn a_full_filter_mistakes_few_new_tokens_for_seen_ones() {
        let sightings = Sightings::new(10_000);
        assert_eq!(sightings.limit, 16_384, "160 000 bits, rounded up to 2^18");
        let spread = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ i.wrapping_mul(31);
        for i in 0..sightings.limit - 1 {
            sightings.seen_again(spread(i));
        }
        let early = (100_000..110_000).filter(|&i| sightings.seen_again(spread(i))).count();
        assert!(early < 300, "{early} of 10 000 new tokens taken for seen ones (about 140 expected)");
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

    /// A cache of one bucket: every token shares it.
    fn one_bucket() -> TokenCache {
        TokenCache::new(&TokenCacheConfig { max_entries: WAYS as u64, ..first_sighting() })
    }

    fn verified_until(cache: &TokenCache, token: &str, id: &str, valid_until: u64) {
        let (keys, key) = keys();
        cache.insert(cache.probe(token), &user(id), key, &keys, valid_until, NOW);
    }

    #[test]
    fn a_bucket_holds_eight_tokens_and_a_ninth_replaces_the_one_expiring_first() {
        let cache = one_bucket();
        assert_eq!(cache.buckets.len(), 1);
        // Expiring in 60, 61, ... seconds, except the fifth: 30.
        let until = |i: u64| if i == 4 { NOW + 30 } else { NOW + 60 + i };
        for i in 0..WAYS as u64 {
            verified_until(&cache, &format!("t{i}.b.c"), &format!("u{i}"), until(i));
        }
        for i in 0..WAYS as u64 {
            let id = cached(&cache, &format!("t{i}.b.c"), NOW);
            assert_eq!(id, Some(format!("u{i}")), "eight tokens, one bucket");
        }
        verified_until(&cache, "t8.b.c", "u8", NOW + 90);
        assert_eq!(cached(&cache, "t4.b.c", NOW), None, "the one expiring first made room");
        for i in (0..=WAYS as u64).filter(|&i| i != 4) {
            assert_eq!(cached(&cache, &format!("t{i}.b.c"), NOW), Some(format!("u{i}")));
        }
    }

    #[test]
    fn the_same_token_again_takes_its_own_entry_not_a_second_one() {
        let cache = one_bucket();
        verified_until(&cache, "a.b.c", "u1", NOW + 60);
        verified_until(&cache, "d.e.f", "u2", NOW + 30);
        verified_until(&cache, "a.b.c", "u1", NOW + 90);
        assert_eq!(cached(&cache, "d.e.f", NOW).as_deref(), Some("u2"), "not evicted by a repeat");
        assert_eq!(cached(&cache, "a.b.c", NOW + 90).as_deref(), Some("u1"), "the newer expiry");
    }

    #[test]
    fn an_entry_lives_no_longer_than_max_ttl_rounded_up_to_a_second() {
        let config = TokenCacheConfig { max_ttl: Duration::from_millis(1500), ..first_sighting() };
        let cache = TokenCache::new(&config);
        assert_eq!(cache.max_ttl_secs, 2);
        verified_until(&cache, "a.b.c", "u1", NOW + 3600);
        assert_eq!(cached(&cache, "a.b.c", NOW + 2).as_deref(), Some("u1"));
        assert_eq!(cached(&cache, "a.b.c", NOW + 3), None, "max_ttl, not exp, ended it");
        let off = TokenCache::new(&TokenCacheConfig { max_ttl: Duration::ZERO, ..first_sighting() });
        verified_until(&off, "a.b.c", "u1", NOW + 3600);
        assert_eq!(cached(&off, "a.b.c", NOW), None, "a zero max_ttl caches nothing");
    }

    #[test]
    fn the_table_has_an_eighth_as_many_buckets_as_entries_and_at_least_one() {
        let buckets = |max_entries| {
            TokenCache::new(&TokenCacheConfig { max_entries, ..first_sighting() }).buckets.len()
        };
        assert_eq!(buckets(10_000), 1_250);
        assert_eq!(buckets(9), 2);
        assert_eq!(buckets(0), 1);
    }

    /// A working set of half the configured entries, repeated, is answered from the
    /// cache: neither buckets overflowing by chance nor tokens sharing sightings bits may
    /// make a share of it miss for good.
    #[test]
    fn a_working_set_of_half_the_entries_is_served_from_the_cache() {
        for admit_on_first_sighting in [false, true] {
            let config = TokenCacheConfig { max_entries: 2_000, admit_on_first_sighting, ..first_sighting() };
            let hits = working_set_hits(&TokenCache::new(&config));
            assert!(hits >= 950, "{hits} of 1 000 repeated tokens hit (about 990 expected)");
        }
    }

    /// Hits in the fourth round of 1 000 tokens, each verified on a miss.
    fn working_set_hits(cache: &TokenCache) -> usize {
        let tokens: Vec<String> = (0..1_000u64)
            .map(|i| {
                format!("h.p.{:032x}", u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
            })
            .collect();
        let mut hits = 0;
        for round in 0..4 {
            for token in &tokens {
                match cached(cache, token, NOW) {
                    Some(_) => hits += usize::from(round == 3),
                    None => verified(cache, token, "u"),
                }
            }
        }
        hits
    }

    #[test]
    fn the_tail_mix_spreads_tokens_over_the_buckets() {
        // 20 000 random-looking tails into 5 000 buckets: about 4 each, none crowded.
        let cache = TokenCache::new(&TokenCacheConfig { max_entries: 40_000, ..first_sighting() });
        let mut counts = vec![0u32; cache.buckets.len()];
        for i in 0..20_000u64 {
            let token =
                format!("h.p.{:032x}", u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
            let index = (u128::from(cache.probe(&token).hash) * counts.len() as u128) >> 64;
            counts[index as usize] += 1;
        }
        let max = counts.iter().max().copied().unwrap_or_default();
        let empty = counts.iter().filter(|&&c| c == 0).count();
        assert!(max <= 16, "a bucket got {max} of 20 000");
        assert!(empty < 200, "{empty} of 5 000 buckets got none (about 90 expected)");
    }
}
