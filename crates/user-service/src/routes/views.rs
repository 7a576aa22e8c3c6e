//! Views shared by several route modules.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::users::Profile;
use crate::store::User;

/// A user as the API shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserView {
    id: String,
    #[schema(example = "ada@example.com")]
    email: String,
    /// Whether the owner proved the address (`POST /v1/auth/email/verify`).
    email_verified: bool,
    name: String,
    /// Role names (see `/v1/roles`).
    #[schema(example = json!(["user"]))]
    pub(crate) roles: Vec<String>,
    /// What the roles grant (an API key's permissions, for an API-key caller).
    #[schema(example = json!(["positions:read", "alerts:read"]))]
    permissions: Vec<String>,
    /// `active` or `disabled`.
    status: String,
    mfa_enabled: bool,
    /// RFC 3339.
    created_at: String,
}

impl UserView {
    pub(crate) fn new(user: &User, permissions: &[String]) -> UserView {
        UserView {
            id: user.id.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            name: user.name.clone(),
            roles: user.roles.clone(),
            permissions: permissions.to_vec(),
            status: user.status.clone(),
            mfa_enabled: user.mfa_enabled,
            created_at: rfc3339(user.created_at),
        }
    }
}

impl From<Profile> for UserView {
    fn from(p: Profile) -> UserView {
        UserView::new(&p.user, &p.permissions)
    }
}

/// RFC 3339 rendering of a Unix time.
pub(crate) fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
