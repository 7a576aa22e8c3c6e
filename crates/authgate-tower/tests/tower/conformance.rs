//! The shared conformance table (also run by authgate-actix) against this adapter.

use authgate_testkit::conformance::{CASES, Fixture, REALM};
use authgate_tower::{AuthLayer, CurrentUser, require_permission, require_role};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};

use crate::helpers::answer;

async fn whoami(user: Option<CurrentUser>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "user_id": user.map(|u| u.user_id().to_owned()) }))
}

fn app(fixture: &Fixture) -> Router {
    let auth = fixture.authenticator();
    let required = Router::new()
        .route("/protected", get(whoami))
        .route("/admin", delete(whoami).layer(require_permission("admin:delete")))
        .route("/support", get(whoami).layer(require_role("support")))
        .layer(AuthLayer::new(auth.clone()).realm(REALM));
    let optional =
        Router::new().route("/optional", get(whoami)).layer(AuthLayer::optional(auth).realm(REALM));
    required.merge(optional)
}

#[tokio::test]
async fn every_conformance_case_matches() {
    use tower::ServiceExt;
    let fixture = Fixture::new();
    let app = app(&fixture);
    let mut mismatches = Vec::new();
    for case in CASES {
        let request = fixture.request(case).map(|()| axum::body::Body::empty());
        let a = answer(app.clone().oneshot(request).await.unwrap()).await;
        let challenge = a.headers.get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
        if let Err(m) = case.check(a.status.as_u16(), challenge, a.headers.contains_key(RETRY_AFTER), &a.body)
        {
            mismatches.push(m.to_string());
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
