//! The access-token verifier: issuers, audiences, algorithms, time rules.
//!
//! Verification order, cheapest and most telling first: size cap, cache, structure and
//! header (alg, kid, refused members), issuer (picked from the unverified `iss`; an
//! unknown issuer is rejected without any network call), the issuer's `typ` rule and
//! required claims, claim types and time rules, audience and authorized party, then the
//! key lookup and the signature check with a key of the algorithm's family only. Last,
//! the issuer's [`ClaimMapping`] reads the grants and the custom checks run.

use std::borrow::Cow;

use std::sync::{Arc, OnceLock};
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
use crate::mapping::ClaimMapping;
use crate::metric_names;
use crate::principal::{AuthMethod, Principal};
use crate::token_cache::{CacheMiss, Probe, TokenCache, TokenCacheConfig};
use crate::token_types::TokenTypes;

/// Largest `exp`/`nbf`/`iat` accepted (year ~5138): bigger values are type confusion.
const MAX_TIMESTAMP: u64 = 1 << 37;

/// One trusted issuer: its exact `iss`, its keys and, optionally, its own rules
/// (audiences, algorithms, claim mapping, `typ` rule, authorized parties). Rules it does
/// not set are the verifier's.
///
/// ```
/// use authgate::{Algorithm, ClaimMapping, Issuer, KeySet};
/// let partner = Issuer::new("https://partner.example", KeySet::from_jwks_json(r#"{"keys":[]}"#).unwrap())
///     .audiences(["partner-api"])
///     .algorithms([Algorithm::ES256]);
///
/// // A Cognito user pool: no `aud` in access tokens, so check `client_id` instead.
/// let pool = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example";
/// let cognito = Issuer::new(pool, KeySet::from_jwks_json(r#"{"keys":[]}"#).unwrap())
///     .claim_mapping(ClaimMapping::cognito())
///     .skip_audience_check()
///     .authorized_parties(["57cbishk4j24pabc1234567890"]);
/// # let _ = (partner, cognito);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Issuer {
    name: String,
    keys: KeySet,
    audiences: Option<Vec<String>>,
    algorithms: Option<Vec<Algorithm>>,
    mapping: Option<ClaimMapping>,
    types: Option<TokenTypes>,
    skip_audience: bool,
    parties: Option<Vec<String>>,
}

impl Issuer {
    /// An issuer whose tokens carry exactly `iss = name`, verified with `keys`.
    pub fn new(name: impl Into<String>, keys: KeySet) -> Issuer {
        Issuer {
            name: name.into(),
            keys,
            audiences: None,
            algorithms: None,
            mapping: None,
            types: None,
            skip_audience: false,
            parties: None,
        }
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
    /// Where this issuer's tokens keep roles, permissions and scopes, instead of the
    /// verifier's mapping (a preset also brings its `typ` rule; see [`ClaimMapping`]).
    pub fn claim_mapping(mut self, mapping: ClaimMapping) -> Issuer {
        self.mapping = Some(mapping);
        self
    }
    /// The header `typ` values accepted for this issuer, whatever its mapping says.
    pub fn token_types(mut self, types: TokenTypes) -> Issuer {
        self.types = Some(types);
        self
    }
    /// Accepts this issuer's tokens whatever their `aud` (for providers whose access
    /// tokens have none, such as Cognito). Logged at WARN when the verifier is built;
    /// pair it with [`Self::authorized_parties`].
    pub fn skip_audience_check(mut self) -> Issuer {
        self.skip_audience = true;
        self
    }
    /// Accepts only tokens issued to one of these clients: the token's `azp`,
    /// `client_id` or `cid` (the first present) must be one of them.
    pub fn authorized_parties<I: IntoIterator<Item = S>, S: Into<String>>(mut self, parties: I) -> Issuer {
        self.parties = Some(parties.into_iter().map(Into::into).collect());
        self
    }
}

/// A custom check: `Err(message)` refuses the caller with a 403 carrying `message`.
type Check = Arc<dyn Fn(&Principal) -> Result<(), Cow<'static, str>> + Send + Sync>;

struct IssuerRules {
    keys: KeySet,
    /// `None` when the audience check is skipped on purpose.
    audiences: Option<Vec<String>>,
    algorithms: Vec<Algorithm>,
    mapping: ClaimMapping,
    types: TokenTypes,
    parties: Vec<String>,
}

struct Inner {
    /// Sorted by name and found by binary search: a few string comparisons, where a
    /// `HashMap` spent ~600 instructions SipHashing the untrusted `iss` on every verify.
    issuers: Vec<(String, IssuerRules)>,
    leeway: u64,
    max_token_bytes: usize,
    clock: Arc<dyn Clock>,
    cache: Option<TokenCache>,
    checks: Vec<Check>,
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
    types: Option<TokenTypes>,
    mapping: Option<ClaimMapping>,
    skip_audience: bool,
    parties: Vec<String>,
    clock: Arc<dyn Clock>,
    cache: Option<TokenCacheConfig>,
    checks: Vec<Check>,
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        VerifierBuilder {
            issuers: Vec::new(),
            audiences: Vec::new(),
            algorithms: vec![Algorithm::RS256],
            leeway: Duration::from_secs(60),
            max_token_bytes: 8 * 1024,
            types: None,
            mapping: None,
            skip_audience: false,
            parties: Vec::new(),
            clock: Arc::new(SystemClock),
            cache: Some(TokenCacheConfig::default()),
            checks: Vec::new(),
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
        self.token_types(TokenTypes::at_jwt())
    }
    /// Accepts exactly these `typ` values (case-insensitive, `application/` optional).
    pub fn accepted_types<I: IntoIterator<Item = S>, S: AsRef<str>>(self, types: I) -> Self {
        self.token_types(TokenTypes::only(types))
    }
    /// The header `typ` values accepted (default [`TokenTypes::lenient`]). Set here, it
    /// wins over the `typ` rule of the verifier's [`Self::claim_mapping`] preset; an
    /// issuer's own rule or preset wins over both.
    pub fn token_types(mut self, types: TokenTypes) -> Self {
        self.types = Some(types);
        self
    }
    /// Where roles, permissions and scopes come from (default
    /// [`ClaimMapping::standard`]), for issuers without their own.
    ///
    #[cfg_attr(feature = "remote", doc = "```")]
    #[cfg_attr(not(feature = "remote"), doc = "```ignore")]
    /// # fn main() -> Result<(), authgate::Error> {
    /// use authgate::{ClaimMapping, KeySet, Verifier};
    /// let realm = "https://sso.example.com/realms/trading";
    /// let verifier = Verifier::builder()
    ///     .issuer(realm, KeySet::from_jwks_url(&format!("{realm}/protocol/openid-connect/certs"))?)
    ///     .audience("orders-api")
    ///     .claim_mapping(ClaimMapping::keycloak("orders-api"))
    ///     .build()?;
    /// # let _ = verifier; Ok(()) }
    /// ```
    pub fn claim_mapping(mut self, mapping: ClaimMapping) -> Self {
        self.mapping = Some(mapping);
        self
    }
    /// Accepts tokens whatever their `aud`, for issuers without their own audiences.
    /// For providers whose access tokens carry no audience (Cognito); pair it with
    /// [`Self::authorized_party`]. Logged at WARN when the verifier is built, since a
    /// token the issuer minted for any other API of yours is then accepted too.
    pub fn skip_audience_check(mut self) -> Self {
        self.skip_audience = true;
        self
    }
    /// Accepts only tokens issued to client `party`: their `azp`, `client_id` or `cid`
    /// (the first present) must name it. Call again to accept several.
    pub fn authorized_party(mut self, party: impl Into<String>) -> Self {
        self.parties.push(party.into());
        self
    }
    /// Adds a custom check run on every verified caller, after the standard rules; an
    /// `Err(message)` refuses the request with 403 `insufficient_scope` and `message` as
    /// the client-facing description (so choose it for clients). Checks run once per
    /// token (verified tokens are cached), so they must depend on the claims only.
    ///
    /// ```
    /// # fn main() -> Result<(), authgate::Error> {
    /// use authgate::{KeySet, Verifier};
    /// let verifier = Verifier::builder()
    ///     .issuer("https://id.example", KeySet::from_jwks_json(r#"{"keys":[]}"#)?)
    ///     .audience("trading-platform")
    ///     .check(|user| match user.raw_claims()["email_verified"].as_bool() {
    ///         Some(true) => Ok(()),
    ///         _ => Err("verify your email address first"),
    ///     })
    ///     .build()?;
    /// # let _ = verifier; Ok(()) }
    /// ```
    pub fn check<F, E>(mut self, check: F) -> Self
    where
        F: Fn(&Principal) -> Result<(), E> + Send + Sync + 'static,
        E: Into<Cow<'static, str>>,
    {
        self.checks.push(Arc::new(move |p: &Principal| check(p).map_err(Into::into)));
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
        if self.skip_audience && !self.audiences.is_empty() {
            return Err(config("audiences are configured and the audience check is skipped: choose one"));
        }
        let default_mapping = self.mapping.clone().unwrap_or_default();
        default_mapping.check()?;
        let mut issuers: Vec<(String, IssuerRules)> = Vec::new();
        for issuer in self.issuers {
            let audiences = match (issuer.audiences, issuer.skip_audience) {
                (Some(a), true) if !a.is_empty() => {
                    return Err(config("an issuer has audiences and skips the audience check: choose one"));
                }
                (Some(a), false) if !a.is_empty() => Some(a),
                (_, true) => None,
                _ if !self.audiences.is_empty() => Some(self.audiences.clone()),
                _ if self.skip_audience => None,
                _ => return Err(config("a verifier needs at least one audience (RFC 8725 §3.9)")),
            };
            let algorithms = issuer.algorithms.unwrap_or_else(|| self.algorithms.clone());
            if algorithms.is_empty() {
                return Err(config("the algorithm allow-list is empty"));
            }
            let parties = issuer.parties.unwrap_or_else(|| self.parties.clone());
            if audiences.is_none() {
                tracing::warn!(
                    issuer = %issuer.name,
                    authorized_parties = ?parties,
                    "audience check skipped: tokens this issuer minted for other APIs are accepted{}",
                    if parties.is_empty() { ", and no authorized party is checked" } else { "" }
                );
            }
            let own_mapping = issuer.mapping.is_some();
            let mapping = issuer.mapping.unwrap_or_else(|| default_mapping.clone());
            mapping.check()?;
            // The most specific rule wins: the issuer's, then its own mapping's preset,
            // then the verifier's, then the verifier mapping's preset.
            let types = issuer
                .types
                .or_else(|| own_mapping.then(|| mapping.preset_token_types().cloned()).flatten())
                .or_else(|| self.types.clone())
                .or_else(|| default_mapping.preset_token_types().cloned())
                .unwrap_or_else(TokenTypes::lenient);
            let rules = IssuerRules { keys: issuer.keys, audiences, algorithms, mapping, types, parties };
            if issuers.iter().any(|(name, _)| *name == issuer.name) {
                return Err(config("the same issuer is configured twice"));
            }
            issuers.push((issuer.name, rules));
        }
        issuers.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(Verifier {
            inner: Arc::new(Inner {
                issuers,
                leeway: self.leeway.as_secs(),
                max_token_bytes: self.max_token_bytes,
                clock: self.clock,
                cache: self.cache.as_ref().map(TokenCache::new),
                checks: self.checks,
            }),
        })
    }
}

impl Verifier {
    /// Starts a builder: defaults are RS256 only, 60 s leeway, 8 KiB cap, lenient `typ`,
    /// the standard claim mapping, token cache on.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Verifies an access token and returns the caller. Repeated tokens are answered
    /// from the verified-token cache.
    pub async fn verify(&self, token: &str) -> Result<Principal, Error> {
        self.verify_after(token, None).await
    }

    /// [`Verifier::verify`], told that [`Verifier::verify_cached`] just missed for this
    /// token (so the cache is not asked again).
    pub(crate) async fn verify_after(
        &self,
        token: &str,
        miss: Option<CacheMiss>,
    ) -> Result<Principal, Error> {
        let miss = match miss {
            Some(miss) => Some(miss),
            None => match self.cached(token.as_bytes()) {
                Ok(principal) => return Ok(principal),
                Err(miss) => miss,
            },
        };
        let started = std::time::Instant::now();
        let result = self.verify_access(token, miss).await;
        record_outcome(AuthMethod::Jwt, &result, started);
        result
    }

    /// The caller for `token` if the verified-token cache holds it and it is still
    /// valid, counted like [`Verifier::verify`] answering from the cache; `None` (not
    /// counted, since `verify` will count it) otherwise, with the miss noted in `miss`
    /// for [`Verifier::verify_after`].
    pub(crate) fn verify_cached(&self, token: &str, miss: &OnceLock<CacheMiss>) -> Option<Principal> {
        match self.cached(token.as_bytes()) {
            Ok(principal) => Some(principal),
            Err(missed) => {
                // Already set only if these credentials were probed before: keep that note.
                if let Some(missed) = missed {
                    let _ = miss.set(missed);
                }
                None
            }
        }
    }

    /// The cached caller for `token` (any bytes: only an exact match with a verified
    /// token answers), counted as a verification and a cache hit but not timed (the
    /// latency histogram is for verifications that ran); else the miss, or `None` with
    /// no cache or a token too long to be cached.
    pub(crate) fn cached(&self, token: &[u8]) -> Result<Principal, Option<CacheMiss>> {
        let Some(cache) = self.inner.cache.as_ref() else { return Err(None) };
        if token.len() > self.inner.max_token_bytes {
            return Err(None);
        }
        let probe = cache.probe(token);
        let Some(principal) = cache.get(probe, self.inner.clock.now_unix()) else {
            return Err(Some(cache.miss(probe)));
        };
        metric_names::increment!(metric_names::TOKEN_CACHE, "result" => "hit");
        count_outcome(AuthMethod::Jwt, &Ok::<_, Error>(&principal));
        Ok(principal)
    }

    async fn verify_access(&self, token: &str, miss: Option<CacheMiss>) -> Result<Principal, Error> {
        self.check_size(token)?;
        let now = self.inner.clock.now_unix();
        let probe = self.note_miss(token, miss);
        let verified = self.verify_raw(token, now).await?;
        self.accept(verified, now, probe)
    }

    /// [`Verifier::verify_after`] when the token's key is at hand: the outcome, counted
    /// and cached alike. `None` when the key must be fetched first; nothing is counted
    /// then, and `verify_after` does it all.
    pub(crate) fn verify_now_after(
        &self,
        token: &str,
        miss: Option<CacheMiss>,
    ) -> Option<Result<Principal, Error>> {
        let started = std::time::Instant::now();
        let result = match self.check_size(token) {
            Err(error) => Err(error),
            Ok(()) => {
                let now = self.inner.clock.now_unix();
                let verified = match self.verify_now(token, now) {
                    Ok(VerifyNow::NeedKey { .. }) => return None,
                    Ok(VerifyNow::Verified(verified)) => Ok(verified),
                    Err(error) => Err(error),
                };
                let probe = self.note_miss(token, miss);
                verified.and_then(|verified| self.accept(verified, now, probe))
            }
        };
        record_outcome(AuthMethod::Jwt, &result, started);
        Some(result)
    }

    /// Counts the cache miss of a token about to be verified; its probe, for caching
    /// the outcome.
    fn note_miss<'t>(&self, token: &'t str, miss: Option<CacheMiss>) -> Option<(&TokenCache, Probe<'t>)> {
        let cache = self.inner.cache.as_ref()?;
        // Missed a moment ago (`verify_after` asks first): asking again would almost
        // always miss again. A miss noted by another cache only costs the hash.
        let probe = match miss.and_then(|miss| cache.after_miss(token, miss)) {
            Some(probe) => probe,
            None => cache.probe(token),
        };
        metric_names::increment!(metric_names::TOKEN_CACHE, "result" => "miss");
        Some((cache, probe))
    }

    /// The custom checks, then the verified token into the cache.
    fn accept(
        &self,
        verified: Verified<'_>,
        now: u64,
        probe: Option<(&TokenCache, Probe<'_>)>,
    ) -> Result<Principal, Error> {
        let Verified { principal, exp, key, rules } = verified;
        let valid_until = exp.saturating_add(self.inner.leeway);
        for check in &self.inner.checks {
            check(&principal).map_err(Error::forbidden)?;
        }
        if let Some((cache, probe)) = probe {
            cache.insert(probe, &principal, key, &rules.keys, valid_until, now);
        }
        Ok(principal)
    }

    /// Verifies a token (as [`Verifier::verify`], with every rule and check) and
    /// deserializes its claims into your own type.
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
        self.verify(token).await?.claims_as()
    }

    /// True when every issuer has usable keys: the readiness check.
    pub fn is_ready(&self) -> bool {
        self.inner.issuers.iter().all(|(_, i)| i.keys.is_ready())
    }

    /// Fetches every issuer's keys now (start-up warm-up). Fails if any fails.
    pub async fn refresh_keys(&self) -> Result<(), Error> {
        for (_, issuer) in &self.inner.issuers {
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

    /// Every rule and the signature check, then the principal. The common case (the
    /// key set holds the token's key) runs in one synchronous frame, which keeps the
    /// decoded header and signature (the thread's [`jose::Scratch`], 1.5 KiB) out of
    /// this future, where every move of the future would copy them. When the key
    /// must be waited for, the token is decoded and checked again after the wait: the
    /// outcome depends only on the token, `now` and the configuration, so it is the same.
    async fn verify_raw(&self, token: &str, now: u64) -> Result<Verified<'_>, Error> {
        let (rules, kid) = match self.verify_now(token, now)? {
            VerifyNow::Verified(verified) => return Ok(verified),
            VerifyNow::NeedKey { rules, kid } => (rules, kid),
        };
        let key = rules.keys.key_for(kid.as_deref()).await?;
        self.verify_with(token, now, key)
    }

    fn verify_now(&self, token: &str, now: u64) -> Result<VerifyNow<'_>, Error> {
        jose::Scratch::with(|scratch| {
            let checked = self.check(token, now, scratch)?;
            match checked.rules.keys.key_now(checked.kid.as_deref()) {
                Some(key) => self.finish(checked, key).map(VerifyNow::Verified),
                None => {
                    Ok(VerifyNow::NeedKey { rules: checked.rules, kid: checked.kid.map(Cow::into_owned) })
                }
            }
        })
    }

    fn verify_with(&self, token: &str, now: u64, key: Arc<VerifyingKey>) -> Result<Verified<'_>, Error> {
        jose::Scratch::with(|scratch| {
            let checked = self.check(token, now, scratch)?;
            self.finish(checked, key)
        })
    }

    /// Everything before the key lookup: structure, header, issuer, `typ`, required
    /// claims, algorithm, times, audience and authorized party.
    fn check<'v, 'a>(
        &'v self,
        token: &'a str,
        now: u64,
        scratch: &'a mut jose::Scratch,
    ) -> Result<Checked<'v, 'a>, Error> {
        let decoded = jose::decode(token, scratch)?;
        let claims = &*decoded.claims;

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
        let rules = self.issuer(iss).ok_or_else(|| {
            Error::new(ErrorKind::InvalidIssuer, format!("issuer {:?} is not trusted", jose::truncate(iss)))
        })?;
        let typ = decoded.typ.as_deref();
        if !rules.types.accepts(typ) {
            return Err(Error::new(
                ErrorKind::InvalidType,
                format!("typ {:?} is not accepted ({})", typ.map(jose::truncate), rules.types),
            ));
        }
        rules.mapping.check_required(claims)?;
        let alg = decoded.alg;
        if !rules.algorithms.contains(&alg) {
            return Err(Error::new(ErrorKind::AlgorithmNotAllowed, format!("alg {alg} is not allowed")));
        }

        let exp = self.check_times(claims, now)?;
        if let Some(audiences) = &rules.audiences {
            check_audience(claims, audiences)?;
        }
        if !rules.parties.is_empty() {
            check_authorized_party(claims, &rules.parties)?;
        }
        let Decoded { kid, claims, payload_json, signing_input, signature, .. } = decoded;
        Ok(Checked { alg, kid, claims, payload_json, signing_input, signature, exp, rules })
    }

    /// The key binding and signature check, then the principal: the claims through the
    /// issuer's mapping into [`AccessClaims`].
    fn finish<'v>(&self, checked: Checked<'v, '_>, key: Arc<VerifyingKey>) -> Result<Verified<'v>, Error> {
        let Checked { alg, kid, claims, payload_json, signing_input, signature, exp, rules } = checked;
        if !key.allows(alg) {
            return Err(Error::new(
                ErrorKind::AlgorithmNotAllowed,
                format!("alg {alg} does not match the key for kid {:?}", kid.as_deref().map(jose::truncate)),
            ));
        }
        if !key.verify(alg, signing_input.as_bytes(), signature) {
            return Err(Error::new(ErrorKind::InvalidSignature, "signature does not verify"));
        }
        let grants = if rules.mapping.is_standard() { None } else { Some(rules.mapping.grants(claims)?) };
        let claims = AccessClaims::from_payload(claims)
            .map_err(|e| Error::new(ErrorKind::InvalidClaims, format!("claims: {e}")))?;
        let principal = Principal::from_jwt(claims, payload_json, grants)?;
        Ok(Verified { principal, exp, key, rules })
    }

    fn issuer(&self, iss: &str) -> Option<&IssuerRules> {
        let issuers = &self.inner.issuers;
        let i = issuers.binary_search_by(|(name, _)| name.as_str().cmp(iss)).ok()?;
        issuers.get(i).map(|(_, rules)| rules)
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

/// A token that passed every check before the key lookup, borrowing the token and the
/// decoded header and signature.
struct Checked<'v, 'a> {
    alg: Algorithm,
    kid: Option<Cow<'a, str>>,
    claims: &'a mut Payload,
    payload_json: Vec<u8>,
    signing_input: &'a str,
    signature: &'a [u8],
    exp: u64,
    rules: &'v IssuerRules,
}

/// What [`Verifier::verify_now`] could do without waiting.
enum VerifyNow<'a> {
    Verified(Verified<'a>),
    /// Every check before the key lookup passed; the key set must be waited for.
    NeedKey {
        rules: &'a IssuerRules,
        kid: Option<String>,
    },
}

struct Verified<'a> {
    principal: Principal,
    exp: u64,
    key: Arc<VerifyingKey>,
    rules: &'a IssuerRules,
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

/// The client a token was issued to (`azp`, else `client_id`, else Okta's `cid`) must
/// be an authorized party.
fn check_authorized_party(claims: &Payload, parties: &[String]) -> Result<(), Error> {
    let named = ["azp", "client_id", "cid"].into_iter().find_map(|name| claims.get(name).map(|v| (name, v)));
    match named {
        Some((_, Value::String(party))) if parties.iter().any(|p| p == party) => Ok(()),
        Some((name, Value::String(party))) => Err(Error::new(
            ErrorKind::InvalidAudience,
            format!("{name} {:?} is not an authorized party", jose::truncate(party)),
        )),
        Some((name, other)) => {
            Err(Error::new(ErrorKind::InvalidAudience, format!("{name} is a {}", jose::type_name(other))))
        }
        None => Err(Error::new(ErrorKind::InvalidAudience, "no azp, client_id or cid to check")),
    }
}

/// Records one verification. The common outcomes use keys built once (see
/// [`metric_names::increment!`]); errors name their kind, so build theirs.
pub(crate) fn record_outcome<T>(method: AuthMethod, result: &Result<T, Error>, started: std::time::Instant) {
    use metric_names::VERIFY_SECONDS;
    let seconds = started.elapsed().as_secs_f64();
    match method {
        AuthMethod::ApiKey => metric_names::record!(seconds; VERIFY_SECONDS, "method" => "api_key"),
        _ => metric_names::record!(seconds; VERIFY_SECONDS, "method" => "jwt"),
    }
    count_outcome(method, result);
}

/// Counts a verification's outcome (and logs a refusal's reason), without timing it.
fn count_outcome<T>(method: AuthMethod, result: &Result<T, Error>) {
    use metric_names::VERIFICATIONS;
    match (method, result) {
        (AuthMethod::ApiKey, Ok(_)) => {
            metric_names::increment!(VERIFICATIONS, "method" => "api_key", "outcome" => "ok")
        }
        (_, Ok(_)) => metric_names::increment!(VERIFICATIONS, "method" => "jwt", "outcome" => "ok"),
        (method, Err(e)) => {
            #[cfg(feature = "metrics")]
            {
                metrics::counter!(VERIFICATIONS, "method" => method.as_str(), "outcome" => e.kind().as_str())
                    .increment(1);
                metrics::counter!(metric_names::AUTH_FAILURES, "reason" => e.kind().as_str()).increment(1);
            }
            // The reason goes to logs; the credential never does.
            tracing::debug!(method = method.as_str(), reason = %e, "credential rejected");
        }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issuers: Vec<&String> = self.inner.issuers.iter().map(|(name, _)| name).collect();
        f.debug_struct("Verifier")
            .field("issuers", &issuers)
            .field("leeway", &self.inner.leeway)
            .field("cache", &self.inner.cache.is_some())
            .finish()
    }
}
