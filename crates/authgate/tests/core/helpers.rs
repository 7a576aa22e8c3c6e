use authgate::{Algorithm, Error, ErrorKind, KeySet, Verifier};
use authgate_testkit::{TestKey, TokenBuilder, jwks, standard_claims};
#[cfg(feature = "remote")]
use {authgate::KeySetConfig, std::time::Duration};

pub(crate) const ISS: &str = "https://id.example";
pub(crate) const AUD: &str = "trading-platform";

/// A verifier over a static set of `keys`, allowing `algs`.
pub(crate) fn verifier(keys: &[&TestKey], algs: &[Algorithm]) -> Verifier {
    let set = KeySet::from_jwks_json(&jwks(keys).to_string()).expect("jwks");
    Verifier::builder()
        .issuer(ISS, set)
        .audience(AUD)
        .algorithms(algs.iter().copied())
        .build()
        .expect("verifier")
}

/// A token builder with valid standard claims for `ISS`/`AUD`.
pub(crate) fn good(key: &TestKey) -> TokenBuilder {
    key.token().claims(standard_claims(ISS, AUD, "user-1", 300))
}

pub(crate) fn kind<T: std::fmt::Debug>(result: Result<T, Error>) -> ErrorKind {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => {
            // Every rejection of a token is a 401 with a challenge, unless it is ours (503).
            e.kind()
        }
    }
}

#[cfg(feature = "remote")]
/// Fast timings for key-set tests.
pub(crate) fn fast_config() -> KeySetConfig {
    let mut c = KeySetConfig::default();
    c.fetch_timeout = Duration::from_millis(400);
    c.min_ttl = Duration::from_millis(100);
    c.max_ttl = Duration::from_secs(3600);
    c.default_ttl = Duration::from_secs(600);
    c.unknown_kid_cooldown = Duration::from_secs(30);
    c.min_backoff = Duration::from_millis(20);
    c.max_backoff = Duration::from_millis(100);
    c
}
