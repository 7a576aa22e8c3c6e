//! The ticker binary as its own process (the metrics recorder is process-wide): the
//! libraries' `authgate_*` series reach a scrape of `METRICS_ADDR` with exact counts,
//! `/metrics` is not on the public port, and `METRICS_ADDR=off` opens no listener.

#![allow(clippy::unwrap_used)]

use authgate_testkit::{MockJwksServer, TestKey};
use example_metrics::test_support::{
    Service, assert_bad_metrics_addr_stops_startup, assert_script_counted_exactly, free_port, http_get,
    scrape,
};

const BINARY: &str = env!("CARGO_BIN_EXE_example-ticker");

async fn identity_provider() -> MockJwksServer {
    let idp = MockJwksServer::start().await;
    idp.set_keys(&[&TestKey::shared_rs256()]);
    idp
}

/// The ticker on a free port against `idp`, with `METRICS_ADDR` = `metrics` (unset when
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
    panic!("the ticker never became ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_sequence_shows_exact_counts_on_the_metrics_listener_only() {
    let idp = identity_provider().await;
    let metrics_port = free_port();
    let ticker = start(&idp, Some(format!("127.0.0.1:{metrics_port}"))).await;

    assert_script_counted_exactly(&ticker, "/subscription-status", metrics_port).await;
    assert_eq!(idp.jwks_requests(), 1, "one key fetch, as counted");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_is_the_port_plus_1000_and_off_opens_no_listener() {
    let idp = identity_provider().await;
    let ticker = start(&idp, None).await;
    assert_eq!(ticker.listening_ports(), sorted([ticker.port, ticker.port + 1000]));
    assert_eq!(
        scrape(ticker.port + 1000).await.value("authgate_key_fetches_total", &[("outcome", "ok")]),
        Some(1.0)
    );
    drop(ticker);

    let ticker = start(&idp, Some("off".to_owned())).await;
    assert_eq!(ticker.listening_ports(), [ticker.port]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_metrics_addr_stops_startup_with_the_variable_named() {
    assert_bad_metrics_addr_stops_startup(BINARY, "9080").await;
}

fn sorted<const N: usize>(mut ports: [u16; N]) -> Vec<u16> {
    ports.sort_unstable();
    ports.to_vec()
}
