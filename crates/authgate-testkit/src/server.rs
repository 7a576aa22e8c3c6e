//! A mock JWKS + discovery server that can misbehave on demand.
//!
//! [`MockJwksServer`] listens on `127.0.0.1` on a free port and serves:
//!
//! | Path | Response |
//! |---|---|
//! | `/jwks.json` | the key set, shaped by the current [`Behaviour`] |
//! | `/.well-known/openid-configuration` | `{"issuer": .., "jwks_uri": ..}`, always normally |
//! | `/.well-known/oauth-authorization-server` | the same document (RFC 8414), instead of the one above after [`MockJwksServer::serve_oauth_metadata_only`] |
//! | anything else | `404` |
//!
//! It speaks just enough HTTP/1.1 by hand, on a raw [`TcpListener`], to fail in the ways a
//! real framework would not let it: never answer, drip a body one byte at a time, send an
//! endless chunked body. Every response closes the connection. It counts requests so tests
//! can assert caching and single-flight behaviour ("ten concurrent verifications, one
//! fetch").
//!
//! The server runs on the current tokio runtime; dropping it stops accepting and closes every
//! open connection.
//!
//! ```
//! use authgate_testkit::keys::TestKey;
//! use authgate_testkit::server::MockJwksServer;
//! # use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let key = TestKey::es256();
//! let server = MockJwksServer::start().await;
//! server.set_keys(&[&key]);
//!
//! // Point the verifier under test at `server.jwks_url()` (or at `server.issuer()` for
//! // discovery); here a bare HTTP request stands in for it.
//! # let mut stream = tokio::net::TcpStream::connect(server.base_url().trim_start_matches("http://")).await.unwrap();
//! # stream.write_all(b"GET /jwks.json HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
//! # let mut response = String::new();
//! # stream.read_to_string(&mut response).await.unwrap();
//! # assert!(response.contains(key.kid()));
//! assert_eq!(server.jwks_requests(), 1);
//! # }
//! ```
//!
//! Failure modes are switched at any time with [`MockJwksServer::set_behaviour`]; they apply
//! to JWKS requests that arrive afterwards:
//!
//! ```
//! use std::time::Duration;
//! use authgate_testkit::server::{Behaviour, MockJwksServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = MockJwksServer::start().await;
//! // Keep every fetch in flight for a while: concurrent verifications must share one.
//! server.set_behaviour(Behaviour::Delay(Duration::from_millis(200)));
//! // ... run ten verifications concurrently, then:
//! assert!(server.max_concurrent_jwks_requests() <= 1);
//!
//! // The key source is down: the verifier must report an outage, not a bad token.
//! server.set_behaviour(Behaviour::Status(503));
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::keys::{TestKey, jwks};

/// The longest request head (request line and headers) the server reads; longer ones get 431.
const MAX_HEAD: usize = 16 * 1024;
/// How every streamed JWKS body starts, so clients see a plausible document.
const BODY_START: &[u8] = br#"{"keys":["#;
const JWKS_PATH: &str = "/jwks.json";
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// How the server answers `/jwks.json`, to exercise a client's timeouts, size limits and
/// error handling.
///
/// The discovery document is always served normally.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// `200` with the current body, `Content-Type: application/json` and the configured
    /// `Cache-Control`.
    #[default]
    Normal,
    /// This status code, with a small JSON body (none for 1xx, 204 and 304).
    Status(u16),
    /// Read the request and never answer, keeping the connection open until the client
    /// closes it: the client's request timeout must fire.
    Hang,
    /// Wait this long, then answer like [`Behaviour::Normal`] (with the body current at that
    /// moment). Keeps a fetch in flight for single-flight / stampede tests.
    Delay(Duration),
    /// Send a `200` head without `Content-Length`, then the body `{"keys":[` followed by
    /// spaces, one byte per `interval`, until the client closes: a body timeout must fire.
    Drip {
        /// Pause before each body byte.
        interval: Duration,
    },
    /// `Content-Length: bytes` and that many bytes of `{"keys":[` followed by spaces: the
    /// client's body size limit must stop it.
    Huge {
        /// Total body length.
        bytes: usize,
    },
    /// A chunked body that never ends: 1 KiB chunks (starting `{"keys":[`) as fast as the
    /// client reads them, until it closes. The client's size limit or timeout must stop it.
    Endless,
    /// `302 Found` with this `Location`: the client must not follow it blindly (or must, if it
    /// is configured to; either way the test can see which).
    Redirect {
        /// The `Location` header value.
        location: String,
    },
}

/// A local JWKS and OIDC discovery server; see the [module docs](self).
///
/// Dropping it stops the server and closes every open connection.
#[derive(Debug)]
pub struct MockJwksServer {
    state: Arc<State>,
    accept_task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    base_url: String,
    config: Mutex<Config>,
    jwks_requests: AtomicUsize,
    discovery_requests: AtomicUsize,
    total_requests: AtomicUsize,
    jwks_in_flight: AtomicUsize,
    max_jwks_in_flight: AtomicUsize,
}

#[derive(Clone, Debug)]
struct Config {
    body: String,
    issuer: Option<String>,
    oauth_metadata_only: bool,
    cache_control: Option<String>,
    behaviour: Behaviour,
}

impl State {
    fn config(&self) -> MutexGuard<'_, Config> {
        // A panicking test thread must not take the server down for the others.
        self.config.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.base_url)
    }

    fn issuer(&self) -> String {
        self.config().issuer.clone().unwrap_or_else(|| self.base_url.clone())
    }
}

impl MockJwksServer {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime, with an empty key
    /// set (`{"keys":[]}`), `Cache-Control: max-age=600` and [`Behaviour::Normal`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if no local port can be bound.
    pub async fn start() -> MockJwksServer {
        MockJwksServer::start_on("127.0.0.1").await
    }

    /// Like [`MockJwksServer::start`], on another loopback address (`127.0.0.2`...):
    /// reachable by a name only through an HTTP client told where that name resolves,
    /// which proves a test's injected client is the one used.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if `ip` cannot be bound.
    pub async fn start_on(ip: &str) -> MockJwksServer {
        let listener = TcpListener::bind((ip, 0)).await.expect("binding the mock server failed");
        let addr: SocketAddr = listener.local_addr().expect("a bound listener has an address");
        let state = Arc::new(State {
            base_url: format!("http://{addr}"),
            config: Mutex::new(Config {
                body: jwks(&[]).to_string(),
                issuer: None,
                oauth_metadata_only: false,
                cache_control: Some("max-age=600".to_owned()),
                behaviour: Behaviour::Normal,
            }),
            jwks_requests: AtomicUsize::new(0),
            discovery_requests: AtomicUsize::new(0),
            total_requests: AtomicUsize::new(0),
            jwks_in_flight: AtomicUsize::new(0),
            max_jwks_in_flight: AtomicUsize::new(0),
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        MockJwksServer { state, accept_task }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// The JWKS endpoint, `base_url() + "/jwks.json"`.
    pub fn jwks_url(&self) -> String {
        self.state.jwks_url()
    }

    /// The issuer the discovery document announces: [`base_url`](Self::base_url) unless
    /// changed with [`set_issuer`](Self::set_issuer). Configure the verifier's discovery
    /// with this.
    pub fn issuer(&self) -> String {
        self.state.issuer()
    }

    /// Makes the discovery document announce another issuer, e.g. one that does not match
    /// the URL it was fetched from (which OIDC discovery must reject).
    pub fn set_issuer(&self, issuer: impl Into<String>) {
        self.state.config().issuer = Some(issuer.into());
    }

    /// From now on the discovery document is only at the RFC 8414 path
    /// (`/.well-known/oauth-authorization-server`); the OpenID Connect path answers 404,
    /// like an OAuth authorization server that is no OpenID provider.
    pub fn serve_oauth_metadata_only(&self) {
        self.state.config().oauth_metadata_only = true;
    }

    /// Serves these keys (`{"keys": [...]}`, in this order) from now on, e.g. to rotate.
    pub fn set_keys(&self, keys: &[&TestKey]) {
        self.set_body(jwks(keys).to_string());
    }

    /// Serves this exact JWKS body from now on: invalid JSON, a JWK with a missing `n`, an
    /// `oct` key in a public set...
    pub fn set_body(&self, body: impl Into<String>) {
        self.state.config().body = body.into();
    }

    /// The `Cache-Control` header of JWKS responses, or `None` to send none. The default,
    /// `Some("max-age=600")`, is what common identity providers send.
    pub fn set_cache_control(&self, value: Option<&str>) {
        self.state.config().cache_control = value.map(str::to_owned);
    }

    /// How JWKS requests that arrive from now on are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state.config().behaviour = behaviour;
    }

    /// Requests for `/jwks.json` so far, counted when the request head has been read, whatever
    /// the [`Behaviour`]: the number of key fetches the client made.
    pub fn jwks_requests(&self) -> usize {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }

    /// Requests for either discovery document so far (404s included).
    pub fn discovery_requests(&self) -> usize {
        self.state.discovery_requests.load(Ordering::SeqCst)
    }

    /// The highest number of `/jwks.json` requests that were in flight at once: from reading
    /// the request head until the response is complete or the client hangs up. `1` means the
    /// client never fetched concurrently (combine with [`Behaviour::Delay`]).
    pub fn max_concurrent_jwks_requests(&self) -> usize {
        self.state.max_jwks_in_flight.load(Ordering::SeqCst)
    }

    /// Requests for any path so far (including malformed ones), so a test can assert that a
    /// client made no request at all.
    pub fn total_requests(&self) -> usize {
        self.state.total_requests.load(Ordering::SeqCst)
    }
}

impl Drop for MockJwksServer {
    fn drop(&mut self) {
        // The accept task owns the listener and the connection tasks; aborting it drops them.
        self.accept_task.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&state)));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            // Reap finished connections so the set does not grow for the server's lifetime.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Marks one `/jwks.json` request in flight while alive.
struct InFlight<'a>(&'a State);

impl<'a> InFlight<'a> {
    fn enter(state: &'a State) -> InFlight<'a> {
        let now = state.jwks_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_jwks_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.jwks_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

enum Head {
    Complete(String),
    TooLarge,
    Closed,
}

async fn read_head(stream: &mut TcpStream) -> Head {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0_u8; 1024];
    loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            return Head::Complete(String::from_utf8_lossy(&head[..end]).into_owned());
        }
        if head.len() >= MAX_HEAD {
            return Head::TooLarge;
        }
        let room = chunk.len().min(MAX_HEAD - head.len());
        match stream.read(&mut chunk[..room]).await {
            Ok(0) | Err(_) => return Head::Closed,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The path of a request line's target, without query or fragment, or `None` if the line is
/// not `METHOD TARGET HTTP/x`.
fn request_path(head: &str) -> Option<(&str, &str)> {
    let mut parts = head.lines().next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/") {
        return None;
    }
    // Absolute form (`GET http://host/path`), as sent to proxies.
    let target = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |slash| &rest[slash..]),
        None => target,
    };
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Some((method, path))
}

async fn serve_connection(mut stream: TcpStream, state: Arc<State>) {
    let head = match read_head(&mut stream).await {
        Head::Complete(head) => head,
        Head::TooLarge => {
            state.total_requests.fetch_add(1, Ordering::SeqCst);
            let _ = respond(&mut stream, 431, &[], "").await;
            return;
        }
        Head::Closed => return,
    };
    state.total_requests.fetch_add(1, Ordering::SeqCst);
    match request_path(&head) {
        None => {
            let _ = respond(&mut stream, 400, &[], "").await;
        }
        Some((method, _)) if method != "GET" => {
            let _ = respond(&mut stream, 405, &[("Allow", "GET")], "").await;
        }
        Some((_, JWKS_PATH)) => {
            state.jwks_requests.fetch_add(1, Ordering::SeqCst);
            let _in_flight = InFlight::enter(&state);
            serve_jwks(&mut stream, &state).await;
        }
        Some((_, path @ (DISCOVERY_PATH | OAUTH_METADATA_PATH))) => {
            state.discovery_requests.fetch_add(1, Ordering::SeqCst);
            let served =
                if state.config().oauth_metadata_only { OAUTH_METADATA_PATH } else { DISCOVERY_PATH };
            if path == served || path == OAUTH_METADATA_PATH {
                let body = serde_json::json!({ "issuer": state.issuer(), "jwks_uri": state.jwks_url() });
                let _ = respond(&mut stream, 200, &[json_type()], &body.to_string()).await;
            } else {
                let _ = respond(&mut stream, 404, &[json_type()], r#"{"error":"not found"}"#).await;
            }
        }
        Some(_) => {
            let _ = respond(&mut stream, 404, &[json_type()], r#"{"error":"not found"}"#).await;
        }
    }
}

fn json_type() -> (&'static str, &'static str) {
    ("Content-Type", "application/json")
}

async fn serve_jwks(stream: &mut TcpStream, state: &State) {
    let (behaviour, cache_control) = {
        let config = state.config();
        (config.behaviour.clone(), config.cache_control.clone())
    };
    let mut headers = vec![json_type()];
    if let Some(value) = &cache_control {
        headers.push(("Cache-Control", value));
    }
    let _ = match behaviour {
        Behaviour::Normal => {
            let body = state.config().body.clone();
            respond(stream, 200, &headers, &body).await
        }
        Behaviour::Delay(delay) => {
            tokio::time::sleep(delay).await;
            let body = state.config().body.clone();
            respond(stream, 200, &headers, &body).await
        }
        Behaviour::Status(code) => {
            let body =
                if has_body(code) { format!(r#"{{"error":"mock status {code}"}}"#) } else { String::new() };
            respond(stream, code, &headers, &body).await
        }
        Behaviour::Redirect { location } => respond(stream, 302, &[("Location", &location)], "").await,
        Behaviour::Hang => {
            until_closed(stream).await;
            Ok(())
        }
        Behaviour::Drip { interval } => {
            let (mut reader, mut writer) = stream.split();
            tokio::select! {
                () = until_closed(&mut reader) => Ok(()),
                result = drip(&mut writer, &headers, interval) => result,
            }
        }
        Behaviour::Huge { bytes } => {
            let length = bytes.to_string();
            let mut headers = headers.clone();
            headers.push(("Content-Length", &length));
            let (mut reader, mut writer) = stream.split();
            tokio::select! {
                () = until_closed(&mut reader) => Ok(()),
                result = huge(&mut writer, &headers, bytes) => result,
            }
        }
        Behaviour::Endless => {
            let mut headers = headers.clone();
            headers.push(("Transfer-Encoding", "chunked"));
            let (mut reader, mut writer) = stream.split();
            tokio::select! {
                () = until_closed(&mut reader) => Ok(()),
                result = endless(&mut writer, &headers) => result,
            }
        }
    };
}

/// Statuses that must not carry a body.
fn has_body(code: u16) -> bool {
    !(code < 200 || code == 204 || code == 304)
}

/// Waits until the client closes its side (or the connection breaks).
async fn until_closed(reader: &mut (impl AsyncRead + Unpin)) {
    let mut sink = [0_u8; 1024];
    while let Ok(1..) = reader.read(&mut sink).await {}
}

fn response_head(status: u16, headers: &[(&str, &str)]) -> String {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    head
}

/// A complete response with `Content-Length`, then close.
async fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let length = body.len().to_string();
    let mut all = headers.to_vec();
    all.push(("Content-Length", &length));
    let mut response = response_head(status, &all).into_bytes();
    response.extend_from_slice(body.as_bytes());
    stream.write_all(&response).await?;
    stream.shutdown().await
}

async fn drip(
    writer: &mut (impl AsyncWrite + Unpin),
    headers: &[(&str, &str)],
    interval: Duration,
) -> std::io::Result<()> {
    writer.write_all(response_head(200, headers).as_bytes()).await?;
    writer.flush().await?;
    for byte in BODY_START.iter().chain(std::iter::repeat(&b' ')) {
        tokio::time::sleep(interval).await;
        writer.write_all(&[*byte]).await?;
        writer.flush().await?;
    }
    Ok(())
}

async fn huge(
    writer: &mut (impl AsyncWrite + Unpin),
    headers: &[(&str, &str)],
    bytes: usize,
) -> std::io::Result<()> {
    writer.write_all(response_head(200, headers).as_bytes()).await?;
    let mut chunk = vec![b' '; 16 * 1024];
    let start = BODY_START.len().min(bytes);
    chunk[..start].copy_from_slice(&BODY_START[..start]);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        writer.write_all(&chunk[..n]).await?;
        if left == bytes {
            chunk[..start].fill(b' ');
        }
        left -= n;
    }
    writer.shutdown().await
}

async fn endless(writer: &mut (impl AsyncWrite + Unpin), headers: &[(&str, &str)]) -> std::io::Result<()> {
    const CHUNK: usize = 1024;
    writer.write_all(response_head(200, headers).as_bytes()).await?;
    let framed = |data: &[u8]| {
        let mut chunk = format!("{CHUNK:x}\r\n").into_bytes();
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(b"\r\n");
        chunk
    };
    let mut first = vec![b' '; CHUNK];
    first[..BODY_START.len()].copy_from_slice(BODY_START);
    writer.write_all(&framed(&first)).await?;
    let filler = framed(&[b' '; CHUNK]);
    loop {
        writer.write_all(&filler).await?;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Mock Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use tokio::time::timeout;

    /// A parsed response: status, lower-cased head, body.
    struct Response {
        status: u16,
        head: String,
        body: Vec<u8>,
    }

    impl Response {
        fn header(&self, name: &str) -> Option<&str> {
            let prefix = format!("{}: ", name.to_ascii_lowercase());
            self.head.lines().find_map(|line| {
                line.to_ascii_lowercase().starts_with(&prefix).then(|| line[prefix.len()..].trim())
            })
        }

        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).expect("JSON body")
        }
    }

    async fn connect(server: &MockJwksServer) -> TcpStream {
        let addr = server.base_url().trim_start_matches("http://").to_owned();
        TcpStream::connect(addr).await.expect("connects")
    }

    async fn send(server: &MockJwksServer, request: &str) -> TcpStream {
        let mut stream = connect(server).await;
        stream.write_all(request.as_bytes()).await.expect("request sent");
        stream
    }

    async fn get(server: &MockJwksServer, path: &str) -> Response {
        let mut stream = send(server, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")).await;
        let mut raw = Vec::new();
        timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
            .await
            .expect("response within 5 s")
            .expect("read");
        parse(&raw)
    }

    fn parse(raw: &[u8]) -> Response {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("complete head");
        let head = String::from_utf8(raw[..end].to_vec()).expect("ASCII head");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
        Response { status, head, body: raw[end + 4..].to_vec() }
    }

    /// Reads until the head and at least `body_bytes` of body arrived.
    async fn read_at_least(stream: &mut TcpStream, body_bytes: usize) -> Response {
        let mut raw = Vec::new();
        let mut chunk = [0_u8; 4096];
        loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n")
                && raw.len() >= end + 4 + body_bytes
            {
                return parse(&raw);
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert_ne!(n, 0, "connection closed early");
            raw.extend_from_slice(&chunk[..n]);
        }
    }

    #[tokio::test]
    async fn serves_an_empty_set_then_the_keys_it_is_given() {
        let server = MockJwksServer::start().await;
        let empty = get(&server, "/jwks.json").await;
        assert_eq!(empty.status, 200);
        assert_eq!(empty.json(), json!({"keys": []}));
        assert_eq!(empty.header("Content-Type"), Some("application/json"));
        assert_eq!(empty.header("Cache-Control"), Some("max-age=600"));
        assert_eq!(empty.header("Connection"), Some("close"));

        let key = TestKey::es256();
        server.set_keys(&[&key]);
        let served = get(&server, "/jwks.json?cache-buster=1").await;
        assert_eq!(served.json(), jwks(&[&key]));
        assert_eq!(served.header("Content-Length"), Some(served.body.len().to_string().as_str()));
        assert_eq!(server.jwks_requests(), 2);
        assert_eq!(server.total_requests(), 2);
        assert_eq!(server.discovery_requests(), 0);
    }

    #[tokio::test]
    async fn raw_body_and_cache_control_are_configurable() {
        let server = MockJwksServer::start().await;
        server.set_body("not json");
        server.set_cache_control(None);
        let response = get(&server, "/jwks.json").await;
        assert_eq!(response.body, b"not json");
        assert_eq!(response.header("Cache-Control"), None);
        server.set_cache_control(Some("no-store"));
        assert_eq!(get(&server, "/jwks.json").await.header("Cache-Control"), Some("no-store"));
    }

    #[tokio::test]
    async fn discovery_announces_issuer_and_jwks_uri_whatever_the_behaviour() {
        let server = MockJwksServer::start().await;
        assert_eq!(server.issuer(), server.base_url());
        assert_eq!(server.jwks_url(), format!("{}/jwks.json", server.base_url()));
        server.set_behaviour(Behaviour::Status(500));
        let doc = get(&server, "/.well-known/openid-configuration").await;
        assert_eq!(doc.status, 200);
        assert_eq!(doc.header("Content-Type"), Some("application/json"));
        assert_eq!(doc.json(), json!({"issuer": server.base_url(), "jwks_uri": server.jwks_url()}));

        server.set_issuer("https://elsewhere.example");
        assert_eq!(server.issuer(), "https://elsewhere.example");
        let doc = get(&server, "/.well-known/openid-configuration").await;
        assert_eq!(doc.json()["issuer"], "https://elsewhere.example");
        assert_eq!(server.discovery_requests(), 2);
        assert_eq!(server.jwks_requests(), 0);

        let doc = get(&server, "/.well-known/oauth-authorization-server").await;
        assert_eq!(doc.json()["jwks_uri"], server.jwks_url());
        server.serve_oauth_metadata_only();
        assert_eq!(get(&server, "/.well-known/openid-configuration").await.status, 404);
        assert_eq!(get(&server, "/.well-known/oauth-authorization-server").await.status, 200);
        assert_eq!(server.discovery_requests(), 5);
    }

    #[tokio::test]
    async fn unknown_paths_methods_and_oversized_heads_are_refused() {
        let server = MockJwksServer::start().await;
        assert_eq!(get(&server, "/keys").await.status, 404);

        let mut stream = send(&server, "POST /jwks.json HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        assert_eq!(parse(&raw).status, 405);

        let big = format!("GET /jwks.json HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20 * 1024));
        let mut stream = send(&server, &big).await;
        let mut raw = Vec::new();
        // The server may reset the connection after answering; the head arrives first.
        let _ = stream.read_to_end(&mut raw).await;
        assert_eq!(parse(&raw).status, 431);

        assert_eq!(server.jwks_requests(), 0);
        assert_eq!(server.total_requests(), 3);
    }

    #[tokio::test]
    async fn status_behaviour_answers_with_that_status() {
        let server = MockJwksServer::start().await;
        server.set_behaviour(Behaviour::Status(500));
        let response = get(&server, "/jwks.json").await;
        assert_eq!(response.status, 500);
        assert!(response.head.starts_with("HTTP/1.1 500 Internal Server Error"));
        assert!(!response.body.is_empty());
        server.set_behaviour(Behaviour::Status(304));
        assert!(get(&server, "/jwks.json").await.body.is_empty());
        server.set_behaviour(Behaviour::Normal);
        assert_eq!(get(&server, "/jwks.json").await.status, 200);
        assert_eq!(server.jwks_requests(), 3);
    }

    #[tokio::test]
    async fn redirect_behaviour_sends_302_with_location() {
        let server = MockJwksServer::start().await;
        server.set_behaviour(Behaviour::Redirect { location: "http://169.254.169.254/".to_owned() });
        let response = get(&server, "/jwks.json").await;
        assert_eq!(response.status, 302);
        assert_eq!(response.header("Location"), Some("http://169.254.169.254/"));
    }

    #[tokio::test]
    async fn hang_behaviour_never_answers() {
        let server = MockJwksServer::start().await;
        server.set_behaviour(Behaviour::Hang);
        let mut stream = send(&server, "GET /jwks.json HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        let mut buf = [0_u8; 64];
        let read = timeout(Duration::from_millis(200), stream.read(&mut buf)).await;
        assert!(read.is_err(), "expected no answer, got {read:?}");
        assert_eq!(server.jwks_requests(), 1);
    }

    #[tokio::test]
    async fn delay_keeps_requests_in_flight_and_counts_concurrency() {
        let server = MockJwksServer::start().await;
        server.set_behaviour(Behaviour::Delay(Duration::from_millis(100)));
        let (a, b, c) =
            tokio::join!(get(&server, "/jwks.json"), get(&server, "/jwks.json"), get(&server, "/jwks.json"));
        assert_eq!([a.status, b.status, c.status], [200; 3]);
        assert_eq!(server.max_concurrent_jwks_requests(), 3);

        let fresh = MockJwksServer::start().await;
        get(&fresh, "/jwks.json").await;
        get(&fresh, "/jwks.json").await;
        assert_eq!(fresh.max_concurrent_jwks_requests(), 1);
    }

    #[tokio::test]
    async fn drip_sends_a_valid_looking_start_slowly() {
        let server = MockJwksServer::start().await;
        server.set_behaviour(Behaviour::Drip { interval: Duration::from_millis(5) });
        let mut stream = send(&server, "GET /jwks.json HTTP/1.1\r\n\r\n").await;
        let response = timeout(Duration::from_secs(5), read_at_least(&mut stream, 3)).await.expect("drips");
        assert_eq!(response.status, 200);
        assert_eq!(response.header("Content-Length"), None);
        assert!(BODY_START.starts_with(&response.body));
    }

    #[tokio::test]
    async fn huge_sends_exactly_the_announced_length() {
        let server = MockJwksServer::start().await;
        server.set_behaviour(Behaviour::Huge { bytes: 100_000 });
        let response = get(&server, "/jwks.json").await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("Content-Length"), Some("100000"));
        assert_eq!(response.body.len(), 100_000);
        assert!(response.body.starts_with(BODY_START));
        assert!(response.body[BODY_START.len()..].iter().all(|&b| b == b' '));
    }

    #[tokio::test]
    async fn endless_streams_chunks_until_the_client_leaves() {
        let server = MockJwksServer::start().await;
        server.set_behaviour(Behaviour::Endless);
        let mut stream = send(&server, "GET /jwks.json HTTP/1.1\r\n\r\n").await;
        let response =
            timeout(Duration::from_secs(5), read_at_least(&mut stream, 256 * 1024)).await.expect("streams");
        assert_eq!(response.header("Transfer-Encoding"), Some("chunked"));
        assert!(response.body.starts_with(b"400\r\n{\"keys\":["));
        drop(stream);
        // The server notices and is still healthy.
        server.set_behaviour(Behaviour::Normal);
        assert_eq!(get(&server, "/jwks.json").await.status, 200);
    }

    #[tokio::test]
    async fn dropping_the_server_closes_listener_and_connections() {
        let server = MockJwksServer::start().await;
        server.set_behaviour(Behaviour::Hang);
        let addr = server.base_url().trim_start_matches("http://").to_owned();
        let mut hanging = send(&server, "GET /jwks.json HTTP/1.1\r\n\r\n").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(server);
        let mut buf = [0_u8; 16];
        let read = timeout(Duration::from_secs(2), hanging.read(&mut buf)).await.expect("connection closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    }
}
