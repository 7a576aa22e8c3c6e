//! `/openapi.json` (OpenAPI 3.1, generated with utoipa) and `/docs` (Swagger UI from
//! vendored files, see `assets/swagger-ui/README.md`).
//!
//! Every route module documents its handlers with `#[utoipa::path]` and registers them
//! with `routes!`, which adds the route and its operation at once; [`router`] merges the
//! modules into the document. `tests/api/openapi.rs` checks that the document and the
//! router list the same routes.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa::openapi::response::{Response as OaResponse, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::ServerBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::error::DomainError;
pub(crate) use crate::routes::error::ErrorBody;
use crate::state::AppState;

fn error_response(description: &str) -> RefOr<OaResponse> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    ResponseBuilder::new().description(description).content("application/json", content).build().into()
}

/// Defines unit types that add a fixed set of error responses to an operation:
/// `responses((status = 200, ...), BearerErrors)`.
macro_rules! error_responses {
    ($($(#[$meta:meta])* $name:ident { $($status:literal => $description:literal),+ $(,)? })*) => {$(
        $(#[$meta])*
        #[allow(dead_code, reason = "used as a type in #[utoipa::path] only")]
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<OaResponse>> {
                [$(($status, $description)),+]
                    .into_iter()
                    .map(|(status, description)| (status.to_owned(), error_response(description)))
                    .collect()
            }
        }
    )*};
}

error_responses! {
    /// Endpoints that need an access token.
    BearerErrors {
        "401" => "Missing, invalid or expired access token (`WWW-Authenticate: Bearer`)",
    }
    /// Endpoints that need an access token with a permission.
    PermissionErrors {
        "401" => "Missing, invalid or expired access token (`WWW-Authenticate: Bearer`)",
        "403" => "The token lacks the permission (`insufficient_scope`)",
    }
    /// Endpoints that take [`super::users::Page`].
    PageErrors {
        "400" => "`limit` or `offset` is not an integer or out of range",
    }
    /// Endpoints with an optional JSON body (`crate::error::optional_json`).
    OptionalBodyErrors {
        "400" => "The body is not JSON",
        "422" => "A field has the wrong type",
    }
    /// Endpoints with a JSON body.
    BodyErrors {
        "400" => "The body is not JSON, or a value is invalid",
        "413" => "The body is larger than 2 MiB (`payload_too_large`)",
        "415" => "`Content-Type` is not `application/json`",
        "422" => "A field is missing or has the wrong type",
    }
}

/// The document's frame: info, tags, security schemes and shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "authgate user-service",
        description = "The platform's identity service: accounts, password login with TOTP MFA, sessions \
            with rotating refresh tokens, password reset, roles and permissions, API keys, trading accounts \
            with encrypted broker credentials, and service clients (OAuth 2.0 client credentials).\n\n\
            Access tokens are RS256/ES256/EdDSA JWTs (`typ: at+jwt`); other services verify them with the \
            JWKS at `/v1/auth/.well-known/jwks.json`. Errors are `{\"error\": code, \"message\": text}`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "auth", description = "Registration, login, MFA step, refresh, logout, password reset"),
        (name = "users", description = "The caller's own account, sessions and audit events"),
        (name = "mfa", description = "TOTP setup and recovery codes"),
        (name = "admin", description = "User administration, audit log, signing-key rotation"),
        (name = "roles", description = "Roles and the permission catalog"),
        (name = "api-keys", description = "The caller's API keys"),
        (name = "trading-accounts", description = "Trading accounts, their members and broker credentials"),
        (name = "service-clients", description = "Service clients and the client-credentials grant"),
        (name = "discovery", description = "JWKS and OpenID Provider metadata"),
        (name = "operations", description = "Health, metrics, development helpers"),
        (name = "docs", description = "This document and Swagger UI"),
    ),
    modifiers(&SecuritySchemes),
)]
struct Frame;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let http = |scheme, description| HttpBuilder::new().scheme(scheme).description(Some(description));
        let bearer =
            http(HttpAuthScheme::Bearer, "An access token from `/v1/auth/login` or `/v1/auth/token`");
        let basic = http(HttpAuthScheme::Basic, "A service client's id and secret (`/v1/auth/token`)");
        let api_key = ApiKeyValue::with_description("X-API-Key", "An API key from `POST /v1/api-keys`");
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer.bearer_format("JWT").build()));
        components.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(api_key)));
        components.add_security_scheme("client_basic", SecurityScheme::Http(basic.build()));
    }
}

/// The route modules, each with its OpenAPI tag, and the document they make, served
/// with `/docs` at `/openapi.json`.
pub(crate) fn router(state: &AppState, modules: Vec<(OpenApiRouter<AppState>, &str)>) -> Router<AppState> {
    let mut app = OpenApiRouter::with_openapi(Frame::openapi());
    for (mut module, tag) in modules {
        // A module's operations share its tag, unless one names its own.
        for item in module.get_openapi_mut().paths.paths.values_mut() {
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                let tags = operation.tags.get_or_insert_default();
                if tags.is_empty() {
                    tags.push(tag.to_owned());
                }
            }
        }
        app = app.merge(module);
    }
    let (app, doc) = app.split_for_parts();
    let docs = OpenApiRouter::with_openapi(doc).routes(routes!(openapi_json)).routes(routes!(docs_index));
    let (docs, mut doc) = docs.routes(routes!(docs_asset)).split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.servers =
        Some(vec![ServerBuilder::new().url(&state.issuer).description(Some("This instance")).build()]);
    // Generated once per instance; a failure would be a bug in a schema: answer 500, not panic.
    let json: Arc<Option<String>> = Arc::new(
        serde_json::to_value(&doc)
            .map(|doc| {
                with_password_lengths(doc, state.config.password_min_chars, crate::password::MAX_CHARS)
                    .to_string()
            })
            .map_err(|e| tracing::error!(error = %e, "serializing the OpenAPI document"))
            .ok(),
    );
    app.merge(docs.layer(Extension(json)))
}

/// Every request field that takes a new password, as `(schema, property)`.
const NEW_PASSWORD_FIELDS: &[(&str, &str)] =
    &[("RegisterBody", "password"), ("ResetBody", "new_password"), ("ChangePassword", "new_password")];

/// Writes the configured password lengths, and the refused common passwords, into the
/// new-password fields, so the document states the rules `crate::password` applies.
fn with_password_lengths(mut doc: serde_json::Value, min: usize, max: usize) -> serde_json::Value {
    for (schema, property) in NEW_PASSWORD_FIELDS {
        if let Some(field) = doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{property}"))
            && let Some(field) = field.as_object_mut()
        {
            field.insert("minLength".to_owned(), min.into());
            field.insert("maxLength".to_owned(), max.into());
            let common =
                serde_json::json!([{"enum": crate::password::COMMON_PASSWORDS}, {"pattern": "^(.)\\1*$"}]);
            field.insert("not".to_owned(), serde_json::json!({ "anyOf": common }));
        } else {
            tracing::error!(schema, property, "a new-password field is missing from the OpenAPI document");
        }
    }
    doc
}

/// The OpenAPI 3.1 document of this service.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "docs",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json",
        body = Object)),
)]
async fn openapi_json(Extension(json): Extension<Arc<Option<String>>>) -> Response {
    match json.as_ref() {
        Some(json) => {
            ([(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-cache")], json.clone()).into_response()
        }
        None => DomainError::internal("the OpenAPI document could not be serialized").into_response(),
    }
}

/// Swagger UI's scripts run from this origin only; its inline styles and data: images
/// need the two exceptions.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Vendored files change only with a release; ours (HTML, init script) may change with any.
const VENDORED_CACHE: &str = "public, max-age=86400";
const OWN_CACHE: &str = "no-cache";

/// `(name, content type, cache policy, bytes)` of a file of `assets/swagger-ui/`.
macro_rules! asset {
    ($name:literal, $content_type:literal, $cache:expr) => {
        ($name, $content_type, $cache, include_bytes!(concat!("../../assets/swagger-ui/", $name)))
    };
}

/// Every file under `/docs/`.
const ASSETS: &[(&str, &str, &str, &[u8])] = &[
    asset!("swagger-ui-bundle.js", "text/javascript; charset=utf-8", VENDORED_CACHE),
    asset!("swagger-ui.css", "text/css; charset=utf-8", VENDORED_CACHE),
    asset!("favicon-32x32.png", "image/png", VENDORED_CACHE),
    asset!("swagger-initializer.js", "text/javascript; charset=utf-8", OWN_CACHE),
    asset!("LICENSE", "text/plain; charset=utf-8", VENDORED_CACHE),
    asset!("NOTICE", "text/plain; charset=utf-8", VENDORED_CACHE),
];

fn static_file(content_type: &'static str, cache: &'static str, body: &'static [u8]) -> Response {
    let headers: [(HeaderName, HeaderValue); 4] = [
        (CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (CACHE_CONTROL, HeaderValue::from_static(cache)),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP)),
    ];
    (headers, body).into_response()
}

/// Swagger UI for `/openapi.json`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "docs",
    responses((status = 200, description = "Swagger UI", content_type = "text/html", body = String)),
)]
async fn docs_index() -> Response {
    static_file("text/html; charset=utf-8", OWN_CACHE, include_bytes!("../../assets/swagger-ui/index.html"))
}

/// Swagger UI's scripts, stylesheet and icon (vendored `swagger-ui-dist`).
#[utoipa::path(
    get,
    path = "/docs/{file}",
    tag = "docs",
    params(("file" = String, Path, description = "e.g. `swagger-ui-bundle.js`")),
    responses(
        (status = 200, description = "The file, with its own type", content(
            (String = "text/javascript"),
            (String = "text/css"),
            ([u8] = "image/png"),
            (String = "text/plain"),
        )),
        (status = 404, description = "No such file", body = ErrorBody),
    ),
)]
async fn docs_asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, ..)| *name == file) {
        Some(&(_, content_type, cache, body)) => static_file(content_type, cache, body),
        None => DomainError::not_found().into_response(),
    }
}
