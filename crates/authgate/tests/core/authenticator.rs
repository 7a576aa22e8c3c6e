//! Dual authentication: modes, method reporting, conflicting credentials.

use authgate::api_key::{StaticApiKeys, format};
use authgate::{AuthMethod, AuthMode, Authenticator, ErrorKind, Principal, TokenSources};
use authgate_testkit::TestKey;

use crate::helpers::{good, verifier};

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
        let _ = auth.authenticate(&token_only).await;
        // Either: the key must still be verified (and here names another user).
        let expected = [mode != AuthMode::ApiKeyOnly, mode == AuthMode::JwtOnly];
        assert_eq!([cached(&token_only), cached(&both)], expected, "{mode:?}");
    }
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
