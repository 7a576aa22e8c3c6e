//! API-key verification for the migration period.
//!
//! - [`ApiKeyVerifier`]: the policy trait; implemented for closures returning a future,
//!   so a quick lookup needs no new type.
//! - [`StaticApiKeys`]: SHA-256 hashes from configuration, compared in constant time.
//! - [`RemoteApiKeyVerifier`] (the `remote` feature): asks user-service
//!   (`GET /v1/users/me` with `X-API-Key`) and caches answers briefly.
//! - [`format`](mod@format): the key format user-service issues (`ak_live_…`/`ak_test_…`, 190 random
//!   bits, CRC32 checksum), checked locally so typos and garbage never cost a network
//!   call or a database lookup.

use std::future::Future;
use std::pin::Pin;

use crate::error::Error;
use crate::principal::Principal;

pub mod format;
#[cfg(feature = "remote")]
mod remote;
mod static_keys;

#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub use remote::RemoteApiKeyVerifier;
pub use static_keys::StaticApiKeys;

/// A boxed future, as returned by [`ApiKeyVerifier::verify`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Turns an API key into a [`Principal`] (with [`crate::AuthMethod::ApiKey`]).
///
/// Errors: [`crate::ErrorKind::InvalidApiKey`] for a bad key (401),
/// [`crate::ErrorKind::KeySourceUnavailable`] when the answer cannot be had (503).
///
/// ```
/// use authgate::{AuthMethod, Error, ErrorKind, Principal};
/// use authgate::api_key::ApiKeyVerifier;
///
/// let verifier = |key: String| async move {
///     if key == "let-me-in" {
///         Ok(Principal::builder("svc", AuthMethod::ApiKey).build())
///     } else {
///         Err(Error::new(ErrorKind::InvalidApiKey, "unknown key"))
///     }
/// };
/// # let _ = verifier.verify("x");
/// ```
pub trait ApiKeyVerifier: Send + Sync + 'static {
    /// Verifies `key`.
    fn verify<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Principal, Error>>;
}

impl<F, Fut> ApiKeyVerifier for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Principal, Error>> + Send + 'static,
{
    fn verify<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Principal, Error>> {
        Box::pin(self(key.to_owned()))
    }
}
