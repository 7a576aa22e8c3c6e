//! The axum side of the HTTP comparison (`benches/wrk/compare.sh`): one `hello` handler
//! behind each contender, on its own path, in one server:
//!
//! | path | in front of `hello` |
//! |---|---|
//! | `/none` | nothing |
//! | `/passthrough` | a layer that does nothing (tower's `MapRequestLayer`, identity) |
//! | `/authgate` | `AuthLayer`, default configuration (token cache on) |
//! | `/nocache` | `AuthLayer`, verifier built `without_token_cache()` |
//! | `/firstsight` | `AuthLayer`, token cache admitting tokens on their first sighting |
//! | `/jsonwebtoken` | a hand-written middleware calling `jsonwebtoken::decode` |
//!
//! ```text
//! cargo run --release -p authgate --example bench_mint -- target/bench 20000
//! cargo build --release -p authgate-tower --example bench_axum
//! target/release/examples/bench_axum serve target/bench 18020        # for wrk
//! target/release/examples/bench_axum loop target/bench authgate 20000 # for callgrind
//! ```
//!
//! `loop DIR PATH N [distinct]` sends N requests to PATH in one thread without a network
//! (`oneshot`), with one token (verified during a warm-up) or, with `distinct`, a
//! different token each time; only the function `measured` does the N requests, for
//! `valgrind --tool=callgrind --toggle-collect='*measured*'` (`benches/callgrind.sh`).

use std::sync::Arc;

use authgate::{Authenticator, KeySet, TokenCacheConfig, Verifier};
use authgate_tower::AuthLayer;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use tower::ServiceExt;
use tower::util::MapRequestLayer;

const ISSUER: &str = "https://id.bench.example";
const AUDIENCE: &str = "bench-api";
const PATHS: [&str; 6] = ["/none", "/passthrough", "/authgate", "/nocache", "/firstsight", "/jsonwebtoken"];

async fn hello() -> &'static str {
    "hello"
}

/// A decoding key and validation rules built once, as a careful hand-written
/// middleware would.
struct Jwt {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

async fn jsonwebtoken_auth(State(jwt): State<Arc<Jwt>>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let claims =
        match token.map(|t| jsonwebtoken::decode::<authgate::AccessClaims>(t, &jwt.key, &jwt.validation)) {
            Some(Ok(data)) => data.claims,
            _ => return StatusCode::UNAUTHORIZED.into_response(),
        };
    req.extensions_mut().insert(claims);
    next.run(req).await
}

fn app(dir: &std::path::Path) -> Result<Router, Box<dyn std::error::Error>> {
    let jwks = std::fs::read_to_string(dir.join("jwks.json"))?;
    let verifier = |cache: Option<TokenCacheConfig>| -> Result<Verifier, authgate::Error> {
        let builder = Verifier::builder().issuer(ISSUER, KeySet::from_jwks_json(&jwks)?).audience(AUDIENCE);
        match cache {
            Some(config) => builder.token_cache(config),
            None => builder.without_token_cache(),
        }
        .build()
    };
    let mut first_sighting = TokenCacheConfig::default();
    first_sighting.admit_on_first_sighting = true;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks)?;
    let jwk = set.keys.first().ok_or("empty jwks.json")?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let jwt = Arc::new(Jwt { key: jsonwebtoken::DecodingKey::from_jwk(jwk)?, validation });

    Ok(Router::new()
        .route("/none", get(hello))
        .merge(
            Router::new()
                .route("/authgate", get(hello))
                .layer(AuthLayer::new(Authenticator::jwt(verifier(Some(TokenCacheConfig::default()))?))),
        )
        // What any layer costs in axum (`Router::layer` boxes the layered service and its
        // future): the floor under every middleware's same-token figure.
        .merge(Router::new().route("/passthrough", get(hello)).layer(MapRequestLayer::new(|r: Request| r)))
        .merge(
            Router::new()
                .route("/nocache", get(hello))
                .layer(AuthLayer::new(Authenticator::jwt(verifier(None)?))),
        )
        .merge(
            Router::new()
                .route("/firstsight", get(hello))
                .layer(AuthLayer::new(Authenticator::jwt(verifier(Some(first_sighting))?))),
        )
        .merge(
            Router::new()
                .route("/jsonwebtoken", get(hello))
                .layer(from_fn_with_state(jwt, jsonwebtoken_auth)),
        )
        // Turns every handler, with its layers, into a service once: a `Router<()>` left
        // without state rebuilds each handler and re-applies its layers per request.
        .with_state(()))
}

fn tokens(dir: &std::path::Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let tokens: Vec<String> =
        std::fs::read_to_string(dir.join("tokens.txt"))?.lines().map(|l| format!("Bearer {l}")).collect();
    if tokens.is_empty() {
        return Err("no tokens in tokens.txt".into());
    }
    Ok(tokens)
}

fn request(path: &'static str, authorization: &str) -> Request {
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = http::Uri::from_static(path);
    if let Ok(value) = http::HeaderValue::from_str(authorization) {
        req.headers_mut().insert(http::header::AUTHORIZATION, value);
    }
    req
}

/// Sends `n` requests; returns how many were answered 200.
#[inline(never)]
fn send(
    rt: &tokio::runtime::Runtime,
    app: &Router,
    path: &'static str,
    tokens: &[String],
    n: usize,
) -> usize {
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
/// [`send`] itself, so its one-time costs (the first cache insert) are not counted.
#[inline(never)]
fn measured(
    rt: &tokio::runtime::Runtime,
    app: &Router,
    path: &'static str,
    tokens: &[String],
    n: usize,
) -> usize {
    send(rt, app, path, tokens, n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench_axum serve DIR PORT | bench_axum loop DIR PATH N [distinct]";
    let dir = std::path::Path::new(args.get(1).ok_or(usage)?);
    let app = app(dir)?;
    match args.first().map(String::as_str) {
        Some("serve") => {
            let port: u16 = args.get(2).ok_or(usage)?.parse()?;
            // One worker: wrk takes the other core.
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
                axum::serve(listener, app).await
            })?;
            Ok(())
        }
        Some("loop") => {
            let name = args.get(2).ok_or(usage)?;
            let path = PATHS.into_iter().find(|p| p.trim_start_matches('/') == name).ok_or(usage)?;
            let n: usize = args.get(3).ok_or(usage)?.parse()?;
            let all = tokens(dir)?;
            let tokens = if args.get(4).is_some_and(|a| a == "distinct") { &all[1..] } else { &all[..1] };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            // Warm-up: the one token verified (twice, so it is cached), the code paths hot.
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
