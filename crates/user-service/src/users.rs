//! Rules for changing user accounts, applied by every route that changes one: display
//! names are valid, and nobody changes an account more powerful than their own.

use crate::domain::error::{DomainError, DomainResult};
use crate::domain::roles::{RoleCatalog, covers};
use crate::store::User;

/// Longest display name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// A display name as stored: trimmed, at most 100 characters, no control characters
/// (names go into every access token, which verifiers cap at 8 KiB, and onto screens).
pub(crate) fn checked_name(name: &str) -> DomainResult<String> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(DomainError::bad_request(
            "invalid_name",
            "The name must have at most 100 characters and no control characters",
        ));
    }
    Ok(name.to_owned())
}

/// 403 unless `held` covers every permission in `granted`: whoever edits roles or
/// accounts must not hand out, or act on, more than they have.
pub(crate) fn require_covers(held: &[String], granted: &[String]) -> DomainResult<()> {
    match granted.iter().find(|p| !covers(held, p)) {
        Some(p) => Err(DomainError::insufficient_scope(p)),
        None => Ok(()),
    }
}

/// An account may be changed (disabled, renamed, unlocked, given roles) only by a caller
/// holding everything the account's roles grant.
pub(crate) async fn require_may_change(
    roles: &RoleCatalog,
    held: &[String],
    target: &User,
) -> DomainResult<()> {
    require_covers(held, &roles.permissions_for(&target.roles).await?)
}

/// Giving `target` the roles `new_roles`: never to oneself (a role's name carries
/// authority of its own, through `require_role`, whatever it grants), only roles whose
/// permissions the caller holds, and only on an account the caller may change.
pub(crate) async fn require_may_assign(
    roles: &RoleCatalog,
    caller_id: &str,
    held: &[String],
    target: &User,
    new_roles: &[String],
) -> DomainResult<()> {
    if caller_id == target.id {
        return Err(DomainError::forbidden("own_roles", "Nobody can change their own roles"));
    }
    require_covers(held, &roles.permissions_for(new_roles).await?)?;
    require_may_change(roles, held, target).await
}
