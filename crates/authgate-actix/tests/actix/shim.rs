//! The dual-auth migration shim: deprecation headers on API-key responses, and the
//! method counter.

use std::time::{Duration, UNIX_EPOCH};

use actix_web::{App, HttpResponse, test, web};
use authgate_actix::{ApiKeyDeprecation, AuthMiddleware, CurrentUser};

use crate::helpers::{authenticator, user_token};
#[cfg(feature = "metrics")]
use crate::helpers::{counter, install_recorder};

async fn method(user: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().insert_header(("link", "</next>; rel=\"next\"")).body(user.auth_method().as_str())
}

macro_rules! shim_app {
    () => {{
        let (auth, api_key) = authenticator();
        let notice = ApiKeyDeprecation::since(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
            .sunset(UNIX_EPOCH + Duration::from_secs(1_798_761_600))
            .link("https://docs.example.com/migrate-to-jwt");
        let svc = test::init_service(
            App::new()
                .route("/positions", web::get().to(method))
                .wrap(AuthMiddleware::new(auth).deprecate_api_keys(notice)),
        )
        .await;
        (svc, api_key)
    }};
}

#[actix_web::test]
async fn api_key_responses_carry_deprecation_sunset_and_link() {
    let (svc, api_key) = shim_app!();
    let req = test::TestRequest::get().uri("/positions").insert_header(("x-api-key", api_key)).to_request();
    let res = test::call_service(&svc, req).await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h.get("deprecation").unwrap(), "@1767225600");
    assert_eq!(h.get("sunset").unwrap(), "Fri, 01 Jan 2027 00:00:00 GMT");
    let links: Vec<_> = h.get_all("link").map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(
        links,
        [
            "</next>; rel=\"next\"",
            "<https://docs.example.com/migrate-to-jwt>; rel=\"deprecation\"; type=\"text/html\""
        ]
    );
    assert_eq!(test::read_body(res).await, "api_key");
}

#[actix_web::test]
async fn jwt_answers_and_rejections_carry_no_deprecation_headers() {
    let (svc, _) = shim_app!();
    let req = test::TestRequest::get()
        .uri("/positions")
        .insert_header(("authorization", format!("Bearer {}", user_token("u"))))
        .to_request();
    let res = test::call_service(&svc, req).await;
    assert_eq!(res.status(), 200);
    assert!(!res.headers().contains_key("deprecation"));
    assert!(!res.headers().contains_key("sunset"));
    assert_eq!(res.headers().get_all("link").count(), 1);
    // Rejections carry none either: the notice is for working API-key clients.
    let bad_key = authgate::api_key::format::generate("test").unwrap();
    let req = test::TestRequest::get().uri("/positions").insert_header(("x-api-key", bad_key)).to_request();
    let res = test::call_service(&svc, req).await;
    assert_eq!(res.status(), 401);
    assert!(!res.headers().contains_key("deprecation"));
}

#[cfg(feature = "metrics")]
#[actix_web::test]
async fn authenticated_requests_are_counted_by_method() {
    use authgate_actix::REQUESTS_METRIC;
    install_recorder();
    let (svc, api_key) = shim_app!();
    let jwt = format!("{REQUESTS_METRIC}{{method=jwt}}");
    let key = format!("{REQUESTS_METRIC}{{method=api_key}}");
    let (jwt_before, key_before) = (counter(&jwt), counter(&key));
    let req = test::TestRequest::get().uri("/positions").insert_header(("x-api-key", api_key)).to_request();
    assert_eq!(test::call_service(&svc, req).await.status(), 200);
    let req = test::TestRequest::get()
        .uri("/positions")
        .insert_header(("authorization", format!("Bearer {}", user_token("u"))))
        .to_request();
    assert_eq!(test::call_service(&svc, req).await.status(), 200);
    assert!(counter(&key) > key_before);
    assert!(counter(&jwt) > jwt_before);
    assert_eq!(REQUESTS_METRIC, "authgate_requests_total");
}
