//! A hub's own live stream, numbering the events it takes so that members
//! joining late receive exactly what follows them.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_util::stream::{BoxStream, Stream, StreamExt};

use super::lock;
use crate::service::LiveItem;

/// The hub's own live stream, numbering what it takes.
pub(super) struct Source {
    live: BoxStream<'static, LiveItem>,
    /// Taken from the stream for a joining member and not handed out yet.
    pending: VecDeque<(u64, LiveItem)>,
    /// Events taken from the stream so far.
    taken: u64,
    /// The number of the event last handed to the stream; `None` before the
    /// first and after an error (nothing rendered then renders an event).
    pub(super) handed: Option<u64>,
    /// The stream ended, or an error was handed out: nothing more follows.
    exhausted: bool,
    /// The hub's task, to wake when a joining member took its events.
    waker: Option<Waker>,
}

impl Source {
    /// Numbers what `live` sends from now on.
    pub(super) fn new(live: BoxStream<'static, LiveItem>) -> Self {
        Self {
            live,
            pending: VecDeque::new(),
            taken: 0,
            handed: None,
            exhausted: false,
            waker: None,
        }
    }

    /// Numbers everything the stream has already sent and returns the last
    /// number: a member joining now receives what comes after it.
    pub(super) fn admit(&mut self) -> u64 {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        while !self.exhausted {
            match self.live.poll_next_unpin(&mut cx) {
                Poll::Ready(Some(item)) => {
                    self.taken += 1;
                    self.pending.push_back((self.taken, item));
                }
                Poll::Ready(None) => self.exhausted = true,
                Poll::Pending => break,
            }
        }
        // Polling with a no-op waker unregistered the hub's task: it must
        // look again (and pick up the pending events).
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        self.taken
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<LiveItem>> {
        let (number, item) = match self.pending.pop_front() {
            Some(next) => next,
            None if self.exhausted => return Poll::Ready(None),
            None => match self.live.poll_next_unpin(cx) {
                Poll::Ready(Some(item)) => {
                    self.taken += 1;
                    (self.taken, item)
                }
                Poll::Ready(None) => {
                    self.exhausted = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    self.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            },
        };
        self.handed = item.is_ok().then_some(number);
        if item.is_err() {
            // The error ends the subscription; pending events go with it.
            self.pending.clear();
            self.exhausted = true;
        }
        Poll::Ready(Some(item))
    }
}

/// [`Source`] as the stream the subscription resolver reads.
pub(super) struct SourceStream(pub(super) Arc<Mutex<Source>>);

impl Stream for SourceStream {
    type Item = LiveItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LiveItem>> {
        lock(&self.0).poll_item(cx)
    }
}
