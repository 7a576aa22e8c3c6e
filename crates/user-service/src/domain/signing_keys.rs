//! Signing keys: RSA 2048 (RS256), kept in the database with the private key encrypted by
//! the master key, so every instance signs with the same key and serves the same JWKS.
//!
//! Lifecycle. A key is *published* from its creation until `expires_at`, and *signs* once
//! `activate_at` has passed (the most recently activated key signs). Rotation inserts a
//! key that activates `key_publish_delay_secs` later (published before it signs, so
//! verifiers that cached the JWKS already know it) and schedules the previous keys to
//! leave the JWKS at `activate_at + access_token_ttl + jwks_max_age`: every token they
//! signed has expired and every cached JWKS has been refreshed by then.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;

use super::actor::Actor;
use super::error::{DomainError, DomainResult};
use super::roles::once_each;
use crate::config::SigningAlg;
use crate::crypto::{MasterKey, sha256_b64url};
use crate::db::Db;
use crate::store::SigningKeyRow;

/// A key loaded into memory.
pub(crate) struct LoadedKey {
    pub(crate) kid: String,
    pub(crate) alg: jsonwebtoken::Algorithm,
    pub(crate) activate_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) encoding: EncodingKey,
    pub(crate) jwk: serde_json::Value,
}

struct Cache {
    loaded_at: Instant,
    keys: Arc<Vec<LoadedKey>>,
}

/// Why keys could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Database failure.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored private key does not decrypt with this master key.
    #[error("signing key {0} does not decrypt with the configured master key")]
    Decrypt(String),
    /// Key generation or parsing failed.
    #[error("key material: {0}")]
    Material(String),
}

fn material(e: impl std::fmt::Display) -> KeyError {
    KeyError::Material(e.to_string())
}

/// Loads, caches, creates and rotates the signing keys.
#[derive(Clone)]
pub(crate) struct KeyManager {
    db: Db,
    master: MasterKey,
    reload: Duration,
    alg: SigningAlg,
    publish_delay: i64,
    retire_after: i64,
    cache: Arc<RwLock<Option<Cache>>>,
    reload_lock: Arc<tokio::sync::Mutex<()>>,
    /// The same keys for the core crate's verifier, replaced on every reload.
    verifier_keys: authgate::KeySet,
    last_miss_reload: Arc<std::sync::Mutex<Option<Instant>>>,
}

/// Minimum time between re-reads caused by unknown kids.
const MISS_RELOAD_COOLDOWN: Duration = Duration::from_secs(5);

impl KeyManager {
    pub(crate) fn new(
        db: Db,
        master: MasterKey,
        alg: SigningAlg,
        reload_secs: u64,
        publish_delay_secs: u64,
        access_ttl_secs: u64,
        jwks_max_age_secs: u64,
    ) -> KeyManager {
        KeyManager {
            db,
            master,
            reload: Duration::from_secs(reload_secs),
            alg,
            publish_delay: publish_delay_secs as i64,
            retire_after: (access_ttl_secs + jwks_max_age_secs) as i64,
            cache: Arc::new(RwLock::new(None)),
            reload_lock: Arc::new(tokio::sync::Mutex::new(())),
            verifier_keys: authgate::KeySet::from_jwks_json(r#"{"keys":[]}"#)
                .expect("an empty JWKS is a valid key set"),
            last_miss_reload: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// The key set the service's own [`authgate::Verifier`] uses.
    pub(crate) fn verifier_keys(&self) -> authgate::KeySet {
        self.verifier_keys.clone()
    }

    /// Creates the first key when the database has no key that can sign now.
    ///
    /// Instances starting together on an empty database create one key between them: the
    /// insert is conditional, and on PostgreSQL it runs under an advisory lock.
    pub(crate) async fn ensure_signing_key(&self, now: i64) -> Result<(), KeyError> {
        let keys = self.db.published_signing_keys(now).await?;
        if !keys.iter().any(|k| k.activate_at <= now) {
            let row = self.new_key_row(now).await?;
            if self.db.insert_first_signing_key(&row, now).await? {
                tracing::info!(kid = %row.kid, "created the first signing key");
            }
        }
        self.reload(now).await?;
        Ok(())
    }

    /// Rotates: publishes a new key that signs after the publish delay, and schedules the
    /// current keys' removal. Returns the new `kid`.
    pub(crate) async fn rotate(&self, now: i64) -> Result<String, KeyError> {
        let activate_at = now + self.publish_delay;
        let row = self.new_key_row(activate_at).await?;
        self.db.insert_signing_key(&row, now).await?;
        tracing::info!(kid = %row.kid, activate_at, "created signing key");
        self.db.expire_signing_keys(&row.kid, activate_at + self.retire_after).await?;
        self.reload(now).await?;
        Ok(row.kid)
    }

    async fn new_key_row(&self, activate_at: i64) -> Result<SigningKeyRow, KeyError> {
        let alg = self.alg;
        let (pkcs8, jwk, kid) =
            tokio::task::spawn_blocking(move || generate(alg)).await.map_err(material)??;
        Ok(SigningKeyRow {
            private_key_enc: self.master.encrypt(&pkcs8, &kid),
            public_jwk: jwk.to_string(),
            kid,
            alg: alg.as_str().to_owned(),
            activate_at,
            expires_at: None,
        })
    }

    /// Re-reads the keys from the database.
    pub(crate) async fn reload(&self, now: i64) -> Result<Arc<Vec<LoadedKey>>, KeyError> {
        let _guard = self.reload_lock.lock().await;
        let rows = self.db.published_signing_keys(now).await?;
        let keys = Arc::new(rows.into_iter().map(|row| self.load(row)).collect::<Result<Vec<_>, _>>()?);
        let jwks = serde_json::json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
        self.verifier_keys.replace_jwks_json(&jwks.to_string()).map_err(material)?;
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        *cache = Some(Cache { loaded_at: Instant::now(), keys: keys.clone() });
        Ok(keys)
    }

    fn load(&self, row: SigningKeyRow) -> Result<LoadedKey, KeyError> {
        let SigningKeyRow { kid, alg, private_key_enc, public_jwk, activate_at, expires_at } = row;
        let pkcs8 =
            self.master.decrypt(&private_key_enc, &kid).map_err(|_| KeyError::Decrypt(kid.clone()))?;
        let (alg, encoding) = match alg.as_str() {
            "RS256" => {
                let pem = format!(
                    "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                    STANDARD.encode(&pkcs8)
                );
                (jsonwebtoken::Algorithm::RS256, EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(material)?)
            }
            "ES256" => (jsonwebtoken::Algorithm::ES256, EncodingKey::from_ec_der(&pkcs8)),
            "EdDSA" => (jsonwebtoken::Algorithm::EdDSA, EncodingKey::from_ed_der(&pkcs8)),
            other => return Err(material(format!("unsupported algorithm {other}"))),
        };
        let jwk = serde_json::from_str(&public_jwk).map_err(material)?;
        Ok(LoadedKey { kid, alg, activate_at, expires_at, encoding, jwk })
    }

    /// The published keys, re-read from the database when the cache is older than the
    /// reload interval (so keys rotated by another instance show up).
    pub(crate) async fn keys(&self, now: i64) -> Result<Arc<Vec<LoadedKey>>, KeyError> {
        {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.as_ref().filter(|c| c.loaded_at.elapsed() < self.reload) {
                return Ok(c.keys.clone());
            }
        }
        self.reload(now).await
    }

    /// Re-reads the keys after a token named a `kid` the verifier does not know (another
    /// instance may have rotated), at most once per `MISS_RELOAD_COOLDOWN` so random kids
    /// cannot turn into a database query each.
    pub(crate) async fn reload_after_miss(&self, now: i64) -> Result<(), KeyError> {
        {
            let mut last = self.last_miss_reload.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < MISS_RELOAD_COOLDOWN) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        self.reload(now).await?;
        Ok(())
    }

    /// True when a loaded key can sign at `now` (for `/ready`); re-reads the keys when
    /// the cache is stale, so a database that lost them shows here.
    pub(crate) async fn can_sign(&self, now: i64) -> bool {
        self.keys(now).await.is_ok_and(|keys| signer_index(&keys, now).is_some())
    }

    /// The public JWKs of the published keys (the JWKS's `keys`).
    pub(crate) async fn public_jwks(&self, now: i64) -> Result<Vec<serde_json::Value>, KeyError> {
        Ok(self.keys(now).await?.iter().map(|k| k.jwk.clone()).collect())
    }

    /// The distinct `alg` of the published keys, in JWKS order: what really signs (or will,
    /// or did for tokens still valid), not every algorithm the code could use.
    pub(crate) async fn published_algs(&self, now: i64) -> Result<Vec<String>, KeyError> {
        let keys = self.keys(now).await?;
        Ok(once_each(keys.iter().filter_map(|k| k.jwk["alg"].as_str().map(str::to_owned))))
    }

    /// An administrator's rotation (needs `admin:keys:rotate`): the new key's kid and
    /// when it starts to sign.
    pub(crate) async fn rotate_by(&self, actor: &Actor<'_>) -> DomainResult<(String, i64)> {
        actor.require("admin:keys:rotate")?;
        let now = crate::now();
        let kid = self.rotate(now).await.map_err(DomainError::internal)?;
        actor.record(&self.db, "signing_key_rotated", None, Some(serde_json::json!({"kid": kid}))).await;
        Ok((kid, now + self.publish_delay))
    }

    /// `keys rotate`: an operator's rotation, recorded without an actor; returns the kid.
    pub(crate) async fn rotate_by_operator(&self) -> Result<String, KeyError> {
        let kid = self.rotate(crate::now()).await?;
        let details = serde_json::json!({"kid": kid});
        self.db
            .insert_audit(
                "signing_key_rotated",
                None,
                None,
                &Default::default(),
                Some(&details),
                crate::now(),
            )
            .await?;
        Ok(kid)
    }
}

/// Index of the key that signs at `now`: among activated keys, one not yet scheduled for
/// retirement wins over retired ones, then the most recently activated (then by kid, so
/// every instance picks the same key).
pub(crate) fn signer_index(keys: &[LoadedKey], now: i64) -> Option<usize> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| k.activate_at <= now)
        .max_by(|(_, a), (_, b)| {
            (a.expires_at.is_none(), a.activate_at, &a.kid).cmp(&(
                b.expires_at.is_none(),
                b.activate_at,
                &b.kid,
            ))
        })
        .map(|(i, _)| i)
}

/// Generates a key: `(pkcs8 der, public jwk, kid)`; kid is the RFC 7638 SHA-256
/// thumbprint of the public JWK.
fn generate(alg: SigningAlg) -> Result<(Vec<u8>, serde_json::Value, String), KeyError> {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    // The members RFC 7638 requires, in lexicographic order: the thumbprint's input.
    let (pkcs8, mut jwk) = match alg {
        SigningAlg::RS256 => {
            let pair = KeyPair::generate(KeySize::Rsa2048).map_err(material)?;
            let pkcs8 = pair.as_der().map_err(material)?.as_ref().to_vec();
            let public = pair.public_key();
            let n = b64(public.modulus().big_endian_without_leading_zero());
            let e = b64(public.exponent().big_endian_without_leading_zero());
            (pkcs8, serde_json::json!({ "e": e, "kty": "RSA", "n": n }))
        }
        SigningAlg::ES256 => {
            use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(material)?;
            let pkcs8 = pair.to_pkcs8v1().map_err(material)?.as_ref().to_vec();
            // Uncompressed point: 0x04 || X || Y.
            let point = pair.public_key().as_ref();
            let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
            (pkcs8, serde_json::json!({ "crv": "P-256", "kty": "EC", "x": x, "y": y }))
        }
        SigningAlg::EdDSA => {
            use aws_lc_rs::signature::Ed25519KeyPair;
            let pair = Ed25519KeyPair::generate().map_err(material)?;
            let pkcs8 = pair.to_pkcs8v1().map_err(material)?.as_ref().to_vec();
            let x = b64(pair.public_key().as_ref());
            (pkcs8, serde_json::json!({ "crv": "Ed25519", "kty": "OKP", "x": x }))
        }
    };
    let kid = sha256_b64url(jwk.to_string().as_bytes());
    jwk["use"] = "sig".into();
    jwk["alg"] = alg.as_str().into();
    jwk["kid"] = kid.clone().into();
    Ok((pkcs8, jwk, kid))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::DecodingKey;

    use super::*;

    /// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    fn thumbprint(n: &str, e: &str) -> String {
        sha256_b64url(format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#).as_bytes())
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // The example key of RFC 7638 section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(thumbprint(n, "AQAB"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn generated_keys_sign_tokens_that_verify_with_the_published_jwk() {
        let (pkcs8, jwk, kid) = generate(SigningAlg::RS256).unwrap();
        assert_eq!(kid, thumbprint(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()));
        let pem =
            format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(&pkcs8));
        let enc = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let dec =
            DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.clone());
        let token =
            jsonwebtoken::encode(&header, &serde_json::json!({"sub": "x", "exp": 4_000_000_000u64}), &enc)
                .unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.validate_aud = false;
        jsonwebtoken::decode::<serde_json::Value>(&token, &dec, &v).unwrap();
        assert_eq!(kid.len(), 43);
    }
}
