//! Strict decoding of compact JWS tokens: base64url, JSON, header members.
//!
//! Everything here runs on untrusted input before any signature check, so it is strict
//! (canonical base64url only, duplicate JSON members and deep nesting refused) and
//! bounded (the caller caps the token size first).

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserialize, DeserializeSeed, MapAccess, SeqAccess, Visitor};
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
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value_seed(StrictValue { depth: 1 })?;
            let duplicate = match registered(&key) {
                Some(i) => payload.slots[i].replace(value).is_some(),
                None => payload.extra.insert(key.into_owned(), value).is_some(),
            };
            if duplicate {
                return Err(de::Error::custom("duplicate member"));
            }
        }
        Ok(payload)
    }
}

/// The slot of a registered claim: a `match`, so a name is compared once, not against
/// every entry of [`REGISTERED`] in turn.
fn registered(name: &str) -> Option<usize> {
    let i = match name {
        "sub" => 0,
        "iss" => 1,
        "aud" => 2,
        "exp" => 3,
        "iat" => 4,
        "nbf" => 5,
        "jti" => 6,
        "sid" => 7,
        "email" => 8,
        "name" => 9,
        "roles" => 10,
        "permissions" => 11,
        "scope" => 12,
        "scp" => 13,
        "amr" => 14,
        _ => return None,
    };
    Some(i)
}

/// A member name, borrowed from the token's JSON when it has no escapes, so reading a
/// name allocates only when it is kept.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The header members the JWS layer reads, parsed with the strictness of
/// [`parse_object`] (duplicates at any depth, nesting, UTF-8) but without building a
/// map: the few members that matter go to fields, the rest are checked and dropped.
#[derive(Default)]
struct Header {
    alg: Option<Value>,
    kid: Option<Value>,
    typ: Option<Value>,
    cty: Option<Value>,
    /// `b64` (RFC 7797) is present.
    b64: bool,
    /// The first of [`REFUSED_HEADER_MEMBERS`] (in that order) present, if any.
    refused: Option<usize>,
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut header = Header::default();
        let mut others: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value_seed(StrictValue { depth: 1 })?;
            let slot = match &*key {
                "alg" => &mut header.alg,
                "kid" => &mut header.kid,
                "typ" => &mut header.typ,
                "cty" => &mut header.cty,
                name => {
                    if let Some(i) = REFUSED_HEADER_MEMBERS.iter().position(|m| *m == name) {
                        header.refused = Some(header.refused.map_or(i, |first| first.min(i)));
                    }
                    header.b64 |= name == "b64";
                    others.push(key);
                    continue;
                }
            };
            if slot.replace(value).is_some() {
                return Err(de::Error::custom("duplicate member"));
            }
        }
        // Sorted, a repeated name sits next to itself: O(n log n) for hostile headers.
        others.sort_unstable();
        if others.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(de::Error::custom("duplicate member"));
        }
        Ok(header)
    }
}

fn parse_header(bytes: &[u8]) -> Result<Header, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de::Deserializer::deserialize_map(&mut de, HeaderVisitor)
        .and_then(|h| de.end().map(|()| h))
        .map_err(|e| Error::new(ErrorKind::MalformedToken, format!("header JSON: {e}")))
}

/// Largest signature accepted, in bytes: RSA-8192's, the biggest modulus verified.
pub(crate) const MAX_SIGNATURE_BYTES: usize = 1024;

/// Decoded signature bytes, on the stack: no allocation per verification.
pub(crate) struct Signature {
    bytes: [u8; MAX_SIGNATURE_BYTES],
    len: usize,
}

impl Signature {
    fn decode(segment: &str) -> Result<Signature, Error> {
        let mut signature = Signature { bytes: [0; MAX_SIGNATURE_BYTES], len: 0 };
        signature.len = URL_SAFE_NO_PAD.decode_slice(segment, &mut signature.bytes).map_err(|e| {
            let detail = match e {
                base64::DecodeSliceError::OutputSliceTooSmall => {
                    format!("signature longer than {MAX_SIGNATURE_BYTES} bytes")
                }
                base64::DecodeSliceError::DecodeError(e) => format!("base64url: {e}"),
            };
            Error::new(ErrorKind::MalformedToken, detail)
        })?;
        Ok(signature)
    }
}

impl std::ops::Deref for Signature {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({} bytes)", self.len)
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
    pub(crate) signature: Signature,
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
    pub(crate) signature: Signature,
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
    // The position of the next '.' from `from` (memchr underneath).
    let dots = |from: usize| token.get(from..).and_then(|rest| rest.find('.')).map(|i| from + i);
    let first = dots(0);
    let (Some(first), Some(second)) = (first, first.and_then(|d| dots(d + 1))) else {
        return Err(segment_count(token));
    };
    if dots(second + 1).is_some() {
        return Err(segment_count(token));
    }
    let (h, p, s) = (&token[..first], &token[first + 1..second], &token[second + 1..]);
    if s.is_empty() {
        return Err(Error::new(ErrorKind::MalformedToken, "empty signature segment"));
    }
    let header = parse_header(&b64_decode(h)?)?;

    if let Some(member) = header.refused.and_then(|i| REFUSED_HEADER_MEMBERS.get(i)) {
        return Err(Error::new(
            ErrorKind::UnsupportedHeader,
            format!("header member {member:?} is not accepted"),
        ));
    }
    if header.b64 {
        return Err(Error::new(ErrorKind::UnsupportedHeader, "unencoded payloads are not accepted"));
    }
    let alg = match &header.alg {
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
    let kid = match header.kid {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Some(kid),
        Some(other) => {
            return Err(Error::new(
                ErrorKind::MalformedToken,
                format!("kid is not a short non-empty string ({})", type_name(&other)),
            ));
        }
    };
    let typ = match header.typ {
        None => None,
        Some(Value::String(t)) => Some(t),
        Some(other) => {
            return Err(Error::new(
                ErrorKind::MalformedToken,
                format!("typ is not a string ({})", type_name(&other)),
            ));
        }
    };
    if let Some(cty) = &header.cty {
        // Nested JWTs (RFC 7519 §5.2) and other content types are not access tokens.
        return Err(Error::new(
            ErrorKind::UnsupportedHeader,
            format!("cty {} is not accepted", type_name(cty)),
        ));
    }
    if p.is_empty() {
        return Err(Error::new(ErrorKind::MalformedToken, "empty payload segment"));
    }
    let signature = Signature::decode(s)?;
    let signing_input = &token[..second];
    Ok(Jws { alg, kid, typ, payload: p, signing_input, signature })
}

fn segment_count(token: &str) -> Error {
    Error::new(
        ErrorKind::MalformedToken,
        format!("expected 3 segments, got {}", token.bytes().filter(|b| *b == b'.').count() + 1),
    )
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
    fn header_members_are_checked_without_a_map() {
        // Duplicates among members the JWS layer does not read are still refused.
        for bad in [r#"{"alg":"RS256","x":1,"y":2,"x":3}"#, r#"{"alg":"RS256","kid":"a","kid":"a"}"#] {
            assert_eq!(decode(&token(bad, "{}")).unwrap_err().kind(), ErrorKind::MalformedToken, "{bad}");
        }
        // Escaped names are names: "\u0061lg" is "alg", so this one repeats it.
        let escaped = r#"{"alg":"RS256","\u0061lg":"none"}"#;
        assert_eq!(decode(&token(escaped, "{}")).unwrap_err().kind(), ErrorKind::MalformedToken);
        // The first refused member in REFUSED_HEADER_MEMBERS order is named, wherever it is.
        let err = decode(&token(r#"{"zip":"DEF","alg":"RS256","jku":"x"}"#, "{}")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedHeader);
        assert!(err.detail().contains("\"jku\""), "{}", err.detail());
        // Many distinct members: accepted, and in time linear-ish (sorted, not pairwise).
        let many: Vec<String> = (0..2000).map(|i| format!("\"m{i}\":0")).collect();
        let big = format!(r#"{{"alg":"ES256",{}}}"#, many.join(","));
        assert_eq!(decode(&token(&big, "{}")).unwrap().alg, Algorithm::ES256);
        // Payload names with escapes land in their registered slot.
        let t = token(r#"{"alg":"ES256"}"#, r#"{"s\u0075b":"u"}"#);
        let d = decode(&t).unwrap();
        assert_eq!(d.claims.get("sub"), Some(&Value::from("u")));
    }

    #[test]
    fn signatures_longer_than_rsa_8192_are_refused_before_any_key_lookup() {
        let h = b64(r#"{"alg":"RS256"}"#);
        let ok = format!("{h}.e30.{}", URL_SAFE_NO_PAD.encode([7u8; MAX_SIGNATURE_BYTES]));
        assert_eq!(decode(&ok).unwrap().signature.len(), MAX_SIGNATURE_BYTES);
        let long = format!("{h}.e30.{}", URL_SAFE_NO_PAD.encode([7u8; MAX_SIGNATURE_BYTES + 1]));
        let err = decode(&long).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedToken);
        assert!(err.detail().contains("longer than 1024 bytes"), "{}", err.detail());
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
        assert_eq!(&*d.signature, b"sig");
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
