//! The actix-web side of the HTTP comparison (`benches/wrk/compare.sh`): one `hello`
//! handler behind each contender, on its own path, in one server (the same paths as
//! `benches/servers/axum.rs`):
//!
//! | path | in front of `hello` |
//! |---|---|
//! | `/none` | nothing |
//! | `/authgate` | `AuthMiddleware`, default configuration (token cache on) |
//! | `/nocache` | `AuthMiddleware`, verifier built `without_token_cache()` |
//! | `/jsonwebtoken` | a hand-written `from_fn` middleware calling `jsonwebtoken::decode` |
//!
//! ```text
//! cargo run --release -p authgate --example bench_mint -- target/bench 20000
//! cargo build --release -p authgate-actix --example bench_actix
//! target/release/examples/bench_actix serve target/bench 18021        # for wrk
//! target/release/examples/bench_actix loop target/bench authgate 20000 # for callgrind
//! ```
//!
//! `loop DIR PATH N [distinct]` works as in the axum server, through
//! `actix_web::test::call_service` (no network).

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{Next, from_fn};
use actix_web::rt::SystemRunner;
use actix_web::{App, HttpMessage, HttpServer, test, web};
use authgate::{Authenticator, KeySet, Verifier};
use authgate_actix::AuthMiddleware;

const ISSUER: &str = "https://id.bench.example";
const AUDIENCE: &str = "bench-api";
const PATHS: [&str; 4] = ["/none", "/authgate", "/nocache", "/jsonwebtoken"];

async fn hello() -> &'static str {
    "hello"
}

/// A decoding key and validation rules built once, as a careful hand-written
/// middleware would.
struct Jwt {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

async fn jsonwebtoken_auth(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let jwt = req
        .app_data::<web::Data<Jwt>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError(""))?;
    let token = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.map(|t| jsonwebtoken::decode::<authgate::AccessClaims>(t, &jwt.key, &jwt.validation)) {
        Some(Ok(data)) => {
            req.extensions_mut().insert(data.claims);
            next.call(req).await
        }
        _ => Err(actix_web::error::ErrorUnauthorized("invalid token")),
    }
}

/// Everything an app needs, built once and shared by the server's workers.
#[derive(Clone)]
struct Parts {
    cached: Authenticator,
    uncached: Authenticator,
    jwt: web::Data<Jwt>,
}

fn parts(dir: &std::path::Path) -> Result<Parts, Box<dyn std::error::Error>> {
    let jwks = std::fs::read_to_string(dir.join("jwks.json"))?;
    let verifier = |cache: bool| -> Result<Verifier, authgate::Error> {
        let builder = Verifier::builder().issuer(ISSUER, KeySet::from_jwks_json(&jwks)?).audience(AUDIENCE);
        if cache { builder } else { builder.without_token_cache() }.build()
    };
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks)?;
    let jwk = set.keys.first().ok_or("empty jwks.json")?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    Ok(Parts {
        cached: Authenticator::jwt(verifier(true)?),
        uncached: Authenticator::jwt(verifier(false)?),
        jwt: web::Data::new(Jwt { key: jsonwebtoken::DecodingKey::from_jwk(jwk)?, validation }),
    })
}

fn app(
    parts: Parts,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(parts.jwt)
        .service(web::resource("/none").to(hello))
        .service(web::resource("/authgate").wrap(AuthMiddleware::new(parts.cached)).to(hello))
        .service(web::resource("/nocache").wrap(AuthMiddleware::new(parts.uncached)).to(hello))
        .service(web::resource("/jsonwebtoken").wrap(from_fn(jsonwebtoken_auth)).to(hello))
}

fn tokens(dir: &std::path::Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let tokens: Vec<String> =
        std::fs::read_to_string(dir.join("tokens.txt"))?.lines().map(|l| format!("Bearer {l}")).collect();
    if tokens.is_empty() {
        return Err("no tokens in tokens.txt".into());
    }
    Ok(tokens)
}

/// Sends `n` requests made by `make`; returns how many were answered 200.
#[inline(never)]
fn send<S, R, B>(rt: &SystemRunner, svc: &S, make: impl Fn(usize) -> R, n: usize) -> usize
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    rt.block_on(async {
        let mut ok = 0;
        for i in 0..n {
            let res = svc.call(make(i)).await;
            ok += usize::from(res.is_ok_and(|r| r.status() == StatusCode::OK));
        }
        ok
    })
}

/// The loop callgrind counts (`--toggle-collect='*measured*'`); the warm-up calls
/// [`send`] itself, so its one-time costs (the first cache insert) are not counted.
#[inline(never)]
fn measured<S, R, B>(rt: &SystemRunner, svc: &S, make: impl Fn(usize) -> R, n: usize) -> usize
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    send(rt, svc, make, n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench_actix serve DIR PORT | bench_actix loop DIR PATH N [distinct]";
    let dir = std::path::Path::new(args.get(1).ok_or(usage)?);
    let parts = parts(dir)?;
    match args.first().map(String::as_str) {
        Some("serve") => {
            let port: u16 = args.get(2).ok_or(usage)?.parse()?;
            // One worker: wrk takes the other core.
            actix_web::rt::System::new().block_on(
                HttpServer::new(move || app(parts.clone())).workers(1).bind(("127.0.0.1", port))?.run(),
            )?;
            Ok(())
        }
        Some("loop") => {
            let name = args.get(2).ok_or(usage)?;
            let path = PATHS.into_iter().find(|p| p.trim_start_matches('/') == name).ok_or(usage)?;
            let n: usize = args.get(3).ok_or(usage)?.parse()?;
            let all = tokens(dir)?;
            let tokens = if args.get(4).is_some_and(|a| a == "distinct") { &all[1..] } else { &all[..1] };
            let request = |tokens: &[String], i: usize| {
                let authorization = tokens[i % tokens.len()].as_str();
                test::TestRequest::get()
                    .uri(path)
                    .insert_header(("authorization", authorization))
                    .to_request()
            };
            let rt = actix_web::rt::System::new();
            let svc = rt.block_on(test::init_service(app(parts)));
            // Warm-up: the one token verified (twice, so it is cached), the code paths hot.
            send(&rt, &svc, |i| request(&all[..1], i), 2);
            let started = std::time::Instant::now();
            let ok = measured(&rt, &svc, |i| request(tokens, i), n);
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
