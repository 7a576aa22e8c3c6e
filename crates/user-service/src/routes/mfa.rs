//! `/v1/users/me/mfa/*`: TOTP setup, enable, disable and recovery codes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caller::Caller;
use super::caller::RequestMeta;
use super::openapi::{BearerErrors, BodyErrors, ErrorBody};
use crate::domain::error::DomainResult;
use crate::domain::mfa;
use crate::routes::error::ApiJson;
use crate::state::AppState;
use crate::totp;

/// A pending TOTP secret, to add to an authenticator app.
#[derive(Serialize, ToSchema)]
struct TotpSetup {
    /// Base32.
    secret: String,
    /// `otpauth://totp/...` for a QR code.
    otpauth_uri: String,
}

/// Single-use recovery codes, shown once.
#[derive(Serialize, ToSchema)]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

pub(crate) fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(regenerate_recovery_codes))
        .route_layer(super::caller::auth_layer(state))
}

/// Creates a pending secret (stored encrypted, inactive until confirmed: I13).
#[utoipa::path(
    post,
    path = "/v1/users/me/mfa/totp/setup",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The pending secret", body = TotpSetup),
        BearerErrors,
        (status = 409, description = "TOTP is already enabled (`mfa_already_enabled`)", body = ErrorBody),
    ),
)]
async fn setup(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
) -> DomainResult<Json<TotpSetup>> {
    let secret = mfa::setup(&state.auth(), &me.user, &client).await?;
    let otpauth_uri = totp::otpauth_uri(&secret, "authgate", &me.user.email);
    Ok(Json(TotpSetup { secret: totp::base32(&secret), otpauth_uri }))
}

#[derive(Deserialize, ToSchema)]
struct EnableBody {
    /// A current code of the pending secret.
    code: String,
}

/// Confirms the pending secret with a code; answers the recovery codes.
#[utoipa::path(
    post,
    path = "/v1/users/me/mfa/totp/enable",
    security(("bearer" = [])),
    request_body = EnableBody,
    responses(
        (status = 200, description = "Enabled", body = RecoveryCodes),
        BearerErrors,
        BodyErrors,
        (status = 409, description = "Already enabled, or the setup changed meanwhile", body = ErrorBody),
    ),
)]
async fn enable(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    ApiJson(body): ApiJson<EnableBody>,
) -> DomainResult<Json<RecoveryCodes>> {
    let recovery_codes = mfa::enable(&state.auth(), &me.user, &body.code, &client).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
struct DisableBody {
    password: String,
    code: String,
}

/// Needs the password and a current code (I20).
#[utoipa::path(
    post,
    path = "/v1/users/me/mfa/totp/disable",
    security(("bearer" = [])),
    request_body = DisableBody,
    responses(
        (status = 204, description = "Disabled; recovery codes deleted"),
        BearerErrors,
        BodyErrors,
        (status = 403, description = "Wrong password or code", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords or codes on the account, the address or the \
            second factor (`Retry-After`)", body = ErrorBody),
    ),
)]
async fn disable(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    ApiJson(body): ApiJson<DisableBody>,
) -> DomainResult<StatusCode> {
    mfa::disable(&state.auth(), &me.user, body.password, &body.code, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
struct PasswordBody {
    password: String,
}

/// A new set of recovery codes; the old set stops working (I19, I20).
#[utoipa::path(
    post,
    path = "/v1/users/me/mfa/recovery-codes",
    security(("bearer" = [])),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "The new codes", body = RecoveryCodes),
        BearerErrors,
        BodyErrors,
        (status = 403, description = "Wrong password (`invalid_password`)", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords on the account or address (`Retry-After`)", body = ErrorBody),
    ),
)]
async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    ApiJson(body): ApiJson<PasswordBody>,
) -> DomainResult<Json<RecoveryCodes>> {
    let recovery_codes =
        mfa::regenerate_recovery_codes(&state.auth(), &me.user, body.password, &client).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}
