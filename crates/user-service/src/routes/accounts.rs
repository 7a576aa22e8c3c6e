//! `/v1/trading-accounts`, `/v1/users/me/accounts`: trading accounts and members.
//!
//! Who may do what is in [`crate::accounts`]; in short: non-members get 404 for
//! everything, viewers read, traders read and renew the broker access token, owners do
//! everything. Credentials are never returned, only masked (last 4 characters at most).
//! Adding a member by an email no account has is 404 `user_not_found`: only owners can
//! ask, and registration already tells whether an email is taken.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::openapi::{BodyErrors, ErrorBody};
use super::{RequestMeta, rfc3339};
use crate::accounts::{
    AccountChange, Broker, Credentials, MaskedCredentials, MemberRemoval, MemberRole, MemberRow,
    MemberUpsert, SubscriptionTier, TradingAccountRow, clean_text, parse_broker, parse_role, parse_tier,
    role_forbids, stored_mask,
};
use crate::domain::audit::record;
use crate::domain::error::{DomainError, DomainResult, ErrorKind};
use crate::routes::error::ApiJson;
use crate::startup::AppState;

const READ: &str = "trading_accounts:read";
const WRITE: &str = "trading_accounts:write";
/// Changing an account's subscription tier (billing), beyond membership.
const BILLING_WRITE: &str = "admin:billing:write";

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        create_account,
        list_accounts,
        get_account,
        update_account,
        delete_account,
        my_accounts,
        list_members,
        add_member,
        remove_member
    ),
    components(schemas(
        CreateAccount,
        CredentialsInput,
        UpdateAccount,
        CredentialsPatch,
        AddMember,
        AccountView,
        AccountList,
        AccountSummary,
        MyAccounts,
        MemberView,
        MemberList,
        MaskedCredentials,
        Broker,
        SubscriptionTier,
        MemberRole
    )),
    tags((name = "trading-accounts", description = "Broker accounts, their encrypted credentials and members"))
)]
pub(crate) struct Api;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/trading-accounts", get(list_accounts).post(create_account))
        .route("/v1/trading-accounts/{id}", get(get_account).patch(update_account).delete(delete_account))
        .route("/v1/trading-accounts/{id}/members", get(list_members).post(add_member))
        .route("/v1/trading-accounts/{id}/members/{user_id}", delete(remove_member))
        .route("/v1/users/me/accounts", get(my_accounts))
        .route_layer(super::auth_layer(state))
}

/// Broker credentials as submitted. Never logged, never returned.
#[derive(Deserialize, ToSchema)]
pub(crate) struct CredentialsInput {
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    api_key: String,
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    api_secret: String,
    #[schema(max_length = 2048, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    access_token: Option<String>,
}

/// `POST /v1/trading-accounts`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct CreateAccount {
    /// Only `kite` for now; anything else is 422 `unsupported_broker`.
    #[schema(value_type = Broker)]
    broker: String,
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    label: String,
    /// The account's id at the broker.
    #[schema(
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    broker_user_id: String,
    credentials: CredentialsInput,
}

/// Credentials to change; the others are kept.
#[derive(Deserialize, ToSchema)]
pub(crate) struct CredentialsPatch {
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    api_key: Option<String>,
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    api_secret: Option<String>,
    /// The daily broker session token: the one value traders may change too.
    #[schema(max_length = 2048, pattern = r"^[^\x00-\x1f\x7f-\x9f]+$")]
    access_token: Option<String>,
}

/// `PATCH /v1/trading-accounts/{id}`: every field optional.
#[derive(Deserialize, ToSchema)]
pub(crate) struct UpdateAccount {
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    label: Option<String>,
    #[schema(value_type = Option<SubscriptionTier>)]
    subscription_tier: Option<String>,
    credentials: Option<CredentialsPatch>,
}

/// `POST /v1/trading-accounts/{id}/members`: adds a member, or changes a member's role.
#[derive(Deserialize, ToSchema)]
pub(crate) struct AddMember {
    email: String,
    #[schema(value_type = MemberRole)]
    role: String,
}

/// A trading account as its members see it.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountView {
    id: String,
    #[schema(value_type = Broker)]
    broker: String,
    label: String,
    broker_user_id: String,
    #[schema(value_type = SubscriptionTier)]
    subscription_tier: String,
    /// The caller's role on this account.
    role: MemberRole,
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

/// One account in `GET /v1/users/me/accounts`.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountSummary {
    id: String,
    #[schema(value_type = Broker)]
    broker: String,
    label: String,
    broker_user_id: String,
    #[schema(value_type = SubscriptionTier)]
    subscription_tier: String,
    /// The caller's role.
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

/// A stored role, read with least privilege should it ever be unknown.
fn role_of(stored: &str) -> MemberRole {
    MemberRole::parse(stored).unwrap_or(MemberRole::Viewer)
}

fn account_view(account: &TradingAccountRow, role: MemberRole) -> AccountView {
    AccountView {
        id: account.id.clone(),
        broker: account.broker.clone(),
        label: account.label.clone(),
        broker_user_id: account.broker_user_id.clone(),
        subscription_tier: account.subscription_tier.clone(),
        role,
        credentials: stored_mask(account),
        created_at: rfc3339(account.created_at),
        updated_at: rfc3339(account.updated_at),
    }
}

fn member_view(m: &MemberRow) -> MemberView {
    MemberView {
        user_id: m.user_id.clone(),
        email: m.email.clone(),
        name: m.name.clone(),
        role: role_of(&m.role),
        added_at: rfc3339(m.created_at),
    }
}

/// The account and the caller's role; 404 when it is unknown or the caller is not a
/// member (I25: the two are indistinguishable).
async fn membership(
    state: &AppState,
    me: &Caller,
    id: &str,
) -> DomainResult<(TradingAccountRow, MemberRole)> {
    let (account, role) =
        state.db.trading_account_for_member(id, &me.user.id).await?.ok_or_else(DomainError::not_found)?;
    Ok((account, role_of(&role)))
}

/// Links a broker account; the caller becomes its owner.
#[utoipa::path(
    post,
    path = "/v1/trading-accounts",
    tag = "trading-accounts",
    request_body = CreateAccount,
    responses(
        BodyErrors,
        (status = 201, description = "Created; credentials masked", body = AccountView),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Missing trading_accounts:write", body = ErrorBody),
        (status = 422, description = "Unsupported broker or invalid fields", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create_account(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    ApiJson(body): ApiJson<CreateAccount>,
) -> DomainResult<Response> {
    me.require(WRITE)?;
    let broker = parse_broker(&body.broker)?;
    let label = clean_text(&body.label, 100, "invalid_label", "label")?;
    let broker_user_id = clean_text(&body.broker_user_id, 64, "invalid_broker_user_id", "broker_user_id")?;
    let credentials = Credentials {
        api_key: body.credentials.api_key,
        api_secret: body.credentials.api_secret,
        access_token: body.credentials.access_token,
    };
    credentials.validate()?;
    let account =
        crate::accounts::create(&state, &me.user.id, broker, label, broker_user_id, &credentials).await?;
    let details = serde_json::json!({"account_id": account.id, "broker": account.broker});
    record(
        &state.db,
        "trading_account_created",
        Some(&me.user.id),
        Some(&me.user.id),
        &client,
        Some(details),
    )
    .await;
    Ok((StatusCode::CREATED, Json(account_view(&account, MemberRole::Owner))).into_response())
}

/// Every account the caller is a member of (owned or shared), with the caller's role.
#[utoipa::path(
    get,
    path = "/v1/trading-accounts",
    tag = "trading-accounts",
    responses(
        (status = 200, description = "The caller's accounts", body = AccountList),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Missing trading_accounts:read", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_accounts(State(state): State<AppState>, me: Caller) -> DomainResult<Json<AccountList>> {
    me.require(READ)?;
    let rows = state.db.trading_accounts_of_user(&me.user.id).await?;
    let trading_accounts = rows.iter().map(|(a, role)| account_view(a, role_of(role))).collect();
    Ok(Json(AccountList { trading_accounts }))
}

/// The caller's accounts split into owned and shared, each with the caller's role.
#[utoipa::path(
    get,
    path = "/v1/users/me/accounts",
    tag = "trading-accounts",
    responses(
        (status = 200, description = "Owned and shared accounts", body = MyAccounts),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Missing trading_accounts:read", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn my_accounts(State(state): State<AppState>, me: Caller) -> DomainResult<Json<MyAccounts>> {
    me.require(READ)?;
    let rows = state.db.trading_accounts_of_user(&me.user.id).await?;
    let (mut owned, mut shared) = (Vec::new(), Vec::new());
    for (a, role) in rows {
        let role = role_of(&role);
        let summary = AccountSummary {
            id: a.id,
            broker: a.broker,
            label: a.label,
            broker_user_id: a.broker_user_id,
            subscription_tier: a.subscription_tier,
            role,
        };
        if role == MemberRole::Owner { owned.push(summary) } else { shared.push(summary) }
    }
    Ok(Json(MyAccounts { owned, shared }))
}

/// One account, credentials masked.
#[utoipa::path(
    get,
    path = "/v1/trading-accounts/{id}",
    tag = "trading-accounts",
    params(("id" = String, Path, description = "Trading account id")),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Missing trading_accounts:read", body = ErrorBody),
        (status = 404, description = "Unknown, or the caller is not a member", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn get_account(
    State(state): State<AppState>,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<AccountView>> {
    me.require(READ)?;
    let (account, role) = membership(&state, &me, &id).await?;
    Ok(Json(account_view(&account, role)))
}

/// Changes label, tier or credentials (re-encrypted with the newest master-key version).
/// Owners may change everything; traders only `credentials.access_token`.
#[utoipa::path(
    patch,
    path = "/v1/trading-accounts/{id}",
    tag = "trading-accounts",
    params(("id" = String, Path, description = "Trading account id")),
    request_body = UpdateAccount,
    responses(
        BodyErrors,
        (status = 200, description = "Updated; credentials masked", body = AccountView),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Missing trading_accounts:write, or the caller's role forbids the change", body = ErrorBody),
        (status = 404, description = "Unknown, or the caller is not a member", body = ErrorBody),
        (status = 409, description = "The credentials changed concurrently; retry", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn update_account(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateAccount>,
) -> DomainResult<Json<AccountView>> {
    me.require(WRITE)?;
    let (account, role) = membership(&state, &me, &id).await?;
    let creds =
        body.credentials.unwrap_or(CredentialsPatch { api_key: None, api_secret: None, access_token: None });
    let change = AccountChange {
        label: body.label.as_deref().map(|l| clean_text(l, 100, "invalid_label", "label")).transpose()?,
        tier: body.subscription_tier.as_deref().map(parse_tier).transpose()?,
        api_key: creds.api_key,
        api_secret: creds.api_secret,
        access_token: creds.access_token,
    };
    // The tier is what the platform bills: members (owners included) do not set their own.
    if change.tier.is_some() {
        me.require(BILLING_WRITE)?;
    }
    let mut fields: Vec<&str> = Vec::new();
    if change.label.is_some() {
        fields.push("label");
    }
    if change.tier.is_some() {
        fields.push("subscription_tier");
    }
    let credential_fields: Vec<&str> = [
        ("api_key", change.api_key.is_some()),
        ("api_secret", change.api_secret.is_some()),
        ("access_token", change.access_token.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    let (account, credentials_changed) = crate::accounts::update(&state, account, role, change).await?;
    let actor = Some(me.user.id.as_str());
    if credentials_changed {
        fields.push("credentials");
    }
    if !fields.is_empty() {
        let details = serde_json::json!({"account_id": account.id, "fields": fields});
        record(&state.db, "trading_account_updated", actor, actor, &client, Some(details)).await;
    }
    if credentials_changed {
        // Which values changed, never the values.
        let details = serde_json::json!({"account_id": account.id, "fields": credential_fields});
        record(&state.db, "trading_account_credentials_changed", actor, actor, &client, Some(details)).await;
    }
    Ok(Json(account_view(&account, role)))
}

/// Deletes the account, its credentials and memberships (owners only).
#[utoipa::path(
    delete,
    path = "/v1/trading-accounts/{id}",
    tag = "trading-accounts",
    params(("id" = String, Path, description = "Trading account id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Missing trading_accounts:write, or not an owner", body = ErrorBody),
        (status = 404, description = "Unknown, or the caller is not a member", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn delete_account(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<Response> {
    me.require(WRITE)?;
    let (account, role) = membership(&state, &me, &id).await?;
    if role != MemberRole::Owner {
        return Err(role_forbids());
    }
    if state.db.delete_trading_account(&account.id).await? {
        let details = serde_json::json!({"account_id": account.id});
        let actor = Some(me.user.id.as_str());
        record(&state.db, "trading_account_deleted", actor, actor, &client, Some(details)).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The members of an account, with their roles (any member may read them).
#[utoipa::path(
    get,
    path = "/v1/trading-accounts/{id}/members",
    tag = "trading-accounts",
    params(("id" = String, Path, description = "Trading account id")),
    responses(
        (status = 200, description = "Members", body = MemberList),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Missing trading_accounts:read", body = ErrorBody),
        (status = 404, description = "Unknown, or the caller is not a member", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_members(
    State(state): State<AppState>,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<MemberList>> {
    me.require(READ)?;
    let (account, _) = membership(&state, &me, &id).await?;
    let rows = state.db.trading_account_members(&account.id).await?;
    Ok(Json(MemberList { members: rows.iter().map(member_view).collect() }))
}

/// Adds a user (by email) with a role, or changes an existing member's role (owners
/// only). The last owner cannot be demoted.
#[utoipa::path(
    post,
    path = "/v1/trading-accounts/{id}/members",
    tag = "trading-accounts",
    params(("id" = String, Path, description = "Trading account id")),
    request_body = AddMember,
    responses(
        BodyErrors,
        (status = 201, description = "Added", body = MemberView),
        (status = 200, description = "Already a member; role now as requested", body = MemberView),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Missing trading_accounts:write, or not an owner", body = ErrorBody),
        (status = 404, description = "Unknown account, caller not a member, or no user has this email (user_not_found)", body = ErrorBody),
        (status = 409, description = "Would demote the last owner", body = ErrorBody),
        (status = 422, description = "Invalid role", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn add_member(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> DomainResult<Response> {
    me.require(WRITE)?;
    let (account, my_role) = membership(&state, &me, &id).await?;
    if my_role != MemberRole::Owner {
        return Err(role_forbids());
    }
    let role = parse_role(&body.role)?;
    let email = body.email.trim().to_lowercase();
    let user =
        state.db.user_by_email(&email).await?.ok_or_else(|| {
            DomainError::new(ErrorKind::NotFound, "user_not_found", "No user has this email")
        })?;
    let outcome =
        state.db.upsert_trading_account_member(&account.id, &user.id, role.as_str(), crate::now()).await?;
    let actor = Some(me.user.id.as_str());
    let (status, event, details) = match outcome {
        MemberUpsert::Added => (
            StatusCode::CREATED,
            Some("trading_account_member_added"),
            serde_json::json!({"account_id": account.id, "member_id": user.id, "role": role.as_str()}),
        ),
        MemberUpsert::Changed(previous) => (
            StatusCode::OK,
            Some("trading_account_member_role_changed"),
            serde_json::json!({"account_id": account.id, "member_id": user.id, "from": previous, "role": role.as_str()}),
        ),
        MemberUpsert::Unchanged => (StatusCode::OK, None, serde_json::Value::Null),
        MemberUpsert::LastOwner => return Err(last_owner()),
    };
    if let Some(event) = event {
        record(&state.db, event, actor, actor, &client, Some(details)).await;
    }
    let member = state
        .db
        .trading_account_members(&account.id)
        .await?
        .into_iter()
        .find(|m| m.user_id == user.id)
        .ok_or_else(DomainError::not_found)?;
    Ok((status, Json(member_view(&member))).into_response())
}

fn last_owner() -> DomainError {
    DomainError::conflict("last_owner", "An account must keep at least one owner")
}

/// Removes a member (owners), or leaves the account (any member removing themselves).
/// The last owner cannot be removed.
#[utoipa::path(
    delete,
    path = "/v1/trading-accounts/{id}/members/{user_id}",
    tag = "trading-accounts",
    params(
        ("id" = String, Path, description = "Trading account id"),
        ("user_id" = String, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Missing trading_accounts:write, or removing someone else without being an owner", body = ErrorBody),
        (status = 404, description = "Unknown account, caller not a member, or that user is not a member", body = ErrorBody),
        (status = 409, description = "The last owner", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn remove_member(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> DomainResult<Response> {
    me.require(WRITE)?;
    let (account, my_role) = membership(&state, &me, &id).await?;
    if my_role != MemberRole::Owner && user_id != me.user.id {
        return Err(role_forbids());
    }
    match state.db.remove_trading_account_member(&account.id, &user_id).await? {
        MemberRemoval::Removed(role) => {
            let details = serde_json::json!({"account_id": account.id, "member_id": user_id, "role": role});
            let actor = Some(me.user.id.as_str());
            record(&state.db, "trading_account_member_removed", actor, actor, &client, Some(details)).await;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        MemberRemoval::NotMember => Err(DomainError::not_found()),
        MemberRemoval::LastOwner => Err(last_owner()),
    }
}
