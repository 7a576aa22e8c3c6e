//! The example services' metrics listener: `GET /metrics` in the Prometheus text format
//! on `METRICS_ADDR`, a listener of its own, never the public port.
//!
//! The libraries record `authgate_*` series through the `metrics` facade
//! (`authgate::metric_names`); [`install`] puts `metrics-exporter-prometheus` behind that
//! facade, so they reach a scrape:
//!
//! | series | type |
//! |---|---|
//! | `authgate_verify_duration_seconds{method}` | histogram ([`BUCKETS`]) |
//! | `authgate_key_fetches_total{outcome}` | counter |
//! | `authgate_token_cache_total{result}` | counter |
//! | `authgate_auth_failures_total{reason}` | counter |
//!
//! `METRICS_ADDR` is `host:port`, or `off`; unset, it is `127.0.0.1` on the service's
//! port + 1000 (the platform's rule: user-service 8011 -> 9011).

use std::net::SocketAddr;

use metrics_exporter_prometheus::PrometheusBuilder;

#[cfg(feature = "test-support")]
pub mod test_support;

/// Histogram buckets (seconds) of the `*_seconds` series, user-service's: a cached
/// verification takes microseconds, a key fetch up to seconds.
pub const BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Why the metrics listener could not be configured or started.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// `METRICS_ADDR` is neither `host:port` nor `off`, or the default cannot be formed.
    #[error("METRICS_ADDR: {0}")]
    Config(String),
    /// The listener could not be bound, or another recorder is installed.
    #[error("metrics listener on {addr}: {reason}")]
    Install {
        /// Where it was to listen.
        addr: SocketAddr,
        /// What the exporter said.
        reason: String,
    },
}

/// `METRICS_ADDR` read through `lookup`: `None` for `off`, else the address; unset (or
/// blank), `127.0.0.1:{service_port + 1000}` (port 0, as in tests, stays 0).
pub fn metrics_addr(
    lookup: impl Fn(&str) -> Option<String>,
    service_port: u16,
) -> Result<Option<SocketAddr>, MetricsError> {
    match lookup("METRICS_ADDR").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.eq_ignore_ascii_case("off") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            MetricsError::Config(format!("{v:?} is not host:port (e.g. 127.0.0.1:9010) or off"))
        }),
        None => {
            let port = if service_port == 0 { Some(0) } else { service_port.checked_add(1000) };
            let port = port.ok_or_else(|| {
                MetricsError::Config(format!("port {service_port} + 1000 is no port: set METRICS_ADDR"))
            })?;
            Ok(Some(SocketAddr::from(([127, 0, 0, 1], port))))
        }
    }
}

/// Installs the process-wide Prometheus recorder and binds its listener on `addr`,
/// serving on the current tokio runtime (call it from inside one, before the service
/// starts). Once per process: a second call fails with [`MetricsError::Install`].
pub fn install(addr: SocketAddr) -> Result<(), MetricsError> {
    let fail = |reason: String| MetricsError::Install { addr, reason };
    PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .map_err(|e| fail(e.to_string()))?
        .with_http_listener(addr)
        .install()
        .map_err(|e| fail(e.to_string()))?;
    tracing::info!(%addr, "serving Prometheus metrics at /metrics");
    Ok(())
}

/// [`install`] when `addr` is set; logs that metrics are off otherwise.
pub fn install_if_configured(addr: Option<SocketAddr>) -> Result<(), MetricsError> {
    match addr {
        Some(addr) => install(addr),
        None => {
            tracing::info!("METRICS_ADDR=off: no metrics listener");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn addr(value: Option<&str>, port: u16) -> Result<Option<SocketAddr>, MetricsError> {
        metrics_addr(|n| (n == "METRICS_ADDR").then_some(value).flatten().map(str::to_owned), port)
    }

    #[test]
    fn defaults_to_loopback_on_the_service_port_plus_1000() {
        assert_eq!(addr(None, 8010).unwrap(), Some("127.0.0.1:9010".parse().unwrap()));
        assert_eq!(addr(Some("  "), 8080).unwrap(), Some("127.0.0.1:9080".parse().unwrap()));
        assert_eq!(addr(None, 0).unwrap(), Some("127.0.0.1:0".parse().unwrap()));
    }

    #[test]
    fn off_disables_and_an_address_is_taken_as_given() {
        assert_eq!(addr(Some("off"), 8010).unwrap(), None);
        assert_eq!(addr(Some("OFF"), 8010).unwrap(), None);
        assert_eq!(addr(Some("0.0.0.0:9100"), 8010).unwrap(), Some("0.0.0.0:9100".parse().unwrap()));
    }

    #[test]
    fn a_bad_value_is_a_clear_error() {
        for bad in ["9100", "localhost:9100", "127.0.0.1", "no"] {
            let e = addr(Some(bad), 8010).unwrap_err().to_string();
            assert!(e.starts_with("METRICS_ADDR: ") && e.contains("host:port"), "{e}");
        }
        let e = addr(None, 65000).unwrap_err().to_string();
        assert!(e.contains("set METRICS_ADDR"), "{e}");
    }
}
