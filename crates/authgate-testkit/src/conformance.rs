//! One conformance table for every authgate framework adapter.
//!
//! `authgate-tower` and `authgate-actix` must answer the same request with the same
//! status, `WWW-Authenticate` challenge and JSON body. This module holds that promise
//! as data: framework-neutral [`Case`]s and a [`Fixture`] that builds the
//! [`authgate::Authenticator`] and the tokens the cases need. Each adapter mounts the
//! routes below, turns [`Fixture::request`] into its own request type, and checks the
//! answer with [`Case::check`].
//!
//! # Routes an adapter mounts
//!
//! Every route uses [`Fixture::authenticator`] and the realm [`REALM`], and its handler
//! answers 200 with the body `{"user_id": <the principal's user id, or null>}`:
//!
//! | route | authentication | guard |
//! |---|---|---|
//! | `GET /protected` | required | none |
//! | `GET /optional` | optional | none |
//! | `DELETE /admin` | required | permission `admin:delete` (403 when missing) |
//! | `GET /support` | required | role `support` (403 when missing) |
//!
//! The authenticator trusts, besides [`ISSUER`], each provider of
//! [`crate::providers`] with its preset (Keycloak, Auth0, Entra ID, Okta, Cognito), so
//! the same guards answer 200/403 to those providers' documented tokens, and it refuses
//! any caller whose `suspended` claim is true through a custom check (403 with the
//! operator's message).
//!
//! ```
//! use authgate_testkit::conformance::{CASES, Fixture};
//!
//! let fixture = Fixture::new();
//! for case in CASES {
//!     let request: http::Request<()> = fixture.request(case);
//!     // ... send `request` through the adapter's stack, then:
//!     // case.check(status, www_authenticate, retry_after.is_some(), &body)?;
//!     assert!(!request.uri().path().is_empty());
//! }
//! ```

use std::fmt;

use authgate::api_key::StaticApiKeys;
use authgate::{AuthMethod, AuthMode, Authenticator, ClaimMapping, Issuer, KeySet, Principal, Verifier};
use serde_json::Value;

use crate::keys::{TestKey, jwks};
use crate::providers::Provider;
use crate::token::{now, standard_claims};

/// The realm every conformance route uses.
pub const REALM: &str = "conformance";
/// The issuer whose keys the fixture holds.
pub const ISSUER: &str = "https://id.conformance.test";
/// A second trusted issuer whose key source is down (503 cases; the `remote` feature).
pub const DOWN_ISSUER: &str = "https://down.conformance.test";
/// The audience the fixture's verifier accepts.
pub const AUDIENCE: &str = "conformance-api";
/// The user id of the ordinary test user (JWT and API key).
pub const USER: &str = "user-1";

/// Which credential a case sends. [`Fixture::request`] turns it into headers or query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// Nothing.
    None,
    /// A valid JWT for [`USER`], no permissions or roles.
    UserJwt,
    /// A valid JWT for [`USER`] with the `Bearer` scheme spelled `bEaReR` (J26).
    UserJwtOddCase,
    /// A valid JWT for `admin-1` with permissions `["admin:*"]` and role `support`.
    AdminJwt,
    /// A JWT that expired an hour ago (J16).
    ExpiredJwt,
    /// A JWT for another audience (J20).
    WrongAudienceJwt,
    /// A JWT from an issuer that is not trusted (J21).
    UnknownIssuerJwt,
    /// A JWT with the right `kid` and a signature by another key (J30).
    ForgedSignatureJwt,
    /// An `alg: none` token with an empty signature (J02).
    AlgNoneJwt,
    /// A PS256 token from the right key while only RS256 is allowed (J05).
    DisallowedAlgJwt,
    /// `Bearer not-a-jwt`.
    Garbage,
    /// A valid JWT in `?access_token=` on a normal route (J26: ignored).
    JwtInQuery,
    /// Two `Authorization` headers.
    RepeatedAuthorization,
    /// `Authorization: Bearer` with no token.
    EmptyBearer,
    /// A valid API key for [`USER`] in `X-API-Key`.
    ApiKey,
    /// A well-formed API key that is not known.
    UnknownApiKey,
    /// A valid API key in `?api_key=` (I24: refused).
    ApiKeyInQuery,
    /// A valid API key for [`USER`] together with the admin JWT (different users: 400).
    ApiKeyAndOtherUsersJwt,
    /// A valid-looking JWT from [`DOWN_ISSUER`], whose key source is unreachable (the
    /// case using it needs the `remote` feature).
    KeySourceDownJwt,
    /// A valid JWT for [`USER`] whose `suspended` claim is true: the custom check refuses.
    SuspendedJwt,
    /// A provider's documented access token, in one of its shapes.
    Provider(Provider, Shape),
}

/// Which form of a provider's token a case sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shape {
    /// As the provider documents it (its grants include role `support`, or permission
    /// `admin:delete` for Auth0).
    Documented,
    /// Without the claims that carry its grants.
    WithoutGrants,
    /// The provider's ID token (Keycloak, Cognito).
    IdToken,
    /// Issued to a client that is not the authorized party (Cognito).
    OtherClient,
}

/// One request and the exact answer every adapter must give.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// A name stating the behaviour, with the SECURITY.md id where one applies.
    pub name: &'static str,
    /// The HTTP method.
    pub method: &'static str,
    /// The path, with any query the credential does not add.
    pub path: &'static str,
    /// Headers sent besides the credential.
    pub headers: &'static [(&'static str, &'static str)],
    /// The credential sent.
    pub credential: Credential,
    /// The expected status.
    pub status: u16,
    /// The expected `WWW-Authenticate` value, or `None` when the answer has none.
    pub www_authenticate: Option<&'static str>,
    /// Whether the answer carries `Retry-After`.
    pub retry_after: bool,
    /// The expected JSON body (compared as JSON, not as text).
    pub body: &'static str,
}

const BARE: Option<&str> = Some(r#"Bearer realm="conformance""#);
const UNAUTHORIZED: &str = r#"{"error":"unauthorized","error_description":"authentication required"}"#;
const INVALID_REQUEST: &str = r#"{"error":"invalid_request","error_description":"the request carries invalid or conflicting credentials"}"#;

const fn invalid_token(challenge: &'static str, body: &'static str) -> (Option<&'static str>, &'static str) {
    (Some(challenge), body)
}

const EXPIRED: (Option<&str>, &str) = invalid_token(
    r#"Bearer realm="conformance", error="invalid_token", error_description="the access token expired""#,
    r#"{"error":"invalid_token","error_description":"the access token expired"}"#,
);
const BAD_AUDIENCE: (Option<&str>, &str) = invalid_token(
    r#"Bearer realm="conformance", error="invalid_token", error_description="the access token audience is not accepted""#,
    r#"{"error":"invalid_token","error_description":"the access token audience is not accepted"}"#,
);
const BAD_ISSUER: (Option<&str>, &str) = invalid_token(
    r#"Bearer realm="conformance", error="invalid_token", error_description="the access token issuer is not accepted""#,
    r#"{"error":"invalid_token","error_description":"the access token issuer is not accepted"}"#,
);
const BAD_SIGNATURE: (Option<&str>, &str) = invalid_token(
    r#"Bearer realm="conformance", error="invalid_token", error_description="the access token signature is invalid""#,
    r#"{"error":"invalid_token","error_description":"the access token signature is invalid"}"#,
);
const BAD_ALG: (Option<&str>, &str) = invalid_token(
    r#"Bearer realm="conformance", error="invalid_token", error_description="the access token algorithm is not allowed""#,
    r#"{"error":"invalid_token","error_description":"the access token algorithm is not allowed"}"#,
);
const MALFORMED: (Option<&str>, &str) = invalid_token(
    r#"Bearer realm="conformance", error="invalid_token", error_description="the access token is malformed""#,
    r#"{"error":"invalid_token","error_description":"the access token is malformed"}"#,
);
const BAD_API_KEY: (Option<&str>, &str) = invalid_token(
    r#"Bearer realm="conformance", error="invalid_token", error_description="the API key is invalid""#,
    r#"{"error":"invalid_token","error_description":"the API key is invalid"}"#,
);
const OK_USER: &str = r#"{"user_id":"user-1"}"#;

macro_rules! case {
    ($name:literal, $method:literal, $path:literal, $cred:ident, $status:literal, $answer:expr) => {
        case!($name, $method, $path, &[], $cred, $status, $answer)
    };
    ($name:literal, $method:literal, $path:literal, $headers:expr, $cred:ident, $status:literal, $answer:expr) => {
        Case {
            name: $name,
            method: $method,
            path: $path,
            headers: $headers,
            credential: Credential::$cred,
            status: $status,
            www_authenticate: ($answer as (Option<&'static str>, &'static str)).0,
            retry_after: false,
            body: ($answer as (Option<&'static str>, &'static str)).1,
        }
    };
}

/// A provider case: the documented token (or a variant) at a guarded route.
macro_rules! provider_case {
    ($name:literal, $method:literal, $path:literal, $provider:ident, $shape:ident, $status:literal, $answer:expr) => {
        Case {
            name: $name,
            method: $method,
            path: $path,
            headers: &[],
            credential: Credential::Provider(Provider::$provider, Shape::$shape),
            status: $status,
            www_authenticate: ($answer as (Option<&'static str>, &'static str)).0,
            retry_after: false,
            body: ($answer as (Option<&'static str>, &'static str)).1,
        }
    };
}

const MISSING_ROLE: (Option<&str>, &str) = (
    Some(
        r#"Bearer realm="conformance", error="insufficient_scope", error_description="the credentials lack a required permission", scope="role:support""#,
    ),
    r#"{"error":"insufficient_scope","error_description":"the credentials lack a required permission","scope":"role:support"}"#,
);
const NOT_AN_ACCESS_TOKEN: (Option<&str>, &str) = invalid_token(
    r#"Bearer realm="conformance", error="invalid_token", error_description="the token is not an access token""#,
    r#"{"error":"invalid_token","error_description":"the token is not an access token"}"#,
);

/// The table. Every adapter runs every case.
pub const CASES: &[Case] = &[
    case!("missing_credentials_get_a_bare_challenge", "GET", "/protected", None, 401, (BARE, UNAUTHORIZED)),
    case!("valid_jwt_is_accepted", "GET", "/protected", UserJwt, 200, (None, OK_USER)),
    case!("j26_bearer_scheme_is_case_insensitive", "GET", "/protected", UserJwtOddCase, 200, (None, OK_USER)),
    case!("j16_expired_jwt_is_401_invalid_token", "GET", "/protected", ExpiredJwt, 401, EXPIRED),
    case!("j20_wrong_audience_is_401", "GET", "/protected", WrongAudienceJwt, 401, BAD_AUDIENCE),
    case!("j21_untrusted_issuer_is_401", "GET", "/protected", UnknownIssuerJwt, 401, BAD_ISSUER),
    case!("j30_signature_by_another_key_is_401", "GET", "/protected", ForgedSignatureJwt, 401, BAD_SIGNATURE),
    case!("j02_alg_none_is_401", "GET", "/protected", AlgNoneJwt, 401, MALFORMED),
    case!("j05_algorithm_outside_the_allow_list_is_401", "GET", "/protected", DisallowedAlgJwt, 401, BAD_ALG),
    case!("garbage_token_is_401_malformed", "GET", "/protected", Garbage, 401, MALFORMED),
    case!(
        "j26_query_access_token_is_ignored_on_normal_routes",
        "GET",
        "/protected",
        JwtInQuery,
        401,
        (BARE, UNAUTHORIZED)
    ),
    case!(
        "repeated_authorization_header_is_400_invalid_request",
        "GET",
        "/protected",
        RepeatedAuthorization,
        400,
        (None, INVALID_REQUEST)
    ),
    case!(
        "empty_bearer_is_400_invalid_request",
        "GET",
        "/protected",
        EmptyBearer,
        400,
        (None, INVALID_REQUEST)
    ),
    case!("valid_api_key_is_accepted", "GET", "/protected", ApiKey, 200, (None, OK_USER)),
    case!("unknown_api_key_is_401", "GET", "/protected", UnknownApiKey, 401, BAD_API_KEY),
    case!("i24_api_key_in_query_is_401", "GET", "/protected", ApiKeyInQuery, 401, BAD_API_KEY),
    case!(
        "jwt_and_api_key_for_different_users_is_400",
        "GET",
        "/protected",
        ApiKeyAndOtherUsersJwt,
        400,
        (None, INVALID_REQUEST)
    ),
    #[cfg(feature = "remote")]
    Case {
        name: "k01_key_source_down_is_503_with_retry_after",
        method: "GET",
        path: "/protected",
        headers: &[],
        credential: Credential::KeySourceDownJwt,
        status: 503,
        www_authenticate: None,
        retry_after: true,
        body: r#"{"error":"temporarily_unavailable","error_description":"authentication is temporarily unavailable"}"#,
    },
    case!(
        "missing_permission_is_403_insufficient_scope_never_401",
        "DELETE",
        "/admin",
        UserJwt,
        403,
        (
            Some(
                r#"Bearer realm="conformance", error="insufficient_scope", error_description="the credentials lack a required permission", scope="admin:delete""#
            ),
            r#"{"error":"insufficient_scope","error_description":"the credentials lack a required permission","scope":"admin:delete"}"#
        )
    ),
    case!(
        "granted_wildcard_permission_passes_the_guard",
        "DELETE",
        "/admin",
        AdminJwt,
        200,
        (None, r#"{"user_id":"admin-1"}"#)
    ),
    case!("guard_without_credentials_is_401_not_403", "DELETE", "/admin", None, 401, (BARE, UNAUTHORIZED)),
    case!(
        "missing_role_is_403_naming_the_role",
        "GET",
        "/support",
        UserJwt,
        403,
        (
            Some(
                r#"Bearer realm="conformance", error="insufficient_scope", error_description="the credentials lack a required permission", scope="role:support""#
            ),
            r#"{"error":"insufficient_scope","error_description":"the credentials lack a required permission","scope":"role:support"}"#
        )
    ),
    case!(
        "role_holder_passes_the_guard",
        "GET",
        "/support",
        AdminJwt,
        200,
        (None, r#"{"user_id":"admin-1"}"#)
    ),
    case!(
        "optional_mode_lets_anonymous_requests_through",
        "GET",
        "/optional",
        None,
        200,
        (None, r#"{"user_id":null}"#)
    ),
    case!("optional_mode_still_rejects_bad_tokens", "GET", "/optional", ExpiredJwt, 401, EXPIRED),
    case!("optional_mode_passes_the_principal", "GET", "/optional", UserJwt, 200, (None, OK_USER)),
    case!(
        "custom_check_refusal_is_403_with_the_operators_message",
        "GET",
        "/protected",
        SuspendedJwt,
        403,
        (
            Some(
                r#"Bearer realm="conformance", error="insufficient_scope", error_description="this account is suspended""#
            ),
            r#"{"error":"insufficient_scope","error_description":"this account is suspended"}"#
        )
    ),
    provider_case!(
        "keycloak_realm_role_passes_the_role_guard",
        "GET",
        "/support",
        Keycloak,
        Documented,
        200,
        (None, r#"{"user_id":"36fa0f91-f94d-4a0c-afed-6b7d952e47da"}"#)
    ),
    provider_case!(
        "keycloak_token_without_roles_is_403",
        "GET",
        "/support",
        Keycloak,
        WithoutGrants,
        403,
        MISSING_ROLE
    ),
    provider_case!(
        "j13_keycloak_id_token_is_401_not_an_access_token",
        "GET",
        "/support",
        Keycloak,
        IdToken,
        401,
        NOT_AN_ACCESS_TOKEN
    ),
    provider_case!(
        "auth0_permission_passes_the_permission_guard",
        "DELETE",
        "/admin",
        Auth0,
        Documented,
        200,
        (None, r#"{"user_id":"auth0|123456"}"#)
    ),
    provider_case!(
        "auth0_namespaced_role_passes_the_role_guard",
        "GET",
        "/support",
        Auth0,
        Documented,
        200,
        (None, r#"{"user_id":"auth0|123456"}"#)
    ),
    provider_case!(
        "auth0_token_without_permissions_is_403",
        "DELETE",
        "/admin",
        Auth0,
        WithoutGrants,
        403,
        (
            Some(
                r#"Bearer realm="conformance", error="insufficient_scope", error_description="the credentials lack a required permission", scope="admin:delete""#
            ),
            r#"{"error":"insufficient_scope","error_description":"the credentials lack a required permission","scope":"admin:delete"}"#
        )
    ),
    provider_case!(
        "entra_app_role_passes_the_role_guard",
        "GET",
        "/support",
        Entra,
        Documented,
        200,
        (None, r#"{"user_id":"HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ"}"#)
    ),
    provider_case!(
        "entra_token_without_roles_is_403",
        "GET",
        "/support",
        Entra,
        WithoutGrants,
        403,
        MISSING_ROLE
    ),
    provider_case!(
        "okta_group_passes_the_role_guard",
        "GET",
        "/support",
        Okta,
        Documented,
        200,
        (None, r#"{"user_id":"00ujmkLgagxeRrAg20g3"}"#)
    ),
    provider_case!(
        "okta_token_without_groups_is_403",
        "GET",
        "/support",
        Okta,
        WithoutGrants,
        403,
        MISSING_ROLE
    ),
    provider_case!(
        "cognito_group_passes_the_role_guard",
        "GET",
        "/support",
        Cognito,
        Documented,
        200,
        (None, r#"{"user_id":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}"#)
    ),
    provider_case!(
        "j13_cognito_id_token_is_401_not_an_access_token",
        "GET",
        "/support",
        Cognito,
        IdToken,
        401,
        NOT_AN_ACCESS_TOKEN
    ),
    provider_case!(
        "cognito_token_for_another_client_is_401",
        "GET",
        "/support",
        Cognito,
        OtherClient,
        401,
        BAD_AUDIENCE
    ),
    case!(
        "optional_mode_still_rejects_conflicting_credentials",
        "GET",
        "/optional",
        RepeatedAuthorization,
        400,
        (None, INVALID_REQUEST)
    ),
];

/// A mismatch between an adapter's answer and a [`Case`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The case name.
    pub case: &'static str,
    /// What differed.
    pub detail: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conformance case {}: {}", self.case, self.detail)
    }
}

impl std::error::Error for Mismatch {}

impl Case {
    /// Compares an answer with the expectation.
    pub fn check(
        &self,
        status: u16,
        www_authenticate: Option<&str>,
        has_retry_after: bool,
        body: &[u8],
    ) -> Result<(), Mismatch> {
        let fail = |detail: String| Err(Mismatch { case: self.name, detail });
        if status != self.status {
            return fail(format!(
                "status {status}, expected {} (body {})",
                self.status,
                String::from_utf8_lossy(body)
            ));
        }
        if www_authenticate != self.www_authenticate {
            return fail(format!(
                "WWW-Authenticate {www_authenticate:?}, expected {:?}",
                self.www_authenticate
            ));
        }
        if has_retry_after != self.retry_after {
            return fail(format!("Retry-After present: {has_retry_after}, expected {}", self.retry_after));
        }
        let expected: Value = serde_json::from_str(self.body).unwrap_or(Value::Null);
        match serde_json::from_slice::<Value>(body) {
            Ok(actual) if actual == expected => Ok(()),
            _ => fail(format!("body {}, expected {}", String::from_utf8_lossy(body), self.body)),
        }
    }
}

/// The authenticator and credentials the cases need.
pub struct Fixture {
    authenticator: Authenticator,
    key: TestKey,
    api_key: String,
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture").field("authenticator", &self.authenticator).finish_non_exhaustive()
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    /// An [`AuthMode::Either`] authenticator trusting [`ISSUER`] (a static JWKS holding
    /// [`TestKey::shared_rs256`]) and [`DOWN_ISSUER`] (a JWKS URL on a closed loopback
    /// port), audience [`AUDIENCE`], one static API key for [`USER`], each provider's
    /// issuer with its preset, and a check refusing `suspended` callers.
    ///
    /// # Panics
    ///
    /// If the core refuses this configuration (a bug in the fixture or the core).
    pub fn new() -> Fixture {
        let key = TestKey::shared_rs256();
        let keys = KeySet::from_jwks_json(&jwks(&[&key]).to_string()).expect("static JWKS");
        let mut builder = Verifier::builder().issuer(ISSUER, keys.clone()).audience(AUDIENCE).check(|p| {
            match p.raw_claims()["suspended"].as_bool() {
                Some(true) => Err("this account is suspended"),
                _ => Ok(()),
            }
        });
        #[cfg(feature = "remote")]
        {
            // Port 1 on loopback: connection refused at once, so the 503 case is fast.
            let down =
                KeySet::from_jwks_url("http://127.0.0.1:1/jwks.json").expect("loopback http is allowed");
            builder = builder.add_issuer(Issuer::new(DOWN_ISSUER, down));
        }
        for provider in
            [Provider::Keycloak, Provider::Auth0, Provider::Entra, Provider::Okta, Provider::Cognito]
        {
            builder = builder.add_issuer(provider_issuer(provider, keys.clone()));
        }
        let verifier = builder.build().expect("conformance verifier");
        let api_key = authgate::api_key::format::generate("test").expect("API key generation");
        let api_keys =
            StaticApiKeys::new().with_key(&api_key, Principal::builder(USER, AuthMethod::ApiKey).build());
        let authenticator = Authenticator::builder()
            .jwt(verifier)
            .api_keys(api_keys)
            .mode(AuthMode::Either)
            .build()
            .expect("conformance authenticator");
        Fixture { authenticator, key, api_key }
    }

    /// The authenticator every conformance route uses.
    pub fn authenticator(&self) -> Authenticator {
        self.authenticator.clone()
    }

    /// The realm every conformance route uses ([`REALM`]).
    pub fn realm(&self) -> &'static str {
        REALM
    }

    /// A token of `credential`'s kind, or `None` for credentials that are not one token.
    pub fn token(&self, credential: Credential) -> Option<String> {
        let claims =
            |iss: &str, aud: &str, sub: &str| self.key.token().claims(standard_claims(iss, aud, sub, 300));
        let token = match credential {
            Credential::UserJwt | Credential::UserJwtOddCase | Credential::JwtInQuery => {
                claims(ISSUER, AUDIENCE, USER).sign()
            }
            Credential::AdminJwt | Credential::ApiKeyAndOtherUsersJwt => claims(ISSUER, AUDIENCE, "admin-1")
                .claim("permissions", serde_json::json!(["admin:*"]))
                .claim("roles", serde_json::json!(["support"]))
                .sign(),
            Credential::ExpiredJwt => claims(ISSUER, AUDIENCE, USER)
                .claim("iat", now() - 7200)
                .claim("nbf", now() - 7200)
                .claim("exp", now() - 3600)
                .sign(),
            Credential::WrongAudienceJwt => claims(ISSUER, "another-api", USER).sign(),
            Credential::UnknownIssuerJwt => claims("https://evil.example", AUDIENCE, USER).sign(),
            Credential::ForgedSignatureJwt => claims(ISSUER, AUDIENCE, USER).sign_with(&TestKey::es256()),
            Credential::AlgNoneJwt => claims(ISSUER, AUDIENCE, USER).header("alg", "none").unsigned(),
            Credential::DisallowedAlgJwt => self
                .key
                .clone()
                .with_alg("PS256")
                .token()
                .claims(standard_claims(ISSUER, AUDIENCE, USER, 300))
                .sign(),
            Credential::KeySourceDownJwt => claims(DOWN_ISSUER, AUDIENCE, USER).sign(),
            Credential::SuspendedJwt => claims(ISSUER, AUDIENCE, USER).claim("suspended", true).sign(),
            Credential::Provider(provider, shape) => {
                let fixture = provider.fixture();
                let builder = match shape {
                    Shape::Documented => fixture.token(&self.key),
                    Shape::WithoutGrants => fixture.token_without_grants(&self.key),
                    Shape::IdToken => fixture.id_token(&self.key)?,
                    Shape::OtherClient => fixture.token(&self.key).claim("client_id", "someone-else"),
                };
                builder.sign()
            }
            Credential::Garbage => "not-a-jwt".to_owned(),
            Credential::None
            | Credential::RepeatedAuthorization
            | Credential::EmptyBearer
            | Credential::ApiKey
            | Credential::UnknownApiKey
            | Credential::ApiKeyInQuery => return None,
        };
        Some(token)
    }

    /// The valid API key for [`USER`].
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The request of `case`, framework-neutral.
    ///
    /// # Panics
    ///
    /// If the case holds a method, path or header that `http` refuses (a bug in the
    /// table).
    pub fn request(&self, case: &Case) -> http::Request<()> {
        let mut path = case.path.to_owned();
        let mut headers: Vec<(String, String)> =
            case.headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let bearer = |t: &str| ("authorization".to_owned(), format!("Bearer {t}"));
        let token = self.token(case.credential);
        match case.credential {
            Credential::None => {}
            Credential::UserJwtOddCase => {
                headers.push(("authorization".into(), format!("bEaReR {}", token.unwrap_or_default())))
            }
            Credential::JwtInQuery => {
                path.push_str(if path.contains('?') { "&" } else { "?" });
                path.push_str(&format!("access_token={}", token.unwrap_or_default()));
            }
            Credential::RepeatedAuthorization => {
                let t = self.token(Credential::UserJwt).unwrap_or_default();
                headers.push(bearer(&t));
                headers.push(bearer(&t));
            }
            Credential::EmptyBearer => headers.push(("authorization".into(), "Bearer ".into())),
            Credential::ApiKey => headers.push(("x-api-key".into(), self.api_key.clone())),
            Credential::UnknownApiKey => headers.push((
                "x-api-key".into(),
                authgate::api_key::format::generate("test").expect("API key generation"),
            )),
            Credential::ApiKeyInQuery => {
                path.push_str(if path.contains('?') { "&" } else { "?" });
                path.push_str(&format!("api_key={}", self.api_key));
            }
            Credential::ApiKeyAndOtherUsersJwt => {
                headers.push(bearer(&token.unwrap_or_default()));
                headers.push(("x-api-key".into(), self.api_key.clone()));
            }
            _ => headers.push(bearer(&token.unwrap_or_default())),
        }
        let mut builder = http::Request::builder().method(case.method).uri(path);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder.body(()).expect("conformance cases are valid requests")
    }
}

/// A provider's issuer as a service would configure it from the fixture's environment:
/// its preset, and its audience (or, for Cognito, its authorized client instead).
fn provider_issuer(provider: Provider, keys: KeySet) -> Issuer {
    let fixture = provider.fixture();
    let var = |name: &str| fixture.var(name).unwrap_or_default().to_owned();
    let mapping = match provider {
        Provider::Keycloak => {
            ClaimMapping::keycloak(var("JWT_CLAIMS_PRESET").trim_start_matches("keycloak:"))
        }
        Provider::Auth0 => ClaimMapping::auth0().roles_from(var("JWT_ROLES_CLAIM")),
        Provider::Entra => ClaimMapping::entra(),
        Provider::Okta => ClaimMapping::okta(),
        Provider::Cognito => ClaimMapping::cognito(),
        _ => ClaimMapping::standard(),
    };
    let issuer = Issuer::new(fixture.issuer(), keys).claim_mapping(mapping);
    match fixture.var("JWT_AUDIENCE") {
        Some(audience) => issuer.audiences([audience]),
        None => issuer.skip_audience_check().authorized_parties([var("JWT_AUTHORIZED_PARTY")]),
    }
}
