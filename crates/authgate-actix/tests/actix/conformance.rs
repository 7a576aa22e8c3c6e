//! The shared conformance table (authgate-testkit, also run by authgate-tower) against
//! this adapter: same status, challenge, Retry-After and body for the same request.

use actix_web::{App, HttpResponse, test, web};
use authgate_actix::{AuthMiddleware, CurrentUser, require_permission, require_role};
use authgate_testkit::conformance::{CASES, Fixture, REALM};

async fn whoami(user: Option<CurrentUser>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "user_id": user.map(|p| p.user_id().to_owned()) }))
}

#[actix_web::test]
async fn every_conformance_case_matches() {
    let fixture = Fixture::new();
    let auth = fixture.authenticator();
    let required = || AuthMiddleware::new(auth.clone()).realm(REALM);
    let svc = test::init_service(
        App::new()
            .service(web::scope("/protected").wrap(required()).route("", web::get().to(whoami)))
            .service(
                web::scope("/admin")
                    .wrap(require_permission("admin:delete"))
                    .wrap(required())
                    .route("", web::delete().to(whoami)),
            )
            .service(
                web::scope("/support")
                    .wrap(require_role("support"))
                    .wrap(required())
                    .route("", web::get().to(whoami)),
            )
            .service(
                web::scope("/optional")
                    .wrap(AuthMiddleware::optional(auth.clone()).realm(REALM))
                    .route("", web::get().to(whoami)),
            ),
    )
    .await;

    let mut mismatches = Vec::new();
    for case in CASES {
        let request = fixture.request(case);
        let mut req = test::TestRequest::default()
            .method(request.method().as_str().parse().unwrap())
            .uri(&request.uri().to_string());
        for (name, value) in request.headers() {
            req = req.append_header((name.as_str(), value.as_bytes()));
        }
        let res = test::call_service(&svc, req.to_request()).await;
        let status = res.status().as_u16();
        let challenge =
            res.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let retry_after = res.headers().contains_key("retry-after");
        let body = test::read_body(res).await;
        if let Err(m) = case.check(status, challenge.as_deref(), retry_after, &body) {
            mismatches.push(m.to_string());
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
