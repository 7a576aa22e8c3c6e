//! For the examples' metrics tests: a service binary started as a child process (the
//! recorder is process-wide, so each test gets its own process), raw HTTP against it, and
//! the TCP ports it listens on, read from `/proc` (Linux).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use authgate_testkit::prometheus::Scrape;
use authgate_testkit::{TestKey, standard_claims};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// A free loopback port (bound, read, released: another process could take it, which
/// tests accept).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A running service binary, killed when dropped.
#[derive(Debug)]
pub struct Service {
    child: Child,
    /// Its public port (`PORT`).
    pub port: u16,
}

fn command(binary: &str, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(binary);
    // Only what the test says: nothing from the developer's shell (APP_ENV, PORT...).
    command.env_clear().envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command.kill_on_drop(true);
    command
}

impl Service {
    /// Starts `binary` with exactly `env` (which must set `PORT`) and waits until its
    /// `GET /health` answers 200.
    pub async fn start(binary: &str, env: &[(&str, String)]) -> Service {
        let port = env.iter().find(|(k, _)| *k == "PORT").expect("env sets PORT").1.parse().unwrap();
        let child = command(binary, env).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut service = Service { child, port };
        for _ in 0..200 {
            if let Some(status) = service.child.try_wait().unwrap() {
                panic!("{binary} exited at startup: {status}");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
                && http_get(port, "/health", &[]).await.0 == 200
            {
                return service;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{binary} did not answer /health on port {port} within 10 s");
    }

    /// The TCP ports this process listens on, sorted.
    pub fn listening_ports(&self) -> Vec<u16> {
        let pid = self.child.id().expect("the service is running");
        let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter_map(|target| {
                let target = target.to_string_lossy().into_owned();
                Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
            })
            .collect();
        let mut ports: Vec<u16> = ["tcp", "tcp6"]
            .iter()
            .filter_map(|table| std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok())
            .flat_map(|text| text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
            .filter_map(|line| {
                // sl local_address rem_address st tx_rx tr_when retrnsmt uid timeout inode
                let fields: Vec<&str> = line.split_whitespace().collect();
                let listening = fields.get(3) == Some(&"0A");
                let ours = fields.get(9).is_some_and(|inode| inodes.contains(*inode));
                let port = fields.get(1)?.rsplit(':').next()?;
                (listening && ours).then(|| u16::from_str_radix(port, 16).ok()).flatten()
            })
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }
}

/// Runs `binary` with exactly `env`, expecting it to stop by itself within 10 s: its exit
/// code and standard error.
pub async fn run_to_exit(binary: &str, env: &[(&str, String)]) -> (Option<i32>, String) {
    let child = command(binary, env).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("the service stops by itself")
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A one-shot HTTP/1.1 GET to `127.0.0.1:{port}`: the status and body.
pub async fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw);
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_owned();
    (status, body)
}

/// The issuer and audience the example services expect by default.
pub const ISSUER: &str = "http://127.0.0.1:8011";
/// See [`ISSUER`].
pub const AUDIENCE: &str = "trading-platform";

/// A token from [`TestKey::shared_rs256`] for `sub`, valid for `ttl_secs` from now (a
/// past `exp` when negative), with the permissions the examples' routes ask for.
pub fn token(sub: &str, ttl_secs: i64) -> String {
    signed(&TestKey::shared_rs256(), sub, ttl_secs)
}

fn signed(key: &TestKey, sub: &str, ttl_secs: i64) -> String {
    let exp = authgate_testkit::now().saturating_add_signed(ttl_secs);
    key.token()
        .claims(standard_claims(ISSUER, AUDIENCE, sub, 300))
        .claim("exp", exp)
        .claim("permissions", serde_json::json!(["alerts:read", "alerts:write"]))
        .sign()
}

/// The scripted sequence of the metrics tests, against `GET {path}` on `port`: three
/// requests with one valid token, one with an expired token, one with a token whose
/// signature does not match its key id, one without credentials. Returns the statuses.
pub async fn run_script(port: u16, path: &str) -> Vec<u16> {
    let valid = format!("Bearer {}", token("metrics-user", 300));
    let expired = format!("Bearer {}", token("metrics-user", -3600));
    // Same `kid` as the published key, another private key: a bad signature.
    let forged = signed(&TestKey::rs256().with_kid(TestKey::shared_rs256().kid()), "metrics-user", 300);
    let forged = format!("Bearer {forged}");
    let mut statuses = Vec::new();
    for authorization in [Some(&valid), Some(&valid), Some(&valid), Some(&expired), Some(&forged), None] {
        let headers: Vec<(&str, &str)> =
            authorization.iter().map(|a| ("Authorization", a.as_str())).collect();
        statuses.push(http_get(port, path, &headers).await.0);
    }
    statuses
}

/// `GET /metrics` on `127.0.0.1:{port}`, parsed; panics unless it answers 200 with a
/// valid exposition.
pub async fn scrape(port: u16) -> Scrape {
    let (status, body) = http_get(port, "/metrics", &[]).await;
    assert_eq!(status, 200, "{body}");
    Scrape::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

/// Runs [`run_script`] against `GET {path}` on `service`, then checks what every example
/// service must show: the statuses, the libraries' series with exact counts on the
/// metrics listener at `metrics_port`, and no `/metrics` on the public port.
pub async fn assert_script_counted_exactly(service: &Service, path: &str, metrics_port: u16) {
    let statuses = run_script(service.port, path).await;
    assert_eq!(statuses, [200, 200, 200, 401, 401, 401]);

    let s = scrape(metrics_port).await;
    assert_eq!(s.value("authgate_auth_failures_total", &[("reason", "expired")]), Some(1.0));
    assert_eq!(s.value("authgate_auth_failures_total", &[("reason", "invalid_signature")]), Some(1.0));
    // A request without credentials is refused before any verification.
    assert_eq!(s.sum("authgate_auth_failures_total"), 2.0);
    // A token enters the cache on its second verification (authgate's token_cache docs):
    // the valid token misses twice, then hits; each bad token misses.
    assert_eq!(s.value("authgate_token_cache_total", &[("result", "hit")]), Some(1.0));
    assert_eq!(s.value("authgate_token_cache_total", &[("result", "miss")]), Some(4.0));
    assert_eq!(s.value("authgate_key_fetches_total", &[("outcome", "ok")]), Some(1.0));
    assert_eq!(s.sum("authgate_key_fetches_total"), 1.0);
    // The latency histogram times the verifications that ran: the cache's answer is
    // counted above, not timed.
    assert_eq!(s.kind("authgate_verify_duration_seconds"), Some("histogram"));
    assert_eq!(s.value("authgate_verify_duration_seconds_count", &[("method", "jwt")]), Some(4.0));
    let inf = [("method", "jwt"), ("le", "+Inf")];
    assert_eq!(s.value("authgate_verify_duration_seconds_bucket", &inf), Some(4.0));
    assert_eq!(
        s.value("authgate_verify_duration_seconds_bucket", &[("method", "jwt"), ("le", "5")]),
        Some(4.0)
    );

    assert_eq!(http_get(service.port, "/metrics", &[]).await.0, 404);
    let mut expected = vec![service.port, metrics_port];
    expected.sort_unstable();
    assert_eq!(service.listening_ports(), expected);
}

/// Starts `binary` with `METRICS_ADDR` = `addr` (a port without a host) and checks that it
/// stops at once with exit code 1, naming the variable.
pub async fn assert_bad_metrics_addr_stops_startup(binary: &str, addr: &str) {
    let env = [("PORT", free_port().to_string()), ("METRICS_ADDR", addr.to_owned())];
    let (code, stderr) = run_to_exit(binary, &env).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains(&format!(r#"METRICS_ADDR: "{addr}" is not host:port"#)), "{stderr}");
}
