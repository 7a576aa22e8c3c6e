//! Strict decoding of compact JWS tokens: base64url, JSON, header members.
//!
//! Everything here runs on untrusted input before any signature check, so it is strict
//! (canonical base64url only, duplicate JSON members and deep nesting refused) and
//! bounded (the caller caps the token size first).

use std::borrow::Cow;
use std::fmt;

use base64_simd::{AsOut as _, URL_SAFE_NO_PAD};
use serde::de::{self, Deserialize, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::error::{Error, ErrorKind};

/// Deepest JSON nesting accepted in a header or payload.
pub(crate) const MAX_JSON_DEPTH: usize = 16;

/// Decodes canonical base64url without padding; `+`, `/`, `=`, whitespace, a length of
/// 4n+1 and non-zero trailing bits are all refused, so one token has one encoding.
///
/// `base64-simd` rather than `base64`: every new token decodes ~700 characters, which
/// the `base64` crate did at ~9 instructions per character and `base64-simd` does with
/// AVX2 (or SSE4.1, chosen at run time) at well under one, with the same strictness.
pub(crate) fn b64_decode(segment: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD.decode_to_vec(segment).map_err(|_| malformed_base64())
}

fn malformed_base64() -> Error {
    Error::new(ErrorKind::MalformedToken, "base64url: not canonical unpadded base64url")
}

/// Decodes `segment` into the start of `out`; `Ok(None)` when it does not fit.
fn b64_decode_slice<'s>(segment: &str, out: &'s mut [u8]) -> Result<Option<&'s [u8]>, Error> {
    let len = URL_SAFE_NO_PAD.decoded_length(segment.as_bytes()).map_err(|_| malformed_base64())?;
    let Some(out) = out.get_mut(..len) else { return Ok(None) };
    match URL_SAFE_NO_PAD.decode(segment.as_bytes(), out.as_out()) {
        Ok(decoded) => Ok(Some(decoded)),
        Err(_) => Err(malformed_base64()),
    }
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
    pub(crate) slots: [Option<Value>; REGISTERED.len()],
    pub(crate) extra: Map<String, Value>,
}

impl Payload {
    // Inlined, a constant name (all but mapping paths) folds to its slot index.
    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        match registered(name) {
            Some(i) => self.slots[i].as_ref(),
            None => self.extra.get(name),
        }
    }

    /// Empties every slot and `extra` (keeping its room).
    fn clear(&mut self) {
        for slot in &mut self.slots {
            if slot.is_some() {
                *slot = None;
            }
        }
        if !self.extra.is_empty() {
            self.extra.clear();
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

/// The decoded header or payload as text. Checked once here, the whole segment at
/// ASCII speed, so serde_json reads it as a `str` and does not check every string
/// again (what `from_slice` does, ~90 instructions a string).
fn utf8<'b>(bytes: &'b [u8], what: &str) -> Result<&'b str, Error> {
    std::str::from_utf8(bytes).map_err(|e| Error::new(ErrorKind::MalformedToken, format!("{what} JSON: {e}")))
}

/// Parses a payload object with the same strictness as [`parse_object`] (duplicates at
/// any depth, nesting, UTF-8), straight into `payload` (empty on entry): filled in place,
/// since moving its ~500 bytes from function to function cost more than filling it.
pub(crate) fn parse_payload(bytes: &[u8], payload: &mut Payload) -> Result<(), Error> {
    let mut de = serde_json::Deserializer::from_str(utf8(bytes, "payload")?);
    de::Deserializer::deserialize_map(&mut de, PayloadVisitor(payload))
        .and_then(|()| de.end())
        .map_err(|e| Error::new(ErrorKind::MalformedToken, format!("payload JSON: {e}")))
}

struct PayloadVisitor<'p>(&'p mut Payload);

impl<'de> Visitor<'de> for PayloadVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let payload = self.0;
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
        Ok(())
    }
}

/// The slot of a registered claim: a `match`, so a name is compared once, not against
/// every entry of [`REGISTERED`] in turn.
#[inline]
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

/// A header member's value as the JWS layer needs it: a string (borrowed from the
/// decoded header when it has no escapes, so reading `alg`, `kid` and `typ` allocates
/// nothing) or, for any other JSON type, only the type's name for the error message.
/// Either way the value is parsed with [`StrictValue`]'s rules.
#[derive(Debug)]
enum Member<'h> {
    Str(Cow<'h, str>),
    Other(&'static str),
}

impl Member<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Member::Str(_) => "string",
            Member::Other(name) => name,
        }
    }
}

struct MemberSeed;

impl<'de> DeserializeSeed<'de> for MemberSeed {
    type Value = Member<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Member<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Member<'de>, E> {
        Ok(Member::Other("boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Member<'de>, E> {
        Ok(Member::Other("number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Member<'de>, E> {
        Ok(Member::Other("number"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Member<'de>, E> {
        StrictValue { depth: 1 }.visit_f64(v).map(|_| Member::Other("number"))
    }
    fn visit_unit<E>(self) -> Result<Member<'de>, E> {
        Ok(Member::Other("null"))
    }
    fn visit_none<E>(self) -> Result<Member<'de>, E> {
        Ok(Member::Other("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Member<'de>, A::Error> {
        StrictValue { depth: 1 }.visit_seq(seq).map(|_| Member::Other("array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member<'de>, A::Error> {
        StrictValue { depth: 1 }.visit_map(map).map(|_| Member::Other("object"))
    }
}

/// The header members the JWS layer reads, parsed with the strictness of
/// [`parse_object`] (duplicates at any depth, nesting, UTF-8) but without building a
/// map: the few members that matter go to fields, the rest are checked and dropped.
#[derive(Default)]
struct Header<'h> {
    alg: Option<Member<'h>>,
    kid: Option<Member<'h>>,
    typ: Option<Member<'h>>,
    cty: Option<Member<'h>>,
    /// `b64` (RFC 7797) is present.
    b64: bool,
    /// The first of [`REFUSED_HEADER_MEMBERS`] (in that order) present, if any.
    refused: Option<usize>,
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header<'de>, A::Error> {
        let mut header = Header::default();
        let mut others: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            let slot = match &*key {
                "alg" => &mut header.alg,
                "kid" => &mut header.kid,
                "typ" => &mut header.typ,
                "cty" => &mut header.cty,
                name => {
                    map.next_value_seed(StrictValue { depth: 1 })?;
                    if let Some(i) = REFUSED_HEADER_MEMBERS.iter().position(|m| *m == name) {
                        header.refused = Some(header.refused.map_or(i, |first| first.min(i)));
                    }
                    header.b64 |= name == "b64";
                    others.push(key);
                    continue;
                }
            };
            let value = map.next_value_seed(MemberSeed)?;
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

fn parse_header(bytes: &[u8]) -> Result<Header<'_>, Error> {
    let mut de = serde_json::Deserializer::from_str(utf8(bytes, "header")?);
    de::Deserializer::deserialize_map(&mut de, HeaderVisitor)
        .and_then(|h| de.end().map(|()| h))
        .map_err(|e| Error::new(ErrorKind::MalformedToken, format!("header JSON: {e}")))
}

/// Largest signature accepted, in bytes: RSA-8192's, the biggest modulus verified.
pub(crate) const MAX_SIGNATURE_BYTES: usize = 1024;

/// Decoded headers up to this size stay in [`Scratch`]; longer ones go to the heap.
const HEADER_INLINE_BYTES: usize = 512;

/// Room for the decoded header, signature and claims of one token, lent to the
/// verifier's (synchronous) frame by [`Scratch::with`]: decoding then allocates only the
/// payload JSON (the principal keeps it) and the claims' values, and nothing the size of
/// a signature or of the claim slots is moved around.
pub(crate) struct Scratch {
    header: [u8; HEADER_INLINE_BYTES],
    /// Headers longer than `header`.
    spill: Vec<u8>,
    signature: [u8; MAX_SIGNATURE_BYTES],
    claims: Payload,
}

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch {
            header: [0; HEADER_INLINE_BYTES],
            spill: Vec::new(),
            signature: [0; MAX_SIGNATURE_BYTES],
            claims: Payload::default(),
        }
    }

    /// Runs `f` with this thread's scratch space, empty of any earlier token's claims
    /// (or with a fresh one while the thread's is in use). Reused, since zeroing 1.5 KiB
    /// and dropping fifteen claim slots for every token cost more than emptying the
    /// slots a token filled.
    pub(crate) fn with<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                // Emptied before (in case `f` panicked last time) and after, so no
                // token's claims outlive its verification.
                scratch.claims.clear();
                let out = f(&mut scratch);
                scratch.claims.clear();
                out
            }
            Err(_) => f(&mut Scratch::new()),
        })
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::new());
}

/// [`b64_decode`] into `inline` when it fits, else into `spill`.
fn b64_decode_into<'s>(
    segment: &str,
    inline: &'s mut [u8],
    spill: &'s mut Vec<u8>,
) -> Result<&'s [u8], Error> {
    if let Some(decoded) = b64_decode_slice(segment, inline)? {
        return Ok(decoded);
    }
    *spill = b64_decode(segment)?;
    Ok(spill)
}

fn decode_signature<'s>(segment: &str, out: &'s mut [u8; MAX_SIGNATURE_BYTES]) -> Result<&'s [u8], Error> {
    b64_decode_slice(segment, out)?.ok_or_else(|| {
        Error::new(ErrorKind::MalformedToken, format!("signature longer than {MAX_SIGNATURE_BYTES} bytes"))
    })
}

/// A compact JWS split and decoded, not yet verified.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Cow<'a, str>>,
    pub(crate) typ: Option<Cow<'a, str>>,
    pub(crate) claims: &'a mut Payload,
    /// The decoded payload JSON, kept so callers can re-read the exact claims later.
    pub(crate) payload_json: Vec<u8>,
    /// `base64url(header) "." base64url(payload)`: the bytes the signature covers.
    pub(crate) signing_input: &'a str,
    pub(crate) signature: &'a [u8],
}

/// Header members we refuse outright: key references we would never follow
/// (RFC 8725 §3.10; CVE-2018-0114) and markers of nested or encrypted tokens.
const REFUSED_HEADER_MEMBERS: [&str; 7] = ["crit", "jku", "x5u", "x5c", "jwk", "enc", "zip"];

/// Longest `kid` we look up; real ones are thumbprints or short names.
pub(crate) const MAX_KID_LEN: usize = 256;

/// A compact JWS whose header has been checked; the payload is still encoded.
#[derive(Debug)]
pub(crate) struct Jws<'a> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Cow<'a, str>>,
    pub(crate) typ: Option<Cow<'a, str>>,
    pub(crate) payload: &'a str,
    pub(crate) signing_input: &'a str,
    pub(crate) signature: &'a [u8],
}

/// Splits and decodes a compact JWS, checking the header before anything else. The
/// header and signature are decoded into `scratch`.
pub(crate) fn decode<'a>(token: &'a str, scratch: &'a mut Scratch) -> Result<Decoded<'a>, Error> {
    let Scratch { header, spill, signature, claims } = scratch;
    let Jws { alg, kid, typ, payload, signing_input, signature } =
        decode_jws_into(token, header, spill, signature)?;
    // Exactly the decoded length, so the principal keeps it without reallocating.
    let payload_json = b64_decode(payload)?;
    parse_payload(&payload_json, claims)?;
    Ok(Decoded { alg, kid, typ, claims, payload_json, signing_input, signature })
}

/// The JWS layer alone (RFC 7515): segments, header rules, signature bytes. The payload
/// may be anything; [`decode`] adds the JWT rules. (The Wycheproof replays use it.)
#[cfg(test)]
pub(crate) fn decode_jws<'a>(token: &'a str, scratch: &'a mut Scratch) -> Result<Jws<'a>, Error> {
    let Scratch { header, spill, signature, .. } = scratch;
    decode_jws_into(token, header, spill, signature)
}

fn decode_jws_into<'a>(
    token: &'a str,
    header: &'a mut [u8; HEADER_INLINE_BYTES],
    spill: &'a mut Vec<u8>,
    signature: &'a mut [u8; MAX_SIGNATURE_BYTES],
) -> Result<Jws<'a>, Error> {
    // The position of the next '.' from `from`: the memchr crate's SIMD search, since
    // `str::find` scanned the ~600 bytes of an RS256 token a word at a time.
    let bytes = token.as_bytes();
    let dots = |from: usize| bytes.get(from..).and_then(|rest| memchr::memchr(b'.', rest)).map(|i| from + i);
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
    let (alg, kid, typ) = match recall_header(h, header) {
        Ok(parts) => parts,
        Err(header) => {
            let parts = check_header(h, header, spill)?;
            remember_header(h, &parts);
            parts
        }
    };
    if p.is_empty() {
        return Err(Error::new(ErrorKind::MalformedToken, "empty payload segment"));
    }
    let signature = decode_signature(s, signature)?;
    let signing_input = &token[..second];
    Ok(Jws { alg, kid, typ, payload: p, signing_input, signature })
}

/// `alg`, `kid` and `typ` of a header that passed every header rule.
type HeaderParts<'a> = (Algorithm, Option<Cow<'a, str>>, Option<Cow<'a, str>>);

/// Decodes and checks the header segment `h`: JSON rules, refused members, `alg`, `kid`
/// and `typ` types, no `cty`.
fn check_header<'a>(
    h: &'a str,
    buffer: &'a mut [u8; HEADER_INLINE_BYTES],
    spill: &'a mut Vec<u8>,
) -> Result<HeaderParts<'a>, Error> {
    let header = parse_header(b64_decode_into(h, buffer, spill)?)?;

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
        Some(Member::Str(name)) => Algorithm::from_jose(name).ok_or_else(|| {
            Error::new(ErrorKind::AlgorithmNotAllowed, format!("unsupported alg {:?}", truncate(name)))
        })?,
        Some(Member::Other(other)) => {
            return Err(Error::new(ErrorKind::AlgorithmNotAllowed, format!("alg is not a string: {other}")));
        }
        None => return Err(Error::new(ErrorKind::AlgorithmNotAllowed, "alg is missing")),
    };
    let kid = match header.kid {
        None => None,
        Some(Member::Str(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Some(kid),
        Some(other) => {
            return Err(Error::new(
                ErrorKind::MalformedToken,
                format!("kid is not a short non-empty string ({})", other.type_name()),
            ));
        }
    };
    let typ = match header.typ {
        None => None,
        Some(Member::Str(t)) => Some(t),
        Some(Member::Other(other)) => {
            return Err(Error::new(ErrorKind::MalformedToken, format!("typ is not a string ({other})")));
        }
    };
    if let Some(cty) = &header.cty {
        // Nested JWTs (RFC 7519 §5.2) and other content types are not access tokens.
        return Err(Error::new(
            ErrorKind::UnsupportedHeader,
            format!("cty {} is not accepted", cty.type_name()),
        ));
    }
    Ok((alg, kid, typ))
}

/// A header segment that passed [`check_header`] on this thread, and its parts.
///
/// Every token an issuer signs with one key has the same header bytes, so decoding and
/// parsing them again (~2 000 instructions a token) gives the same answer; the answer is
/// a function of those bytes alone (no configuration, no clock), so it is kept by them
/// and used only for a byte-equal segment. Per thread: no lock, nothing shared between
/// threads, and a header that misses is simply checked as before.
struct HeaderMemo {
    segment: Box<str>,
    alg: Algorithm,
    kid: Option<Box<str>>,
    typ: Option<Box<str>>,
}

/// Headers remembered per thread: during a key rotation tokens signed with the old and
/// the new key arrive interleaved, and a service may trust more than one issuer; with a
/// single entry each such token would push the other's header out.
const REMEMBERED_HEADERS: usize = 4;

/// The thread's remembered headers, taken and then replaced in turn.
struct HeaderMemos {
    entries: [Option<HeaderMemo>; REMEMBERED_HEADERS],
    next: usize,
}

thread_local! {
    static HEADERS: std::cell::RefCell<HeaderMemos> = const {
        std::cell::RefCell::new(HeaderMemos { entries: [const { None }; REMEMBERED_HEADERS], next: 0 })
    };
}

/// The remembered parts of `h`, with `kid` then `typ` copied into `buffer` and borrowed
/// from there; `buffer` back, untouched, when `h` is not the remembered segment.
fn recall_header<'a>(
    h: &str,
    buffer: &'a mut [u8; HEADER_INLINE_BYTES],
) -> Result<HeaderParts<'a>, &'a mut [u8; HEADER_INLINE_BYTES]> {
    let recalled = HEADERS.with(|memos| {
        let memos = memos.try_borrow().ok()?;
        let memo = memos.entries.iter().flatten().find(|memo| *memo.segment == *h)?;
        let kid = memo.kid.as_deref().unwrap_or_default().as_bytes();
        let typ = memo.typ.as_deref().unwrap_or_default().as_bytes();
        buffer.get_mut(..kid.len())?.copy_from_slice(kid);
        buffer.get_mut(kid.len()..kid.len() + typ.len())?.copy_from_slice(typ);
        Some((memo.alg, memo.kid.as_ref().map(|_| kid.len()), memo.typ.as_ref().map(|_| typ.len())))
    });
    let Some((alg, kid_len, typ_len)) = recalled else { return Err(buffer) };
    let buffer: &'a [u8] = buffer;
    // Copied from strings, so always UTF-8.
    let text = |range: std::ops::Range<usize>| {
        buffer.get(range).and_then(|b| std::str::from_utf8(b).ok()).map(Cow::Borrowed)
    };
    let typ_start = kid_len.unwrap_or(0);
    let kid = kid_len.and_then(|k| text(0..k));
    let typ = typ_len.and_then(|t| text(typ_start..typ_start + t));
    Ok((alg, kid, typ))
}

/// Remembers `h` and its parts for [`recall_header`], if they fit its buffer.
fn remember_header(h: &str, (alg, kid, typ): &HeaderParts<'_>) {
    let len = |s: &Option<Cow<'_, str>>| s.as_deref().map_or(0, str::len);
    if len(kid) + len(typ) > HEADER_INLINE_BYTES || h.len() > MAX_REMEMBERED_HEADER {
        return;
    }
    let memo = HeaderMemo {
        segment: h.into(),
        alg: *alg,
        kid: kid.as_deref().map(Into::into),
        typ: typ.as_deref().map(Into::into),
    };
    HEADERS.with(|memos| {
        let Ok(mut memos) = memos.try_borrow_mut() else { return };
        // Filled in turn from the first entry, so the next one is empty until all are
        // taken, and then the oldest.
        let slot = memos.next;
        memos.next = (slot + 1) % REMEMBERED_HEADERS;
        if let Some(entry) = memos.entries.get_mut(slot) {
            *entry = Some(memo);
        }
    });
}

/// Longest header segment remembered: real ones are under 200 characters.
const MAX_REMEMBERED_HEADER: usize = 1024;

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
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    /// [`super::decode`] with scratch space that outlives the test's token.
    fn decode(token: &str) -> Result<Decoded<'_>, Error> {
        super::decode(token, Box::leak(Box::new(Scratch::new())))
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    /// The thread's scratch space is reused, so each token must find it empty: no claim
    /// of an earlier token (not even one whose verification panicked) shows through or
    /// reads as a duplicate, and a verification nested in another gets its own.
    #[test]
    fn each_token_finds_the_threads_scratch_empty_and_a_nested_one_gets_its_own() {
        let rich = token(r#"{"alg":"RS256"}"#, r#"{"sub":"a","exp":5,"custom":1}"#);
        let plain = token(r#"{"alg":"RS256"}"#, r#"{"sub":"b"}"#);
        let custom = |d: &Decoded<'_>| d.claims.get("custom").cloned();
        let panicked = std::panic::catch_unwind(|| {
            Scratch::with(|s| {
                let decoded = super::decode(&rich, s).unwrap();
                assert_eq!(custom(&decoded), Some(Value::from(1)));
                panic!("a verification that panics after decoding");
            })
        });
        assert!(panicked.is_err());
        Scratch::with(|s| {
            let decoded = super::decode(&plain, s).unwrap();
            assert_eq!((decoded.claims.get("exp"), custom(&decoded)), (None, None));
            Scratch::with(|nested| {
                let inner = super::decode(&rich, nested).unwrap();
                assert_eq!(inner.claims.get("sub"), Some(&Value::from("a")));
            });
            assert_eq!(decoded.claims.get("sub"), Some(&Value::from("b")));
        });
        Scratch::with(|s| {
            let decoded = super::decode(&rich, s).expect("no stale claim reads as a duplicate");
            assert_eq!(custom(&decoded), Some(Value::from(1)));
        });
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
    fn registered_claims_have_one_slot_each() {
        for (i, name) in REGISTERED.iter().enumerate() {
            assert_eq!(registered(name), Some(i), "{name}");
        }
        assert_eq!(registered("azp"), None);
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
    fn invalid_utf8_in_the_header_or_payload_is_malformed() {
        let h = b64(r#"{"alg":"RS256"}"#);
        let bad_string = URL_SAFE_NO_PAD.encode(b"{\"sub\":\"\xff\"}");
        let bad_name = URL_SAFE_NO_PAD.encode(b"{\"alg\":\"RS256\",\"\xc3\x28\":1}");
        let bom = URL_SAFE_NO_PAD.encode(b"\xef\xbb\xbf{}");
        for t in [
            format!("{h}.{bad_string}.c2ln"),
            format!("{bad_name}.e30.c2ln"),
            format!("{bom}.e30.c2ln"),
            format!("{h}.{bom}.c2ln"),
            token(r#"{"alg":"RS256"}"#, r#"{"sub":"\ud800"}"#),
        ] {
            assert_eq!(decode(&t).unwrap_err().kind(), ErrorKind::MalformedToken, "{t}");
        }
        // Valid UTF-8 beyond ASCII is fine, escaped or not.
        let t = token(r#"{"alg":"RS256"}"#, r#"{"name":"Zoë","sub":"\u00e9"}"#);
        let d = decode(&t).unwrap();
        assert_eq!(d.claims.get("name"), Some(&Value::from("Zoë")));
        assert_eq!(d.claims.get("sub"), Some(&Value::from("é")));
    }

    #[test]
    fn j24_non_canonical_base64url_is_refused() {
        assert!(b64_decode("YQ").is_ok());
        for bad in ["YQ==", "YR", "Y Q", "+/8", "YQ\n"] {
            assert!(b64_decode(bad).is_err(), "{bad:?}");
        }
    }

    /// The SIMD decoder agrees with the `base64` crate's strict engine, which it
    /// replaced, on every string it is given: same bytes, same refusals (alphabet,
    /// padding, whitespace, length 4n+1, trailing bits), long enough for the SIMD path.
    #[test]
    fn base64url_decoding_agrees_with_the_base64_crate_on_edge_and_random_input() {
        let alphabet = b"AQgw_-09azZY+/= \n.";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let len = (next() % 90) as usize;
            let mut text: Vec<u8> = (0..len).map(|_| alphabet[(next() % 16) as usize]).collect();
            if round % 3 == 0 {
                // Mostly valid characters, one odd one somewhere.
                text.iter_mut().for_each(|b| *b = alphabet[(next() % 8) as usize]);
                if let Some(b) = text.get_mut((next() as usize) % len.max(1)) {
                    *b = alphabet[(next() % alphabet.len() as u64) as usize];
                }
            }
            let text = String::from_utf8(text).unwrap();
            let expected = URL_SAFE_NO_PAD.decode(&text).ok();
            assert_eq!(b64_decode(&text).ok(), expected, "{text:?}");
            let mut out = [0u8; 128];
            let sliced = b64_decode_slice(&text, &mut out).ok().flatten().map(<[u8]>::to_vec);
            assert_eq!(sliced, expected, "{text:?}");
        }
    }

    /// The per-thread memo of the last good header answers only for the same bytes,
    /// with what checking them gives, and never lets a later header skip its checks.
    #[test]
    fn a_remembered_header_answers_only_for_byte_equal_segments() {
        let token = |header: &str| format!("{}.{}.c2ln", b64(header), b64("{}"));
        let parts =
            |t: &str| decode(t).map(|d| (d.alg, d.kid.map(Cow::into_owned), d.typ.map(Cow::into_owned)));
        let escaped = token(r#"{"alg":"RS256","kid":"k\u0031","typ":"at+jwt"}"#);
        let expected = (Algorithm::RS256, Some("k1".to_owned()), Some("at+jwt".to_owned()));
        for _ in 0..3 {
            assert_eq!(parts(&escaped).unwrap(), expected, "checked, then remembered");
        }
        // Equivalent JSON in other bytes is checked on its own.
        let spaced = token(r#"{"alg":"ES256", "kid":"k2"}"#);
        assert_eq!(parts(&spaced).unwrap(), (Algorithm::ES256, Some("k2".to_owned()), None));
        assert_eq!(parts(&escaped).unwrap(), expected);
        // A header that differs by one member is checked, and refused, after a good one.
        let with_jku = token(r#"{"alg":"RS256","kid":"k1","typ":"at+jwt","jku":"https://x"}"#);
        assert_eq!(parts(&with_jku).unwrap_err().kind(), ErrorKind::UnsupportedHeader);
        let no_alg = token(r#"{"kid":"k1","typ":"at+jwt"}"#);
        assert_eq!(parts(&no_alg).unwrap_err().kind(), ErrorKind::AlgorithmNotAllowed);
        assert_eq!(parts(&escaped).unwrap(), expected, "a refused header is not remembered");
        // The remembered header does not excuse the rest of the token.
        let empty_payload = format!("{}..c2ln", b64(r#"{"alg":"RS256","kid":"k\u0031","typ":"at+jwt"}"#));
        assert_eq!(parts(&empty_payload).unwrap_err().kind(), ErrorKind::MalformedToken);
    }

    /// Old- and new-key tokens interleave during a rotation: both headers stay
    /// remembered, and a fifth header replaces the one remembered first.
    #[test]
    fn remembered_headers_survive_interleaved_keys_until_a_fifth_replaces_the_first() {
        let header = |kid: &str| b64(&format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"at+jwt"}}"#));
        let remembered = |kid: &str| recall_header(&header(kid), &mut [0; HEADER_INLINE_BYTES]).is_ok();
        let verify_header_of = |kid: &str| {
            let token = format!("{}.{}.c2ln", header(kid), b64("{}"));
            assert_eq!(decode(&token).unwrap().kid.as_deref(), Some(kid));
        };
        for _ in 0..3 {
            verify_header_of("old");
            verify_header_of("new");
        }
        assert!(remembered("old") && remembered("new"));
        for kid in ["k3", "k4"] {
            verify_header_of(kid);
        }
        assert!(["old", "new", "k3", "k4"].into_iter().all(remembered));
        verify_header_of("k5");
        assert!(!remembered("old"), "the first remembered is replaced");
        assert!(["new", "k3", "k4", "k5"].into_iter().all(remembered));
        verify_header_of("old");
        assert!(!remembered("new"), "then the next");
        assert!(["old", "k3", "k4", "k5"].into_iter().all(remembered));
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
                let accepted = decode_jws(jws, &mut Scratch::new()).is_ok_and(|t| {
                    match table.lookup(t.kid.as_deref()) {
                        Lookup::Found(key) => {
                            key.allows(t.alg) && key.verify(t.alg, t.signing_input.as_bytes(), t.signature)
                        }
                        _ => false,
                    }
                });
                assert_eq!(accepted, case["result"] == "valid", "tcId {} {}", case["tcId"], case["comment"]);
                checked += 1;
            }
        }
        assert_eq!(checked, 52);
    }
}
