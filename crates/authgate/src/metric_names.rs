//! The names of the metrics authgate records through the [`metrics`] facade, so
//! dashboards and both adapters use the same ones.

/// Counter of authenticated requests, label `method` = `jwt` | `api_key`. Recorded by
/// the adapters; watch it to know when no client uses API keys anymore.
pub const AUTHENTICATED_REQUESTS: &str = "authgate_requests_total";
/// Counter of verifications, labels `method` and `outcome` (`ok` or an error kind).
pub const VERIFICATIONS: &str = "authgate_verifications_total";
/// Histogram of verification latency in seconds, label `method`.
pub const VERIFY_SECONDS: &str = "authgate_verify_seconds";
/// Counter of verified-token cache lookups, label `result` = `hit` | `miss`.
pub const TOKEN_CACHE: &str = "authgate_token_cache_total";
/// Counter of key-set fetches, label `outcome` = `ok` | `error`.
pub const KEY_FETCHES: &str = "authgate_key_fetches_total";
/// Histogram of key-set fetch duration in seconds.
pub const KEY_FETCH_SECONDS: &str = "authgate_key_fetch_seconds";

/// Counts one authenticated request in [`AUTHENTICATED_REQUESTS`]. Both adapters call
/// this, so the series and its labels are the same whatever the framework; literal
/// label values keep it allocation-free.
pub fn record_authenticated_request(method: crate::AuthMethod) {
    match method {
        crate::AuthMethod::ApiKey => {
            metrics::counter!(AUTHENTICATED_REQUESTS, "method" => "api_key").increment(1)
        }
        _ => metrics::counter!(AUTHENTICATED_REQUESTS, "method" => "jwt").increment(1),
    }
}
