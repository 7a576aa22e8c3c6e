//! `GET /health` (liveness) and `GET /ready` (readiness: keys loaded).

use authgate::Authenticator;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The unauthenticated routes.
pub fn router(auth: Authenticator) -> Router {
    Router::new().route("/health", get(health)).route("/ready", get(ready)).with_state(auth)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(auth): State<Authenticator>) -> (StatusCode, Json<Value>) {
    if auth.is_ready() {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "loading signing keys"})))
    }
}
