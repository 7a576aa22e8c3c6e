//! The user-service binary as its own process: the metrics recorder is process-wide, so
//! only a process of its own shows the libraries' `authgate_*` series with exact counts
//! (the in-process test in `api/service.rs` asserts the service's own series exactly and
//! these as "at least").

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use authgate_testkit::prometheus::Scrape;
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_user-service");
const PASSWORD: &str = "correct horse battery staple";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The service, killed when dropped.
struct Service {
    child: Child,
    base: String,
    metrics: String,
    _dir: TempDir,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start() -> Service {
    let dir = std::env::temp_dir().join(format!("user-service-process-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let child = Command::new(BINARY)
        .arg("serve")
        // Only what the test says: nothing from the developer's shell or .env files.
        .env_clear()
        .current_dir(&dir)
        .envs([
            ("APP_ENV", "dev".to_owned()),
            ("USER_SERVICE_PORT", port.to_string()),
            ("METRICS_ADDR", format!("127.0.0.1:{metrics_port}")),
            ("DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.join("users.db").display())),
            ("MASTER_ENCRYPTION_KEY", "dGVzdC1tYXN0ZXIta2V5LWZvci1pbnRlZ3JhdGlvbnM=".to_owned()),
            ("ARGON2_MEMORY_KIB", "1024".to_owned()),
            ("ARGON2_ITERATIONS", "1".to_owned()),
            ("LOG_LEVEL", "warning".to_owned()),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut service = Service {
        child,
        base: format!("http://127.0.0.1:{port}"),
        metrics: format!("http://127.0.0.1:{metrics_port}"),
        _dir: TempDir(dir),
    };
    for _ in 0..300 {
        if let Some(status) = service.child.try_wait().unwrap() {
            panic!("user-service exited at startup: {status}");
        }
        if let Ok(r) = reqwest::get(format!("{}/ready", service.base)).await
            && r.status() == 200
        {
            return service;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("user-service was not ready within 15 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn h12_the_libraries_series_count_a_scripted_session_exactly() {
    let service = start().await;
    let http = reqwest::Client::new();
    let register = json!({"email": "metrics@example.com", "password": PASSWORD, "name": "Metrics"});
    let r = http.post(format!("{}/v1/auth/register", service.base)).json(&register).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let login = json!({"email": "metrics@example.com", "password": PASSWORD});
    let r = http.post(format!("{}/v1/auth/login", service.base)).json(&login).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let access = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let (signed, _) = access.rsplit_once('.').unwrap();
    let forged = format!("{signed}.AAAA");

    // The script: the same token three times, a forged signature, garbage, nothing.
    let mut statuses = Vec::new();
    for bearer in [Some(access.as_str()), Some(&access), Some(&access), Some(&forged), Some("x.y"), None] {
        let mut request = http.get(format!("{}/v1/users/me", service.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        statuses.push(request.send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 401, 401, 401]);

    let text = reqwest::get(format!("{}/metrics", service.metrics)).await.unwrap().text().await.unwrap();
    let m = Scrape::parse(&text).unwrap();
    assert_eq!(m.value("authgate_auth_failures_total", &[("reason", "invalid_signature")]), Some(1.0));
    assert_eq!(m.value("authgate_auth_failures_total", &[("reason", "malformed_token")]), Some(1.0));
    // A request without credentials is refused before any verification.
    assert_eq!(m.sum("authgate_auth_failures_total"), 2.0);
    assert_eq!(m.kind("authgate_verify_duration_seconds"), Some("histogram"));
    // Answers from the token cache are counted, not timed.
    assert_eq!(m.sum("authgate_verify_duration_seconds_count"), VERIFICATIONS - CACHE_HITS);
    assert_eq!(m.value("authgate_token_cache_total", &[("result", "hit")]), Some(CACHE_HITS));
    assert_eq!(
        m.value("authgate_token_cache_total", &[("result", "miss")]),
        Some(VERIFICATIONS - CACHE_HITS)
    );
    // The service verifies with its own keys: nothing is fetched.
    assert_eq!(m.sum("authgate_key_fetches_total"), 0.0);
    assert_eq!(m.value("user_service_registrations_total", &[]), Some(1.0));
    assert_eq!(m.value("user_service_logins_total", &[("outcome", "success")]), Some(1.0));

    let r = http.get(format!("{}/metrics", service.base)).send().await.unwrap();
    assert_eq!(r.status(), 404, "not on the public listener");
}

/// Verifications the script causes: each of the five presented tokens once (a cache hit
/// included); a second verification per request would show here.
const VERIFICATIONS: f64 = 5.0;
/// Token-cache hits: a token enters the cache on its second verification, so the same
/// token misses twice, then hits.
const CACHE_HITS: f64 = 1.0;
