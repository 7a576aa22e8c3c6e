//! Shared fixtures: a verifier over the testkit's RSA key, token minting, an API key,
//! a real server on 127.0.0.1:0, captured logs and a counting metrics recorder.

#[cfg(feature = "metrics")]
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use actix_web::dev::ServiceResponse;
#[cfg(feature = "ws")]
use actix_web::{App, HttpServer};
use authgate::api_key::StaticApiKeys;
use authgate::{AuthMethod, AuthMode, Authenticator, KeySet, Principal, Verifier};
use authgate_testkit::{TestKey, jwks, standard_claims};

pub(crate) const ISSUER: &str = "https://id.actix.test";
pub(crate) const AUDIENCE: &str = "trading-platform";

/// A JWT-or-API-key authenticator with leeway `leeway`, and the valid API key of `key-user`.
pub(crate) fn authenticator_with_leeway(leeway: Duration) -> (Authenticator, String) {
    let key = TestKey::shared_rs256();
    let keys = KeySet::from_jwks_json(&jwks(&[&key]).to_string()).unwrap();
    let verifier =
        Verifier::builder().issuer(ISSUER, keys).audience(AUDIENCE).leeway(leeway).build().unwrap();
    let api_key = authgate::api_key::format::generate("test").unwrap();
    let keys =
        StaticApiKeys::new().with_key(&api_key, Principal::builder("key-user", AuthMethod::ApiKey).build());
    let auth = Authenticator::builder().jwt(verifier).api_keys(keys).mode(AuthMode::Either).build().unwrap();
    (auth, api_key)
}

pub(crate) fn authenticator() -> (Authenticator, String) {
    authenticator_with_leeway(Duration::from_secs(60))
}

/// A valid token for `sub` living `ttl` seconds, with extra claims.
pub(crate) fn token(sub: &str, ttl: u64, extra: serde_json::Value) -> String {
    let mut builder = TestKey::shared_rs256().token().claims(standard_claims(ISSUER, AUDIENCE, sub, ttl));
    if let Some(map) = extra.as_object() {
        for (k, v) in map {
            builder = builder.claim(k, v.clone());
        }
    }
    builder.sign()
}

pub(crate) fn user_token(sub: &str) -> String {
    token(sub, 300, serde_json::json!({}))
}

/// Status, challenge and body of a response.
pub(crate) async fn answer<B: actix_web::body::MessageBody>(
    res: ServiceResponse<B>,
) -> (u16, Option<String>, String, actix_web::http::header::HeaderMap) {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let challenge = headers.get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let body = actix_web::test::read_body(res).await;
    (status, challenge, String::from_utf8(body.to_vec()).unwrap(), headers)
}

#[cfg(feature = "ws")]
/// Runs the app on 127.0.0.1:0 in the current actix system; returns `host:port`.
pub(crate) fn spawn<F, T, B>(factory: F) -> String
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    B: actix_web::body::MessageBody + 'static,
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    let server = HttpServer::new(factory).workers(1).bind(("127.0.0.1", 0)).unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    addr.to_string()
}

/// Everything logged (tracing events and `log` records such as actix's `Logger`).
pub(crate) fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_buffer().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once for the whole test binary.
pub(crate) fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        use tracing_subscriber::util::SubscriberInitExt;
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| Capture)
            .finish()
            .try_init();
    });
}

#[cfg(feature = "metrics")]
/// Counters recorded through the `metrics` facade, by `name{labels}`.
pub(crate) fn counter(name_and_labels: &str) -> u64 {
    install_recorder();
    counters().lock().unwrap().get(name_and_labels).copied().unwrap_or(0)
}

#[cfg(feature = "metrics")]
fn counters() -> &'static Mutex<HashMap<String, u64>> {
    static COUNTERS: OnceLock<Mutex<HashMap<String, u64>>> = OnceLock::new();
    COUNTERS.get_or_init(Default::default)
}

#[cfg(feature = "metrics")]
struct Recorder;
#[cfg(feature = "metrics")]
struct Count(String);

#[cfg(feature = "metrics")]
impl metrics::CounterFn for Count {
    fn increment(&self, value: u64) {
        *counters().lock().unwrap().entry(self.0.clone()).or_default() += value;
    }
    fn absolute(&self, value: u64) {
        counters().lock().unwrap().insert(self.0.clone(), value);
    }
}

#[cfg(feature = "metrics")]
impl metrics::Recorder for Recorder {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        metrics::Counter::from_arc(Arc::new(Count(name)))
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

#[cfg(feature = "metrics")]
pub(crate) fn install_recorder() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = metrics::set_global_recorder(Recorder);
    });
}
