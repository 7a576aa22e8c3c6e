//! The names of the metrics authgate records through the `metrics` facade, so
//! dashboards and both adapters use the same ones. Recorded only with the `metrics`
//! feature (on by default); without it the names stay, the recording calls compile to
//! nothing.

/// Counter of authenticated requests, label `method` = `jwt` | `api_key`. Recorded by
/// the adapters; watch it to know when no client uses API keys anymore.
pub const AUTHENTICATED_REQUESTS: &str = "authgate_requests_total";
/// Counter of verifications, labels `method` and `outcome` (`ok` or an error kind).
pub const VERIFICATIONS: &str = "authgate_verifications_total";
/// Histogram of verification latency in seconds, label `method`. Answers from the
/// verified-token cache are counted in [`VERIFICATIONS`] and [`TOKEN_CACHE`], not timed
/// here: their ~0.1 µs would bury the verifications' latency.
pub const VERIFY_SECONDS: &str = "authgate_verify_duration_seconds";
/// Counter of refused credentials, label `reason` = the error kind (`expired`,
/// `invalid_signature`, `unknown_key`, ...): what to alert on.
pub const AUTH_FAILURES: &str = "authgate_auth_failures_total";
/// Counter of verified-token cache lookups, label `result` = `hit` | `miss`.
pub const TOKEN_CACHE: &str = "authgate_token_cache_total";
/// Counter of key-set fetches, label `outcome` = `ok` | `error`.
pub const KEY_FETCHES: &str = "authgate_key_fetches_total";
/// Histogram of key-set fetch duration in seconds.
pub const KEY_FETCH_SECONDS: &str = "authgate_key_fetch_seconds";

/// Counts one authenticated request in [`AUTHENTICATED_REQUESTS`]. Both adapters call
/// this, so the series and its labels are the same whatever the framework; literal
/// label values keep it allocation-free. Does nothing without the `metrics` feature.
pub fn record_authenticated_request(method: crate::AuthMethod) {
    match method {
        crate::AuthMethod::ApiKey => increment!(AUTHENTICATED_REQUESTS, "method" => "api_key"),
        _ => increment!(AUTHENTICATED_REQUESTS, "method" => "jwt"),
    }
}

/// `metrics::counter!(NAME, "label" => "value").increment(1)` for a name from this
/// module and literal labels, with the key built once in a `static`: the `metrics`
/// macros build and hash the key on every call unless the name itself is a literal,
/// which cost ~150 instructions per metric on every request.
#[cfg(feature = "metrics")]
macro_rules! increment {
    ($name:expr $(, $label:literal => $value:literal)*) => {{
        static LABELS: &[::metrics::Label] = &[$(::metrics::Label::from_static_parts($label, $value)),*];
        static KEY: ::metrics::Key = ::metrics::Key::from_static_parts($name, LABELS);
        ::metrics::with_recorder(|r| r.register_counter(&KEY, $crate::metric_names::metadata!())).increment(1)
    }};
}

/// `metrics::histogram!(NAME, "label" => "value").record(value)`, key built once (see
/// [`increment!`]).
#[cfg(feature = "metrics")]
macro_rules! record {
    ($value:expr; $name:expr $(, $label:literal => $label_value:literal)*) => {{
        static LABELS: &[::metrics::Label] =
            &[$(::metrics::Label::from_static_parts($label, $label_value)),*];
        static KEY: ::metrics::Key = ::metrics::Key::from_static_parts($name, LABELS);
        ::metrics::with_recorder(|r| r.register_histogram(&KEY, $crate::metric_names::metadata!())).record($value)
    }};
}

/// The metadata the `metrics` macros give: target and module of the call site, INFO.
#[cfg(feature = "metrics")]
macro_rules! metadata {
    () => {{
        static METADATA: ::metrics::Metadata<'static> = ::metrics::Metadata::new(
            ::core::module_path!(),
            ::metrics::Level::INFO,
            ::core::option::Option::Some(::core::module_path!()),
        );
        &METADATA
    }};
}

/// Without the `metrics` feature: nothing is recorded.
#[cfg(not(feature = "metrics"))]
macro_rules! increment {
    ($name:expr $(, $label:literal => $value:literal)*) => {{
        let _ = $name;
    }};
}

/// Without the `metrics` feature: the value is evaluated (no side effects are lost) and
/// dropped.
#[cfg(not(feature = "metrics"))]
macro_rules! record {
    ($value:expr; $name:expr $(, $label:literal => $label_value:literal)*) => {{
        let _ = ($value, $name);
    }};
}

#[cfg(feature = "metrics")]
pub(crate) use metadata;
pub(crate) use {increment, record};
