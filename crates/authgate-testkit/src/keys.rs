//! Signing keys in every form a verifier may be handed: JWK, JWKS, SPKI DER/PEM, PKCS#1.
//!
//! A [`TestKey`] is a private key plus the `kid` and JWS `alg` it is published under. It
//! signs with aws-lc-rs, the same backend `authgate` verifies with, and exports its public half
//! so a test can feed the verifier exactly what a real issuer would publish.
//!
//! RSA key generation costs tens of milliseconds; tests that do not care which RSA key they
//! use should take [`TestKey::shared_rs256`] and re-label it with
//! [`with_kid`](TestKey::with_kid) / [`with_alg`](TestKey::with_alg).
//!
//! ```
//! use authgate_testkit::keys::{TestKey, jwks};
//!
//! let old = TestKey::shared_rs256().with_kid("2023");
//! let new = TestKey::es256().with_kid("2024");
//! let set = jwks(&[&old, &new]);
//! assert_eq!(set["keys"][0]["kid"], "2023");
//! assert_eq!(set["keys"][1]["crv"], "P-256");
//! ```

use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaEncoding, RsaKeyPair, RsaPublicKeyComponents,
};
use serde_json::{Value, json};

use crate::{b64, random_hex};

/// A private key with the `kid` and `alg` it is published under.
///
/// Cloning is cheap (the key material is shared) and the clone signs with the same key, so
/// `key.clone().with_kid("other")` is "the same key published under another kid", a
/// situation verifiers must handle.
///
/// `Debug` shows the key type, `alg` and `kid`, never private key bytes.
#[derive(Clone)]
pub struct TestKey {
    material: Material,
    alg: Alg,
    kid: String,
}

#[derive(Clone)]
enum Material {
    Rsa(Arc<RsaKeyPair>),
    Ec(Arc<EcdsaKeyPair>, Curve),
    Ed25519(Arc<Ed25519KeyPair>),
    Hmac(Arc<[u8]>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

/// The JWS algorithms the testkit can sign with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
    /// RFC 9864's fully specified name for EdDSA over Ed25519.
    Ed25519,
    Hs256,
    Hs384,
    Hs512,
}

impl Alg {
    fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "EdDSA" => Alg::EdDsa,
            "Ed25519" => Alg::Ed25519,
            "HS256" => Alg::Hs256,
            "HS384" => Alg::Hs384,
            "HS512" => Alg::Hs512,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
            Alg::Ed25519 => "Ed25519",
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
        }
    }

    fn rsa_encoding(self) -> Option<&'static dyn RsaEncoding> {
        Some(match self {
            Alg::Rs256 => &signature::RSA_PKCS1_SHA256,
            Alg::Rs384 => &signature::RSA_PKCS1_SHA384,
            Alg::Rs512 => &signature::RSA_PKCS1_SHA512,
            Alg::Ps256 => &signature::RSA_PSS_SHA256,
            Alg::Ps384 => &signature::RSA_PSS_SHA384,
            Alg::Ps512 => &signature::RSA_PSS_SHA512,
            _ => return None,
        })
    }

    fn hmac_algorithm(self) -> Option<hmac::Algorithm> {
        Some(match self {
            Alg::Hs256 => hmac::HMAC_SHA256,
            Alg::Hs384 => hmac::HMAC_SHA384,
            Alg::Hs512 => hmac::HMAC_SHA512,
            _ => return None,
        })
    }

    fn fits(self, material: &Material) -> bool {
        match material {
            Material::Rsa(_) => self.rsa_encoding().is_some(),
            Material::Ec(_, Curve::P256) => self == Alg::Es256,
            Material::Ec(_, Curve::P384) => self == Alg::Es384,
            Material::Ed25519(_) => matches!(self, Alg::EdDsa | Alg::Ed25519),
            Material::Hmac(_) => self.hmac_algorithm().is_some(),
        }
    }
}

impl Material {
    fn describe(&self) -> String {
        match self {
            Material::Rsa(pair) => format!("RSA-{}", pair.public_modulus_len() * 8),
            Material::Ec(_, Curve::P256) => "EC P-256".to_owned(),
            Material::Ec(_, Curve::P384) => "EC P-384".to_owned(),
            Material::Ed25519(_) => "OKP Ed25519".to_owned(),
            Material::Hmac(secret) => format!("oct ({} bytes)", secret.len()),
        }
    }
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("key", &self.material.describe())
            .field("alg", &self.alg.name())
            .field("kid", &self.kid)
            .finish()
    }
}

impl TestKey {
    fn new(material: Material, alg: &str) -> TestKey {
        let alg = checked_alg(&material, alg);
        TestKey { material, alg, kid: random_hex(8) }
    }

    /// A fresh RSA 2048 key for `RS256`, the algorithm most issuers default to.
    ///
    /// Prefer [`TestKey::shared_rs256`] unless the test needs a key nobody else has (for
    /// example "a token signed by an unknown key is rejected").
    ///
    /// # Panics
    ///
    /// If aws-lc-rs fails to generate the key.
    pub fn rs256() -> TestKey {
        TestKey::rsa(2048, "RS256")
    }

    /// A fresh RSA key of `bits` bits, published for `alg`.
    ///
    /// ```
    /// # use authgate_testkit::keys::TestKey;
    /// let key = TestKey::rsa(2048, "PS384");
    /// assert_eq!(key.alg(), "PS384");
    /// assert_eq!(key.jwk()["kty"], "RSA");
    /// ```
    ///
    /// # Panics
    ///
    /// If `bits` is not 2048, 3072 or 4096, if `alg` is not one of `RS256`, `RS384`,
    /// `RS512`, `PS256`, `PS384`, `PS512`, or if key generation fails.
    pub fn rsa(bits: usize, alg: &str) -> TestKey {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => panic!("unsupported RSA key size {bits}: use 2048, 3072 or 4096"),
        };
        // Check the algorithm before paying for key generation.
        assert!(
            Alg::parse(alg).and_then(Alg::rsa_encoding).is_some(),
            "{alg:?} is not an RSA algorithm: use RS256/384/512 or PS256/384/512"
        );
        let pair = RsaKeyPair::generate(size).expect("RSA key generation failed");
        TestKey::new(Material::Rsa(Arc::new(pair)), alg)
    }

    /// A fresh P-256 key for `ES256`.
    ///
    /// # Panics
    ///
    /// If aws-lc-rs fails to generate the key.
    pub fn es256() -> TestKey {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("P-256 key generation failed");
        TestKey::new(Material::Ec(Arc::new(pair), Curve::P256), "ES256")
    }

    /// A fresh P-384 key for `ES384`.
    ///
    /// # Panics
    ///
    /// If aws-lc-rs fails to generate the key.
    pub fn es384() -> TestKey {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
            .expect("P-384 key generation failed");
        TestKey::new(Material::Ec(Arc::new(pair), Curve::P384), "ES384")
    }

    /// A fresh Ed25519 key for `EdDSA`.
    ///
    /// [`with_alg("Ed25519")`](TestKey::with_alg) relabels it with the fully specified
    /// algorithm name of RFC 9864.
    ///
    /// # Panics
    ///
    /// If aws-lc-rs fails to generate the key.
    pub fn ed25519() -> TestKey {
        let pair = Ed25519KeyPair::generate().expect("Ed25519 key generation failed");
        TestKey::new(Material::Ed25519(Arc::new(pair)), "EdDSA")
    }

    /// A symmetric key for `HS256`, `HS384` or `HS512` with the given secret.
    ///
    /// Any secret is accepted, including empty or short ones, so tests can check that the
    /// verifier refuses weak secrets; and including an RSA public key's PEM, for the classic
    /// algorithm-confusion attack:
    ///
    /// ```
    /// # use authgate_testkit::keys::TestKey;
    /// let rsa = TestKey::shared_rs256();
    /// let confused = TestKey::hmac("HS256", rsa.public_key_pem().as_bytes());
    /// // A token whose header claims the RSA key's kid, MACed with its public key.
    /// let token = confused.token().header("kid", rsa.kid()).sign();
    /// # assert_eq!(token.split('.').count(), 3);
    /// ```
    ///
    /// # Panics
    ///
    /// If `alg` is not `HS256`, `HS384` or `HS512`.
    pub fn hmac(alg: &str, secret: &[u8]) -> TestKey {
        TestKey::new(Material::Hmac(Arc::from(secret)), alg)
    }

    /// One RSA 2048 `RS256` key shared by the whole test process.
    ///
    /// RSA key generation is the slowest thing a test suite does; most tests only need "an
    /// RSA key". Every call returns the same key with the same kid; relabel the returned
    /// copy with [`with_kid`](TestKey::with_kid) or [`with_alg`](TestKey::with_alg) as
    /// needed (this does not affect other callers).
    ///
    /// # Panics
    ///
    /// If aws-lc-rs fails to generate the key.
    pub fn shared_rs256() -> TestKey {
        static SHARED: OnceLock<TestKey> = OnceLock::new();
        SHARED.get_or_init(TestKey::rs256).clone()
    }

    /// The same key published under another `kid` (rotation, kid collisions, unknown kids).
    pub fn with_kid(mut self, kid: impl Into<String>) -> TestKey {
        self.kid = kid.into();
        self
    }

    /// The same key used with another algorithm of its family, e.g. an RSA key for `PS256`.
    ///
    /// The new algorithm is used by [`sign`](TestKey::sign), in the default token header and in
    /// the JWK's `alg`. To make only the *header* lie, use
    /// [`TokenBuilder::header`](crate::token::TokenBuilder::header) instead.
    ///
    /// # Panics
    ///
    /// If the key cannot sign with `alg`: RSA keys take `RS*`/`PS*`, P-256 `ES256`, P-384
    /// `ES384`, Ed25519 `EdDSA` or `Ed25519`, HMAC keys `HS*`.
    pub fn with_alg(mut self, alg: &str) -> TestKey {
        self.alg = checked_alg(&self.material, alg);
        self
    }

    /// The key id announced in the JWK and in the default token header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWS algorithm this key signs with (`RS256`, `ES384`, `EdDSA`, ...).
    pub fn alg(&self) -> &str {
        self.alg.name()
    }

    /// The JWK an issuer would publish for this key.
    ///
    /// Members, in this order: `kty`, `kid`, `alg`, `use: "sig"`, then `n`, `e` (RSA, big-endian
    /// without leading zero bytes), `crv`, `x`, `y` (EC, fixed-length coordinates), `crv:
    /// "Ed25519"`, `x` (OKP), or `k` (HMAC, which is of course the secret itself). All binary
    /// values are base64url without padding. Edit the returned value to build broken JWKs.
    ///
    /// ```
    /// # use authgate_testkit::keys::TestKey;
    /// let jwk = TestKey::es384().with_kid("k1").jwk();
    /// assert_eq!(jwk["kty"], "EC");
    /// assert_eq!(jwk["crv"], "P-384");
    /// assert_eq!(jwk["x"].as_str().map(str::len), Some(64));
    /// ```
    pub fn jwk(&self) -> Value {
        let mut jwk = json!({
            "kty": self.kty(),
            "kid": self.kid,
            "alg": self.alg.name(),
            "use": "sig",
        });
        let members = jwk.as_object_mut().expect("a JSON object literal");
        match &self.material {
            Material::Rsa(pair) => {
                let components: RsaPublicKeyComponents<Vec<u8>> = pair.public_key().into();
                members.insert("n".to_owned(), b64(strip_leading_zeros(&components.n)).into());
                members.insert("e".to_owned(), b64(strip_leading_zeros(&components.e)).into());
            }
            Material::Ec(pair, curve) => {
                // Uncompressed SEC 1 point: 0x04 || x || y, both coordinates full length.
                let point = pair.public_key().as_ref();
                let (x, y) = point[1..].split_at((point.len() - 1) / 2);
                let crv = match curve {
                    Curve::P256 => "P-256",
                    Curve::P384 => "P-384",
                };
                members.insert("crv".to_owned(), crv.into());
                members.insert("x".to_owned(), b64(x).into());
                members.insert("y".to_owned(), b64(y).into());
            }
            Material::Ed25519(pair) => {
                members.insert("crv".to_owned(), "Ed25519".into());
                members.insert("x".to_owned(), b64(pair.public_key().as_ref()).into());
            }
            Material::Hmac(secret) => {
                members.insert("k".to_owned(), b64(secret).into());
            }
        }
        jwk
    }

    fn kty(&self) -> &'static str {
        match self.material {
            Material::Rsa(_) => "RSA",
            Material::Ec(..) => "EC",
            Material::Ed25519(_) => "OKP",
            Material::Hmac(_) => "oct",
        }
    }

    /// The public key as a DER `SubjectPublicKeyInfo`, for verifiers configured with a static
    /// key instead of a JWKS.
    ///
    /// # Panics
    ///
    /// For HMAC keys, which have no public half, or if aws-lc-rs fails to encode the key.
    pub fn public_key_der(&self) -> Vec<u8> {
        let der = match &self.material {
            Material::Rsa(pair) => pair.public_key().as_der(),
            Material::Ec(pair, _) => pair.public_key().as_der(),
            Material::Ed25519(pair) => pair.public_key().as_der(),
            Material::Hmac(_) => panic!("an HMAC key has no public key"),
        };
        der.expect("encoding the public key failed").as_ref().to_vec()
    }

    /// [`public_key_der`](TestKey::public_key_der) as a `-----BEGIN PUBLIC KEY-----` PEM.
    ///
    /// # Panics
    ///
    /// For HMAC keys, which have no public half.
    pub fn public_key_pem(&self) -> String {
        pem("PUBLIC KEY", &self.public_key_der())
    }

    /// The RSA public key as an RFC 8017 `RSAPublicKey` DER (the `-----BEGIN RSA PUBLIC
    /// KEY-----` form), or `None` for non-RSA keys.
    pub fn rsa_public_key_pkcs1_der(&self) -> Option<Vec<u8>> {
        match &self.material {
            Material::Rsa(pair) => Some(pair.public_key().as_ref().to_vec()),
            _ => None,
        }
    }

    /// The private key as an unencrypted PKCS#8 v1 DER document; for HMAC keys, the secret.
    ///
    /// With jsonwebtoken: `EncodingKey::from_ec_der` and `EncodingKey::from_ed_der` take this
    /// directly and `EncodingKey::from_secret` takes the HMAC secret. For RSA,
    /// `EncodingKey::from_rsa_der` wants PKCS#1: pass
    /// [`rsa_private_key_pkcs1_der`](TestKey::rsa_private_key_pkcs1_der), or
    /// [`private_key_pkcs8_pem`](TestKey::private_key_pkcs8_pem) to `from_rsa_pem`.
    ///
    /// # Panics
    ///
    /// If aws-lc-rs fails to encode the key.
    pub fn private_key_pkcs8_der(&self) -> Vec<u8> {
        match &self.material {
            Material::Rsa(pair) => AsDer::<Pkcs8V1Der<'static>>::as_der(pair.as_ref())
                .expect("encoding the RSA private key failed")
                .as_ref()
                .to_vec(),
            Material::Ec(pair, _) => {
                pair.to_pkcs8v1().expect("encoding the EC private key failed").as_ref().to_vec()
            }
            Material::Ed25519(pair) => {
                pair.to_pkcs8v1().expect("encoding the Ed25519 private key failed").as_ref().to_vec()
            }
            Material::Hmac(secret) => secret.to_vec(),
        }
    }

    /// [`private_key_pkcs8_der`](TestKey::private_key_pkcs8_der) as a `-----BEGIN PRIVATE
    /// KEY-----` PEM, the form issuers' configuration files usually hold.
    ///
    /// # Panics
    ///
    /// For HMAC keys (a secret has no PEM form), or if aws-lc-rs fails to encode the key.
    pub fn private_key_pkcs8_pem(&self) -> String {
        assert!(!matches!(self.material, Material::Hmac(_)), "an HMAC secret has no PEM form");
        pem("PRIVATE KEY", &self.private_key_pkcs8_der())
    }

    /// The RSA private key as an RFC 8017 `RSAPrivateKey` DER (what
    /// `jsonwebtoken::EncodingKey::from_rsa_der` expects), or `None` for non-RSA keys.
    ///
    /// # Panics
    ///
    /// If aws-lc-rs fails to encode the key.
    pub fn rsa_private_key_pkcs1_der(&self) -> Option<Vec<u8>> {
        match self.material {
            Material::Rsa(_) => {
                let pkcs8 = self.private_key_pkcs8_der();
                Some(pkcs8_inner_key(&pkcs8).expect("aws-lc-rs produced malformed PKCS#8").to_vec())
            }
            _ => None,
        }
    }

    /// Signs `signing_input` (for a JWS, `b64url(header) || "." || b64url(payload)`) with
    /// [`alg`](TestKey::alg) and returns the raw signature bytes in JWS form.
    ///
    /// RSA uses PKCS#1 v1.5 (`RS*`) or PSS with a salt as long as the hash (`PS*`); ECDSA
    /// returns the fixed-length `r || s` JWS requires (not DER); Ed25519 the 64-byte
    /// signature; HMAC the full-length tag.
    ///
    /// # Panics
    ///
    /// If aws-lc-rs fails to sign.
    pub fn sign(&self, signing_input: &[u8]) -> Vec<u8> {
        match &self.material {
            Material::Rsa(pair) => {
                let encoding = self.alg.rsa_encoding().expect("RSA key with a non-RSA alg");
                let mut signature = vec![0_u8; pair.public_modulus_len()];
                pair.sign(encoding, &SystemRandom::new(), signing_input, &mut signature)
                    .expect("RSA signing failed");
                signature
            }
            Material::Ec(pair, _) => pair
                .sign(&SystemRandom::new(), signing_input)
                .expect("ECDSA signing failed")
                .as_ref()
                .to_vec(),
            Material::Ed25519(pair) => pair.sign(signing_input).as_ref().to_vec(),
            Material::Hmac(secret) => {
                let algorithm = self.alg.hmac_algorithm().expect("HMAC key with a non-HMAC alg");
                hmac::sign(&hmac::Key::new(algorithm, secret), signing_input).as_ref().to_vec()
            }
        }
    }
}

/// A JWKS document, `{"keys": [jwk, ...]}`, with the keys in the given order.
///
/// ```
/// # use authgate_testkit::keys::{TestKey, jwks};
/// let key = TestKey::es256();
/// let set = jwks(&[&key]);
/// assert_eq!(set["keys"][0], key.jwk());
/// ```
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>() })
}

fn checked_alg(material: &Material, alg: &str) -> Alg {
    match Alg::parse(alg) {
        Some(parsed) if parsed.fits(material) => parsed,
        _ => panic!("a {} key cannot sign with {alg:?}", material.describe()),
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len().saturating_sub(1));
    &bytes[first..]
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo`
/// (`SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey, ... }`).
fn pkcs8_inner_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let (tag, info, _) = der_element(pkcs8)?;
    if tag != 0x30 {
        return None;
    }
    let (version_tag, _, rest) = der_element(info)?;
    let (algorithm_tag, _, rest) = der_element(rest)?;
    let (key_tag, key, _) = der_element(rest)?;
    (version_tag == 0x02 && algorithm_tag == 0x30 && key_tag == 0x04).then_some(key)
}

/// Splits one DER element off `input`: (tag, contents, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > std::mem::size_of::<usize>() || rest.len() < count {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(count);
        (len_bytes.iter().fold(0_usize, |len, &b| (len << 8) | usize::from(b)), rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use signature::UnparsedPublicKey;

    fn unb64(value: &Value) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(value.as_str().expect("a string member")).expect("base64url")
    }

    /// Verifies `signature` with the public key rebuilt from the JWK alone, the way a
    /// JWKS-driven verifier would.
    fn verify_with_jwk(jwk: &Value, message: &[u8], signature: &[u8]) -> bool {
        let alg = jwk["alg"].as_str().expect("alg");
        match jwk["kty"].as_str().expect("kty") {
            "RSA" => {
                let params = match alg {
                    "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                    "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                    "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                    "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                    "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                    "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
                    other => panic!("unexpected {other}"),
                };
                let components = RsaPublicKeyComponents { n: unb64(&jwk["n"]), e: unb64(&jwk["e"]) };
                components.verify(params, message, signature).is_ok()
            }
            "EC" => {
                let algorithm = match alg {
                    "ES256" => &signature::ECDSA_P256_SHA256_FIXED,
                    "ES384" => &signature::ECDSA_P384_SHA384_FIXED,
                    other => panic!("unexpected {other}"),
                };
                let mut point = vec![0x04];
                point.extend(unb64(&jwk["x"]));
                point.extend(unb64(&jwk["y"]));
                UnparsedPublicKey::new(algorithm, point).verify(message, signature).is_ok()
            }
            "OKP" => UnparsedPublicKey::new(&signature::ED25519, unb64(&jwk["x"]))
                .verify(message, signature)
                .is_ok(),
            "oct" => {
                let algorithm = match alg {
                    "HS256" => hmac::HMAC_SHA256,
                    "HS384" => hmac::HMAC_SHA384,
                    "HS512" => hmac::HMAC_SHA512,
                    other => panic!("unexpected {other}"),
                };
                hmac::verify(&hmac::Key::new(algorithm, &unb64(&jwk["k"])), message, signature).is_ok()
            }
            other => panic!("unexpected kty {other}"),
        }
    }

    fn all_algorithms() -> Vec<TestKey> {
        let rsa = TestKey::shared_rs256();
        vec![
            rsa.clone(),
            rsa.clone().with_alg("RS384"),
            rsa.clone().with_alg("RS512"),
            rsa.clone().with_alg("PS256"),
            rsa.clone().with_alg("PS384"),
            rsa.with_alg("PS512"),
            TestKey::es256(),
            TestKey::es384(),
            TestKey::ed25519(),
            TestKey::ed25519().with_alg("Ed25519"),
            TestKey::hmac("HS256", b"0123456789abcdef0123456789abcdef"),
            TestKey::hmac("HS384", &[7; 48]),
            TestKey::hmac("HS512", &[9; 64]),
        ]
    }

    #[test]
    fn signatures_verify_with_the_published_jwk_for_every_algorithm() {
        for key in all_algorithms() {
            let signature = key.sign(b"header.payload");
            assert!(verify_with_jwk(&key.jwk(), b"header.payload", &signature), "{key:?}");
            assert!(!verify_with_jwk(&key.jwk(), b"header.payloaD", &signature), "{key:?}");
        }
    }

    #[test]
    fn signature_lengths_are_the_jws_fixed_sizes() {
        assert_eq!(TestKey::shared_rs256().sign(b"m").len(), 256);
        assert_eq!(TestKey::es256().sign(b"m").len(), 64, "ES256 is r || s, not DER");
        assert_eq!(TestKey::es384().sign(b"m").len(), 96);
        assert_eq!(TestKey::ed25519().sign(b"m").len(), 64);
        assert_eq!(TestKey::hmac("HS384", b"s").sign(b"m").len(), 48);
    }

    #[test]
    fn signatures_verify_with_the_spki_and_pkcs1_public_keys() {
        let rsa = TestKey::shared_rs256().with_alg("PS256");
        let signature = rsa.sign(b"m");
        for der in [rsa.public_key_der(), rsa.rsa_public_key_pkcs1_der().expect("RSA")] {
            UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA256, der)
                .verify(b"m", &signature)
                .expect("verifies");
        }
        assert_ne!(rsa.public_key_der(), rsa.rsa_public_key_pkcs1_der().expect("RSA"));

        let ec = TestKey::es256();
        let public =
            signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, ec.public_key_der())
                .expect("SPKI parses");
        public.verify_sig(b"m", &ec.sign(b"m")).expect("verifies");

        let ed = TestKey::ed25519();
        let public =
            signature::ParsedPublicKey::new(&signature::ED25519, ed.public_key_der()).expect("SPKI parses");
        public.verify_sig(b"m", &ed.sign(b"m")).expect("verifies");
    }

    #[test]
    fn rsa_jwk_has_unpadded_big_endian_modulus_and_standard_exponent() {
        let key = TestKey::shared_rs256();
        let jwk = key.jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["kid"], key.kid());
        let n = unb64(&jwk["n"]);
        assert_eq!(n.len(), 256);
        assert_ne!(n[0], 0);
        let members: Vec<&str> = jwk.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(members, ["kty", "kid", "alg", "use", "n", "e"]);
    }

    #[test]
    fn ec_okp_and_oct_jwks_have_the_right_members() {
        let p256 = TestKey::es256().jwk();
        assert_eq!(
            (&p256["kty"], &p256["crv"], &p256["alg"]),
            (&json!("EC"), &json!("P-256"), &json!("ES256"))
        );
        assert_eq!(p256["x"].as_str().map(str::len), Some(43));
        assert_eq!(p256["y"].as_str().map(str::len), Some(43));

        let p384 = TestKey::es384().jwk();
        assert_eq!(p384["crv"], "P-384");
        assert_eq!(p384["x"].as_str().map(str::len), Some(64));
        assert_eq!(p384["y"].as_str().map(str::len), Some(64));

        let ed = TestKey::ed25519().jwk();
        assert_eq!((&ed["kty"], &ed["crv"], &ed["alg"]), (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA")));
        assert_eq!(unb64(&ed["x"]).len(), 32);
        assert!(ed.get("y").is_none());

        let oct = TestKey::hmac("HS256", b"secret").jwk();
        assert_eq!(oct["kty"], "oct");
        assert_eq!(unb64(&oct["k"]), b"secret");
    }

    #[test]
    fn kids_default_to_random_hex_and_can_be_replaced() {
        let a = TestKey::es256();
        let b = TestKey::es256();
        assert_eq!(a.kid().len(), 16);
        assert!(a.kid().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.kid(), b.kid());
        assert_eq!(a.with_kid("rotated").jwk()["kid"], "rotated");
    }

    #[test]
    fn shared_key_is_the_same_key_every_time() {
        let first = TestKey::shared_rs256();
        let second = TestKey::shared_rs256().with_kid("relabelled");
        assert_eq!(first.jwk()["n"], second.jwk()["n"]);
        assert_eq!(TestKey::shared_rs256().kid(), first.kid());
    }

    #[test]
    fn jwks_lists_keys_in_order() {
        let a = TestKey::es256().with_kid("a");
        let b = TestKey::ed25519().with_kid("b");
        let set = jwks(&[&a, &b]);
        assert_eq!(set["keys"].as_array().map(Vec::len), Some(2));
        assert_eq!(set["keys"][0]["kid"], "a");
        assert_eq!(set["keys"][1]["kid"], "b");
        assert_eq!(jwks(&[]), json!({"keys": []}));
    }

    #[test]
    fn pem_wraps_the_der_in_64_char_lines() {
        let key = TestKey::es384();
        let pem = key.public_key_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(pem.lines().all(|l| l.len() <= 64));
        let der = base64::engine::general_purpose::STANDARD.decode(body).expect("base64");
        assert_eq!(der, key.public_key_der());
    }

    #[test]
    fn debug_does_not_print_private_key_material() {
        let key = TestKey::hmac("HS256", b"super-secret-value").with_kid("k");
        let debug = format!("{key:?}");
        assert!(debug.contains("HS256") && debug.contains("\"k\""), "{debug}");
        assert!(!debug.contains("super-secret"), "{debug}");
        let rsa = TestKey::shared_rs256();
        let debug = format!("{rsa:?}");
        assert!(debug.contains("RSA-2048"), "{debug}");
        assert!(debug.len() < 100, "{debug}");
    }

    #[test]
    fn private_keys_load_into_jsonwebtoken() {
        use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
        let claims = json!({"sub": "alice", "exp": crate::token::now() + 60});
        let rsa = TestKey::shared_rs256();
        let ec = TestKey::es256();
        let ed = TestKey::ed25519();
        let cases = [
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_der(&rsa.rsa_private_key_pkcs1_der().expect("RSA")),
                &rsa,
            ),
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(rsa.private_key_pkcs8_pem().as_bytes()).expect("PEM"),
                &rsa,
            ),
            (Algorithm::ES256, EncodingKey::from_ec_der(&ec.private_key_pkcs8_der()), &ec),
            (Algorithm::EdDSA, EncodingKey::from_ed_der(&ed.private_key_pkcs8_der()), &ed),
        ];
        for (alg, encoding_key, key) in cases {
            let token = jsonwebtoken::encode(&Header::new(alg), &claims, &encoding_key).expect("encode");
            let (header, rest) = token.split_once('.').expect("dots");
            let (payload, signature) = rest.split_once('.').expect("dots");
            let signing_input = format!("{header}.{payload}");
            let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
            assert!(verify_with_jwk(&key.jwk(), signing_input.as_bytes(), &signature), "{alg:?}");
            // And the other way round: jsonwebtoken accepts our JWK.
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk()).expect("JWK parses");
            let decoding_key = DecodingKey::from_jwk(&jwk).expect("decoding key");
            let ours = key.token().header("typ", "JWT").claims(claims.clone()).sign();
            jsonwebtoken::decode::<Value>(&ours, &decoding_key, &Validation::new(alg)).expect("decodes");
        }
    }

    #[test]
    #[should_panic(expected = "cannot sign with \"ES384\"")]
    fn with_alg_rejects_an_algorithm_of_another_family() {
        let _ = TestKey::es256().with_alg("ES384");
    }

    #[test]
    #[should_panic(expected = "unsupported RSA key size")]
    fn rsa_rejects_odd_sizes() {
        let _ = TestKey::rsa(1024, "RS256");
    }

    #[test]
    fn der_parser_finds_the_pkcs1_key_in_pkcs8() {
        let rsa = TestKey::shared_rs256();
        let pkcs1 = rsa.rsa_private_key_pkcs1_der().expect("RSA");
        RsaKeyPair::from_der(&pkcs1).expect("PKCS#1 RSAPrivateKey");
        assert_eq!(TestKey::es256().rsa_private_key_pkcs1_der(), None);
        assert_eq!(pkcs8_inner_key(&[0x30, 0x81]), None);
        assert_eq!(pkcs8_inner_key(&[]), None);
    }
}
