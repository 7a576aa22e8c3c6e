//! The state every handler shares, and the narrow views of it the domain takes.
//!
//! Built by [`crate::startup`]; read by the routes. It imports neither, so the routes
//! and the startup code that mounts them do not import each other.

use std::sync::Arc;

use crate::config::Config;
use crate::crypto::MasterKey;
use crate::db::Db;
use crate::domain::auth::Auth;
use crate::domain::roles::RoleCatalog;
use crate::domain::signing_keys::KeyManager;
use crate::domain::tokens::AccessTokens;
use crate::mailer::Mailer;
use crate::metrics::Metrics;
use crate::password::Passwords;
use crate::throttle::Throttle;
use crate::usage::UsageLog;

/// Everything handlers share.
pub(crate) struct StateInner {
    pub(crate) config: Config,
    pub(crate) issuer: String,
    pub(crate) db: Db,
    pub(crate) keys: std::sync::Arc<KeyManager>,
    pub(crate) verifier: authgate::Verifier,
    pub(crate) passwords: Passwords,
    pub(crate) master: MasterKey,
    pub(crate) metrics: Metrics,
    pub(crate) throttle: Throttle,
    pub(crate) mailer: Mailer,
    pub(crate) usage: UsageLog,
    pub(crate) roles: RoleCatalog,
}

/// The router's state: a cheaply cloneable handle to [`StateInner`].
pub(crate) type AppState = Arc<StateInner>;

impl StateInner {
    /// What the authentication flows need of this state.
    pub(crate) fn auth(&self) -> Auth<'_> {
        let (keys, roles, issuer, c) = (&*self.keys, &self.roles, self.issuer.as_str(), &self.config);
        let tokens =
            AccessTokens { keys, roles, issuer, audience: &c.audience, ttl_secs: c.access_token_ttl_secs };
        let (db, passwords, throttle, master) = (&self.db, &self.passwords, &self.throttle, &self.master);
        let (mailer, metrics, verifier) = (&self.mailer, &self.metrics, &self.verifier);
        Auth {
            db,
            passwords,
            throttle,
            master,
            mailer,
            metrics,
            verifier,
            tokens,
            link_base: c.link_base(&self.issuer),
            mfa_token_ttl_secs: c.mfa_token_ttl_secs,
            reset_token_ttl_secs: c.reset_token_ttl_secs,
            email_verification_ttl_secs: c.email_verification_ttl_secs,
            password_min_chars: c.password_min_chars,
            refresh_token_ttl_secs: c.refresh_token_ttl_secs,
            require_email_verification: c.require_email_verification,
        }
    }
}
