//! The backend binary as its own process (the metrics recorder is process-wide): the
//! libraries' `authgate_*` series reach a scrape of `METRICS_ADDR` with exact counts,
//! `/metrics` is not on the public port, and `METRICS_ADDR=off` opens no listener.

#![allow(clippy::unwrap_used)]

use authgate_testkit::{MockJwksServer, TestKey};
use example_metrics::test_support::{Service, free_port, http_get, run_script, run_to_exit, scrape};

const BINARY: &str = env!("CARGO_BIN_EXE_example-backend");

async fn identity_provider() -> MockJwksServer {
    let idp = MockJwksServer::start().await;
    idp.set_keys(&[&TestKey::shared_rs256()]);
    idp
}

/// The backend on a free port against `idp`, with `METRICS_ADDR` = `metrics` (unset when
/// `None`), once `/ready` says its keys are loaded.
async fn start(idp: &MockJwksServer, metrics: Option<String>) -> Service {
    let mut env = vec![
        ("PORT", free_port().to_string()),
        ("JWKS_URL", idp.jwks_url()),
        ("USER_SERVICE_URL", idp.base_url()),
    ];
    env.extend(metrics.map(|m| ("METRICS_ADDR", m)));
    let service = Service::start(BINARY, &env).await;
    for _ in 0..100 {
        if http_get(service.port, "/ready", &[]).await.0 == 200 {
            return service;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the backend never became ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_sequence_shows_exact_counts_on_the_metrics_listener_only() {
    let idp = identity_provider().await;
    let metrics_port = free_port();
    let backend = start(&idp, Some(format!("127.0.0.1:{metrics_port}"))).await;

    let statuses = run_script(backend.port, "/api/me").await;
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
    assert_eq!(s.kind("authgate_verify_duration_seconds"), Some("histogram"));
    assert_eq!(s.value("authgate_verify_duration_seconds_count", &[("method", "jwt")]), Some(5.0));
    let inf = [("method", "jwt"), ("le", "+Inf")];
    assert_eq!(s.value("authgate_verify_duration_seconds_bucket", &inf), Some(5.0));
    assert_eq!(
        s.value("authgate_verify_duration_seconds_bucket", &[("method", "jwt"), ("le", "5")]),
        Some(5.0)
    );

    assert_eq!(http_get(backend.port, "/metrics", &[]).await.0, 404);
    assert_eq!(backend.listening_ports(), sorted([backend.port, metrics_port]));
    assert_eq!(idp.jwks_requests(), 1, "one key fetch, as counted");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_is_the_port_plus_1000_and_off_opens_no_listener() {
    let idp = identity_provider().await;
    let backend = start(&idp, None).await;
    assert_eq!(backend.listening_ports(), sorted([backend.port, backend.port + 1000]));
    assert_eq!(
        scrape(backend.port + 1000).await.value("authgate_key_fetches_total", &[("outcome", "ok")]),
        Some(1.0)
    );
    drop(backend);

    let backend = start(&idp, Some("off".to_owned())).await;
    assert_eq!(backend.listening_ports(), [backend.port]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_metrics_addr_stops_startup_with_the_variable_named() {
    let env = [("PORT", free_port().to_string()), ("METRICS_ADDR", "9010".to_owned())];
    let (code, stderr) = run_to_exit(BINARY, &env).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains(r#"METRICS_ADDR: "9010" is not host:port"#), "{stderr}");
}

fn sorted<const N: usize>(mut ports: [u16; N]) -> Vec<u16> {
    ports.sort_unstable();
    ports.to_vec()
}
