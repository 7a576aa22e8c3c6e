//! `/v1/trading-accounts`, `/v1/users/me/accounts`: trading accounts and members (who may
//! do what: [`crate::domain::trading_accounts`]); and
//! `/v1/internal/trading-accounts/{id}/credentials`, for service clients only
//! ([`ServiceClient`]), without an `AuthLayer`, which would refuse before the audit.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caller::Acting;
use super::caller::RequestMeta;
use super::openapi::{BodyErrors, ErrorBody, PermissionErrors};
use super::token_response::no_store;
use super::views::rfc3339;
use crate::domain::error::DomainResult;
use crate::domain::service_clients::{RefusedService, ServiceClient};
use crate::domain::trading_accounts::{
    AddMember, Broker, CreateAccount, Credentials, MaskedCredentials, MemberRole, SubscriptionTier,
    TradingAccounts, UpdateAccount, role_of, stored_mask,
};
use crate::routes::error::ApiJson;
use crate::state::AppState;
use crate::store::{MemberRow, TradingAccountRow};

pub(crate) fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(get_account, update_account, delete_account))
        .routes(routes!(list_members, add_member))
        .routes(routes!(remove_member))
        .routes(routes!(my_accounts))
        .route_layer(super::caller::auth_layer(state))
        .routes(routes!(account_credentials))
}

fn accounts(state: &AppState) -> TradingAccounts<'_> {
    TradingAccounts { db: &state.db, master: &state.master }
}

/// A trading account as its members see it.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountView {
    #[serde(flatten)]
    account: AccountSummary,
    credentials: MaskedCredentials,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

/// The accounts the caller is a member of.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountList {
    trading_accounts: Vec<AccountView>,
}

/// One account in `GET /v1/users/me/accounts`, and the start of an [`AccountView`].
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountSummary {
    id: String,
    #[schema(value_type = Broker)]
    broker: String,
    label: String,
    broker_user_id: String,
    #[schema(value_type = SubscriptionTier)]
    subscription_tier: String,
    /// The caller's role on this account.
    role: MemberRole,
}

/// Accounts the caller owns and accounts shared with them (trader or viewer).
#[derive(Serialize, ToSchema)]
pub(crate) struct MyAccounts {
    owned: Vec<AccountSummary>,
    shared: Vec<AccountSummary>,
}

/// A member of an account.
#[derive(Serialize, ToSchema)]
pub(crate) struct MemberView {
    user_id: String,
    email: String,
    name: String,
    role: MemberRole,
    /// RFC 3339.
    added_at: String,
}

/// The members of an account.
#[derive(Serialize, ToSchema)]
pub(crate) struct MemberList {
    members: Vec<MemberView>,
}

/// The decrypted credentials of an account, for a service.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountCredentials {
    account_id: String,
    #[schema(value_type = Broker)]
    broker: String,
    broker_user_id: String,
    credentials: Credentials,
}

impl From<(TradingAccountRow, MemberRole)> for AccountView {
    fn from((account, role): (TradingAccountRow, MemberRole)) -> AccountView {
        AccountView {
            credentials: stored_mask(&account),
            created_at: rfc3339(account.created_at),
            updated_at: rfc3339(account.updated_at),
            account: AccountSummary::from((account, role)),
        }
    }
}

impl From<(TradingAccountRow, MemberRole)> for AccountSummary {
    fn from((a, role): (TradingAccountRow, MemberRole)) -> AccountSummary {
        AccountSummary {
            id: a.id,
            broker: a.broker,
            label: a.label,
            broker_user_id: a.broker_user_id,
            subscription_tier: a.subscription_tier,
            role,
        }
    }
}

impl From<&MemberRow> for MemberView {
    fn from(m: &MemberRow) -> MemberView {
        MemberView {
            user_id: m.user_id.clone(),
            email: m.email.clone(),
            name: m.name.clone(),
            role: role_of(&m.role),
            added_at: rfc3339(m.created_at),
        }
    }
}

impl From<(TradingAccountRow, Credentials)> for AccountCredentials {
    fn from((account, credentials): (TradingAccountRow, Credentials)) -> AccountCredentials {
        AccountCredentials {
            account_id: account.id,
            broker: account.broker,
            broker_user_id: account.broker_user_id,
            credentials,
        }
    }
}

/// Links a broker account; the caller becomes its owner.
#[utoipa::path(
    post,
    path = "/v1/trading-accounts",
    request_body = CreateAccount,
    responses(
        BodyErrors,
        PermissionErrors,
        (status = 201, description = "Created; credentials masked", body = AccountView),
        (status = 422, description = "Unsupported broker or invalid fields", body = ErrorBody),
    ),
    security(("bearer" = ["trading_accounts:write"]))
)]
async fn create_account(
    State(state): State<AppState>,
    me: Acting,
    ApiJson(body): ApiJson<CreateAccount>,
) -> DomainResult<(StatusCode, Json<AccountView>)> {
    let account = accounts(&state).create(&me.actor(), body).await?;
    Ok((StatusCode::CREATED, Json(AccountView::from((account, MemberRole::Owner)))))
}

/// Every account the caller is a member of (owned or shared), with the caller's role.
#[utoipa::path(
    get,
    path = "/v1/trading-accounts",
    responses((status = 200, description = "The caller's accounts", body = AccountList), PermissionErrors),
    security(("bearer" = ["trading_accounts:read"]))
)]
async fn list_accounts(State(state): State<AppState>, me: Acting) -> DomainResult<Json<AccountList>> {
    let rows = accounts(&state).of_member(&me.actor()).await?;
    Ok(Json(AccountList { trading_accounts: rows.into_iter().map(AccountView::from).collect() }))
}

/// The caller's accounts split into owned and shared, each with the caller's role.
#[utoipa::path(
    get,
    path = "/v1/users/me/accounts",
    responses((status = 200, description = "Owned and shared accounts", body = MyAccounts), PermissionErrors),
    security(("bearer" = ["trading_accounts:read"]))
)]
async fn my_accounts(State(state): State<AppState>, me: Acting) -> DomainResult<Json<MyAccounts>> {
    let (owned, shared) = accounts(&state)
        .of_member(&me.actor())
        .await?
        .into_iter()
        .map(AccountSummary::from)
        .partition(|a| a.role == MemberRole::Owner);
    Ok(Json(MyAccounts { owned, shared }))
}

/// One account, credentials masked.
#[utoipa::path(
    get,
    path = "/v1/trading-accounts/{id}",
    params(("id" = String, Path, description = "Trading account id")),
    responses(
        PermissionErrors,
        (status = 200, description = "The account", body = AccountView),
        (status = 404, description = "Unknown, or the caller is not a member", body = ErrorBody),
    ),
    security(("bearer" = ["trading_accounts:read"]))
)]
async fn get_account(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<Json<AccountView>> {
    Ok(Json(accounts(&state).get(&me.actor(), &id).await?.into()))
}

/// Changes label, tier or credentials (re-encrypted with the newest master-key version).
/// Owners may change everything; traders only `credentials.access_token`.
#[utoipa::path(
    patch,
    path = "/v1/trading-accounts/{id}",
    params(("id" = String, Path, description = "Trading account id")),
    request_body = UpdateAccount,
    responses(
        BodyErrors,
        PermissionErrors,
        (status = 200, description = "Updated; credentials masked", body = AccountView),
        (status = 403, description = "Missing trading_accounts:write (or admin:billing:write for the tier), or the caller's role forbids the change", body = ErrorBody),
        (status = 404, description = "Unknown, or the caller is not a member", body = ErrorBody),
        (status = 409, description = "The credentials changed concurrently; retry", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ),
    security(("bearer" = ["trading_accounts:write"]))
)]
async fn update_account(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateAccount>,
) -> DomainResult<Json<AccountView>> {
    Ok(Json(accounts(&state).update(&me.actor(), &id, body).await?.into()))
}

/// Deletes the account, its credentials and memberships (owners only).
#[utoipa::path(
    delete,
    path = "/v1/trading-accounts/{id}",
    params(("id" = String, Path, description = "Trading account id")),
    responses(
        PermissionErrors,
        (status = 204, description = "Deleted"),
        (status = 403, description = "Missing trading_accounts:write, or not an owner", body = ErrorBody),
        (status = 404, description = "Unknown, or the caller is not a member", body = ErrorBody),
    ),
    security(("bearer" = ["trading_accounts:write"]))
)]
async fn delete_account(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    accounts(&state).delete(&me.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members of an account, with their roles (any member may read them).
#[utoipa::path(
    get,
    path = "/v1/trading-accounts/{id}/members",
    params(("id" = String, Path, description = "Trading account id")),
    responses(
        PermissionErrors,
        (status = 200, description = "Members", body = MemberList),
        (status = 404, description = "Unknown, or the caller is not a member", body = ErrorBody),
    ),
    security(("bearer" = ["trading_accounts:read"]))
)]
async fn list_members(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<Json<MemberList>> {
    let rows = accounts(&state).members(&me.actor(), &id).await?;
    Ok(Json(MemberList { members: rows.iter().map(MemberView::from).collect() }))
}

/// Adds a user (by email) with a role, or changes an existing member's role (owners
/// only). The last owner cannot be demoted.
#[utoipa::path(
    post,
    path = "/v1/trading-accounts/{id}/members",
    params(("id" = String, Path, description = "Trading account id")),
    request_body = AddMember,
    responses(
        BodyErrors,
        PermissionErrors,
        (status = 201, description = "Added", body = MemberView),
        (status = 200, description = "Already a member; role now as requested", body = MemberView),
        (status = 403, description = "Missing trading_accounts:write, or not an owner", body = ErrorBody),
        (status = 404, description = "Unknown account, caller not a member, or no user has this email (user_not_found)", body = ErrorBody),
        (status = 409, description = "Would demote the last owner", body = ErrorBody),
        (status = 422, description = "Invalid role", body = ErrorBody),
    ),
    security(("bearer" = ["trading_accounts:write"]))
)]
async fn add_member(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> DomainResult<(StatusCode, Json<MemberView>)> {
    let (member, added) = accounts(&state).add_member(&me.actor(), &id, body).await?;
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(MemberView::from(&member))))
}

/// Removes a member (owners), or leaves the account (any member removing themselves).
/// The last owner cannot be removed.
#[utoipa::path(
    delete,
    path = "/v1/trading-accounts/{id}/members/{user_id}",
    params(
        ("id" = String, Path, description = "Trading account id"),
        ("user_id" = String, Path, description = "The member's user id"),
    ),
    responses(
        PermissionErrors,
        (status = 204, description = "Removed"),
        (status = 403, description = "Missing trading_accounts:write, or removing someone else without being an owner", body = ErrorBody),
        (status = 404, description = "Unknown account, caller not a member, or that user is not a member", body = ErrorBody),
        (status = 409, description = "The last owner", body = ErrorBody),
    ),
    security(("bearer" = ["trading_accounts:write"]))
)]
async fn remove_member(
    State(state): State<AppState>,
    me: Acting,
    Path((id, user_id)): Path<(String, String)>,
) -> DomainResult<StatusCode> {
    accounts(&state).remove_member(&me.actor(), &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The decrypted broker credentials of a trading account, for services only: a client
/// token with `trading_accounts:credentials:read`. Every call is audited
/// (`credentials_read`), refusals included.
#[utoipa::path(
    get,
    path = "/v1/internal/trading-accounts/{id}/credentials",
    tag = "service-clients",
    params(("id" = String, Path, description = "The trading account's id")),
    responses(
        (status = 200, description = "The decrypted credentials (Cache-Control: no-store)", body = AccountCredentials),
        (status = 401, description = "Missing or invalid token, or the token of a revoked client", body = ErrorBody),
        (status = 403, description = "insufficient_scope: not a client token, or no trading_accounts:credentials:read", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn account_credentials(
    State(state): State<AppState>,
    RequestMeta(info): RequestMeta,
    Path(id): Path<String>,
    caller: Result<ServiceClient, RefusedService>,
) -> Response {
    let found = accounts(&state).credentials_for_service(caller, &id, &info).await;
    let mut response = found.map(|found| Json(AccountCredentials::from(found))).into_response();
    no_store(response.headers_mut());
    response
}
