//! `/v1/users/me*`: profile, password change, sessions, own audit events.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{Client, audit, rfc3339, user_json};
use crate::auth::{CurrentUser, MeCaller};
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::password::check_policy;
use crate::startup::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/users/me", get(me).patch(update_me))
        .route("/v1/users/me/password", post(change_password))
        .route("/v1/users/me/sessions", get(sessions))
        .route("/v1/users/me/sessions/{id}", delete(revoke_session))
        .route("/v1/users/me/audit-events", get(audit_events))
}

/// The caller's profile. With `X-API-Key` (the verification call of the core crate's
/// `RemoteApiKeyVerifier`) it answers the key's owner with the key's permissions.
async fn me(State(state): State<AppState>, caller: MeCaller) -> ApiResult<Json<serde_json::Value>> {
    let me = match caller {
        MeCaller::Jwt(me) => me,
        MeCaller::ApiKey(caller) => return Ok(Json(super::api_keys::me_json(&caller))),
    };
    let mut body = user_json(&me.user);
    if me.user.mfa_enabled {
        body["recovery_codes_remaining"] = state.db.unused_recovery_codes(&me.user.id).await?.into();
    }
    body["auth_method"] = "jwt".into();
    body["amr"] = me.amr.clone().into();
    body["session_id"] = me.session_id.clone().into();
    Ok(Json(body))
}

#[derive(Deserialize)]
struct UpdateMe {
    name: Option<String>,
}

/// Only the display name can change here; unknown fields are ignored.
async fn update_me(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(body): ApiJson<UpdateMe>,
) -> ApiResult<Json<serde_json::Value>> {
    if let Some(name) = body.name {
        let name = name.trim().to_owned();
        if name.chars().count() > 100 {
            return Err(ApiError::bad_request("invalid_name", "The name must have at most 100 characters"));
        }
        state.db.update_user_name(&me.user.id, &name, crate::now()).await?;
    }
    let user = state.db.user_by_id(&me.user.id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(user_json(&user)))
}

#[derive(Deserialize)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Needs the current password; revokes every other session (I11).
async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    me: CurrentUser,
    ApiJson(body): ApiJson<ChangePassword>,
) -> ApiResult<Response> {
    check_policy(&body.new_password, state.config.password_min_chars)
        .map_err(|e| ApiError::bad_request("weak_password", e.message()))?;
    if !state.passwords.verify(body.current_password, Some(me.user.password_hash.clone())).await {
        audit(&state, "password_change_failed", Some(&me.user.id), Some(&me.user.id), &client, None).await;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_password",
            "The current password is wrong",
        ));
    }
    let hash = state.passwords.hash(body.new_password).await.map_err(ApiError::internal)?;
    let now = crate::now();
    state.db.update_password(&me.user.id, &hash, now).await?;
    let revoked =
        state.db.revoke_user_sessions(&me.user.id, Some(&me.session_id), "password_changed", now).await?;
    audit(
        &state,
        "password_changed",
        Some(&me.user.id),
        Some(&me.user.id),
        &client,
        Some(serde_json::json!({"revoked_sessions": revoked})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn sessions(State(state): State<AppState>, me: CurrentUser) -> ApiResult<Json<serde_json::Value>> {
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
async fn revoke_session(
    State(state): State<AppState>,
    Client(client): Client,
    me: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let session = state
        .db
        .session_by_id(&id)
        .await?
        .filter(|s| s.user_id == me.user.id)
        .ok_or_else(ApiError::not_found)?;
    if state.db.revoke_session(&session.id, "revoked_by_user", crate::now()).await? {
        audit(
            &state,
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

#[derive(Deserialize)]
pub(crate) struct Page {
    limit: Option<i64>,
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

async fn audit_events(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(page): Query<Page>,
) -> ApiResult<Json<serde_json::Value>> {
    let events = state.db.audit_events(Some(&me.user.id), page.limit(), page.offset()).await?;
    Ok(Json(audit_json(events)))
}
