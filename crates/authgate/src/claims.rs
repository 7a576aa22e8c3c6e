//! Typed access-token claims (RFC 9068 + the platform's own), shared by the issuer and
//! every verifier so the two never drift.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::jose::Payload;

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

impl AccessClaims {
    /// Takes the claims out of a verified payload without copying: named members are
    /// moved into their fields, the rest stays in `extra`. Equivalent to deserializing
    /// (same type rules: `null` means absent, wrong types are errors) without serde's
    /// buffering of flattened maps, which dominated the non-crypto cost of a verify.
    pub(crate) fn from_payload(mut map: Payload) -> Result<AccessClaims, String> {
        fn string(map: &mut Payload, name: &str) -> Result<Option<String>, String> {
            match map.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(format!("{name} is not a string")),
            }
        }
        fn number(map: &mut Payload, name: &str) -> Result<Option<u64>, String> {
            match map.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => {
                    n.as_u64().map(Some).ok_or_else(|| format!("{name} is not a NumericDate"))
                }
                Some(_) => Err(format!("{name} is not a number")),
            }
        }
        fn strings(value: Value, name: &str) -> Result<Vec<String>, String> {
            match value {
                Value::Array(items) => items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        _ => Err(format!("{name} holds a non-string")),
                    })
                    .collect(),
                _ => Err(format!("{name} is not an array")),
            }
        }
        fn list(map: &mut Payload, name: &str) -> Result<Vec<String>, String> {
            match map.remove(name) {
                None => Ok(Vec::new()),
                Some(v) => strings(v, name),
            }
        }
        fn one_or_many(value: Value, name: &str) -> Result<Result<String, Vec<String>>, String> {
            match value {
                Value::String(s) => Ok(Ok(s)),
                other => strings(other, name).map(Err),
            }
        }
        let aud = match map.remove("aud") {
            None | Some(Value::Null) => None,
            Some(v) => Some(match one_or_many(v, "aud")? {
                Ok(one) => Audience::One(one),
                Err(many) => Audience::Many(many),
            }),
        };
        let scp = match map.remove("scp") {
            None | Some(Value::Null) => None,
            Some(v) => Some(match one_or_many(v, "scp")? {
                Ok(spaced) => ScopeList::Spaced(spaced),
                Err(list) => ScopeList::List(list),
            }),
        };
        Ok(AccessClaims {
            sub: string(&mut map, "sub")?,
            iss: string(&mut map, "iss")?,
            aud,
            exp: number(&mut map, "exp")?,
            iat: number(&mut map, "iat")?,
            nbf: number(&mut map, "nbf")?,
            jti: string(&mut map, "jti")?,
            sid: string(&mut map, "sid")?,
            email: string(&mut map, "email")?,
            name: string(&mut map, "name")?,
            roles: list(&mut map, "roles")?,
            permissions: list(&mut map, "permissions")?,
            scope: string(&mut map, "scope")?,
            scp,
            amr: list(&mut map, "amr")?,
            extra: map.extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_payload_agrees_with_serde() {
        let docs = [
            r#"{"sub":"u","aud":["a","b"],"exp":5,"roles":["r"],"scp":"x y","tier":"gold","nested":{"a":1}}"#,
            r#"{"sub":null,"aud":"a","scope":"s","amr":["pwd"],"permissions":[]}"#,
            r#"{}"#,
        ];
        for doc in docs {
            let map: Map<String, Value> = serde_json::from_str(doc).unwrap();
            let fast = AccessClaims::from_payload(Payload::from_map(map)).unwrap();
            let serde: AccessClaims = serde_json::from_str(doc).unwrap();
            assert_eq!(fast, serde, "{doc}");
        }
        for bad in
            [r#"{"roles":"admin"}"#, r#"{"sub":5}"#, r#"{"aud":[1]}"#, r#"{"exp":"1"}"#, r#"{"roles":null}"#]
        {
            let map: Map<String, Value> = serde_json::from_str(bad).unwrap();
            assert!(AccessClaims::from_payload(Payload::from_map(map)).is_err(), "{bad}");
            assert!(serde_json::from_str::<AccessClaims>(bad).is_err(), "{bad}");
        }
    }

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
