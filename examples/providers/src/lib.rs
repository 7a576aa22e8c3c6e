//! # example-providers
//!
//! The code `docs/providers.md` shows, compiled and tested: an [`Authenticator`] for
//! each identity provider (Keycloak, Auth0, Entra ID, Okta, Cognito, our user-service),
//! the same from the environment, and an axum and an actix-web route guarded by a role.
//! The test `docs_show_the_tested_code_verbatim` fails when the page and this file
//! differ, and the other tests run every provider's documented token through both
//! routes.
//!
//! Each provider function takes its [`KeySet`]: in a service, [`production_keys`]
//! (OIDC discovery from the issuer, fetched on first use); in tests, a static set.

// docs:begin imports
use authgate::{AuthMode, Authenticator, ClaimMapping, Error, KeySet, KeySetConfig, ServiceConfig, Verifier};
// docs:end imports

// docs:begin keys
/// The issuer's signing keys, found through OIDC discovery on first use.
pub fn production_keys(issuer: &str) -> Result<KeySet, Error> {
    KeySet::discover(issuer, KeySetConfig::default())
}
// docs:end keys

// docs:begin keycloak
/// Keycloak: realm roles and the roles of client `orders-api` (an audience mapper puts
/// `orders-api` in `aud`).
pub fn keycloak(keys: KeySet) -> Result<Authenticator, Error> {
    let verifier = Verifier::builder()
        .issuer("https://sso.example.com/realms/trading", keys)
        .audience("orders-api")
        .claim_mapping(ClaimMapping::keycloak("orders-api"))
        .build()?;
    Ok(Authenticator::jwt(verifier))
}
// docs:end keycloak

// docs:begin auth0
/// Auth0: RBAC permissions, plus the roles an Action adds under a namespaced claim.
pub fn auth0(keys: KeySet) -> Result<Authenticator, Error> {
    let verifier = Verifier::builder()
        .issuer("https://trading.eu.auth0.com/", keys)
        .audience("https://api.trading.example.com")
        .claim_mapping(ClaimMapping::auth0().roles_from("https://trading.example.com/roles"))
        .build()?;
    Ok(Authenticator::jwt(verifier))
}
// docs:end auth0

// docs:begin entra
/// Microsoft Entra ID (v2.0 tokens): app roles from `roles`, scopes from `scp`.
pub fn entra(keys: KeySet) -> Result<Authenticator, Error> {
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let verifier = Verifier::builder()
        .issuer(format!("https://login.microsoftonline.com/{tenant}/v2.0"), keys)
        .audience("6e74172b-be56-4843-9ff4-e66a39bb12e3") // the API's application (client) id
        .claim_mapping(ClaimMapping::entra())
        .build()?;
    Ok(Authenticator::jwt(verifier))
}
// docs:end entra

// docs:begin okta
/// Okta (custom authorization server): roles from the `groups` claim, scopes from `scp`.
pub fn okta(keys: KeySet) -> Result<Authenticator, Error> {
    let verifier = Verifier::builder()
        .issuer("https://trading.okta.com/oauth2/default", keys)
        .audience("api://default")
        .claim_mapping(ClaimMapping::okta())
        .build()?;
    Ok(Authenticator::jwt(verifier))
}
// docs:end okta

// docs:begin cognito
/// Amazon Cognito: access tokens carry no `aud`, so the app client id is checked instead.
pub fn cognito(keys: KeySet) -> Result<Authenticator, Error> {
    let verifier = Verifier::builder()
        .issuer("https://cognito-idp.us-west-2.amazonaws.com/us-west-2_EXAMPLE", keys)
        .skip_audience_check()
        .authorized_party("1example23456789")
        .claim_mapping(ClaimMapping::cognito())
        .build()?;
    Ok(Authenticator::jwt(verifier))
}
// docs:end cognito

// docs:begin user-service
/// Our user-service: top-level `roles` and `permissions`, `typ: at+jwt`.
pub fn user_service(keys: KeySet) -> Result<Authenticator, Error> {
    let verifier = Verifier::builder()
        .issuer("http://127.0.0.1:8011", keys)
        .audience("trading-platform")
        .require_at_jwt()
        .build()?;
    Ok(Authenticator::jwt(verifier))
}
// docs:end user-service

// docs:begin from-env
/// Any provider, configured by the environment (`JWT_ISSUER`, `JWT_AUDIENCE`,
/// `JWT_CLAIMS_PRESET`...).
pub fn from_env() -> Result<Authenticator, Error> {
    ServiceConfig::from_env()?.authenticator(AuthMode::JwtOnly)
}
// docs:end from-env

// docs:begin axum
/// axum: `GET /tickets` for callers with role `support`.
pub fn axum_tickets(auth: Authenticator) -> axum::Router {
    use authgate_tower::{AuthLayer, CurrentUser, require_role};
    use axum::routing::get;

    async fn tickets(user: CurrentUser) -> String {
        format!("tickets for {}", user.user_id())
    }
    axum::Router::new()
        .route("/tickets", get(tickets).layer(require_role("support")))
        .layer(AuthLayer::new(auth))
}
// docs:end axum

// docs:begin actix
/// actix-web: `GET /tickets` for callers with role `support`
/// (`App::new().service(actix_tickets(auth))`).
pub fn actix_tickets(auth: Authenticator) -> impl actix_web::dev::HttpServiceFactory {
    use actix_web::web;
    use authgate_actix::{AuthMiddleware, CurrentUser, require_role};

    async fn tickets(user: CurrentUser) -> String {
        format!("tickets for {}", user.user_id())
    }
    web::resource("/tickets")
        .wrap(require_role("support"))
        .wrap(AuthMiddleware::new(auth)) // the last wrap runs first
        .route(web::get().to(tickets))
}
// docs:end actix
