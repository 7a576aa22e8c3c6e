//! One error type for every way authentication can fail, with its HTTP meaning.
//!
//! Each [`ErrorKind`] knows its RFC 6750 error code, its HTTP status and a short
//! description that is safe to show a client. The detailed reason (which claim, which
//! key, what the network said) stays in [`Error`]'s `Display`/`Debug` and goes to logs
//! only. Both framework adapters turn an [`Error`] into a response through
//! [`Error::status`], [`Error::www_authenticate`] and [`Error::json_body`], so they
//! answer byte for byte the same.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

/// What went wrong, grouped by who is at fault.
///
/// Untrusted input (a bad token, an unknown key) is the caller's fault and maps to 401;
/// a missing permission maps to 403; an unreachable key source is ours and maps to 503;
/// misconfiguration is reported at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No credentials were presented. Answered with a bare challenge (RFC 6750 §3.1).
    MissingCredentials,
    /// The token is not a well-formed compact JWS: wrong segment count, bad base64url,
    /// invalid or duplicate-member JSON, too deep, wrong header member types.
    MalformedToken,
    /// The token is larger than the configured maximum.
    TokenTooLarge,
    /// The header asks for something we refuse: `crit`, `jku`/`x5u`/`x5c`/`jwk`,
    /// nested or encrypted tokens.
    UnsupportedHeader,
    /// `alg` is missing, `none`, outside the allow-list, or does not match the key.
    AlgorithmNotAllowed,
    /// No key in the issuer's set matches the token's `kid` (after any allowed refresh).
    UnknownKey,
    /// The signature does not verify.
    InvalidSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future, or `iat` further in the future than the leeway.
    NotYetValid,
    /// `iss` is missing, not a string, or not a configured issuer.
    InvalidIssuer,
    /// `aud` is missing or does not contain an accepted audience.
    InvalidAudience,
    /// The header `typ` is not an accepted access-token type.
    InvalidType,
    /// A registered claim is missing or has the wrong type (`exp` as a string...).
    InvalidClaims,
    /// The API key is malformed, fails its checksum, is unknown, revoked or expired, or
    /// was sent in the query string (where it has already leaked into logs; I24).
    InvalidApiKey,
    /// The request itself is malformed: duplicate `Authorization` headers, several
    /// different bearer tokens, a JWT and an API key naming different users. 400.
    InvalidRequest,
    /// The principal lacks a required permission, role or scope. 403.
    InsufficientScope,
    /// A custom check on the verifier ([`crate::VerifierBuilder::check`]) refused the
    /// caller. 403 `insufficient_scope`, described with the operator's message.
    Forbidden,
    /// Too many failed attempts from one client (unknown API keys): 429 with
    /// `Retry-After`, answered before the identity service is asked.
    RateLimited,
    /// The key source (JWKS endpoint, user-service) cannot be reached and nothing usable
    /// is cached. Our fault: 503 with `Retry-After`.
    KeySourceUnavailable,
    /// The library was configured wrongly (short HMAC secret, `http` JWKS URL, no issuer).
    Configuration,
}

impl ErrorKind {
    /// The HTTP status an adapter answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::InsufficientScope | ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::KeySourceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Configuration => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 §3.1 error code, or `None` where the challenge carries no code
    /// (missing credentials, server-side failures).
    pub fn rfc6750_code(self) -> Option<&'static str> {
        match self {
            ErrorKind::MissingCredentials
            | ErrorKind::KeySourceUnavailable
            | ErrorKind::Configuration
            | ErrorKind::RateLimited => None,
            ErrorKind::InvalidRequest => Some("invalid_request"),
            ErrorKind::InsufficientScope | ErrorKind::Forbidden => Some("insufficient_scope"),
            _ => Some("invalid_token"),
        }
    }

    /// The error code used in JSON bodies; always present, unlike [`Self::rfc6750_code`].
    pub fn body_code(self) -> &'static str {
        match self {
            ErrorKind::MissingCredentials => "unauthorized",
            ErrorKind::KeySourceUnavailable => "temporarily_unavailable",
            ErrorKind::Configuration => "server_error",
            ErrorKind::RateLimited => "too_many_requests",
            other => other.rfc6750_code().unwrap_or("invalid_token"),
        }
    }

    /// A short description that is safe to show a client: it never contains token
    /// contents, key material, URLs or upstream messages.
    pub fn description(self) -> &'static str {
        match self {
            ErrorKind::MissingCredentials => "authentication required",
            ErrorKind::MalformedToken => "the access token is malformed",
            ErrorKind::TokenTooLarge => "the access token is too large",
            ErrorKind::UnsupportedHeader => "the access token uses an unsupported header",
            ErrorKind::AlgorithmNotAllowed => "the access token algorithm is not allowed",
            ErrorKind::UnknownKey => "the access token was signed with an unknown key",
            ErrorKind::InvalidSignature => "the access token signature is invalid",
            ErrorKind::Expired => "the access token expired",
            ErrorKind::NotYetValid => "the access token is not valid yet",
            ErrorKind::InvalidIssuer => "the access token issuer is not accepted",
            ErrorKind::InvalidAudience => "the access token audience is not accepted",
            ErrorKind::InvalidType => "the token is not an access token",
            ErrorKind::InvalidClaims => "the access token claims are invalid",
            ErrorKind::InvalidApiKey => "the API key is invalid",
            ErrorKind::InvalidRequest => "the request carries invalid or conflicting credentials",
            ErrorKind::InsufficientScope => "the credentials lack a required permission",
            ErrorKind::Forbidden => "access denied",
            ErrorKind::RateLimited => "too many failed attempts, retry later",
            ErrorKind::KeySourceUnavailable => "authentication is temporarily unavailable",
            ErrorKind::Configuration => "authentication is misconfigured",
        }
    }

    /// A stable lowercase label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MissingCredentials => "missing_credentials",
            ErrorKind::MalformedToken => "malformed_token",
            ErrorKind::TokenTooLarge => "token_too_large",
            ErrorKind::UnsupportedHeader => "unsupported_header",
            ErrorKind::AlgorithmNotAllowed => "algorithm_not_allowed",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::InvalidSignature => "invalid_signature",
            ErrorKind::Expired => "expired",
            ErrorKind::NotYetValid => "not_yet_valid",
            ErrorKind::InvalidIssuer => "invalid_issuer",
            ErrorKind::InvalidAudience => "invalid_audience",
            ErrorKind::InvalidType => "invalid_type",
            ErrorKind::InvalidClaims => "invalid_claims",
            ErrorKind::InvalidApiKey => "invalid_api_key",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::InsufficientScope => "insufficient_scope",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::KeySourceUnavailable => "key_source_unavailable",
            ErrorKind::Configuration => "configuration",
        }
    }
}

/// An authentication or authorization failure.
///
/// `Display` shows the detailed reason for logs; clients only ever see
/// [`Error::description`] (the kind's description, or the message an operator chose for
/// a [`Error::forbidden`]).
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    detail: Box<str>,
    retry_after: Option<Duration>,
    scope: Option<Box<str>>,
    message: Option<Box<str>>,
}

impl Error {
    /// An error of `kind` with a detailed reason for logs.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Error { kind, detail: detail.into().into_boxed_str(), retry_after: None, scope: None, message: None }
    }

    pub(crate) fn key_source_unavailable(detail: impl Into<String>, retry_after: Duration) -> Self {
        Error::new(ErrorKind::KeySourceUnavailable, detail).with_retry_after(retry_after)
    }

    /// A 403 naming the scope (permission, role or scope string) that was missing.
    pub fn insufficient_scope(scope: impl Into<String>) -> Self {
        let scope = scope.into();
        Error {
            kind: ErrorKind::InsufficientScope,
            detail: format!("missing {scope}").into_boxed_str(),
            retry_after: None,
            scope: Some(scope.into_boxed_str()),
            message: None,
        }
    }

    /// A 403 whose client-facing description is `message`, chosen by the operator (a
    /// custom check's refusal). It is sent to clients as is: put nothing secret in it.
    ///
    /// ```
    /// use authgate::{Error, ErrorKind};
    /// let e = Error::forbidden("trading is closed on weekends");
    /// assert_eq!((e.kind(), e.status().as_u16()), (ErrorKind::Forbidden, 403));
    /// assert!(e.json_body().contains("trading is closed on weekends"));
    /// ```
    pub fn forbidden(message: impl Into<String>) -> Self {
        let message: String = message.into();
        let mut error = Error::new(ErrorKind::Forbidden, format!("refused by a check: {message}"));
        if !message.trim().is_empty() {
            error.message = Some(message.into_boxed_str());
        }
        error
    }

    /// A 429 for a client over a failure limit, retrying after `retry_after`.
    pub(crate) fn rate_limited(detail: impl Into<String>, retry_after: Duration) -> Self {
        Error::new(ErrorKind::RateLimited, detail).with_retry_after(retry_after)
    }

    /// What a client is told: the kind's description, or an operator's message.
    pub fn description(&self) -> &str {
        self.message.as_deref().unwrap_or(self.kind.description())
    }

    /// Adds a `Retry-After` hint (used with [`ErrorKind::KeySourceUnavailable`]).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status an adapter should answer with.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The detailed reason, for logs only.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// How long a client should wait before retrying, for 503 answers.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The missing scope, for 403 `insufficient_scope` answers.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The value of the `Retry-After` header in whole seconds (at least 1), if any.
    pub fn retry_after_header(&self) -> Option<String> {
        self.retry_after.map(|d| d.as_secs().max(1).to_string())
    }

    /// The `WWW-Authenticate` challenge for this error (RFC 6750 §3), or `None` when the
    /// status does not call for one (400 and 503 answers carry none; 401 and 403 do).
    ///
    /// ```
    /// use authgate::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::Expired, "exp 5 s ago");
    /// assert_eq!(
    ///     e.www_authenticate("api").as_deref(),
    ///     Some(r#"Bearer realm="api", error="invalid_token", error_description="the access token expired""#)
    /// );
    /// let missing = Error::new(ErrorKind::MissingCredentials, "no header");
    /// assert_eq!(missing.www_authenticate("api").as_deref(), Some(r#"Bearer realm="api""#));
    /// ```
    pub fn www_authenticate(&self, realm: &str) -> Option<String> {
        if !matches!(self.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return None;
        }
        let mut value = format!("Bearer realm=\"{}\"", quote_safe(realm));
        if let Some(code) = self.kind.rfc6750_code() {
            // RFC 6750 §3: error_description is visible ASCII without `"` and `\\`.
            let description: String = self
                .description()
                .chars()
                .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
                .collect();
            value
                .push_str(&format!(", error=\"{code}\", error_description=\"{}\"", quote_safe(&description)));
        }
        if let Some(scope) = &self.scope {
            value.push_str(&format!(", scope=\"{}\"", quote_safe(scope)));
        }
        Some(value)
    }

    /// The JSON body adapters send: `{"error": code, "error_description": text}`.
    pub fn json_body(&self) -> String {
        let mut body = serde_json::json!({
            "error": self.kind.body_code(),
            "error_description": self.description(),
        });
        if let (Some(scope), Some(map)) = (&self.scope, body.as_object_mut()) {
            map.insert("scope".into(), serde_json::Value::String(scope.to_string()));
        }
        body.to_string()
    }
}

/// Keeps a header parameter value inside its quotes (RFC 7235 quoted-string).
fn quote_safe(value: &str) -> String {
    value.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect()
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("detail", &self.detail)
            .field("retry_after", &self.retry_after)
            .field("scope", &self.scope)
            .field("message", &self.message)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_who_is_at_fault() {
        assert_eq!(ErrorKind::UnknownKey.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(ErrorKind::KeySourceUnavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ErrorKind::InsufficientScope.status(), StatusCode::FORBIDDEN);
        assert_eq!(ErrorKind::InvalidRequest.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn insufficient_scope_challenge_names_the_scope() {
        let e = Error::insufficient_scope("admin:delete");
        assert_eq!(
            e.www_authenticate("r").as_deref(),
            Some(
                r#"Bearer realm="r", error="insufficient_scope", error_description="the credentials lack a required permission", scope="admin:delete""#
            )
        );
        let body: serde_json::Value = serde_json::from_str(&e.json_body()).unwrap_or_default();
        assert_eq!(body["error"], "insufficient_scope");
        assert_eq!(body["scope"], "admin:delete");
    }

    #[test]
    fn unavailable_has_retry_after_and_no_challenge() {
        let e = Error::key_source_unavailable("connect refused", Duration::from_millis(300));
        assert_eq!(e.retry_after_header().as_deref(), Some("1"));
        assert_eq!(e.www_authenticate("r"), None);
        assert!(!e.json_body().contains("refused"));
    }

    #[test]
    fn forbidden_carries_the_operators_message_in_a_safe_challenge() {
        let e = Error::forbidden("désolé \"closed\"\r\n");
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        let challenge = e.www_authenticate("r").unwrap_or_default();
        assert_eq!(
            challenge,
            r#"Bearer realm="r", error="insufficient_scope", error_description="d?sol? closed??""#
        );
        assert!(http::HeaderValue::try_from(challenge).is_ok());
        let body: serde_json::Value = serde_json::from_str(&e.json_body()).unwrap_or_default();
        assert_eq!(body["error_description"], "désolé \"closed\"\r\n");
        assert_eq!(Error::forbidden(" ").description(), "access denied");
    }

    #[test]
    fn rate_limited_is_429_with_retry_after_and_no_challenge() {
        let e = Error::rate_limited("11 unknown keys", Duration::from_secs(42));
        assert_eq!((e.status().as_u16(), e.retry_after_header().as_deref()), (429, Some("42")));
        assert_eq!(e.www_authenticate("r"), None);
        assert!(e.json_body().contains("too_many_requests"));
    }

    #[test]
    fn realm_cannot_break_out_of_its_quotes() {
        let e = Error::new(ErrorKind::MissingCredentials, "");
        assert_eq!(e.www_authenticate("a\"b\\c").as_deref(), Some(r#"Bearer realm="abc""#));
    }
}
