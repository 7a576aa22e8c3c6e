//! Small crypto helpers: the master key and its versions (AES-256-GCM), random tokens,
//! hashing of stored secrets and constant-time comparison. Encryption, randomness and
//! digests come from aws-lc-rs, the workspace's only crypto backend.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;

/// Version prefix of ciphertexts written directly with the env master key.
const CIPHER_VERSION: &str = "v1";

/// Length of the GCM tag that ends every ciphertext.
const TAG_LEN: usize = 16;

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

/// An AES-256-GCM key. Cheap to clone (aws-lc-rs keys are not `Clone`, so it is shared).
#[derive(Clone)]
struct Cipher(Arc<LessSafeKey>);

impl Cipher {
    fn new(key: &[u8; 32]) -> Cipher {
        // Any 32 bytes are an AES-256 key.
        let key = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key is an AES-256 key");
        Cipher(Arc::new(LessSafeKey::new(key)))
    }
}

/// `{prefix}:` + base64(nonce || ciphertext || tag) with a fresh random 96-bit nonce:
/// byte for byte what the `aes-gcm` crate wrote before aws-lc-rs did (standard GCM).
fn seal(cipher: &Cipher, prefix: &str, plaintext: &[u8], aad: &str) -> String {
    let nonce = random_bytes::<NONCE_LEN>();
    let mut sealed = plaintext.to_vec();
    cipher
        .0
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut sealed)
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    format!("{prefix}:{}", STANDARD.encode([&nonce[..], &sealed].concat()))
}

/// Opens the base64 part of a ciphertext (after its version prefix).
fn open(cipher: &Cipher, b64: &str, aad: &str) -> Result<Vec<u8>, DecryptError> {
    let mut raw = STANDARD.decode(b64).map_err(|_| DecryptError)?;
    if raw.len() < NONCE_LEN + TAG_LEN {
        return Err(DecryptError);
    }
    let nonce = Nonce::try_assume_unique_for_key(&raw[..NONCE_LEN]).map_err(|_| DecryptError)?;
    let plaintext = cipher
        .0
        .open_within(nonce, Aad::from(aad.as_bytes()), &mut raw, NONCE_LEN..)
        .map_err(|_| DecryptError)?;
    Ok(plaintext.to_vec())
}

/// The key version of a stored ciphertext: `v7:...` is 7; `None` when malformed.
pub(crate) fn ciphertext_version(stored: &str) -> Option<u32> {
    let (prefix, _) = stored.split_once(':')?;
    let digits = prefix.strip_prefix('v')?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|v| *v >= 1)
}

/// A new random data key for a master-key version.
pub(crate) fn new_data_key() -> [u8; 32] {
    random_bytes::<32>()
}

/// Associated data binding a wrapped data key to its version, so a wrapped key cannot be
/// moved to another version's row.
fn data_key_aad(version: u32) -> String {
    format!("master-key-version:{version}")
}

/// AES-256-GCM with the master key (`MASTER_ENCRYPTION_KEY`); each ciphertext has a
/// random 96-bit nonce and binds associated data (the owning row's id) so ciphertexts
/// cannot be moved between rows.
///
/// Its ciphertexts are version 1 (`v1:`): signing keys, TOTP secrets, the wrapped data
/// keys of later versions (see [`Keyring`]) and credentials written before the first
/// rotation. When the env key itself is replaced, the old one can be kept as the
/// *previous* key: decryption tries the current key, then the previous one.
#[derive(Clone)]
pub(crate) struct MasterKey {
    cipher: Cipher,
    previous: Option<Cipher>,
}

impl MasterKey {
    pub(crate) fn new(key: &[u8; 32]) -> MasterKey {
        MasterKey { cipher: Cipher::new(key), previous: None }
    }

    /// Also decrypts what the previous env master key encrypted (changing the env key).
    pub(crate) fn with_previous(mut self, previous: &[u8; 32]) -> MasterKey {
        self.previous = Some(Cipher::new(previous));
        self
    }

    /// `v1:` + base64(nonce || ciphertext || tag).
    pub(crate) fn encrypt(&self, plaintext: &[u8], aad: &str) -> String {
        seal(&self.cipher, CIPHER_VERSION, plaintext, aad)
    }

    pub(crate) fn decrypt(&self, stored: &str, aad: &str) -> Result<Vec<u8>, DecryptError> {
        let b64 = stored.strip_prefix("v1:").ok_or(DecryptError)?;
        open(&self.cipher, b64, aad).or_else(|e| match &self.previous {
            Some(previous) => open(previous, b64, aad),
            None => Err(e),
        })
    }

    /// Wraps the data key of master-key version `version` (stored in the database).
    pub(crate) fn wrap_data_key(&self, version: u32, key: &[u8; 32]) -> String {
        self.encrypt(key, &data_key_aad(version))
    }

    /// Unwraps the data key of master-key version `version`.
    pub(crate) fn unwrap_data_key(&self, version: u32, wrapped: &str) -> Result<[u8; 32], DecryptError> {
        self.decrypt(wrapped, &data_key_aad(version))?.try_into().map_err(|_| DecryptError)
    }
}

/// The master-key versions known at one moment: version 1 is the env [`MasterKey`]
/// itself, versions 2 and up are data keys wrapped by it (envelope encryption). New
/// ciphertexts use the newest version; any known version decrypts.
///
/// Rotating therefore never needs the env key to change, and changing the env key only
/// needs the (few) wrapped data keys and `v1:` values re-encrypted, not every row.
pub(crate) struct Keyring {
    master: MasterKey,
    data: std::collections::BTreeMap<u32, Cipher>,
}

impl Keyring {
    /// A keyring with version 1 only.
    pub(crate) fn new(master: MasterKey) -> Keyring {
        Keyring { master, data: std::collections::BTreeMap::new() }
    }

    /// Adds version `version` (2 or more) from its wrapped data key.
    pub(crate) fn add_wrapped(&mut self, version: u32, wrapped: &str) -> Result<(), DecryptError> {
        if version < 2 {
            return Err(DecryptError);
        }
        let key = self.master.unwrap_data_key(version, wrapped)?;
        self.data.insert(version, Cipher::new(&key));
        Ok(())
    }

    /// The version new ciphertexts use.
    pub(crate) fn newest(&self) -> u32 {
        self.data.keys().next_back().copied().unwrap_or(1)
    }

    /// Encrypts with the newest version: `v{n}:` + base64(nonce || ciphertext || tag).
    pub(crate) fn encrypt(&self, plaintext: &[u8], aad: &str) -> String {
        match self.data.iter().next_back() {
            Some((version, cipher)) => seal(cipher, &format!("v{version}"), plaintext, aad),
            None => self.master.encrypt(plaintext, aad),
        }
    }

    /// Decrypts a ciphertext of any version this keyring holds.
    pub(crate) fn decrypt(&self, stored: &str, aad: &str) -> Result<Vec<u8>, DecryptError> {
        match ciphertext_version(stored).ok_or(DecryptError)? {
            1 => self.master.decrypt(stored, aad),
            version => {
                let cipher = self.data.get(&version).ok_or(DecryptError)?;
                let (_, b64) = stored.split_once(':').ok_or(DecryptError)?;
                open(cipher, b64, aad)
            }
        }
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

    #[test]
    fn i29_keyring_writes_the_newest_version_and_reads_every_version() {
        let master = MasterKey::new(&random_bytes::<32>());
        let mut ring = Keyring::new(master.clone());
        let old = ring.encrypt(b"before", "acct");
        assert!(old.starts_with("v1:"));
        assert_eq!(master.decrypt(&old, "acct").unwrap(), b"before", "v1 is the env key itself");
        ring.add_wrapped(2, &master.wrap_data_key(2, &new_data_key())).unwrap();
        ring.add_wrapped(3, &master.wrap_data_key(3, &new_data_key())).unwrap();
        assert_eq!(ring.newest(), 3);
        let new = ring.encrypt(b"after", "acct");
        assert!(new.starts_with("v3:"));
        assert_eq!(ring.decrypt(&old, "acct").unwrap(), b"before");
        assert_eq!(ring.decrypt(&new, "acct").unwrap(), b"after");
        assert!(ring.decrypt(&new, "other").is_err());
        // A version this keyring has not loaded, or a wrapped key moved to another version.
        assert!(Keyring::new(master.clone()).decrypt(&new, "acct").is_err());
        let wrapped = master.wrap_data_key(4, &new_data_key());
        assert!(ring.add_wrapped(5, &wrapped).is_err());
        assert!(ring.add_wrapped(1, &wrapped).is_err());
    }

    #[test]
    fn a_previous_env_key_still_decrypts_after_the_env_key_changes() {
        let old_key = random_bytes::<32>();
        let old = MasterKey::new(&old_key);
        let wrapped = old.wrap_data_key(2, &new_data_key());
        let secret = old.encrypt(b"totp", "user");
        let new = MasterKey::new(&random_bytes::<32>());
        assert!(new.decrypt(&secret, "user").is_err());
        let both = new.clone().with_previous(&old_key);
        assert_eq!(both.decrypt(&secret, "user").unwrap(), b"totp");
        assert!(Keyring::new(both.clone()).add_wrapped(2, &wrapped).is_ok());
        assert!(both.encrypt(b"x", "user").starts_with("v1:"));
        assert!(new.decrypt(&both.encrypt(b"x", "user"), "user").is_ok(), "writes use the current key");
    }

    #[test]
    fn ciphertexts_written_with_the_aes_gcm_crate_still_decrypt() {
        // Written by user-service before encryption moved to aws-lc-rs (aes-gcm 0.10, the
        // same `seal` with fixed nonces): env key 32 x 0x42, version 2's data key
        // 32 x 0x24 wrapped by it, a v1 TOTP seed and a v2 credential.
        const WRAPPED: &str =
            "v1:AQEBAQEBAQEBAQEBCY2SI7Bwpen7cs3owzOf746n2OepiPMnbHgULDZi0fHjYtGAVnlFkxKFitCp0saL";
        const SEED: &str = "v1:AgICAgICAgICAgIChopycvGPMubJh6EB54TKi6ptMOTWNKEvMPwwCcMU6AwY+P8R";
        const CREDENTIAL: &str = "v2:AwMDAwMDAwMDAwMDGo+DrK95MDjMM/w35v0QBFl1oESWgdcJK78=";
        let master = MasterKey::new(&[0x42; 32]);
        assert_eq!(master.unwrap_data_key(2, WRAPPED).unwrap(), [0x24; 32]);
        let mut ring = Keyring::new(master.clone());
        ring.add_wrapped(2, WRAPPED).unwrap();
        assert_eq!(ring.decrypt(SEED, "user-1").unwrap(), b"totp-seed-20-bytes!!");
        assert_eq!(ring.decrypt(CREDENTIAL, "client-9").unwrap(), b"credential");
        assert!(ring.decrypt(CREDENTIAL, "client-8").is_err(), "still bound to its row");
        // And the other way round: the layout is unchanged (nonce || ciphertext || tag).
        let fresh = STANDARD.decode(&master.encrypt(b"totp-seed-20-bytes!!", "user-1")[3..]).unwrap();
        assert_eq!(fresh.len(), STANDARD.decode(&SEED[3..]).unwrap().len());
    }

    #[test]
    fn malformed_ciphertexts_fail_cleanly() {
        let ring = Keyring::new(MasterKey::new(&random_bytes::<32>()));
        for stored in
            ["", "v", "v:", "x1:abc", "v0:abc", "v1:", "v1:!!!", "v2:AAAA", "v99999999999:AAAA", "v1:AAAA"]
        {
            assert!(ring.decrypt(stored, "a").is_err(), "{stored}");
        }
        assert_eq!(ciphertext_version("v12:abc"), Some(12));
        assert_eq!(ciphertext_version("v+1:abc"), None);
    }
}
