//! [`Claims<T>`]: the caller's claims in your own type.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::{Rejected, rejection, required_principal};

/// The caller's claims deserialized into `T` (through [`authgate::Principal::claims_as`]):
/// a token's payload, or what an API-key verifier filled in.
///
/// The same rules as [`CurrentUser`](crate::CurrentUser), and 401 `invalid_token` when
/// the claims do not fit `T` (the token lacks what this route needs).
///
/// ```
/// use authgate_actix::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct Tier {
///     tier: String,
/// }
///
/// async fn limits(Claims(t): Claims<Tier>) -> String {
///     format!("tier {}", t.tier)
/// }
///
/// async fn offers(claims: Option<Claims<Tier>>) -> String {
///     claims.map_or("public offers".into(), |Claims(t)| format!("offers for {}", t.tier))
/// }
/// # let _ = actix_web::App::new()
/// #     .route("/limits", actix_web::web::get().to(limits))
/// #     .route("/offers", actix_web::web::get().to(offers));
/// ```
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

rejection! {
    /// Why [`Claims`] could not be extracted: 401 without a principal or when the claims
    /// do not fit, 500 without a middleware.
    ClaimsRejection
}

impl<T: DeserializeOwned> FromRequest for Claims<T> {
    type Error = ClaimsRejection;
    type Future = Ready<Result<Self, ClaimsRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let claims = required_principal(req, "the Claims extractor").and_then(|(p, responder)| {
            p.claims_as::<T>().map(Claims).map_err(|e| Rejected::new(&e, &responder))
        });
        ready(claims.map_err(Into::into))
    }
}
