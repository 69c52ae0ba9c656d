//! One subscriber of a hub: what it is to send, and leaving the hub when it goes.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_broadcast::RecvError;
use async_graphql::{PathSegment, Pos, Response};
use futures_util::stream::Stream;
use serde_json::value::RawValue;

use super::hub::{Entry, Fanout, Membership};
use super::plan::Plan;
use super::render;
use super::ring::Frame;

impl Fanout {
    /// Joins the hub for `plan`, starting it if there is none.
    pub fn join(&self, plan: Plan) -> Member {
        let Entry {
            frames,
            after,
            pos,
            response_key,
            membership,
        } = self.enter(plan);
        Member {
            frames,
            after,
            done: false,
            pos,
            response_key,
            membership,
        }
    }
}

/// What a member is to send, in order.
#[derive(Debug)]
pub enum Delivery {
    /// An event's payload.
    Event(Arc<RawValue>),
    /// The stream's last payload, not an event's.
    Last(Arc<RawValue>),
    /// The stream's request error (nothing executed): its errors, to send
    /// instead of a result. Nothing follows it.
    Refused(Arc<RawValue>),
    /// The stream is over: `complete`.
    End,
    /// This member fell behind by this many payloads; it ends here.
    Lagged(u64),
}

/// One subscriber of a hub: a stream of what to send it, ending after
/// [`Delivery::End`] or [`Delivery::Lagged`]. Dropping it leaves the hub.
pub struct Member {
    frames: async_broadcast::Receiver<Frame>,
    after: u64,
    done: bool,
    pos: Pos,
    response_key: String,
    membership: Membership,
}

impl Member {
    /// The payload of an error that ends this member alone, as the
    /// subscription's resolver would have reported it.
    pub fn error_payload(&self, error: async_graphql::Error) -> Arc<RawValue> {
        let error = error
            .into_server_error(self.pos)
            .with_path(vec![PathSegment::Field(self.response_key.clone())]);
        render(&Response::from_errors(vec![error]))
    }
}

impl Stream for Member {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let delivery = match Pin::new(&mut self.frames).poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(Frame::Event { tag, payload }))) => match tag {
                    Some(n) if n <= self.after => continue,
                    Some(_) => return Poll::Ready(Some(Delivery::Event(payload))),
                    None => Delivery::Last(payload),
                },
                Poll::Ready(Some(Ok(Frame::Refused(errors)))) => Delivery::Refused(errors),
                Poll::Ready(Some(Ok(Frame::End) | Err(RecvError::Closed)) | None) => Delivery::End,
                Poll::Ready(Some(Err(RecvError::Overflowed(missed)))) => Delivery::Lagged(missed),
            };
            self.done = !matches!(delivery, Delivery::Last(_));
            return Poll::Ready(Some(delivery));
        }
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("key", &self.membership.key)
            .field("after", &self.after)
            .finish()
    }
}
