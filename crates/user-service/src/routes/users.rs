//! `/v1/users/me*`: profile, password change, sessions, own audit events.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::openapi::{BearerErrors, BodyErrors, ErrorBody};
use super::{RequestMeta, rfc3339, user_json};
use crate::auth::{Caller, MeCaller};
use crate::domain::actor::Actor;
use crate::domain::audit;
use crate::domain::error::{DomainError, DomainResult};
use crate::login::Login;
use crate::password::check_policy;
use crate::routes::error::ApiJson;
use crate::startup::AppState;
use crate::store::ClientInfo;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(me, update_me, change_password, sessions, revoke_session, audit_events))]
pub(crate) struct Api;

/// A user as the API shows it (`super::user_json`).
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code, reason = "documents the JSON user_json builds")]
pub(crate) struct UserView {
    id: String,
    #[schema(example = "ada@example.com")]
    email: String,
    name: String,
    /// Role names (see `/v1/roles`).
    #[schema(example = json!(["user"]))]
    roles: Vec<String>,
    /// What the roles grant.
    #[schema(example = json!(["positions:read", "alerts:read"]))]
    permissions: Vec<String>,
    /// `active` or `disabled`.
    status: String,
    mfa_enabled: bool,
    /// Whether the owner proved the address (`POST /v1/auth/email/verify`).
    email_verified: bool,
    /// RFC 3339.
    created_at: String,
}

/// `GET /v1/users/me`: the user plus how the caller authenticated.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct MeView {
    #[serde(flatten)]
    user: UserView,
    /// `jwt` or `api_key`.
    auth_method: String,
    /// Authentication methods of the session (`pwd`, `mfa`, `otp`, ...); JWT only.
    amr: Option<Vec<String>>,
    /// JWT only.
    session_id: Option<String>,
    /// When MFA is on.
    recovery_codes_remaining: Option<i64>,
    /// The key that authenticated the call; API key only.
    api_key: Option<MeApiKeyView>,
}

/// The API key behind a `GET /v1/users/me` made with `X-API-Key`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct MeApiKeyView {
    id: String,
    name: String,
    /// The key's first characters, to recognise it.
    prefix: String,
    trading_account_id: Option<String>,
    expires_at: Option<String>,
}

/// A session of the caller.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct SessionView {
    id: String,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
    amr: Vec<String>,
    /// The session of the token that asked.
    current: bool,
}

#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct SessionList {
    sessions: Vec<SessionView>,
}

/// An audit event.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the JSON audit_json builds")]
pub(crate) struct AuditEventView {
    id: String,
    /// The user the event is about.
    user_id: Option<String>,
    /// Who did it (the user, an admin, or none for the system).
    actor_id: Option<String>,
    #[schema(example = "login_succeeded")]
    event: String,
    ip: Option<String>,
    user_agent: Option<String>,
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
    /// RFC 3339.
    created_at: String,
}

#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the JSON audit_json builds")]
pub(crate) struct AuditEventList {
    events: Vec<AuditEventView>,
}

/// The caller as the domain sees it.
pub(super) fn actor<'a>(me: &'a Caller, client: &'a ClientInfo) -> Actor<'a> {
    Actor { id: &me.user.id, permissions: &me.permissions, client }
}

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    // `GET /v1/users/me` also takes an API key, so a missing token is not refused there.
    let me = Router::new()
        .route("/v1/users/me", get(me).patch(update_me))
        .route_layer(super::optional_auth_layer(state));
    Router::new()
        .route("/v1/users/me/password", post(change_password))
        .route("/v1/users/me/sessions", get(sessions))
        .route("/v1/users/me/sessions/{id}", delete(revoke_session))
        .route("/v1/users/me/audit-events", get(audit_events))
        .route_layer(super::auth_layer(state))
        .merge(me)
}

/// The caller's profile. With `X-API-Key` (the verification call of the core crate's
/// `RemoteApiKeyVerifier`) it answers the key's owner with the key's permissions.
#[utoipa::path(
    get,
    path = "/v1/users/me",
    tag = "users",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller", body = MeView),
        (status = 401, description = "Missing or invalid access token or API key", body = ErrorBody),
    ),
)]
async fn me(State(state): State<AppState>, caller: MeCaller) -> DomainResult<Json<serde_json::Value>> {
    let me = match caller {
        MeCaller::Jwt(me) => me,
        MeCaller::ApiKey(caller) => return Ok(Json(super::api_keys::me_json(&caller))),
    };
    let mut body = user_json(&me.user, &me.permissions);
    if me.user.mfa_enabled {
        body["recovery_codes_remaining"] = state.db.unused_recovery_codes(&me.user.id).await?.into();
    }
    body["auth_method"] = "jwt".into();
    body["amr"] = me.amr.clone().into();
    body["session_id"] = me.session_id.clone().into();
    Ok(Json(body))
}

#[derive(Deserialize, ToSchema)]
struct UpdateMe {
    /// At most 100 characters.
    name: Option<String>,
}

/// Only the display name can change here; unknown fields are ignored.
#[utoipa::path(
    patch,
    path = "/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    request_body = UpdateMe,
    responses((status = 200, description = "The changed user", body = UserView), BearerErrors, BodyErrors),
)]
async fn update_me(
    State(state): State<AppState>,
    me: Caller,
    ApiJson(body): ApiJson<UpdateMe>,
) -> DomainResult<Json<serde_json::Value>> {
    if let Some(name) = body.name {
        let name = crate::users::checked_name(&name)?;
        state.db.update_user_name(&me.user.id, &name, crate::now()).await?;
    }
    let user = state.db.user_by_id(&me.user.id).await?.ok_or_else(DomainError::not_found)?;
    Ok(Json(user_json(&user, &me.permissions)))
}

#[derive(Deserialize, ToSchema)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Needs the current password; revokes every other session (I11).
#[utoipa::path(
    post,
    path = "/v1/users/me/password",
    tag = "users",
    security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; every other session revoked"),
        BearerErrors,
        BodyErrors,
        (status = 403, description = "The current password is wrong (`invalid_password`)", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords on the account or address (`Retry-After`)", body = ErrorBody),
    ),
)]
async fn change_password(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    ApiJson(body): ApiJson<ChangePassword>,
) -> DomainResult<Response> {
    check_policy(&body.new_password, state.config.password_min_chars)
        .map_err(|e| DomainError::bad_request("weak_password", e.message()))?;
    if !Login::of(&state).recheck_password(&me.user, body.current_password, &client).await? {
        audit::record(
            &state.db,
            "password_change_failed",
            Some(&me.user.id),
            Some(&me.user.id),
            &client,
            None,
        )
        .await;
        return Err(DomainError::forbidden("invalid_password", "The current password is wrong"));
    }
    let hash = state.passwords.hash(body.new_password).await.map_err(DomainError::internal)?;
    let now = crate::now();
    state.db.update_password(&me.user.id, &hash, now).await?;
    let revoked =
        state.db.revoke_user_sessions(&me.user.id, Some(&me.session_id), "password_changed", now).await?;
    audit::record(
        &state.db,
        "password_changed",
        Some(&me.user.id),
        Some(&me.user.id),
        &client,
        Some(serde_json::json!({"revoked_sessions": revoked})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller's active sessions.
#[utoipa::path(
    get,
    path = "/v1/users/me/sessions",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 200, description = "Active sessions, newest first", body = SessionList), BearerErrors),
)]
async fn sessions(State(state): State<AppState>, me: Caller) -> DomainResult<Json<serde_json::Value>> {
    let list = state.db.active_sessions(&me.user.id, crate::now()).await?;
    let items: Vec<_> = list
        .iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "created_at": rfc3339(s.created_at),
                "last_used_at": rfc3339(s.last_used_at),
                "expires_at": rfc3339(s.expires_at),
                "ip": s.ip,
                "user_agent": s.user_agent,
                "amr": s.amr,
                "current": s.id == me.session_id,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "sessions": items })))
}

/// Another user's session is "not found" (I25).
#[utoipa::path(
    delete,
    path = "/v1/users/me/sessions/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        BearerErrors,
        (status = 404, description = "No such session of the caller", body = ErrorBody),
    ),
)]
async fn revoke_session(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<Response> {
    let session = state
        .db
        .session_by_id(&id)
        .await?
        .filter(|s| s.user_id == me.user.id)
        .ok_or_else(DomainError::not_found)?;
    if state.db.revoke_session(&session.id, "revoked_by_user", crate::now()).await? {
        audit::record(
            &state.db,
            "session_revoked",
            Some(&me.user.id),
            Some(&me.user.id),
            &client,
            Some(serde_json::json!({"session_id": id})),
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Pagination of a list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Page {
    /// 1-200, default 50.
    limit: Option<i64>,
    /// Default 0.
    offset: Option<i64>,
}

impl Page {
    pub(crate) fn limit(&self) -> i64 {
        self.limit.unwrap_or(50).clamp(1, 200)
    }
    pub(crate) fn offset(&self) -> i64 {
        self.offset.unwrap_or(0).max(0)
    }
}

pub(crate) fn audit_json(events: Vec<crate::store::AuditEvent>) -> serde_json::Value {
    let items: Vec<_> = events
        .into_iter()
        .map(|e| {
            let mut v = serde_json::to_value(&e).unwrap_or_default();
            v["created_at"] = rfc3339(e.created_at).into();
            v
        })
        .collect();
    serde_json::json!({ "events": items })
}

/// The caller's own audit events, newest first.
#[utoipa::path(
    get,
    path = "/v1/users/me/audit-events",
    tag = "users",
    security(("bearer" = [])),
    params(Page),
    responses((status = 200, description = "Events", body = AuditEventList), BearerErrors),
)]
async fn audit_events(
    State(state): State<AppState>,
    me: Caller,
    Query(page): Query<Page>,
) -> DomainResult<Json<serde_json::Value>> {
    let events = audit::events_of(&state.db, &me.user.id, page.limit(), page.offset()).await?;
    Ok(Json(audit_json(events)))
}
