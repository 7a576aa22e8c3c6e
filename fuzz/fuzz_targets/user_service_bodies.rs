//! user-service's JSON (and form) request bodies, through its real router in-process.
//!
//! The operations come from the service's own `/openapi.json`: every documented
//! operation that takes a request body is a target, so a new endpoint is fuzzed without
//! touching this file. Input: byte 0 picks the operation, byte 1 the caller (nobody, a
//! user, an admin) and the value of the path parameters, the rest is the body.
//!
//! Besides "no panic, no hang": no answer is a 5xx (the database is a local SQLite file,
//! so a 500 is a bug, not an outage), and every 4xx is the service's JSON error shape.
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio::sync::Mutex;

#[path = "../user_service.rs"]
mod user_service_ops;
use user_service_ops::{
    ADMIN_EMAIL, Operation, PASSWORD, USER_EMAIL, VICTIM_EMAIL, body_operations, call, config, spec,
};

/// Largest body a request may carry (user-service answers 413 beyond its own limit).
const MAX_BODY: usize = 64 * 1024;

struct Harness {
    rt: Runtime,
    router: Router,
    operations: Vec<Operation>,
    /// Path-parameter values: the victim's id, a well-formed unknown id, garbage.
    ids: Vec<String>,
    /// The user's and the admin's email and access token; a fuzzed request that ends
    /// the session (a logout) or changes the password is followed by a new login or,
    /// failing that, a fresh account, so authenticated operations stay reachable.
    callers: Mutex<[(String, String); 2]>,
    config: user_service::Config,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let dir = std::env::temp_dir().join(format!("authgate-fuzz-user-service-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let db = dir.join("users.db");
        let _ = std::fs::remove_file(&db);
        let config = config(&db);
        let app = rt.block_on(user_service::Application::build(config.clone())).expect("user-service builds");
        let router = app.into_router();
        let spec = rt.block_on(spec(&router));
        let operations = body_operations(&spec);
        assert!(operations.len() >= 10, "expected the body operations, found {operations:?}");

        for email in [USER_EMAIL, VICTIM_EMAIL] {
            let body = serde_json::json!({"email": email, "password": PASSWORD, "name": "Fuzz"}).to_string();
            let (status, _) = rt.block_on(call(
                &router,
                Method::POST,
                "/v1/auth/register",
                None,
                "application/json",
                body.as_bytes(),
            ));
            assert!(status.is_success(), "register {email}: {status}");
        }
        let victim = rt.block_on(login(&router, VICTIM_EMAIL)).expect("victim logs in");
        let (_, me) = rt.block_on(call(&router, Method::GET, "/v1/users/me", Some(&victim), "", b""));
        let me: Value = serde_json::from_slice(&me).expect("me is JSON");
        let victim_id = me["id"].as_str().map(str::to_owned).unwrap_or_else(|| me["id"].to_string());
        let user = rt.block_on(login(&router, USER_EMAIL)).expect("the user logs in");
        let admin = rt.block_on(login(&router, ADMIN_EMAIL)).expect("the admin logs in");
        let callers = [(USER_EMAIL.to_owned(), user), (ADMIN_EMAIL.to_owned(), admin)];
        let ids = vec![
            victim_id,
            "00000000-0000-0000-0000-000000000000".to_owned(),
            "1".to_owned(),
            "%00".to_owned(),
        ];
        Harness { rt, router, operations, ids, callers: Mutex::new(callers), config }
    })
}

/// A new login for a caller whose session a fuzzed request ended; when the password
/// changed too, a fresh account of the same kind.
async fn sign_in_again(h: &Harness, caller: usize, email: &str) -> (String, String) {
    if let Some(token) = login(&h.router, email).await {
        return (email.to_owned(), token);
    }
    static FRESH: AtomicU64 = AtomicU64::new(0);
    let n = FRESH.fetch_add(1, Ordering::Relaxed);
    let (kind, email) = if caller == 0 { ("user", USER_EMAIL) } else { ("admin", ADMIN_EMAIL) };
    let fresh = format!("{kind}-{n}.{email}");
    if caller == 0 {
        let body = serde_json::json!({"email": fresh, "password": PASSWORD, "name": "Fuzz"}).to_string();
        call(&h.router, Method::POST, "/v1/auth/register", None, "application/json", body.as_bytes()).await;
    } else {
        user_service::create_admin(h.config.clone(), &fresh, PASSWORD).await.expect("a fresh admin");
    }
    let token = login(&h.router, &fresh).await.expect("a fresh account logs in");
    (fresh, token)
}

async fn login(router: &Router, email: &str) -> Option<String> {
    let body = serde_json::json!({"email": email, "password": PASSWORD}).to_string();
    let (status, body) =
        call(router, Method::POST, "/v1/auth/login", None, "application/json", body.as_bytes()).await;
    if !status.is_success() {
        return None;
    }
    let body: Value = serde_json::from_slice(&body).ok()?;
    body["access_token"].as_str().map(str::to_owned)
}

fn check(operation: &Operation, status: StatusCode, body: &[u8]) {
    assert!(
        !status.is_server_error(),
        "{} {} answered {status}: {}",
        operation.method,
        operation.path,
        String::from_utf8_lossy(body)
    );
    if status.is_client_error() && status != StatusCode::METHOD_NOT_ALLOWED {
        let error: Value = serde_json::from_slice(body).unwrap_or_else(|_| {
            panic!(
                "{} {} answered {status} without JSON: {:?}",
                operation.method,
                operation.path,
                String::from_utf8_lossy(body)
            )
        });
        assert!(error["error"].is_string(), "{status} without an error code: {error}");
    }
}

fuzz_target!(|data: &[u8]| {
    let [op, who, body @ ..] = data else { return };
    if body.len() > MAX_BODY {
        return;
    }
    let h = harness();
    let operation = &h.operations[usize::from(*op) % h.operations.len()];
    // 0: nobody, 1: the user, 2 and 3: the admin.
    let caller = match who & 0b11 {
        0 => None,
        1 => Some(0),
        _ => Some(1),
    };
    let id = &h.ids[usize::from(who >> 2) % h.ids.len()];
    let path = operation.path_with(id);

    h.rt.block_on(async {
        let mut callers = h.callers.lock().await;
        let bearer = caller.map(|c| callers[c].1.clone());
        let method = Method::from_bytes(operation.method.as_bytes()).expect("a documented method");
        let (status, answer) =
            call(&h.router, method, &path, bearer.as_deref(), operation.content_type, body).await;
        check(operation, status, &answer);
        if let Some(c) = caller.filter(|_| status.is_success()) {
            // Did this request end the caller's session (logout, password change)?
            let (alive, _) = call(&h.router, Method::GET, "/v1/users/me", Some(&callers[c].1), "", b"").await;
            if alive == StatusCode::UNAUTHORIZED {
                let email = callers[c].0.clone();
                callers[c] = sign_in_again(h, c, &email).await;
            }
        }
    });
});
