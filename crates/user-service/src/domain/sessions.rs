//! Sessions: logging in (the password step, the second factor), refresh-token rotation,
//! logout, the checks a signed-in request passes (session alive, user active), password
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
//! | a mailed link's request (every one, see [`super::email_links`]) | email, address |
//!
//! The second factor locks for the window after [`SECOND_FACTOR_LIMIT`] failures (audited
//! and mailed to the owner), a challenge after [`MFA_MAX_ATTEMPTS`]. Only a completed login
//! clears the account's counter; an admin unlock or a password reset clears it and the
//! second factor's.

use crate::crypto::{hash_token, new_id, random_token};
use crate::domain::auth::{Auth, Caller};
use crate::domain::error::{DomainError, DomainResult, ErrorKind};
use crate::metrics::Metrics;
use crate::store::{ClientInfo, Session, User};
use crate::throttle::{Attempt, Limit, account_key};
use crate::totp;

/// Wrong codes after which an MFA challenge is locked (I16).
pub(crate) const MFA_MAX_ATTEMPTS: i64 = 5;

/// Wrong second factors per account before the second factor locks for the window.
pub(crate) const SECOND_FACTOR_LIMIT: Limit = Limit { max: 10, window_secs: 3600 };

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

/// The tokens of a session: a new access token and the session's next refresh token.
pub(crate) struct SessionTokens {
    pub(crate) access_token: String,
    pub(crate) expires_in: u64,
    pub(crate) refresh_token: String,
}

/// What a correct password leads to.
pub(crate) enum LoginStep {
    /// Logged in (no second factor).
    Done(SessionTokens),
    /// The second factor is due, with this single-use token.
    Mfa { token: String, expires_in: u64 },
}

impl Auth<'_> {
    /// Counts an attempt on `keys` (429 when one is full).
    async fn begin(&self, keys: &[(String, Limit)]) -> DomainResult<Attempt> {
        self.throttle.begin(keys, crate::now()).await?.map_err(|retry| {
            Metrics::inc(&self.metrics.login_throttled);
            DomainError::too_many_requests(retry)
        })
    }

    /// The password step (`POST /v1/auth/login`): a session, or the second factor due.
    pub(crate) async fn login(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> DomainResult<LoginStep> {
        let key = account_key(email);
        let attempt = self.begin(&self.login_keys(email, client)).await?;
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
            return Err(super::email_verification::not_verified());
        }
        if user.mfa_enabled {
            let token = random_token();
            let now = crate::now();
            let exp = now + self.mfa_token_ttl_secs as i64;
            self.db.insert_mfa_challenge(&hash_token(&token), &user.id, now, exp, client).await?;
            Metrics::inc(&self.metrics.login_mfa_required);
            self.db.audit("login_mfa_required", Some(&user.id), Some(&user.id), client, None).await;
            return Ok(LoginStep::Mfa { token, expires_in: self.mfa_token_ttl_secs });
        }
        self.throttle.counters.clear(&key).await?;
        self.succeeded(&user, client, None).await;
        Ok(LoginStep::Done(self.start_session(&user, vec!["pwd".to_owned()], client).await?))
    }

    /// The second step (`POST /v1/auth/login/mfa`): a session whose `amr` names the method.
    pub(crate) async fn second_factor(
        &self,
        mfa_token: &str,
        code: &str,
        client: &ClientInfo,
    ) -> DomainResult<SessionTokens> {
        let unauthorized =
            |code: &'static str, message: &str| DomainError::new(ErrorKind::Unauthorized, code, message);
        let invalid_token = || unauthorized("invalid_mfa_token", "The MFA token is invalid or expired");
        let locked = || unauthorized("mfa_locked", "Too many wrong codes; log in again");
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
            return Err(unauthorized("invalid_code", "The code is not valid"));
        };
        self.throttle.release(attempt).await?;
        if !self.db.consume_mfa_challenge(&hash, now).await? {
            return Err(invalid_token());
        }
        self.throttle.counters.clear(&account).await?;
        self.succeeded(&user, client, Some(serde_json::json!({"mfa": method}))).await;
        let amr = vec!["pwd".to_owned(), "mfa".to_owned(), method.to_owned()];
        self.start_session(&user, amr, client).await
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

    /// The keys a password counts on: the account of `email`, the address.
    fn login_keys(&self, email: &str, client: &ClientInfo) -> Vec<(String, Limit)> {
        self.throttle.login_keys(&account_key(email), client.ip.as_deref())
    }

    /// The keys a second factor counts on: the account's second factor, the account, the
    /// address.
    fn second_factor_keys(&self, user: &User, client: &ClientInfo) -> Vec<(String, Limit)> {
        let mut keys = vec![(second_factor_key(&user.id), SECOND_FACTOR_LIMIT)];
        keys.extend(self.login_keys(&user.email, client));
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
        let attempt = self.begin(&self.login_keys(&user.email, client)).await?;
        if !self.passwords.verify(password, Some(user.password_hash.clone())).await {
            return Ok(false);
        }
        self.throttle.release(attempt).await?;
        Ok(true)
    }

    /// Spends a refresh token for a new pair within its session (touched). Reuse of
    /// a spent token, or losing a race for it, revokes the session (I08, I09), unless the
    /// token was spent less than [`SUPERSEDED_SECS`] ago: another tab won, and 409
    /// `refresh_superseded` leaves the winner's tokens alone.
    pub(crate) async fn refresh(&self, token: &str, client: &ClientInfo) -> DomainResult<SessionTokens> {
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
        let tokens = self.issue_pair(&user, &session).await?;
        Metrics::inc(&self.metrics.refresh_success);
        Ok(tokens)
    }

    /// Starts a session (a new refresh-token family) and issues its first pair (I12: a
    /// new pair on every login).
    async fn start_session(
        &self,
        user: &User,
        amr: Vec<String>,
        client: &ClientInfo,
    ) -> DomainResult<SessionTokens> {
        let now = crate::now();
        let session = Session {
            id: new_id(),
            user_id: user.id.clone(),
            amr,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            created_at: now,
            last_used_at: now,
            expires_at: now + self.refresh_token_ttl_secs as i64,
            revoked_at: None,
        };
        self.db.create_session(&session).await?;
        self.issue_pair(user, &session).await
    }

    /// Issues an access token and a new refresh token within an existing session.
    async fn issue_pair(&self, user: &User, session: &Session) -> DomainResult<SessionTokens> {
        let refresh_token = random_token();
        let hash = hash_token(&refresh_token);
        self.db.insert_refresh_token(&hash, &session.id, crate::now(), session.expires_at).await?;
        let (access_token, expires_in) = self.tokens.issue(user, &session.id, &session.amr).await?;
        Ok(SessionTokens { access_token, expires_in, refresh_token })
    }

    /// Revokes the session of the refresh token or, failing that, of the bearer access
    /// token; anything unknown or invalid is no error (logout always succeeds).
    pub(crate) async fn logout(
        &self,
        refresh_token: Option<&str>,
        bearer: Option<&str>,
        client: &ClientInfo,
    ) -> DomainResult<()> {
        let now = crate::now();
        let mut session: Option<(String, String)> = None;
        if let Some(token) = refresh_token
            && let Some((sid, _, _)) = self.db.refresh_token(&hash_token(token)).await?
            && let Some(s) = self.db.session_by_id(&sid).await?
        {
            session = Some((s.id, s.user_id));
        }
        if session.is_none()
            && let Some(token) = bearer
            && let Ok(principal) = self.verify(token).await
            && let Some(sid) = principal.session_id()
        {
            session = Some((sid.to_owned(), principal.user_id().to_owned()));
        }
        if let Some((sid, uid)) = session
            && self.db.revoke_session(&sid, "logout", now).await?
        {
            let details = serde_json::json!({"session_id": sid});
            self.db.audit("logout", Some(&uid), Some(&uid), client, Some(details)).await;
        }
        Ok(())
    }

    /// Revokes every session of `user_id`.
    pub(crate) async fn logout_all(&self, user_id: &str, client: &ClientInfo) -> DomainResult<()> {
        let n = self.db.revoke_user_sessions(user_id, None, "logout_all", crate::now()).await?;
        let details = serde_json::json!({"sessions": n});
        self.db.audit("logout_all", Some(user_id), Some(user_id), client, Some(details)).await;
        Ok(())
    }

    /// Verifies an access token of this service with the core crate's verifier, for the
    /// few endpoints where a bearer token is optional and so no `AuthLayer` stands in front.
    pub(crate) async fn verify(&self, token: &str) -> Result<authgate::Principal, authgate::Error> {
        self.verifier
            .verify(token)
            .await
            .inspect_err(|e| tracing::debug!(reason = %e, "access token rejected"))
    }

    /// The caller behind a verified access token: 401 unless its session is still active
    /// and its user enabled. Permissions follow the user's current roles, so logout,
    /// revocation, disabling and demotion apply at once here (other services see them
    /// when the 15-minute token expires).
    pub(crate) async fn caller(&self, principal: &authgate::Principal) -> DomainResult<Caller> {
        let now = crate::now();
        let sid = principal.session_id().ok_or_else(DomainError::invalid_token)?.to_owned();
        let session = self.db.session_by_id(&sid).await?;
        let session_ok = session.as_ref().is_some_and(|s| {
            s.user_id == principal.user_id() && s.revoked_at.is_none() && s.expires_at > now
        });
        if !session_ok {
            tracing::debug!("access token of a revoked or unknown session");
            return Err(DomainError::invalid_token());
        }
        let user =
            self.db.user_by_id(principal.user_id()).await?.filter(User::is_active).ok_or_else(|| {
                tracing::debug!("access token of a missing or disabled user");
                DomainError::invalid_token()
            })?;
        let permissions = self.tokens.roles.permissions_for(&user.roles).await?;
        Ok(Caller { user, session_id: sid, permissions, amr: principal.claims().amr().to_vec() })
    }

    /// Lifts the account's password and second-factor throttling (admin unlock, reset).
    pub(crate) async fn unlock(&self, user: &User) -> DomainResult<()> {
        self.throttle.counters.clear(&account_key(&user.email)).await?;
        self.throttle.counters.clear(&second_factor_key(&user.id)).await?;
        Ok(())
    }
}
