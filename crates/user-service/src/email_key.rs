//! The key email addresses are compared on, so that addresses which look alike are one
//! account (issue 12, item 5).
//!
//! Emails are stored as entered (trimmed) and are unique on their key: NFKC (fullwidth
//! `ａ` is `a`), then full Unicode case folding (`caseless`, which also folds `ß` to `ss`
//! where `to_lowercase` would not), then NFKC again (folding can leave non-normalized
//! text), then the UTS #39 confusables skeleton (`unicode-security`: `ı` and Cyrillic `а`
//! read as `i` and `a`). Looking an account up by email always goes through the key.

use unicode_normalization::UnicodeNormalization;
use unicode_security::confusable_detection::skeleton;

/// The uniqueness key of an email address.
pub(crate) fn email_key(email: &str) -> String {
    let compatible: String = email.trim().nfkc().collect();
    let folded: String = caseless::default_case_fold_str(&compatible).nfkc().collect();
    skeleton(&folded).collect()
}

#[cfg(test)]
mod tests {
    use super::email_key;

    #[test]
    fn look_alike_spellings_share_a_key() {
        let alice = email_key("alice@example.com");
        for spelling in
            ["ａlice@example.com", "alıce@example.com", " Alice@Example.COM ", "аlice@example.com"]
        {
            assert_eq!(email_key(spelling), alice, "{spelling}");
        }
        assert_eq!(email_key("STRASSE@example.com"), email_key("straße@example.com"));
        assert_ne!(email_key("bob@example.com"), alice);
    }
}
