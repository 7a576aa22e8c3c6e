//! `/v1/admin/*`: user administration, audit log, key rotation. The `AuthLayer` checks
//! the token; each domain operation checks its permission (the operation's security
//! scope) against the caller's current roles: 403 `insufficient_scope` without it.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caller::Acting;
use super::openapi::{BodyErrors, ErrorBody, PageErrors, PermissionErrors};
use super::users::{AuditEventList, Page};
use super::views::UserView;
use super::views::rfc3339;
use crate::domain::audit;
use crate::domain::error::DomainResult;
use crate::routes::error::{ApiJson, ApiQuery};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
struct UserList {
    users: Vec<UserView>,
}

/// A new signing key.
#[derive(Serialize, ToSchema)]
struct RotatedKey {
    kid: String,
    /// RFC 3339: the key is published now and signs from then on.
    signs_from: String,
}

pub(crate) fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, update_user))
        .routes(routes!(set_roles))
        .routes(routes!(audit_events))
        .routes(routes!(rotate_keys))
        .route_layer(super::caller::auth_layer(state))
}

/// Users, oldest first.
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    security(("bearer" = ["admin:users:read"])),
    params(Page),
    responses((status = 200, description = "Users", body = UserList), PermissionErrors, PageErrors),
)]
async fn list_users(
    State(state): State<AppState>,
    me: Acting,
    ApiQuery(page): ApiQuery<Page>,
) -> DomainResult<Json<UserList>> {
    let list = state.users().list(&me.actor(), page.limit(), page.offset()).await?;
    Ok(Json(UserList { users: list.into_iter().map(UserView::from).collect() }))
}

#[utoipa::path(
    get,
    path = "/v1/admin/users/{id}",
    security(("bearer" = ["admin:users:read"])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        PermissionErrors,
        (status = 404, description = "No such user", body = ErrorBody),
    ),
)]
async fn get_user(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<Json<UserView>> {
    Ok(Json(state.users().get(&me.actor(), &id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
struct UpdateUser {
    #[schema(pattern = "^(active|disabled)$")]
    status: Option<String>,
    /// Clears the login throttling of the account.
    unlock: Option<bool>,
    #[schema(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    name: Option<String>,
}

/// Disables (revoking every session), enables, unlocks or renames a user; the caller
/// needs every permission the user's roles grant.
#[utoipa::path(
    patch,
    path = "/v1/admin/users/{id}",
    security(("bearer" = ["admin:users:write"])),
    params(("id" = String, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The user", body = UserView),
        PermissionErrors,
        BodyErrors,
        (status = 404, description = "No such user", body = ErrorBody),
    ),
)]
async fn update_user(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> DomainResult<Json<UserView>> {
    let (status, unlock, name) = (body.status.as_deref(), body.unlock == Some(true), body.name.as_deref());
    Ok(Json(state.users().update(&me.actor(), &id, status, unlock, name).await?.into()))
}

#[derive(Deserialize, ToSchema)]
struct RolesBody {
    /// Role names from `GET /v1/roles`; replaces the user's roles.
    #[schema(example = json!(["user"]))]
    roles: Vec<String>,
}

/// Replaces a user's roles (never one's own). Applies to the user's next access token,
/// and at once to this service's own permission checks.
#[utoipa::path(
    put,
    path = "/v1/admin/users/{id}/roles",
    security(("bearer" = ["admin:roles:assign"])),
    params(("id" = String, Path, description = "User id")),
    request_body = RolesBody,
    responses(
        (status = 200, description = "The user", body = UserView),
        PermissionErrors,
        BodyErrors,
        (status = 404, description = "No such user", body = ErrorBody),
    ),
)]
async fn set_roles(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RolesBody>,
) -> DomainResult<Json<UserView>> {
    Ok(Json(state.users().set_roles(&me.actor(), &id, body.roles).await?.into()))
}

/// Every audit event, newest first.
#[utoipa::path(
    get,
    path = "/v1/admin/audit-events",
    operation_id = "admin_audit_events",
    security(("bearer" = ["admin:audit:read"])),
    params(Page),
    responses((status = 200, description = "Events", body = AuditEventList), PermissionErrors, PageErrors),
)]
async fn audit_events(
    State(state): State<AppState>,
    me: Acting,
    ApiQuery(page): ApiQuery<Page>,
) -> DomainResult<Json<AuditEventList>> {
    Ok(Json(audit::all_events(&state.db, &me.actor(), page.limit(), page.offset()).await?.into()))
}

/// Publishes a new signing key; it signs after the publish delay, the old key stays
/// published until its last token expires.
#[utoipa::path(
    post,
    path = "/v1/admin/keys/rotate",
    security(("bearer" = ["admin:keys:rotate"])),
    responses((status = 200, description = "The new key", body = RotatedKey), PermissionErrors),
)]
async fn rotate_keys(State(state): State<AppState>, me: Acting) -> DomainResult<Json<RotatedKey>> {
    let (kid, signs_from) = state.keys.rotate_by(&me.actor()).await?;
    Ok(Json(RotatedKey { kid, signs_from: rfc3339(signs_from) }))
}
