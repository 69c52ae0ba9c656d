//! The hubs: one shared stream per [`Key`], rendering each response once and
//! handing it to every member in bursts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::{Data, Request, Response, Variables};
use futures_util::stream::{BoxStream, StreamExt};
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::plan::{Key, Plan};
use super::ring::{Frame, Ring};
use super::source::{Source, SourceStream};
use super::{lock, render};
use crate::auth::Identity;
use crate::graphql::context::Authentication;
use crate::graphql::{is_request_error, AppSchema, LiveSource};
use crate::metrics::Metrics;
use crate::service::Live;

/// The hubs of one server.
#[derive(Clone)]
pub struct Fanout {
    schema: AppSchema,
    live: Live,
    /// Payloads a member may fall behind by before it is told it lagged.
    capacity: usize,
    /// Where hubs render, whatever runtime the sockets run on.
    runtime: Handle,
    pub(super) metrics: Arc<Metrics>,
    hubs: Arc<Mutex<HashMap<Key, Arc<Hub>>>>,
}

/// One shared stream.
pub(super) struct Hub {
    /// Where its frames go: one ring all members read (see [`Ring`]).
    ring: Mutex<Ring>,
    /// Keeps the ring open while the hub has no member.
    _open: async_broadcast::InactiveReceiver<Frame>,
    source: Arc<Mutex<Source>>,
    /// Members now; changed only with the hub map locked.
    members: AtomicUsize,
    stop: CancellationToken,
}

impl Fanout {
    /// Hubs over `schema`, reading `live`; each member may fall `capacity`
    /// payloads behind; hubs render on the current runtime.
    pub fn new(schema: AppSchema, live: Live, capacity: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            schema,
            live,
            capacity: capacity.max(1),
            runtime: Handle::current(),
            metrics,
            hubs: Arc::default(),
        }
    }

    /// Enters the hub for `plan`, starting it if there is none: the ring's
    /// receiver, the number of the last event before it, and the membership
    /// that leaves when dropped. [`super::member`] makes a member of them.
    pub(super) fn enter(&self, plan: Plan) -> Entry {
        let Plan {
            key,
            variables,
            pos,
            response_key,
        } = plan;
        let mut hubs = lock(&self.hubs);
        let hub = match hubs.get(&key) {
            Some(hub) => hub.clone(),
            None => {
                let hub = self.start(&key, variables);
                hubs.insert(key.clone(), hub.clone());
                self.metrics.shared_streams.inc();
                hub
            }
        };
        hub.members.fetch_add(1, Ordering::Relaxed);
        let (after, frames) = {
            let mut source = lock(&hub.source);
            // Under the source's lock no event can be numbered meanwhile, so
            // the receiver sees every payload of an event after `after`.
            (source.admit(), lock(&hub.ring).frames.new_receiver())
        };
        drop(hubs);
        self.metrics.subscriptions_started.inc();
        self.metrics.subscriptions_active.inc();
        Entry {
            frames,
            after,
            pos,
            response_key,
            membership: Membership {
                fanout: self.clone(),
                key,
                hub,
            },
        }
    }

    /// Starts the shared stream for `key`; it reads live delivery from now on.
    fn start(&self, key: &Key, variables: Variables) -> Arc<Hub> {
        let live = self.live.subscribe();
        let narrower = live.narrower();
        let source = Arc::new(Mutex::new(Source::new(live.boxed())));
        let mut data = Data::default();
        // No expiry: each member ends on its own token's.
        data.insert(Authentication(Ok(Identity {
            caller: key.caller,
            expires_at: None,
            subject_hash: 0,
        })));
        data.insert(LiveSource::new(
            SourceStream(source.clone()).boxed(),
            narrower,
        ));
        let mut request = Request::new(key.query.clone()).variables(variables);
        if let Some(name) = &key.operation_name {
            request = request.operation_name(name.clone());
        }
        let responses = self
            .schema
            .execute_stream_with_session_data(request, Arc::new(data));
        let (ring, open) = Ring::new(self.capacity);
        let hub = Arc::new(Hub {
            ring: Mutex::new(ring),
            _open: open,
            source,
            members: AtomicUsize::new(0),
            stop: CancellationToken::new(),
        });
        self.runtime
            .spawn(self.clone().run(key.clone(), hub.clone(), responses));
        hub
    }

    /// Renders each response once and hands it to every member, in bursts:
    /// the payloads rendered within a window go out together, so that a
    /// member's socket wakes and writes once per window, not once per event.
    async fn run(self, key: Key, hub: Arc<Hub>, mut responses: BoxStream<'static, Response>) {
        let mut burst: Vec<Frame> = Vec::new();
        let mut deadline: Option<Instant> = None;
        // When the last burst went out: a payload waits only if another went
        // out less than a window ago.
        let mut last_burst: Option<Instant> = None;
        loop {
            let response = tokio::select! {
                biased;
                () = hub.stop.cancelled() => return,
                () = sleep_until(deadline), if deadline.is_some() => {
                    deadline = None;
                    last_burst = Some(Instant::now());
                    send_all(&hub, &mut burst);
                    continue;
                }
                response = responses.next() => response,
            };
            let Some(response) = response else { break };
            let tag = lock(&hub.source).handed;
            if tag.is_none() {
                // Its last response: nobody may join it from now on.
                self.retire(&key, &hub);
                burst.push(if is_request_error(&response) {
                    Frame::Refused(render(&response.errors))
                } else {
                    Frame::Event {
                        tag,
                        payload: render(&response),
                    }
                });
                break;
            }
            let payload = render(&response);
            burst.push(Frame::Event { tag, payload });
            if deadline.is_none() {
                let window = window(hub.members.load(Ordering::Relaxed));
                let now = Instant::now();
                deadline = held_until(last_burst, window, now);
                if deadline.is_none() {
                    last_burst = Some(now);
                    send_all(&hub, &mut burst);
                }
            }
        }
        self.retire(&key, &hub);
        burst.push(Frame::End);
        send_all(&hub, &mut burst);
    }

    /// Takes `hub` out of the map, if it is still there.
    fn retire(&self, key: &Key, hub: &Arc<Hub>) {
        let mut hubs = lock(&self.hubs);
        if hubs.get(key).is_some_and(|h| Arc::ptr_eq(h, hub)) {
            hubs.remove(key);
            self.metrics.shared_streams.dec();
        }
    }

    /// `hub` lost a member; the last one stops it.
    pub(super) fn leave(&self, key: &Key, hub: &Arc<Hub>) {
        let mut hubs = lock(&self.hubs);
        if hub.members.fetch_sub(1, Ordering::Relaxed) == 1 {
            if hubs.get(key).is_some_and(|h| Arc::ptr_eq(h, hub)) {
                hubs.remove(key);
                self.metrics.shared_streams.dec();
            }
            hub.stop.cancel();
        }
    }
}

/// Per member of a hub, the least time between two bursts; at most
/// [`MAX_WINDOW`]. Each burst costs every member's socket a wake-up and a
/// write (a few microseconds), so the window grows with the members: 1,000
/// members get a burst at most every 5 ms, 10,000 every 50 ms, one member
/// each payload at once. A payload waits only when the previous burst went
/// out less than a window ago: at 20 events/s a hub of 10,000 holds nothing
/// (BENCHMARKS.md, S3), at 200 events/s it sends one burst of ~10 per window.
const WINDOW_PER_MEMBER: Duration = Duration::from_micros(5);

/// The longest a payload is held for others (see [`WINDOW_PER_MEMBER`]).
const MAX_WINDOW: Duration = Duration::from_millis(50);

/// Windows shorter than this are not worth a timer: payloads go out at once.
const MIN_WINDOW: Duration = Duration::from_millis(1);

fn window(members: usize) -> Duration {
    let window = WINDOW_PER_MEMBER
        .saturating_mul(u32::try_from(members).unwrap_or(u32::MAX))
        .min(MAX_WINDOW);
    if window < MIN_WINDOW {
        Duration::ZERO
    } else {
        window
    }
}

/// When a payload rendered at `now` goes out: `None` for at once (no burst
/// went out within the last `window`), else one window after the last burst.
fn held_until(last_burst: Option<Instant>, window: Duration, now: Instant) -> Option<Instant> {
    last_burst.map(|at| at + window).filter(|&next| next > now)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Hands every frame of `burst` to the members.
fn send_all(hub: &Hub, burst: &mut Vec<Frame>) {
    lock(&hub.ring).send(burst.drain(..));
}

/// A place in a hub, before it becomes a [`super::Member`].
pub(super) struct Entry {
    pub(super) frames: async_broadcast::Receiver<Frame>,
    pub(super) after: u64,
    pub(super) pos: async_graphql::Pos,
    pub(super) response_key: String,
    pub(super) membership: Membership,
}

/// Leaves the hub when dropped.
pub(super) struct Membership {
    pub(super) fanout: Fanout,
    pub(super) key: Key,
    pub(super) hub: Arc<Hub>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.fanout.leave(&self.key, &self.hub);
        self.fanout.metrics.subscriptions_active.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_waits_only_for_a_burst_sent_less_than_a_window_ago() {
        let now = Instant::now();
        let window = Duration::from_millis(50);
        assert_eq!(
            held_until(None, window, now),
            None,
            "the first goes at once"
        );
        assert_eq!(
            held_until(Some(now - Duration::from_millis(80)), window, now),
            None,
            "events slower than the window are not held"
        );
        assert_eq!(
            held_until(Some(now - Duration::from_millis(20)), window, now),
            Some(now + Duration::from_millis(30)),
            "one burst per window when events come faster"
        );
        assert_eq!(held_until(Some(now), Duration::ZERO, now), None);
    }

    #[test]
    fn the_window_grows_with_members_up_to_its_cap() {
        assert_eq!(window(1), Duration::ZERO);
        assert_eq!(window(1_000), Duration::from_millis(5));
        assert_eq!(window(10_000), MAX_WINDOW);
        assert_eq!(window(usize::MAX), MAX_WINDOW);
    }
}
