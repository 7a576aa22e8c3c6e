//! Short fixtures for the in-module tests: a real stack over a `service_fn`.

use std::convert::Infallible;
use std::time::Duration;

use authgate::{Authenticator, KeySet, Principal, Verifier};
use authgate_testkit::{TestKey, jwks, standard_claims};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};

pub(crate) const ISSUER: &str = "https://id.example";
pub(crate) const AUDIENCE: &str = "api";

pub(crate) fn authenticator() -> Authenticator {
    let keys = KeySet::from_jwks_json(&jwks(&[&TestKey::shared_rs256()]).to_string()).expect("static JWKS");
    let verifier = Verifier::builder()
        .issuer(ISSUER, keys)
        .audience(AUDIENCE)
        .leeway(Duration::from_secs(5))
        .build()
        .expect("verifier");
    Authenticator::jwt(verifier)
}

/// `Bearer <token>` for `sub` with extra claims.
pub(crate) fn bearer(sub: &str, extra: &[(&str, serde_json::Value)]) -> String {
    let mut builder = TestKey::shared_rs256().token().claims(standard_claims(ISSUER, AUDIENCE, sub, 300));
    for (name, value) in extra {
        builder = builder.claim(name, value.clone());
    }
    format!("Bearer {}", builder.sign())
}

pub(crate) fn request(authorization: Option<&str>) -> Request<Full<Bytes>> {
    let mut b = Request::get("/");
    if let Some(value) = authorization {
        b = b.header("authorization", value);
    }
    b.body(Full::default()).expect("request")
}

/// The inner service: answers 200 with the principal's user id, or `-`.
pub(crate) async fn echo(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let user = req.extensions().get::<Principal>().map_or("-".to_owned(), |p| p.user_id().to_owned());
    Ok(Response::new(Full::new(Bytes::from(user))))
}

pub(crate) async fn body_text<B>(response: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}
