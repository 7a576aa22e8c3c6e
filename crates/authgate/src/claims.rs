//! Typed access-token claims (RFC 9068 + the platform's own), shared by the issuer and
//! every verifier so the two never drift.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience string.
    One(String),
    /// An array of audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` names `candidate` exactly.
    pub fn contains(&self, candidate: &str) -> bool {
        match self {
            Audience::One(a) => a == candidate,
            Audience::Many(all) => all.iter().any(|a| a == candidate),
        }
    }
}

/// `scp` as some issuers send it: a space-delimited string or an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScopeList {
    /// Space-delimited scopes.
    Spaced(String),
    /// One scope per element.
    List(Vec<String>),
}

/// The claims of an access token. Absent optional claims are `None` or empty; claims
/// with the wrong type fail verification. Claims this type does not name are kept in
/// [`AccessClaims::extra`].
///
/// ```
/// use authgate::AccessClaims;
/// let c: AccessClaims = serde_json::from_str(
///     r#"{"sub":"u1","exp":2000000000,"roles":["user"],"scope":"a b","tier":"gold"}"#,
/// ).unwrap();
/// assert_eq!(c.sub.as_deref(), Some("u1"));
/// assert_eq!(c.scopes(), ["a", "b"]);
/// assert_eq!(c.extra["tier"], "gold");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Subject: the user id (or the client id for client-credentials tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Session id (the login session this token belongs to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The user's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Role names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Permission strings (`resource:action`, wildcards allowed; see [`crate::Requirement`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// OAuth scopes, space-delimited (RFC 8693 §4.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Scopes in the `scp` form some issuers use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<ScopeList>,
    /// Authentication methods (`pwd`, `otp`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AccessClaims {
    /// The scopes from `scope` and `scp`, in order, without duplicates.
    pub fn scopes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let from_scp: Vec<&str> = match &self.scp {
            None => Vec::new(),
            Some(ScopeList::Spaced(s)) => s.split_whitespace().collect(),
            Some(ScopeList::List(l)) => l.iter().map(String::as_str).collect(),
        };
        let from_scope = self.scope.iter().flat_map(|s| s.split_whitespace());
        for s in from_scope.chain(from_scp) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_claim_types_do_not_deserialize() {
        for bad in [r#"{"roles":"admin"}"#, r#"{"exp":"999"}"#, r#"{"permissions":[1]}"#, r#"{"sub":5}"#] {
            assert!(serde_json::from_str::<AccessClaims>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn audience_is_string_or_array() {
        let one: Audience = serde_json::from_str(r#""api""#).unwrap();
        let many: Audience = serde_json::from_str(r#"["x","api"]"#).unwrap();
        assert!(one.contains("api") && many.contains("api") && !many.contains("API"));
    }

    #[test]
    fn scp_and_scope_merge() {
        let c: AccessClaims = serde_json::from_str(r#"{"scope":"a b","scp":["b","c"]}"#).unwrap();
        assert_eq!(c.scopes(), ["a", "b", "c"]);
    }
}
