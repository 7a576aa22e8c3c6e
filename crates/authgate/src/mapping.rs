//! Where a token's roles, permissions and scopes come from, for any identity provider.
//!
//! Our user-service writes top-level `roles`, `permissions` and `scope`
//! ([`ClaimMapping::standard`], the default). Other providers put them elsewhere:
//!
//! | preset | roles | permissions | scopes | access tokens are marked by |
//! |---|---|---|---|---|
//! | [`standard`](ClaimMapping::standard) | `roles` | `permissions` | `scope`, `scp` | (the verifier's `typ` rule) |
//! | [`keycloak(client)`](ClaimMapping::keycloak) | `realm_access.roles`, `resource_access.<client>.roles` | | `scope` | `typ: JWT` or `at+jwt`, claim `typ: Bearer` |
//! | [`auth0`](ClaimMapping::auth0) | (add your namespaced claim) | `permissions` | `scope` | `typ: JWT` or `at+jwt` |
//! | [`entra`](ClaimMapping::entra) | `roles` | | `scp` | `typ: JWT` |
//! | [`okta`](ClaimMapping::okta) | `groups` | | `scp` | `typ: JWT` or none |
//! | [`cognito`](ClaimMapping::cognito) | `cognito:groups` | | `scope` | no `typ`, claim `token_use: access` |
//!
//! A source is a JSON pointer (RFC 6901: `/realm_access/roles`, `~1` for a `/` inside a
//! name) or, when it does not start with `/`, one top-level claim name taken literally
//! (`https://example.com/roles`, Auth0's namespaced claims). Several sources are merged
//! in order without duplicates. A string value is split on whitespace (`scope`, `scp`);
//! an array must hold strings; a missing claim (or a missing object on the way) grants
//! nothing; any other type makes the token invalid (401), as a wrong-typed `roles` does.
//!
//! The presets also say how the provider tells access tokens from its other tokens
//! (ID tokens, refresh tokens): the accepted header `typ` values and, for Keycloak and
//! Cognito, a claim that must hold a given value. A token that does not match is
//! refused as "not an access token" (401, J13). The verifier uses them unless `typ` is
//! configured explicitly ([`crate::VerifierBuilder::token_types`]).
//!
//! ```
//! use authgate::ClaimMapping;
//!
//! // Keycloak realm roles plus the roles of client `orders-api`.
//! let keycloak = ClaimMapping::keycloak("orders-api");
//!
//! // Auth0 permissions plus roles an Action adds under a namespaced claim.
//! let auth0 = ClaimMapping::auth0().roles_from("https://trading.example.com/roles");
//!
//! // Any provider, from scratch.
//! let custom = ClaimMapping::empty()
//!     .roles_from("/app_metadata/roles")
//!     .permissions_from("/perms")
//!     .scopes_from("/scope")
//!     .require_claim("token_kind", "access");
//! # let _ = (keycloak, auth0, custom);
//! ```

use std::fmt;

use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::jose::{self, Payload};
use crate::token_types::TokenTypes;

/// A parsed claim source: the first segment is a top-level claim name, the rest walk
/// into objects (or arrays, by index).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ClaimPath {
    segments: Vec<String>,
}

impl ClaimPath {
    /// A JSON pointer when `text` starts with `/`, else one literal top-level name.
    pub(crate) fn parse(text: &str) -> Result<ClaimPath, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty claim path".into());
        }
        let Some(pointer) = text.strip_prefix('/') else {
            return Ok(ClaimPath { segments: vec![text.to_owned()] });
        };
        let segments = pointer.split('/').map(unescape).collect::<Result<Vec<_>, _>>()?;
        if segments.first().is_none_or(String::is_empty) {
            return Err(format!("claim path {text:?} names no claim"));
        }
        Ok(ClaimPath { segments })
    }

    fn of(segments: &[&str]) -> ClaimPath {
        ClaimPath { segments: segments.iter().map(|s| (*s).to_owned()).collect() }
    }

    fn lookup<'a>(&self, payload: &'a Payload) -> Option<&'a Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut value = payload.get(first)?;
        for segment in rest {
            value = match value {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(value)
    }
}

fn unescape(segment: &str) -> Result<String, String> {
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(format!("bad escape in claim path segment {segment:?} (use ~0 or ~1)")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            write!(f, "/{}", segment.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Which grant a source feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    Roles,
    Permissions,
    Scopes,
}

/// How roles, permissions and scopes are read from a token, and how the provider marks
/// its access tokens. See the [module docs](self).
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct ClaimMapping {
    roles: Vec<ClaimPath>,
    permissions: Vec<ClaimPath>,
    scopes: Vec<ClaimPath>,
    required: Vec<(ClaimPath, String)>,
    types: Option<TokenTypes>,
    /// The unmodified standard mapping, read from the typed claims at no extra cost.
    standard: bool,
    /// The first bad path given, reported when the verifier is built.
    invalid: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping::standard()
    }
}

impl ClaimMapping {
    /// Top-level `roles`, `permissions`, and `scope`/`scp`: our user-service's tokens.
    /// The default, and the fastest (it reads the claims already parsed for
    /// [`crate::AccessClaims`]).
    pub fn standard() -> ClaimMapping {
        ClaimMapping {
            roles: vec![ClaimPath::of(&["roles"])],
            permissions: vec![ClaimPath::of(&["permissions"])],
            scopes: vec![ClaimPath::of(&["scope"]), ClaimPath::of(&["scp"])],
            required: Vec::new(),
            types: None,
            standard: true,
            invalid: None,
        }
    }

    /// No sources at all: add them with [`Self::roles_from`] and friends.
    pub fn empty() -> ClaimMapping {
        ClaimMapping {
            roles: Vec::new(),
            permissions: Vec::new(),
            scopes: Vec::new(),
            required: Vec::new(),
            types: None,
            standard: false,
            invalid: None,
        }
    }

    /// Keycloak: realm roles (`realm_access.roles`) and the roles of client `client_id`
    /// (`resource_access.<client_id>.roles`), scopes from `scope`. Access tokens carry
    /// the claim `typ: Bearer` (ID tokens say `ID`, refresh tokens `Refresh`) and the
    /// header `typ: JWT` (or `at+jwt` when the client opts into RFC 9068).
    ///
    /// Keycloak puts a client in `aud` only with an audience mapper (or client scope);
    /// add one for your API, or check `azp` instead
    /// ([`crate::VerifierBuilder::authorized_party`]).
    pub fn keycloak(client_id: impl Into<String>) -> ClaimMapping {
        let client_id = client_id.into();
        ClaimMapping::empty()
            .add(Grant::Roles, ClaimPath::of(&["realm_access", "roles"]))
            .add(
                Grant::Roles,
                ClaimPath { segments: vec!["resource_access".into(), client_id, "roles".into()] },
            )
            .add(Grant::Scopes, ClaimPath::of(&["scope"]))
            .require_path(ClaimPath::of(&["typ"]), "Bearer")
            .token_types(TokenTypes::only(["JWT", "at+jwt"]))
    }

    /// Auth0: permissions from `permissions` (RBAC with "Add Permissions in the Access
    /// Token"), scopes from `scope`. Auth0 has no standard roles claim: add the
    /// namespaced claim your Action writes with [`Self::roles_from`]. Header `typ: JWT`
    /// (Auth0 profile) or `at+jwt` (RFC 9068 profile).
    pub fn auth0() -> ClaimMapping {
        ClaimMapping::empty()
            .add(Grant::Permissions, ClaimPath::of(&["permissions"]))
            .add(Grant::Scopes, ClaimPath::of(&["scope"]))
            .token_types(TokenTypes::only(["JWT", "at+jwt"]))
    }

    /// Microsoft Entra ID: app roles from `roles` (user and application permissions),
    /// delegated scopes from `scp`. Header `typ: JWT`.
    pub fn entra() -> ClaimMapping {
        ClaimMapping::empty()
            .add(Grant::Roles, ClaimPath::of(&["roles"]))
            .add(Grant::Scopes, ClaimPath::of(&["scp"]))
            .token_types(TokenTypes::only(["JWT"]))
    }

    /// Okta (custom authorization server): scopes from the `scp` array, roles from a
    /// `groups` claim (Okta adds it when you define one). Tokens carry no header `typ`
    /// (or `JWT`).
    pub fn okta() -> ClaimMapping {
        ClaimMapping::empty()
            .add(Grant::Roles, ClaimPath::of(&["groups"]))
            .add(Grant::Scopes, ClaimPath::of(&["scp"]))
            .token_types(TokenTypes::only(["JWT"]).or_untyped())
    }

    /// Amazon Cognito user pools: roles from `cognito:groups`, scopes from `scope`.
    /// Access tokens carry no header `typ` and the claim `token_use: access` (ID tokens
    /// say `id`). They have no `aud`: skip the audience check and check `client_id`
    /// ([`crate::VerifierBuilder::authorized_party`]).
    pub fn cognito() -> ClaimMapping {
        ClaimMapping::empty()
            .add(Grant::Roles, ClaimPath::of(&["cognito:groups"]))
            .add(Grant::Scopes, ClaimPath::of(&["scope"]))
            .require_path(ClaimPath::of(&["token_use"]), "access")
            .token_types(TokenTypes::untyped())
    }

    /// Also reads roles from `path` (a JSON pointer, or a top-level claim name).
    pub fn roles_from(self, path: impl AsRef<str>) -> ClaimMapping {
        self.add_text(Grant::Roles, path.as_ref())
    }

    /// Also reads permissions from `path`.
    pub fn permissions_from(self, path: impl AsRef<str>) -> ClaimMapping {
        self.add_text(Grant::Permissions, path.as_ref())
    }

    /// Also reads scopes from `path`.
    pub fn scopes_from(self, path: impl AsRef<str>) -> ClaimMapping {
        self.add_text(Grant::Scopes, path.as_ref())
    }

    /// Accepts only tokens whose claim at `path` is the string `value` (e.g. Cognito's
    /// `token_use: access`); others are refused as "not an access token" (401).
    pub fn require_claim(mut self, path: impl AsRef<str>, value: impl Into<String>) -> ClaimMapping {
        match ClaimPath::parse(path.as_ref()) {
            Ok(path) => self.require_path(path, value),
            Err(e) => {
                self.invalid.get_or_insert(e);
                self
            }
        }
    }

    /// The header `typ` values this provider's access tokens carry; the verifier uses
    /// them unless `typ` is configured explicitly.
    pub fn token_types(mut self, types: TokenTypes) -> ClaimMapping {
        self.types = Some(types);
        self
    }

    /// The `typ` rule of this mapping (a preset's), if any.
    pub fn preset_token_types(&self) -> Option<&TokenTypes> {
        self.types.as_ref()
    }

    fn require_path(mut self, path: ClaimPath, value: impl Into<String>) -> ClaimMapping {
        self.required.push((path, value.into()));
        self.standard = false;
        self
    }

    fn add_text(mut self, grant: Grant, text: &str) -> ClaimMapping {
        match ClaimPath::parse(text) {
            Ok(path) => self.add(grant, path),
            Err(e) => {
                self.invalid.get_or_insert(e);
                self
            }
        }
    }

    fn add(mut self, grant: Grant, path: ClaimPath) -> ClaimMapping {
        let sources = self.sources_mut(grant);
        if !sources.contains(&path) {
            sources.push(path);
        }
        self.standard = false;
        self
    }

    fn sources_mut(&mut self, grant: Grant) -> &mut Vec<ClaimPath> {
        match grant {
            Grant::Roles => &mut self.roles,
            Grant::Permissions => &mut self.permissions,
            Grant::Scopes => &mut self.scopes,
        }
    }

    /// Replaces the sources of one grant (the `JWT_*_CLAIM` variables).
    #[cfg(feature = "remote")]
    pub(crate) fn replace(mut self, grant: Grant, paths: Vec<ClaimPath>) -> ClaimMapping {
        *self.sources_mut(grant) = paths;
        self.standard = false;
        self
    }

    /// A configuration error for a bad path given to a builder method.
    pub(crate) fn check(&self) -> Result<(), Error> {
        match &self.invalid {
            Some(e) => Err(Error::new(ErrorKind::Configuration, e.clone())),
            None => Ok(()),
        }
    }

    /// True for the unmodified standard mapping (the fast path).
    pub(crate) fn is_standard(&self) -> bool {
        self.standard
    }

    /// Checks the required claims: a mismatch means another kind of token (J13).
    pub(crate) fn check_required(&self, payload: &Payload) -> Result<(), Error> {
        for (path, expected) in &self.required {
            match path.lookup(payload) {
                Some(Value::String(v)) if v == expected => {}
                other => {
                    let got = match other {
                        Some(Value::String(v)) => format!("{:?}", jose::truncate(v)),
                        Some(v) => jose::type_name(v).to_owned(),
                        None => "nothing".to_owned(),
                    };
                    return Err(Error::new(
                        ErrorKind::InvalidType,
                        format!("claim {path} is {got}, not {expected:?}: not an access token"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The grants of a verified payload (for any mapping but the standard one).
    pub(crate) fn grants(&self, payload: &Payload) -> Result<Grants, Error> {
        Ok(Grants {
            roles: collect(&self.roles, payload, "roles")?,
            permissions: collect(&self.permissions, payload, "permissions")?,
            scopes: collect(&self.scopes, payload, "scopes")?,
        })
    }
}

/// Roles, permissions and scopes read through a mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Grants {
    pub(crate) roles: Vec<String>,
    pub(crate) permissions: Vec<String>,
    pub(crate) scopes: Vec<String>,
}

fn collect(sources: &[ClaimPath], payload: &Payload, what: &str) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    for path in sources {
        match path.lookup(payload) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => s.split_whitespace().for_each(&mut push),
            Some(Value::Array(items)) => {
                for item in items {
                    match item {
                        Value::String(s) => push(s),
                        other => {
                            return Err(Error::new(
                                ErrorKind::InvalidClaims,
                                format!("{what} claim {path} holds a {}", jose::type_name(other)),
                            ));
                        }
                    }
                }
            }
            Some(other) => {
                return Err(Error::new(
                    ErrorKind::InvalidClaims,
                    format!("{what} claim {path} is a {}", jose::type_name(other)),
                ));
            }
        }
    }
    Ok(out)
}

impl fmt::Debug for ClaimMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimMapping")
            .field("roles", &self.roles)
            .field("permissions", &self.permissions)
            .field("scopes", &self.scopes)
            .field("required", &self.required)
            .field("types", &self.types)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn payload(v: Value) -> Payload {
        match v {
            Value::Object(map) => Payload::from_map(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn pointers_escape_and_literal_names_are_understood() {
        assert_eq!(ClaimPath::parse("/a~1b/c~0d").unwrap().segments, ["a/b", "c~d"]);
        assert_eq!(
            ClaimPath::parse("https://x.example/roles").unwrap().segments,
            ["https://x.example/roles"]
        );
        assert_eq!(ClaimPath::parse("/cognito:groups").unwrap().to_string(), "/cognito:groups");
        for bad in ["", "/", "/a~2", "/a~"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ClaimMapping::empty().roles_from("/x~9").check().is_err());
        assert!(ClaimMapping::empty().roles_from("/x").check().is_ok());
    }

    #[test]
    fn sources_merge_in_order_without_duplicates_and_strings_split() {
        let p = payload(json!({
            "realm_access": {"roles": ["a", "b"]},
            "resource_access": {"api": {"roles": ["b", "c"]}, "other": {"roles": ["x"]}},
            "scope": "s1  s2",
            "list": [{"r": ["deep"]}],
        }));
        let g = ClaimMapping::keycloak("api")
            .scopes_from("/missing/path")
            .roles_from("/list/0/r")
            .grants(&p)
            .unwrap();
        assert_eq!(g.roles, ["a", "b", "c", "deep"]);
        assert_eq!(g.scopes, ["s1", "s2"]);
        assert!(g.permissions.is_empty());
    }

    #[test]
    fn wrong_types_at_a_source_are_invalid_claims() {
        for bad in [json!({"roles": 5}), json!({"roles": [1]}), json!({"roles": {"a": 1}})] {
            let e = ClaimMapping::entra().grants(&payload(bad)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidClaims);
        }
        // A missing object on the way grants nothing.
        let g = ClaimMapping::keycloak("api").grants(&payload(json!({"realm_access": "x"}))).unwrap();
        assert!(g.roles.is_empty());
    }

    #[test]
    fn required_claims_tell_access_tokens_from_other_tokens() {
        let m = ClaimMapping::cognito();
        assert!(m.check_required(&payload(json!({"token_use": "access"}))).is_ok());
        for other in [json!({"token_use": "id"}), json!({}), json!({"token_use": 1})] {
            assert_eq!(m.check_required(&payload(other)).unwrap_err().kind(), ErrorKind::InvalidType);
        }
        assert!(
            ClaimMapping::standard().is_standard() && !ClaimMapping::standard().roles_from("x").is_standard()
        );
    }
}
