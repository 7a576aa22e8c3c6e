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
/// with the wrong type fail verification. Claims this type does not name are kept and
/// read with [`AccessClaims::get`].
///
/// Read through accessors and built through [`AccessClaims::builder`], so a new claim
/// is never a breaking change.
///
/// ```
/// use authgate::AccessClaims;
/// let c: AccessClaims = serde_json::from_str(
///     r#"{"sub":"u1","exp":2000000000,"roles":["user"],"scope":"a b","tier":"gold"}"#,
/// ).unwrap();
/// assert_eq!(c.sub(), Some("u1"));
/// assert_eq!(c.scopes(), ["a", "b"]);
/// assert_eq!(c.get("tier").and_then(|v| v.as_str()), Some("gold"));
///
/// // An issuer writes its tokens' claims with the builder.
/// let issued = AccessClaims::builder()
///     .iss("https://id.example")
///     .sub("u1")
///     .aud("trading-platform")
///     .exp(2_000_000_000)
///     .roles(["user"])
///     .claim("client_id", "svc-1")
///     .build();
/// assert_eq!(issued.roles(), ["user"]);
/// assert_eq!(serde_json::to_value(&issued).unwrap()["client_id"], "svc-1");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessClaims {
    /// Subject: the user id (or the client id for client-credentials tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sub: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) iss: Option<String>,
    /// Audience(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) aud: Option<Audience>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) exp: Option<u64>,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) iat: Option<u64>,
    /// Not before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nbf: Option<u64>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) jti: Option<String>,
    /// Session id (the login session this token belongs to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
    /// The user's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    /// The user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// Role names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) roles: Vec<String>,
    /// Permission strings (`resource:action`, wildcards allowed; see [`crate::Requirement`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) permissions: Vec<String>,
    /// OAuth scopes, space-delimited (RFC 8693 §4.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
    /// Scopes in the `scp` form some issuers use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scp: Option<ScopeList>,
    /// Authentication methods (`pwd`, `otp`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) amr: Vec<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

impl AccessClaims {
    /// Starts an empty set of claims.
    pub fn builder() -> AccessClaimsBuilder {
        AccessClaimsBuilder::default()
    }

    /// Subject (`sub`): the user id, or the client id for client-credentials tokens.
    pub fn sub(&self) -> Option<&str> {
        self.sub.as_deref()
    }
    /// Issuer (`iss`).
    pub fn iss(&self) -> Option<&str> {
        self.iss.as_deref()
    }
    /// Audience(s) (`aud`).
    pub fn aud(&self) -> Option<&Audience> {
        self.aud.as_ref()
    }
    /// Expiry (`exp`), seconds since the epoch.
    pub fn exp(&self) -> Option<u64> {
        self.exp
    }
    /// Issued at (`iat`), seconds since the epoch.
    pub fn iat(&self) -> Option<u64> {
        self.iat
    }
    /// Not before (`nbf`), seconds since the epoch.
    pub fn nbf(&self) -> Option<u64> {
        self.nbf
    }
    /// Token id (`jti`).
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }
    /// Session id (`sid`): the login session this token belongs to.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    /// The user's email address.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    /// The user's display name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The top-level `roles` claim. What a principal is granted may come from other
    /// claims too: see [`crate::ClaimMapping`] and [`crate::Principal::roles`].
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
    /// The top-level `permissions` claim (`resource:action`, wildcards allowed; see
    /// [`crate::Requirement`]).
    pub fn permissions(&self) -> &[String] {
        &self.permissions
    }
    /// The `scope` claim as sent: space-delimited (RFC 8693 §4.2).
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
    /// The `scp` claim some issuers use instead of `scope`.
    pub fn scp(&self) -> Option<&ScopeList> {
        self.scp.as_ref()
    }
    /// Authentication methods (`amr`: `pwd`, `otp`, ...).
    pub fn amr(&self) -> &[String] {
        &self.amr
    }
    /// Any claim this type does not name, by its top-level name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.extra.get(name)
    }
    /// Every claim this type does not name.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

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
    pub(crate) fn from_payload(payload: &mut Payload) -> Result<AccessClaims, String> {
        fn string(value: Option<Value>, name: &str) -> Result<Option<String>, String> {
            match value {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(format!("{name} is not a string")),
            }
        }
        fn number(value: Option<Value>, name: &str) -> Result<Option<u64>, String> {
            match value {
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
        fn list(value: Option<Value>, name: &str) -> Result<Vec<String>, String> {
            match value {
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
        // The slots in `jose::REGISTERED` order, taken out: no lookups by name, and the
        // payload is not moved.
        let [sub, iss, aud, exp, iat, nbf, jti, sid, email, name, roles, permissions, scope, scp, amr] =
            &mut payload.slots;
        let aud = match aud.take() {
            None | Some(Value::Null) => None,
            Some(v) => Some(match one_or_many(v, "aud")? {
                Ok(one) => Audience::One(one),
                Err(many) => Audience::Many(many),
            }),
        };
        let scp = match scp.take() {
            None | Some(Value::Null) => None,
            Some(v) => Some(match one_or_many(v, "scp")? {
                Ok(spaced) => ScopeList::Spaced(spaced),
                Err(list) => ScopeList::List(list),
            }),
        };
        Ok(AccessClaims {
            sub: string(sub.take(), "sub")?,
            iss: string(iss.take(), "iss")?,
            aud,
            exp: number(exp.take(), "exp")?,
            iat: number(iat.take(), "iat")?,
            nbf: number(nbf.take(), "nbf")?,
            jti: string(jti.take(), "jti")?,
            sid: string(sid.take(), "sid")?,
            email: string(email.take(), "email")?,
            name: string(name.take(), "name")?,
            roles: list(roles.take(), "roles")?,
            permissions: list(permissions.take(), "permissions")?,
            scope: string(scope.take(), "scope")?,
            scp,
            amr: list(amr.take(), "amr")?,
            extra: std::mem::take(&mut payload.extra),
        })
    }
}

/// Builds [`AccessClaims`] (an issuer writing its tokens, tests). Unset claims are
/// absent.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct AccessClaimsBuilder {
    claims: AccessClaims,
}

impl AccessClaimsBuilder {
    /// Sets `sub`.
    #[allow(clippy::should_implement_trait, reason = "named after the claim, like every setter here")]
    pub fn sub(mut self, sub: impl Into<String>) -> Self {
        self.claims.sub = Some(sub.into());
        self
    }
    /// Sets `iss`.
    pub fn iss(mut self, iss: impl Into<String>) -> Self {
        self.claims.iss = Some(iss.into());
        self
    }
    /// Sets `aud` to one audience.
    pub fn aud(mut self, aud: impl Into<String>) -> Self {
        self.claims.aud = Some(Audience::One(aud.into()));
        self
    }
    /// Sets `aud` to several audiences.
    pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(mut self, auds: I) -> Self {
        self.claims.aud = Some(Audience::Many(auds.into_iter().map(Into::into).collect()));
        self
    }
    /// Sets `exp` (seconds since the epoch).
    pub fn exp(mut self, exp: u64) -> Self {
        self.claims.exp = Some(exp);
        self
    }
    /// Sets `iat` (seconds since the epoch).
    pub fn iat(mut self, iat: u64) -> Self {
        self.claims.iat = Some(iat);
        self
    }
    /// Sets `nbf` (seconds since the epoch).
    pub fn nbf(mut self, nbf: u64) -> Self {
        self.claims.nbf = Some(nbf);
        self
    }
    /// Sets `jti`.
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.claims.jti = Some(jti.into());
        self
    }
    /// Sets `sid`.
    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.claims.sid = Some(sid.into());
        self
    }
    /// Sets `email`.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.claims.email = Some(email.into());
        self
    }
    /// Sets `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.claims.name = Some(name.into());
        self
    }
    /// Sets `roles`.
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.claims.roles = roles.into_iter().map(Into::into).collect();
        self
    }
    /// Sets `permissions`.
    pub fn permissions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, permissions: I) -> Self {
        self.claims.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }
    /// Sets `scope` to these scopes, space-delimited.
    pub fn scope<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, scopes: I) -> Self {
        let scopes: Vec<String> = scopes.into_iter().map(|s| s.as_ref().to_owned()).collect();
        self.claims.scope = Some(scopes.join(" "));
        self
    }
    /// Sets `scp`.
    pub fn scp(mut self, scp: ScopeList) -> Self {
        self.claims.scp = Some(scp);
        self
    }
    /// Sets `amr`.
    pub fn amr<I: IntoIterator<Item = S>, S: Into<String>>(mut self, amr: I) -> Self {
        self.claims.amr = amr.into_iter().map(Into::into).collect();
        self
    }
    /// Sets any other claim (`client_id`, `tier`, ...). A name this type has its own
    /// setter for is ignored here: use that setter.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if !crate::jose::REGISTERED.contains(&name.as_str()) {
            self.claims.extra.insert(name, value.into());
        }
        self
    }
    /// Finishes the claims.
    pub fn build(self) -> AccessClaims {
        self.claims
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
            let fast = AccessClaims::from_payload(&mut Payload::from_map(map)).unwrap();
            let serde: AccessClaims = serde_json::from_str(doc).unwrap();
            assert_eq!(fast, serde, "{doc}");
        }
        for bad in
            [r#"{"roles":"admin"}"#, r#"{"sub":5}"#, r#"{"aud":[1]}"#, r#"{"exp":"1"}"#, r#"{"roles":null}"#]
        {
            let map: Map<String, Value> = serde_json::from_str(bad).unwrap();
            assert!(AccessClaims::from_payload(&mut Payload::from_map(map)).is_err(), "{bad}");
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
