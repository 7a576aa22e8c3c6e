//! The request stacks measured per request, without a network, by `benches/requests.rs`
//! (criterion, wall time) and `examples/backend/examples/request_loop.rs` (a fixed number
//! of requests, for `valgrind --tool=callgrind` instruction counts).
//!
//! Two pairs, each differing only in authentication:
//! - `layer-none` / `layer-auth`: a bare tower stack, a handler that reads the principal
//!   from the extensions, with and without [`AuthLayer`] in front (one cached token);
//! - `health` / `health-hdr` / `me`: the `example-backend` router, like the wrk bench
//!   (`/health`, `/health` with the same `Authorization` header, `/api/me` cached).

use std::convert::Infallible;

use authgate::api_key::StaticApiKeys;
use authgate::{AuthMethod, KeySet, Principal, Verifier};
use authgate_testkit::{TestKey, jwks, standard_claims};
use authgate_tower::AuthLayer;
use axum::body::Body;
use example_backend::Auth;
use http::{HeaderValue, Request, Response};
use tower::{Layer, Service, ServiceExt};

const ISSUER: &str = "http://127.0.0.1:8011";
const AUDIENCE: &str = "trading-platform";

/// One measured scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// Tower stack without authentication.
    LayerNone,
    /// The same stack behind `AuthLayer`, one cached token.
    LayerAuth,
    /// The backend's `GET /health`.
    Health,
    /// `GET /health` carrying the same `Authorization` header as `me`.
    HealthHeader,
    /// The backend's `GET /api/me`, one cached token.
    Me,
}

impl Scenario {
    pub(crate) const ALL: [Scenario; 5] =
        [Scenario::LayerNone, Scenario::LayerAuth, Scenario::Health, Scenario::HealthHeader, Scenario::Me];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::LayerNone => "layer-none",
            Scenario::LayerAuth => "layer-auth",
            Scenario::Health => "health",
            Scenario::HealthHeader => "health-hdr",
            Scenario::Me => "me",
        }
    }

    #[allow(dead_code)] // the criterion bench runs them all
    pub(crate) fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The inner service of the bare tower stack: reads the principal, answers 200.
#[derive(Clone)]
struct Handler;

impl Service<Request<Body>> for Handler {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let mut response = Response::new(Body::empty());
        if req.extensions().get::<Principal>().is_some_and(|p| p.user_id().is_empty()) {
            *response.status_mut() = http::StatusCode::FORBIDDEN;
        }
        std::future::ready(Ok(response))
    }
}

/// Every stack, built once; the token is already in the verified-token cache after
/// [`Stacks::warm_up`].
pub(crate) struct Stacks {
    bare: Handler,
    layered: authgate_tower::auth::Auth<Handler>,
    router: axum::Router,
    authorization: HeaderValue,
}

impl Stacks {
    pub(crate) fn new() -> Result<Stacks, Box<dyn std::error::Error>> {
        let key = TestKey::shared_rs256();
        let keys = KeySet::from_jwks_json(&jwks(&[&key]).to_string())?;
        let verifier = Verifier::builder().issuer(ISSUER, keys).audience(AUDIENCE).build()?;
        let api_keys = StaticApiKeys::new()
            .with_key("ak_test_unused", Principal::builder("u", AuthMethod::ApiKey).build());
        let auth = Auth::new(verifier, api_keys)?;
        let token = key
            .token()
            .claims(standard_claims(ISSUER, AUDIENCE, "bench-0", 3600))
            .claim("email", "bench-0@example.com")
            .claim("permissions", serde_json::json!(["positions:read"]))
            .sign();
        Ok(Stacks {
            bare: Handler,
            layered: AuthLayer::new(auth.jwt.clone()).layer(Handler),
            router: example_backend::app(auth),
            authorization: HeaderValue::try_from(format!("Bearer {token}"))?,
        })
    }

    fn request(&self, scenario: Scenario) -> Request<Body> {
        let (uri, header) = match scenario {
            Scenario::Health => ("/health", false),
            Scenario::HealthHeader => ("/health", true),
            Scenario::LayerNone | Scenario::LayerAuth | Scenario::Me => ("/api/me", true),
        };
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = http::Uri::from_static(uri);
        if header {
            req.headers_mut().insert(http::header::AUTHORIZATION, self.authorization.clone());
        }
        req
    }

    /// Runs `n` requests of `scenario`; returns how many were answered 200.
    pub(crate) async fn run(&self, scenario: Scenario, n: usize) -> usize {
        let mut ok = 0;
        for _ in 0..n {
            let req = self.request(scenario);
            let status = match scenario {
                Scenario::LayerNone => self.bare.clone().oneshot(req).await.map(|r| r.status()),
                Scenario::LayerAuth => self.layered.clone().oneshot(req).await.map(|r| r.status()),
                _ => self.router.clone().oneshot(req).await.map(|r| r.status()),
            };
            ok += usize::from(status.is_ok_and(|s| s == http::StatusCode::OK));
        }
        ok
    }

    /// One request of every scenario, so the token is verified and cached.
    pub(crate) async fn warm_up(&self) -> bool {
        let mut all_ok = true;
        for scenario in Scenario::ALL {
            all_ok &= self.run(scenario, 1).await == 1;
        }
        all_ok
    }
}
