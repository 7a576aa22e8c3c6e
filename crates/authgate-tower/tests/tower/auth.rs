//! AuthLayer: statuses, challenges, optional mode, preflight, body hook, plain tower.

use authgate::Principal;
use authgate_tower::{AuthBody, AuthLayer, CurrentUser};
use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};

use crate::helpers::{authenticator, bearer, get as get_req, request, send, token, token_with};

async fn me(user: CurrentUser) -> String {
    user.user_id().to_owned()
}

fn app(layer: AuthLayer) -> Router {
    Router::new().route("/me", get(me).options(|| async { "preflight answered by the route" })).layer(layer)
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_the_principal() {
    let a = send(
        app(AuthLayer::new(authenticator())),
        get_req("/me", &[("authorization", &bearer(&token("u1")))]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, "u1");
}

#[tokio::test]
async fn missing_credentials_get_401_with_bare_challenge_and_json_body() {
    let a = send(app(AuthLayer::new(authenticator()).realm("trading")), get_req("/me", &[])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.header("www-authenticate"), Some(r#"Bearer realm="trading""#));
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.json()["error"], "unauthorized");
}

#[tokio::test]
async fn expired_token_gets_401_invalid_token_with_description() {
    let expired = token_with("u1", 0, &[("exp", serde_json::json!(authgate_testkit::now() - 3600))]);
    let a =
        send(app(AuthLayer::new(authenticator())), get_req("/me", &[("authorization", &bearer(&expired))]))
            .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.header("www-authenticate"),
        Some(r#"Bearer realm="api", error="invalid_token", error_description="the access token expired""#)
    );
    assert_eq!(
        a.json(),
        serde_json::json!({"error": "invalid_token", "error_description": "the access token expired"})
    );
}

#[tokio::test]
async fn conflicting_credentials_get_400_invalid_request_without_challenge() {
    let mut req = get_req("/me", &[("authorization", &bearer(&token("u1")))]);
    req.headers_mut().append("authorization", HeaderValue::from_str(&bearer(&token("u2"))).unwrap());
    let a = send(app(AuthLayer::new(authenticator())), req).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.header("www-authenticate"), None);
    assert_eq!(a.json()["error"], "invalid_request");
}

#[tokio::test]
async fn key_source_unavailable_gets_503_with_retry_after() {
    let down = authgate::KeySet::from_jwks_url("http://127.0.0.1:1/jwks.json").unwrap();
    let verifier = authgate::Verifier::builder()
        .issuer(crate::helpers::ISSUER, down)
        .audience(crate::helpers::AUDIENCE)
        .build()
        .unwrap();
    let layer = AuthLayer::new(authgate::Authenticator::jwt(verifier));
    let a = send(app(layer), get_req("/me", &[("authorization", &bearer(&token("u1")))])).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)));
    assert_eq!(a.header("www-authenticate"), None);
    assert_eq!(a.json()["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn optional_mode_passes_anonymous_but_rejects_bad_tokens() {
    async fn hello(user: Option<CurrentUser>) -> String {
        user.map_or("anonymous".into(), |u| u.user_id().to_owned())
    }
    let app = Router::new().route("/hi", get(hello)).layer(AuthLayer::optional(authenticator()));
    let a = send(app.clone(), get_req("/hi", &[])).await;
    assert_eq!((a.status, a.body.as_ref()), (StatusCode::OK, b"anonymous".as_ref()));
    let a = send(app.clone(), get_req("/hi", &[("authorization", &bearer(&token("u9")))])).await;
    assert_eq!((a.status, a.body.as_ref()), (StatusCode::OK, b"u9".as_ref()));
    let a = send(app, get_req("/hi", &[("authorization", "Bearer garbage")])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.header("www-authenticate").unwrap().contains(r#"error="invalid_token""#));
}

#[tokio::test]
async fn cors_preflight_passes_untouched_only_when_allowed() {
    let preflight = || {
        request(
            "OPTIONS",
            "/me",
            &[("origin", "https://app.example"), ("access-control-request-method", "GET")],
        )
    };
    let a = send(app(AuthLayer::new(authenticator()).allow_cors_preflight()), preflight()).await;
    assert_eq!((a.status, a.body.as_ref()), (StatusCode::OK, b"preflight answered by the route".as_ref()));

    let a = send(app(AuthLayer::new(authenticator())), preflight()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // A plain OPTIONS (no Access-Control-Request-Method) is not a preflight.
    let a = send(app(AuthLayer::new(authenticator()).allow_cors_preflight()), request("OPTIONS", "/me", &[]))
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn error_body_hook_shapes_the_body_but_keeps_status_and_challenge() {
    let layer = AuthLayer::new(authenticator()).realm("r").error_body(|e: &authgate::Error| {
        let body = serde_json::json!({"title": e.kind().description(), "status": e.status().as_u16()});
        (HeaderValue::from_static("application/problem+json"), Bytes::from(body.to_string()))
    });
    let a = send(app(layer), get_req("/me", &[("authorization", "Bearer x.y.z")])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.header("content-type"), Some("application/problem+json"));
    assert!(a.header("www-authenticate").unwrap().starts_with(r#"Bearer realm="r", error="invalid_token""#));
    assert_eq!(a.json()["status"], 401);
}

#[tokio::test]
async fn works_over_a_plain_tower_service_and_keeps_its_error_type() {
    #[derive(Debug, PartialEq)]
    struct MyError;
    let inner = tower::service_fn(|req: Request<Full<Bytes>>| async move {
        let user = req.extensions().get::<Principal>().map(|p| p.user_id().to_owned()).unwrap_or_default();
        Ok::<_, MyError>(Response::new(Full::new(Bytes::from(user))))
    });
    let svc = ServiceBuilder::new().layer(AuthLayer::new(authenticator())).service(inner);
    let req =
        Request::get("/").header("authorization", bearer(&token("plain"))).body(Full::default()).unwrap();
    let response: Response<AuthBody<Full<Bytes>>> = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "plain");

    let rejected = svc.oneshot(Request::get("/").body(Full::default()).unwrap()).await.unwrap();
    assert_eq!(rejected.status(), StatusCode::UNAUTHORIZED);

    let failing =
        tower::service_fn(|_: Request<Full<Bytes>>| async { Err::<Response<Full<Bytes>>, _>(MyError) });
    let svc = ServiceBuilder::new().layer(AuthLayer::new(authenticator())).service(failing);
    let req = Request::get("/").header("authorization", bearer(&token("x"))).body(Full::default()).unwrap();
    assert_eq!(svc.oneshot(req).await.unwrap_err(), MyError);
}
