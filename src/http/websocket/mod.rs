//! GraphQL over websockets, graphql-transport-ws and the legacy graphql-ws:
//! the upgrade, and the loop that carries one socket's messages between the
//! client, the protocol machine ([`protocol`]), the session ([`session`])
//! and the operations ([`operations`]), writing what goes out in batches.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequestParts, Request, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::time::Instant;

use self::operations::Operations;
use self::protocol::{Action, Actions, Event, Machine, Protocol, ServerMessage, Timer};
use self::session::Session;
use super::bearer::Authorization;
use super::{client, AppState};
use crate::auth::Identity;
use crate::config::Origin;
use crate::service::RequestContext;

/// Running operations and reporting what became of them.
pub mod operations;
/// The messages of both protocols and the state machine that applies their rules.
pub mod protocol;
/// Authentication, and the timer that ends a session.
pub mod session;

/// Bytes each websocket reads at a time.
const SOCKET_READ_BUFFER: usize = 4096;

/// Bytes a websocket gathers before writing them out.
const SOCKET_WRITE_BUFFER: usize = 4096;

/// Bytes of messages a socket takes from its operations before writing
/// them: one flush (one write) carries them all, and other sockets get their
/// turn. What waits beyond it stays in the hub's shared buffer rather than
/// in a copy per socket: 10,000 sockets that each held 64 messages at once
/// held 400 MiB between them.
const WRITE_BATCH_BYTES: usize = 4096;

/// Upgrades to a GraphQL websocket, speaking the first protocol of
/// `Sec-WebSocket-Protocol` that is spoken here.
pub async fn upgrade(state: AppState, authorization: Authorization, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let requested = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    let protocol = Protocol::negotiate(requested);
    let context = client::request_context(&state.context, &parts.headers, &parts.extensions);
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    if !origin_allowed(&parts.headers, &state.limits.cors_origins) {
        return (
            StatusCode::FORBIDDEN,
            "cross-origin websocket refused: its Origin is neither this server nor in CORS_ORIGINS",
        )
            .into_response();
    }
    // Refused before the upgrade, so a client at the cap sees a plain 503.
    let Ok(slot) = state.socket_slots.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many open websockets").into_response();
    };
    let sockets = state.sockets.clone();
    let threads = state.delivery.handle();
    upgrade
        .protocols([protocol.name()])
        // Subscribers send a few small messages; tungstenite's 128 KiB default
        // read buffer is zeroed before every read and held per socket, which
        // the benchmark's profile showed dominating memory and CPU at 1,000
        // subscribers (BENCHMARKS.md). Larger messages still arrive whole.
        .read_buffer_size(SOCKET_READ_BUFFER)
        // The write buffer keeps the capacity of its largest batch for as
        // long as the socket is open: a burst to 10,000 sockets would keep
        // tens of KiB on each (tungstenite's threshold is 128 KiB). Batches
        // above this go out in several writes.
        .write_buffer_size(SOCKET_WRITE_BUFFER)
        // A message is held whole before it is read, so the body limit holds
        // here too: without it tungstenite's 64 MiB applied, and one
        // unauthenticated 15 MB `connection_init` took 800 MB.
        .max_message_size(state.limits.max_body_bytes)
        .max_frame_size(state.limits.max_body_bytes)
        .on_upgrade(move |socket| {
            sockets.track_future(async move {
                let served = serve(socket, state, protocol, authorization.0, context);
                // A socket that panicked is closed; the server goes on.
                let _ = threads.spawn(served).await;
                drop(slot);
            })
        })
}

/// Whether a websocket upgrade may be served to the page that asks for it.
///
/// Browsers let any page open a websocket to any address and send the
/// page's `Origin`; no CORS check stops it, and a socket needs no token in
/// open development mode. So a browser's upgrade is served only from this
/// server's own origin (the `Origin`'s host and port are the `Host` it
/// called) or one listed in `CORS_ORIGINS`. Clients that are not browsers
/// send no `Origin` and are not affected; `Origin: null` (sandboxed pages,
/// files) is refused.
fn origin_allowed(headers: &HeaderMap, allowed: &[Origin]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(|o| o.parse::<Origin>().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    host.is_some_and(|h| h.eq_ignore_ascii_case(origin.authority())) || allowed.contains(&origin)
}

/// Counts a websocket as open until it is dropped.
struct OpenSocket(std::sync::Arc<crate::metrics::Metrics>);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.websockets.dec();
    }
}

/// Messages waiting for the next write, and their bytes.
#[derive(Default)]
struct Outbox {
    messages: Vec<Message>,
    bytes: usize,
    /// The Close decided, sent after the messages.
    close: Option<(u16, String)>,
}

impl Outbox {
    fn push(&mut self, message: &ServerMessage) {
        let text = message.to_text();
        self.bytes += text.len();
        self.messages.push(Message::Text(text.into()));
    }

    fn full(&self) -> bool {
        self.bytes >= WRITE_BATCH_BYTES
    }
}

/// How the loop goes on after a step.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// The client closed: finish the closing handshake.
    Hangup,
    /// Stop without a word (the client is gone).
    Stop,
}

/// One socket's parts, between two events.
struct Socket<'a> {
    state: &'a AppState,
    protocol: Protocol,
    machine: Machine,
    session: Session,
    operations: Operations,
    /// The judgement of `connection_init`, while it is pending.
    authenticating: Option<BoxFuture<'static, Result<Identity, String>>>,
    /// Whether the session's timer changed and must be set again.
    timer_changed: bool,
    actions: Actions,
    outbox: Outbox,
}

impl Socket<'_> {
    /// Feeds `event` to the machine and carries out what it decides.
    fn handle(&mut self, event: Event<'_>) {
        self.machine.handle(event, &mut self.actions);
        while let Some(action) = self.actions.pop_front() {
            match action {
                Action::Send(message) => self.outbox.push(&message),
                Action::Close(code, reason) => self.outbox.close = Some((code, reason)),
                Action::Authenticate(payload) => {
                    self.authenticating = Some(self.session.authenticate(&payload));
                }
                Action::Start { id, payload } => {
                    // The machine starts operations only once acknowledged.
                    let Some(identity) = self.session.identity().copied() else {
                        continue;
                    };
                    let started = self.operations.start(
                        id.clone(),
                        payload,
                        self.protocol,
                        &identity,
                        self.session.context(),
                        self.state,
                    );
                    if let Some(outcome) = started {
                        self.machine
                            .handle(Event::Operation(&id, outcome), &mut self.actions);
                    }
                }
                Action::Stop(id) => self.operations.stop(&id),
            }
        }
    }

    /// `connection_init` was judged.
    fn authenticated(&mut self, verdict: Result<Identity, String>) {
        self.authenticating = None;
        let verdict = verdict.map(|identity| {
            self.session.accept(identity);
            self.timer_changed = true;
        });
        self.handle(Event::Authenticated(verdict));
    }

    /// The session's timer went off.
    fn timer(&mut self, timer: Timer) {
        match timer {
            Timer::TokenExpiring => {
                // The shared operations end with their error, as the resolver
                // of an unshared one reports its expiry at the same instant.
                for (id, outcome) in self.operations.expire_shared() {
                    self.handle(Event::Operation(&id, outcome));
                }
                self.session.expire();
                self.timer_changed = true;
                if self.operations.is_empty() {
                    // Nothing else has an error to report: close now.
                    return self.handle(Event::Timer(Timer::TokenExpired));
                }
            }
            Timer::TokenExpired => {
                // The unshared operations' expiry went off before this
                // timer: their errors are ready, and go out before the Close.
                while !self.outbox.full() {
                    match self.operations.next().now_or_never() {
                        Some(Some((id, outcome))) => self.handle(Event::Operation(&id, outcome)),
                        _ => break,
                    }
                }
            }
            Timer::InitTimeout => {}
        }
        self.handle(Event::Timer(timer));
    }
}

/// Runs one GraphQL websocket until either side closes it or the server stops.
pub async fn serve(
    socket: WebSocket,
    state: AppState,
    protocol: Protocol,
    upgrade_authorization: Option<String>,
    context: Option<RequestContext>,
) {
    state.metrics.websockets.inc();
    let _open = OpenSocket(state.metrics.clone());
    let (mut sink, mut source) = socket.split();
    let session = Session::new(
        state.auth.clone(),
        upgrade_authorization,
        context,
        state.limits.ws_init_timeout,
    );
    let mut socket = Socket {
        state: &state,
        protocol,
        machine: Machine::new(protocol, state.limits.max_subscriptions_per_socket),
        session,
        operations: Operations::default(),
        authenticating: None,
        timer_changed: true,
        actions: Actions::new(),
        outbox: Outbox::default(),
    };
    // One timer per session: the init timeout, then the token's expiry.
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    let mut pending_timer: Option<Timer> = None;
    let stopping = state.shutdown.cancelled();
    tokio::pin!(stopping);

    loop {
        if socket.timer_changed {
            socket.timer_changed = false;
            pending_timer = socket.session.deadline().map(|(at, which)| {
                timer.as_mut().reset(at);
                which
            });
        }
        let flow = tokio::select! {
            incoming = source.next(), if socket.machine.reading() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    socket.handle(Event::Text(text.as_str()));
                    Flow::Continue
                }
                Some(Ok(Message::Binary(_))) => {
                    socket.handle(Event::Binary);
                    Flow::Continue
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                // The library queued the closing handshake's reply; it goes
                // out on the next write, so flush it before leaving (without
                // it, clients see 1006 instead of their own code).
                Some(Ok(Message::Close(_))) => Flow::Hangup,
                // A message over the size limit is refused before it is
                // read (RFC 6455's 1009); other read errors end the socket.
                Some(Err(error)) if too_big(&error) => {
                    socket.handle(Event::Oversized);
                    Flow::Continue
                }
                Some(Err(_)) | None => Flow::Stop,
            },
            verdict = judgement(&mut socket.authenticating), if socket.machine.authenticating() => {
                socket.authenticated(verdict);
                Flow::Continue
            }
            Some((id, outcome)) = socket.operations.next(), if !socket.operations.is_empty() => {
                socket.handle(Event::Operation(&id, outcome));
                // Take what else is ready, up to a batch, for one write.
                while !socket.outbox.full() && socket.outbox.close.is_none() {
                    match socket.operations.next().now_or_never() {
                        Some(Some((id, outcome))) => socket.handle(Event::Operation(&id, outcome)),
                        _ => break,
                    }
                }
                Flow::Continue
            }
            () = &mut timer, if pending_timer.is_some() => {
                if let Some(which) = pending_timer.take() {
                    socket.timer(which);
                }
                Flow::Continue
            }
            () = &mut stopping => {
                socket.handle(Event::ShuttingDown);
                Flow::Continue
            }
        };
        let outbox = std::mem::take(&mut socket.outbox);
        if !outbox.messages.is_empty() {
            let mut written = true;
            for message in outbox.messages {
                if sink.feed(message).await.is_err() {
                    written = false;
                    break;
                }
            }
            if !written || sink.flush().await.is_err() {
                break;
            }
        }
        if let Some((code, reason)) = outbox.close {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
            break;
        }
        match flow {
            Flow::Continue => {}
            Flow::Hangup => {
                let _ = sink.close().await;
                break;
            }
            Flow::Stop => break,
        }
    }
}

/// The judgement of `connection_init`, when one is pending.
async fn judgement(
    pending: &mut Option<BoxFuture<'static, Result<Identity, String>>>,
) -> Result<Identity, String> {
    match pending {
        Some(judging) => judging.await,
        None => std::future::pending().await,
    }
}

/// Whether a read failed because the message or a frame of it is larger
/// than the socket allows.
fn too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|cause| cause.downcast_ref::<tungstenite::Error>())
        .is_some_and(|cause| matches!(cause, tungstenite::Error::Capacity(_)))
}
