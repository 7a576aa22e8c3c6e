//! What the authentication flows need of the service ([`Auth`], built per request by
//! the routes) and who a signed-in request is ([`Caller`]). Sessions, registration, MFA,
//! password resets and mailed links each add their operations to [`Auth`].

use crate::crypto::MasterKey;
use crate::db::Db;
use crate::domain::tokens::AccessTokens;
use crate::mailer::Mailer;
use crate::metrics::Metrics;
use crate::password::Passwords;
use crate::store::User;
use crate::throttle::Throttle;

/// The authenticated caller of a request: a live session's active user, with what the
/// user's roles grant now.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) user: User,
    pub(crate) session_id: String,
    pub(crate) permissions: Vec<String>,
    pub(crate) amr: Vec<String>,
}

/// What the authentication flows need of the service, built per request by the routes.
pub(crate) struct Auth<'a> {
    pub(crate) db: &'a Db,
    pub(crate) passwords: &'a Passwords,
    pub(crate) throttle: &'a Throttle,
    pub(crate) master: &'a MasterKey,
    pub(crate) mailer: &'a Mailer,
    pub(crate) metrics: &'a Metrics,
    pub(crate) verifier: &'a authgate::Verifier,
    pub(crate) tokens: AccessTokens<'a>,
    /// Where mailed links point: `FRONTEND_URL`, else the issuer.
    pub(crate) link_base: &'a str,
    pub(crate) mfa_token_ttl_secs: u64,
    pub(crate) reset_token_ttl_secs: u64,
    pub(crate) email_verification_ttl_secs: u64,
    pub(crate) password_min_chars: usize,
    pub(crate) refresh_token_ttl_secs: u64,
    pub(crate) require_email_verification: bool,
}
