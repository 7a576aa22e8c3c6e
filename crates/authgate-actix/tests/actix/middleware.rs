//! AuthMiddleware: statuses, challenges, bodies, modes, CORS preflight.

use std::time::Duration;

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::web::Bytes;
use actix_web::{App, HttpResponse, test, web};
use authgate::{Authenticator, Issuer, KeySet, Verifier};
use authgate_actix::{AuthMiddleware, CurrentUser};

use crate::helpers::{AUDIENCE, ISSUER, answer, authenticator, token, user_token};

async fn whoami(user: Option<CurrentUser>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "user_id": user.map(|p| p.user_id().to_owned()) }))
}

fn app(
    mw: AuthMiddleware,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().route("/me", web::get().to(whoami)).wrap(mw)
}

fn get(uri: &str) -> test::TestRequest {
    test::TestRequest::get().uri(uri)
}

fn bearer(t: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {t}"))
}

#[actix_web::test]
async fn missing_credentials_get_a_bare_challenge_and_json_body() {
    let (auth, _) = authenticator();
    let svc = test::init_service(app(AuthMiddleware::new(auth).realm("alerts"))).await;
    let (status, challenge, body, headers) =
        answer(test::call_service(&svc, get("/me").to_request()).await).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="alerts""#));
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    assert_eq!(body, r#"{"error":"unauthorized","error_description":"authentication required"}"#);
}

#[actix_web::test]
async fn valid_jwt_reaches_the_handler_with_the_principal() {
    let (auth, _) = authenticator();
    let svc = test::init_service(app(AuthMiddleware::new(auth))).await;
    let req = get("/me").insert_header(bearer(&user_token("user-7"))).to_request();
    let (status, challenge, body, _) = answer(test::call_service(&svc, req).await).await;
    assert_eq!((status, challenge), (200, None));
    assert_eq!(body, r#"{"user_id":"user-7"}"#);
}

#[actix_web::test]
async fn j16_expired_token_is_401_invalid_token_with_description() {
    let (auth, _) = authenticator();
    let svc = test::init_service(app(AuthMiddleware::new(auth))).await;
    let now = authgate_testkit::now();
    let expired =
        token("u", 300, serde_json::json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}));
    let req = get("/me").insert_header(bearer(&expired)).to_request();
    let (status, challenge, body, _) = answer(test::call_service(&svc, req).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="api", error="invalid_token", error_description="the access token expired""#)
    );
    assert_eq!(body, r#"{"error":"invalid_token","error_description":"the access token expired"}"#);
}

#[actix_web::test]
async fn j26_query_access_token_is_ignored_and_bearer_scheme_is_case_insensitive() {
    let (auth, _) = authenticator();
    let svc = test::init_service(app(AuthMiddleware::new(auth))).await;
    let t = user_token("u1");
    let req = get(&format!("/me?access_token={t}&token={t}")).to_request();
    let (status, challenge, ..) = answer(test::call_service(&svc, req).await).await;
    assert_eq!((status, challenge.as_deref()), (401, Some(r#"Bearer realm="api""#)));
    let req = get("/me").insert_header(("authorization", format!("bEaReR {t}"))).to_request();
    assert_eq!(test::call_service(&svc, req).await.status(), 200);
}

#[actix_web::test]
async fn repeated_authorization_is_400_invalid_request_without_challenge() {
    let (auth, _) = authenticator();
    let svc = test::init_service(app(AuthMiddleware::new(auth))).await;
    let t = user_token("u1");
    let req = get("/me").append_header(bearer(&t)).append_header(bearer(&t)).to_request();
    let (status, challenge, body, _) = answer(test::call_service(&svc, req).await).await;
    assert_eq!((status, challenge), (400, None));
    assert!(body.contains(r#""error":"invalid_request""#), "{body}");
}

#[actix_web::test]
async fn k01_unreachable_key_source_is_503_with_retry_after() {
    let down = KeySet::from_jwks_url("http://127.0.0.1:1/jwks.json").unwrap();
    let verifier = Verifier::builder()
        .issuer(ISSUER, KeySet::from_jwks_json(r#"{"keys":[]}"#).unwrap())
        .add_issuer(Issuer::new("https://down.test", down))
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let svc = test::init_service(app(AuthMiddleware::new(Authenticator::jwt(verifier)))).await;
    let t = authgate_testkit::TestKey::shared_rs256()
        .token()
        .claims(authgate_testkit::standard_claims("https://down.test", AUDIENCE, "u", 300))
        .sign();
    let started = std::time::Instant::now();
    let res = test::call_service(&svc, get("/me").insert_header(bearer(&t)).to_request()).await;
    assert!(started.elapsed() < Duration::from_secs(6));
    assert!(res.headers().contains_key(RETRY_AFTER));
    let (status, challenge, body, _) = answer(res).await;
    assert_eq!((status, challenge), (503, None));
    assert_eq!(
        body,
        r#"{"error":"temporarily_unavailable","error_description":"authentication is temporarily unavailable"}"#
    );
}

#[actix_web::test]
async fn optional_mode_passes_anonymous_requests_and_still_rejects_bad_tokens() {
    let (auth, _) = authenticator();
    let svc = test::init_service(app(AuthMiddleware::optional(auth))).await;
    let (status, _, body, _) = answer(test::call_service(&svc, get("/me").to_request()).await).await;
    assert_eq!((status, body.as_str()), (200, r#"{"user_id":null}"#));
    let req = get("/me").insert_header(bearer(&user_token("u2"))).to_request();
    let (status, _, body, _) = answer(test::call_service(&svc, req).await).await;
    assert_eq!((status, body.as_str()), (200, r#"{"user_id":"u2"}"#));
    let req = get("/me").insert_header(bearer("not-a-jwt")).to_request();
    let (status, challenge, ..) = answer(test::call_service(&svc, req).await).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
}

#[actix_web::test]
async fn custom_error_body_keeps_status_challenge_and_retry_semantics() {
    let (auth, _) = authenticator();
    let mw = AuthMiddleware::new(auth).error_body(|e: &authgate::Error| {
        let body = serde_json::json!({ "title": e.kind().description(), "status": e.status().as_u16() });
        (HeaderValue::from_static("application/problem+json"), Bytes::from(body.to_string()))
    });
    let svc = test::init_service(app(mw)).await;
    let req = get("/me").insert_header(bearer("not-a-jwt")).to_request();
    let (status, challenge, body, headers) = answer(test::call_service(&svc, req).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="invalid_token", error_description="the access token is malformed""#
        )
    );
    assert_eq!(headers.get("content-type").unwrap(), "application/problem+json");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body, serde_json::json!({"status": 401, "title": "the access token is malformed"}));
}

#[actix_web::test]
async fn cors_preflight_passes_only_when_allowed() {
    let preflight = || {
        test::TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/me")
            .insert_header(("origin", "https://app.example"))
            .insert_header(("access-control-request-method", "GET"))
            .to_request()
    };
    let (auth, _) = authenticator();
    let strict = test::init_service(
        App::new()
            .route("/me", web::route().to(HttpResponse::NoContent))
            .wrap(AuthMiddleware::new(auth.clone())),
    )
    .await;
    assert_eq!(test::call_service(&strict, preflight()).await.status(), 401);
    let open = test::init_service(
        App::new()
            .route("/me", web::route().to(HttpResponse::NoContent))
            .wrap(AuthMiddleware::new(auth).allow_cors_preflight()),
    )
    .await;
    assert_eq!(test::call_service(&open, preflight()).await.status(), 204);
    // A plain OPTIONS without Access-Control-Request-Method is not a preflight.
    let req = test::TestRequest::default().method(actix_web::http::Method::OPTIONS).uri("/me").to_request();
    assert_eq!(test::call_service(&open, req).await.status(), 401);
}

#[actix_web::test]
async fn a_repeated_token_is_answered_from_the_cache_with_the_principal() {
    let (auth, _) = authenticator();
    let svc = test::init_service(app(AuthMiddleware::new(auth))).await;
    let token = user_token("user-7");
    // The cache's hit counter is the evidence; without the `metrics` feature only the answers are checked.
    #[cfg(feature = "metrics")]
    let hits = || crate::helpers::counter(&format!("{}{{result=hit}}", authgate::metric_names::TOKEN_CACHE));
    #[cfg(feature = "metrics")]
    let before = hits();
    for _ in 0..4 {
        let req = get("/me").insert_header(bearer(&token)).to_request();
        let (status, _, body, _) = answer(test::call_service(&svc, req).await).await;
        assert_eq!((status, body.as_str()), (200, r#"{"user_id":"user-7"}"#));
    }
    #[cfg(feature = "metrics")]
    assert!(hits() > before, "verified twice, then answered from the cache");
    let req = get("/me").insert_header(bearer(&format!("{token}x"))).to_request();
    let (status, challenge, _, _) = answer(test::call_service(&svc, req).await).await;
    assert_eq!(status, 401, "a token differing from a cached one is verified");
    assert!(challenge.is_some_and(|c| c.contains(r#"error="invalid_token""#)));
}

#[actix_web::test]
async fn a_cached_token_still_has_its_api_key_checked() {
    let (auth, api_key) = authenticator();
    let svc = test::init_service(app(AuthMiddleware::new(auth))).await;
    let token = user_token("user-7");
    for _ in 0..3 {
        let req = get("/me").insert_header(bearer(&token)).to_request();
        assert_eq!(test::call_service(&svc, req).await.status(), 200);
    }
    // The token is cached, but the API key names another user: both must be checked.
    let req = get("/me").insert_header(bearer(&token)).insert_header(("x-api-key", api_key)).to_request();
    let (status, _, body, _) = answer(test::call_service(&svc, req).await).await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid_request"), "{body}");
}

#[actix_web::test]
async fn optional_mode_answers_a_cached_token_with_its_principal() {
    let (auth, _) = authenticator();
    let svc = test::init_service(app(AuthMiddleware::optional(auth))).await;
    let token = user_token("user-8");
    for _ in 0..3 {
        let req = get("/me").insert_header(bearer(&token)).to_request();
        let (status, _, body, _) = answer(test::call_service(&svc, req).await).await;
        assert_eq!((status, body.as_str()), (200, r#"{"user_id":"user-8"}"#));
    }
    let (status, _, body, _) = answer(test::call_service(&svc, get("/me").to_request()).await).await;
    assert_eq!((status, body.as_str()), (200, r#"{"user_id":null}"#));
}
