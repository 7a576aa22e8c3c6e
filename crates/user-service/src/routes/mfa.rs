//! `/v1/users/me/mfa/*`: TOTP setup, enable, disable and recovery codes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use super::RequestMeta;
use super::openapi::{BearerErrors, BodyErrors, ErrorBody};
use crate::auth::Caller;
use crate::domain::audit::record;
use crate::domain::error::{DomainError, DomainResult};
use crate::login::Login;
use crate::routes::error::ApiJson;
use crate::startup::AppState;
use crate::totp;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(setup, enable, disable, regenerate_recovery_codes))]
pub(crate) struct Api;

/// A pending TOTP secret, to add to an authenticator app.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct TotpSetup {
    /// Base32.
    secret: String,
    /// `otpauth://totp/...` for a QR code.
    otpauth_uri: String,
}

/// Single-use recovery codes, shown once.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handlers build")]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/users/me/mfa/totp/setup", post(setup))
        .route("/v1/users/me/mfa/totp/enable", post(enable))
        .route("/v1/users/me/mfa/totp/disable", post(disable))
        .route("/v1/users/me/mfa/recovery-codes", post(regenerate_recovery_codes))
        .route_layer(super::auth_layer(state))
}

/// Creates a pending secret (stored encrypted, inactive until confirmed: I13).
#[utoipa::path(
    post,
    path = "/v1/users/me/mfa/totp/setup",
    tag = "mfa",
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
) -> DomainResult<Json<serde_json::Value>> {
    if me.user.mfa_enabled {
        return Err(DomainError::conflict("mfa_already_enabled", "TOTP is already enabled"));
    }
    let secret = totp::new_secret();
    let enc = state.master.encrypt(&secret, &me.user.id);
    state.db.set_totp_pending(&me.user.id, &enc, crate::now()).await?;
    record(&state.db, "mfa_setup_started", Some(&me.user.id), Some(&me.user.id), &client, None).await;
    let issuer_name = "authgate";
    Ok(Json(serde_json::json!({
        "secret": totp::base32(&secret),
        "otpauth_uri": totp::otpauth_uri(&secret, issuer_name, &me.user.email),
    })))
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
    tag = "mfa",
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
) -> DomainResult<Json<serde_json::Value>> {
    if me.user.mfa_enabled {
        return Err(DomainError::conflict("mfa_already_enabled", "TOTP is already enabled"));
    }
    let Some(pending) = me.user.totp_pending_enc.as_deref() else {
        return Err(DomainError::bad_request("mfa_not_set_up", "Call the setup endpoint first"));
    };
    let secret = state.master.decrypt(pending, &me.user.id).map_err(DomainError::internal)?;
    let now = crate::now();
    let Some(step) = totp::matching_step(&secret, &body.code, now) else {
        return Err(DomainError::bad_request("invalid_code", "The code is not valid"));
    };
    if !state.db.enable_totp(&me.user.id, pending, step, now).await? {
        return Err(DomainError::conflict("mfa_setup_changed", "The setup changed; start again"));
    }
    let codes = store_new_recovery_codes(&state, &me.user.id).await?;
    record(&state.db, "mfa_enabled", Some(&me.user.id), Some(&me.user.id), &client, None).await;
    Ok(Json(serde_json::json!({ "recovery_codes": codes })))
}

async fn store_new_recovery_codes(state: &AppState, user_id: &str) -> DomainResult<Vec<String>> {
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    state.db.replace_recovery_codes(user_id, &hashes, crate::now()).await?;
    Ok(codes)
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
    tag = "mfa",
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
) -> DomainResult<Response> {
    if !me.user.mfa_enabled {
        return Err(DomainError::bad_request("mfa_not_enabled", "TOTP is not enabled"));
    }
    if !Login::of(&state).recheck_password(&me.user, body.password, &client).await? {
        return Err(DomainError::forbidden("invalid_password", "The password is wrong"));
    }
    if !Login::of(&state).recheck_second_factor(&me.user, &body.code, &client).await? {
        return Err(DomainError::forbidden("invalid_code", "The code is not valid"));
    }
    state.db.disable_totp(&me.user.id, crate::now()).await?;
    record(&state.db, "mfa_disabled", Some(&me.user.id), Some(&me.user.id), &client, None).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
struct PasswordBody {
    password: String,
}

/// A new set of recovery codes; the old set stops working (I19, I20).
#[utoipa::path(
    post,
    path = "/v1/users/me/mfa/recovery-codes",
    tag = "mfa",
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
) -> DomainResult<Json<serde_json::Value>> {
    if !me.user.mfa_enabled {
        return Err(DomainError::bad_request("mfa_not_enabled", "TOTP is not enabled"));
    }
    if !Login::of(&state).recheck_password(&me.user, body.password, &client).await? {
        return Err(DomainError::forbidden("invalid_password", "The password is wrong"));
    }
    let codes = store_new_recovery_codes(&state, &me.user.id).await?;
    record(&state.db, "recovery_codes_regenerated", Some(&me.user.id), Some(&me.user.id), &client, None)
        .await;
    Ok(Json(serde_json::json!({ "recovery_codes": codes })))
}
