//! What people type: the shape checks that several operations share (email addresses,
//! display names, names and labels).

use super::error::{DomainError, DomainResult};

/// Most characters of a display name, an API key's or a service client's name.
pub(crate) const MAX_NAME_CHARS: usize = 100;

/// Basic email shape check: one `@`, something on both sides, a dot in the domain.
pub(crate) fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && email.chars().count() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace)
        && !email.contains(char::is_control)
        && !domain.contains('@')
}

/// `email` trimmed, or 400 `invalid_email` unless it is [valid](valid_email).
pub(crate) fn checked_email(email: &str) -> DomainResult<&str> {
    let email = email.trim();
    valid_email(email)
        .then_some(email)
        .ok_or_else(|| DomainError::bad_request("invalid_email", "The email address is not valid"))
}

/// A display name as stored: trimmed, at most [`MAX_NAME_CHARS`] characters, no control
/// characters (names go into every access token, which verifiers cap at 8 KiB, and onto
/// screens).
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

/// 1 to `max` characters, none of them a control character.
pub(crate) fn printable(value: &str, max: usize) -> bool {
    !value.is_empty() && value.chars().count() <= max && !value.chars().any(char::is_control)
}
