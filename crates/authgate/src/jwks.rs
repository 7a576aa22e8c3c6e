//! Parsing a JWK Set (RFC 7517) into a table of usable verification keys.
//!
//! Keys are taken one by one: an unusable key (unknown `kty`, missing members, `oct`,
//! `use` other than `sig`, `key_ops` without `verify`, a weak RSA key) is skipped and
//! logged, and the others still work. A `kid` published for two different keys fails
//! closed: neither is used, because we cannot know which one the issuer meant.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::algorithm::{Algorithm, Family};
use crate::error::{Error, ErrorKind};
use crate::jose::{self, b64_decode};
use crate::key::VerifyingKey;

/// The usable keys of one set, indexed by `kid`. Ordered maps: a set holds a few keys,
/// so a lookup is a few string comparisons, where a `HashMap` SipHashed the token's
/// `kid` on every verify (~300 instructions).
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    by_kid: BTreeMap<String, Arc<VerifyingKey>>,
    without_kid: Vec<Arc<VerifyingKey>>,
    conflicted: BTreeSet<String>,
}

/// The result of looking a token's `kid` up.
#[derive(Debug)]
pub(crate) enum Lookup {
    Found(Arc<VerifyingKey>),
    /// No key has this `kid`: a refresh may help.
    Unknown,
    /// Several different keys claim this `kid`: fail closed, refreshing is pointless
    /// until the issuer fixes its set.
    Conflicted,
    /// The token names no `kid` and the set holds several keys.
    Ambiguous,
}

impl KeyTable {
    /// Builds the table, dropping every key whose `kid` is shared by different material.
    pub(crate) fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> KeyTable {
        let mut table = KeyTable::default();
        for key in keys {
            let Some(kid) = key.kid.clone() else {
                table.without_kid.push(Arc::new(key));
                continue;
            };
            if table.conflicted.contains(&kid) {
                continue;
            }
            match table.by_kid.get(&kid) {
                Some(existing) if existing.material == key.material => {}
                Some(_) => {
                    tracing::warn!(kid = %jose::truncate(&kid), "two different keys share a kid; refusing both");
                    table.by_kid.remove(&kid);
                    table.conflicted.insert(kid);
                }
                None => {
                    table.by_kid.insert(kid, Arc::new(key));
                }
            }
        }
        table
    }

    /// Parses a JWKS document. Only a document that is not `{"keys": [...]}` is an error;
    /// bad keys inside a good document are skipped.
    pub(crate) fn parse(body: &[u8]) -> Result<KeyTable, Error> {
        let doc = jose::parse_object(body, "JWKS")
            .map_err(|e| Error::new(ErrorKind::KeySourceUnavailable, e.detail().to_owned()))?;
        let Some(Value::Array(keys)) = doc.get("keys") else {
            return Err(Error::new(ErrorKind::KeySourceUnavailable, "JWKS has no \"keys\" array"));
        };
        let usable = keys.iter().enumerate().filter_map(|(i, jwk)| match parse_jwk(jwk) {
            Ok(key) => Some(key),
            Err(reason) => {
                let kid = jwk.get("kid").and_then(Value::as_str).map(jose::truncate);
                tracing::warn!(index = i, kid = ?kid, %reason, "skipping unusable JWK");
                None
            }
        });
        Ok(KeyTable::from_keys(usable))
    }

    pub(crate) fn lookup(&self, kid: Option<&str>) -> Lookup {
        match kid {
            Some(kid) => {
                if let Some(key) = self.by_kid.get(kid) {
                    return Lookup::Found(key.clone());
                }
                if self.conflicted.contains(kid) {
                    return Lookup::Conflicted;
                }
                // A set of one key without a kid (a configured PEM or secret) verifies
                // tokens whatever kid they carry.
                match (self.by_kid.is_empty(), self.without_kid.as_slice()) {
                    (true, [only]) => Lookup::Found(only.clone()),
                    _ => Lookup::Unknown,
                }
            }
            None => match (self.by_kid.len() + self.without_kid.len(), self.by_kid.values().next()) {
                (1, Some(only)) => Lookup::Found(only.clone()),
                (1, None) => self.without_kid.first().map_or(Lookup::Unknown, |k| Lookup::Found(k.clone())),
                (0, _) => Lookup::Unknown,
                _ => Lookup::Ambiguous,
            },
        }
    }

    /// Whether exactly this key (not just its kid) is still in the table.
    pub(crate) fn contains(&self, key: &Arc<VerifyingKey>) -> bool {
        match &key.kid {
            Some(kid) => self.by_kid.get(kid).is_some_and(|k| Arc::ptr_eq(k, key)),
            None => self.without_kid.iter().any(|k| Arc::ptr_eq(k, key)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_kid.len() + self.without_kid.len()
    }

    pub(crate) fn kids(&self) -> impl Iterator<Item = &str> {
        self.by_kid.keys().map(String::as_str)
    }
}

/// Turns one JWK into a key, or says why it cannot be used.
fn parse_jwk(jwk: &Value) -> Result<VerifyingKey, String> {
    let Value::Object(jwk) = jwk else {
        return Err("not a JSON object".into());
    };
    let kty = string(jwk, "kty")?.ok_or("missing kty")?;
    if let Some(use_) = string(jwk, "use")?
        && use_ != "sig"
    {
        return Err(format!("use is {:?}, not \"sig\"", jose::truncate(use_)));
    }
    if let Some(ops) = jwk.get("key_ops") {
        let allows_verify = ops.as_array().is_some_and(|ops| ops.iter().any(|o| o == "verify"));
        if !allows_verify {
            return Err("key_ops does not include \"verify\"".into());
        }
    }
    let kid = string(jwk, "kid")?.map(str::to_owned);
    if kid.as_ref().is_some_and(|k| k.is_empty() || k.len() > jose::MAX_KID_LEN) {
        return Err("kid is empty or too long".into());
    }
    let pinned = match string(jwk, "alg")? {
        None => None,
        Some(name) => Some(
            Algorithm::from_jose(name)
                .ok_or_else(|| format!("unsupported alg {:?}", jose::truncate(name)))?,
        ),
    };
    let check_pin = |family: Family| match pinned {
        Some(alg) if alg.family() != family => Err(format!("alg {alg} does not fit kty {kty}")),
        _ => Ok(()),
    };
    let key = match kty {
        "RSA" => {
            check_pin(Family::Rsa)?;
            VerifyingKey::rsa(kid, pinned, &member(jwk, "n")?, &member(jwk, "e")?)
        }
        "EC" => {
            let family = match string(jwk, "crv")?.ok_or("missing crv")? {
                "P-256" => Family::EcP256,
                "P-384" => Family::EcP384,
                other => return Err(format!("unsupported curve {:?}", jose::truncate(other))),
            };
            check_pin(family)?;
            VerifyingKey::ec(kid, pinned, family, &member(jwk, "x")?, &member(jwk, "y")?)
        }
        "OKP" => {
            match string(jwk, "crv")?.ok_or("missing crv")? {
                "Ed25519" => {}
                other => return Err(format!("unsupported curve {:?}", jose::truncate(other))),
            }
            check_pin(Family::Ed25519)?;
            VerifyingKey::ed25519(kid, &member(jwk, "x")?)
        }
        // Shared secrets never come from a key set (RFC 8725 §3.1, CVE-2016-10555).
        "oct" => return Err("symmetric (oct) keys are never taken from a JWKS".into()),
        other => return Err(format!("unsupported kty {:?}", jose::truncate(other))),
    };
    key.map_err(|e| e.detail().to_owned())
}

fn string<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{name} is a {}, not a string", jose::type_name(other))),
    }
}

fn member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = string(jwk, name)?.ok_or_else(|| format!("missing {name}"))?;
    b64_decode(text).map_err(|_| format!("{name} is not base64url"))
}
