//! Guards: RequireMiddleware and the Require<P> extractor answer 403
//! insufficient_scope naming what is missing, never 401 for an authenticated caller.

use actix_web::{App, HttpResponse, test, web};
use authgate::Requirement;
use authgate_actix::{
    AuthMiddleware, Permission, Require, RequireMiddleware, require_all, require_any, require_role,
    require_scope,
};

use crate::helpers::{answer, authenticator, token, user_token};

struct AdminDelete;
impl Permission for AdminDelete {
    const NAME: &'static str = "admin:delete";
}

async fn purge(admin: Require<AdminDelete>) -> String {
    format!("purged by {}", admin.user_id())
}

fn bearer(t: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {t}"))
}

fn admin_token() -> String {
    token(
        "admin-1",
        300,
        serde_json::json!({"permissions": ["admin:*"], "roles": ["support"], "scope": "alerts:read"}),
    )
}

const FORBIDDEN_DELETE: &str = r#"Bearer realm="api", error="insufficient_scope", error_description="the credentials lack a required permission", scope="admin:delete""#;

macro_rules! guarded_app {
    ($auth:expr) => {
        test::init_service(
            App::new()
                .route("/purge", web::delete().to(purge))
                .service(
                    web::scope("/admin")
                        .wrap(authgate_actix::require_permission("admin:delete"))
                        .route("/data/{id}", web::delete().to(HttpResponse::Ok)),
                )
                .service(
                    web::scope("/support")
                        .wrap(require_role("support"))
                        .route("", web::get().to(HttpResponse::Ok)),
                )
                .service(
                    web::scope("/scoped")
                        .wrap(require_scope("alerts:read"))
                        .route("", web::get().to(HttpResponse::Ok)),
                )
                .service(
                    web::scope("/any")
                        .wrap(require_any([Requirement::role("nobody"), Requirement::permission("admin:x")]))
                        .route("", web::get().to(HttpResponse::Ok)),
                )
                .service(
                    web::scope("/all")
                        .wrap(require_all([Requirement::role("support"), Requirement::role("nobody")]))
                        .route("", web::get().to(HttpResponse::Ok)),
                )
                .service(
                    web::scope("/custom")
                        .wrap(RequireMiddleware::new(Requirement::scope("s1")))
                        .route("", web::get().to(HttpResponse::Ok)),
                )
                .wrap($auth),
        )
        .await
    };
}

#[actix_web::test]
async fn missing_permission_is_403_insufficient_scope_never_401() {
    let (auth, _) = authenticator();
    let svc = guarded_app!(AuthMiddleware::new(auth));
    for uri in ["/admin/data/1", "/purge"] {
        let req = test::TestRequest::delete().uri(uri).insert_header(bearer(&user_token("u"))).to_request();
        let (status, challenge, body, _) = answer(test::call_service(&svc, req).await).await;
        assert_eq!(status, 403, "{uri}");
        assert_eq!(challenge.as_deref(), Some(FORBIDDEN_DELETE), "{uri}");
        assert_eq!(
            body,
            r#"{"error":"insufficient_scope","error_description":"the credentials lack a required permission","scope":"admin:delete"}"#
        );
    }
}

#[actix_web::test]
async fn granted_wildcard_permission_role_and_scope_pass_the_guards() {
    let (auth, _) = authenticator();
    let svc = guarded_app!(AuthMiddleware::new(auth));
    let t = admin_token();
    for (method, uri) in [
        ("DELETE", "/admin/data/1"),
        ("DELETE", "/purge"),
        ("GET", "/support"),
        ("GET", "/scoped"),
        ("GET", "/any"),
    ] {
        let req = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(uri)
            .insert_header(bearer(&t))
            .to_request();
        let (status, _, body, _) = answer(test::call_service(&svc, req).await).await;
        assert_eq!(status, 200, "{uri}: {body}");
        if uri == "/purge" {
            assert_eq!(body, "purged by admin-1");
        }
    }
}

#[actix_web::test]
async fn unmet_role_scope_and_combinations_name_what_is_missing() {
    let (auth, _) = authenticator();
    let svc = guarded_app!(AuthMiddleware::new(auth));
    let scope_of = |challenge: Option<String>| {
        let c = challenge.unwrap();
        c.split("scope=").nth(1).unwrap().trim_matches('"').to_owned()
    };
    let t = user_token("u");
    for (uri, missing) in [
        ("/support", "role:support"),
        ("/scoped", "alerts:read"),
        ("/any", "role:nobody admin:x"),
        ("/custom", "s1"),
    ] {
        let req = test::TestRequest::get().uri(uri).insert_header(bearer(&t)).to_request();
        let (status, challenge, ..) = answer(test::call_service(&svc, req).await).await;
        assert_eq!(status, 403, "{uri}");
        assert_eq!(scope_of(challenge), missing, "{uri}");
    }
    let req = test::TestRequest::get().uri("/all").insert_header(bearer(&admin_token())).to_request();
    let (status, challenge, ..) = answer(test::call_service(&svc, req).await).await;
    assert_eq!((status, scope_of(challenge).as_str()), (403, "role:nobody"));
}

#[actix_web::test]
async fn guards_without_a_caller_answer_401_not_403() {
    let (auth, _) = authenticator();
    let svc = guarded_app!(AuthMiddleware::optional(auth));
    for (method, uri) in [("DELETE", "/admin/data/1"), ("DELETE", "/purge")] {
        let req = test::TestRequest::default().method(method.parse().unwrap()).uri(uri).to_request();
        let (status, challenge, ..) = answer(test::call_service(&svc, req).await).await;
        assert_eq!((status, challenge.as_deref()), (401, Some(r#"Bearer realm="api""#)), "{uri}");
    }
}
