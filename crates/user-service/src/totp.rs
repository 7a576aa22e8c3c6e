//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps) and recovery codes.

use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::crypto::{ct_eq, hash_token, random_bytes};

/// Step length in seconds.
const STEP: i64 = 30;

/// A new 160-bit secret (I13).
pub(crate) fn new_secret() -> Vec<u8> {
    random_bytes::<20>().to_vec()
}

/// The secret in base32 (RFC 4648, no padding), as authenticator apps expect.
pub(crate) fn base32(secret: &[u8]) -> String {
    Secret::from(secret).to_base32()
}

/// The RFC 6238 generator for `secret` with `digits` digits and 30-second steps; `None`
/// for a secret shorter than RFC 4226's 128 bits (ours are 160).
fn generator(secret: &[u8], digits: u8) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(digits)
        .with_skew(0)
        .with_step_duration(STEP as u64)
        .with_secret(secret)
        .build()
        .ok()
}

/// The `otpauth://` URI for QR codes.
pub(crate) fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc =
        |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

/// The step (T-1, T or T+1, I14) whose code equals `code`, if any.
pub(crate) fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = generator(secret, 6)?;
    let current = now / STEP;
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        if step >= 0 && ct_eq(&totp.generate((step * STEP) as u64).to_string(), code) {
            found = Some(step);
        }
    }
    found
}

/// Ten recovery codes of 80 bits each, formatted `xxxx-xxxx-xxxx-xxxx`.
pub(crate) fn new_recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let raw = base32(&random_bytes::<10>()).to_ascii_lowercase();
            format!("{}-{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12], &raw[12..16])
        })
        .collect()
}

/// What is stored for a recovery code: the hash of its normalized form.
pub(crate) fn recovery_code_hash(code: &str) -> String {
    let normalized: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    hash_token(&format!("recovery:{normalized}"))
}

/// True if the input looks like a recovery code rather than a TOTP code.
pub(crate) fn looks_like_recovery_code(code: &str) -> bool {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i17_rfc6238_sha1_test_vector() {
        let totp = generator(b"12345678901234567890", 8).unwrap();
        assert_eq!(totp.generate(59).to_string(), "94287082");
        assert_eq!(totp.generate(1_111_111_109).to_string(), "07081804");
        assert_eq!(totp.generate(2_000_000_000).to_string(), "69279037");
    }

    #[test]
    fn enrolled_secrets_keep_their_codes_and_base32() {
        // What an authenticator app holds for a secret enrolled before totp-rs 6, and the
        // code it shows at 1_700_000_000 (RFC 6238 SHA-1, 6 digits, 30 s).
        let secret = b"12345678901234567890";
        assert_eq!(base32(secret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let step = 1_700_000_000 / STEP;
        assert_eq!(matching_step(secret, "921300", 1_700_000_000), Some(step));
        assert!(generator(&secret[..15], 6).is_none(), "shorter than 128 bits");
    }

    #[test]
    fn i14_only_adjacent_steps_match() {
        let secret = new_secret();
        let totp = generator(&secret, 6).unwrap();
        let code = |t: i64| totp.generate(t as u64).to_string();
        let now = 1_700_000_000;
        let step = now / 30;
        assert_eq!(matching_step(&secret, &code(now), now), Some(step));
        assert_eq!(matching_step(&secret, &code(now - 30), now), Some(step - 1));
        assert_eq!(matching_step(&secret, &code(now + 30), now), Some(step + 1));
        let old = code(now - 90);
        if old != code(now) && old != code(now - 30) && old != code(now + 30) {
            assert_eq!(matching_step(&secret, &old, now), None);
        }
    }

    #[test]
    fn recovery_codes_normalize() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert!(looks_like_recovery_code(&codes[0]));
        assert_eq!(
            recovery_code_hash(&codes[0]),
            recovery_code_hash(&codes[0].to_uppercase().replace('-', ""))
        );
    }
}
