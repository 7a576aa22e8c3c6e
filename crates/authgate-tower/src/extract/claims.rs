//! [`Claims<T>`]: the token's claims in your own type.

use authgate::Principal;
use axum_core::extract::FromRequestParts;
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::{Rejected, rejection, required_principal, responder};

/// The verified token's claims deserialized into `T` (through
/// [`Principal::claims_as`]).
///
/// Claims that do not fit `T` answer 401 `invalid_token` (the token lacks what this
/// route needs); API-key principals have no claims, so they are rejected the same way.
///
/// ```
/// use authgate_tower::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct Trading {
///     sub: String,
///     tier: String,
/// }
///
/// async fn tier(Claims(claims): Claims<Trading>) -> String {
///     format!("{} is {}", claims.sub, claims.tier)
/// }
/// # let _ = axum::Router::<()>::new().route("/tier", axum::routing::get(tier));
/// ```
#[derive(Clone, Debug)]
pub struct Claims<T>(pub T);

rejection! {
    /// Why [`Claims`] could not be extracted: 401 without a principal or when the claims
    /// do not fit, 500 without a layer.
    ClaimsRejection
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Claims<T> {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let principal: Principal = required_principal(parts, "the Claims extractor")?;
        principal.claims_as::<T>().map(Claims).map_err(|error| Rejected::new(error, responder(parts)).into())
    }
}
