//! How a [`DomainError`] is answered: `{"error": code, "message": text}` with the status
//! of its kind, `Retry-After` on 429 and the RFC 6750 `WWW-Authenticate` challenge on
//! authentication failures. Also [`ApiJson`], whose rejections take the same shape.

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::domain::error::{DomainError, ErrorKind};

/// The realm named in every `WWW-Authenticate` challenge of the service.
pub(crate) const REALM: &str = authgate_tower::DEFAULT_REALM;

/// The body of every error response.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": "not_found", "message": "Not found"}))]
pub(crate) struct ErrorBody {
    /// A stable, machine-readable code (`invalid_token`, `insufficient_scope`, ...).
    #[schema(value_type = String)]
    error: &'static str,
    /// A human-readable description, safe to show.
    message: String,
}

/// The body of an authentication or permission failure, in the service's error shape.
pub(crate) fn auth_error_body(error: &authgate::Error) -> ErrorBody {
    ErrorBody { error: error.kind().body_code(), message: error.description().to_owned() }
}

impl IntoResponse for DomainError {
    fn into_response(self) -> Response {
        let status = match &self.kind {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Auth(e) => e.status(),
        };
        let (retry_after, challenge) = match &self.kind {
            ErrorKind::TooManyRequests(secs) => (Some(*secs), None),
            ErrorKind::Auth(e) => (e.retry_after().map(|after| after.as_secs()), e.www_authenticate(REALM)),
            _ => (None, None),
        };
        let body = ErrorBody { error: self.code, message: self.message };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// `axum::Json` whose rejections are our JSON errors instead of plain text.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = DomainError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        // Every body is a JSON object: serde alone would also build a struct from an array.
        match axum::Json::<serde_json::Map<String, serde_json::Value>>::from_request(req, state).await {
            Ok(axum::Json(object)) => {
                T::deserialize(serde_json::Value::Object(object)).map(ApiJson).map_err(|_| {
                    tracing::debug!(kind = "fields missing or of the wrong type", "rejected request body");
                    wrong_shape()
                })
            }
            Err(rejection) => {
                // Only the kind: serde's message may quote the offending value, and a
                // misplaced secret (a password, a credential) must not reach the log (I27).
                tracing::debug!(kind = json_rejection_kind(&rejection), "rejected request body");
                Err(match rejection {
                    r if r.status() == StatusCode::PAYLOAD_TOO_LARGE => DomainError::new(
                        ErrorKind::PayloadTooLarge,
                        "payload_too_large",
                        "The request body is too large",
                    ),
                    JsonRejection::MissingJsonContentType(_) => DomainError::new(
                        ErrorKind::UnsupportedMediaType,
                        "unsupported_media_type",
                        "Expected Content-Type: application/json",
                    ),
                    JsonRejection::JsonDataError(_) => wrong_shape(),
                    _ => DomainError::bad_request("invalid_request", "The request body is not valid JSON"),
                })
            }
        }
    }
}

/// `axum::extract::Query` whose rejection is our JSON 400 instead of plain text.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = DomainError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, DomainError> {
        axum::extract::Query::try_from_uri(&parts.uri).map(|q| ApiQuery(q.0)).map_err(|_| {
            DomainError::bad_request(
                "invalid_request",
                "A query parameter is missing, malformed or out of range",
            )
        })
    }
}

/// An optional JSON body of `T` (any `Content-Type`): none (or `null`) is the default;
/// anything else must be that JSON, 400 if it is not JSON, 422 if of the wrong shape.
pub(crate) fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, DomainError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    match serde_json::from_slice::<Option<serde_json::Map<String, serde_json::Value>>>(body) {
        Ok(None) => Ok(T::default()),
        Ok(Some(object)) => T::deserialize(serde_json::Value::Object(object)).map_err(|_| wrong_shape()),
        Err(e) if e.is_data() => Err(wrong_shape()),
        Err(_) => Err(DomainError::bad_request("invalid_request", "The request body is not valid JSON")),
    }
}

/// 422: JSON, but not the object of the fields the operation takes.
fn wrong_shape() -> DomainError {
    let message = "The request body is not an object, or is missing fields or has fields of the wrong type";
    DomainError::new(ErrorKind::Unprocessable, "invalid_request", message)
}

fn json_rejection_kind(rejection: &JsonRejection) -> &'static str {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => "missing JSON content type",
        JsonRejection::JsonDataError(_) => "fields missing or of the wrong type",
        JsonRejection::JsonSyntaxError(_) => "not valid JSON",
        _ => "unreadable body",
    }
}
