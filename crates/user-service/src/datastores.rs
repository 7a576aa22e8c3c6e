//! TLS to the data stores: which PostgreSQL and Redis URLs travel in clear text to
//! another host (production refuses them), and the Redis client with an operator's CA.
//!
//! PostgreSQL TLS is configured in the URL itself, as libpq does: `sslmode=require`
//! (encrypted), `verify-ca` or `verify-full` (encrypted and the server certificate
//! checked, against `sslrootcert=/path/ca.pem` or the bundled web PKI roots). Redis over
//! TLS is `rediss://`, checked against the system's roots or `REDIS_TLS_CA_FILE`.

use std::net::IpAddr;
use std::path::Path;

use crate::StartupError;

/// Whether `host` names this machine (nothing leaves it, so clear text is acceptable).
fn is_loopback_host(host: Option<url::Host<&str>>) -> bool {
    match host {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // A Unix socket (`host=/run/postgresql` in the query, no host in the authority).
        None => true,
    }
}

/// A `postgres://` URL whose connection may be unencrypted to another host: `sslmode`
/// missing (libpq's `prefer` falls back to clear text), `disable`, `allow` or `prefer`.
pub(crate) fn database_url_is_cleartext_remote(database_url: &str) -> bool {
    let Ok(url) = url::Url::parse(database_url) else { return false };
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return false;
    }
    let socket_dir = url.query_pairs().any(|(k, v)| k == "host" && v.starts_with('/'));
    let encrypted = url
        .query_pairs()
        .any(|(k, v)| k == "sslmode" && matches!(&*v, "require" | "verify-ca" | "verify-full"));
    !encrypted && !socket_dir && !is_loopback_host(url.host())
}

/// A `redis://` URL (not `rediss://`) to another host.
pub(crate) fn redis_url_is_cleartext_remote(redis_url: &str) -> bool {
    let Ok(url) = url::Url::parse(redis_url) else { return false };
    url.scheme() == "redis" && !is_loopback_host(url.host())
}

/// The Redis client: `rediss://` checks the server against `ca_file` when given, else
/// against the system's roots.
pub(crate) fn redis_client(url: &str, ca_file: Option<&Path>) -> Result<redis::Client, StartupError> {
    let Some(path) = ca_file else { return Ok(redis::Client::open(url)?) };
    let root_cert = std::fs::read(path)
        .map_err(|e| StartupError::Command(format!("REDIS_TLS_CA_FILE: {}: {e}", path.display())))?;
    let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(root_cert) };
    Ok(redis::Client::build_with_tls(url, certificates)?)
}

/// Bounded waits for Redis: a server that does not answer (or a TLS handshake that
/// fails) ends startup with an error, and a throttle check with a 503, within seconds
/// instead of hanging.
pub(crate) fn redis_manager_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(std::time::Duration::from_secs(5))
        .set_response_timeout(std::time::Duration::from_secs(5))
        .set_number_of_retries(2)
        // redis 0.32 hands these to backon (1 s first delay): its default factor of 100
        // made a refused TLS handshake retry for minutes before startup gave up.
        .set_factor(2)
        .set_max_delay(2000)
}

#[cfg(test)]
mod tests {
    use super::{database_url_is_cleartext_remote, redis_url_is_cleartext_remote};

    #[test]
    fn database_urls_to_other_hosts_need_an_encrypting_sslmode() {
        assert!(database_url_is_cleartext_remote("postgres://u:p@db.internal:5432/app"));
        assert!(database_url_is_cleartext_remote("postgres://u@10.0.0.5/app?sslmode=prefer"));
        assert!(database_url_is_cleartext_remote("postgresql://u@db.internal/app?sslmode=disable"));
        assert!(!database_url_is_cleartext_remote("postgres://u@db.internal/app?sslmode=require"));
        assert!(!database_url_is_cleartext_remote(
            "postgres://u@db.internal/app?sslmode=verify-full&sslrootcert=/ca.pem"
        ));
        assert!(!database_url_is_cleartext_remote("postgres://u@127.0.0.1:5432/app"));
        assert!(!database_url_is_cleartext_remote("postgres://u@localhost/app"));
        assert!(!database_url_is_cleartext_remote("postgres://u@[::1]/app"));
        assert!(!database_url_is_cleartext_remote("postgres:///app?host=/run/postgresql"));
        assert!(!database_url_is_cleartext_remote("sqlite://dev.db"));
    }

    #[test]
    fn redis_urls_to_other_hosts_need_rediss() {
        assert!(redis_url_is_cleartext_remote("redis://cache.internal:6379/0"));
        assert!(redis_url_is_cleartext_remote("redis://:secret@10.1.2.3"));
        assert!(!redis_url_is_cleartext_remote("rediss://cache.internal:6380/0"));
        assert!(!redis_url_is_cleartext_remote("redis://127.0.0.1:6379"));
        assert!(!redis_url_is_cleartext_remote("redis://localhost"));
    }
}
