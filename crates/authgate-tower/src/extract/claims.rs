//! [`Claims<T>`]: the token's claims in your own type.

use authgate::Principal;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::{Rejected, principal, rejection, required_principal, responder};

/// The caller's claims deserialized into your own type `T` (through
/// [`Principal::claims_as`]): a token's payload, or what an API-key verifier filled in.
///
/// The same rules as [`CurrentUser`](crate::CurrentUser): 401 without a principal, 500
/// without a layer; and claims that do not fit `T` answer 401 `invalid_token` (the token
/// lacks what this route needs). `Option<Claims<T>>` is `None` for anonymous requests
/// behind an [optional](crate::AuthLayer::optional) layer, and still rejects claims that
/// do not fit.
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
///
/// async fn offer(claims: Option<Claims<Trading>>) -> String {
///     match claims {
///         Some(Claims(c)) => format!("offers for {} tier", c.tier),
///         None => "public offers".into(),
///     }
/// }
/// # let _ = axum::Router::<()>::new().route("/tier", axum::routing::get(tier)).route("/offer", axum::routing::get(offer));
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

impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequestParts<S> for Claims<T> {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        match principal(parts, "the Option<Claims> extractor")? {
            None => Ok(None),
            Some(principal) => principal
                .claims_as::<T>()
                .map(|c| Some(Claims(c)))
                .map_err(|error| Rejected::new(error, responder(parts)).into()),
        }
    }
}
