//! GraphQL over websockets: async-graphql runs the operations, and a thin
//! guard in front of it enforces what graphql-transport-ws requires of a
//! server (close codes 4400, 4401, 4403, 4408, 4409, 4429; request errors as
//! one `error` message) and authenticates `connection_init`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::{WebSocket as Engine, WebSocketProtocols, WsMessage};
use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use crate::graphql::context::Authentication;
use crate::service::RequestContext;

/// How long a websocket stays open after shutdown began, so the `complete`
/// messages of its subscriptions reach the client before the socket closes.
const COMPLETE_FLUSH: Duration = Duration::from_millis(250);

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
}

/// The graphql-transport-ws rules the engine does not enforce by itself.
#[derive(Debug, Default)]
struct Guard {
    /// Whether the legacy protocol is spoken: then everything passes through.
    legacy: bool,
    init_received: bool,
    acknowledged: bool,
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
    fn client(&mut self, text: &str) -> Verdict {
        if self.legacy {
            return Verdict::Forward;
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
                if !self.active.insert(id.to_owned()) {
                    return Verdict::Close(4409, format!("Subscriber for {id} already exists"));
                }
                Verdict::Forward
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
            return Some(text);
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

async fn close(sink: &mut (impl SinkExt<Message> + Unpin), code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
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

/// Runs one GraphQL websocket until either side closes it or the server stops.
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
    let (to_engine, engine_input) = mpsc::channel::<String>(64);
    let refused = Arc::new(AtomicBool::new(false));
    let expires_at: Arc<Mutex<Option<DateTime<Utc>>>> = Arc::default();

    let auth = state.auth.clone();
    let (refused_in, expires_in) = (refused.clone(), expires_at.clone());
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
        match auth.authenticate(from_payload.or(upgrade_authorization).as_deref()) {
            Ok(identity) => {
                *expires_in.lock().unwrap_or_else(|e| e.into_inner()) = identity.expires_at;
                let mut data = Data::default();
                data.insert(Authentication(Ok(identity)));
                // Mutations over the socket record where it was opened from.
                if let Some(context) = context {
                    data.insert(context);
                }
                Ok(data)
            }
            Err(e) => {
                refused_in.store(true, Ordering::Relaxed);
                Err(async_graphql::Error::new(format!("Forbidden: {e}")))
            }
        }
    });

    let mut guard = Guard {
        legacy: protocol == WebSocketProtocols::SubscriptionsTransportWS,
        ..Guard::default()
    };
    let init_deadline = tokio::time::sleep(state.limits.ws_init_timeout);
    tokio::pin!(init_deadline);
    let stopping = async {
        state.shutdown.cancelled().await;
        tokio::time::sleep(COMPLETE_FLUSH).await;
    };
    tokio::pin!(stopping);
    let mut expiry_check = tokio::time::interval(Duration::from_secs(1));

    loop {
        tokio::select! {
            incoming = source.next() => match incoming {
                Some(Ok(Message::Text(text))) => match guard.client(text.as_str()) {
                    Verdict::Forward => {
                        if to_engine.send(text.as_str().to_owned()).await.is_err() {
                            break;
                        }
                    }
                    Verdict::Close(code, reason) => {
                        close(&mut sink, code, reason).await;
                        break;
                    }
                },
                Some(Ok(Message::Binary(_))) => {
                    close(&mut sink, 4400, "Binary messages are not supported".into()).await;
                    break;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) => {
                    // The library queued the closing handshake's reply; it
                    // goes out on the next write, so flush it before leaving
                    // (without it, clients see 1006 instead of their own code).
                    let _ = sink.close().await;
                    break;
                }
                Some(Err(_)) | None => break,
            },
            outgoing = engine.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    if let Some(text) = guard.server(text) {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    // The engine closes a refused connection_init with 1002; the protocol says 4403.
                    let code = if refused.load(Ordering::Relaxed) && !guard.legacy { 4403 } else { code };
                    close(&mut sink, code, reason).await;
                    break;
                }
                None => {
                    if guard.legacy && refused.load(Ordering::Relaxed) {
                        close(&mut sink, 4403, "Forbidden".into()).await;
                    }
                    break;
                }
            },
            _ = &mut init_deadline, if !guard.acknowledged && !guard.legacy => {
                close(&mut sink, 4408, "Connection initialisation timeout".into()).await;
                break;
            }
            _ = expiry_check.tick() => {
                let expired = expires_at
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_some_and(|at| at < Utc::now());
                if expired {
                    close(&mut sink, 4403, "Forbidden: the token has expired".into()).await;
                    break;
                }
            }
            _ = &mut stopping => {
                close(&mut sink, 1001, "Server shutting down".into()).await;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked() -> Guard {
        let mut g = Guard::default();
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
            Verdict::Forward => 0,
        }
    }

    const SUB: &str = r#"{"type":"subscribe","id":"1","payload":{"query":"subscription { x }"}}"#;

    #[test]
    fn subscribe_before_ack_is_unauthorized() {
        let mut g = Guard::default();
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
