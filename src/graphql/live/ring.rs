//! The frames a hub broadcasts, and the one ring its members read them from.

use std::sync::Arc;

use serde_json::value::RawValue;

/// What a hub broadcasts to its members.
#[derive(Debug, Clone)]
pub(super) enum Frame {
    /// A rendered response. `tag` is the number of the event it renders;
    /// `None` for a response no event caused (a request error, or the hub
    /// itself falling behind live delivery), which is its last and goes to every member.
    Event {
        tag: Option<u64>,
        payload: Arc<RawValue>,
    },
    /// A request error (nothing executed): the errors, for every member; the
    /// stream's last response.
    Refused(Arc<RawValue>),
    /// The shared stream ended (the server is stopping, or it failed).
    End,
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Frame::Event { tag, payload },
                Frame::Event {
                    tag: other_tag,
                    payload: other_payload,
                },
            ) => tag == other_tag && payload.get() == other_payload.get(),
            (Frame::Refused(errors), Frame::Refused(other)) => errors.get() == other.get(),
            (Frame::End, Frame::End) => true,
            _ => false,
        }
    }
}

/// Frames a hub's ring starts with room for.
pub(super) const RING_START: usize = 16;

/// A hub's frames: one ring that every member reads at its own pace, grown
/// only when the slowest member falls behind what it holds, up to the
/// configured buffer.
///
/// tokio's broadcast ring allocates every slot up front: 59 KiB per hub at
/// the default buffer of 1,024, paid in full by each of 10,000 one-member
/// hubs (per-user feeds, S2: 975 MiB). A queue per member instead holds a
/// copy of each backlog per member: 10,000 members of one hub, all behind,
/// held 10,000 backlogs (S1: 643 MiB). One ring that grows serves both
/// (BENCHMARKS.md, "RSS with 10,000 per-user feeds").
pub(super) struct Ring {
    pub(super) frames: async_broadcast::Sender<Frame>,
    /// What a member may fall behind by before it is told it lagged.
    max: usize,
}

impl Ring {
    /// A ring of at most `max` frames, and the receiver that keeps it open.
    pub(super) fn new(max: usize) -> (Self, async_broadcast::InactiveReceiver<Frame>) {
        let max = max.max(1);
        let (mut frames, receiver) = async_broadcast::broadcast(RING_START.min(max));
        // Full at `max`: the oldest frame goes, and whoever had not read it
        // is told it lagged, as with tokio's broadcast.
        frames.set_overflow(true);
        frames.set_await_active(false);
        (Self { frames, max }, receiver.deactivate())
    }

    pub(super) fn send(&mut self, frames: impl Iterator<Item = Frame>) {
        for frame in frames {
            let capacity = self.frames.capacity();
            // The ring holds each frame until every member has read it, so
            // it is full only behind a member that is that far behind.
            if self.frames.len() == capacity && capacity < self.max {
                self.frames
                    .set_capacity(capacity.saturating_mul(2).min(self.max));
            }
            // An error only means that the hub has no member now.
            let _ = self.frames.try_broadcast(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> Frame {
        Frame::Event {
            tag: Some(n),
            payload: crate::graphql::live::render(&n),
        }
    }

    fn tag(frame: Result<Frame, async_broadcast::TryRecvError>) -> Option<u64> {
        match frame {
            Ok(Frame::Event { tag, .. }) => tag,
            _ => None,
        }
    }

    #[test]
    fn the_ring_grows_only_behind_a_slow_member_and_ends_it_alone_past_the_buffer() {
        let (mut ring, _open) = Ring::new(64);
        let mut reading = ring.frames.new_receiver();

        for n in 1..=100 {
            ring.send(std::iter::once(event(n)));
            assert_eq!(tag(reading.try_recv()), Some(n));
        }
        assert_eq!(ring.frames.capacity(), RING_START, "nobody fell behind");

        let mut stalled = ring.frames.new_receiver();
        for n in 101..=170 {
            ring.send(std::iter::once(event(n)));
            assert_eq!(tag(reading.try_recv()), Some(n));
        }
        assert_eq!(
            ring.frames.capacity(),
            64,
            "grown behind the stalled one, to the buffer"
        );

        // It lost the 6 oldest of its 70 and hears so, then reads on; the
        // one that kept up lost nothing.
        assert_eq!(
            stalled.try_recv(),
            Err(async_broadcast::TryRecvError::Overflowed(6))
        );
        assert_eq!(tag(stalled.try_recv()), Some(107));
        assert_eq!(
            reading.try_recv(),
            Err(async_broadcast::TryRecvError::Empty)
        );
    }
}
