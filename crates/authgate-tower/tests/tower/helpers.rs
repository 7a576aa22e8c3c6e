//! Shared fixtures: a verifier over the testkit's key, requests, log capture.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use authgate::{Authenticator, KeySet, Verifier};
use authgate_testkit::{TestKey, jwks, standard_claims};
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub(crate) const ISSUER: &str = "https://id.example";
pub(crate) const AUDIENCE: &str = "trading-platform";

pub(crate) fn verifier(leeway: Duration) -> Verifier {
    let keys = KeySet::from_jwks_json(&jwks(&[&TestKey::shared_rs256()]).to_string()).unwrap();
    Verifier::builder().issuer(ISSUER, keys).audience(AUDIENCE).leeway(leeway).build().unwrap()
}

pub(crate) fn authenticator() -> Authenticator {
    Authenticator::jwt(verifier(Duration::from_secs(60)))
}

/// A valid token for `sub`, living `ttl` seconds, with extra claims.
pub(crate) fn token_with(sub: &str, ttl: u64, extra: &[(&str, serde_json::Value)]) -> String {
    let mut builder = TestKey::shared_rs256().token().claims(standard_claims(ISSUER, AUDIENCE, sub, ttl));
    for (name, value) in extra {
        builder = builder.claim(name, value.clone());
    }
    builder.sign()
}

pub(crate) fn token(sub: &str) -> String {
    token_with(sub, 300, &[])
}

pub(crate) fn get(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    request("GET", uri, headers)
}

pub(crate) fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).unwrap()
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub(crate) async fn answer(response: Response) -> Answer {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer { status: parts.status, headers: parts.headers, body }
}

pub(crate) async fn send(app: axum::Router, req: Request<Body>) -> Answer {
    answer(app.oneshot(req).await.unwrap()).await
}

/// Everything any test logs, at TRACE, through one global subscriber.
pub(crate) fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(logs.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::NEW)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

pub(crate) fn logs_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned()
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
