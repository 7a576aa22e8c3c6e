//! HTTP routes, grouped by resource.

pub mod admin;
pub mod api;
pub mod health;
