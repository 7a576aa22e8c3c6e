//! `GET /subscription-status` (JWT): who the ticker thinks you are.

use authgate::Authenticator;
use authgate_tower::{AuthLayer, UserId};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The route, behind a JWT-only [`AuthLayer`].
pub fn router(auth: &Authenticator) -> Router {
    Router::new().route("/subscription-status", get(status)).layer(AuthLayer::new(auth.clone()))
}

async fn status(UserId(user_id): UserId) -> Json<Value> {
    Json(json!({"user_id": user_id, "status": "active"}))
}
