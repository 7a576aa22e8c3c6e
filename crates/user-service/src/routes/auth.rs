//! `/v1/auth/*`: register, login (+ MFA step), refresh, logout, password forgot/reset.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::{BearerErrors, BodyErrors, ErrorBody};
use super::users::UserView;
use super::{
    Client, audit, clear_cookie, refresh_cookie, start_session, token_response, user_json, valid_email,
};
use crate::auth::{CurrentUser, bearer_token_from_headers, verify_access_token};
use crate::crypto::{hash_token, random_token};
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::metrics::Metrics;
use crate::password::check_policy;
use crate::startup::AppState;
use crate::store::User;
use crate::throttle::account_key;
use crate::totp;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(register, login, login_mfa, refresh, logout, logout_all, forgot_password, reset_password))]
pub(crate) struct Api;

/// Wrong codes after which an MFA challenge is locked (I16).
pub(crate) const MFA_MAX_ATTEMPTS: i64 = 5;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/login/mfa", post(login_mfa))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/logout-all", post(logout_all))
        .route("/v1/auth/password/forgot", post(forgot_password))
        .route("/v1/auth/password/reset", post(reset_password))
}

/// Unknown fields (such as `roles`) are ignored (I25).
#[derive(Deserialize, ToSchema)]
struct RegisterBody {
    #[schema(example = "ada@example.com")]
    email: String,
    password: String,
    name: Option<String>,
}

/// Creates an account with the `user` role (no session: log in next).
#[utoipa::path(
    post,
    path = "/v1/auth/register",
    tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Created", body = UserView),
        BodyErrors,
        (status = 409, description = "The email is taken (`email_taken`)", body = ErrorBody),
    ),
)]
async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<Response> {
    let email = body.email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(ApiError::bad_request("invalid_email", "The email address is not valid"));
    }
    let name = body.name.as_deref().unwrap_or_default().trim().to_owned();
    if name.chars().count() > 100 {
        return Err(ApiError::bad_request("invalid_name", "The name must have at most 100 characters"));
    }
    check_policy(&body.password, state.config.password_min_chars)
        .map_err(|e| ApiError::bad_request("weak_password", e.message()))?;
    let hash = state.passwords.hash(body.password).await.map_err(ApiError::internal)?;
    let now = crate::now();
    let id = crate::crypto::new_id();
    let roles = vec!["user".to_owned()];
    if !state.db.insert_user(&id, &email, &name, &hash, &roles, now).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "email_taken",
            "An account with this email already exists",
        ));
    }
    Metrics::inc(&state.metrics.registrations);
    audit(&state, "user_registered", Some(&id), Some(&id), &client, None).await;
    let user = state.db.user_by_id(&id).await?.ok_or_else(|| ApiError::internal("user vanished"))?;
    let permissions = state.roles.permissions_for(&user.roles).await?;
    Ok((StatusCode::CREATED, Json(user_json(&user, &permissions))).into_response())
}

#[derive(Deserialize, ToSchema)]
struct LoginBody {
    #[schema(example = "ada@example.com")]
    email: String,
    password: String,
}

/// The second step a login with MFA needs (`POST /v1/auth/login/mfa`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct MfaRequired {
    /// Always `true`.
    mfa_required: bool,
    /// Single use; send it with a TOTP or recovery code.
    mfa_token: String,
    /// Seconds.
    expires_in: u64,
}

/// A token pair, or the MFA step.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "documents the two bodies of a login")]
enum LoginOutcome {
    Tokens(super::TokenPair),
    Mfa(MfaRequired),
}

/// Password login. Sets the `refresh_token` cookie (`Path=/v1/auth`, `HttpOnly`) with
/// the pair, or asks for the second factor.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "A token pair, or `mfa_required`", body = LoginOutcome),
        BodyErrors,
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = ErrorBody),
        (status = 403, description = "The account is disabled (`account_disabled`)", body = ErrorBody),
        (status = 429, description = "Too many failures (`Retry-After`)", body = ErrorBody),
    ),
)]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let email = body.email.trim().to_lowercase();
    let now = crate::now();
    let key = account_key(&email);
    let ip = client.ip.as_deref();
    if let Some(retry) = state.throttle.check(&key, ip, now).await? {
        Metrics::inc(&state.metrics.login_throttled);
        return Err(ApiError::too_many_requests(retry));
    }
    let user = state.db.user_by_email(&email).await?;
    let ok = state.passwords.verify(body.password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let user = match user {
        Some(user) if ok => user,
        _ => {
            Metrics::inc(&state.metrics.login_failure);
            let uid = user.as_ref().map(|u| u.id.as_str());
            audit(&state, "login_failed", uid, None, &client, None).await;
            if state.throttle.record_failure(&key, ip, now).await? {
                audit(&state, "account_locked", uid, None, &client, None).await;
            }
            return Err(ApiError::invalid_credentials());
        }
    };
    if !user.is_active() {
        audit(
            &state,
            "login_failed",
            Some(&user.id),
            None,
            &client,
            Some(serde_json::json!({"reason": "disabled"})),
        )
        .await;
        return Err(ApiError::new(StatusCode::FORBIDDEN, "account_disabled", "This account is disabled"));
    }
    state.throttle.counters.clear(&key).await?;
    if user.mfa_enabled {
        let token = random_token();
        let exp = now + state.config.mfa_token_ttl_secs as i64;
        state.db.insert_mfa_challenge(&hash_token(&token), &user.id, now, exp, &client).await?;
        Metrics::inc(&state.metrics.login_mfa_required);
        audit(&state, "login_mfa_required", Some(&user.id), Some(&user.id), &client, None).await;
        let body = serde_json::json!({
            "mfa_required": true,
            "mfa_token": token,
            "expires_in": state.config.mfa_token_ttl_secs,
        });
        return Ok(Json(body).into_response());
    }
    let pair = start_session(&state, &user, vec!["pwd".to_owned()], &client).await?;
    Metrics::inc(&state.metrics.login_success);
    audit(&state, "login_succeeded", Some(&user.id), Some(&user.id), &client, None).await;
    Ok(token_response(&state, pair))
}

#[derive(Deserialize, ToSchema)]
struct MfaBody {
    mfa_token: String,
    code: String,
}

/// The second login step: a TOTP code or a recovery code.
#[utoipa::path(
    post,
    path = "/v1/auth/login/mfa",
    tag = "auth",
    request_body = MfaBody,
    responses(
        (status = 200, description = "A token pair (and the refresh cookie)", body = super::TokenPair),
        BodyErrors,
        (status = 401, description = "Invalid MFA token or code, or locked (`invalid_mfa_token`, \
            `invalid_code`, `mfa_locked`)", body = ErrorBody),
    ),
)]
async fn login_mfa(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<MfaBody>,
) -> ApiResult<Response> {
    let invalid_token = || {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_mfa_token", "The MFA token is invalid or expired")
    };
    let now = crate::now();
    let hash = hash_token(&body.mfa_token);
    let challenge = state.db.mfa_challenge(&hash).await?.ok_or_else(invalid_token)?;
    if challenge.consumed_at.is_some() || challenge.expires_at <= now {
        return Err(invalid_token());
    }
    if challenge.attempts >= MFA_MAX_ATTEMPTS {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "mfa_locked",
            "Too many wrong codes; log in again",
        ));
    }
    let user =
        state.db.user_by_id(&challenge.user_id).await?.filter(User::is_active).ok_or_else(invalid_token)?;
    let method = verify_second_factor(&state, &user, &body.code, &client).await?;
    let Some(method) = method else {
        Metrics::inc(&state.metrics.mfa_failure);
        let attempts = state.db.fail_mfa_challenge(&hash).await?;
        audit(&state, "mfa_failed", Some(&user.id), None, &client, None).await;
        if attempts >= MFA_MAX_ATTEMPTS {
            audit(&state, "mfa_locked", Some(&user.id), None, &client, None).await;
        }
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_code", "The code is not valid"));
    };
    if !state.db.consume_mfa_challenge(&hash, MFA_MAX_ATTEMPTS, now).await? {
        return Err(invalid_token());
    }
    let pair =
        start_session(&state, &user, vec!["pwd".to_owned(), "mfa".to_owned(), method.to_owned()], &client)
            .await?;
    Metrics::inc(&state.metrics.login_success);
    audit(
        &state,
        "login_succeeded",
        Some(&user.id),
        Some(&user.id),
        &client,
        Some(serde_json::json!({"mfa": method})),
    )
    .await;
    Ok(token_response(&state, pair))
}

/// Checks a TOTP code (accepting each step once, I15) or a recovery code (single use,
/// I19). Returns the `amr` value of the method that matched.
pub(crate) async fn verify_second_factor(
    state: &AppState,
    user: &User,
    code: &str,
    client: &crate::store::ClientInfo,
) -> ApiResult<Option<&'static str>> {
    let now = crate::now();
    if totp::looks_like_recovery_code(code) {
        let used = state.db.use_recovery_code(&user.id, &totp::recovery_code_hash(code), now).await?;
        if used {
            audit(state, "recovery_code_used", Some(&user.id), Some(&user.id), client, None).await;
        }
        return Ok(used.then_some("recovery_code"));
    }
    let Some(enc) = user.totp_secret_enc.as_deref() else { return Ok(None) };
    let secret = state.master.decrypt(enc, &user.id).map_err(ApiError::internal)?;
    let Some(step) = totp::matching_step(&secret, code, now) else { return Ok(None) };
    if !state.db.advance_totp_step(&user.id, step).await? {
        audit(state, "totp_replay", Some(&user.id), None, client, None).await;
        return Ok(None);
    }
    Ok(Some("otp"))
}

#[derive(Deserialize, Default, ToSchema)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// The refresh token from a JSON body or, failing that, the cookie.
fn presented_refresh_token(headers: &HeaderMap, body: &Bytes) -> Option<String> {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<RefreshBody>(body).ok().and_then(|b| b.refresh_token)
    };
    from_body.filter(|t| !t.is_empty()).or_else(|| refresh_cookie(headers))
}

/// Rotates the refresh token (from the body or the cookie): a new pair, the old token
/// spent. Reusing a spent token revokes the whole session.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "auth",
    request_body(content = Option<RefreshBody>, description = "Optional: the cookie works too"),
    responses(
        (status = 200, description = "A new token pair", body = super::TokenPair),
        (status = 401, description = "Invalid, expired or reused refresh token (`invalid_grant`)",
            body = ErrorBody),
    ),
)]
async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let invalid = || {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_grant", "The refresh token is invalid or expired")
    };
    let fail = |state: &AppState| {
        Metrics::inc(&state.metrics.refresh_failure);
        invalid()
    };
    let token = presented_refresh_token(&headers, &body).ok_or_else(invalid)?;
    let now = crate::now();
    let hash = hash_token(&token);
    let Some((session_id, expires_at, used_at)) = state.db.refresh_token(&hash).await? else {
        return Err(fail(&state));
    };
    let session = state.db.session_by_id(&session_id).await?.ok_or_else(invalid)?;
    // Reuse of a rotated token, or losing a race for the same token: the family is
    // revoked (I08, I09); the winner of a race gets the only new pair.
    if used_at.is_some() || !state.db.use_refresh_token(&hash, now).await? {
        Metrics::inc(&state.metrics.refresh_reuse);
        state.db.revoke_session(&session_id, "refresh_token_reuse", now).await?;
        audit(
            &state,
            "refresh_token_reuse",
            Some(&session.user_id),
            None,
            &client,
            Some(serde_json::json!({"session_id": session_id})),
        )
        .await;
        return Err(invalid());
    }
    if expires_at <= now || session.revoked_at.is_some() || session.expires_at <= now {
        return Err(fail(&state));
    }
    let user =
        state.db.user_by_id(&session.user_id).await?.filter(User::is_active).ok_or_else(|| fail(&state))?;
    state.db.touch_session(&session.id, now).await?;
    let pair = super::issue_pair(&state, &user, &session).await?;
    Metrics::inc(&state.metrics.refresh_success);
    Ok(token_response(&state, pair))
}

/// Revokes the session of the presented refresh token (body or cookie) or, failing that,
/// of the bearer access token. Always 204, and clears the cookie.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    request_body(content = Option<RefreshBody>, description = "Optional: the cookie or a bearer token works too"),
    security((), ("bearer" = [])),
    responses((status = 204, description = "Logged out (always), cookie cleared")),
)]
async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let now = crate::now();
    let mut session: Option<(String, String)> = None;
    if let Some(token) = presented_refresh_token(&headers, &body)
        && let Some((sid, _, _)) = state.db.refresh_token(&hash_token(&token)).await?
        && let Some(s) = state.db.session_by_id(&sid).await?
    {
        session = Some((s.id, s.user_id));
    }
    if session.is_none()
        && let Some(token) = bearer_token_from_headers(&headers)
        && let Ok(principal) = verify_access_token(&state, token).await
        && let Some(sid) = principal.session_id()
    {
        session = Some((sid.to_owned(), principal.user_id().to_owned()));
    }
    if let Some((sid, uid)) = session
        && state.db.revoke_session(&sid, "logout", now).await?
    {
        let details = serde_json::json!({"session_id": sid});
        audit(&state, "logout", Some(&uid), Some(&uid), &client, Some(details)).await;
    }
    Ok((StatusCode::NO_CONTENT, [clear_cookie(&state)]).into_response())
}

/// Revokes every session of the caller.
#[utoipa::path(
    post,
    path = "/v1/auth/logout-all",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 204, description = "Every session revoked, cookie cleared"), BearerErrors),
)]
async fn logout_all(
    State(state): State<AppState>,
    Client(client): Client,
    me: CurrentUser,
) -> ApiResult<Response> {
    let n = state.db.revoke_user_sessions(&me.user.id, None, "logout_all", crate::now()).await?;
    audit(
        &state,
        "logout_all",
        Some(&me.user.id),
        Some(&me.user.id),
        &client,
        Some(serde_json::json!({"sessions": n})),
    )
    .await;
    Ok((StatusCode::NO_CONTENT, [clear_cookie(&state)]).into_response())
}

#[derive(Deserialize, ToSchema)]
struct ForgotBody {
    email: String,
}

/// The answer to a reset request, the same whether the account exists or not.
#[derive(Serialize, ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct Accepted {
    #[schema(example = "accepted")]
    status: String,
    message: String,
}

/// Always 202 with the same body; the lookup and mailing happen after the response, so
/// neither the answer nor its timing says whether the account exists (I05).
#[utoipa::path(
    post,
    path = "/v1/auth/password/forgot",
    tag = "auth",
    request_body = ForgotBody,
    responses((status = 202, description = "Accepted (whether or not the account exists)", body = Accepted),
        BodyErrors),
)]
async fn forgot_password(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ForgotBody>,
) -> ApiResult<Response> {
    Metrics::inc(&state.metrics.password_reset_requests);
    let email = body.email.trim().to_lowercase();
    let task_state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = send_reset_link(&task_state, &email, &client).await {
            tracing::error!(error = %e.to_string(), "sending the reset link failed");
        }
    });
    let body = serde_json::json!({
        "status": "accepted",
        "message": "If an account exists for this address, a reset link has been sent",
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

async fn send_reset_link(
    state: &AppState,
    email: &str,
    client: &crate::store::ClientInfo,
) -> Result<(), crate::mailer::MailError> {
    let Some(user) = state.db.user_by_email(email).await?.filter(User::is_active) else { return Ok(()) };
    let now = crate::now();
    let token = random_token();
    let exp = now + state.config.reset_token_ttl_secs as i64;
    state.db.replace_reset_token(&user.id, &hash_token(&token), now, exp).await?;
    // The link opens the web app's page (FRONTEND_URL), never the request's Host (I22).
    let link = format!("{}/reset-password?token={token}", state.config.link_base(&state.issuer));
    let body = format!(
        "Someone asked to reset the password of your account.\n\nOpen this link within {} minutes to choose a new \
         password:\n{link}\n\nIf it was not you, ignore this message.",
        state.config.reset_token_ttl_secs / 60
    );
    state.mailer.send(&user.email, "Reset your password", &body).await?;
    audit(state, "password_reset_requested", Some(&user.id), None, client, None).await;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
struct ResetBody {
    token: String,
    new_password: String,
}

/// The answer to a successful reset.
#[derive(Serialize, ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct ResetDone {
    #[schema(example = "password_reset")]
    status: String,
}

/// Sets a new password with a reset token: single use, expiring, revokes every session,
/// does not log in (I21).
#[utoipa::path(
    post,
    path = "/v1/auth/password/reset",
    tag = "auth",
    request_body = ResetBody,
    responses(
        (status = 200, description = "Password changed; every session revoked", body = ResetDone),
        BodyErrors,
    ),
)]
async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetBody>,
) -> ApiResult<Response> {
    check_policy(&body.new_password, state.config.password_min_chars)
        .map_err(|e| ApiError::bad_request("weak_password", e.message()))?;
    let now = crate::now();
    let Some(user_id) = state.db.consume_reset_token(&hash_token(&body.token), now).await? else {
        return Err(ApiError::bad_request(
            "invalid_reset_token",
            "The reset token is invalid, used or expired",
        ));
    };
    let user =
        state.db.user_by_id(&user_id).await?.ok_or_else(|| ApiError::internal("reset for a missing user"))?;
    let hash = state.passwords.hash(body.new_password).await.map_err(ApiError::internal)?;
    state.db.update_password(&user.id, &hash, now).await?;
    state.db.revoke_user_sessions(&user.id, None, "password_reset", now).await?;
    state.throttle.counters.clear(&account_key(&user.email)).await?;
    Metrics::inc(&state.metrics.password_resets);
    audit(&state, "password_reset", Some(&user.id), Some(&user.id), &client, None).await;
    Ok(Json(serde_json::json!({ "status": "password_reset" })).into_response())
}
