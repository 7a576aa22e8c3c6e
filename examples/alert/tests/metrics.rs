//! The alert binary as its own process (the metrics recorder is process-wide): the
//! libraries' `authgate_*` series reach a scrape of `METRICS_ADDR` with exact counts,
//! `/metrics` is not on the public port, and `METRICS_ADDR=off` opens no listener.

#![allow(clippy::unwrap_used)]

use authgate_testkit::{MockJwksServer, TestKey};
use example_metrics::test_support::{
    Service, assert_bad_metrics_addr_stops_startup, assert_script_counted_exactly, free_port, scrape,
};

const BINARY: &str = env!("CARGO_BIN_EXE_example-alert");

async fn identity_provider() -> MockJwksServer {
    let idp = MockJwksServer::start().await;
    idp.set_keys(&[&TestKey::shared_rs256()]);
    idp
}

/// The alert service on a free port against `idp`, with `METRICS_ADDR` = `metrics` (unset
/// when `None`). It loads the signing keys at the first token it sees.
async fn start(idp: &MockJwksServer, metrics: Option<String>) -> Service {
    let mut env = vec![
        ("PORT", free_port().to_string()),
        ("JWKS_URL", idp.jwks_url()),
        ("USER_SERVICE_URL", idp.base_url()),
    ];
    env.extend(metrics.map(|m| ("METRICS_ADDR", m)));
    Service::start(BINARY, &env).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_sequence_shows_exact_counts_on_the_metrics_listener_only() {
    let idp = identity_provider().await;
    let metrics_port = free_port();
    let alert = start(&idp, Some(format!("127.0.0.1:{metrics_port}"))).await;

    assert_script_counted_exactly(&alert, "/alerts", metrics_port).await;
    assert_eq!(idp.jwks_requests(), 1, "one key fetch, as counted");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_is_the_port_plus_1000_and_off_opens_no_listener() {
    let idp = identity_provider().await;
    let alert = start(&idp, None).await;
    assert_eq!(alert.listening_ports(), sorted([alert.port, alert.port + 1000]));
    // Served, and nothing fetched yet: the keys load with the first token.
    assert_eq!(scrape(alert.port + 1000).await.sum("authgate_key_fetches_total"), 0.0);
    drop(alert);

    let alert = start(&idp, Some("off".to_owned())).await;
    assert_eq!(alert.listening_ports(), [alert.port]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_metrics_addr_stops_startup_with_the_variable_named() {
    assert_bad_metrics_addr_stops_startup(BINARY, "9012").await;
}

fn sorted<const N: usize>(mut ports: [u16; N]) -> Vec<u16> {
    ports.sort_unstable();
    ports.to_vec()
}
