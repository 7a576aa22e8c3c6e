//! Spawning the ticker (against a mock JWKS and a mock user-service), minting tokens,
//! raw HTTP, log capture.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use authgate_testkit::{MockJwksServer, TestKey, standard_claims};
use example_ticker::{Application, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::mock_user_service::{CLIENT_ID, CLIENT_SECRET, MockUserService};

pub(crate) const ISSUER: &str = "http://127.0.0.1:8011";
pub(crate) const LEEWAY_SECS: u64 = 1;

pub(crate) struct Ticker {
    pub(crate) addr: SocketAddr,
    pub(crate) users: MockUserService,
    pub(crate) _idp: MockJwksServer,
}

/// How the ticker under test is wired.
pub(crate) struct Setup {
    pub(crate) origins: &'static str,
    pub(crate) with_keys: bool,
    /// `SERVICE_CLIENT_ID`/`_SECRET` set (to the mock's client, or a wrong secret).
    pub(crate) service_client: Option<&'static str>,
    /// `USER_SERVICE_URL` other than the mock's.
    pub(crate) user_service_url: Option<&'static str>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup { origins: "", with_keys: true, service_client: Some(CLIENT_SECRET), user_service_url: None }
    }
}

pub(crate) async fn spawn_ticker(origins: &'static str, with_keys: bool) -> Ticker {
    spawn(Setup { origins, with_keys, ..Setup::default() }).await
}

pub(crate) async fn spawn(setup: Setup) -> Ticker {
    let idp = MockJwksServer::start().await;
    if setup.with_keys {
        idp.set_keys(&[&TestKey::shared_rs256()]);
    }
    let users = MockUserService::start().await;
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("PORT", "0".to_owned()),
        ("JWKS_URL", idp.jwks_url()),
        ("JWT_LEEWAY_SECS", LEEWAY_SECS.to_string()),
        ("WS_ALLOWED_ORIGINS", setup.origins.to_owned()),
        ("USER_SERVICE_URL", setup.user_service_url.map_or_else(|| users.url.clone(), str::to_owned)),
    ]);
    if let Some(secret) = setup.service_client {
        vars.insert("SERVICE_CLIENT_ID", CLIENT_ID.to_owned());
        vars.insert("SERVICE_CLIENT_SECRET", secret.to_owned());
    }
    let config = Config::from_lookup(|n| vars.get(n).cloned(), 8080).unwrap();
    let app = Application::build(&config).await.unwrap();
    let addr = app.local_addr().unwrap();
    tokio::spawn(app.run_until_stopped());
    Ticker { addr, users, _idp: idp }
}

pub(crate) fn token_expiring_at(sub: &str, exp: u64) -> String {
    TestKey::shared_rs256()
        .token()
        .claims(standard_claims(ISSUER, "trading-platform", sub, 0))
        .claim("exp", exp)
        .sign()
}

pub(crate) fn token(sub: &str) -> String {
    token_expiring_at(sub, authgate_testkit::now() + 300)
}

/// A one-shot HTTP/1.1 GET; returns the status and body.
pub(crate) async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: ticker\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Everything logged by any test, at TRACE, through one global subscriber.
pub(crate) fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(logs.clone());
        let subscriber = tracing_subscriber_for_tests(writer);
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

fn tracing_subscriber_for_tests(writer: Capture) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .finish()
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
