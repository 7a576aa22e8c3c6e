//! `/v1/auth/*`: register, login (+ MFA step), refresh, logout, password forgot/reset.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caller::RequestMeta;
use super::caller::{Caller, bearer_token_from_headers};
use super::openapi::{BearerErrors, BodyErrors, ErrorBody, OptionalBodyErrors};
use super::token_response::{RefreshFlow, TokenPair, clear_cookie, refresh_cookie, token_response};
use super::views::UserView;
use crate::domain::error::DomainResult;
use crate::domain::sessions::{self, LoginStep};
use crate::domain::{email_verification, password_reset, registration};
use crate::routes::error::{ApiJson, optional_json};
use crate::state::AppState;

pub(crate) fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let signed_in =
        OpenApiRouter::new().routes(routes!(logout_all)).route_layer(super::caller::auth_layer(state));
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(login_mfa))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .merge(signed_in)
}

/// Unknown fields (such as `roles`) are ignored (I25).
#[derive(Deserialize, ToSchema)]
struct RegisterBody {
    /// What `valid_email` accepts (surrounding spaces are trimmed).
    #[schema(
        example = "ada@example.com",
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@.\s\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*[^@.\s\x00-\x1f\x7f-\x9f]$"
    )]
    email: String,
    password: String,
    #[schema(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    name: Option<String>,
}

/// Creates an account with the `user` role (no session: log in next) and mails a link
/// to verify the address. The email is kept as entered (trimmed) but compared on its
/// look-alike key (NFKC, case folding, UTS #39 confusables): `ａlice@` or `alıce@` beside
/// `alice@` is taken.
#[utoipa::path(
    post,
    path = "/v1/auth/register",
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
    let name = body.name.as_deref();
    let (user, permissions) =
        registration::register(&state.auth(), &body.email, body.password, name, client).await?;
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
enum LoginOutcome {
    Tokens(TokenPair),
    Mfa(MfaRequired),
}

/// Password login. Sets the `refresh_token` cookie (`Path=/v1/auth`, `HttpOnly`) with
/// the pair, or asks for the second factor.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
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
    Ok(match state.auth().login(body.email.trim(), body.password, &client).await? {
        LoginStep::Done(tokens) => token_response(&state, tokens, RefreshFlow::Body, LoginOutcome::Tokens),
        LoginStep::Mfa { token: mfa_token, expires_in } => {
            let outcome = LoginOutcome::Mfa(MfaRequired { mfa_required: true, mfa_token, expires_in });
            let mut response = Json(outcome).into_response();
            super::token_response::no_store(response.headers_mut());
            response
        }
    })
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
    request_body = MfaBody,
    responses(
        (status = 200, description = "A token pair (and the refresh cookie)", body = TokenPair),
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
    let tokens = state.auth().second_factor(&body.mfa_token, &body.code, &client).await?;
    Ok(token_response(&state, tokens, RefreshFlow::Body, std::convert::identity))
}

#[derive(Deserialize, Default, ToSchema)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// The refresh token from a JSON body or, failing that, the cookie; a body that is not a
/// [`RefreshBody`] is refused, not ignored.
fn presented_refresh_token(headers: &HeaderMap, body: &Bytes) -> DomainResult<Option<(String, RefreshFlow)>> {
    Ok(match optional_json::<RefreshBody>(body)?.refresh_token.filter(|t| !t.is_empty()) {
        Some(token) => Some((token, RefreshFlow::Body)),
        None => refresh_cookie(headers).map(|token| (token, RefreshFlow::Cookie)),
    })
}

/// Rotates the refresh token (from the body or the cookie): a new pair, the old token
/// spent. Reusing a spent token revokes the whole session, except within 10 s of its
/// rotation (another tab won the race): then 409 `refresh_superseded`, nothing revoked.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    request_body(content = Option<RefreshBody>, description = "Optional: the cookie works too"),
    responses(
        (status = 200, description = "A new token pair (`refresh_token` only in the cookie when the \
            cookie was used)", body = TokenPair),
        OptionalBodyErrors,
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
    let (token, flow) = presented_refresh_token(&headers, &body)?.ok_or_else(sessions::invalid_grant)?;
    let tokens = state.auth().refresh(&token, &client).await?;
    Ok(token_response(&state, tokens, flow, std::convert::identity))
}

/// Revokes the session of the presented refresh token (body or cookie) or, failing that,
/// of the bearer access token. 204 (whether or not a session was found); clears the cookie.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    request_body(content = Option<RefreshBody>, description = "Optional: the cookie or a bearer token works too"),
    security((), ("bearer" = [])),
    responses((status = 204, description = "Logged out, cookie cleared"), OptionalBodyErrors),
)]
async fn logout(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    headers: HeaderMap,
    body: Bytes,
) -> DomainResult<Response> {
    let refresh_token = presented_refresh_token(&headers, &body)?.map(|(token, _)| token);
    let bearer = bearer_token_from_headers(&headers);
    state.auth().logout(refresh_token.as_deref(), bearer, &client).await?;
    Ok((StatusCode::NO_CONTENT, [clear_cookie(&state)]).into_response())
}

/// Revokes every session of the caller.
#[utoipa::path(
    post,
    path = "/v1/auth/logout-all",
    security(("bearer" = [])),
    responses((status = 204, description = "Every session revoked, cookie cleared"), BearerErrors),
)]
async fn logout_all(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
) -> DomainResult<Response> {
    state.auth().logout_all(&me.user.id, &client).await?;
    Ok((StatusCode::NO_CONTENT, [clear_cookie(&state)]).into_response())
}

#[derive(Deserialize, ToSchema)]
struct ForgotBody {
    email: String,
}

/// The answer to a reset request, the same whether the account exists or not.
#[derive(Serialize, ToSchema)]
struct Accepted {
    #[schema(example = "accepted", value_type = String)]
    status: &'static str,
    #[schema(value_type = String)]
    message: &'static str,
}

/// Always 202 with the same body; the lookup and mailing happen after the response, so
/// neither the answer nor its timing says whether the account exists (I05).
#[utoipa::path(
    post,
    path = "/v1/auth/password/forgot",
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
) -> DomainResult<(StatusCode, Json<Accepted>)> {
    password_reset::request(&state.auth(), &body.email, client).await?;
    let message = "If an account exists for this address, a reset link has been sent";
    Ok((StatusCode::ACCEPTED, Json(Accepted { status: "accepted", message })))
}

#[derive(Deserialize, ToSchema)]
struct ResetBody {
    token: String,
    new_password: String,
}

/// The answer to a successful reset.
#[derive(Serialize, ToSchema)]
struct ResetDone {
    #[schema(example = "password_reset", value_type = String)]
    status: &'static str,
}

/// Sets a new password with a reset token: single use, expiring, revokes every session,
/// does not log in (I21).
#[utoipa::path(
    post,
    path = "/v1/auth/password/reset",
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
) -> DomainResult<Json<ResetDone>> {
    password_reset::confirm(&state.auth(), &body.token, body.new_password, &client).await?;
    Ok(Json(ResetDone { status: "password_reset" }))
}

#[derive(Deserialize, ToSchema)]
struct VerifyEmailBody {
    /// The `token` of the mailed link (`{FRONTEND_URL}/verify-email?token=...`).
    token: String,
}

/// The answer to a successful verification.
#[derive(Serialize, ToSchema)]
struct EmailVerified {
    #[schema(example = "email_verified", value_type = String)]
    status: &'static str,
}

/// Verifies the account's email with the token mailed at registration (or by a resend):
/// single use, expiring (`EMAIL_VERIFICATION_TTL_SECS`, 24 h), voided by a newer one.
/// Access tokens issued afterwards carry `email_verified: true`.
#[utoipa::path(
    post,
    path = "/v1/auth/email/verify",
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
) -> DomainResult<Json<EmailVerified>> {
    email_verification::verify(&state.auth(), &body.token, &client).await?;
    Ok(Json(EmailVerified { status: "email_verified" }))
}

#[derive(Deserialize, Default, ToSchema)]
struct ResendBody {
    /// Whose link to resend when the caller is not signed in.
    #[schema(
        example = "ada@example.com",
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@.\s\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*[^@.\s\x00-\x1f\x7f-\x9f]$"
    )]
    email: Option<String>,
}

/// Mails a new verification link (voiding the previous one) to the signed-in caller
/// (bearer token) or to the account of `email`. Always 202 with the same body, the mail
/// going out after the response, so neither says whether an account exists or is already
/// verified. Counted per email (3) and per client address (10) per 15 minutes.
#[utoipa::path(
    post,
    path = "/v1/auth/email/verify/resend",
    request_body(content = Option<ResendBody>, description = "`email`, unless a bearer token names the caller"),
    security((), ("bearer" = [])),
    responses(
        (status = 202, description = "Accepted (whether or not the account exists)", body = Accepted),
        OptionalBodyErrors,
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
) -> DomainResult<(StatusCode, Json<Accepted>)> {
    let bearer = bearer_token_from_headers(&headers);
    let email = optional_json::<ResendBody>(&body)?.email;
    email_verification::resend(&state.auth(), bearer, email, client).await?;
    let message = "If an unverified account exists for this address, a new verification link has been sent";
    Ok((StatusCode::ACCEPTED, Json(Accepted { status: "accepted", message })))
}
