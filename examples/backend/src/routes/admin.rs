//! `DELETE /admin/data/{id}`: needs permission `admin:delete`.

use authgate_tower::{Permission, Require};
use axum::extract::Path;
use axum::routing::delete;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::auth::Auth;

/// Deleting data.
pub struct AdminDelete;

impl Permission for AdminDelete {
    const NAME: &'static str = "admin:delete";
}

/// The `/admin` routes.
pub fn router(auth: &Auth) -> Router {
    Router::new().route("/admin/data/{id}", delete(delete_data)).layer(auth.layer(&auth.jwt))
}

async fn delete_data(admin: Require<AdminDelete>, Path(id): Path<String>) -> Json<Value> {
    tracing::info!(user = admin.user_id(), id = %id, "data deleted");
    Json(json!({"deleted": id}))
}
