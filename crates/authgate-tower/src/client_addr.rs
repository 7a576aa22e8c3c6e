//! [`ClientAddr`]: the caller's address, through the proxies you trust.

use std::net::{IpAddr, SocketAddr};

use authgate::client_addr::ClientAddr as Resolved;
use authgate::{Error, ErrorKind};
use axum_core::extract::FromRequestParts;
use http::Extensions;
use http::request::Parts;

use crate::extract::{Rejected, rejection};

/// The client's IP address: the socket peer, or, behind proxies configured with
/// [`AuthLayer::trusted_proxies`](crate::AuthLayer::trusted_proxies), the address they
/// forwarded (see [`authgate::client_addr`] for the rules). Ports are dropped.
///
/// The socket peer comes from axum's `ConnectInfo<SocketAddr>` (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`) or a `SocketAddr` request
/// extension. Without a layer in front it is the peer itself, headers ignored; without
/// any peer address it answers 500 and logs why, since a per-client decision must never
/// fall back to a guess.
///
/// ```
/// use authgate_tower::ClientAddr;
///
/// async fn whoami(ClientAddr(ip): ClientAddr) -> String {
///     ip.to_string()
/// }
/// # let _ = axum::Router::<()>::new().route("/ip", axum::routing::get(whoami));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

rejection! {
    /// Why [`ClientAddr`] could not be extracted: 500 when the server does not give the
    /// socket peer's address.
    ClientAddrRejection
}

/// The socket peer's address, as the server put it in the request extensions.
pub(crate) fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    extensions.get::<SocketAddr>().map(SocketAddr::ip)
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ClientAddrRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(Resolved(ip)) = parts.extensions.get::<Resolved>() {
            return Ok(ClientAddr(*ip));
        }
        match peer_ip(&parts.extensions) {
            Some(ip) => Ok(ClientAddr(ip.to_canonical())),
            None => {
                tracing::error!(
                    "ClientAddr used but the server gives no peer address: serve with \
                     into_make_service_with_connect_info::<SocketAddr>(); answering 500"
                );
                let error = Error::new(ErrorKind::Configuration, "no peer address in the request");
                Err(Rejected::plain(error).into())
            }
        }
    }
}
