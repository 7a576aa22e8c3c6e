//! `/v1/admin/*`: user administration, audit log, key rotation. Each handler requires a
//! permission (`admin` holds `*`); a missing one is 403 `insufficient_scope`.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::users::{Page, audit_json};
use super::{Client, audit, user_json};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::startup::AppState;
use crate::throttle::account_key;
use crate::tokens::KNOWN_ROLES;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/users", get(list_users))
        .route("/v1/admin/users/{id}", get(get_user).patch(update_user))
        .route("/v1/admin/users/{id}/roles", put(set_roles))
        .route("/v1/admin/audit-events", get(audit_events))
        .route("/v1/admin/keys/rotate", post(rotate_keys))
}

async fn list_users(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(page): Query<Page>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require("admin:users:read")?;
    let users = state.db.list_users(page.limit(), page.offset()).await?;
    Ok(Json(serde_json::json!({ "users": users.iter().map(user_json).collect::<Vec<_>>() })))
}

async fn get_user(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require("admin:users:read")?;
    let user = state.db.user_by_id(&id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(user_json(&user)))
}

#[derive(Deserialize)]
struct UpdateUser {
    /// `active` or `disabled`.
    status: Option<String>,
    /// Clears the login throttling of the account.
    unlock: Option<bool>,
    name: Option<String>,
}

async fn update_user(
    State(state): State<AppState>,
    Client(client): Client,
    me: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require("admin:users:write")?;
    let user = state.db.user_by_id(&id).await?.ok_or_else(ApiError::not_found)?;
    let now = crate::now();
    if let Some(status) = body.status.as_deref() {
        if status != "active" && status != "disabled" {
            return Err(ApiError::bad_request("invalid_status", "status must be active or disabled"));
        }
        state.db.set_status(&id, status, now).await?;
        if status == "disabled" {
            state.db.revoke_user_sessions(&id, None, "disabled_by_admin", now).await?;
        }
        audit(&state, &format!("user_{status}"), Some(&id), Some(&me.user.id), &client, None).await;
    }
    if body.unlock == Some(true) {
        state.db.clear_login_failures(&account_key(&user.email)).await?;
        audit(&state, "user_unlocked", Some(&id), Some(&me.user.id), &client, None).await;
    }
    if let Some(name) = body.name {
        state.db.update_user_name(&id, name.trim(), now).await?;
    }
    let user = state.db.user_by_id(&id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(user_json(&user)))
}

#[derive(Deserialize)]
struct RolesBody {
    roles: Vec<String>,
}

async fn set_roles(
    State(state): State<AppState>,
    Client(client): Client,
    me: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RolesBody>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require("admin:roles:write")?;
    state.db.user_by_id(&id).await?.ok_or_else(ApiError::not_found)?;
    let mut roles: Vec<String> = Vec::new();
    for role in body.roles {
        if !KNOWN_ROLES.contains(&role.as_str()) {
            return Err(ApiError::bad_request(
                "unknown_role",
                format!("Unknown role; known roles: {}", KNOWN_ROLES.join(", ")),
            ));
        }
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    state.db.set_roles(&id, &roles, crate::now()).await?;
    audit(
        &state,
        "roles_changed",
        Some(&id),
        Some(&me.user.id),
        &client,
        Some(serde_json::json!({"roles": roles})),
    )
    .await;
    let user = state.db.user_by_id(&id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(user_json(&user)))
}

async fn audit_events(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(page): Query<Page>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require("admin:audit:read")?;
    let events = state.db.audit_events(None, page.limit(), page.offset()).await?;
    Ok(Json(audit_json(events)))
}

async fn rotate_keys(
    State(state): State<AppState>,
    Client(client): Client,
    me: CurrentUser,
) -> ApiResult<Json<serde_json::Value>> {
    me.require("admin:keys:rotate")?;
    let now = crate::now();
    let kid = state.keys.rotate(now).await.map_err(ApiError::internal)?;
    audit(
        &state,
        "signing_key_rotated",
        None,
        Some(&me.user.id),
        &client,
        Some(serde_json::json!({"kid": kid})),
    )
    .await;
    Ok(Json(serde_json::json!({
        "kid": kid,
        "signs_from": super::rfc3339(now + state.config.key_publish_delay_secs as i64),
    })))
}
