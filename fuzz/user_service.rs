//! What the `user_service_bodies` target and the seed generator share (included with
//! `#[path]` by both): the accounts the harness makes and how it reads the operations
//! that take a body out of user-service's OpenAPI document.
#![allow(dead_code)]

use std::path::Path;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt as _;

/// The bootstrap admin the harness signs in as.
pub const ADMIN_EMAIL: &str = "fuzz-admin@example.com";
/// A plain user the harness signs in as.
pub const USER_EMAIL: &str = "fuzz-user@example.com";
/// The account whose id fills path parameters, so admin operations reach a real row
/// without the harness locking out its own callers.
pub const VICTIM_EMAIL: &str = "fuzz-victim@example.com";
/// Every harness account's password.
pub const PASSWORD: &str = "Fuzz-Harness-Password-1";

/// One documented operation with a request body.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Upper-case HTTP method.
    pub method: String,
    /// The path template, `{param}` segments included.
    pub path: String,
    /// The documented content type (JSON, or a form for the token endpoint).
    pub content_type: &'static str,
}

impl Operation {
    /// The path with every `{param}` replaced by `value`.
    pub fn path_with(&self, value: &str) -> String {
        self.path
            .split('/')
            .map(|segment| if segment.starts_with('{') && segment.ends_with('}') { value } else { segment })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The operations of `spec` that take a request body, in a fixed order (paths and
/// methods sorted), so a corpus entry keeps meaning the same operation.
pub fn body_operations(spec: &Value) -> Vec<Operation> {
    let mut operations = Vec::new();
    let Some(paths) = spec["paths"].as_object() else { return operations };
    for (path, item) in paths {
        let Some(item) = item.as_object() else { continue };
        for (method, operation) in item {
            let Some(content) = operation["requestBody"]["content"].as_object() else { continue };
            let content_type = if content.contains_key("application/json") {
                "application/json"
            } else if content.contains_key("application/x-www-form-urlencoded") {
                "application/x-www-form-urlencoded"
            } else {
                continue;
            };
            operations.push(Operation { method: method.to_uppercase(), path: path.clone(), content_type });
        }
    }
    operations.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
    operations
}

/// Largest answer body read back.
const MAX_ANSWER: usize = 1024 * 1024;

/// The harness's configuration: dev, a SQLite file at `db`, cheap Argon2, throttles
/// out of reach (they would otherwise answer 429 to most inputs), the bootstrap admin.
pub fn config(db: &Path) -> user_service::Config {
    let vars = [
        ("APP_ENV", "dev".to_owned()),
        ("USER_SERVICE_PORT", "0".to_owned()),
        ("METRICS_ADDR", "off".to_owned()),
        ("DATABASE_URL", format!("sqlite://{}?mode=rwc", db.display())),
        ("MASTER_ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned()),
        ("KEY_PUBLISH_DELAY_SECS", "0".to_owned()),
        ("ARGON2_MEMORY_KIB", "256".to_owned()),
        ("ARGON2_ITERATIONS", "1".to_owned()),
        ("LOGIN_MAX_FAILURES", "1000".to_owned()),
        ("LOGIN_MAX_FAILURES_PER_ADDRESS", "1000".to_owned()),
        ("BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("BOOTSTRAP_ADMIN_PASSWORD", PASSWORD.to_owned()),
    ];
    let vars = vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    user_service::Config::from_vars(&vars).expect("the harness configuration is valid")
}

/// One request through the router; the answer's status and body.
pub async fn call(
    router: &Router,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    let request = request.body(Body::from(body.to_vec())).expect("a request of valid parts");
    let response = router.clone().oneshot(request).await.expect("the router is infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER).await.expect("the body is readable");
    (status, body.to_vec())
}

/// The service's OpenAPI document, as it serves it.
pub async fn spec(router: &Router) -> Value {
    let (_, body) = call(router, Method::GET, "/openapi.json", None, "", b"").await;
    serde_json::from_slice(&body).expect("the OpenAPI document is JSON")
}
