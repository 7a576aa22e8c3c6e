//! HTTP routes, grouped by resource.

pub mod health;
pub mod quotes;
pub mod subscription;
