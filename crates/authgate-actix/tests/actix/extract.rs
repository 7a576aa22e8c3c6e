//! Extractors: principal, optional principal, typed claims, user id; without the
//! middleware they answer 500 and log which middleware is missing.

use actix_web::{App, HttpResponse, test, web};
use authgate_actix::{AuthMiddleware, Claims, CurrentUser, UserId, require_permission};

use crate::helpers::{answer, authenticator, capture_logs, captured_logs, token, user_token};

#[derive(serde::Deserialize, Debug)]
struct Tier {
    tier: String,
}

async fn me(user: CurrentUser, UserId(id): UserId, Claims(t): Claims<Tier>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "user_id": user.user_id(),
        "id": id,
        "tier": t.tier,
        "method": user.auth_method().as_str(),
        "email": user.email(),
    }))
}

async fn id_only(UserId(id): UserId) -> String {
    id
}

async fn maybe(user: Option<CurrentUser>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |p| p.user_id().to_owned())
}

async fn maybe_tier(claims: Option<Claims<Tier>>) -> String {
    claims.map_or_else(|| "anonymous".to_owned(), |Claims(t)| t.tier)
}

fn bearer(t: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {t}"))
}

#[actix_web::test]
async fn extractors_give_principal_user_id_and_typed_claims() {
    let (auth, _) = authenticator();
    let svc =
        test::init_service(App::new().route("/me", web::get().to(me)).wrap(AuthMiddleware::new(auth))).await;
    let t = token("user-9", 300, serde_json::json!({"tier": "gold", "email": "u9@example.com"}));
    let req = test::TestRequest::get().uri("/me").insert_header(bearer(&t)).to_request();
    let (status, _, body, _) = answer(test::call_service(&svc, req).await).await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["user_id"], "user-9");
    assert_eq!(body["id"], "user-9");
    assert_eq!(body["tier"], "gold");
    assert_eq!(body["method"], "jwt");
    assert_eq!(body["email"], "u9@example.com");
}

#[actix_web::test]
async fn claims_that_do_not_fit_the_type_are_401_invalid_token() {
    let (auth, _) = authenticator();
    let svc =
        test::init_service(App::new().route("/me", web::get().to(me)).wrap(AuthMiddleware::new(auth))).await;
    let req = test::TestRequest::get().uri("/me").insert_header(bearer(&user_token("u"))).to_request();
    let (status, challenge, body, _) = answer(test::call_service(&svc, req).await).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
    assert_eq!(
        body,
        r#"{"error":"invalid_token","error_description":"the access token claims are invalid"}"#
    );
}

#[actix_web::test]
async fn optional_mode_gives_none_to_maybe_and_401_to_required_extractors() {
    let (auth, _) = authenticator();
    let svc = test::init_service(
        App::new()
            .route("/maybe", web::get().to(maybe))
            .route("/id", web::get().to(id_only))
            .wrap(AuthMiddleware::optional(auth).realm("opt")),
    )
    .await;
    let res = test::call_service(&svc, test::TestRequest::get().uri("/maybe").to_request()).await;
    assert_eq!(answer(res).await.2, "anonymous");
    let req = test::TestRequest::get().uri("/maybe").insert_header(bearer(&user_token("u3"))).to_request();
    assert_eq!(answer(test::call_service(&svc, req).await).await.2, "u3");
    // Same answer as the middleware in required mode, with its realm.
    let res = test::call_service(&svc, test::TestRequest::get().uri("/id").to_request()).await;
    let (status, challenge, body, _) = answer(res).await;
    assert_eq!((status, challenge.as_deref()), (401, Some(r#"Bearer realm="opt""#)));
    assert_eq!(body, r#"{"error":"unauthorized","error_description":"authentication required"}"#);
}

#[actix_web::test]
async fn extractor_without_middleware_is_500_and_logs_the_missing_middleware() {
    capture_logs();
    let svc = test::init_service(App::new().route("/id", web::get().to(id_only)).service(
        web::scope("/guarded").wrap(require_permission("x:y")).route("", web::get().to(HttpResponse::Ok)),
    ))
    .await;
    // (`Option<CurrentUser>` there is actix's None: see the next test.)
    for uri in ["/id", "/guarded"] {
        let req = test::TestRequest::get().uri(uri).insert_header(bearer(&user_token("u"))).to_request();
        let (status, challenge, body, _) = answer(test::call_service(&svc, req).await).await;
        assert_eq!((status, challenge), (500, None), "{uri}");
        assert_eq!(body, r#"{"error":"server_error","error_description":"authentication is misconfigured"}"#);
    }
    let logs = captured_logs();
    assert!(logs.contains("ERROR") && logs.contains("AuthMiddleware does not wrap"), "{logs}");
}

#[actix_web::test]
async fn option_of_current_user_without_middleware_still_logs_the_wiring_error() {
    async fn opt(user: Option<CurrentUser>) -> String {
        user.map_or_else(|| "anonymous".to_owned(), |u| u.user_id().to_owned())
    }
    capture_logs();
    let svc = test::init_service(App::new().route("/unwrapped-opt", web::get().to(opt))).await;
    let req =
        test::TestRequest::get().uri("/unwrapped-opt").insert_header(bearer(&user_token("u"))).to_request();
    // actix maps the extractor's 500 to None: documented; the error log remains.
    assert_eq!(answer(test::call_service(&svc, req).await).await.2, "anonymous");
    assert!(
        captured_logs()
            .contains("the CurrentUser extractor used on a route that authgate_actix::AuthMiddleware")
    );
}

#[actix_web::test]
async fn option_of_current_user_works_in_optional_mode() {
    async fn opt(user: Option<CurrentUser>) -> String {
        user.map_or_else(|| "anonymous".to_owned(), |u| u.user_id().to_owned())
    }
    let (auth, _) = authenticator();
    let svc =
        test::init_service(App::new().route("/opt", web::get().to(opt)).wrap(AuthMiddleware::optional(auth)))
            .await;
    let res = test::call_service(&svc, test::TestRequest::get().uri("/opt").to_request()).await;
    assert_eq!(answer(res).await.2, "anonymous");
    let req = test::TestRequest::get().uri("/opt").insert_header(bearer(&user_token("u8"))).to_request();
    assert_eq!(answer(test::call_service(&svc, req).await).await.2, "u8");
}

#[actix_web::test]
async fn optional_claims_are_none_for_anonymous_callers() {
    let (auth, _) = authenticator();
    let svc = test::init_service(
        App::new().route("/maybe-tier", web::get().to(maybe_tier)).wrap(AuthMiddleware::optional(auth)),
    )
    .await;
    let gold = token("u1", 300, serde_json::json!({"tier": "gold"}));
    for (header, expected) in [(Some(bearer(&gold)), "gold"), (None, "anonymous")] {
        let mut req = test::TestRequest::get().uri("/maybe-tier");
        if let Some(h) = header {
            req = req.insert_header(h);
        }
        let (status, _, body, _) = answer(test::call_service(&svc, req.to_request()).await).await;
        assert_eq!((status, body.as_str()), (200, expected));
    }
    // actix maps an Option extractor's error to None: claims that do not fit give None,
    // never more access.
    let req =
        test::TestRequest::get().uri("/maybe-tier").insert_header(bearer(&user_token("u"))).to_request();
    let (status, _, body, _) = answer(test::call_service(&svc, req).await).await;
    assert_eq!((status, body.as_str()), (200, "anonymous"));
}

#[actix_web::test]
async fn each_extractor_has_its_own_rejection_type() {
    use actix_web::FromRequest as _;
    let req = test::TestRequest::get().to_http_request();
    let e: authgate_actix::CurrentUserRejection = CurrentUser::extract(&req).await.unwrap_err();
    assert_eq!(e.status(), 500);
    let e: authgate_actix::UserIdRejection = UserId::extract(&req).await.unwrap_err();
    assert!(e.body_text().contains("server_error"));
    let e: authgate_actix::ClaimsRejection = Claims::<Tier>::extract(&req).await.unwrap_err();
    assert_eq!(e.to_string(), "authentication is misconfigured");
    let e: authgate_actix::ClientAddrRejection = authgate_actix::ClientAddr::extract(&req).await.unwrap_err();
    assert_eq!(e.status(), 500);
}
