//! HTTP routes: `/health` and the `/alerts` resource. Handlers only translate between
//! HTTP and [`crate::alerts`].

use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use authgate_actix::UserId;
use serde_json::json;

use crate::alerts::{AlertError, AlertStore, NewAlert};

/// Errors of the alert routes; bodies never carry internal messages.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The alert is invalid.
    #[error(transparent)]
    Invalid(#[from] AlertError),
    /// The body is not the expected JSON.
    #[error("the body must be JSON: {{\"symbol\", \"condition\", \"price\"}}")]
    BadJson,
    /// No such alert for this user.
    #[error("no such alert")]
    NotFound,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::BadJson => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let code = match self {
            ApiError::NotFound => "not_found",
            _ => "invalid_request",
        };
        HttpResponse::build(self.status_code())
            .json(json!({ "error": code, "error_description": self.to_string() }))
    }
}

/// `GET /health`: liveness, no authentication.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `POST /alerts`: stores an alert owned by the caller; 201 with the alert.
pub async fn create(
    UserId(user): UserId,
    store: web::Data<AlertStore>,
    body: web::Json<NewAlert>,
) -> Result<HttpResponse, ApiError> {
    let alert = store.create(&user, body.into_inner())?;
    tracing::info!(alert = alert.id, "alert created");
    Ok(HttpResponse::Created().json(alert))
}

/// `GET /alerts`: the caller's alerts only.
pub async fn list(UserId(user): UserId, store: web::Data<AlertStore>) -> HttpResponse {
    HttpResponse::Ok().json(store.list(&user))
}

/// `DELETE /alerts/{id}`: 204 for the owner, 404 for anyone else.
pub async fn delete(
    UserId(user): UserId,
    store: web::Data<AlertStore>,
    id: web::Path<u64>,
) -> Result<HttpResponse, ApiError> {
    if store.delete(&user, id.into_inner()) {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}

/// Malformed JSON bodies answer like every other error of this service.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    tracing::debug!(error = %err, "rejected alert body");
    ApiError::BadJson.into()
}
