//! What the domain answers when it refuses: a kind, a stable code and a client-safe
//! message. `routes::error` turns it into the HTTP answer (`{"error": code, "message":
//! text}` with the kind's status). Internal causes are logged, never carried.
//!
//! Authentication and permission failures (401/403/503) keep their `authgate::Error`, so
//! they are answered in one shape whoever refuses: the `AuthLayer`, the `Caller`
//! extractor or the domain (realm, `error`, `error_description`, RFC 6750).

/// Which refusal, and so which status it is answered with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub(crate) enum ErrorKind {
    /// 400: the request breaks a rule of the domain.
    Invalid,
    /// 401 that is not a bearer-token failure (a wrong password, a bad refresh token).
    Unauthorized,
    /// 403: allowed to ask, not to do this.
    Forbidden,
    /// 404 (also for what exists but is not the caller's to see).
    NotFound,
    /// 409: the current state forbids it.
    Conflict,
    /// 413: the request body is too large.
    PayloadTooLarge,
    /// 415: the request body is not JSON.
    UnsupportedMediaType,
    /// 422: the request body is JSON of the wrong shape.
    Unprocessable,
    /// 429, retry after that many seconds.
    TooManyRequests(u64),
    /// 500; the cause went to the log.
    Internal,
    /// An authentication or permission failure, answered as the core crate describes it.
    Auth(authgate::Error),
}

/// A client-safe refusal.
#[derive(Debug)]
pub(crate) struct DomainError {
    pub(crate) kind: ErrorKind,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// What the domain's operations return.
pub(crate) type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub(crate) fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> DomainError {
        DomainError { kind, code, message: message.into() }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> DomainError {
        DomainError::new(ErrorKind::Invalid, code, message)
    }

    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> DomainError {
        DomainError::new(ErrorKind::Forbidden, code, message)
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> DomainError {
        DomainError::new(ErrorKind::Conflict, code, message)
    }

    /// An authentication or permission failure, answered exactly as the `AuthLayer`
    /// answers it (status, body, `WWW-Authenticate`, `Retry-After`).
    pub(crate) fn auth(error: &authgate::Error) -> DomainError {
        let (code, message) = (error.kind().body_code(), error.description().to_owned());
        DomainError::new(ErrorKind::Auth(error.clone()), code, message)
    }

    /// 401 for an access token that verified but whose session or user no longer
    /// allows it (revoked session, disabled user).
    pub(crate) fn invalid_token() -> DomainError {
        DomainError::auth(&authgate::Error::new(
            authgate::ErrorKind::InvalidClaims,
            "session or user not active",
        ))
    }

    /// 401 when no credentials were sent at all.
    pub(crate) fn missing_token() -> DomainError {
        DomainError::auth(&authgate::Error::new(authgate::ErrorKind::MissingCredentials, "no credentials"))
    }

    /// 401 for an API key that is malformed, unknown, revoked, expired or whose owner is
    /// disabled; one answer for all, so a caller learns nothing about which (I24).
    pub(crate) fn invalid_api_key() -> DomainError {
        DomainError::new(
            ErrorKind::Auth(authgate::Error::new(authgate::ErrorKind::InvalidApiKey, "")),
            "invalid_api_key",
            "The API key is invalid, expired or revoked",
        )
    }

    /// 401 for a failed login; identical for unknown email and wrong password.
    pub(crate) fn invalid_credentials() -> DomainError {
        DomainError::new(ErrorKind::Unauthorized, "invalid_credentials", "Invalid email or password")
    }

    /// 403 for a missing permission.
    pub(crate) fn insufficient_scope(permission: &str) -> DomainError {
        DomainError::auth(&authgate::Error::insufficient_scope(permission))
    }

    pub(crate) fn not_found() -> DomainError {
        DomainError::new(ErrorKind::NotFound, "not_found", "Not found")
    }

    pub(crate) fn too_many_requests(retry_after: u64) -> DomainError {
        DomainError::new(
            ErrorKind::TooManyRequests(retry_after.max(1)),
            "too_many_requests",
            "Too many attempts, try again later",
        )
    }

    /// 500 with a generic message; the cause goes to the log only.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> DomainError {
        tracing::error!(error = %cause, "internal error");
        DomainError::new(ErrorKind::Internal, "internal_error", "Internal server error")
    }
}

impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> DomainError {
        DomainError::internal(e)
    }
}
