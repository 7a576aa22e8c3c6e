//! A public key ready to verify signatures: parsed once, used many times.
//!
//! Keys are parsed into aws-lc-rs [`ParsedPublicKey`]s when a key set is loaded, so the
//! verify hot path does no key parsing at all. Each key remembers its family (RSA, EC
//! P-256/P-384, Ed25519, HMAC) and the algorithm its JWK pins, if any; a token may only be
//! verified with an algorithm of the key's family (RFC 8725 §3.1), which is what stops
//! HS256-with-an-RSA-public-key (CVE-2016-10555) and alg/curve confusion.

use std::fmt;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, VerificationAlgorithm};
use aws_lc_rs::{hmac, signature::RsaPublicKeyComponents};

use crate::algorithm::{Algorithm, Family};
use crate::error::{Error, ErrorKind};

/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3 and NIST SP 800-131A).
pub(crate) const MIN_RSA_BITS: usize = 2048;
/// Shortest HMAC secret accepted (RFC 7518 §3.2: at least the hash size; we ask 256 bits).
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// A verification key with its identity.
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    pub(crate) family: Family,
    /// The algorithm the key's JWK pins (`alg` member), if any.
    pub(crate) pinned: Option<Algorithm>,
    /// Canonical public material, to tell a re-published key from a different one.
    pub(crate) material: Vec<u8>,
    verifier: Material,
}

enum Material {
    /// One parsed key per RSA algorithm; `None` where the JWK pins another algorithm.
    Rsa(Box<[Option<ParsedPublicKey>; 6]>),
    Single(ParsedPublicKey),
    Hmac(Box<[hmac::Key; 3]>),
}

const RSA_ALGS: [(Algorithm, &RsaParameters); 6] = [
    (Algorithm::RS256, &signature::RSA_PKCS1_2048_8192_SHA256),
    (Algorithm::RS384, &signature::RSA_PKCS1_2048_8192_SHA384),
    (Algorithm::RS512, &signature::RSA_PKCS1_2048_8192_SHA512),
    (Algorithm::PS256, &signature::RSA_PSS_2048_8192_SHA256),
    (Algorithm::PS384, &signature::RSA_PSS_2048_8192_SHA384),
    (Algorithm::PS512, &signature::RSA_PSS_2048_8192_SHA512),
];

fn bad_key(detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::Configuration, detail)
}

impl VerifyingKey {
    /// An RSA key from its big-endian modulus and exponent.
    pub(crate) fn rsa(
        kid: Option<String>,
        pinned: Option<Algorithm>,
        n: &[u8],
        e: &[u8],
    ) -> Result<Self, Error> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        // An empty (or all-zero) modulus is 0 bits, not an underflow (found by fuzzing).
        let bits = n.first().map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
        if bits < MIN_RSA_BITS {
            return Err(bad_key(format!("RSA modulus of {bits} bits is below {MIN_RSA_BITS}")));
        }
        // e = 1 makes every "signature" valid; even exponents are not RSA.
        if e.len() > 8 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
            return Err(bad_key("RSA public exponent is not an odd number above 1"));
        }
        let components = RsaPublicKeyComponents { n, e };
        let mut parsed: [Option<ParsedPublicKey>; 6] = Default::default();
        for (slot, (alg, params)) in parsed.iter_mut().zip(RSA_ALGS) {
            if pinned.is_none_or(|p| p == alg) {
                *slot = Some(
                    components
                        .to_parsed_public_key(params)
                        .map_err(|e| bad_key(format!("RSA key rejected: {e}")))?,
                );
            }
        }
        let mut material = b"RSA".to_vec();
        material.extend_from_slice(n);
        material.push(0);
        material.extend_from_slice(e);
        Ok(VerifyingKey {
            kid,
            family: Family::Rsa,
            pinned,
            material,
            verifier: Material::Rsa(Box::new(parsed)),
        })
    }

    /// An EC key from its affine coordinates.
    pub(crate) fn ec(
        kid: Option<String>,
        pinned: Option<Algorithm>,
        family: Family,
        x: &[u8],
        y: &[u8],
    ) -> Result<Self, Error> {
        let (len, alg): (usize, &'static dyn VerificationAlgorithm) = match family {
            Family::EcP256 => (32, &signature::ECDSA_P256_SHA256_FIXED),
            Family::EcP384 => (48, &signature::ECDSA_P384_SHA384_FIXED),
            _ => return Err(bad_key("not an EC family")),
        };
        if x.len() != len || y.len() != len {
            return Err(bad_key("EC coordinates have the wrong length"));
        }
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(4);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let parsed =
            ParsedPublicKey::new(alg, &point).map_err(|e| bad_key(format!("EC point rejected: {e}")))?;
        Ok(VerifyingKey { kid, family, pinned, material: point, verifier: Material::Single(parsed) })
    }

    /// An Ed25519 key from its 32 raw bytes.
    pub(crate) fn ed25519(kid: Option<String>, x: &[u8]) -> Result<Self, Error> {
        if x.len() != 32 {
            return Err(bad_key("Ed25519 key is not 32 bytes"));
        }
        let parsed = ParsedPublicKey::new(&signature::ED25519, x)
            .map_err(|e| bad_key(format!("Ed25519 key rejected: {e}")))?;
        Ok(VerifyingKey {
            kid,
            family: Family::Ed25519,
            pinned: Some(Algorithm::EdDSA),
            material: x.to_vec(),
            verifier: Material::Single(parsed),
        })
    }

    /// A key from SubjectPublicKeyInfo DER (or RFC 8017 RSAPublicKey DER) of any family.
    pub(crate) fn from_der(kid: Option<String>, der: &[u8]) -> Result<Self, Error> {
        if let Ok(first) = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der) {
            let mut parsed: [Option<ParsedPublicKey>; 6] = Default::default();
            parsed[0] = Some(first);
            for (slot, (_, params)) in parsed.iter_mut().zip(RSA_ALGS).skip(1) {
                *slot = ParsedPublicKey::new(params, der).ok();
            }
            let mut material = b"RSA-DER".to_vec();
            material.extend_from_slice(der);
            return Ok(VerifyingKey {
                kid,
                family: Family::Rsa,
                pinned: None,
                material,
                verifier: Material::Rsa(Box::new(parsed)),
            });
        }
        let candidates: [(Family, &'static dyn VerificationAlgorithm, Option<Algorithm>); 3] = [
            (Family::EcP256, &signature::ECDSA_P256_SHA256_FIXED, None),
            (Family::EcP384, &signature::ECDSA_P384_SHA384_FIXED, None),
            (Family::Ed25519, &signature::ED25519, Some(Algorithm::EdDSA)),
        ];
        for (family, alg, pinned) in candidates {
            if let Ok(parsed) = ParsedPublicKey::new(alg, der) {
                return Ok(VerifyingKey {
                    kid,
                    family,
                    pinned,
                    material: der.to_vec(),
                    verifier: Material::Single(parsed),
                });
            }
        }
        Err(bad_key("public key DER is not an RSA (>= 2048 bits), P-256, P-384 or Ed25519 key"))
    }

    /// A shared HMAC secret; at least [`MIN_HMAC_SECRET_LEN`] bytes.
    pub(crate) fn hmac(kid: Option<String>, secret: &[u8]) -> Result<Self, Error> {
        if secret.len() < MIN_HMAC_SECRET_LEN {
            return Err(bad_key(format!(
                "HMAC secret of {} bytes is shorter than {MIN_HMAC_SECRET_LEN}",
                secret.len()
            )));
        }
        let keys = [
            hmac::Key::new(hmac::HMAC_SHA256, secret),
            hmac::Key::new(hmac::HMAC_SHA384, secret),
            hmac::Key::new(hmac::HMAC_SHA512, secret),
        ];
        // The material identifies the key without keeping a copy of the secret around.
        let material = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret).as_ref().to_vec();
        Ok(VerifyingKey {
            kid,
            family: Family::Hmac,
            pinned: None,
            material,
            verifier: Material::Hmac(Box::new(keys)),
        })
    }

    /// Whether `alg` may be used with this key: same family and, if the key pins an
    /// algorithm, that one.
    pub(crate) fn allows(&self, alg: Algorithm) -> bool {
        alg.family() == self.family && self.pinned.is_none_or(|p| p == alg)
    }

    /// Checks `signature` over `message` with `alg`. The caller has checked
    /// [`Self::allows`]; this checks again so a mismatch can never verify.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        if !self.allows(alg) {
            return false;
        }
        match &self.verifier {
            Material::Rsa(parsed) => RSA_ALGS
                .iter()
                .position(|(a, _)| *a == alg)
                .and_then(|i| parsed[i].as_ref())
                .is_some_and(|k| k.verify_sig(message, signature).is_ok()),
            Material::Single(parsed) => parsed.verify_sig(message, signature).is_ok(),
            Material::Hmac(keys) => {
                let key = match alg {
                    Algorithm::HS256 => &keys[0],
                    Algorithm::HS384 => &keys[1],
                    Algorithm::HS512 => &keys[2],
                    _ => return false,
                };
                hmac::verify(key, message, signature).is_ok()
            }
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Decodes a PEM document's first `-----BEGIN {label}-----` block.
pub(crate) fn pem_to_der(pem: &str) -> Result<Vec<u8>, Error> {
    use base64::Engine as _;
    let mut in_block = false;
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN ") {
            in_block = true;
        } else if line.starts_with("-----END ") {
            if in_block {
                return base64::engine::general_purpose::STANDARD
                    .decode(body.as_bytes())
                    .map_err(|e| bad_key(format!("PEM body is not base64: {e}")));
            }
        } else if in_block {
            body.push_str(line);
        }
    }
    Err(bad_key("no PEM block found"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::{KeyTable, Lookup};

    #[test]
    fn empty_or_zero_rsa_modulus_is_refused_not_a_panic() {
        for n in [&[][..], &[0, 0, 0][..]] {
            let err = VerifyingKey::rsa(None, None, n, &[1, 0, 1]).expect_err("no key from an empty modulus");
            assert_eq!(err.kind(), ErrorKind::Configuration);
            assert!(err.detail().contains("0 bits"), "{}", err.detail());
        }
        // The fuzz crash, as a JWKS: the unusable key is skipped, the document still parses.
        let table = KeyTable::parse(br#"{"keys":[{"kty":"RSA","n":"","e":"AAQB","kid":"tiny"}]}"#).unwrap();
        assert!(matches!(table.lookup(Some("tiny")), Lookup::Unknown));
    }
}
