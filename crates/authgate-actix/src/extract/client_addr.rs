//! [`ClientAddr`]: the caller's address, through the proxies you trust.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use authgate::client_addr::ClientAddr as Resolved;
use authgate::{Error, ErrorKind};

use super::{Rejected, rejection};

/// The client's IP address: the socket peer, or, behind proxies configured with
/// [`AuthMiddleware::trusted_proxies`](crate::AuthMiddleware::trusted_proxies), the
/// address they forwarded (see [`authgate::client_addr`] for the rules). Ports are
/// dropped. Without a middleware in front it is the peer itself, headers ignored;
/// without any peer address (a test request) it answers 500.
///
/// ```
/// use authgate_actix::ClientAddr;
///
/// async fn whoami(ClientAddr(ip): ClientAddr) -> String {
///     ip.to_string()
/// }
/// # let _ = actix_web::App::new().route("/ip", actix_web::web::get().to(whoami));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

rejection! {
    /// Why [`ClientAddr`] could not be extracted: 500 when the request has no peer
    /// address.
    ClientAddrRejection
}

impl FromRequest for ClientAddr {
    type Error = ClientAddrRejection;
    type Future = Ready<Result<Self, ClientAddrRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(Resolved(ip)) = req.extensions().get::<Resolved>() {
            return ready(Ok(ClientAddr(*ip)));
        }
        ready(match req.peer_addr() {
            Some(peer) => Ok(ClientAddr(peer.ip().to_canonical())),
            None => {
                tracing::error!("ClientAddr used on a request without a peer address; answering 500");
                let error = Error::new(ErrorKind::Configuration, "no peer address in the request");
                Err(Rejected::plain(&error).into())
            }
        })
    }
}
