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
use super::views::UserView;
use super::{RefreshFlow, RequestMeta, clear_cookie, refresh_cookie, start_session, token_response};
use crate::auth::{Caller, bearer_token_from_headers, verify_access_token};
use crate::crypto::{hash_token, random_token};
use crate::domain::audit::record;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::users::valid_email;
use crate::email_verification;
use crate::login::{Login, PasswordStep};
use crate::metrics::Metrics;
use crate::password::check_policy;
use crate::routes::error::ApiJson;
use crate::startup::AppState;
use crate::store::User;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register,
    login,
    login_mfa,
    refresh,
    logout,
    logout_all,
    forgot_password,
    reset_password,
    verify_email,
    resend_verification
))]
pub(crate) struct Api;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let signed_in =
        Router::new().route("/v1/auth/logout-all", post(logout_all)).route_layer(super::auth_layer(state));
    Router::new()
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/login/mfa", post(login_mfa))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/password/forgot", post(forgot_password))
        .route("/v1/auth/password/reset", post(reset_password))
        .route("/v1/auth/email/verify", post(verify_email))
        .route("/v1/auth/email/verify/resend", post(resend_verification))
        .merge(signed_in)
}

/// Unknown fields (such as `roles`) are ignored (I25).
#[derive(Deserialize, ToSchema)]
struct RegisterBody {
    #[schema(example = "ada@example.com")]
    email: String,
    password: String,
    name: Option<String>,
}

/// Creates an account with the `user` role (no session: log in next) and mails a link
/// to verify the address. The email is kept as entered (trimmed) but compared on its
/// look-alike key (NFKC, case folding, UTS #39 confusables): `ａlice@` or `alıce@` beside
/// `alice@` is taken.
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
    RequestMeta(client): RequestMeta,
    ApiJson(body): ApiJson<RegisterBody>,
) -> DomainResult<Response> {
    let email = body.email.trim();
    if !valid_email(email) {
        return Err(DomainError::bad_request("invalid_email", "The email address is not valid"));
    }
    let name = crate::domain::users::checked_name(body.name.as_deref().unwrap_or_default())?;
    check_policy(&body.password, state.config.password_min_chars)
        .map_err(|e| DomainError::bad_request("weak_password", e.message()))?;
    let hash = state.passwords.hash(body.password).await.map_err(DomainError::internal)?;
    let now = crate::now();
    let id = crate::crypto::new_id();
    let roles = vec!["user".to_owned()];
    let new_user = crate::store::NewUser {
        id: &id,
        email,
        name: &name,
        password_hash: &hash,
        roles: &roles,
        verified_at: None,
    };
    if !state.db.insert_user(&new_user, now).await? {
        return Err(DomainError::conflict("email_taken", "An account with this email already exists"));
    }
    Metrics::inc(&state.metrics.registrations);
    record(&state.db, "user_registered", Some(&id), Some(&id), &client, None).await;
    let user = state.db.user_by_id(&id).await?.ok_or_else(|| DomainError::internal("user vanished"))?;
    email_verification::send_link_later(&state, user.clone(), client);
    let permissions = state.roles.permissions_for(&user.roles).await?;
    Ok((StatusCode::CREATED, Json(UserView::new(&user, &permissions))).into_response())
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
        (status = 403, description = "The account is disabled (`account_disabled`), or its email is \
            not verified while `REQUIRE_EMAIL_VERIFICATION` is on (`email_not_verified`); both only after \
            a right password", body = ErrorBody),
        (status = 429, description = "Too many failures (`Retry-After`)", body = ErrorBody),
    ),
)]
async fn login(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    ApiJson(body): ApiJson<LoginBody>,
) -> DomainResult<Response> {
    let email = body.email.trim();
    match Login::of(&state).password(email, body.password, &client).await? {
        PasswordStep::Done(user) => {
            let pair = start_session(&state, &user, vec!["pwd".to_owned()], &client).await?;
            Ok(token_response(&state, pair, RefreshFlow::Body))
        }
        PasswordStep::Mfa { token, expires_in } => {
            let body =
                serde_json::json!({ "mfa_required": true, "mfa_token": token, "expires_in": expires_in });
            let mut response = Json(body).into_response();
            super::no_store(response.headers_mut());
            Ok(response)
        }
    }
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
        (status = 429, description = "Too many failures on the account, the address or the second \
            factor (`Retry-After`)", body = ErrorBody),
    ),
)]
async fn login_mfa(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    ApiJson(body): ApiJson<MfaBody>,
) -> DomainResult<Response> {
    let (user, method) = Login::of(&state).second_factor(&body.mfa_token, &body.code, &client).await?;
    let amr = vec!["pwd".to_owned(), "mfa".to_owned(), method.to_owned()];
    let pair = start_session(&state, &user, amr, &client).await?;
    Ok(token_response(&state, pair, RefreshFlow::Body))
}

#[derive(Deserialize, Default, ToSchema)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// The refresh token from a JSON body or, failing that, the cookie.
fn presented_refresh_token(headers: &HeaderMap, body: &Bytes) -> Option<(String, RefreshFlow)> {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<RefreshBody>(body).ok().and_then(|b| b.refresh_token)
    };
    match from_body.filter(|t| !t.is_empty()) {
        Some(token) => Some((token, RefreshFlow::Body)),
        None => refresh_cookie(headers).map(|token| (token, RefreshFlow::Cookie)),
    }
}

/// Rotates the refresh token (from the body or the cookie): a new pair, the old token
/// spent. Reusing a spent token revokes the whole session, except within 10 s of its
/// rotation (another tab won the race): then 409 `refresh_superseded`, nothing revoked.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "auth",
    request_body(content = Option<RefreshBody>, description = "Optional: the cookie works too"),
    responses(
        (status = 200, description = "A new token pair (`refresh_token` only in the cookie when the \
            cookie was used)", body = super::TokenPair),
        (status = 401, description = "Invalid, expired or reused refresh token (`invalid_grant`)",
            body = ErrorBody),
        (status = 409, description = "The token was rotated less than 10 s ago by another request \
            (`refresh_superseded`): nothing is revoked; use the newer token (the cookie has it)", body = ErrorBody),
    ),
)]
async fn refresh(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> DomainResult<Response> {
    let (token, flow) = presented_refresh_token(&headers, &body).ok_or_else(crate::login::invalid_grant)?;
    let (user, session) = Login::of(&state).refresh(&token, &client).await?;
    let pair = super::issue_pair(&state, &user, &session).await?;
    Metrics::inc(&state.metrics.refresh_success);
    Ok(token_response(&state, pair, flow))
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
    RequestMeta(client): RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> DomainResult<Response> {
    let now = crate::now();
    let mut session: Option<(String, String)> = None;
    if let Some((token, _)) = presented_refresh_token(&headers, &body)
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
        record(&state.db, "logout", Some(&uid), Some(&uid), &client, Some(details)).await;
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
    RequestMeta(client): RequestMeta,
    me: Caller,
) -> DomainResult<Response> {
    let n = state.db.revoke_user_sessions(&me.user.id, None, "logout_all", crate::now()).await?;
    record(
        &state.db,
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
        BodyErrors,
        (status = 429, description = "Too many requests for the email or from the address (`Retry-After`)",
            body = ErrorBody)),
)]
async fn forgot_password(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    ApiJson(body): ApiJson<ForgotBody>,
) -> DomainResult<Response> {
    Metrics::inc(&state.metrics.password_reset_requests);
    let email = body.email.trim().to_owned();
    Login::of(&state).count_reset_request(&email, &client).await?;
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
    record(&state.db, "password_reset_requested", Some(&user.id), None, client, None).await;
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
    RequestMeta(client): RequestMeta,
    ApiJson(body): ApiJson<ResetBody>,
) -> DomainResult<Response> {
    check_policy(&body.new_password, state.config.password_min_chars)
        .map_err(|e| DomainError::bad_request("weak_password", e.message()))?;
    let now = crate::now();
    let Some(user_id) = state.db.consume_reset_token(&hash_token(&body.token), now).await? else {
        return Err(DomainError::bad_request(
            "invalid_reset_token",
            "The reset token is invalid, used or expired",
        ));
    };
    let user = state
        .db
        .user_by_id(&user_id)
        .await?
        .ok_or_else(|| DomainError::internal("reset for a missing user"))?;
    let hash = state.passwords.hash(body.new_password).await.map_err(DomainError::internal)?;
    state.db.update_password(&user.id, &hash, now).await?;
    state.db.revoke_user_sessions(&user.id, None, "password_reset", now).await?;
    Login::of(&state).unlock(&user).await?;
    Metrics::inc(&state.metrics.password_resets);
    record(&state.db, "password_reset", Some(&user.id), Some(&user.id), &client, None).await;
    Ok(Json(serde_json::json!({ "status": "password_reset" })).into_response())
}

#[derive(Deserialize, ToSchema)]
struct VerifyEmailBody {
    /// The `token` of the mailed link (`{FRONTEND_URL}/verify-email?token=...`).
    token: String,
}

/// The answer to a successful verification.
#[derive(Serialize, ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct EmailVerified {
    #[schema(example = "email_verified")]
    status: String,
}

/// Verifies the account's email with the token mailed at registration (or by a resend):
/// single use, expiring (`EMAIL_VERIFICATION_TTL_SECS`, 24 h), voided by a newer one.
/// Access tokens issued afterwards carry `email_verified: true`.
#[utoipa::path(
    post,
    path = "/v1/auth/email/verify",
    tag = "auth",
    request_body = VerifyEmailBody,
    responses(
        (status = 200, description = "Verified", body = EmailVerified),
        BodyErrors,
        (status = 400, description = "Unknown, used, voided or expired token \
            (`invalid_verification_token`)", body = ErrorBody),
    ),
)]
async fn verify_email(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    ApiJson(body): ApiJson<VerifyEmailBody>,
) -> DomainResult<Response> {
    email_verification::verify(&state, &body.token, &client).await?;
    Ok(Json(serde_json::json!({ "status": "email_verified" })).into_response())
}

#[derive(Deserialize, Default, ToSchema)]
struct ResendBody {
    /// Whose link to resend when the caller is not signed in.
    #[schema(example = "ada@example.com")]
    email: Option<String>,
}

/// Mails a new verification link (voiding the previous one) to the signed-in caller
/// (bearer token) or to the account of `email`. Always 202 with the same body, the mail
/// going out after the response, so neither says whether an account exists or is already
/// verified. Counted per email (3) and per client address (10) per 15 minutes.
#[utoipa::path(
    post,
    path = "/v1/auth/email/verify/resend",
    tag = "auth",
    request_body(content = Option<ResendBody>, description = "`email`, unless a bearer token names the caller"),
    security((), ("bearer" = [])),
    responses(
        (status = 202, description = "Accepted (whether or not the account exists)", body = Accepted),
        (status = 400, description = "Neither a bearer token nor a valid `email` (`invalid_email`)",
            body = ErrorBody),
        (status = 401, description = "A bearer token was sent but is not valid (`invalid_token`)",
            body = ErrorBody),
        (status = 429, description = "Too many requests for the email or from the address (`Retry-After`)",
            body = ErrorBody),
    ),
)]
async fn resend_verification(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> DomainResult<Response> {
    let email = match bearer_token_from_headers(&headers) {
        Some(token) => {
            let principal = verify_access_token(&state, token).await.map_err(|e| DomainError::auth(&e))?;
            let user = state.db.user_by_id(principal.user_id()).await?;
            user.map(|u| u.email).ok_or_else(|| DomainError::internal("token of a missing user"))?
        }
        None => {
            let body: ResendBody = if body.iter().all(u8::is_ascii_whitespace) {
                ResendBody::default()
            } else {
                serde_json::from_slice(&body).map_err(|_| {
                    DomainError::bad_request("invalid_request", "The request body is not valid JSON")
                })?
            };
            let email = body.email.map(|e| e.trim().to_owned()).unwrap_or_default();
            if !valid_email(&email) {
                return Err(DomainError::bad_request("invalid_email", "The email address is not valid"));
            }
            email
        }
    };
    email_verification::count_resend(&state, &email, &client).await?;
    email_verification::resend_later(&state, email, client);
    let body = serde_json::json!({
        "status": "accepted",
        "message": "If an unverified account exists for this address, a new verification link has been sent",
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
