//! The one permission matcher, used by [`crate::Principal::has_permission`] and so by
//! every [`crate::Requirement`].
//!
//! Permissions are strings such as `alerts:write`. A granted permission matches a
//! required one when they are equal, when the granted one is `*` (everything), or when
//! the granted one ends in `:*` and the required one starts with the part before the `*`
//! (`admin:*` covers `admin:delete` and `admin:users:delete`, not `admin` or
//! `administrator:x`). Only granted permissions are patterns; a required `*` is a
//! literal. Matching is case-sensitive.

/// Whether the granted permission `granted` covers `required`: they are equal, `granted`
/// is `*`, or `granted` is `prefix:*` and `required` is longer than `prefix:` and starts
/// with it. Only granted permissions are patterns, and matching is case-sensitive. The
/// one matcher for every permission check, here and in the services built on this crate.
///
/// ```
/// use authgate::permission_matches;
/// assert!(permission_matches("*", "admin:users"));
/// assert!(permission_matches("admin:*", "admin:users:delete"));
/// assert!(!permission_matches("admin*", "administrator"));
/// assert!(!permission_matches("admin:*", "administrator:x"));
/// assert!(!permission_matches("alerts:read", "*"));
/// ```
pub fn permission_matches(granted: &str, required: &str) -> bool {
    if granted == required || granted == "*" {
        return true;
    }
    match granted.strip_suffix('*') {
        Some(prefix) if prefix.ends_with(':') => {
            required.len() > prefix.len() && required.starts_with(prefix)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_rules() {
        assert!(permission_matches("*", "anything:at:all"));
        assert!(permission_matches("admin:*", "admin:delete"));
        assert!(permission_matches("admin:*", "admin:users:delete"));
        assert!(!permission_matches("admin:*", "admin"));
        assert!(!permission_matches("admin:*", "admin:"));
        assert!(!permission_matches("admin:*", "administrator:x"));
        assert!(!permission_matches("admin*", "admin:x"));
        assert!(!permission_matches("Admin:delete", "admin:delete"));
        assert!(!permission_matches("alerts:read", "*"));
    }
}
