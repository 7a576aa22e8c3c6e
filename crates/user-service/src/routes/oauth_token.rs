//! `POST /v1/auth/token`: the client-credentials grant, in RFC 6749's terms: a form body,
//! client authentication by HTTP Basic (`client_secret_basic`) or form fields
//! (`client_secret_post`) but not both, errors as `{"error", "error_description"}`
//! (section 5.2), `Cache-Control: no-store`. The grant itself (throttling, audit, scopes)
//! is [`crate::domain::service_clients::ClientTokens`].

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caller::RequestMeta;
use super::token_response::no_store;
use crate::domain::service_clients::{ClientToken, ClientTokens, OAuthError};
use crate::state::AppState;

const MAX_TOKEN_REQUEST_BYTES: usize = 8 * 1024;

/// The realm of the Basic challenge on `invalid_client`.
const BASIC_CHALLENGE: &str = r#"Basic realm="authgate", charset="UTF-8""#;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token))
}

/// A successful token response (RFC 6749 section 5.1).
#[derive(Serialize, ToSchema)]
struct TokenResponse {
    /// An `at+jwt` signed like user tokens: `sub` and `client_id` are the client id.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Lifetime in seconds (`CLIENT_TOKEN_TTL_SECS`).
    expires_in: u64,
    /// The granted scopes, space separated.
    scope: String,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "too_many_requests" => StatusCode::TOO_MANY_REQUESTS,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let retry_after = self.retry_after;
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        no_store(headers);
        // Every 401 carries a challenge; Basic is the method we prefer.
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE));
        }
        if let Some(secs) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

/// A token request (RFC 6749 section 4.4.2), form encoded: the parameters the endpoint
/// reads; every other one is ignored (section 3.2).
#[derive(Default, ToSchema)]
struct TokenRequest {
    #[schema(pattern = "^client_credentials$")]
    grant_type: Option<String>,
    /// Space-separated subset of the client's scopes; all of them when omitted.
    scope: Option<String>,
    /// `client_secret_post` only; otherwise HTTP Basic.
    client_id: Option<String>,
    /// `client_secret_post` only; otherwise HTTP Basic.
    client_secret: Option<String>,
}

impl TokenRequest {
    /// Parses the form; a known parameter twice is `invalid_request`, an empty one counts
    /// as omitted (section 3.1).
    fn parse(body: &[u8]) -> Result<TokenRequest, OAuthError> {
        let mut p = TokenRequest::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            let slot = match name.as_ref() {
                "grant_type" => &mut p.grant_type,
                "scope" => &mut p.scope,
                "client_id" => &mut p.client_id,
                "client_secret" => &mut p.client_secret,
                _ => continue,
            };
            if value.is_empty() {
                continue;
            }
            if slot.is_some() {
                return Err(OAuthError::invalid_request("A parameter is repeated"));
            }
            *slot = Some(value.into_owned());
        }
        Ok(p)
    }
}

/// Decodes `application/x-www-form-urlencoded` (section 2.3.1: id and secret are encoded
/// so before Basic); `None` on a bad escape or invalid UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The HTTP Basic credentials, if the request has an `Authorization` header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(AUTHORIZATION) else { return Ok(None) };
    if headers.get_all(AUTHORIZATION).iter().count() > 1 {
        return Err(OAuthError::invalid_request("Several Authorization headers"));
    }
    let malformed = || OAuthError::invalid_request("Malformed HTTP Basic credentials");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        tracing::debug!("token request with an Authorization scheme other than Basic");
        return Err(OAuthError::invalid_client());
    }
    let decoded =
        base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    if id.is_empty() || secret.is_empty() {
        return Err(malformed());
    }
    Ok(Some((id, secret)))
}

/// True for `application/x-www-form-urlencoded`, parameters allowed.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Client credentials grant: trades a client's id and secret for a short access token.
#[utoipa::path(
    post,
    path = "/v1/auth/token",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A token (Cache-Control: no-store)", body = TokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type or invalid_scope", body = OAuthError),
        (status = 401, description = "invalid_client: unknown client, wrong secret or revoked", body = OAuthError),
        (status = 429, description = "Too many failed authentications of this client (Retry-After)", body = OAuthError),
    ),
    security(("client_basic" = []))
)]
async fn token(
    State(state): State<AppState>,
    RequestMeta(info): RequestMeta,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OAuthError> {
    let (client_id, secret, method, scope) = read_token_request(&uri, &headers, body).await?;
    let clients = ClientTokens {
        db: &state.db,
        keys: &state.keys,
        throttle: &state.throttle,
        issuer: &state.issuer,
        audience: &state.config.audience,
        ttl_secs: state.config.client_token_ttl_secs,
    };
    let ClientToken { access_token, expires_in, scopes } =
        clients.grant(&client_id, &secret, method, scope.as_deref(), &info).await?;
    let body = TokenResponse { access_token, token_type: "Bearer", expires_in, scope: scopes.join(" ") };
    let mut response = (StatusCode::OK, Json(body)).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// The client's id and secret, how it sent them (`client_secret_basic` or
/// `client_secret_post`), and the requested scope.
async fn read_token_request(
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, String, &'static str, Option<String>), OAuthError> {
    // Section 2.3.1: credentials never in the URL.
    if let Some(query) = uri.query()
        && url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "client_secret")
    {
        return Err(OAuthError::invalid_request("Client credentials must not be sent in the URL"));
    }
    if !is_form(headers) {
        return Err(OAuthError::invalid_request("Expected Content-Type: application/x-www-form-urlencoded"));
    }
    let body = axum::body::to_bytes(body, MAX_TOKEN_REQUEST_BYTES)
        .await
        .map_err(|_| OAuthError::invalid_request("The request body is too large or unreadable"))?;
    let params = TokenRequest::parse(&body)?;
    let basic = basic_credentials(headers)?;
    let (client_id, secret, method) = match (basic, params.client_id, params.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request("Use one client authentication method, not both"));
        }
        (Some((id, secret)), None, None) => (id, secret, "client_secret_basic"),
        (None, Some(id), Some(secret)) => (id, secret, "client_secret_post"),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(OAuthError::invalid_request("client_id and client_secret go together"));
        }
        (None, None, None) => {
            tracing::debug!("token request without client authentication");
            return Err(OAuthError::invalid_client());
        }
    };
    match params.grant_type.as_deref() {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "Only the client_credentials grant is supported here",
            ));
        }
    }
    Ok((client_id, secret, method, params.scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_follows_rfc6749_2_3_1() {
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(form_decode("%E2%82%AC").as_deref(), Some("€"));
        assert_eq!(form_decode("%"), None);
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%+1"), None);
        assert_eq!(form_decode("%FF"), None, "invalid UTF-8");
        assert_eq!(form_decode("%€"), None, "a multibyte char after % never panics");
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(TokenRequest::parse(b"grant_type=a&grant_type=b").is_err());
        let p = TokenRequest::parse(b"scope=&scope=x&unknown=1&unknown=2").unwrap();
        assert_eq!(p.scope.as_deref(), Some("x"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let enc = base64::engine::general_purpose::STANDARD.encode("svc_a%3A:s+%25");
        h.insert(AUTHORIZATION, HeaderValue::from_str(&format!("basic {enc}")).unwrap());
        assert_eq!(basic_credentials(&h).unwrap(), Some(("svc_a:".to_owned(), "s %".to_owned())));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&h).unwrap_err().error, "invalid_request");
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&h).unwrap_err().error, "invalid_client");
    }
}
