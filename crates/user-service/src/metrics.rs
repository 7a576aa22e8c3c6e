//! Prometheus metrics with `metrics-exporter-prometheus`, served as text by `GET /metrics`
//! on the separate metrics listener (`METRICS_ADDR`), never on the public one.
//!
//! Two recorders render into one document: the service's own `user_service_*` series
//! live in a recorder of this instance (so two instances in one process, as in tests,
//! each count their own requests), and the libraries' `authgate_*` series, which go
//! through the `metrics` facade, land in the process-wide recorder installed here.
//! The gauges that describe stored state (active sessions, users with MFA) are read from
//! the database at each scrape, so every instance reports the same truth.

use std::sync::OnceLock;

use metrics::{Counter, Gauge, Key, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::db::Db;
use crate::password::Passwords;

/// Histogram buckets (seconds) of the `*_seconds` series: verification takes
/// microseconds when cached, a key fetch up to seconds.
const BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

fn builder() -> PrometheusBuilder {
    // set_buckets refuses only an empty list.
    PrometheusBuilder::new().set_buckets(BUCKETS).unwrap_or_else(|_| PrometheusBuilder::new())
}

/// The process-wide recorder of the libraries' series, installed by the first service
/// built in this process. `None` when another recorder was installed first: that one
/// then receives them.
fn global() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = builder().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: authgate_* series go there");
                return None;
            }
            Some(handle)
        })
        .as_ref()
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// This instance's series and the handles that update them; handlers call
/// [`Metrics::inc`].
pub(crate) struct Metrics {
    recorder: PrometheusRecorder,
    pub(crate) registrations: Counter,
    pub(crate) login_success: Counter,
    pub(crate) login_failure: Counter,
    pub(crate) login_throttled: Counter,
    pub(crate) login_mfa_required: Counter,
    pub(crate) mfa_failure: Counter,
    pub(crate) refresh_success: Counter,
    pub(crate) refresh_failure: Counter,
    pub(crate) refresh_reuse: Counter,
    pub(crate) password_reset_requests: Counter,
    pub(crate) password_resets: Counter,
    pub(crate) api_key_success: Counter,
    pub(crate) api_key_malformed: Counter,
    pub(crate) api_key_unknown: Counter,
    pub(crate) api_key_refused: Counter,
    pub(crate) api_key_usage_dropped: Counter,
    password_verifications: Counter,
    active_sessions: Gauge,
    mfa_enabled_users: Gauge,
    hash_waiting: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        global();
        let recorder = builder().build_recorder();
        let counter = |name: &'static str, help: &'static str, outcome: Option<&'static str>| {
            recorder.describe_counter(name.into(), None, SharedString::const_str(help));
            let labels: Vec<Label> = outcome.map(|o| Label::new("outcome", o)).into_iter().collect();
            recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
        };
        let logins = "Password logins by outcome.";
        let refresh = "Refresh-token exchanges by outcome.";
        let api_key = "API-key authentications by outcome (malformed: refused before any lookup).";
        let gauge = |name: &'static str, help: &'static str| {
            recorder.describe_gauge(name.into(), None, SharedString::const_str(help));
            recorder.register_gauge(&Key::from_name(name), &METADATA)
        };
        Metrics {
            registrations: counter("user_service_registrations_total", "Accounts created.", None),
            login_success: counter("user_service_logins_total", logins, Some("success")),
            login_failure: counter("user_service_logins_total", logins, Some("failure")),
            login_throttled: counter("user_service_logins_total", logins, Some("throttled")),
            login_mfa_required: counter("user_service_logins_total", logins, Some("mfa_required")),
            mfa_failure: counter("user_service_mfa_failures_total", "Wrong second factors.", None),
            refresh_success: counter("user_service_token_refresh_total", refresh, Some("success")),
            refresh_failure: counter("user_service_token_refresh_total", refresh, Some("failure")),
            refresh_reuse: counter("user_service_token_refresh_total", refresh, Some("reuse")),
            password_reset_requests: counter(
                "user_service_password_reset_requests_total",
                "Password-reset requests (whether or not the account exists).",
                None,
            ),
            password_resets: counter(
                "user_service_password_resets_total",
                "Completed password resets.",
                None,
            ),
            api_key_success: counter("user_service_api_key_auth_total", api_key, Some("success")),
            api_key_malformed: counter("user_service_api_key_auth_total", api_key, Some("malformed")),
            api_key_unknown: counter("user_service_api_key_auth_total", api_key, Some("unknown")),
            api_key_refused: counter("user_service_api_key_auth_total", api_key, Some("refused")),
            api_key_usage_dropped: counter(
                "user_service_api_key_usage_dropped_total",
                "API-key usage records dropped because the write buffer was full.",
                None,
            ),
            password_verifications: counter(
                "user_service_password_verifications_total",
                "Passwords checked with Argon2 (logins and re-checks; throttled attempts never are).",
                None,
            ),
            active_sessions: gauge("user_service_active_sessions", "Sessions neither revoked nor expired."),
            mfa_enabled_users: gauge("user_service_mfa_enabled_users", "Users with a second factor enabled."),
            hash_waiting: gauge("user_service_password_hash_waiting", "Requests waiting for a hashing slot."),
            recorder,
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub(crate) fn inc(counter: &Counter) {
        counter.increment(1);
    }

    /// Prometheus text exposition format 0.0.4: this instance's series, then the
    /// libraries'. The gauges of stored state are read now.
    pub(crate) async fn scrape(&self, db: &Db, passwords: &Passwords) -> String {
        match db.metric_counts(crate::now()).await {
            Ok((sessions, mfa_users)) => {
                self.active_sessions.set(sessions as f64);
                self.mfa_enabled_users.set(mfa_users as f64);
            }
            Err(e) => tracing::warn!(error = %e, "counting sessions and MFA users for /metrics"),
        }
        self.hash_waiting.set(passwords.waiting() as f64);
        self.password_verifications.absolute(passwords.verifications());
        let mut body = self.recorder.handle().render();
        if let Some(global) = global() {
            global.run_upkeep();
            body.push_str(&global.render());
        }
        body
    }
}
