//! Dual authentication: modes, method reporting, conflicting credentials.

use authgate::api_key::{StaticApiKeys, format};
use authgate::{
    Attempt, AuthMethod, AuthMode, Authenticator, ErrorKind, KeySet, Principal, TokenSources, Verifier,
};
use authgate_testkit::{TestKey, jwks};

use crate::helpers::{AUD, ISS, good, verifier};

struct Fixture {
    token: String,
    key_u1: String,
    key_u2: String,
}

fn fixture(mode: AuthMode) -> (Authenticator, Fixture) {
    let signing = TestKey::shared_rs256();
    let key_u1 = format::generate("test").unwrap();
    let key_u2 = format::generate("test").unwrap();
    let keys = StaticApiKeys::new()
        .with_key(&key_u1, Principal::builder("user-1", AuthMethod::ApiKey).build())
        .with_key(&key_u2, Principal::builder("user-2", AuthMethod::ApiKey).build());
    let auth = Authenticator::builder()
        .jwt(verifier(&[&signing], &[authgate::Algorithm::RS256]))
        .api_keys(keys)
        .mode(mode)
        .build()
        .unwrap();
    (auth, Fixture { token: good(&signing).sign(), key_u1, key_u2 })
}

fn request(bearer: Option<&str>, api_key: Option<&str>) -> http::Request<()> {
    let mut b = http::Request::get("/api/positions");
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(k) = api_key {
        b = b.header("x-api-key", k);
    }
    b.body(()).unwrap()
}

#[tokio::test]
async fn either_mode_reports_which_method_was_used() {
    let (auth, f) = fixture(AuthMode::Either);
    let jwt = auth.authenticate(&request(Some(&f.token), None)).await.unwrap().unwrap();
    assert_eq!(jwt.auth_method(), AuthMethod::Jwt);
    let key = auth.authenticate(&request(None, Some(&f.key_u1))).await.unwrap().unwrap();
    assert_eq!(key.auth_method(), AuthMethod::ApiKey);
    assert!(auth.authenticate(&request(None, None)).await.unwrap().is_none());
}

#[tokio::test]
async fn both_credentials_for_the_same_user_are_fine_for_different_users_400() {
    let (auth, f) = fixture(AuthMode::Either);
    let same = auth.authenticate(&request(Some(&f.token), Some(&f.key_u1))).await.unwrap().unwrap();
    assert_eq!(same.auth_method(), AuthMethod::Jwt);
    let err = auth.authenticate(&request(Some(&f.token), Some(&f.key_u2))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn cached_answers_are_only_given_when_no_api_key_must_be_checked() {
    for mode in [AuthMode::Either, AuthMode::JwtOnly, AuthMode::ApiKeyOnly] {
        let (auth, f) = fixture(mode);
        let both = request(Some(&f.token), Some(&f.key_u2));
        let token_only = request(Some(&f.token), None);
        let cached = |req| auth.authenticate_cached(&auth.sources().extract(req).unwrap()).is_some();
        assert!(!cached(&token_only), "{mode:?}: nothing verified yet");
        // Cached on its second verification.
        for _ in 0..2 {
            let _ = auth.authenticate(&token_only).await;
        }
        // Either: the key must still be verified (and here names another user).
        let expected = [mode != AuthMode::ApiKeyOnly, mode == AuthMode::JwtOnly];
        assert_eq!([cached(&token_only), cached(&both)], expected, "{mode:?}");
    }
}

#[tokio::test]
async fn a_token_missed_by_the_cached_look_is_verified_then_cached_and_rotation_still_evicts_it() {
    let signing = TestKey::shared_rs256();
    let keys = KeySet::from_jwks_json(&jwks(&[&signing]).to_string()).unwrap();
    let auth =
        Authenticator::jwt(Verifier::builder().issuer(ISS, keys.clone()).audience(AUD).build().unwrap());
    let req = request(Some(&good(&signing).sign()), None);
    let user = |p: Option<Principal>| p.map(|p| p.user_id().to_owned());
    // The middleware's pattern, twice: the cached look misses, the same credentials
    // (owned, as a future needs them) are verified.
    for _ in 0..2 {
        let credentials = auth.sources().extract(&req).unwrap();
        assert_eq!(user(auth.authenticate_cached(&credentials)), None);
        let verified = auth.authenticate_credentials(credentials.into_owned()).await.unwrap();
        assert_eq!(user(verified).as_deref(), Some("user-1"));
    }
    // Recorded under the hash of the cached look: the next look hits.
    let credentials = auth.sources().extract(&req).unwrap();
    assert_eq!(user(auth.authenticate_cached(&credentials)).as_deref(), Some("user-1"));
    // The key leaves the set: the cached token is no longer answered, nor verified.
    keys.replace_jwks_json(&jwks(&[&TestKey::es256()]).to_string()).unwrap();
    assert_eq!(user(auth.authenticate_cached(&credentials)), None, "rotated out");
    let err = auth.authenticate_credentials(credentials).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownKey);
}

#[tokio::test]
async fn modes_ignore_the_other_kind_of_credential() {
    let (jwt_only, f) = fixture(AuthMode::JwtOnly);
    assert!(jwt_only.authenticate(&request(None, Some(&f.key_u1))).await.unwrap().is_none());
    let (keys_only, f) = fixture(AuthMode::ApiKeyOnly);
    assert!(keys_only.authenticate(&request(Some(&f.token), None)).await.unwrap().is_none());
}

#[tokio::test]
async fn bad_credentials_are_errors_never_anonymous() {
    let (auth, f) = fixture(AuthMode::Either);
    let err = auth.authenticate(&request(Some("abc.def.ghi"), None)).await.unwrap_err();
    assert_eq!(err.status(), 401);
    let err = auth.authenticate(&request(None, Some("ak_test_nope"))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidApiKey);
    // A good key does not rescue a bad token.
    assert!(auth.authenticate(&request(Some("abc.def.ghi"), Some(&f.key_u1))).await.is_err());
}

#[tokio::test]
async fn websocket_sources_read_the_query_on_upgrades_only() {
    let (auth, f) = fixture(AuthMode::JwtOnly);
    let ws = auth.with_sources(TokenSources::websocket());
    let upgrade = http::Request::get(format!("/ws/quotes?token={}", f.token))
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .body(())
        .unwrap();
    assert!(ws.authenticate(&upgrade).await.unwrap().is_some());
    let plain = http::Request::get(format!("/api?token={}", f.token)).body(()).unwrap();
    assert!(ws.authenticate(&plain).await.unwrap().is_none(), "J26: no query tokens on normal routes");
}

#[test]
fn modes_need_their_verifiers() {
    assert!(Authenticator::builder().mode(AuthMode::Either).build().is_err());
    assert!(Authenticator::builder().build().is_err());
}

/// An API-key verifier that knows no key and counts how often it is asked.
fn counting_verifier()
-> (impl authgate::api_key::ApiKeyVerifier, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let verifier = move |_key: String| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Err::<Principal, _>(authgate::Error::new(ErrorKind::InvalidApiKey, "unknown")) }
    };
    (verifier, asked)
}

fn from(ip: &str, key: &str) -> authgate::Credentials<'static> {
    authgate::Credentials::builder().api_key(key.to_owned()).client_addr(ip.parse().unwrap()).build()
}

#[tokio::test]
async fn more_than_ten_unknown_keys_a_minute_from_one_address_answer_429_before_asking() {
    use std::sync::atomic::Ordering;
    let (keys, asked) = counting_verifier();
    let signing = TestKey::shared_rs256();
    let auth = Authenticator::builder()
        .jwt(verifier(&[&signing], &[authgate::Algorithm::RS256]))
        .api_keys(keys)
        .mode(AuthMode::Either)
        .build()
        .unwrap();
    for _ in 0..10 {
        let key = format::generate("test").unwrap();
        assert_eq!(
            auth.authenticate_credentials(from("203.0.113.7", &key)).await.unwrap_err().kind(),
            ErrorKind::InvalidApiKey
        );
    }
    assert_eq!(asked.load(Ordering::SeqCst), 10);
    for _ in 0..5 {
        let key = format::generate("test").unwrap();
        let e = auth.authenticate_credentials(from("203.0.113.7", &key)).await.unwrap_err();
        assert_eq!((e.kind(), e.status().as_u16()), (ErrorKind::RateLimited, 429));
        let retry: u64 = e.retry_after_header().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
    assert_eq!(asked.load(Ordering::SeqCst), 10, "the verifier was not asked again");
    // Another address, and a JWT from the limited one, are unaffected.
    let key = format::generate("test").unwrap();
    assert_eq!(
        auth.authenticate_credentials(from("198.51.100.1", &key)).await.unwrap_err().kind(),
        ErrorKind::InvalidApiKey
    );
    let jwt = authgate::Credentials::builder()
        .bearer(good(&signing).sign())
        .client_addr("203.0.113.7".parse().unwrap())
        .build();
    assert!(auth.authenticate_credentials(jwt).await.unwrap().is_some());
}

#[tokio::test]
async fn requests_without_a_known_address_share_one_budget_and_the_limit_is_tunable() {
    use std::sync::atomic::Ordering;
    let (keys, asked) = counting_verifier();
    let auth = Authenticator::builder()
        .api_keys(keys)
        .unknown_api_key_limit(2, std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let anonymous = |key: &str| authgate::Credentials::builder().api_key(key.to_owned()).build();
    for expected in [ErrorKind::InvalidApiKey, ErrorKind::InvalidApiKey, ErrorKind::RateLimited] {
        let key = format::generate("test").unwrap();
        assert_eq!(auth.authenticate_credentials(anonymous(&key)).await.unwrap_err().kind(), expected);
    }
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let key = format::generate("test").unwrap();
    assert_eq!(
        auth.authenticate_credentials(anonymous(&key)).await.unwrap_err().kind(),
        ErrorKind::InvalidApiKey,
        "a new window"
    );

    let (keys, asked) = counting_verifier();
    let unlimited = Authenticator::builder().api_keys(keys).without_unknown_api_key_limit().build().unwrap();
    for _ in 0..20 {
        let key = format::generate("test").unwrap();
        assert_eq!(
            unlimited.authenticate_credentials(from("10.0.0.1", &key)).await.unwrap_err().kind(),
            ErrorKind::InvalidApiKey
        );
    }
    assert_eq!(asked.load(Ordering::SeqCst), 20);
}

#[tokio::test]
async fn the_client_address_comes_from_the_request_extensions() {
    let req = http::Request::get("/")
        .extension(authgate::client_addr::ClientAddr("192.0.2.9".parse().unwrap()))
        .header("x-api-key", "k")
        .body(())
        .unwrap();
    let credentials = TokenSources::default().extract(&req).unwrap();
    assert_eq!(credentials.client_addr(), Some("192.0.2.9".parse().unwrap()));
    let (parts, ()) = req.into_parts();
    assert_eq!(
        TokenSources::default().extract(&parts).unwrap().client_addr(),
        Some("192.0.2.9".parse().unwrap())
    );
}

/// What `attempt` answered, in a form tests compare: `Ok(Some(user))` decided,
/// `Ok(None)` decided with no credentials, `Err(status)` refused; pending credentials
/// are verified, so the answer is always the final one.
async fn attempted(auth: &Authenticator, req: &http::Request<()>) -> (bool, Result<Option<String>, u16>) {
    let user = |p: Option<Principal>| p.map(|p| p.user_id().to_owned());
    match auth.attempt(req) {
        Ok(Attempt::Decided(principal)) => (true, Ok(user(principal))),
        Ok(Attempt::Pending(credentials)) => (
            false,
            auth.authenticate_credentials(credentials).await.map(user).map_err(|e| e.status().as_u16()),
        ),
        Err(e) => (true, Err(e.status().as_u16())),
    }
}

/// `attempt` looks a lone `Authorization: Bearer` token up by the header's bytes, before
/// `extract` validates them, so it must answer exactly as the full path does for every
/// shape of request, cached token or not.
#[tokio::test]
async fn attempt_answers_as_the_full_path_for_every_shape_of_request() {
    let (auth, f) = fixture(AuthMode::Either);
    let req = |uri: &str, headers: &[(&str, &str)]| {
        let mut b = http::Request::get(uri);
        for (name, value) in headers {
            b = b.header(*name, *value);
        }
        b.body(()).unwrap()
    };
    let bearer = format!("Bearer {}", f.token);
    let plain = req("/api", &[("authorization", &bearer)]);
    // Verified now (its key is at hand) when first and second seen, then from the cache
    // (it admits a token on its second sighting).
    for _ in 0..3 {
        assert_eq!(attempted(&auth, &plain).await, (true, Ok(Some("user-1".into()))));
    }
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let header = format!("{scheme} {}", f.token);
        let r = req("/api?page=2", &[("authorization", &header)]);
        assert_eq!(attempted(&auth, &r).await, (true, Ok(Some("user-1".into()))), "{scheme}");
    }

    let two_spaces = req("/api", &[("authorization", &format!("Bearer  {}", f.token))]);
    let mut repeated = req("/api", &[("authorization", &bearer)]);
    repeated.headers_mut().append("authorization", bearer.parse().unwrap());
    let cases = [
        ("two spaces", two_spaces),
        ("repeated header", repeated),
        ("another user's API key", req("/api", &[("authorization", &bearer), ("x-api-key", &f.key_u2)])),
        ("the same user's API key", req("/api", &[("authorization", &bearer), ("x-api-key", &f.key_u1)])),
        ("API key in the query", req("/api?api_key=ak_live_x", &[("authorization", &bearer)])),
        ("a longer token", req("/api", &[("authorization", &format!("{bearer}x"))])),
        ("trailing text", req("/api", &[("authorization", &format!("{bearer} x"))])),
        ("Basic", req("/api", &[("authorization", &format!("Basic {}", f.token))])),
        ("no credentials", req("/api", &[])),
        ("an API key alone", req("/api", &[("x-api-key", &f.key_u1)])),
    ];
    for (name, r) in &cases {
        let full = auth
            .authenticate(r)
            .await
            .map(|p| p.map(|p| p.user_id().to_owned()))
            .map_err(|e| e.status().as_u16());
        assert_eq!(attempted(&auth, r).await.1, full, "{name}");
    }
    let answers: Vec<_> = cases
        .iter()
        .map(|(name, r)| {
            (
                *name,
                auth.attempt(r)
                    .map(|a| matches!(a, Attempt::Decided(Some(_))))
                    .map_err(|e| e.status().as_u16()),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("two spaces", Ok(true)),
            ("repeated header", Err(400)),
            ("another user's API key", Ok(false)),
            ("the same user's API key", Ok(false)),
            ("API key in the query", Err(401)),
            ("a longer token", Err(401)),
            ("trailing text", Err(400)),
            ("Basic", Ok(false)),
            ("no credentials", Ok(false)),
            ("an API key alone", Ok(false)),
        ],
        "decided now: a token (cached, or verified with its key at hand) or unreadable credentials, \
         never one that needs an API key checked"
    );

    // Sources that read more than the header: the same answers through `extract`.
    let with_cookie = Authenticator::builder()
        .jwt(verifier(&[&TestKey::shared_rs256()], &[authgate::Algorithm::RS256]))
        .sources(TokenSources::default().cookie("access_token"))
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(attempted(&with_cookie, &plain).await, (true, Ok(Some("user-1".into()))));
    }
    let conflicting = req("/api", &[("authorization", &bearer), ("cookie", "access_token=other")]);
    assert_eq!(attempted(&with_cookie, &conflicting).await, (true, Err(400)));
}

/// `attempt` decides a token without waiting only when its key is at hand. A key set not
/// fetched yet, or a token signed by a key it does not hold yet (a rotation), leaves the
/// token pending, and the full path then fetches the key and answers (that it is counted
/// once: `observability::a_token_left_pending_for_its_key_is_counted_once`).
#[cfg(feature = "remote")]
#[tokio::test]
async fn attempt_leaves_a_token_pending_while_its_key_must_be_fetched() {
    use authgate_testkit::{MockJwksServer, standard_claims};

    let old = TestKey::shared_rs256();
    let new = TestKey::shared_rs256().with_kid("rotated-in");
    let idp = MockJwksServer::start().await;
    idp.set_keys(&[&old]);
    let set = KeySet::from_jwks_url_with(&idp.jwks_url(), crate::helpers::fast_config()).unwrap();
    let verifier = Verifier::builder().issuer(idp.issuer(), set).audience(AUD).build().unwrap();
    let auth = Authenticator::jwt(verifier);
    let token = |key: &TestKey| key.token().claims(standard_claims(&idp.issuer(), AUD, "u1", 300)).sign();
    let req = |token: &str| {
        http::Request::get("/").header("authorization", format!("Bearer {token}")).body(()).unwrap()
    };

    // Nothing fetched yet: pending, then verified by the full path.
    let first = req(&token(&old));
    assert_eq!(attempted(&auth, &first).await, (false, Ok(Some("u1".into()))));
    // Fetched: the next token of that key is decided at once.
    let second = req(&token(&old));
    assert_eq!(attempted(&auth, &second).await, (true, Ok(Some("u1".into()))));

    // Rotated: a token of the new key waits for the refetch, then the key is at hand.
    idp.set_keys(&[&old, &new]);
    let rotated = req(&token(&new));
    assert_eq!(attempted(&auth, &rotated).await, (false, Ok(Some("u1".into()))));
    let again = req(&token(&new));
    assert_eq!(attempted(&auth, &again).await, (true, Ok(Some("u1".into()))));
    // A bad signature is refused at once, like any bad token whose key is at hand.
    let forged = req(&format!("{}x", token(&new)));
    assert_eq!(attempted(&auth, &forged).await, (true, Err(401)));
}
