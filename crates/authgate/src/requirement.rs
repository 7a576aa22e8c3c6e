//! Permission guards: what a route requires of a [`Principal`].
//!
//! # Matching rules
//!
//! - **Permissions** are strings such as `alerts:write`, matched by
//!   [`permission_matches`](crate::permission_matches): `admin:*` covers `admin:delete`
//!   and `admin:users:delete`, not `admin` or `administrator:x`.
//! - **Roles** and **scopes** match exactly, case-sensitively.
//! - [`Requirement::all`] needs every part; [`Requirement::any`] needs one. An empty
//!   `all` is always met and an empty `any` never is.
//!
//! A failed check names what was missing, so adapters answer 403 with
//! `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` (RFC 6750 §3.1).

use std::fmt;

use crate::error::Error;
use crate::principal::Principal;

/// A requirement on a principal.
///
/// ```
/// use authgate::{AuthMethod, Principal, Requirement};
/// let admin_delete = Requirement::permission("admin:delete");
/// let staff = Requirement::any([Requirement::role("admin"), Requirement::role("support")]);
/// let rule = Requirement::all([admin_delete, staff]);
///
/// let p = Principal::builder("u1", AuthMethod::Jwt)
///     .roles(["support"])
///     .permissions(["admin:*"])
///     .build();
/// assert!(rule.check(&p).is_ok());
///
/// let user = Principal::builder("u2", AuthMethod::Jwt).roles(["user"]).build();
/// let err = rule.check(&user).unwrap_err();
/// assert_eq!(err.status(), 403);
/// assert_eq!(err.scope(), Some("admin:delete"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// A permission, possibly covered by a granted wildcard.
    Permission(String),
    /// A role.
    Role(String),
    /// An OAuth scope.
    Scope(String),
    /// Every requirement.
    All(Vec<Requirement>),
    /// At least one requirement.
    Any(Vec<Requirement>),
}

impl Requirement {
    /// Requires a permission.
    pub fn permission(p: impl Into<String>) -> Requirement {
        Requirement::Permission(p.into())
    }
    /// Requires a role.
    pub fn role(r: impl Into<String>) -> Requirement {
        Requirement::Role(r.into())
    }
    /// Requires a scope.
    pub fn scope(s: impl Into<String>) -> Requirement {
        Requirement::Scope(s.into())
    }
    /// Requires all of `parts`.
    pub fn all(parts: impl IntoIterator<Item = Requirement>) -> Requirement {
        Requirement::All(parts.into_iter().collect())
    }
    /// Requires any of `parts`.
    pub fn any(parts: impl IntoIterator<Item = Requirement>) -> Requirement {
        Requirement::Any(parts.into_iter().collect())
    }

    /// Whether `principal` meets the requirement.
    pub fn is_met_by(&self, principal: &Principal) -> bool {
        self.unmet(principal).is_none()
    }

    /// Checks the requirement; the error is a 403 naming what was missing.
    pub fn check(&self, principal: &Principal) -> Result<(), Error> {
        match self.unmet(principal) {
            None => Ok(()),
            Some(missing) => Err(Error::insufficient_scope(missing)),
        }
    }

    /// The scope string of the first unmet part (for `any`, all alternatives).
    fn unmet(&self, p: &Principal) -> Option<String> {
        match self {
            Requirement::Permission(req) => (!p.has_permission(req)).then(|| req.clone()),
            Requirement::Role(role) => (!p.has_role(role)).then(|| format!("role:{role}")),
            Requirement::Scope(scope) => (!p.has_scope(scope)).then(|| scope.clone()),
            Requirement::All(parts) => parts.iter().find_map(|r| r.unmet(p)),
            Requirement::Any(parts) => {
                let mut missing = Vec::with_capacity(parts.len());
                for part in parts {
                    match part.unmet(p) {
                        None => return None,
                        Some(m) => missing.push(m),
                    }
                }
                Some(missing.join(" "))
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, parts: &[Requirement], sep: &str| {
            f.write_str("(")?;
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{part}")?;
            }
            f.write_str(")")
        };
        match self {
            Requirement::Permission(p) => write!(f, "permission {p}"),
            Requirement::Role(r) => write!(f, "role {r}"),
            Requirement::Scope(s) => write!(f, "scope {s}"),
            Requirement::All(parts) => join(f, parts, " and "),
            Requirement::Any(parts) => join(f, parts, " or "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::AuthMethod;

    #[test]
    fn missing_permission_is_403_insufficient_scope_never_401() {
        let p = Principal::builder("u", AuthMethod::Jwt).permissions(["alerts:read"]).scopes(["s1"]).build();
        let err = Requirement::permission("alerts:write").check(&p).unwrap_err();
        assert_eq!(err.status(), 403);
        assert_eq!(err.scope(), Some("alerts:write"));
        assert!(Requirement::scope("s1").check(&p).is_ok());
        assert_eq!(Requirement::role("admin").check(&p).unwrap_err().scope(), Some("role:admin"));
        let any = Requirement::any([Requirement::permission("a:b"), Requirement::scope("s2")]);
        assert_eq!(any.check(&p).unwrap_err().scope(), Some("a:b s2"));
        assert!(Requirement::all([]).is_met_by(&p));
        assert!(!Requirement::any([]).is_met_by(&p));
    }
}
