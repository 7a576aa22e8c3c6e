//! Roles and permissions.
