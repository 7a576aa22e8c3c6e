//! `GET /api/positions` (JWT or API key) and `GET /api/me` (JWT only).

use std::time::{Duration, UNIX_EPOCH};

use authgate_tower::{ApiKeyDeprecation, CurrentUser};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::positions;

/// API keys are deprecated since 2026-01-01; clients see it in every API-key answer.
fn api_key_notice() -> ApiKeyDeprecation {
    ApiKeyDeprecation::since(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
        .link("https://docs.example.com/trading-platform/migrate-to-jwt")
}

/// The `/api` routes.
pub fn router(auth: &Auth) -> Router {
    let either = Router::new()
        .route("/api/positions", get(list_positions))
        .layer(auth.layer(&auth.jwt_or_api_key).deprecate_api_keys(api_key_notice()));
    let jwt_only = Router::new().route("/api/me", get(me)).layer(auth.layer(&auth.jwt));
    either.merge(jwt_only)
}

/// The caller's positions; an API-key caller also learns which key it used and the
/// trading account that key is bound to (`null` when unbound).
async fn list_positions(user: CurrentUser) -> Json<Value> {
    let key = user.api_key().map(|k| json!({"id": k.id(), "trading_account_id": k.trading_account_id()}));
    Json(json!({
        "user_id": user.user_id(),
        "auth_method": user.auth_method().as_str(),
        "api_key": key,
        "positions": positions::of_user(user.user_id()),
    }))
}

/// The body of `/api/me`, serialized straight from the principal: building a
/// `serde_json::Value` first would copy every role and permission on each request.
#[derive(Serialize)]
struct Me<'a> {
    user_id: &'a str,
    email: Option<&'a str>,
    roles: &'a [String],
    permissions: &'a [String],
}

async fn me(user: CurrentUser) -> Response {
    let me = Me {
        user_id: user.user_id(),
        email: user.email(),
        roles: user.roles(),
        permissions: user.permissions(),
    };
    Json(me).into_response()
}
