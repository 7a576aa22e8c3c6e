//! The one error type handlers return: `{"error": code, "message": text}` with the right
//! status. Internal causes are logged, never sent to the client.
//!
//! Authentication and permission failures (401/403/503) are `authgate::Error`s, answered
//! in one shape whoever refuses: the `AuthLayer` (through [`auth_error_body`]) or a
//! handler and the `Caller` extractor (through [`ApiError::auth`]): the same status,
//! body and `WWW-Authenticate` (realm, `error`, `error_description`, RFC 6750).

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// The realm named in every `WWW-Authenticate` challenge of the service.
pub(crate) const REALM: &str = authgate_tower::DEFAULT_REALM;

/// The body of an authentication or permission failure, in the service's error shape.
pub(crate) fn auth_error_body(error: &authgate::Error) -> serde_json::Value {
    serde_json::json!({ "error": error.kind().body_code(), "message": error.description() })
}

/// A client-safe error response.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    challenge: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None, challenge: None }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// An authentication or permission failure, answered exactly as the `AuthLayer`
    /// answers it (status, body, `WWW-Authenticate`, `Retry-After`).
    pub(crate) fn auth(error: &authgate::Error) -> ApiError {
        let mut e = ApiError::new(error.status(), error.kind().body_code(), error.description());
        e.challenge = error.www_authenticate(REALM);
        e.retry_after = error.retry_after().map(|after| after.as_secs());
        e
    }

    /// 401 for an access token that verified but whose session or user no longer
    /// allows it (revoked session, disabled user).
    pub(crate) fn invalid_token() -> ApiError {
        ApiError::auth(&authgate::Error::new(
            authgate::ErrorKind::InvalidClaims,
            "session or user not active",
        ))
    }

    /// 401 when no credentials were sent at all.
    pub(crate) fn missing_token() -> ApiError {
        ApiError::auth(&authgate::Error::new(authgate::ErrorKind::MissingCredentials, "no credentials"))
    }

    /// 401 for an API key that is malformed, unknown, revoked, expired or whose owner is
    /// disabled; one answer for all, so a caller learns nothing about which (I24).
    pub(crate) fn invalid_api_key() -> ApiError {
        let mut e = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "The API key is invalid, expired or revoked",
        );
        e.challenge = authgate::Error::new(authgate::ErrorKind::InvalidApiKey, "").www_authenticate(REALM);
        e
    }

    /// 401 for a failed login; identical for unknown email and wrong password.
    pub(crate) fn invalid_credentials() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "Invalid email or password")
    }

    /// 403 for a missing permission.
    pub(crate) fn insufficient_scope(permission: &str) -> ApiError {
        ApiError::auth(&authgate::Error::insufficient_scope(permission))
    }

    pub(crate) fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found")
    }

    pub(crate) fn too_many_requests(retry_after: u64) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many attempts, try again later",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// 500 with a generic message; the cause goes to the log only.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Internal server error")
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
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
    type Rejection = ApiError;

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
                    r if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "The request body is too large",
                    ),
                    JsonRejection::MissingJsonContentType(_) => ApiError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unsupported_media_type",
                        "Expected Content-Type: application/json",
                    ),
                    JsonRejection::JsonDataError(_) => wrong_shape(),
                    _ => ApiError::bad_request("invalid_request", "The request body is not valid JSON"),
                })
            }
        }
    }
}

/// `axum::extract::Query` whose rejection is our JSON 400 instead of plain text.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::try_from_uri(&parts.uri).map(|q| ApiQuery(q.0)).map_err(|_| {
            ApiError::bad_request(
                "invalid_request",
                "A query parameter is missing, malformed or out of range",
            )
        })
    }
}

/// An optional JSON body of `T` (any `Content-Type`): none (or `null`) is the default;
/// anything else must be that JSON, 400 if it is not JSON, 422 if of the wrong shape.
pub(crate) fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    match serde_json::from_slice::<Option<serde_json::Map<String, serde_json::Value>>>(body) {
        Ok(None) => Ok(T::default()),
        Ok(Some(object)) => T::deserialize(serde_json::Value::Object(object)).map_err(|_| wrong_shape()),
        Err(e) if e.is_data() => Err(wrong_shape()),
        Err(_) => Err(ApiError::bad_request("invalid_request", "The request body is not valid JSON")),
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// 422: JSON, but not the object of the fields the operation takes.
fn wrong_shape() -> ApiError {
    let message = "The request body is not an object, or is missing fields or has fields of the wrong type";
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
}

fn json_rejection_kind(rejection: &JsonRejection) -> &'static str {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => "missing JSON content type",
        JsonRejection::JsonDataError(_) => "fields missing or of the wrong type",
        JsonRejection::JsonSyntaxError(_) => "not valid JSON",
        _ => "unreadable body",
    }
}
