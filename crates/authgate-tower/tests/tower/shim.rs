//! The dual-auth migration shim: Deprecation/Sunset/Link on API-key answers, metrics.

use std::time::{Duration, UNIX_EPOCH};

use authgate::api_key::StaticApiKeys;
use authgate::{AuthMethod, AuthMode, Authenticator, Principal};
use authgate_tower::{ApiKeyDeprecation, AuthLayer, CurrentUser};
use axum::Router;
use axum::routing::get;
use http::StatusCode;
// The counting recorder (the `metrics` feature).
#[cfg(feature = "metrics")]
use {
    metrics::{Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit},
    std::sync::atomic::{AtomicU64, Ordering},
    std::sync::{Arc, Mutex},
};

use crate::helpers::{bearer, get as get_req, send, token, verifier};

fn dual() -> (Authenticator, String) {
    let key = authgate::api_key::format::generate("test").unwrap();
    let keys = StaticApiKeys::new().with_key(&key, Principal::builder("legacy", AuthMethod::ApiKey).build());
    let auth = Authenticator::builder()
        .jwt(verifier(Duration::from_secs(60)))
        .api_keys(keys)
        .mode(AuthMode::Either)
        .build()
        .unwrap();
    (auth, key)
}

fn app(auth: Authenticator) -> Router {
    let notice = ApiKeyDeprecation::since(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
        .sunset(UNIX_EPOCH + Duration::from_secs(1_798_761_600))
        .link("https://docs.example.com/jwt-migration");
    Router::new()
        .route("/positions", get(|u: CurrentUser| async move { u.auth_method().to_string() }))
        .layer(AuthLayer::new(auth).deprecate_api_keys(notice))
}

#[tokio::test]
async fn api_key_answers_carry_deprecation_sunset_and_link() {
    let (auth, key) = dual();
    let a = send(app(auth), get_req("/positions", &[("x-api-key", &key)])).await;
    assert_eq!((a.status, a.body.as_ref()), (StatusCode::OK, b"api_key".as_ref()));
    assert_eq!(a.header("deprecation"), Some("@1767225600"));
    assert_eq!(a.header("sunset"), Some("Fri, 01 Jan 2027 00:00:00 GMT"));
    assert_eq!(
        a.header("link"),
        Some(r#"<https://docs.example.com/jwt-migration>; rel="deprecation"; type="text/html""#)
    );
}

#[tokio::test]
async fn jwt_answers_and_rejections_carry_no_deprecation() {
    let (auth, _) = dual();
    let a = send(app(auth.clone()), get_req("/positions", &[("authorization", &bearer(&token("u1")))])).await;
    assert_eq!((a.status, a.body.as_ref()), (StatusCode::OK, b"jwt".as_ref()));
    assert_eq!(a.header("deprecation"), None);
    let bad = authgate::api_key::format::generate("test").unwrap();
    let a = send(app(auth), get_req("/positions", &[("x-api-key", &bad)])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.header("deprecation"), None);
}

#[cfg(feature = "metrics")]
/// Counts `authgate_requests_total` by its `method` label.
#[derive(Default)]
struct Counts(Mutex<Vec<(String, Arc<AtomicU64>)>>);

#[cfg(feature = "metrics")]
struct Cell(Arc<AtomicU64>);
#[cfg(feature = "metrics")]
impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

#[cfg(feature = "metrics")]
impl Recorder for Counts {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() != "authgate_requests_total" {
            return Counter::noop();
        }
        let method =
            key.labels().find(|l| l.key() == "method").map(|l| l.value().to_owned()).unwrap_or_default();
        let cell = Arc::new(AtomicU64::new(0));
        self.0.lock().unwrap().push((method, cell.clone()));
        Counter::from_arc(Arc::new(Cell(cell)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[cfg(feature = "metrics")]
impl Counts {
    fn total(&self, method: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(feature = "metrics")]
#[test]
fn authenticated_requests_are_counted_by_method() {
    let counts = Counts::default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    metrics::with_local_recorder(&counts, || {
        rt.block_on(async {
            let (auth, key) = dual();
            send(app(auth.clone()), get_req("/positions", &[("x-api-key", &key)])).await;
            send(app(auth.clone()), get_req("/positions", &[("x-api-key", &key)])).await;
            send(app(auth), get_req("/positions", &[("authorization", &bearer(&token("u1")))])).await;
        });
    });
    assert_eq!((counts.total("api_key"), counts.total("jwt")), (2, 1));
}
