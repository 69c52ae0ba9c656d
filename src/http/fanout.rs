//! Shared subscriptions: every websocket subscriber with the same document,
//! operation, variables and caller receives the same bytes for each event, so
//! the event is executed and serialized once for all of them, not once each.
//!
//! The first subscriber with a [`Key`] starts one async-graphql stream (a
//! hub) and later ones join it; each member gets every payload through the
//! hub's ring and wraps it in its own envelope. What ends a single
//! member (falling behind, its token expiring, unsubscribing) stays with that
//! member; the hub stops when its last member leaves.
//!
//! Which events a member receives: the hub reads live delivery itself and numbers
//! every event it takes from it. A member joining takes, at that instant,
//! everything live delivery has already sent (so it gets a number) and receives
//! exactly the payloads of events numbered after it: nothing committed before
//! it subscribed, everything after, as an unshared subscription would.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_broadcast::RecvError;
use async_graphql::parser::types::{OperationType, Selection};
use async_graphql::{Data, PathSegment, Pos, Request, Response, Variables};
use futures_util::stream::{BoxStream, Stream, StreamExt};
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::auth::Identity;
use crate::graphql::context::Authentication;
use crate::graphql::limits::{self, DocumentLimits};
use crate::graphql::{selected_operation, AppSchema, LiveSource};
use crate::metrics::Metrics;
use crate::service::Caller;
use crate::service::{Live, LiveItem};

/// Everything that can change what a subscription renders: the document as
/// sent (so error locations match it too), the operation, the variables and
/// the caller (its role and uuid decide which activities it sees; the
/// `Activity` fields read nothing of the caller). Token expiry is not part of
/// it: each member ends on its own expiry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    query: String,
    operation_name: Option<String>,
    variables: String,
    caller: Caller,
}

/// A `subscribe` that can be shared, and where its errors point.
pub struct Plan {
    key: Key,
    variables: Variables,
    /// Position of the subscribed field, for the errors that end one member.
    pos: Pos,
    /// The subscribed field's response key (its alias or name), likewise.
    response_key: String,
}

/// The shared subscription for `payload` (a graphql-transport-ws `subscribe`
/// payload) by `caller`, when it can be shared: a single `activityAdded`
/// field of an unambiguous subscription operation, without `after` (a replay
/// is each subscriber's own) and without directives or extensions.
/// Anything else, including documents that do not parse or that are over
/// `documents`' size or token limit (which are not parsed here), is left to
/// the per-subscriber engine, which also reports their errors.
pub fn plan(payload: &Value, caller: Caller, documents: &DocumentLimits) -> Option<Plan> {
    let payload = payload.as_object()?;
    if payload.get("extensions").is_some_and(|e| !e.is_null()) {
        return None;
    }
    let query = payload.get("query")?.as_str()?;
    limits::check_text(query, documents).ok()?;
    let operation_name = match payload.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => return None,
    };
    let variables = match payload.get("variables") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return None,
    };
    let doc = async_graphql::parser::parse_query(query).ok()?;
    if operation_name.is_none() && doc.operations.iter().count() != 1 {
        return None;
    }
    let (_, op) = selected_operation(&doc, operation_name.as_deref())?;
    if op.node.ty != OperationType::Subscription || !op.node.directives.is_empty() {
        return None;
    }
    let [selection] = op.node.selection_set.node.items.as_slice() else {
        return None;
    };
    let Selection::Field(field) = &selection.node else {
        return None;
    };
    if field.node.name.node != "activityAdded" || !field.node.directives.is_empty() {
        return None;
    }
    // `after` with its variables put in: null or absent is a live-only subscription.
    let after = field.node.get_argument("after").map(|arg| {
        arg.node.clone().into_const_with(|name| {
            let value = match variables.get(name.as_str()) {
                Some(value) => async_graphql::Value::from_json(value.clone()).map_err(|_| ())?,
                None => op
                    .node
                    .variable_definitions
                    .iter()
                    .find(|d| d.node.name.node == name)
                    .and_then(|d| d.node.default_value())
                    .cloned()
                    .unwrap_or(async_graphql::Value::Null),
            };
            Ok::<_, ()>(value)
        })
    });
    let after_is_null = match after {
        None => true,
        Some(Ok(value)) => value == async_graphql::Value::Null,
        Some(Err(())) => false,
    };
    if !after_is_null {
        return None;
    }
    let pos = field.pos;
    let response_key = field.node.response_key().node.to_string();
    let variables = Value::Object(variables);
    Some(Plan {
        key: Key {
            query: query.to_owned(),
            operation_name,
            variables: variables.to_string(),
            caller,
        },
        variables: Variables::from_json(variables),
        pos,
        response_key,
    })
}

/// What a hub broadcasts to its members.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    /// A rendered response. `tag` is the number of the event it renders;
    /// `None` for a response no event caused (a request error, or the hub
    /// itself falling behind live delivery), which is its last and goes to every member.
    Event { tag: Option<u64>, payload: Arc<str> },
    /// The shared stream ended (the server is stopping, or it failed).
    End,
}

/// The hubs of one server.
#[derive(Clone)]
pub struct Fanout {
    schema: AppSchema,
    live: Live,
    /// Payloads a member may fall behind by before it is told it lagged.
    capacity: usize,
    /// Where hubs render, whatever runtime the sockets run on.
    runtime: Handle,
    metrics: Arc<Metrics>,
    hubs: Arc<Mutex<HashMap<Key, Arc<Hub>>>>,
}

/// One shared stream.
struct Hub {
    /// Where its frames go: one ring all members read (see [`Ring`]).
    ring: Mutex<Ring>,
    /// Keeps the ring open while the hub has no member.
    _open: async_broadcast::InactiveReceiver<Frame>,
    source: Arc<Mutex<Source>>,
    /// Members now; changed only with the hub map locked.
    members: AtomicUsize,
    stop: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

    /// Joins the hub for `plan`, starting it if there is none.
    pub fn join(&self, plan: Plan) -> Member {
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
        Member {
            frames,
            after,
            done: false,
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
        let source = Arc::new(Mutex::new(Source {
            live: live.boxed(),
            pending: VecDeque::new(),
            taken: 0,
            handed: None,
            exhausted: false,
            waker: None,
        }));
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
            let payload: Arc<str> = serde_json::to_string(&response)
                .unwrap_or_else(|_| {
                    r#"{"data":null,"errors":[{"message":"internal error"}]}"#.into()
                })
                .into();
            if tag.is_none() {
                // Its last response: nobody may join it from now on.
                self.retire(&key, &hub);
                burst.push(Frame::Event { tag, payload });
                break;
            }
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
    fn leave(&self, key: &Key, hub: &Arc<Hub>) {
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

/// Frames a hub's ring starts with room for.
const RING_START: usize = 16;

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
struct Ring {
    frames: async_broadcast::Sender<Frame>,
    /// What a member may fall behind by before it is told it lagged.
    max: usize,
}

impl Ring {
    /// A ring of at most `max` frames, and the receiver that keeps it open.
    fn new(max: usize) -> (Self, async_broadcast::InactiveReceiver<Frame>) {
        let max = max.max(1);
        let (mut frames, receiver) = async_broadcast::broadcast(RING_START.min(max));
        // Full at `max`: the oldest frame goes, and whoever had not read it
        // is told it lagged, as with tokio's broadcast.
        frames.set_overflow(true);
        frames.set_await_active(false);
        (Self { frames, max }, receiver.deactivate())
    }

    fn send(&mut self, frames: impl Iterator<Item = Frame>) {
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

/// The hub's own live stream, numbering what it takes.
struct Source {
    live: BoxStream<'static, LiveItem>,
    /// Taken from the stream for a joining member and not handed out yet.
    pending: VecDeque<(u64, LiveItem)>,
    /// Events taken from the stream so far.
    taken: u64,
    /// The number of the event last handed to the stream; `None` before the
    /// first and after an error (nothing rendered then renders an event).
    handed: Option<u64>,
    /// The stream ended, or an error was handed out: nothing more follows.
    exhausted: bool,
    /// The hub's task, to wake when a joining member took its events.
    waker: Option<Waker>,
}

impl Source {
    /// Numbers everything the stream has already sent and returns the last
    /// number: a member joining now receives what comes after it.
    fn admit(&mut self) -> u64 {
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
struct SourceStream(Arc<Mutex<Source>>);

impl Stream for SourceStream {
    type Item = LiveItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LiveItem>> {
        lock(&self.0).poll_item(cx)
    }
}

/// Leaves the hub when dropped.
struct Membership {
    fanout: Fanout,
    key: Key,
    hub: Arc<Hub>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.fanout.leave(&self.key, &self.hub);
        self.fanout.metrics.subscriptions_active.dec();
    }
}

/// What a member is to send, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// An event's payload.
    Event(Arc<str>),
    /// The stream's last payload, not an event's: it may be a request error.
    Last(Arc<str>),
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
    pub fn error_payload(&self, error: async_graphql::Error) -> String {
        let error = error
            .into_server_error(self.pos)
            .with_path(vec![PathSegment::Field(self.response_key.clone())]);
        serde_json::to_string(&Response::from_errors(vec![error])).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shares(query: &str, variables: Value) -> bool {
        plan(
            &json!({ "query": query, "variables": variables }),
            Caller::SYSTEM,
            &DocumentLimits::default(),
        )
        .is_some()
    }

    #[test]
    fn only_live_single_field_subscriptions_are_shared() {
        let live = "subscription { activityAdded { uuid } }";
        let with_after = "subscription($a: String) { activityAdded(after: $a) { uuid } }";
        let with_default =
            r#"subscription($a: String = "x") { activityAdded(after: $a) { uuid } }"#;
        assert!(shares(live, json!({})));
        assert!(shares(with_after, json!({ "a": null })));
        assert!(shares(with_after, json!({})));
        assert!(!shares(with_after, json!({ "a": "cursor" })));
        assert!(!shares(with_default, json!({})));
        assert!(!shares(
            r#"subscription { activityAdded(after: "c") { uuid } }"#,
            json!({})
        ));
        assert!(!shares(
            "subscription { a: activityAdded { uuid } b: activityAdded { uuid } }",
            json!({})
        ));
        assert!(!shares(
            "subscription { ...F } fragment F on SubscriptionRoot { activityAdded { uuid } }",
            json!({})
        ));
        assert!(!shares(
            "subscription($s: Boolean!) { activityAdded @skip(if: $s) { uuid } }",
            json!({ "s": false })
        ));
        assert!(!shares("query { activityAdded { uuid } }", json!({})));
        assert!(!shares("subscription {", json!({})));
        assert!(!shares(&format!("{live} {live}"), json!({})));
        let apq = json!({ "query": live, "extensions": { "persistedQuery": {} } });
        assert!(plan(&apq, Caller::SYSTEM, &DocumentLimits::default()).is_none());
        let tiny = DocumentLimits {
            max_tokens: 5,
            ..DocumentLimits::default()
        };
        let doc = json!({ "query": live });
        assert!(
            plan(&doc, Caller::SYSTEM, &tiny).is_none(),
            "over the token limit"
        );
    }

    #[test]
    fn the_key_tells_callers_variables_and_names_apart() {
        let key = |payload: Value, caller: Caller| {
            plan(&payload, caller, &DocumentLimits::default()).map(|p| p.key)
        };
        let doc = "subscription S($f: ActivityFilter) { activityAdded(filter: $f) { uuid } }";
        let base = key(
            json!({ "query": doc, "variables": { "f": { "action": "a" } } }),
            Caller::SYSTEM,
        );
        assert!(base.is_some());
        assert_eq!(
            base,
            key(
                json!({ "query": doc, "variables": { "f": { "action": "a" } } }),
                Caller::SYSTEM
            )
        );
        assert_ne!(
            base,
            key(
                json!({ "query": doc, "variables": { "f": { "action": "b" } } }),
                Caller::SYSTEM
            )
        );
        assert_ne!(
            base,
            key(
                json!({ "query": doc, "variables": { "f": { "action": "a" } } }),
                Caller::user(uuid::Uuid::nil())
            )
        );
        assert_ne!(
            base,
            key(
                json!({ "query": doc, "operationName": "S", "variables": { "f": { "action": "a" } } }),
                Caller::SYSTEM
            )
        );
    }

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

    fn event(n: u64) -> Frame {
        Frame::Event {
            tag: Some(n),
            payload: n.to_string().into(),
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

    #[test]
    fn the_window_grows_with_members_up_to_its_cap() {
        assert_eq!(window(1), Duration::ZERO);
        assert_eq!(window(1_000), Duration::from_millis(5));
        assert_eq!(window(10_000), MAX_WINDOW);
        assert_eq!(window(usize::MAX), MAX_WINDOW);
    }
}
