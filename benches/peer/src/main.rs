//! jwt-authorizer in front of the `hello` handler, on the paths the comparison uses:
//! `/none` (no auth, the control) and `/jwt-authorizer`. Same key set, issuer, audience
//! and tokens as `benches/servers/axum.rs` (`bench_mint`'s `jwks.json`, `tokens.txt`).
//!
//! `bench-peer serve DIR PORT` for wrk; `bench-peer loop DIR PATH N [distinct]` for
//! callgrind (`oneshot`, no network; only `measured` does the N requests).

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, Uri, header};
use axum::routing::get;
use axum::Router;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, RegisteredClaims, Validation};
use tower::ServiceExt;

const ISSUER: &str = "https://id.bench.example";
const AUDIENCE: &str = "bench-api";
const PATHS: [&str; 2] = ["/none", "/jwt-authorizer"];

async fn hello() -> &'static str {
    "hello"
}

async fn app(dir: &std::path::Path) -> Result<Router, Box<dyn std::error::Error>> {
    let jwks = std::fs::read_to_string(dir.join("jwks.json"))?;
    let validation = Validation::new().iss(&[ISSUER]).aud(&[AUDIENCE]);
    let auth: Authorizer<RegisteredClaims> =
        JwtAuthorizer::from_jwks_text(&jwks).validation(validation).build().await?;
    Ok(Router::new()
        .route("/none", get(hello))
        .merge(Router::new().route("/jwt-authorizer", get(hello)).layer(auth.into_layer())))
}

fn tokens(dir: &std::path::Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let tokens: Vec<String> =
        std::fs::read_to_string(dir.join("tokens.txt"))?.lines().map(|l| format!("Bearer {l}")).collect();
    if tokens.is_empty() {
        return Err("no tokens in tokens.txt".into());
    }
    Ok(tokens)
}

fn request(path: &'static str, authorization: &str) -> Request<Body> {
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = Uri::from_static(path);
    if let Ok(value) = HeaderValue::from_str(authorization) {
        req.headers_mut().insert(header::AUTHORIZATION, value);
    }
    req
}

/// Sends `n` requests; returns how many were answered 200.
#[inline(never)]
fn send(rt: &tokio::runtime::Runtime, app: &Router, path: &'static str, tokens: &[String], n: usize) -> usize {
    rt.block_on(async {
        let mut ok = 0;
        for i in 0..n {
            let req = request(path, &tokens[i % tokens.len()]);
            let status = app.clone().oneshot(req).await.map(|r| r.status());
            ok += usize::from(status.is_ok_and(|s| s == StatusCode::OK));
        }
        ok
    })
}

/// The loop callgrind counts (`--toggle-collect='*measured*'`); the warm-up calls
/// [`send`] itself, so its one-time costs are not counted.
#[inline(never)]
fn measured(rt: &tokio::runtime::Runtime, app: &Router, path: &'static str, tokens: &[String], n: usize) -> usize {
    send(rt, app, path, tokens, n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench-peer serve DIR PORT | bench-peer loop DIR PATH N [distinct]";
    let dir = std::path::Path::new(args.get(1).ok_or(usage)?);
    match args.first().map(String::as_str) {
        Some("serve") => {
            let port: u16 = args.get(2).ok_or(usage)?.parse()?;
            // One worker: wrk takes the other core.
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
            rt.block_on(async {
                let app = app(dir).await?;
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
                axum::serve(listener, app).await?;
                Ok::<_, Box<dyn std::error::Error>>(())
            })
        }
        Some("loop") => {
            let name = args.get(2).ok_or(usage)?;
            let path = PATHS.into_iter().find(|p| p.trim_start_matches('/') == name).ok_or(usage)?;
            let n: usize = args.get(3).ok_or(usage)?.parse()?;
            let all = tokens(dir)?;
            let tokens = if args.get(4).is_some_and(|a| a == "distinct") { &all[1..] } else { &all[..1] };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let app = rt.block_on(app(dir))?;
            send(&rt, &app, path, &all[..1], 2);
            let started = std::time::Instant::now();
            let ok = measured(&rt, &app, path, tokens, n);
            let elapsed = started.elapsed();
            if ok != n {
                return Err(format!("{} of {n} requests were not answered 200", n - ok).into());
            }
            eprintln!("{name}: {n} requests, {} ns/request", elapsed.as_nanos() / n.max(1) as u128);
            Ok(())
        }
        _ => Err(usage.into()),
    }
}
