//! [`TokenTypes`]: which header `typ` values mark an access token.

use std::fmt;

use crate::error::{Error, ErrorKind};

/// Which header `typ` values a verifier accepts (RFC 9068 §2.1, RFC 8725 §3.11).
/// Values compare case-insensitively, with `application/` optional.
///
/// ```
/// use authgate::TokenTypes;
/// let strict = TokenTypes::at_jwt(); // RFC 9068: `at+jwt` only
/// assert!(strict.accepts(Some("application/at+jwt")) && !strict.accepts(Some("JWT")) && !strict.accepts(None));
/// let okta = TokenTypes::parse("JWT, absent")?; // as `JWT_REQUIRE_TYP` spells it
/// assert!(okta.accepts(None) && okta.accepts(Some("jwt")) && !okta.accepts(Some("at+jwt")));
/// # Ok::<(), authgate::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTypes {
    types: Vec<String>,
    untyped: bool,
}

impl TokenTypes {
    /// `at+jwt`, `JWT` or no `typ` (the verifier's default, for issuers that predate
    /// RFC 9068).
    pub fn lenient() -> TokenTypes {
        TokenTypes::only(["at+jwt", "JWT"]).or_untyped()
    }
    /// Exactly `at+jwt` (RFC 9068): what our user-service issues.
    pub fn at_jwt() -> TokenTypes {
        TokenTypes::only(["at+jwt"])
    }
    /// Exactly these values.
    pub fn only<I: IntoIterator<Item = S>, S: AsRef<str>>(types: I) -> TokenTypes {
        TokenTypes { types: types.into_iter().map(|t| normalize_typ(t.as_ref())).collect(), untyped: false }
    }
    /// Only tokens without a `typ` header (Cognito).
    pub fn untyped() -> TokenTypes {
        TokenTypes { types: Vec::new(), untyped: true }
    }
    /// Also accepts tokens without a `typ` header.
    #[must_use]
    pub fn or_untyped(mut self) -> TokenTypes {
        self.untyped = true;
        self
    }
    /// Parses a comma list of `typ` values, where `absent` stands for "no `typ`
    /// header": `at+jwt`, `at+jwt,JWT`, `JWT,absent`.
    pub fn parse(list: &str) -> Result<TokenTypes, Error> {
        let mut types = TokenTypes { types: Vec::new(), untyped: false };
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.eq_ignore_ascii_case("absent") {
                types.untyped = true;
            } else if entry.chars().all(|c| c.is_ascii_graphic()) {
                types.types.push(normalize_typ(entry));
            } else {
                return Err(Error::new(ErrorKind::Configuration, format!("bad typ value {entry:?}")));
            }
        }
        if types.types.is_empty() && !types.untyped {
            return Err(Error::new(ErrorKind::Configuration, "no typ value (use at+jwt, JWT or absent)"));
        }
        Ok(types)
    }
    /// Whether a token with header `typ` (or none) is accepted.
    pub fn accepts(&self, typ: Option<&str>) -> bool {
        match typ {
            None => self.untyped,
            // `normalize_typ` without allocating: the kept types are already lowercase
            // and without the prefix.
            Some(t) => {
                let t = match t.split_at_checked(PREFIX.len()) {
                    Some((prefix, rest)) if prefix.eq_ignore_ascii_case(PREFIX) => rest,
                    _ => t,
                };
                self.types.iter().any(|ok| ok.eq_ignore_ascii_case(t))
            }
        }
    }
}

impl fmt::Display for TokenTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<&str> = self.types.iter().map(String::as_str).collect();
        if self.untyped {
            parts.push("absent");
        }
        f.write_str(&parts.join(","))
    }
}

/// Media types may be written with or without this prefix (RFC 7515 §4.1.9).
const PREFIX: &str = "application/";

fn normalize_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    lower.strip_prefix(PREFIX).map(str::to_owned).unwrap_or(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_matches_case_insensitively_with_or_without_the_media_type_prefix() {
        let types = TokenTypes::only(["at+jwt", "JWT"]);
        let accepted =
            ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+jwt", "jwt", "APPLICATION/JWT"];
        let refused = [
            "",
            "application/",
            "application",
            "at+jwt ",
            "application/application/jwt",
            "JWS",
            "ät+jwt",
            "applicatioñ/jwt",
            "applicatiöñ/jwt",
            "application/ät+jwt",
        ];
        for typ in accepted {
            assert!(types.accepts(Some(typ)), "{typ}");
        }
        for typ in refused {
            assert!(!types.accepts(Some(typ)), "{typ}");
        }
        // The same answers as comparing normalized strings, which `accepts` no longer builds.
        for typ in accepted.into_iter().chain(refused) {
            assert_eq!(types.accepts(Some(typ)), types.types.contains(&normalize_typ(typ)), "{typ}");
        }
        assert!(!types.accepts(None) && types.or_untyped().accepts(None));
    }
}
