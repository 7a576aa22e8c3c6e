//! Strict decoding of compact JWS tokens: base64url, JSON, header members.
//!
//! Everything here runs on untrusted input before any signature check, so it is strict
//! (canonical base64url only, duplicate JSON members and deep nesting refused) and
//! bounded (the caller caps the token size first).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::error::{Error, ErrorKind};

/// Deepest JSON nesting accepted in a header or payload.
pub(crate) const MAX_JSON_DEPTH: usize = 16;

/// Decodes canonical base64url without padding; `+`, `/`, `=`, whitespace and non-zero
/// trailing bits are all refused (the engine's defaults), so one token has one encoding.
pub(crate) fn b64_decode(segment: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|e| Error::new(ErrorKind::MalformedToken, format!("base64url: {e}")))
}

/// Parses JSON that must be an object, refusing duplicate members at any depth and
/// nesting deeper than [`MAX_JSON_DEPTH`]. serde_json itself refuses invalid UTF-8,
/// lone surrogates and a leading BOM.
pub(crate) fn parse_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue { depth: 0 }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| Error::new(ErrorKind::MalformedToken, format!("{what} JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::new(ErrorKind::MalformedToken, format!("{what} is not a JSON object"))),
    }
}

struct StrictValue {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        if depth > MAX_JSON_DEPTH {
            return Err(de::Error::custom("JSON nested too deeply"));
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue { depth })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        if depth > MAX_JSON_DEPTH {
            return Err(de::Error::custom("JSON nested too deeply"));
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StrictValue { depth })?;
            if let Some(_previous) = out.insert(key, value) {
                return Err(de::Error::custom("duplicate member"));
            }
        }
        Ok(Value::Object(out))
    }
}

/// Registered claims: parsed into fixed slots instead of a map, since every verify reads
/// them and hashing them into a map (then out again) cost more than the rest of decoding.
pub(crate) const REGISTERED: [&str; 15] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "sid",
    "email",
    "name",
    "roles",
    "permissions",
    "scope",
    "scp",
    "amr",
];

/// A JWT payload: the registered claims in slots, everything else in `extra`.
#[derive(Debug, Default)]
pub(crate) struct Payload {
    slots: [Option<Value>; REGISTERED.len()],
    pub(crate) extra: Map<String, Value>,
}

impl Payload {
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        match REGISTERED.iter().position(|r| *r == name) {
            Some(i) => self.slots[i].as_ref(),
            None => self.extra.get(name),
        }
    }

    pub(crate) fn remove(&mut self, name: &str) -> Option<Value> {
        match REGISTERED.iter().position(|r| *r == name) {
            Some(i) => self.slots[i].take(),
            None => self.extra.remove(name),
        }
    }

    #[cfg(test)]
    pub(crate) fn from_map(map: Map<String, Value>) -> Payload {
        let mut payload = Payload::default();
        for (k, v) in map {
            match REGISTERED.iter().position(|r| *r == k) {
                Some(i) => payload.slots[i] = Some(v),
                None => {
                    payload.extra.insert(k, v);
                }
            }
        }
        payload
    }
}

/// Parses a payload object with the same strictness as [`parse_object`] (duplicates at
/// any depth, nesting, UTF-8), straight into a [`Payload`].
pub(crate) fn parse_payload(bytes: &[u8]) -> Result<Payload, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de::Deserializer::deserialize_map(&mut de, PayloadVisitor)
        .and_then(|p| de.end().map(|()| p))
        .map_err(|e| Error::new(ErrorKind::MalformedToken, format!("payload JSON: {e}")))
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Payload;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
        let mut payload = Payload::default();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StrictValue { depth: 1 })?;
            let duplicate = match REGISTERED.iter().position(|r| *r == key) {
                Some(i) => payload.slots[i].replace(value).is_some(),
                None => payload.extra.insert(key, value).is_some(),
            };
            if duplicate {
                return Err(de::Error::custom("duplicate member"));
            }
        }
        Ok(payload)
    }
}

/// A compact JWS split and decoded, not yet verified.
#[derive(Debug)]
pub(crate) struct Decoded<'t> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    pub(crate) claims: Payload,
    /// The decoded payload JSON, kept so callers can re-read the exact claims later.
    pub(crate) payload_json: Vec<u8>,
    /// `base64url(header) "." base64url(payload)`: the bytes the signature covers.
    pub(crate) signing_input: &'t str,
    pub(crate) signature: Vec<u8>,
}

/// Header members we refuse outright: key references we would never follow
/// (RFC 8725 §3.10; CVE-2018-0114) and markers of nested or encrypted tokens.
const REFUSED_HEADER_MEMBERS: [&str; 7] = ["crit", "jku", "x5u", "x5c", "jwk", "enc", "zip"];

/// Longest `kid` we look up; real ones are thumbprints or short names.
pub(crate) const MAX_KID_LEN: usize = 256;

/// A compact JWS whose header has been checked; the payload is still encoded.
#[derive(Debug)]
pub(crate) struct Jws<'t> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    pub(crate) payload: &'t str,
    pub(crate) signing_input: &'t str,
    pub(crate) signature: Vec<u8>,
}

/// Splits and decodes a compact JWS, checking the header before anything else.
pub(crate) fn decode(token: &str) -> Result<Decoded<'_>, Error> {
    let Jws { alg, kid, typ, payload, signing_input, signature } = decode_jws(token)?;
    let payload_json = b64_decode(payload)?;
    let claims = parse_payload(&payload_json)?;
    Ok(Decoded { alg, kid, typ, claims, payload_json, signing_input, signature })
}

/// The JWS layer alone (RFC 7515): segments, header rules, signature bytes. The payload
/// may be anything; [`decode`] adds the JWT rules.
pub(crate) fn decode_jws(token: &str) -> Result<Jws<'_>, Error> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Error::new(
            ErrorKind::MalformedToken,
            format!("expected 3 segments, got {}", token.split('.').count()),
        ));
    };
    if s.is_empty() {
        return Err(Error::new(ErrorKind::MalformedToken, "empty signature segment"));
    }
    let header = parse_object(&b64_decode(h)?, "header")?;

    for member in REFUSED_HEADER_MEMBERS {
        if header.contains_key(member) {
            return Err(Error::new(
                ErrorKind::UnsupportedHeader,
                format!("header member {member:?} is not accepted"),
            ));
        }
    }
    if header.contains_key("b64") {
        return Err(Error::new(ErrorKind::UnsupportedHeader, "unencoded payloads are not accepted"));
    }
    let alg = match header.get("alg") {
        Some(Value::String(name)) => Algorithm::from_jose(name).ok_or_else(|| {
            Error::new(ErrorKind::AlgorithmNotAllowed, format!("unsupported alg {:?}", truncate(name)))
        })?,
        Some(other) => {
            return Err(Error::new(
                ErrorKind::AlgorithmNotAllowed,
                format!("alg is not a string: {}", type_name(other)),
            ));
        }
        None => return Err(Error::new(ErrorKind::AlgorithmNotAllowed, "alg is missing")),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Some(kid.clone()),
        Some(other) => {
            return Err(Error::new(
                ErrorKind::MalformedToken,
                format!("kid is not a short non-empty string ({})", type_name(other)),
            ));
        }
    };
    let typ = match header.get("typ") {
        None => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(other) => {
            return Err(Error::new(
                ErrorKind::MalformedToken,
                format!("typ is not a string ({})", type_name(other)),
            ));
        }
    };
    if let Some(cty) = header.get("cty") {
        // Nested JWTs (RFC 7519 §5.2) and other content types are not access tokens.
        return Err(Error::new(
            ErrorKind::UnsupportedHeader,
            format!("cty {} is not accepted", type_name(cty)),
        ));
    }
    if p.is_empty() {
        return Err(Error::new(ErrorKind::MalformedToken, "empty payload segment"));
    }
    let signature = b64_decode(s)?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(Jws { alg, kid, typ, payload: p, signing_input, signature })
}

/// A JSON type name for log messages (values themselves may be hostile).
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Cuts attacker-controlled strings short before they reach a log line.
pub(crate) fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(40).filter(|c| !c.is_control()).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    #[test]
    fn j22_duplicate_members_are_refused_at_any_depth() {
        for bad in [r#"{"a":1,"a":2}"#, r#"{"x":{"b":1,"b":1}}"#, r#"{"x":[{"c":1,"c":2}]}"#] {
            let err = parse_object(bad.as_bytes(), "payload").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MalformedToken, "{bad}");
        }
        let t = token(r#"{"alg":"RS256","alg":"none"}"#, "{}");
        assert_eq!(decode(&t).unwrap_err().kind(), ErrorKind::MalformedToken);
    }

    #[test]
    fn j25_deep_nesting_is_refused() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert!(parse_object(deep.as_bytes(), "payload").is_err());
        let ok = format!("{{\"a\":{}1{}}}", "[".repeat(10), "]".repeat(10));
        assert!(parse_object(ok.as_bytes(), "payload").is_ok());
    }

    #[test]
    fn j23_invalid_utf8_surrogates_and_bom_are_refused() {
        assert!(parse_object(b"{\"a\":\"\xff\"}", "p").is_err());
        assert!(parse_object(br#"{"a":"\ud800"}"#, "p").is_err());
        assert!(parse_object(b"\xef\xbb\xbf{}", "p").is_err());
    }

    #[test]
    fn j24_non_canonical_base64url_is_refused() {
        assert!(b64_decode("YQ").is_ok());
        for bad in ["YQ==", "YR", "Y Q", "+/8", "YQ\n"] {
            assert!(b64_decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn j15_segment_counts_other_than_three_are_refused() {
        let h = b64(r#"{"alg":"RS256"}"#);
        for t in [h.clone(), format!("{h}.e30"), format!("{h}.e30.c2ln.x"), format!("{h}.a.b.c.d")] {
            assert_eq!(decode(&t).unwrap_err().kind(), ErrorKind::MalformedToken, "{t}");
        }
        assert!(decode(r#"{"payload":"e30","signatures":[]}"#).is_err());
    }

    #[test]
    fn j03_empty_signature_is_refused() {
        let t = format!("{}.{}.", b64(r#"{"alg":"RS256"}"#), b64("{}"));
        assert_eq!(decode(&t).unwrap_err().kind(), ErrorKind::MalformedToken);
    }

    #[test]
    fn j02_alg_none_missing_or_wrong_type_is_refused() {
        for h in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"None"}"#,
            r#"{"alg":"NONE"}"#,
            r#"{"alg":"nOnE"}"#,
            r#"{}"#,
            r#"{"alg":null}"#,
            r#"{"alg":""}"#,
            r#"{"alg":["RS256"]}"#,
        ] {
            assert_eq!(decode(&token(h, "{}")).unwrap_err().kind(), ErrorKind::AlgorithmNotAllowed, "{h}");
        }
    }

    #[test]
    fn j06_j07_j12_j14_key_references_crit_and_nesting_are_refused() {
        for h in [
            r#"{"alg":"RS256","crit":[]}"#,
            r#"{"alg":"RS256","crit":["exp"],"exp":1}"#,
            r#"{"alg":"RS256","jku":"https://evil.example/jwks"}"#,
            r#"{"alg":"RS256","x5u":"https://evil.example/cert"}"#,
            r#"{"alg":"RS256","x5c":["MIIB"]}"#,
            r#"{"alg":"RS256","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}}"#,
            r#"{"alg":"RS256","cty":"JWT"}"#,
            r#"{"alg":"RS256","enc":"A256GCM"}"#,
            r#"{"alg":"RS256","b64":false}"#,
        ] {
            assert_eq!(decode(&token(h, "{}")).unwrap_err().kind(), ErrorKind::UnsupportedHeader, "{h}");
        }
    }

    #[test]
    fn j08_hostile_kids_are_refused_before_lookup() {
        let long = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "a".repeat(10 * 1024));
        for h in [
            long.as_str(),
            r#"{"alg":"RS256","kid":7}"#,
            r#"{"alg":"RS256","kid":null}"#,
            r#"{"alg":"RS256","kid":""}"#,
        ] {
            assert_eq!(decode(&token(h, "{}")).unwrap_err().kind(), ErrorKind::MalformedToken);
        }
        // Path- or SQL-looking kids are just strings: they can only match a key in the set.
        let t = token(r#"{"alg":"RS256","kid":"../../dev/null"}"#, "{}");
        let d = decode(&t).unwrap();
        assert_eq!(d.kid.as_deref(), Some("../../dev/null"));
    }

    #[test]
    fn j14_payload_must_be_an_object() {
        for p in ["[]", "\"x\"", "1", "null", "eyJ"] {
            assert_eq!(
                decode(&token(r#"{"alg":"RS256"}"#, p)).unwrap_err().kind(),
                ErrorKind::MalformedToken
            );
        }
    }

    #[test]
    fn signing_input_is_header_dot_payload() {
        let t = token(r#"{"alg":"ES256","kid":"k","typ":"at+jwt"}"#, r#"{"sub":"u"}"#);
        let d = decode(&t).unwrap();
        assert_eq!(d.alg, Algorithm::ES256);
        assert_eq!(d.typ.as_deref(), Some("at+jwt"));
        assert_eq!(d.signing_input, &t[..t.rfind('.').unwrap()]);
        assert_eq!(d.signature, b"sig");
        assert_eq!(d.claims.get("sub"), Some(&Value::from("u")));
    }

    /// J27: Wycheproof's JWS vectors, replayed through the same JWS checks and key
    /// binding the verifier uses (the payload `foo` is not JSON, so only the JWS layer).
    #[test]
    fn j27_wycheproof_jws_vectors_match() {
        use crate::jwks::{KeyTable, Lookup};
        use crate::key::VerifyingKey;
        let doc: Value = serde_json::from_str(include_str!("../tests/data/wycheproof_jws.json")).unwrap();
        let mut checked = 0;
        for group in doc["groups"].as_array().unwrap() {
            let jwk = &group["key"];
            let table = if jwk["kty"] == "oct" {
                let secret = b64_decode(jwk["k"].as_str().unwrap()).unwrap();
                KeyTable::from_keys([VerifyingKey::hmac(Some("kid-aes-sign".into()), &secret).unwrap()])
            } else {
                KeyTable::parse(serde_json::json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap()
            };
            for case in group["tests"].as_array().unwrap() {
                let jws = case["jws"].as_str().unwrap();
                let accepted = decode_jws(jws).is_ok_and(|t| match table.lookup(t.kid.as_deref()) {
                    Lookup::Found(key) => {
                        key.allows(t.alg) && key.verify(t.alg, t.signing_input.as_bytes(), &t.signature)
                    }
                    _ => false,
                });
                assert_eq!(accepted, case["result"] == "valid", "tcId {} {}", case["tcId"], case["comment"]);
                checked += 1;
            }
        }
        assert_eq!(checked, 52);
    }
}
