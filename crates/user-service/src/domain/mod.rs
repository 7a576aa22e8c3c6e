//! The service's rules, free of HTTP: what logging in, tokens, MFA, password resets, API
//! keys, trading accounts, service clients, users and roles may and may not do.
//!
//! A request flows `routes` -> `domain` -> `store`, never back: routes extract and
//! answer, the domain decides, the store reads and writes rows. Domain operations take
//! only what they need (the store, the key manager, the role catalog, the mailer, the
//! time) and return a [`error::DomainError`]. `tests/layering.rs` fails if a file here
//! names `axum`, `crate::routes`, `crate::startup` or `AppState`.

pub(crate) mod actor;
pub(crate) mod api_key_auth;
pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod email_links;
pub(crate) mod email_verification;
pub(crate) mod error;
pub(crate) mod input;
pub(crate) mod mfa;
pub(crate) mod password_reset;
pub(crate) mod registration;
pub(crate) mod roles;
pub(crate) mod service_clients;
pub(crate) mod sessions;
pub(crate) mod signing_keys;
pub(crate) mod tokens;
pub(crate) mod trading_accounts;
pub(crate) mod users;
