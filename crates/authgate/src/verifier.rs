//! The access-token verifier: issuers, audiences, algorithms, time rules.
//!
//! Verification order, cheapest and most telling first: size cap, cache, structure and
//! header (alg, kid, typ, refused members), issuer (picked from the unverified `iss`;
//! an unknown issuer is rejected without any network call), claim types and time rules,
//! audience, then the key lookup and the signature check with a key of the algorithm's
//! family only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::algorithm::Algorithm;
use crate::claims::AccessClaims;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::jose::{self, Decoded, Payload};
use crate::key::VerifyingKey;
use crate::keyset::KeySet;
use crate::metric_names;
use crate::principal::{AuthMethod, Principal};
use crate::token_cache::{TokenCache, TokenCacheConfig};

/// Largest `exp`/`nbf`/`iat` accepted (year ~5138): bigger values are type confusion.
const MAX_TIMESTAMP: u64 = 1 << 37;

/// One trusted issuer: its exact `iss`, its keys and, optionally, its own rules.
///
/// ```
/// use authgate::{Algorithm, Issuer, KeySet};
/// let partner = Issuer::new("https://partner.example", KeySet::from_jwks_json(r#"{"keys":[]}"#).unwrap())
///     .audiences(["partner-api"])
///     .algorithms([Algorithm::ES256]);
/// # let _ = partner;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Issuer {
    name: String,
    keys: KeySet,
    audiences: Option<Vec<String>>,
    algorithms: Option<Vec<Algorithm>>,
}

impl Issuer {
    /// An issuer whose tokens carry exactly `iss = name`, verified with `keys`.
    pub fn new(name: impl Into<String>, keys: KeySet) -> Issuer {
        Issuer { name: name.into(), keys, audiences: None, algorithms: None }
    }
    /// Audiences accepted for this issuer instead of the verifier's.
    pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(mut self, audiences: I) -> Issuer {
        self.audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }
    /// Algorithms accepted for this issuer instead of the verifier's.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Issuer {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }
}

/// Which header `typ` values are accepted (RFC 9068 §2.1, RFC 8725 §3.11).
#[derive(Debug, Clone)]
enum TypPolicy {
    /// `at+jwt`, `application/at+jwt`, `JWT` or absent.
    Lenient,
    /// Exactly these values (compared case-insensitively, `application/` optional).
    Only(Vec<String>),
}

struct IssuerRules {
    keys: KeySet,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
}

struct Inner {
    issuers: HashMap<String, IssuerRules>,
    leeway: u64,
    max_token_bytes: usize,
    typ: TypPolicy,
    clock: Arc<dyn Clock>,
    cache: Option<TokenCache>,
}

/// Verifies access tokens. Cheap to clone; build one per service and share it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), authgate::Error> {
/// use authgate::{KeySet, Verifier};
/// use authgate_testkit::{TestKey, jwks, standard_claims};
///
/// let key = TestKey::es256();
/// let keys = KeySet::from_jwks_json(&jwks(&[&key]).to_string())?;
/// let verifier = Verifier::builder()
///     .issuer("https://id.example", keys)
///     .audience("trading-platform")
///     .algorithms([authgate::Algorithm::ES256])
///     .build()?;
///
/// let token = key.token().claims(standard_claims("https://id.example", "trading-platform", "user-1", 300)).sign();
/// let user = verifier.verify(&token).await?;
/// assert_eq!(user.user_id(), "user-1");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

/// Builds a [`Verifier`].
#[must_use]
pub struct VerifierBuilder {
    issuers: Vec<Issuer>,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    max_token_bytes: usize,
    typ: TypPolicy,
    clock: Arc<dyn Clock>,
    cache: Option<TokenCacheConfig>,
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        VerifierBuilder {
            issuers: Vec::new(),
            audiences: Vec::new(),
            algorithms: vec![Algorithm::RS256],
            leeway: Duration::from_secs(60),
            max_token_bytes: 8 * 1024,
            typ: TypPolicy::Lenient,
            clock: Arc::new(SystemClock),
            cache: Some(TokenCacheConfig::default()),
        }
    }
}

impl VerifierBuilder {
    /// Trusts tokens with exactly `iss = name`, verified with `keys`.
    pub fn issuer(self, name: impl Into<String>, keys: KeySet) -> Self {
        self.add_issuer(Issuer::new(name, keys))
    }
    /// Trusts an issuer with its own rules. Call once per issuer.
    pub fn add_issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }
    /// Accepts tokens whose `aud` contains `audience`. Call again to accept several.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }
    /// Replaces the algorithm allow-list (default: RS256 only).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }
    /// Clock-skew allowance for `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
    /// Largest token accepted, in bytes (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }
    /// Requires header `typ: at+jwt` (RFC 9068), refusing plain `JWT` and absent `typ`.
    pub fn require_at_jwt(self) -> Self {
        self.accepted_types(["at+jwt"])
    }
    /// Accepts exactly these `typ` values (case-insensitive, `application/` optional).
    pub fn accepted_types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, types: I) -> Self {
        self.typ = TypPolicy::Only(types.into_iter().map(|t| normalize_typ(&t.into())).collect());
        self
    }
    /// Uses another clock (tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// Tunes the verified-token cache (on by default).
    pub fn token_cache(mut self, config: TokenCacheConfig) -> Self {
        self.cache = Some(config);
        self
    }
    /// Turns the verified-token cache off: every request pays the signature check.
    pub fn without_token_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// Checks the configuration and builds the verifier.
    pub fn build(self) -> Result<Verifier, Error> {
        let config = |d: &str| Error::new(ErrorKind::Configuration, d.to_owned());
        if self.issuers.is_empty() {
            return Err(config("a verifier needs at least one issuer"));
        }
        let mut issuers = HashMap::new();
        for issuer in self.issuers {
            let audiences = issuer.audiences.unwrap_or_else(|| self.audiences.clone());
            let algorithms = issuer.algorithms.unwrap_or_else(|| self.algorithms.clone());
            if audiences.is_empty() {
                return Err(config("a verifier needs at least one audience (RFC 8725 §3.9)"));
            }
            if algorithms.is_empty() {
                return Err(config("the algorithm allow-list is empty"));
            }
            let rules = IssuerRules { keys: issuer.keys, audiences, algorithms };
            if issuers.insert(issuer.name.clone(), rules).is_some() {
                return Err(config("the same issuer is configured twice"));
            }
        }
        Ok(Verifier {
            inner: Arc::new(Inner {
                issuers,
                leeway: self.leeway.as_secs(),
                max_token_bytes: self.max_token_bytes,
                typ: self.typ,
                clock: self.clock,
                cache: self.cache.as_ref().map(TokenCache::new),
            }),
        })
    }
}

impl Verifier {
    /// Starts a builder: defaults are RS256 only, 60 s leeway, 8 KiB cap, lenient `typ`,
    /// token cache on.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Verifies an access token and returns the caller. Repeated tokens are answered
    /// from the verified-token cache.
    pub async fn verify(&self, token: &str) -> Result<Principal, Error> {
        let started = std::time::Instant::now();
        let result = self.verify_access(token).await;
        record_outcome(AuthMethod::Jwt, &result, started);
        result
    }

    /// The caller for `token` if the verified-token cache holds it and it is still
    /// valid, counted like [`Verifier::verify`] answering from the cache; `None` (not
    /// counted, since `verify` will count it) otherwise.
    pub(crate) fn verify_cached(&self, token: &str) -> Option<Principal> {
        let cache = self.inner.cache.as_ref()?;
        if token.len() > self.inner.max_token_bytes {
            return None;
        }
        let started = std::time::Instant::now();
        let principal = cache.get(&TokenCache::digest(token), self.inner.clock.now_unix())?;
        metric_names::increment!(metric_names::TOKEN_CACHE, "result" => "hit");
        record_outcome(AuthMethod::Jwt, &Ok::<_, Error>(&principal), started);
        Some(principal)
    }

    async fn verify_access(&self, token: &str) -> Result<Principal, Error> {
        self.check_size(token)?;
        let now = self.inner.clock.now_unix();
        let digest = self.inner.cache.as_ref().map(|cache| (cache, TokenCache::digest(token)));
        if let Some((cache, digest)) = &digest {
            if let Some(principal) = cache.get(digest, now) {
                metric_names::increment!(metric_names::TOKEN_CACHE, "result" => "hit");
                return Ok(principal);
            }
            metric_names::increment!(metric_names::TOKEN_CACHE, "result" => "miss");
        }
        let verified = self.verify_raw(token, now).await?;
        let valid_until = verified.exp.saturating_add(self.inner.leeway);
        let claims = AccessClaims::from_payload(verified.claims)
            .map_err(|e| Error::new(ErrorKind::InvalidClaims, format!("claims: {e}")))?;
        let principal = Principal::from_jwt(claims, verified.payload_json)?;
        if let Some((cache, digest)) = digest {
            cache.insert(digest, principal.clone(), verified.key, verified.keys, valid_until, now);
        }
        Ok(principal)
    }

    /// Verifies a token and deserializes its claims into your own type (no cache).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), authgate::Error> {
    /// # use authgate::{KeySet, Verifier};
    /// # use authgate_testkit::{TestKey, jwks, standard_claims};
    /// # let key = TestKey::shared_rs256();
    /// # let verifier = Verifier::builder()
    /// #     .issuer("https://id.example", KeySet::from_jwks_json(&jwks(&[&key]).to_string())?)
    /// #     .audience("api").build()?;
    /// #[derive(serde::Deserialize)]
    /// struct TradingClaims { sub: String, tier: String }
    ///
    /// let token = key.token()
    ///     .claims(standard_claims("https://id.example", "api", "u1", 60))
    ///     .claim("tier", "gold")
    ///     .sign();
    /// let claims: TradingClaims = verifier.verify_claims(&token).await?;
    /// assert_eq!((claims.sub.as_str(), claims.tier.as_str()), ("u1", "gold"));
    /// # Ok(()) }
    /// ```
    pub async fn verify_claims<C: DeserializeOwned>(&self, token: &str) -> Result<C, Error> {
        let started = std::time::Instant::now();
        let result = async {
            self.check_size(token)?;
            let verified = self.verify_raw(token, self.inner.clock.now_unix()).await?;
            C::deserialize(&Value::Object(verified.claims.into_map()))
                .map_err(|e| Error::new(ErrorKind::InvalidClaims, format!("claims: {e}")))
        }
        .await;
        record_outcome(AuthMethod::Jwt, &result, started);
        result
    }

    /// True when every issuer has usable keys: the readiness check.
    pub fn is_ready(&self) -> bool {
        self.inner.issuers.values().all(|i| i.keys.is_ready())
    }

    /// Fetches every issuer's keys now (start-up warm-up). Fails if any fails.
    pub async fn refresh_keys(&self) -> Result<(), Error> {
        for issuer in self.inner.issuers.values() {
            issuer.keys.refresh().await?;
        }
        Ok(())
    }

    /// The configured leeway.
    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.inner.leeway)
    }

    fn check_size(&self, token: &str) -> Result<(), Error> {
        if token.len() > self.inner.max_token_bytes {
            return Err(Error::new(
                ErrorKind::TokenTooLarge,
                format!("token of {} bytes exceeds {}", token.len(), self.inner.max_token_bytes),
            ));
        }
        Ok(())
    }

    async fn verify_raw(&self, token: &str, now: u64) -> Result<Verified, Error> {
        let Decoded { alg, kid, typ, claims, payload_json, signing_input, signature } = jose::decode(token)?;
        self.check_typ(typ.as_deref())?;

        let iss = match claims.get("iss") {
            Some(Value::String(iss)) => iss,
            Some(other) => {
                return Err(Error::new(
                    ErrorKind::InvalidIssuer,
                    format!("iss is a {}", jose::type_name(other)),
                ));
            }
            None => return Err(Error::new(ErrorKind::InvalidIssuer, "iss is missing")),
        };
        let rules = self.inner.issuers.get(iss.as_str()).ok_or_else(|| {
            Error::new(ErrorKind::InvalidIssuer, format!("issuer {:?} is not trusted", jose::truncate(iss)))
        })?;
        if !rules.algorithms.contains(&alg) {
            return Err(Error::new(ErrorKind::AlgorithmNotAllowed, format!("alg {alg} is not allowed")));
        }

        let exp = self.check_times(&claims, now)?;
        check_audience(&claims, &rules.audiences)?;

        let key = rules.keys.key_for(kid.as_deref()).await?;
        if !key.allows(alg) {
            return Err(Error::new(
                ErrorKind::AlgorithmNotAllowed,
                format!("alg {alg} does not match the key for kid {:?}", kid.as_deref().map(jose::truncate)),
            ));
        }
        if !key.verify(alg, signing_input.as_bytes(), &signature) {
            return Err(Error::new(ErrorKind::InvalidSignature, "signature does not verify"));
        }
        Ok(Verified { claims, payload_json, exp, key, keys: rules.keys.clone() })
    }

    fn check_typ(&self, typ: Option<&str>) -> Result<(), Error> {
        let ok = match (&self.inner.typ, typ) {
            (TypPolicy::Lenient, None) => true,
            (TypPolicy::Lenient, Some(t)) => matches!(normalize_typ(t).as_str(), "at+jwt" | "jwt"),
            (TypPolicy::Only(_), None) => false,
            (TypPolicy::Only(accepted), Some(t)) => accepted.contains(&normalize_typ(t)),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidType,
                format!("typ {:?} is not accepted", typ.map(jose::truncate)),
            ))
        }
    }

    /// Checks `exp` (required), `nbf` and `iat`; returns `exp`.
    fn check_times(&self, claims: &Payload, now: u64) -> Result<u64, Error> {
        let leeway = self.inner.leeway;
        let exp = timestamp(claims, "exp")?
            .ok_or_else(|| Error::new(ErrorKind::InvalidClaims, "exp is missing"))?;
        if now > exp.saturating_add(leeway) {
            return Err(Error::new(ErrorKind::Expired, format!("expired {} s ago", now - exp)));
        }
        if let Some(nbf) = timestamp(claims, "nbf")?
            && nbf > now.saturating_add(leeway)
        {
            return Err(Error::new(ErrorKind::NotYetValid, format!("nbf is {} s ahead", nbf - now)));
        }
        if let Some(iat) = timestamp(claims, "iat")?
            && iat > now.saturating_add(leeway)
        {
            return Err(Error::new(ErrorKind::NotYetValid, format!("iat is {} s ahead", iat - now)));
        }
        Ok(exp)
    }
}

struct Verified {
    claims: Payload,
    payload_json: Vec<u8>,
    exp: u64,
    key: Arc<VerifyingKey>,
    keys: KeySet,
}

fn timestamp(claims: &Payload, name: &str) -> Result<Option<u64>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(t) if t <= MAX_TIMESTAMP => Ok(Some(t)),
            _ => Err(Error::new(ErrorKind::InvalidClaims, format!("{name} is not a valid NumericDate"))),
        },
        Some(other) => {
            Err(Error::new(ErrorKind::InvalidClaims, format!("{name} is a {}", jose::type_name(other))))
        }
    }
}

fn check_audience(claims: &Payload, accepted: &[String]) -> Result<(), Error> {
    let matches = |a: &str| accepted.iter().any(|ok| ok == a);
    let ok = match claims.get("aud") {
        Some(Value::String(aud)) => matches(aud),
        Some(Value::Array(auds)) => {
            if auds.iter().any(|a| !a.is_string()) {
                return Err(Error::new(ErrorKind::InvalidAudience, "aud array holds a non-string"));
            }
            auds.iter().filter_map(Value::as_str).any(matches)
        }
        Some(other) => {
            return Err(Error::new(
                ErrorKind::InvalidAudience,
                format!("aud is a {}", jose::type_name(other)),
            ));
        }
        None => return Err(Error::new(ErrorKind::InvalidAudience, "aud is missing")),
    };
    if ok { Ok(()) } else { Err(Error::new(ErrorKind::InvalidAudience, "aud does not name this service")) }
}

fn normalize_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    lower.strip_prefix("application/").map(str::to_owned).unwrap_or(lower)
}

/// Records one verification. The common outcomes use keys built once (see
/// [`metric_names::increment!`]); errors name their kind, so build theirs.
pub(crate) fn record_outcome<T>(method: AuthMethod, result: &Result<T, Error>, started: std::time::Instant) {
    use metric_names::{VERIFICATIONS, VERIFY_SECONDS};
    use metrics::counter;
    let seconds = started.elapsed().as_secs_f64();
    match method {
        AuthMethod::ApiKey => metric_names::record!(seconds; VERIFY_SECONDS, "method" => "api_key"),
        _ => metric_names::record!(seconds; VERIFY_SECONDS, "method" => "jwt"),
    }
    match (method, result) {
        (AuthMethod::ApiKey, Ok(_)) => {
            metric_names::increment!(VERIFICATIONS, "method" => "api_key", "outcome" => "ok")
        }
        (_, Ok(_)) => metric_names::increment!(VERIFICATIONS, "method" => "jwt", "outcome" => "ok"),
        (method, Err(e)) => {
            counter!(VERIFICATIONS, "method" => method.as_str(), "outcome" => e.kind().as_str()).increment(1);
            // The reason goes to logs; the credential never does.
            tracing::debug!(method = method.as_str(), reason = %e, "credential rejected");
        }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut issuers: Vec<&String> = self.inner.issuers.keys().collect();
        issuers.sort();
        f.debug_struct("Verifier")
            .field("issuers", &issuers)
            .field("leeway", &self.inner.leeway)
            .field("cache", &self.inner.cache.is_some())
            .finish()
    }
}
