//! Logging in: the password step, the second factor, refresh-token rotation, password
//! re-checks, and the throttling every credential check goes through.
//!
//! # Throttling model
//! Every credential check is counted *before* it runs (see [`crate::throttle`]) and taken
//! back when it succeeds, so what stays counted are failures:
//!
//! | check | counted on |
//! |---|---|
//! | password (login, and re-checks: password change, MFA disable, recovery codes) | account, address |
//! | second factor at login (TOTP or recovery code) | account, address, second factor, challenge |
//! | second factor when disabling MFA | account, address, second factor |
//! | password-reset request (every one, not only failures) | email, address |
//!
//! Limits: account `login_max_failures` per window (5 per 15 minutes, 3 in production),
//! address four times that, second factor [`SECOND_FACTOR_LIMIT`] (10 per hour per
//! account, then locked for the hour: audit event and mail to the owner), challenge
//! [`MFA_MAX_ATTEMPTS`], reset requests [`RESET_PER_EMAIL`] and [`RESET_PER_ADDRESS`]
//! per 15 minutes. The account counter is cleared only by a completed login; an
//! admin unlock or a password reset clears the account and second-factor counters.

use crate::crypto::{MasterKey, hash_token, random_token};
use crate::db::Db;
use crate::domain::error::{DomainError, DomainResult, ErrorKind};
use crate::mailer::Mailer;
use crate::metrics::Metrics;
use crate::password::Passwords;
use crate::startup::StateInner;
use crate::store::{ClientInfo, Session, User};
use crate::throttle::{Attempt, Limit, Throttle, account_key, ip_key};
use crate::totp;

/// Wrong codes after which an MFA challenge is locked (I16).
pub(crate) const MFA_MAX_ATTEMPTS: i64 = 5;

/// Wrong second factors per account before the second factor locks for the window.
pub(crate) const SECOND_FACTOR_LIMIT: Limit = Limit { max: 10, window_secs: 3600 };

/// Reset requests per email, and per client address, before 429.
pub(crate) const RESET_PER_EMAIL: Limit = Limit { max: 3, window_secs: 900 };
pub(crate) const RESET_PER_ADDRESS: Limit = Limit { max: 10, window_secs: 900 };

/// How long after a rotation a reuse of the old refresh token is a lost race, not theft.
const SUPERSEDED_SECS: i64 = 10;

/// 401 `invalid_grant`: an unknown, expired, revoked or reused refresh token.
pub(crate) fn invalid_grant() -> DomainError {
    DomainError::new(ErrorKind::Unauthorized, "invalid_grant", "The refresh token is invalid or expired")
}

/// Counter key of an account's second factor.
fn second_factor_key(user_id: &str) -> String {
    format!("mfa:{user_id}")
}

/// What a correct password leads to.
pub(crate) enum PasswordStep {
    /// Logged in (no second factor).
    Done(User),
    /// The second factor is due, with this single-use token.
    Mfa { token: String, expires_in: u64 },
}

/// The parts of the service state logging in needs.
pub(crate) struct Login<'a> {
    db: &'a Db,
    passwords: &'a Passwords,
    throttle: &'a Throttle,
    master: &'a MasterKey,
    mailer: &'a Mailer,
    metrics: &'a Metrics,
    mfa_token_ttl_secs: u64,
    require_email_verification: bool,
}

impl<'a> Login<'a> {
    pub(crate) fn of(state: &'a StateInner) -> Login<'a> {
        Login {
            db: &state.db,
            passwords: &state.passwords,
            throttle: &state.throttle,
            master: &state.master,
            mailer: &state.mailer,
            metrics: &state.metrics,
            mfa_token_ttl_secs: state.config.mfa_token_ttl_secs,
            require_email_verification: state.config.require_email_verification,
        }
    }

    /// Counts an attempt on `keys` (429 when one is full).
    async fn begin(&self, keys: &[(String, Limit)]) -> DomainResult<Attempt> {
        self.throttle.begin(keys, crate::now()).await?.map_err(|retry| {
            Metrics::inc(&self.metrics.login_throttled);
            DomainError::too_many_requests(retry)
        })
    }

    /// The password step (`POST /v1/auth/login`).
    pub(crate) async fn password(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> DomainResult<PasswordStep> {
        let key = account_key(email);
        let attempt = self.begin(&self.throttle.login_keys(&key, client.ip.as_deref())).await?;
        let user = self.db.user_by_email(email).await?;
        let ok = self.passwords.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
        let user = match user {
            Some(user) if ok => user,
            user => {
                Metrics::inc(&self.metrics.login_failure);
                let uid = user.as_ref().map(|u| u.id.as_str());
                self.db.audit("login_failed", uid, None, client, None).await;
                if attempt.filled(&key) {
                    self.db.audit("account_locked", uid, None, client, None).await;
                }
                return Err(DomainError::invalid_credentials());
            }
        };
        // A right password is no failure, but the account's earlier failures stay
        // counted until the whole login succeeds.
        self.throttle.release(attempt).await?;
        if !user.is_active() {
            let details = serde_json::json!({"reason": "disabled"});
            self.db.audit("login_failed", Some(&user.id), None, client, Some(details)).await;
            return Err(DomainError::forbidden("account_disabled", "This account is disabled"));
        }
        // Only a right password learns this, so the answer leaks nothing to a guesser.
        if self.require_email_verification && !user.email_verified {
            let details = serde_json::json!({"reason": "email_not_verified"});
            self.db.audit("login_failed", Some(&user.id), None, client, Some(details)).await;
            return Err(crate::email_verification::not_verified());
        }
        if user.mfa_enabled {
            let token = random_token();
            let now = crate::now();
            let exp = now + self.mfa_token_ttl_secs as i64;
            self.db.insert_mfa_challenge(&hash_token(&token), &user.id, now, exp, client).await?;
            Metrics::inc(&self.metrics.login_mfa_required);
            self.db.audit("login_mfa_required", Some(&user.id), Some(&user.id), client, None).await;
            return Ok(PasswordStep::Mfa { token, expires_in: self.mfa_token_ttl_secs });
        }
        self.throttle.counters.clear(&key).await?;
        self.succeeded(&user, client, None).await;
        Ok(PasswordStep::Done(user))
    }

    /// The second step (`POST /v1/auth/login/mfa`): the user and the `amr` of the method.
    pub(crate) async fn second_factor(
        &self,
        mfa_token: &str,
        code: &str,
        client: &ClientInfo,
    ) -> DomainResult<(User, &'static str)> {
        let invalid_token = || {
            DomainError::new(
                ErrorKind::Unauthorized,
                "invalid_mfa_token",
                "The MFA token is invalid or expired",
            )
        };
        let locked =
            || DomainError::new(ErrorKind::Unauthorized, "mfa_locked", "Too many wrong codes; log in again");
        let now = crate::now();
        let hash = hash_token(mfa_token);
        let challenge = self.db.mfa_challenge(&hash).await?.ok_or_else(invalid_token)?;
        if challenge.consumed_at.is_some() || challenge.expires_at <= now {
            return Err(invalid_token());
        }
        if challenge.attempts >= MFA_MAX_ATTEMPTS {
            return Err(locked());
        }
        let user = self
            .db
            .user_by_id(&challenge.user_id)
            .await?
            .filter(User::is_active)
            .ok_or_else(invalid_token)?;
        let (account, factor) = (account_key(&user.email), second_factor_key(&user.id));
        let attempt = self.begin(&self.second_factor_keys(&user, client)).await?;
        // The challenge's own count, also taken before the code is checked.
        let Some(attempts) = self.db.try_mfa_attempt(&hash, MFA_MAX_ATTEMPTS, now).await? else {
            self.throttle.release(attempt).await?;
            return Err(locked());
        };
        let Some(method) = self.check_second_factor(&user, code, client).await? else {
            Metrics::inc(&self.metrics.mfa_failure);
            self.db.audit("mfa_failed", Some(&user.id), None, client, None).await;
            if attempts >= MFA_MAX_ATTEMPTS {
                self.db.audit("mfa_locked", Some(&user.id), None, client, None).await;
            }
            if attempt.filled(&factor) {
                self.second_factor_locked(&user, client).await;
            }
            return Err(DomainError::new(ErrorKind::Unauthorized, "invalid_code", "The code is not valid"));
        };
        self.throttle.release(attempt).await?;
        if !self.db.consume_mfa_challenge(&hash, now).await? {
            return Err(invalid_token());
        }
        self.throttle.counters.clear(&account).await?;
        self.succeeded(&user, client, Some(serde_json::json!({"mfa": method}))).await;
        Ok((user, method))
    }

    async fn succeeded(&self, user: &User, client: &ClientInfo, details: Option<serde_json::Value>) {
        Metrics::inc(&self.metrics.login_success);
        self.db.audit("login_succeeded", Some(&user.id), Some(&user.id), client, details).await;
    }

    /// Audits the lock and tells the owner (a mail failure is logged, not raised).
    async fn second_factor_locked(&self, user: &User, client: &ClientInfo) {
        self.db.audit("second_factor_locked", Some(&user.id), None, client, None).await;
        let body = format!(
            "{} wrong second-factor codes were entered for your account within an hour, so codes are \
             refused for the next hour.\n\nIf it was not you, someone knows your password: reset it now \
             (that also lifts the lock), or ask an administrator to unlock your account.",
            SECOND_FACTOR_LIMIT.max
        );
        if let Err(e) = self.mailer.send(&user.email, "Your second factor is locked", &body).await {
            tracing::error!(error = %e, "mailing the second-factor lock failed");
        }
    }

    /// The keys a second factor counts on: the account's second factor, the account, the
    /// address.
    fn second_factor_keys(&self, user: &User, client: &ClientInfo) -> Vec<(String, Limit)> {
        let mut keys = vec![(second_factor_key(&user.id), SECOND_FACTOR_LIMIT)];
        keys.extend(self.throttle.login_keys(&account_key(&user.email), client.ip.as_deref()));
        keys
    }

    /// Re-checks a signed-in user's second factor (disabling MFA), counted as at login,
    /// so a stolen session plus the password buys no more guesses. `false` when wrong.
    pub(crate) async fn recheck_second_factor(
        &self,
        user: &User,
        code: &str,
        client: &ClientInfo,
    ) -> DomainResult<bool> {
        let attempt = self.begin(&self.second_factor_keys(user, client)).await?;
        if self.check_second_factor(user, code, client).await?.is_none() {
            if attempt.filled(&second_factor_key(&user.id)) {
                self.second_factor_locked(user, client).await;
            }
            return Ok(false);
        }
        self.throttle.release(attempt).await?;
        Ok(true)
    }

    /// Checks a TOTP code (accepting each step once, I15) or a recovery code (single use,
    /// I19). Returns the `amr` value of the method that matched. Not throttled: callers
    /// count the attempt first.
    async fn check_second_factor(
        &self,
        user: &User,
        code: &str,
        client: &ClientInfo,
    ) -> DomainResult<Option<&'static str>> {
        let now = crate::now();
        if totp::looks_like_recovery_code(code) {
            let used = self.db.use_recovery_code(&user.id, &totp::recovery_code_hash(code), now).await?;
            if used {
                self.db.audit("recovery_code_used", Some(&user.id), Some(&user.id), client, None).await;
            }
            return Ok(used.then_some("recovery_code"));
        }
        let Some(enc) = user.totp_secret_enc.as_deref() else { return Ok(None) };
        let secret = self.master.decrypt(enc, &user.id).map_err(DomainError::internal)?;
        let Some(step) = totp::matching_step(&secret, code, now) else { return Ok(None) };
        if !self.db.advance_totp_step(&user.id, step).await? {
            self.db.audit("totp_replay", Some(&user.id), None, client, None).await;
            return Ok(None);
        }
        Ok(Some("otp"))
    }

    /// Re-checks a signed-in user's password (password change, MFA disable, new recovery
    /// codes), counted on the login keys so a stolen session cannot guess it faster than
    /// a login could. `false` when it is wrong.
    pub(crate) async fn recheck_password(
        &self,
        user: &User,
        password: String,
        client: &ClientInfo,
    ) -> DomainResult<bool> {
        let keys = self.throttle.login_keys(&account_key(&user.email), client.ip.as_deref());
        let attempt = self.begin(&keys).await?;
        if !self.passwords.verify(password, Some(user.password_hash.clone())).await {
            return Ok(false);
        }
        self.throttle.release(attempt).await?;
        Ok(true)
    }

    /// Counts a password-reset request on its email and address (429 when either is
    /// full). Unknown emails count alike, so the answer says nothing about accounts.
    pub(crate) async fn count_reset_request(&self, email: &str, client: &ClientInfo) -> DomainResult<()> {
        let mut keys = vec![(format!("reset:{}", account_key(email)), RESET_PER_EMAIL)];
        keys.extend(client.ip.as_deref().map(|ip| (format!("reset:{}", ip_key(ip)), RESET_PER_ADDRESS)));
        // Every request stays counted: a request is the cost, not a failure.
        match self.throttle.begin(&keys, crate::now()).await? {
            Ok(_counted) => Ok(()),
            Err(retry) => Err(DomainError::too_many_requests(retry)),
        }
    }

    /// Spends a refresh token: its session (touched) and user, for a new pair. Reuse of
    /// a spent token, or losing a race for it, revokes the session (I08, I09), unless the
    /// token was spent less than [`SUPERSEDED_SECS`] ago: another tab won, and 409
    /// `refresh_superseded` leaves the winner's tokens alone.
    pub(crate) async fn refresh(&self, token: &str, client: &ClientInfo) -> DomainResult<(User, Session)> {
        let fail = || {
            Metrics::inc(&self.metrics.refresh_failure);
            invalid_grant()
        };
        let now = crate::now();
        let hash = hash_token(token);
        let Some((session_id, expires_at, used_at)) = self.db.refresh_token(&hash).await? else {
            return Err(fail());
        };
        let session = self.db.session_by_id(&session_id).await?.ok_or_else(invalid_grant)?;
        if used_at.is_some() || !self.db.use_refresh_token(&hash, now).await? {
            if session.revoked_at.is_none() && now - used_at.unwrap_or(now) < SUPERSEDED_SECS {
                return Err(DomainError::conflict(
                    "refresh_superseded",
                    "Another request has just rotated this refresh token; use the new one",
                ));
            }
            Metrics::inc(&self.metrics.refresh_reuse);
            self.db.revoke_session(&session_id, "refresh_token_reuse", now).await?;
            let details = serde_json::json!({"session_id": session_id});
            self.db.audit("refresh_token_reuse", Some(&session.user_id), None, client, Some(details)).await;
            return Err(invalid_grant());
        }
        if expires_at <= now || session.revoked_at.is_some() || session.expires_at <= now {
            return Err(fail());
        }
        let user = self.db.user_by_id(&session.user_id).await?.filter(User::is_active).ok_or_else(fail)?;
        self.db.touch_session(&session.id, now).await?;
        Ok((user, session))
    }

    /// Lifts the account's password and second-factor throttling (admin unlock, reset).
    pub(crate) async fn unlock(&self, user: &User) -> DomainResult<()> {
        self.throttle.counters.clear(&account_key(&user.email)).await?;
        self.throttle.counters.clear(&second_factor_key(&user.id)).await?;
        Ok(())
    }
}
