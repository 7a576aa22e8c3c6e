//! `GET /v1/auth/password-policy`: the password rules in force, so a client can check a
//! new password before sending it. The OpenAPI document states the same limits.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The rules every new password must meet (registration, reset, change).
#[derive(Serialize, utoipa::ToSchema)]
struct PasswordPolicy {
    /// Minimum length in characters (Unicode scalar values, not bytes).
    #[schema(example = 12)]
    min_length: usize,
    /// Maximum length in characters; longer passwords are refused, never truncated.
    #[schema(example = 128)]
    max_length: usize,
    /// Common passwords, and passwords of one repeated character, are refused.
    refuses_common_passwords: bool,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(password_policy))
}

/// The password rules in force (they differ by environment and `PASSWORD_MIN_LENGTH`).
#[utoipa::path(
    get,
    path = "/v1/auth/password-policy",
    responses((status = 200, description = "The rules", body = PasswordPolicy)),
)]
async fn password_policy(State(state): State<AppState>) -> Json<PasswordPolicy> {
    let (min_length, max_length) = (state.config.password_min_chars, crate::password::MAX_CHARS);
    Json(PasswordPolicy { min_length, max_length, refuses_common_passwords: true })
}
