//! Prometheus counters, rendered by `GET /metrics` (text format 0.0.4).

use std::sync::atomic::{AtomicU64, Ordering};

/// Named counters; names follow Prometheus conventions.
#[derive(Default, Debug)]
pub(crate) struct Metrics {
    pub(crate) registrations: AtomicU64,
    pub(crate) login_success: AtomicU64,
    pub(crate) login_failure: AtomicU64,
    pub(crate) login_throttled: AtomicU64,
    pub(crate) login_mfa_required: AtomicU64,
    pub(crate) mfa_failure: AtomicU64,
    pub(crate) refresh_success: AtomicU64,
    pub(crate) refresh_failure: AtomicU64,
    pub(crate) refresh_reuse: AtomicU64,
    pub(crate) password_resets: AtomicU64,
    pub(crate) api_key_success: AtomicU64,
    pub(crate) api_key_malformed: AtomicU64,
    pub(crate) api_key_unknown: AtomicU64,
    pub(crate) api_key_refused: AtomicU64,
    pub(crate) api_key_usage_dropped: AtomicU64,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn render(&self, hash_waiting: u64, verifications: u64) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, series: &[(&str, u64)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
            for (labels, value) in series {
                out.push_str(&format!("{name}{labels} {value}\n"));
            }
        };
        counter("user_service_registrations_total", "Accounts created.", &[("", g(&self.registrations))]);
        counter(
            "user_service_logins_total",
            "Password logins by outcome.",
            &[
                ("{outcome=\"success\"}", g(&self.login_success)),
                ("{outcome=\"failure\"}", g(&self.login_failure)),
                ("{outcome=\"throttled\"}", g(&self.login_throttled)),
                ("{outcome=\"mfa_required\"}", g(&self.login_mfa_required)),
            ],
        );
        counter(
            "user_service_password_verifications_total",
            "Passwords checked with Argon2 (logins and re-checks; throttled attempts never are).",
            &[("", verifications)],
        );
        counter("user_service_mfa_failures_total", "Wrong MFA codes.", &[("", g(&self.mfa_failure))]);
        counter(
            "user_service_refresh_total",
            "Refresh-token exchanges by outcome.",
            &[
                ("{outcome=\"success\"}", g(&self.refresh_success)),
                ("{outcome=\"failure\"}", g(&self.refresh_failure)),
                ("{outcome=\"reuse\"}", g(&self.refresh_reuse)),
            ],
        );
        counter(
            "user_service_password_resets_total",
            "Completed password resets.",
            &[("", g(&self.password_resets))],
        );
        counter(
            "user_service_api_key_auth_total",
            "API-key authentications by outcome (malformed: refused before any lookup).",
            &[
                ("{outcome=\"success\"}", g(&self.api_key_success)),
                ("{outcome=\"malformed\"}", g(&self.api_key_malformed)),
                ("{outcome=\"unknown\"}", g(&self.api_key_unknown)),
                ("{outcome=\"refused\"}", g(&self.api_key_refused)),
            ],
        );
        counter(
            "user_service_api_key_usage_dropped_total",
            "API-key usage records dropped because the write buffer was full.",
            &[("", g(&self.api_key_usage_dropped))],
        );
        out.push_str(&format!(
            "# HELP user_service_password_hash_waiting Requests waiting for a hashing slot.\n\
             # TYPE user_service_password_hash_waiting gauge\nuser_service_password_hash_waiting {hash_waiting}\n"
        ));
        out
    }
}
