//! The response body of the layers: the inner service's body, or a rejection's body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of responses that pass through [`AuthLayer`](crate::AuthLayer),
    /// [`RequireLayer`](crate::RequireLayer) or [`WsAuthLayer`](crate::WsAuthLayer):
    /// either the inner service's body, untouched, or the small body of a rejection.
    ///
    /// Layers change the body type instead of requiring the inner body to be buildable
    /// from bytes, so they work over any tower service; axum converts it back into its
    /// own body automatically.
    pub struct AuthBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Rejection { data: Option<Bytes> },
    }
}

impl<B> AuthBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        AuthBody { kind: Kind::Inner { body } }
    }

    pub(crate) fn rejection(data: Bytes) -> Self {
        AuthBody { kind: Kind::Rejection { data: Some(data).filter(|d| !d.is_empty()) } }
    }
}

impl<B> std::fmt::Debug for AuthBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Inner { .. } => f.write_str("AuthBody::Inner"),
            Kind::Rejection { data } => f
                .debug_struct("AuthBody::Rejection")
                .field("len", &data.as_ref().map_or(0, Bytes::len))
                .finish(),
        }
    }
}

impl<B> Body for AuthBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Rejection { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Rejection { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Rejection { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}
