//! String surgery on compact tokens for negative tests.
//!
//! Each helper takes a token (usually from [`TokenBuilder::sign`](crate::token::TokenBuilder::sign))
//! and returns a copy damaged in one specific way, so a test can state which defect the
//! verifier must catch. They are pure string functions: no keys, no I/O.
//!
//! ```
//! use authgate_testkit::keys::TestKey;
//! use authgate_testkit::malformed;
//!
//! let token = TestKey::es256().token().claim("sub", "alice").sign();
//! for bad in [
//!     malformed::strip_signature(&token),
//!     malformed::drop_signature_segment(&token),
//!     malformed::with_segments(&token, 5),
//!     malformed::tamper_payload(&token),
//!     malformed::padded(&token),
//!     malformed::std_base64_chars(&token),
//!     malformed::with_space(&token),
//! ] {
//!     assert_ne!(bad, token);
//!     // assert!(verifier.verify(&bad).is_err());
//! }
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::b64;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `header.payload` and the segment after it (if any).
fn split(token: &str) -> (&str, &str, Option<&str>) {
    let mut parts = token.splitn(3, '.');
    let header = parts.next().unwrap_or_default();
    let payload = parts.next().unwrap_or_default();
    (header, payload, parts.next())
}

/// Replaces the payload segment (the second one) using `edit`.
fn edit_payload(token: &str, edit: impl FnOnce(&str) -> String) -> String {
    let (header, payload, rest) = split(token);
    let payload = edit(payload);
    match rest {
        Some(rest) => format!("{header}.{payload}.{rest}"),
        None => format!("{header}.{payload}"),
    }
}

/// `header.payload.`: the signature emptied but its segment kept, as in an `alg: none` token.
pub fn strip_signature(token: &str) -> String {
    let (header, payload, _) = split(token);
    format!("{header}.{payload}.")
}

/// `header.payload`: only two segments, which no compact JWS has.
pub fn drop_signature_segment(token: &str) -> String {
    let (header, payload, _) = split(token);
    format!("{header}.{payload}")
}

/// The token with exactly `n` dot-separated segments: the first `n` if it has more, and its
/// segments repeated in order (`h.p.s.h.p`) if it has fewer.
///
/// `n = 5` gives a JWE look-alike, which a JWS verifier must refuse rather than try to
/// decrypt; `n = 1` a token with no dots at all.
pub fn with_segments(token: &str, n: usize) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    (0..n).map(|i| parts[i % parts.len()]).collect::<Vec<_>>().join(".")
}

/// The token with one character of its payload changed, so its signature no longer verifies
/// although everything else is still well formed.
///
/// The helper flips the case of the last ASCII letter of the decoded payload (usually inside
/// the last claim's value) and re-encodes it: the payload stays canonical base64url and valid
/// JSON, so only the signature check can catch the change. A payload that does not decode or
/// has no letters gets one base64 character in its middle changed instead; an empty or
/// one-character payload is replaced by `e30` (`{}`).
pub fn tamper_payload(token: &str) -> String {
    edit_payload(token, |payload| {
        if let Ok(mut bytes) = URL_SAFE_NO_PAD.decode(payload)
            && let Some(letter) = bytes.iter_mut().rev().find(|b| b.is_ascii_alphabetic())
        {
            *letter ^= 0x20;
            return b64(bytes);
        }
        if payload.len() < 2 {
            return if payload == "e30" { "W10".to_owned() } else { "e30".to_owned() };
        }
        // Not the last character: flipping the lowest bit there keeps base64 canonical.
        let middle = (payload.len() - 1) / 2;
        let mut chars = payload.as_bytes().to_vec();
        chars[middle] = match ALPHABET.iter().position(|&c| c == chars[middle]) {
            Some(value) => ALPHABET[value ^ 1],
            None => b'A',
        };
        String::from_utf8(chars).expect("base64url is ASCII")
    })
}

/// The token with standard base64 `=` padding appended to its payload segment, which
/// base64url in JWS forbids.
///
/// If the payload's length is a multiple of 4 (no padding needed), a single `=` is appended
/// anyway so the result always differs from the input.
pub fn padded(token: &str) -> String {
    edit_payload(token, |payload| {
        let missing = (4 - payload.len() % 4) % 4;
        format!("{payload}{}", "=".repeat(missing.max(1)))
    })
}

/// The token written with the standard base64 alphabet: every `-` becomes `+` and every `_`
/// becomes `/`. If the token has neither, a `+` is inserted at the start of its last segment,
/// so the result always contains a character outside the base64url alphabet.
pub fn std_base64_chars(token: &str) -> String {
    let standard = token.replace('-', "+").replace('_', "/");
    if standard != token {
        return standard;
    }
    match token.rfind('.') {
        Some(dot) => format!("{}.+{}", &token[..dot], &token[dot + 1..]),
        None => format!("+{token}"),
    }
}

/// The token with a space inserted in the middle of its payload segment, for decoders that
/// skip whitespace (MIME style) when JWS allows none.
pub fn with_space(token: &str) -> String {
    edit_payload(token, |payload| {
        let (start, end) = payload.split_at(payload.len() / 2);
        format!("{start} {end}")
    })
}

/// `segment_b64` (one unpadded base64url segment) with its last character changed so that it
/// decodes to the same bytes but the unused low bits of that character are no longer zero.
///
/// Lenient decoders accept the result and decode it to the original bytes; RFC 4648 §3.5
/// lets strict ones reject it. Since it decodes to the same bytes, a verifier that accepts it
/// accepts two different strings for one token, which matters for token caches and replay
/// lists keyed by the token text.
///
/// ```
/// # use authgate_testkit::malformed::non_canonical_trailing_bits;
/// assert_eq!(non_canonical_trailing_bits("QQ"), "QR"); // "A"
/// ```
///
/// # Panics
///
/// If the segment has no unused bits (its length is a multiple of 4, e.g. an ES384
/// signature), has length 1 mod 4 (not valid base64), or ends in a character outside the
/// base64url alphabet.
pub fn non_canonical_trailing_bits(segment_b64: &str) -> String {
    let remainder = segment_b64.len() % 4;
    assert!(
        remainder == 2 || remainder == 3,
        "a base64url segment of length {} has no unused trailing bits",
        segment_b64.len()
    );
    let (start, last) = segment_b64.split_at(segment_b64.len() - 1);
    let value = ALPHABET
        .iter()
        .position(|&c| last.as_bytes() == [c])
        .unwrap_or_else(|| panic!("{last:?} is not a base64url character"));
    // The lowest bit of the last character is unused for both 2 and 3 remaining characters.
    format!("{start}{}", char::from(ALPHABET[value ^ 1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::TestKey;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

    fn token() -> String {
        TestKey::hmac("HS256", b"malformed-tests").token().claim("sub", "alice").sign()
    }

    #[test]
    fn signature_segment_helpers_keep_header_and_payload() {
        let token = token();
        let (header, payload, _) = split(&token);
        assert_eq!(strip_signature(&token), format!("{header}.{payload}."));
        assert_eq!(drop_signature_segment(&token), format!("{header}.{payload}"));
    }

    #[test]
    fn with_segments_truncates_and_repeats() {
        assert_eq!(with_segments("h.p.s", 2), "h.p");
        assert_eq!(with_segments("h.p.s", 3), "h.p.s");
        assert_eq!(with_segments("h.p.s", 4), "h.p.s.h");
        assert_eq!(with_segments("h.p.s", 5), "h.p.s.h.p");
        assert_eq!(with_segments("h.p.s", 1), "h");
        assert_eq!(with_segments(&token(), 5).split('.').count(), 5);
    }

    #[test]
    fn tamper_payload_keeps_valid_canonical_json_but_changes_it() {
        let token = token();
        let tampered = tamper_payload(&token);
        assert_ne!(tampered, token);
        let (header, payload, signature) = split(&tampered);
        assert_eq!((header, signature), (split(&token).0, split(&token).2));
        let decoded = URL_SAFE_NO_PAD.decode(payload).expect("still canonical base64url");
        assert_eq!(decoded, br#"{"sub":"alicE"}"#);

        // A payload that is not base64 still gets changed.
        assert_eq!(tamper_payload("h.AAAA.s"), "h.ABAA.s");
        assert_eq!(tamper_payload("h..s"), "h.e30.s");
    }

    #[test]
    fn padded_appends_equals_signs_to_the_payload() {
        assert_eq!(padded("h.e30.s"), "h.e30=.s");
        assert_eq!(padded("h.eyJ9.s"), "h.eyJ9=.s");
        assert_eq!(padded("h.eyJhIjox.s"), "h.eyJhIjox=.s");
        assert_eq!(padded("h.eyJhIjoxfQ.s"), "h.eyJhIjoxfQ==.s");
        let padded_token = padded(&token());
        assert!(split(&padded_token).1.ends_with('='));
        let needs_padding = padded("h.eyJzdWIiOiJhIn0.s");
        let payload = split(&needs_padding).1;
        assert_eq!(payload, "eyJzdWIiOiJhIn0=");
        base64::engine::general_purpose::URL_SAFE.decode(payload).expect("valid padded base64url");
    }

    #[test]
    fn std_base64_chars_uses_the_standard_alphabet() {
        assert_eq!(std_base64_chars("a-b.c_d.e"), "a+b.c/d.e");
        assert_eq!(std_base64_chars("ab.cd.ef"), "ab.cd.+ef");
        assert_eq!(std_base64_chars("ab.cd."), "ab.cd.+");
        let converted = std_base64_chars(&token());
        assert!(converted.contains(['+', '/']));
        assert!(!converted.contains(['-', '_']));
    }

    #[test]
    fn with_space_puts_a_space_inside_the_payload() {
        assert_eq!(with_space("h.abcd.s"), "h.ab cd.s");
        let spaced = with_space(&token());
        assert_eq!(spaced.matches(' ').count(), 1);
        assert!(split(&spaced).1.contains(' '));
    }

    #[test]
    fn non_canonical_trailing_bits_decode_to_the_same_bytes_only_leniently() {
        let lenient = GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            GeneralPurposeConfig::new()
                .with_decode_allow_trailing_bits(true)
                .with_decode_padding_mode(DecodePaddingMode::RequireNone),
        );
        // Lengths 2 and 3 mod 4: HS256 and ES256 signature sizes.
        for bytes in [vec![0xAB; 32], vec![0xCD; 64], vec![0x00; 1]] {
            let canonical = b64(&bytes);
            let altered = non_canonical_trailing_bits(&canonical);
            assert_ne!(altered, canonical);
            assert_eq!(altered.len(), canonical.len());
            assert!(URL_SAFE_NO_PAD.decode(&altered).is_err(), "strict decoders reject {altered}");
            assert_eq!(lenient.decode(&altered).expect("lenient decode"), bytes);
        }
    }

    #[test]
    #[should_panic(expected = "no unused trailing bits")]
    fn non_canonical_trailing_bits_needs_unused_bits() {
        let _ = non_canonical_trailing_bits("AAAA");
    }
}
