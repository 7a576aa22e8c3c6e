//! I27 / W04 for the core: rejection reasons reach the logs, secrets never do.
//!
//! Its own test binary on purpose: tracing caches per-callsite interest process-wide, so
//! a capturing subscriber installed by one test among many misses events whose
//! callsites other tests registered first.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use authgate::api_key::format;
#[cfg(feature = "remote")]
use authgate::api_key::{ApiKeyVerifier, RemoteApiKeyVerifier};
use authgate::{Algorithm, AuthMode, Authenticator};
use authgate_testkit::TestKey;

use authgate::{KeySet, Verifier};
use authgate_testkit::{jwks, standard_claims};

fn verifier(key: &TestKey) -> Verifier {
    let keys = KeySet::from_jwks_json(&jwks(&[key]).to_string()).unwrap();
    Verifier::builder()
        .issuer("https://id.example", keys)
        .audience("api")
        .algorithms([Algorithm::RS256])
        .build()
        .unwrap()
}

fn good(key: &TestKey) -> authgate_testkit::TokenBuilder {
    key.token().claims(standard_claims("https://id.example", "api", "user-1", 300))
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn i27_tokens_and_api_keys_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let key = TestKey::shared_rs256();
    let v = verifier(&key);
    let canary_sub = "canary-7f3a9c";
    let expired = good(&key).claim("sub", canary_sub).claim("exp", 1000).sign();
    let forged = good(&TestKey::rs256().with_kid(key.kid())).claim("sub", canary_sub).sign();
    let api_key = format::generate("live").unwrap();
    // Without the `remote` feature a static set stands in: the key is refused either way.
    #[cfg(feature = "remote")]
    let api_keys = RemoteApiKeyVerifier::new("http://127.0.0.1:9").unwrap();
    #[cfg(not(feature = "remote"))]
    let api_keys = authgate::api_key::StaticApiKeys::new();
    let auth =
        Authenticator::builder().jwt(v.clone()).api_keys(api_keys).mode(AuthMode::Either).build().unwrap();

    assert!(v.verify(&expired).await.is_err());
    assert!(v.verify(&forged).await.is_err());
    let with_key = http::Request::get("/").header("x-api-key", &api_key).body(()).unwrap();
    assert!(auth.authenticate(&with_key).await.is_err());
    let in_query = http::Request::get(format!("/?api_key={api_key}")).body(()).unwrap();
    assert!(auth.authenticate(&in_query).await.is_err());
    #[cfg(feature = "remote")]
    assert!(RemoteApiKeyVerifier::new("http://127.0.0.1:9").unwrap().verify(&api_key).await.is_err());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("expired"), "the reason is logged: {logs}");
    for secret in [expired.as_str(), forged.as_str(), api_key.as_str()] {
        // Neither the whole secret nor its signature segment may appear.
        assert!(!logs.contains(secret));
        assert!(!logs.contains(secret.rsplit('.').next().unwrap()));
    }
    assert!(!logs.contains(&api_key[8..]));
}

#[test]
fn skipping_the_audience_check_is_logged_at_warn_when_the_verifier_is_built() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let keys = KeySet::from_jwks_json(&jwks(&[&TestKey::shared_rs256()]).to_string()).unwrap();
    let _audience_checked =
        Verifier::builder().issuer("https://checked.example", keys.clone()).audience("api").build();
    assert!(captured.0.lock().unwrap().is_empty(), "nothing to warn about");
    let _skipping = Verifier::builder()
        .issuer("https://cognito.example", keys)
        .skip_audience_check()
        .authorized_party("client-1")
        .build()
        .unwrap();
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("WARN") && logs.contains("audience check skipped"), "{logs}");
    assert!(logs.contains("https://cognito.example") && logs.contains("client-1"), "{logs}");
}
