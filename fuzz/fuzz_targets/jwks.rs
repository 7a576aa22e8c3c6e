//! JWKS documents (and the PEM/DER key loaders beside them), as a key source serves
//! them: an unusable key is skipped, a document that is not a JWKS is an error, and
//! nothing panics or loops.
#![no_main]

use authgate::KeySet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(keys) = KeySet::from_jwks_json(text) {
            let kids = keys.kids();
            assert!(kids.len() <= keys.len());
            for kid in &kids {
                assert!(keys.has_kid(kid));
            }
            // Replacing a live set must behave like building a new one.
            assert!(keys.replace_jwks_json(text).is_ok());
        }
        let _ = KeySet::from_pem(text, Some("k"));
    }
    let _ = KeySet::from_der(data, None);
});
