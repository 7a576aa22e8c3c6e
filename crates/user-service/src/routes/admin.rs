//! `/v1/admin/*`: user administration, audit log, key rotation.
//!
//! Guarded twice: the tower crate's `AuthLayer` + `require_permission` check the token's
//! permissions before the handler runs, and each handler checks the permission again
//! against the user's current roles (a demotion applies at once). A missing permission
//! is 403 `insufficient_scope` (`admin` holds `*`).

use authgate::Authenticator;
use authgate_tower::{AuthLayer, require_permission};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderValue;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::users::{Page, audit_json};
use super::{Client, audit, user_json};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::startup::AppState;
use crate::throttle::account_key;
use crate::tokens::KNOWN_ROLES;

const USERS_READ: &str = "admin:users:read";
const USERS_WRITE: &str = "admin:users:write";
const ROLES_WRITE: &str = "admin:roles:write";
const AUDIT_READ: &str = "admin:audit:read";
const KEYS_ROTATE: &str = "admin:keys:rotate";

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    // The same keys as the service's own verifier (replaced in place on reload).
    let verifier =
        crate::auth::build_verifier(&state.issuer, state.keys.verifier_keys(), &state.config.audience)
            .expect("the admin verifier uses the same settings as the service verifier");
    let auth = AuthLayer::new(Authenticator::jwt(verifier)).error_body(|e: &authgate::Error| {
        let body = serde_json::json!({ "error": e.kind().body_code(), "message": e.kind().description() });
        (HeaderValue::from_static("application/json"), Bytes::from(body.to_string()))
    });
    Router::new()
        .route("/v1/admin/users", get(list_users).layer(require_permission(USERS_READ)))
        .route(
            "/v1/admin/users/{id}",
            get(get_user)
                .layer(require_permission(USERS_READ))
                .merge(patch(update_user).layer(require_permission(USERS_WRITE))),
        )
        .route("/v1/admin/users/{id}/roles", put(set_roles).layer(require_permission(ROLES_WRITE)))
        .route("/v1/admin/audit-events", get(audit_events).layer(require_permission(AUDIT_READ)))
        .route("/v1/admin/keys/rotate", post(rotate_keys).layer(require_permission(KEYS_ROTATE)))
        .layer(auth)
}

async fn list_users(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(page): Query<Page>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require(USERS_READ)?;
    let users = state.db.list_users(page.limit(), page.offset()).await?;
    Ok(Json(serde_json::json!({ "users": users.iter().map(user_json).collect::<Vec<_>>() })))
}

async fn get_user(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require(USERS_READ)?;
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
    me.require(USERS_WRITE)?;
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
        state.throttle.counters.clear(&account_key(&user.email)).await?;
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
    me.require(ROLES_WRITE)?;
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
    me.require(AUDIT_READ)?;
    let events = state.db.audit_events(None, page.limit(), page.offset()).await?;
    Ok(Json(audit_json(events)))
}

async fn rotate_keys(
    State(state): State<AppState>,
    Client(client): Client,
    me: CurrentUser,
) -> ApiResult<Json<serde_json::Value>> {
    me.require(KEYS_ROTATE)?;
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
