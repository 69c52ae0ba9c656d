//! GraphQL over websockets: async-graphql runs the operations, and a thin
//! guard in front of it enforces what graphql-transport-ws requires of a
//! server (close codes 4400, 4401, 4403, 4408, 4409, 4429; request errors as
//! one `error` message), authenticates `connection_init`, and holds every
//! socket, legacy ones too, to its limits: the init timeout, the message
//! size, and the operations it may run at once.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_graphql::http::{WebSocket as Engine, WebSocketProtocols, WsMessage};
use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, Stream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamMap;

use super::fanout::{self, Delivery, Member};
use super::AppState;
use crate::auth::Identity;
use crate::graphql::context::Authentication;
use crate::graphql::error::TOO_MANY_SUBSCRIPTIONS;
use crate::graphql::{limits, subscription};
use crate::ratelimit::Bucket;
use crate::service::RequestContext;

/// The protocol a client asked for in `Sec-WebSocket-Protocol`; the current
/// graphql-transport-ws when it named none we speak.
pub fn negotiate(requested: Option<&str>) -> WebSocketProtocols {
    requested
        .into_iter()
        .flat_map(|h| h.split(','))
        .find_map(|p| p.trim().parse().ok())
        .unwrap_or(WebSocketProtocols::GraphQLWS)
}

/// What the guard says about a client message.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Hand it to the engine.
    Forward,
    /// Close the socket with this code and reason.
    Close(u16, String),
    /// Answer the client with this message, and hand nothing to the engine.
    Reply(String),
}

/// The graphql-transport-ws rules the engine does not enforce by itself,
/// and the limits of one socket under either protocol.
#[derive(Debug, Default)]
struct Guard {
    /// Whether the legacy protocol is spoken: then everything passes through
    /// but `connection_ack`, which ends the init timeout, and the count of
    /// operations, which the cap bounds.
    legacy: bool,
    init_received: bool,
    acknowledged: bool,
    /// The most operations one socket may run at once.
    max_operations: usize,
    /// Operations started and not yet completed.
    active: HashSet<String>,
    /// Operations answered with an `error` message, whose `complete` from
    /// the engine must not follow it.
    errored: HashSet<String>,
}

fn invalid() -> Verdict {
    Verdict::Close(4400, "Invalid message received".into())
}

impl Guard {
    /// A guard for a socket speaking the legacy protocol or not, which may
    /// run at most `max_operations` operations at once.
    fn new(legacy: bool, max_operations: usize) -> Self {
        Self {
            legacy,
            max_operations,
            ..Self::default()
        }
    }

    /// Starts operation `id` unless the socket already runs as many as it
    /// may; then the reply refuses it, and the socket stays open.
    fn start(&mut self, id: &str) -> Verdict {
        if self.active.len() >= self.max_operations {
            return Verdict::Reply(too_many_operations(id, self.max_operations, self.legacy));
        }
        self.active.insert(id.to_owned());
        Verdict::Forward
    }

    /// What the legacy protocol's client says: only starts and stops are counted.
    fn legacy_client(&mut self, text: &str) -> Verdict {
        #[derive(serde::Deserialize)]
        struct Envelope<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            id: Option<&'a str>,
        }
        // The engine answers what does not parse.
        let Ok(msg) = serde_json::from_str::<Envelope>(text) else {
            return Verdict::Forward;
        };
        match (msg.kind, msg.id) {
            ("start", Some(id)) if !self.active.contains(id) => self.start(id),
            ("stop", Some(id)) => {
                self.active.remove(id);
                Verdict::Forward
            }
            _ => Verdict::Forward,
        }
    }

    /// What the legacy protocol's engine says: the ack, and operations it ended.
    fn legacy_server(&mut self, text: String) -> Option<String> {
        // Data is most of what is sent, and changes nothing here.
        if text.starts_with(r#"{"type":"data""#) {
            return Some(text);
        }
        #[derive(serde::Deserialize)]
        struct Envelope<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            id: Option<&'a str>,
        }
        if let Ok(msg) = serde_json::from_str::<Envelope>(&text) {
            match (msg.kind, msg.id) {
                ("connection_ack", _) => self.acknowledged = true,
                ("complete" | "error", Some(id)) => {
                    self.active.remove(id);
                }
                _ => {}
            }
        }
        Some(text)
    }

    fn client(&mut self, text: &str) -> Verdict {
        if self.legacy {
            return self.legacy_client(text);
        }
        let Ok(Value::Object(msg)) = serde_json::from_str::<Value>(text) else {
            return invalid();
        };
        let id = msg
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty());
        match msg.get("type").and_then(Value::as_str) {
            Some("connection_init") if self.init_received => {
                Verdict::Close(4429, "Too many initialisation requests".into())
            }
            Some("connection_init") => {
                self.init_received = true;
                Verdict::Forward
            }
            Some("ping" | "pong") => Verdict::Forward,
            Some("subscribe") => {
                if !self.acknowledged {
                    return Verdict::Close(4401, "Unauthorized".into());
                }
                let has_query = msg
                    .get("payload")
                    .and_then(|p| p.get("query"))
                    .is_some_and(Value::is_string);
                let Some(id) = id.filter(|_| has_query) else {
                    return invalid();
                };
                if self.active.contains(id) {
                    return Verdict::Close(4409, format!("Subscriber for {id} already exists"));
                }
                self.start(id)
            }
            Some("complete") => match id {
                Some(id) => {
                    self.active.remove(id);
                    Verdict::Forward
                }
                None => invalid(),
            },
            _ => invalid(),
        }
    }

    /// The server message to pass on, if any; notes acks and finished operations.
    fn server(&mut self, text: String) -> Option<String> {
        if self.legacy {
            return self.legacy_server(text);
        }
        if text.starts_with(r#"{"type":"next""#) {
            // The engine answers a request that never executed (a parse or
            // validation error, bad variables) with `next` + `complete`; the
            // protocol wants one `error` message carrying the errors instead.
            // The substring test keeps the parse off the per-event path.
            if text.contains(r#""payload":{"data":null,"errors":"#) {
                if let Some((id, error)) = request_error(&text) {
                    self.active.remove(&id);
                    self.errored.insert(id);
                    return Some(error);
                }
            }
            return Some(text);
        }
        #[derive(serde::Deserialize)]
        struct Envelope<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            id: Option<&'a str>,
        }
        let Ok(msg) = serde_json::from_str::<Envelope>(&text) else {
            return Some(text);
        };
        let pass = match (msg.kind, msg.id) {
            ("connection_ack", _) => {
                self.acknowledged = true;
                true
            }
            // An `error` already ended it.
            ("complete", Some(id)) if self.errored.remove(id) => false,
            // The client completed it itself: the protocol wants no echo.
            ("complete", Some(id)) => self.active.remove(id),
            ("error", Some(id)) => {
                self.active.remove(id);
                true
            }
            _ => true,
        };
        pass.then_some(text)
    }
}

/// For a `next` message that reports a request error (no data, and errors
/// that point at no field, as for parse and validation failures), its
/// operation id and the graphql-transport-ws `error` message to send instead.
fn request_error(next: &str) -> Option<(String, String)> {
    let msg: Value = serde_json::from_str(next).ok()?;
    let id = msg.get("id")?.as_str()?;
    let payload = msg.get("payload")?;
    let errors = payload.get("errors")?.as_array()?;
    let before_execution = payload.get("data").is_some_and(Value::is_null)
        && !errors.is_empty()
        && errors.iter().all(|e| e.get("path").is_none());
    before_execution.then(|| {
        let error = serde_json::json!({ "id": id, "type": "error", "payload": errors });
        (id.to_owned(), error.to_string())
    })
}

/// The refusal of operation `id`, the one too many for a socket that may
/// run `max` at once: an `error` message for that operation alone, in the
/// shape of the socket's protocol.
fn too_many_operations(id: &str, max: usize, legacy: bool) -> String {
    let error = serde_json::json!({
        "message": format!("a websocket may run at most {max} subscriptions at once; complete one first"),
        "extensions": { "code": TOO_MANY_SUBSCRIPTIONS },
    });
    // graphql-transport-ws sends a list of errors, the legacy protocol one.
    let payload = if legacy {
        error
    } else {
        Value::Array(vec![error])
    };
    serde_json::json!({ "id": id, "type": "error", "payload": payload }).to_string()
}

/// The most bytes of reason a Close frame may carry: a control frame's
/// payload is at most 125 bytes (RFC 6455, 5.5), and the code takes two.
/// Strict clients fail the whole connection on a longer one (Python's
/// `websockets` with 1002, browsers with 1006) and never see the code.
const MAX_CLOSE_REASON: usize = 123;

/// `reason` cut to [`MAX_CLOSE_REASON`] bytes, on a character boundary.
fn close_reason(mut reason: String) -> String {
    if reason.len() > MAX_CLOSE_REASON {
        let mut end = MAX_CLOSE_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// Sends a Close frame; every close of the server goes through here, so
/// every reason is cut to fit.
async fn close(sink: &mut (impl SinkExt<Message> + Unpin), code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: close_reason(reason).into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// Counts a websocket as open until it is dropped.
struct OpenSocket(std::sync::Arc<crate::metrics::Metrics>);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.websockets.dec();
    }
}

/// Bytes of messages a socket takes from its subscriptions before writing
/// them: one flush (one write) carries them all, and other sockets get their
/// turn. What waits beyond it stays in the hub's shared buffer rather than
/// in a copy per socket: 10,000 sockets that each held 64 messages at once
/// held 400 MiB between them.
const WRITE_BATCH_BYTES: usize = 4096;

/// Bytes of text in `out`.
fn batched(out: &[Message]) -> usize {
    out.iter()
        .map(|m| match m {
            Message::Text(text) => text.len(),
            _ => 0,
        })
        .sum()
}

/// A subscription this socket runs itself (graphql-transport-ws only).
enum Operation {
    /// A member of a stream shared with other subscribers.
    Shared(Box<Member>),
    /// A stream of its own: a replaying subscription, a query or mutation
    /// sent as `subscribe`, or a document that cannot be shared.
    Own {
        responses: BoxStream<'static, async_graphql::Response>,
        done: bool,
    },
}

impl Stream for Operation {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Delivery>> {
        match &mut *self {
            Operation::Shared(member) => member.poll_next_unpin(cx),
            Operation::Own { done: true, .. } => Poll::Ready(None),
            Operation::Own { responses, done } => match responses.poll_next_unpin(cx) {
                Poll::Ready(Some(response)) => {
                    let payload = serde_json::to_string(&response).unwrap_or_else(|_| {
                        r#"{"data":null,"errors":[{"message":"internal error"}]}"#.into()
                    });
                    Poll::Ready(Some(Delivery::Last(payload.into())))
                }
                Poll::Ready(None) => {
                    *done = true;
                    Poll::Ready(Some(Delivery::End))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// What the loop does after a step.
enum Flow {
    Continue,
    /// Close with this code and reason.
    Close(u16, String),
    /// The client closed: finish the closing handshake.
    Hangup,
    /// Stop without a word (the client is gone).
    Stop,
}

/// A graphql-transport-ws `next` message with `payload` (JSON) for operation `id`.
fn next_message(id: &str, payload: &str) -> String {
    let id = serde_json::to_string(id).unwrap_or_default();
    format!(r#"{{"type":"next","id":{id},"payload":{payload}}}"#)
}

/// A graphql-transport-ws `complete` message for operation `id`.
fn complete_message(id: &str) -> String {
    serde_json::json!({ "type": "complete", "id": id }).to_string()
}

/// What the client sees of one delivery, in order; the guard sees what it must.
fn deliver(
    id: &str,
    delivery: Delivery,
    op: Option<&Operation>,
    guard: &mut Guard,
    out: &mut Vec<Message>,
) {
    let mut push = |text: String| out.push(Message::Text(text.into()));
    match delivery {
        // Data of an event: nothing for the guard to see.
        Delivery::Event(payload) => push(next_message(id, &payload)),
        Delivery::Last(payload) => {
            if let Some(text) = guard.server(next_message(id, &payload)) {
                push(text);
            }
        }
        Delivery::End => {
            if let Some(text) = guard.server(complete_message(id)) {
                push(text);
            }
        }
        Delivery::Lagged(missed) => {
            if let Some(Operation::Shared(member)) = op {
                push(next_message(
                    id,
                    &member.error_payload(subscription::lagged(missed)),
                ));
            }
            if let Some(text) = guard.server(complete_message(id)) {
                push(text);
            }
        }
    }
}

/// Runs one GraphQL websocket until either side closes it or the server stops.
///
/// async-graphql's engine answers `connection_init` and pings, and runs
/// everything on the legacy protocol; graphql-transport-ws subscriptions
/// run here, so that identical ones can share one stream ([`Fanout`]) and a
/// socket's messages go out in batches, one write each.
pub async fn serve(
    socket: WebSocket,
    state: AppState,
    protocol: WebSocketProtocols,
    upgrade_authorization: Option<String>,
    context: Option<RequestContext>,
) {
    state.metrics.websockets.inc();
    let _open = OpenSocket(state.metrics.clone());
    let (mut sink, mut source) = socket.split();
    let (to_engine, engine_input) = mpsc::channel::<String>(8);
    let refused = Arc::new(AtomicBool::new(false));
    let identity: Arc<Mutex<Option<Identity>>> = Arc::default();

    let auth = state.auth.clone();
    let limited = state.rate_limits.is_on();
    let (refused_in, identity_in, context_in) =
        (refused.clone(), identity.clone(), context.clone());
    let mut engine = Engine::new(
        state.schema.clone(),
        ReceiverStream::new(engine_input),
        protocol,
    )
    .on_connection_init(move |payload: Value| async move {
        let from_payload = ["Authorization", "authorization"]
            .iter()
            .find_map(|k| payload.get(*k).and_then(Value::as_str).map(str::to_owned))
            .or_else(|| {
                let token = payload.get("token").and_then(Value::as_str)?;
                Some(format!("Bearer {token}"))
            });
        match auth
            .authenticate(from_payload.or(upgrade_authorization).as_deref())
            .await
        {
            Ok(identity) => {
                *identity_in.lock().unwrap_or_else(|e| e.into_inner()) = Some(identity);
                Ok(session_data(identity, context_in, limited))
            }
            Err(e) => {
                refused_in.store(true, Ordering::Relaxed);
                Err(async_graphql::Error::new(format!("Forbidden: {e}")))
            }
        }
    });

    let mut guard = Guard::new(
        protocol == WebSocketProtocols::SubscriptionsTransportWS,
        state.limits.max_subscriptions_per_socket,
    );
    let init_deadline = tokio::time::sleep(state.limits.ws_init_timeout);
    tokio::pin!(init_deadline);
    // At shutdown the socket closes with 1012 (service restart) and its
    // subscriptions are not completed: graphql-ws clients take `complete`
    // as the end of a subscription and do not resubscribe, while a close
    // with 1012 makes them reconnect (and resume with `after`).
    let stopping = state.shutdown.cancelled();
    tokio::pin!(stopping);
    let mut expiry_check = tokio::time::interval(Duration::from_secs(1));
    let mut operations: StreamMap<String, Operation> = StreamMap::new();
    // When the token of the shared subscriptions expires: they end then, as
    // their own streams would have.
    let shared_expiry = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(shared_expiry);
    let mut shared_expiry_armed = false;
    let mut out: Vec<Message> = Vec::new();
    let current =
        |identity: &Mutex<Option<Identity>>| *identity.lock().unwrap_or_else(|e| e.into_inner());

    loop {
        let flow = tokio::select! {
            incoming = source.next() => match incoming {
                Some(Ok(Message::Text(text))) => match guard.client(text.as_str()) {
                    Verdict::Forward if !guard.legacy => {
                        match own(text.as_str(), current(&identity), &state, context.as_ref(), &mut operations) {
                            Own::Started { shared: Some(expires_at) } => {
                                if !shared_expiry_armed {
                                    let left = (expires_at - Utc::now()).to_std().unwrap_or_default();
                                    shared_expiry.as_mut().reset(Instant::now() + left);
                                    shared_expiry_armed = true;
                                }
                                Flow::Continue
                            }
                            Own::Started { shared: None } | Own::Done => Flow::Continue,
                            Own::Refused(reason) => Flow::Close(1002, reason),
                            Own::Reply(text) => {
                                // Through the guard, which ends the operation's id.
                                if let Some(text) = guard.server(text) {
                                    out.push(Message::Text(text.into()));
                                }
                                Flow::Continue
                            }
                            Own::Engine => match to_engine.send(text.as_str().to_owned()).await {
                                Ok(()) => Flow::Continue,
                                Err(_) => Flow::Stop,
                            },
                        }
                    }
                    Verdict::Forward => match to_engine.send(text.as_str().to_owned()).await {
                        Ok(()) => Flow::Continue,
                        Err(_) => Flow::Stop,
                    },
                    Verdict::Close(code, reason) => Flow::Close(code, reason),
                    Verdict::Reply(text) => {
                        out.push(Message::Text(text.into()));
                        Flow::Continue
                    }
                },
                Some(Ok(Message::Binary(_))) => Flow::Close(4400, "Binary messages are not supported".into()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                // The library queued the closing handshake's reply; it goes
                // out on the next write, so flush it before leaving (without
                // it, clients see 1006 instead of their own code).
                Some(Ok(Message::Close(_))) => Flow::Hangup,
                // A message over the size limit is refused before it is
                // read (RFC 6455's 1009); other read errors end the socket.
                Some(Err(error)) if too_big(&error) => Flow::Close(1009, "Message too big".into()),
                Some(Err(_)) | None => Flow::Stop,
            },
            outgoing = engine.next() => {
                let mut flow = from_engine(outgoing, &mut guard, &refused, &mut out);
                while matches!(flow, Flow::Continue) && batched(&out) < WRITE_BATCH_BYTES {
                    match engine.next().now_or_never() {
                        Some(outgoing) => flow = from_engine(outgoing, &mut guard, &refused, &mut out),
                        None => break,
                    }
                }
                flow
            }
            Some((id, delivery)) = operations.next(), if !operations.is_empty() => {
                deliver(&id, delivery, operations.iter().find(|(k, _)| *k == id).map(|(_, op)| op), &mut guard, &mut out);
                while batched(&out) < WRITE_BATCH_BYTES {
                    match operations.next().now_or_never() {
                        Some(Some((id, delivery))) => {
                            let op = operations.iter().find(|(k, _)| *k == id).map(|(_, op)| op);
                            deliver(&id, delivery, op, &mut guard, &mut out);
                        }
                        _ => break,
                    }
                }
                Flow::Continue
            }
            _ = &mut init_deadline, if !guard.acknowledged => {
                Flow::Close(4408, "Connection initialisation timeout".into())
            }
            () = &mut shared_expiry, if shared_expiry_armed => {
                shared_expiry_armed = false;
                let ids: Vec<String> = operations
                    .iter()
                    .filter(|(_, op)| matches!(op, Operation::Shared(_)))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in ids {
                    if let Some(Operation::Shared(member)) = operations.remove(&id) {
                        // Like the resolver's expiry: the error, and no
                        // `complete`, as the socket closes right after.
                        out.push(Message::Text(next_message(&id, &member.error_payload(subscription::expired())).into()));
                    }
                }
                Flow::Continue
            }
            _ = expiry_check.tick() => {
                let expired = current(&identity)
                    .and_then(|i| i.expires_at)
                    .is_some_and(|at| at < Utc::now());
                if expired {
                    Flow::Close(4403, "Forbidden: the token has expired".into())
                } else {
                    Flow::Continue
                }
            }
            _ = &mut stopping => Flow::Close(1012, "Server restarting".into()),
        };
        if !out.is_empty() {
            let mut written = true;
            for message in out.drain(..) {
                if sink.feed(message).await.is_err() {
                    written = false;
                    break;
                }
            }
            if !written || sink.flush().await.is_err() {
                break;
            }
            out.clear();
        }
        match flow {
            Flow::Continue => {}
            Flow::Close(code, reason) => {
                close(&mut sink, code, reason).await;
                break;
            }
            Flow::Hangup => {
                let _ = sink.close().await;
                break;
            }
            Flow::Stop => break,
        }
    }
}

/// Whether a read failed because the message or a frame of it is larger
/// than the socket allows.
fn too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|cause| cause.downcast_ref::<tungstenite::Error>())
        .is_some_and(|cause| matches!(cause, tungstenite::Error::Capacity(_)))
}

/// The data every operation of an authenticated socket runs with.
fn session_data(identity: Identity, context: Option<RequestContext>, limited: bool) -> Data {
    let mut data = Data::default();
    data.insert(Authentication(Ok(identity)));
    // Each operation is charged to the socket's token.
    if limited {
        data.insert(Bucket::of(Some(&identity), None));
    }
    // Mutations over the socket record where it was opened from.
    if let Some(context) = context {
        data.insert(context);
    }
    data
}

/// What became of a graphql-transport-ws client message the guard let through.
enum Own {
    /// A subscription started here; `shared` holds when its token expires,
    /// for a shared one whose token does.
    Started { shared: Option<DateTime<Utc>> },
    /// Handled here, nothing more to do.
    Done,
    /// For the engine (`connection_init`, `ping`, `pong`).
    Engine,
    /// A `subscribe` whose payload is not a request: close with 1002, as the engine does.
    Refused(String),
    /// A server message that ends the operation (an `error`), to send as it is.
    Reply(String),
}

/// Starts `subscribe`s (shared when they can be) and ends them on `complete`.
fn own(
    text: &str,
    identity: Option<Identity>,
    state: &AppState,
    context: Option<&RequestContext>,
    operations: &mut StreamMap<String, Operation>,
) -> Own {
    #[derive(serde::Deserialize)]
    struct ClientMessage {
        #[serde(rename = "type")]
        kind: String,
        id: Option<String>,
        payload: Option<Value>,
    }
    let Ok(msg) = serde_json::from_str::<ClientMessage>(text) else {
        return Own::Engine;
    };
    match (msg.kind.as_str(), msg.id, identity) {
        ("subscribe", Some(id), Some(identity)) => {
            let payload = msg.payload.unwrap_or_default();
            let unexpired = identity.expires_at.is_none_or(|at| at > Utc::now());
            // Untrusted documents go to the engine, which refuses them.
            let trusted = state.trusted.as_ref().is_none_or(|trusted| {
                payload
                    .get("query")
                    .and_then(Value::as_str)
                    .is_some_and(|query| trusted.trusts_text(query))
            });
            let plan = (unexpired && trusted)
                .then(|| fanout::plan(&payload, identity.caller, &state.limits.documents()))
                .flatten();
            if let Some(plan) = plan {
                // A shared stream is not validated per subscriber; joining
                // one costs what starting its one statement does.
                let bucket = Bucket::of(Some(&identity), None);
                if let Err(refused) = state.rate_limits.charge(&bucket, limits::STATEMENT) {
                    state.metrics.rate_limited(bucket.kind());
                    let error = crate::graphql::error::rate_limited(
                        limits::STATEMENT,
                        refused.retry_after_secs(),
                    );
                    let message =
                        serde_json::json!({ "id": id, "type": "error", "payload": [error] });
                    return Own::Reply(message.to_string());
                }
                operations.insert(id, Operation::Shared(Box::new(state.fanout.join(plan))));
                return Own::Started {
                    shared: identity.expires_at,
                };
            }
            let request = match serde_json::from_value::<async_graphql::Request>(payload) {
                Ok(request) => request,
                Err(e) => return Own::Refused(e.to_string()),
            };
            let data = session_data(identity, context.cloned(), state.rate_limits.is_on());
            let mut responses = state
                .schema
                .execute_stream_with_session_data(request, Arc::new(data));
            // Run it up to its first wait now, so that it listens before
            // this socket's next message is read, as the engine did.
            let first = responses.next().now_or_never();
            let responses = match first {
                None => responses,
                Some(Some(first)) => futures_util::stream::once(async move { first })
                    .chain(responses)
                    .boxed(),
                Some(None) => futures_util::stream::empty().boxed(),
            };
            operations.insert(
                id,
                Operation::Own {
                    responses,
                    done: false,
                },
            );
            Own::Started { shared: None }
        }
        ("complete", Some(id), _) => {
            // The client's own `complete` is not echoed.
            operations.remove(&id);
            Own::Done
        }
        _ => Own::Engine,
    }
}

/// Passes one engine message on; says when the socket must close.
fn from_engine(
    outgoing: Option<WsMessage>,
    guard: &mut Guard,
    refused: &AtomicBool,
    out: &mut Vec<Message>,
) -> Flow {
    match outgoing {
        Some(WsMessage::Text(text)) => {
            if let Some(text) = guard.server(text) {
                out.push(Message::Text(text.into()));
            }
            Flow::Continue
        }
        Some(WsMessage::Close(code, reason)) => {
            // The engine closes a refused connection_init with 1002; the protocol says 4403.
            let code = if refused.load(Ordering::Relaxed) && !guard.legacy {
                4403
            } else {
                code
            };
            Flow::Close(code, reason)
        }
        None => {
            if guard.legacy && refused.load(Ordering::Relaxed) {
                Flow::Close(4403, "Forbidden".into())
            } else {
                Flow::Stop
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked() -> Guard {
        let mut g = Guard::new(false, 8);
        assert_eq!(g.client(r#"{"type":"connection_init"}"#), Verdict::Forward);
        assert!(passes(&mut g, r#"{"type":"connection_ack"}"#));
        g
    }

    fn passes(g: &mut Guard, text: &str) -> bool {
        g.server(text.to_owned()).is_some()
    }

    fn code(v: Verdict) -> u16 {
        match v {
            Verdict::Close(code, _) => code,
            Verdict::Forward | Verdict::Reply(_) => 0,
        }
    }

    const SUB: &str = r#"{"type":"subscribe","id":"1","payload":{"query":"subscription { x }"}}"#;

    #[test]
    fn subscribe_before_ack_is_unauthorized() {
        let mut g = Guard::new(false, 8);
        assert_eq!(code(g.client(SUB)), 4401);
    }

    #[test]
    fn duplicate_id_and_second_init_are_refused() {
        let mut g = acked();
        assert_eq!(g.client(SUB), Verdict::Forward);
        assert_eq!(code(g.client(SUB)), 4409);
        let mut g = acked();
        assert_eq!(code(g.client(r#"{"type":"connection_init"}"#)), 4429);
    }

    #[test]
    fn malformed_messages_are_4400() {
        let mut g = acked();
        for bad in [
            "nope",
            "[]",
            r#"{"type":"wat"}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"complete"}"#,
        ] {
            assert_eq!(code(g.client(bad)), 4400, "{bad}");
        }
    }

    #[test]
    fn id_is_reusable_after_complete_and_client_complete_is_not_echoed() {
        let mut g = acked();
        assert_eq!(g.client(SUB), Verdict::Forward);
        assert_eq!(
            g.client(r#"{"type":"complete","id":"1"}"#),
            Verdict::Forward
        );
        assert!(!passes(&mut g, r#"{"type":"complete","id":"1"}"#));
        assert_eq!(g.client(SUB), Verdict::Forward);
        assert!(passes(&mut g, r#"{"type":"complete","id":"1"}"#));
    }

    #[test]
    fn request_errors_are_one_error_message_without_complete() {
        let mut g = acked();
        assert_eq!(g.client(SUB), Verdict::Forward);
        let next = r#"{"type":"next","id":"1","payload":{"data":null,"errors":[{"message":"Unknown field","locations":[{"line":1,"column":16}]}]}}"#;
        let error: Value = serde_json::from_str(&g.server(next.to_owned()).unwrap()).unwrap();
        assert_eq!(
            error,
            serde_json::json!({ "id": "1", "type": "error", "payload": [
                { "message": "Unknown field", "locations": [{ "line": 1, "column": 16 }] }
            ]})
        );
        assert!(!passes(&mut g, r#"{"type":"complete","id":"1"}"#));
        // The operation is over: its id may be used again, and is completed normally.
        assert_eq!(g.client(SUB), Verdict::Forward);
        assert!(passes(&mut g, r#"{"type":"complete","id":"1"}"#));

        // Errors raised while executing point at a field: they stay `next`.
        let executed = r#"{"type":"next","id":"2","payload":{"data":null,"errors":[{"message":"bad cursor","path":["activityAdded"]}]}}"#;
        assert_eq!(g.server(executed.to_owned()).as_deref(), Some(executed));
        let data = r#"{"type":"next","id":"2","payload":{"data":{"a":1}}}"#;
        assert_eq!(g.server(data.to_owned()).as_deref(), Some(data));
    }

    #[test]
    fn close_reasons_are_cut_to_123_bytes_on_a_character_boundary() {
        assert_eq!(close_reason("short".into()), "short");
        assert_eq!(close_reason("a".repeat(123)).len(), 123);
        assert_eq!(close_reason("a".repeat(500)).len(), 123);
        // 'é' is two bytes: 61 of them are 122, the 62nd would end at 124.
        let cut = close_reason("é".repeat(100));
        assert_eq!(cut, "é".repeat(61));
        let cut = close_reason(format!("x{}", "€".repeat(60)));
        assert!(cut.len() <= 123 && cut.ends_with('€'), "{cut}");
    }

    #[test]
    fn operations_beyond_the_cap_are_refused_one_by_one() {
        let mut g = Guard::new(false, 1);
        assert_eq!(g.client(r#"{"type":"connection_init"}"#), Verdict::Forward);
        assert!(passes(&mut g, r#"{"type":"connection_ack"}"#));
        assert_eq!(g.client(SUB), Verdict::Forward);
        let second = SUB.replace(r#""id":"1""#, r#""id":"2""#);
        let Verdict::Reply(refusal) = g.client(&second) else {
            panic!("the second subscription was not refused");
        };
        let refusal: Value = serde_json::from_str(&refusal).unwrap();
        assert_eq!(refusal["type"], "error");
        assert_eq!(refusal["id"], "2");
        assert_eq!(
            refusal["payload"][0]["extensions"]["code"],
            TOO_MANY_SUBSCRIPTIONS
        );
        // A completed operation frees its place.
        assert!(passes(&mut g, r#"{"type":"complete","id":"1"}"#));
        assert_eq!(g.client(&second), Verdict::Forward);
    }

    #[test]
    fn the_legacy_protocol_is_acknowledged_and_capped_too() {
        let mut g = Guard::new(true, 1);
        assert_eq!(g.client(r#"{"type":"connection_init"}"#), Verdict::Forward);
        assert!(!g.acknowledged);
        assert!(passes(&mut g, r#"{"type":"connection_ack"}"#));
        assert!(g.acknowledged);
        let start = |id: &str| {
            format!(
                r#"{{"type":"start","id":"{id}","payload":{{"query":"subscription {{ x }}"}}}}"#
            )
        };
        assert_eq!(g.client(&start("1")), Verdict::Forward);
        let Verdict::Reply(refusal) = g.client(&start("2")) else {
            panic!("the second subscription was not refused");
        };
        let refusal: Value = serde_json::from_str(&refusal).unwrap();
        assert_eq!(
            refusal["payload"]["extensions"]["code"],
            TOO_MANY_SUBSCRIPTIONS
        );
        assert_eq!(g.client(r#"{"type":"stop","id":"1"}"#), Verdict::Forward);
        assert_eq!(g.client(&start("2")), Verdict::Forward);
        assert!(passes(&mut g, r#"{"type":"complete","id":"2"}"#));
        assert_eq!(g.client(&start("3")), Verdict::Forward);
    }

    #[test]
    fn negotiates_protocols() {
        assert_eq!(
            negotiate(Some("graphql-ws")),
            WebSocketProtocols::SubscriptionsTransportWS
        );
        assert_eq!(
            negotiate(Some("foo, graphql-transport-ws")),
            WebSocketProtocols::GraphQLWS
        );
        assert_eq!(negotiate(None), WebSocketProtocols::GraphQLWS);
    }
}
