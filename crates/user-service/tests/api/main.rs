//! Integration tests of the user-service HTTP API: each test spawns the real service on
//! 127.0.0.1:0 and talks HTTP to it, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.
//! Security tests are named after their SECURITY.md ids.
#![allow(missing_docs, unreachable_pub, clippy::unwrap_used)]

mod helpers;

mod accounts;
mod admin;
mod api_keys;
mod auth;
mod auth_path;
mod clients;
mod contract;
mod discovery;
mod email_verification;
mod hardening;
mod mfa;
mod multi_instance;
mod openapi;
mod refresh;
mod reset;
mod roles;
mod service;
mod tls;
mod unsafe_settings;
mod users;
