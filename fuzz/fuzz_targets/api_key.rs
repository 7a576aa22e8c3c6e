//! API-key format parsing (`ak_{env}_{32 base62}{6 base62 CRC32}`) and static-key lookup.
#![no_main]

use std::sync::OnceLock;

use authgate::api_key::{ApiKeyVerifier, StaticApiKeys, format};
use authgate::{AuthMethod, Principal};
use libfuzzer_sys::fuzz_target;

/// A well-formed key (valid checksum) that the static verifier knows.
const KNOWN: &str = "ak_test_0123456789ABCDEFGHIJKLMNOPQRSTUV3KEnLL";

fn keys() -> &'static (tokio::runtime::Runtime, StaticApiKeys) {
    static KEYS: OnceLock<(tokio::runtime::Runtime, StaticApiKeys)> = OnceLock::new();
    KEYS.get_or_init(|| {
        assert!(format::check(KNOWN).is_ok(), "KNOWN must be well-formed");
        let principal = Principal::builder("svc", AuthMethod::ApiKey).build();
        let keys = StaticApiKeys::new().with_key(KNOWN, principal);
        (tokio::runtime::Builder::new_current_thread().build().expect("runtime"), keys)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(key) = std::str::from_utf8(data) else { return };
    let well_formed = format::check(key).is_ok();
    if well_formed {
        assert!(key.starts_with("ak_"));
        assert!(format::environment(key).is_some_and(|env| !env.is_empty()));
    }
    let prefix = format::display_prefix(key);
    assert!(key.starts_with(prefix) && prefix.chars().count() <= 12);
    assert_eq!(format::hash_hex(key).len(), 64);

    let (rt, keys) = keys();
    let found = rt.block_on(keys.verify(key));
    assert_eq!(found.is_ok(), key == KNOWN);

    // A configured hash must be 64 hex digits; anything else is refused, never a panic.
    let principal = Principal::builder("svc", AuthMethod::ApiKey).build();
    let accepted = StaticApiKeys::new().with_hash_hex(key, principal).is_ok();
    assert!(!accepted || (key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit())));
});
