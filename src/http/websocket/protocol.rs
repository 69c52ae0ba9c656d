//! GraphQL over websockets as messages and one pure state machine:
//! graphql-transport-ws and the legacy graphql-ws (subscriptions-transport-ws)
//! share it, so every rule of both, and every close code, is decided here
//! and unit-tested without a socket.
//!
//! It is one unit because the rules are one table: which client message is
//! allowed in which phase, what it costs the operation count, and which
//! close code ends the socket; split, each half would need the other's state.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::service::ErrorCode;

/// The subprotocols a socket may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`, the protocol of the graphql-ws library.
    TransportWs,
    /// `graphql-ws`, Apollo's older subscriptions-transport-ws protocol.
    Legacy,
}

impl Protocol {
    /// The `Sec-WebSocket-Protocol` name.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }

    /// The first protocol of a `Sec-WebSocket-Protocol` list that is spoken
    /// here; graphql-transport-ws when the list names none.
    pub fn negotiate(requested: Option<&str>) -> Self {
        requested
            .into_iter()
            .flat_map(|list| list.split(','))
            .find_map(|name| match name.trim() {
                "graphql-transport-ws" => Some(Protocol::TransportWs),
                "graphql-ws" => Some(Protocol::Legacy),
                _ => None,
            })
            .unwrap_or(Protocol::TransportWs)
    }
}

/// A message from the client, in either protocol.
///
/// `subscribe` and `complete` keep their fields loose: graphql-transport-ws
/// answers one sent before the acknowledgement with 4401 whatever it holds,
/// so the machine, not the parser, judges them.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Opens the session; the payload may carry the token.
    ConnectionInit {
        /// Anything; `Authorization` or `token` are read from it.
        #[serde(default)]
        payload: Option<Value>,
    },
    /// Asks for a `pong`.
    Ping {
        /// Ignored.
        #[serde(default)]
        payload: Option<Value>,
    },
    /// The answer to a server's `ping`; nothing to do.
    Pong {
        /// Ignored.
        #[serde(default)]
        payload: Option<Value>,
    },
    /// Starts an operation (graphql-transport-ws).
    Subscribe {
        /// The operation's id, a non-empty string.
        #[serde(default)]
        id: Option<Value>,
        /// The request: `query`, `variables`, `operationName`, `extensions`.
        #[serde(default)]
        payload: Option<Value>,
    },
    /// Ends an operation (graphql-transport-ws).
    Complete {
        /// The operation's id.
        #[serde(default)]
        id: Option<Value>,
    },
    /// Starts an operation (legacy).
    Start {
        /// The operation's id.
        id: String,
        /// The request.
        payload: Value,
    },
    /// Ends an operation (legacy).
    Stop {
        /// The operation's id.
        id: String,
    },
    /// Ends the session (legacy).
    ConnectionTerminate,
}

/// A message to the client, in either protocol. Results are rendered JSON,
/// written as they are: a shared stream renders each event once for all its
/// subscribers.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The session is open.
    ConnectionAck,
    /// The session is refused (legacy).
    ConnectionError {
        /// `{ "message": … }`.
        payload: Value,
    },
    /// The answer to `ping`.
    Pong,
    /// A result (graphql-transport-ws).
    Next {
        /// The operation's id.
        id: String,
        /// One GraphQL response.
        #[serde(serialize_with = "raw")]
        payload: Arc<RawValue>,
    },
    /// A result (legacy).
    Data {
        /// The operation's id.
        id: String,
        /// One GraphQL response.
        #[serde(serialize_with = "raw")]
        payload: Arc<RawValue>,
    },
    /// The operation failed before it ran, and is over.
    Error {
        /// The operation's id.
        id: String,
        /// A list of errors (graphql-transport-ws), or one error (legacy).
        #[serde(serialize_with = "raw")]
        payload: Arc<RawValue>,
    },
    /// The operation is over.
    Complete {
        /// The operation's id.
        id: String,
    },
}

fn raw<S: Serializer>(value: &Arc<RawValue>, serializer: S) -> Result<S::Ok, S::Error> {
    value.as_ref().serialize(serializer)
}

impl ServerMessage {
    /// The message as the text of a websocket message.
    pub fn to_text(&self) -> String {
        // Strings, maps and rendered JSON: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What became of an operation the machine started.
#[derive(Debug)]
pub enum Outcome {
    /// A result to send.
    Next(Arc<RawValue>),
    /// A request error (nothing executed, or it was refused): the list of
    /// errors. The operation is over.
    Failed(Arc<RawValue>),
    /// The operation is over.
    Done,
    /// Its request is not one at all (say, `variables` is not a map): the
    /// socket closes, with this reason.
    Unreadable(String),
}

/// The timers of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The time allowed for `connection_init` is up.
    InitTimeout,
    /// The session's token expired: its shared operations end now, with
    /// their error, while its own ones end on their resolver's timer.
    TokenExpiring,
    /// The session's token expired a moment ago: the socket closes.
    TokenExpired,
}

/// Something that happened to a socket.
#[derive(Debug)]
pub enum Event<'a> {
    /// A text message from the client.
    Text(&'a str),
    /// A binary message from the client.
    Binary,
    /// A message over the size limit, refused before it was read.
    Oversized,
    /// `connection_init` was judged: accepted, or refused for this reason.
    Authenticated(Result<(), String>),
    /// Operation `id` went on.
    Operation(&'a str, Outcome),
    /// A timer went off.
    Timer(Timer),
    /// The server is stopping.
    ShuttingDown,
}

/// What the socket is to do, in order.
#[derive(Debug)]
pub enum Action {
    /// Send this message.
    Send(ServerMessage),
    /// Close the socket with this code and reason (cut to fit a Close frame).
    Close(u16, String),
    /// Judge the credentials of this `connection_init` payload.
    Authenticate(Value),
    /// Start operation `id` with this request payload.
    Start {
        /// The operation's id.
        id: String,
        /// The request.
        payload: Value,
    },
    /// Stop operation `id`; it sends nothing more.
    Stop(String),
}

/// The most bytes of reason a Close frame may carry: a control frame's
/// payload is at most 125 bytes (RFC 6455, 5.5), and the code takes two.
/// Strict clients fail the whole connection on a longer one (Python's
/// `websockets` with 1002, browsers with 1006) and never see the code.
pub const MAX_CLOSE_REASON: usize = 123;

/// `reason` cut to [`MAX_CLOSE_REASON`] bytes, on a character boundary.
pub fn close_reason(mut reason: String) -> String {
    if reason.len() > MAX_CLOSE_REASON {
        let mut end = MAX_CLOSE_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for `connection_init`.
    Opened,
    /// `connection_init` is being judged.
    Authenticating,
    /// `connection_ack` was sent: operations may run.
    Acknowledged,
    /// A Close was decided: nothing more happens.
    Closed,
}

/// The rules of one socket: what each event leads to.
#[derive(Debug)]
pub struct Machine {
    protocol: Protocol,
    /// The most operations the socket may run at once.
    max_operations: usize,
    phase: Phase,
    /// Operations started and not over.
    active: HashSet<String>,
}

/// Actions decided by one event, in order.
pub type Actions = VecDeque<Action>;

impl Machine {
    /// A socket speaking `protocol` that may run `max_operations` at once.
    pub fn new(protocol: Protocol, max_operations: usize) -> Self {
        Self {
            protocol,
            max_operations,
            phase: Phase::Opened,
            active: HashSet::new(),
        }
    }

    /// Whether the client's next message may be read now. The legacy
    /// protocol's clients send `start` right after `connection_init`, so
    /// their messages wait for the judgement; graphql-transport-ws forbids
    /// that (4401), so its messages are read at once.
    pub fn reading(&self) -> bool {
        match self.phase {
            Phase::Authenticating => self.protocol == Protocol::TransportWs,
            Phase::Closed => false,
            Phase::Opened | Phase::Acknowledged => true,
        }
    }

    /// Whether `connection_init` is being judged.
    pub fn authenticating(&self) -> bool {
        self.phase == Phase::Authenticating
    }

    /// Whether the session was acknowledged.
    pub fn acknowledged(&self) -> bool {
        self.phase == Phase::Acknowledged
    }

    /// Decides what `event` leads to, appending it to `actions`.
    pub fn handle(&mut self, event: Event<'_>, actions: &mut Actions) {
        if self.phase == Phase::Closed {
            return;
        }
        match event {
            Event::Text(text) => match serde_json::from_str::<ClientMessage>(text) {
                Ok(message) => self.client(message, actions),
                Err(error) => match self.protocol {
                    Protocol::TransportWs => self.close(4400, "Invalid message received", actions),
                    Protocol::Legacy => self.close(1002, error.to_string(), actions),
                },
            },
            Event::Binary => self.close(4400, "Binary messages are not supported", actions),
            Event::Oversized => self.close(1009, "Message too big", actions),
            Event::Authenticated(verdict) => self.authenticated(verdict, actions),
            Event::Operation(id, outcome) => self.outcome(id, outcome, actions),
            Event::Timer(Timer::InitTimeout) if self.phase != Phase::Acknowledged => {
                self.close(4408, "Connection initialisation timeout", actions);
            }
            Event::Timer(Timer::InitTimeout | Timer::TokenExpiring) => {}
            Event::Timer(Timer::TokenExpired) => {
                self.close(4403, "Forbidden: the token has expired", actions);
            }
            // Nothing is completed: graphql-ws clients take `complete` as the
            // end of a subscription and do not resubscribe, while 1012
            // (service restart) makes them reconnect and resume.
            Event::ShuttingDown => self.close(1012, "Server restarting", actions),
        }
    }

    fn close(&mut self, code: u16, reason: impl Into<String>, actions: &mut Actions) {
        self.phase = Phase::Closed;
        actions.push_back(Action::Close(code, close_reason(reason.into())));
    }

    fn client(&mut self, message: ClientMessage, actions: &mut Actions) {
        let legacy = self.protocol == Protocol::Legacy;
        match message {
            ClientMessage::ConnectionInit { payload } if self.phase == Phase::Opened => {
                self.phase = Phase::Authenticating;
                actions.push_back(Action::Authenticate(payload.unwrap_or_default()));
            }
            ClientMessage::ConnectionInit { .. } => {
                if legacy {
                    actions.push_back(connection_error("Too many initialisation requests."));
                }
                self.close(4429, "Too many initialisation requests", actions);
            }
            ClientMessage::Ping { .. } => actions.push_back(Action::Send(ServerMessage::Pong)),
            ClientMessage::Pong { .. } => {}
            ClientMessage::Subscribe { id, payload } if !legacy => {
                self.subscribe(id, payload, actions);
            }
            ClientMessage::Complete { id } if !legacy => match text_id(id) {
                Some(id) => {
                    // The client's own `complete` is not echoed.
                    if self.active.remove(&id) {
                        actions.push_back(Action::Stop(id));
                    }
                }
                None => self.close(4400, "Invalid message received", actions),
            },
            ClientMessage::Start { id, payload } if legacy => self.start(id, payload, actions),
            // The legacy engine took graphql-transport-ws names as aliases.
            ClientMessage::Subscribe {
                id,
                payload: Some(payload),
            } if legacy => match text_id(id) {
                Some(id) => self.start(id, payload, actions),
                None => self.close(1002, "Invalid message received", actions),
            },
            ClientMessage::Stop { id } if legacy => self.stop(id, actions),
            ClientMessage::Complete { id } if legacy => match text_id(id) {
                Some(id) => self.stop(id, actions),
                None => self.close(1002, "Invalid message received", actions),
            },
            ClientMessage::ConnectionTerminate if legacy => {
                self.close(1000, "Connection terminated", actions);
            }
            _ if legacy => self.close(1002, "Invalid message received", actions),
            _ => self.close(4400, "Invalid message received", actions),
        }
    }

    /// graphql-transport-ws `subscribe`.
    fn subscribe(&mut self, id: Option<Value>, payload: Option<Value>, actions: &mut Actions) {
        if self.phase != Phase::Acknowledged {
            return self.close(4401, "Unauthorized", actions);
        }
        let has_query = payload
            .as_ref()
            .and_then(|p| p.get("query"))
            .is_some_and(Value::is_string);
        let (Some(id), Some(payload), true) = (text_id(id), payload, has_query) else {
            return self.close(4400, "Invalid message received", actions);
        };
        if self.active.contains(&id) {
            let reason = format!("Subscriber for {id} already exists");
            return self.close(4409, reason, actions);
        }
        self.admit(id, payload, actions);
    }

    /// Legacy `start`.
    fn start(&mut self, id: String, payload: Value, actions: &mut Actions) {
        if self.phase != Phase::Acknowledged {
            return self.close(1011, "The handshake is not completed.", actions);
        }
        if self.active.contains(&id) {
            // The legacy engine replaced an operation started again.
            actions.push_back(Action::Stop(id.clone()));
            actions.push_back(Action::Start { id, payload });
            return;
        }
        self.admit(id, payload, actions);
    }

    /// Legacy `stop`: the operation ends, and says so.
    fn stop(&mut self, id: String, actions: &mut Actions) {
        if self.active.remove(&id) {
            actions.push_back(Action::Stop(id.clone()));
            actions.push_back(Action::Send(ServerMessage::Complete { id }));
        }
    }

    /// Starts operation `id` unless the socket runs as many as it may; then
    /// that operation alone is refused, and the socket stays open.
    fn admit(&mut self, id: String, payload: Value, actions: &mut Actions) {
        if self.active.len() >= self.max_operations {
            let payload = too_many_operations(self.max_operations, self.protocol);
            actions.push_back(Action::Send(ServerMessage::Error { id, payload }));
            return;
        }
        self.active.insert(id.clone());
        actions.push_back(Action::Start { id, payload });
    }

    fn authenticated(&mut self, verdict: Result<(), String>, actions: &mut Actions) {
        if self.phase != Phase::Authenticating {
            return;
        }
        match verdict {
            Ok(()) => {
                self.phase = Phase::Acknowledged;
                actions.push_back(Action::Send(ServerMessage::ConnectionAck));
            }
            Err(reason) => {
                let reason = format!("Forbidden: {reason}");
                match self.protocol {
                    Protocol::TransportWs => self.close(4403, reason, actions),
                    Protocol::Legacy => {
                        actions.push_back(connection_error(&reason));
                        self.close(4403, "Forbidden", actions);
                    }
                }
            }
        }
    }

    fn outcome(&mut self, id: &str, outcome: Outcome, actions: &mut Actions) {
        // An operation the client stopped says nothing more.
        if !self.active.contains(id) {
            return;
        }
        let id = id.to_owned();
        let legacy = self.protocol == Protocol::Legacy;
        match outcome {
            Outcome::Next(payload) if legacy => {
                actions.push_back(Action::Send(ServerMessage::Data { id, payload }));
            }
            Outcome::Next(payload) => {
                actions.push_back(Action::Send(ServerMessage::Next { id, payload }));
            }
            Outcome::Failed(errors) => {
                self.active.remove(&id);
                if legacy {
                    // The legacy protocol reports it as a result, then ends it.
                    let payload = crate::graphql::live::render(&ErrorsOnly {
                        data: (),
                        errors: &errors,
                    });
                    actions.push_back(Action::Send(ServerMessage::Data {
                        id: id.clone(),
                        payload,
                    }));
                    actions.push_back(Action::Send(ServerMessage::Complete { id }));
                } else {
                    // One `error` message, which ends it: no `complete` follows.
                    actions.push_back(Action::Send(ServerMessage::Error {
                        id,
                        payload: errors,
                    }));
                }
            }
            Outcome::Done => {
                self.active.remove(&id);
                actions.push_back(Action::Send(ServerMessage::Complete { id }));
            }
            Outcome::Unreadable(reason) => self.close(1002, reason, actions),
        }
    }
}

/// A response that is only errors, as the legacy protocol sends a request error.
#[derive(Serialize)]
struct ErrorsOnly<'a> {
    data: (),
    #[serde(serialize_with = "raw_ref")]
    errors: &'a Arc<RawValue>,
}

fn raw_ref<S: Serializer>(value: &&Arc<RawValue>, serializer: S) -> Result<S::Ok, S::Error> {
    raw(value, serializer)
}

/// An operation id: a non-empty string.
fn text_id(id: Option<Value>) -> Option<String> {
    match id {
        Some(Value::String(id)) if !id.is_empty() => Some(id),
        _ => None,
    }
}

/// A legacy `connection_error` saying `message`.
fn connection_error(message: &str) -> Action {
    Action::Send(ServerMessage::ConnectionError {
        payload: json!({ "message": message }),
    })
}

/// The refusal of the one operation too many for a socket that may run
/// `max` at once, in the shape of the protocol's `error` payload.
fn too_many_operations(max: usize, protocol: Protocol) -> Arc<RawValue> {
    let error = json!({
        "message": format!("a websocket may run at most {max} subscriptions at once; complete one first"),
        "extensions": { "code": ErrorCode::TooManySubscriptions.as_str() },
    });
    // graphql-transport-ws sends a list of errors, the legacy protocol one.
    match protocol {
        Protocol::TransportWs => crate::graphql::live::render(&[error]),
        Protocol::Legacy => crate::graphql::live::render(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = r#"{"type":"subscribe","id":"1","payload":{"query":"subscription { x }"}}"#;

    /// A machine and the actions of its last event.
    struct Socket {
        machine: Machine,
        actions: Actions,
    }

    impl Socket {
        fn new(protocol: Protocol, max_operations: usize) -> Self {
            Self {
                machine: Machine::new(protocol, max_operations),
                actions: Actions::new(),
            }
        }

        /// A socket past `connection_init` and its acknowledgement.
        fn acked(protocol: Protocol, max_operations: usize) -> Self {
            let mut socket = Self::new(protocol, max_operations);
            socket.text(r#"{"type":"connection_init","payload":{"token":"t"}}"#);
            assert!(matches!(
                socket.actions.as_slices().0,
                [Action::Authenticate(p)] if p["token"] == "t"
            ));
            socket.event(Event::Authenticated(Ok(())));
            assert_eq!(socket.sent(), [r#"{"type":"connection_ack"}"#]);
            socket
        }

        fn event(&mut self, event: Event<'_>) -> &Actions {
            self.actions.clear();
            self.machine.handle(event, &mut self.actions);
            &self.actions
        }

        fn text(&mut self, text: &str) -> &Actions {
            self.event(Event::Text(text))
        }

        /// The texts of the messages the last event sent.
        fn sent(&self) -> Vec<String> {
            self.actions
                .iter()
                .filter_map(|a| match a {
                    Action::Send(message) => Some(message.to_text()),
                    _ => None,
                })
                .collect()
        }

        /// The code and reason the last event closed with.
        fn closed(&self) -> Option<(u16, &str)> {
            self.actions.iter().find_map(|a| match a {
                Action::Close(code, reason) => Some((*code, reason.as_str())),
                _ => None,
            })
        }

        /// The ids of the operations the last event started.
        fn started(&self) -> Vec<&str> {
            self.ids(|a| match a {
                Action::Start { id, .. } => Some(id),
                _ => None,
            })
        }

        /// The ids of the operations the last event stopped.
        fn stopped(&self) -> Vec<&str> {
            self.ids(|a| match a {
                Action::Stop(id) => Some(id),
                _ => None,
            })
        }

        fn ids<'a>(&'a self, pick: impl Fn(&'a Action) -> Option<&'a String>) -> Vec<&'a str> {
            self.actions
                .iter()
                .filter_map(pick)
                .map(String::as_str)
                .collect()
        }
    }

    /// A legacy `start` of operation `id`.
    fn start(id: &str) -> String {
        format!(r#"{{"type":"start","id":"{id}","payload":{{"query":"subscription {{ x }}"}}}}"#)
    }

    fn rendered(json: &str) -> Arc<RawValue> {
        Arc::from(RawValue::from_string(json.to_owned()).unwrap())
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn negotiates_the_first_protocol_spoken_here() {
        assert_eq!(Protocol::negotiate(Some("graphql-ws")), Protocol::Legacy);
        assert_eq!(
            Protocol::negotiate(Some("foo, graphql-transport-ws, graphql-ws")),
            Protocol::TransportWs
        );
        assert_eq!(Protocol::negotiate(Some("foo")), Protocol::TransportWs);
        assert_eq!(Protocol::negotiate(None), Protocol::TransportWs);
    }

    #[test]
    fn subscribe_before_ack_is_4401_even_while_authenticating() {
        let mut s = Socket::new(Protocol::TransportWs, 8);
        s.text(SUB);
        assert_eq!(s.closed(), Some((4401, "Unauthorized")));

        let mut s = Socket::new(Protocol::TransportWs, 8);
        s.text(r#"{"type":"connection_init"}"#);
        assert!(s.machine.authenticating() && s.machine.reading());
        s.text(r#"{"type":"subscribe"}"#);
        assert_eq!(s.closed(), Some((4401, "Unauthorized")));
        // Closed: nothing more happens.
        assert!(!s.machine.reading());
        assert!(s.event(Event::Authenticated(Ok(()))).is_empty());
    }

    #[test]
    fn a_refused_init_is_4403_with_the_reason() {
        let mut s = Socket::new(Protocol::TransportWs, 8);
        s.text(r#"{"type":"connection_init"}"#);
        s.event(Event::Authenticated(Err("invalid token".into())));
        assert_eq!(s.closed(), Some((4403, "Forbidden: invalid token")));
        assert!(s.sent().is_empty());
    }

    #[test]
    fn duplicate_ids_are_4409_and_a_second_init_is_4429() {
        let mut s = Socket::acked(Protocol::TransportWs, 8);
        assert_eq!(s.text(SUB).len(), 1);
        assert_eq!(s.started(), ["1"]);
        s.text(SUB);
        assert_eq!(s.closed(), Some((4409, "Subscriber for 1 already exists")));

        let mut s = Socket::acked(Protocol::TransportWs, 8);
        s.text(r#"{"type":"connection_init"}"#);
        assert_eq!(s.closed(), Some((4429, "Too many initialisation requests")));
    }

    #[test]
    fn malformed_messages_are_4400() {
        for bad in [
            "nope",
            "[]",
            r#"{"type":"wat"}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":1,"payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":1}}"#,
            r#"{"type":"complete"}"#,
            r#"{"type":"start","id":"1","payload":{"query":"{ a }"}}"#,
            r#"{"type":"stop","id":"1"}"#,
            r#"{"type":"connection_terminate"}"#,
        ] {
            let mut s = Socket::acked(Protocol::TransportWs, 8);
            s.text(bad);
            assert_eq!(
                s.closed(),
                Some((4400, "Invalid message received")),
                "{bad}"
            );
        }
        let mut s = Socket::acked(Protocol::TransportWs, 8);
        s.event(Event::Binary);
        assert_eq!(s.closed().map(|c| c.0), Some(4400));
    }

    #[test]
    fn ping_is_answered_with_pong_in_any_phase() {
        for mut s in [
            Socket::new(Protocol::TransportWs, 8),
            Socket::acked(Protocol::TransportWs, 8),
            Socket::acked(Protocol::Legacy, 8),
        ] {
            s.text(r#"{"type":"ping","payload":{"x":1}}"#);
            assert_eq!(s.sent(), [r#"{"type":"pong"}"#]);
            assert!(s.text(r#"{"type":"pong"}"#).is_empty());
        }
    }

    #[test]
    fn results_go_out_as_next_and_the_end_as_complete() {
        let mut s = Socket::acked(Protocol::TransportWs, 8);
        s.text(SUB);
        s.event(Event::Operation(
            "1",
            Outcome::Next(rendered(r#"{"data":{"a":1}}"#)),
        ));
        assert_eq!(
            s.sent(),
            [r#"{"type":"next","id":"1","payload":{"data":{"a":1}}}"#]
        );
        s.event(Event::Operation("1", Outcome::Done));
        assert_eq!(s.sent(), [r#"{"type":"complete","id":"1"}"#]);
        // Over: the id may be used again.
        s.text(SUB);
        assert_eq!(s.started(), ["1"]);
    }

    #[test]
    fn a_completed_operation_is_stopped_not_echoed_and_its_id_is_free() {
        let mut s = Socket::acked(Protocol::TransportWs, 8);
        s.text(SUB);
        s.text(r#"{"type":"complete","id":"1"}"#);
        assert_eq!(s.stopped(), ["1"]);
        assert!(s.sent().is_empty());
        // Whatever was on its way is dropped.
        assert!(s.event(Event::Operation("1", Outcome::Done)).is_empty());
        // Completing an unknown id is no error.
        assert!(s.text(r#"{"type":"complete","id":"9"}"#).is_empty());
        s.text(SUB);
        assert_eq!(s.started(), ["1"]);
    }

    #[test]
    fn request_errors_are_one_error_message_without_complete() {
        let mut s = Socket::acked(Protocol::TransportWs, 8);
        s.text(SUB);
        let errors = r#"[{"message":"Unknown field","locations":[{"line":1,"column":16}]}]"#;
        s.event(Event::Operation("1", Outcome::Failed(rendered(errors))));
        assert_eq!(s.sent().len(), 1);
        assert_eq!(
            json(&s.sent()[0]),
            serde_json::json!({ "id": "1", "type": "error", "payload": json(errors) })
        );
        // The operation is over: its id may be used again.
        s.text(SUB);
        assert_eq!(s.started(), ["1"]);
    }

    #[test]
    fn an_unreadable_request_closes_with_1002() {
        let mut s = Socket::acked(Protocol::TransportWs, 8);
        s.text(SUB);
        s.event(Event::Operation(
            "1",
            Outcome::Unreadable("invalid type".into()),
        ));
        assert_eq!(s.closed(), Some((1002, "invalid type")));
    }

    #[test]
    fn operations_beyond_the_cap_are_refused_one_by_one() {
        let mut s = Socket::acked(Protocol::TransportWs, 1);
        s.text(SUB);
        let second = SUB.replace(r#""id":"1""#, r#""id":"2""#);
        s.text(&second);
        assert!(s.started().is_empty());
        let refusal = json(&s.sent()[0]);
        assert_eq!(refusal["type"], "error");
        assert_eq!(refusal["id"], "2");
        assert_eq!(
            refusal["payload"][0]["extensions"]["code"],
            ErrorCode::TooManySubscriptions.as_str()
        );
        assert!(s.closed().is_none());
        // A finished operation frees its place.
        s.event(Event::Operation("1", Outcome::Done));
        s.text(&second);
        assert_eq!(s.started(), ["2"]);
    }

    #[test]
    fn timers_and_shutdown_close_with_their_codes() {
        let mut s = Socket::new(Protocol::TransportWs, 8);
        s.event(Event::Timer(Timer::InitTimeout));
        assert_eq!(
            s.closed(),
            Some((4408, "Connection initialisation timeout"))
        );

        let mut s = Socket::new(Protocol::Legacy, 8);
        s.text(r#"{"type":"connection_init"}"#);
        s.event(Event::Timer(Timer::InitTimeout));
        assert_eq!(s.closed().map(|c| c.0), Some(4408), "still authenticating");

        let mut s = Socket::acked(Protocol::TransportWs, 8);
        assert!(s.event(Event::Timer(Timer::InitTimeout)).is_empty());
        assert!(s.event(Event::Timer(Timer::TokenExpiring)).is_empty());
        s.event(Event::Timer(Timer::TokenExpired));
        assert_eq!(s.closed(), Some((4403, "Forbidden: the token has expired")));

        let mut s = Socket::acked(Protocol::Legacy, 8);
        s.event(Event::ShuttingDown);
        assert_eq!(s.closed(), Some((1012, "Server restarting")));
        assert!(s.sent().is_empty(), "nothing is completed");

        let mut s = Socket::acked(Protocol::TransportWs, 8);
        s.event(Event::Oversized);
        assert_eq!(s.closed(), Some((1009, "Message too big")));
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
        // Every close goes through it.
        let mut s = Socket::acked(Protocol::TransportWs, 8);
        let sub = |id: &str| {
            serde_json::json!({ "type": "subscribe", "id": id, "payload": { "query": "{ a }" } })
                .to_string()
        };
        let long = "é".repeat(100);
        s.text(&sub(&long));
        s.text(&sub(&long));
        let (code, reason) = s.closed().unwrap();
        assert_eq!(code, 4409);
        assert!(reason.len() <= 123 && reason.starts_with("Subscriber for éé"));
    }

    #[test]
    fn the_legacy_protocol_starts_after_ack_and_stops_with_complete() {
        let mut s = Socket::new(Protocol::Legacy, 8);
        s.text(&start("1"));
        assert_eq!(s.closed(), Some((1011, "The handshake is not completed.")));

        let mut s = Socket::new(Protocol::Legacy, 8);
        s.text(r#"{"type":"connection_init"}"#);
        assert!(!s.machine.reading(), "start waits for the judgement");
        s.event(Event::Authenticated(Ok(())));
        assert!(s.machine.reading());
        s.text(&start("1"));
        assert_eq!(s.started(), ["1"]);
        s.event(Event::Operation(
            "1",
            Outcome::Next(rendered(r#"{"data":{}}"#)),
        ));
        assert_eq!(
            s.sent(),
            [r#"{"type":"data","id":"1","payload":{"data":{}}}"#]
        );
        // Started again: replaced.
        s.text(&start("1"));
        assert_eq!((s.stopped(), s.started()), (vec!["1"], vec!["1"]));
        s.text(r#"{"type":"stop","id":"1"}"#);
        assert_eq!(s.stopped(), ["1"]);
        assert_eq!(s.sent(), [r#"{"type":"complete","id":"1"}"#]);
        assert!(s.text(r#"{"type":"stop","id":"1"}"#).is_empty());
        // Request errors are a result, then the end.
        s.text(&start("2"));
        s.event(Event::Operation(
            "2",
            Outcome::Failed(rendered(r#"[{"message":"x"}]"#)),
        ));
        let sent: Vec<Value> = s.sent().iter().map(|t| json(t)).collect();
        assert_eq!(
            sent,
            [
                serde_json::json!({ "type": "data", "id": "2", "payload": { "data": null, "errors": [{ "message": "x" }] } }),
                serde_json::json!({ "type": "complete", "id": "2" }),
            ]
        );
        s.text(r#"{"type":"connection_terminate"}"#);
        assert_eq!(s.closed().map(|c| c.0), Some(1000));
    }

    #[test]
    fn the_legacy_protocol_is_capped_too() {
        let mut s = Socket::acked(Protocol::Legacy, 1);
        s.text(&start("1"));
        s.text(&start("2"));
        let refusal = json(&s.sent()[0]);
        assert_eq!(refusal["type"], "error");
        assert_eq!(
            refusal["payload"]["extensions"]["code"],
            ErrorCode::TooManySubscriptions.as_str()
        );
        s.text(r#"{"type":"stop","id":"1"}"#);
        s.text(&start("2"));
        assert_eq!(s.started(), ["2"]);
    }

    #[test]
    fn the_legacy_protocol_refuses_with_connection_error_then_4403() {
        let mut s = Socket::new(Protocol::Legacy, 8);
        s.text(r#"{"type":"connection_init"}"#);
        s.event(Event::Authenticated(Err("invalid token".into())));
        assert_eq!(
            s.sent(),
            [r#"{"type":"connection_error","payload":{"message":"Forbidden: invalid token"}}"#]
        );
        assert_eq!(s.closed(), Some((4403, "Forbidden")));

        let mut s = Socket::acked(Protocol::Legacy, 8);
        s.text(r#"{"type":"connection_init"}"#);
        assert_eq!(s.sent().len(), 1);
        assert_eq!(s.closed().map(|c| c.0), Some(4429));

        let mut s = Socket::acked(Protocol::Legacy, 8);
        s.text("nope");
        assert_eq!(s.closed().map(|c| c.0), Some(1002));
    }
}
