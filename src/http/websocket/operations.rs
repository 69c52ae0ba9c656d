//! The operations a socket runs: started through the schema (or joined to a
//! shared stream when one can serve them), and each result reported as an
//! [`Outcome`] for the protocol machine to frame.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_graphql::{Data, Response};
use chrono::Utc;
use futures_util::stream::{BoxStream, Stream};
use futures_util::{FutureExt, StreamExt};
use serde_json::Value;
use tokio_stream::StreamMap;

use super::protocol::{Outcome, Protocol};
use crate::auth::Identity;
use crate::graphql::context::Authentication;
use crate::graphql::live::{self, Delivery, Member};
use crate::graphql::{is_request_error, limits, subscription};
use crate::http::AppState;
use crate::ratelimit::Bucket;
use crate::service::RequestContext;

/// One running operation.
enum Operation {
    /// A member of a stream shared with other subscribers.
    Shared {
        member: Box<Member>,
        /// It lagged: its error went out, its end is next.
        lagged: bool,
        /// Its end was reported.
        over: bool,
    },
    /// A stream of its own: a replaying subscription, a query or mutation
    /// sent as `subscribe`, a document that cannot be shared, and every
    /// operation of the legacy protocol.
    Own {
        responses: BoxStream<'static, Response>,
        /// Its end was reported.
        over: bool,
    },
}

impl Stream for Operation {
    type Item = Outcome;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outcome>> {
        match &mut *self {
            Operation::Shared { over: true, .. } | Operation::Own { over: true, .. } => {
                Poll::Ready(None)
            }
            Operation::Shared { lagged, over, .. } if *lagged => {
                *over = true;
                Poll::Ready(Some(Outcome::Done))
            }
            Operation::Shared {
                member,
                lagged,
                over,
            } => {
                let outcome = match member.poll_next_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Delivery::Event(payload) | Delivery::Last(payload))) => {
                        Outcome::Next(payload)
                    }
                    Poll::Ready(Some(Delivery::Refused(errors))) => Outcome::Failed(errors),
                    Poll::Ready(Some(Delivery::End) | None) => Outcome::Done,
                    Poll::Ready(Some(Delivery::Lagged(missed))) => {
                        // Its error, and then its end, as the resolver's own.
                        *lagged = true;
                        let error = member.error_payload(subscription::lagged(missed));
                        return Poll::Ready(Some(Outcome::Next(error)));
                    }
                };
                *over = !matches!(outcome, Outcome::Next(_));
                Poll::Ready(Some(outcome))
            }
            Operation::Own { responses, over } => match responses.poll_next_unpin(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(response)) if is_request_error(&response) => {
                    *over = true;
                    Poll::Ready(Some(Outcome::Failed(live::render(&response.errors))))
                }
                Poll::Ready(Some(response)) => {
                    Poll::Ready(Some(Outcome::Next(live::render(&response))))
                }
                Poll::Ready(None) => {
                    *over = true;
                    Poll::Ready(Some(Outcome::Done))
                }
            },
        }
    }
}

/// The operations of one socket, by id: a stream of what became of them.
#[derive(Default)]
pub struct Operations {
    running: StreamMap<String, Operation>,
}

impl Operations {
    /// Starts operation `id` of a socket speaking `protocol` for `identity`:
    /// joined to a shared stream when it can be, else executed on its own.
    /// What it comes to at once (a refusal), if anything.
    pub fn start(
        &mut self,
        id: String,
        payload: Value,
        protocol: Protocol,
        identity: &Identity,
        context: Option<&RequestContext>,
        state: &AppState,
    ) -> Option<Outcome> {
        // The legacy protocol's envelopes are not the shared streams'.
        if protocol == Protocol::TransportWs {
            if let Some(plan) = shareable(&payload, identity, state) {
                // A shared stream is not validated per subscriber; joining
                // one costs what starting its one statement does.
                let bucket = Bucket::of(Some(identity), None);
                if let Err(refused) = state.rate_limits.charge(&bucket, limits::STATEMENT) {
                    state.metrics.rate_limited(bucket.kind());
                    let error = crate::graphql::error::rate_limited(
                        limits::STATEMENT,
                        refused.retry_after_secs(),
                    );
                    return Some(Outcome::Failed(live::render(&[error])));
                }
                let member = Box::new(state.fanout.join(plan));
                let shared = Operation::Shared {
                    member,
                    lagged: false,
                    over: false,
                };
                self.running.insert(id, shared);
                return None;
            }
        }
        let request = match serde_json::from_value::<async_graphql::Request>(payload) {
            Ok(request) => request,
            Err(e) => return Some(Outcome::Unreadable(e.to_string())),
        };
        let data = session_data(*identity, context.cloned(), state.rate_limits.is_on());
        let mut responses = state
            .schema
            .execute_stream_with_session_data(request, Arc::new(data));
        // Run it up to its first wait now, so that it listens before this
        // socket's next message is read.
        let responses = match responses.next().now_or_never() {
            None => responses,
            Some(Some(first)) => futures_util::stream::once(async move { first })
                .chain(responses)
                .boxed(),
            Some(None) => futures_util::stream::empty().boxed(),
        };
        let own = Operation::Own {
            responses,
            over: false,
        };
        self.running.insert(id, own);
        None
    }

    /// Stops operation `id`, if it runs.
    pub fn stop(&mut self, id: &str) {
        self.running.remove(id);
    }

    /// Ends the shared operations, whose token expired: each with its
    /// error, as the resolver reports an expiry (and no end: the socket
    /// closes right after).
    pub fn expire_shared(&mut self) -> Vec<(String, Outcome)> {
        let shared: Vec<String> = self
            .running
            .iter()
            .filter(|(_, op)| matches!(op, Operation::Shared { .. }))
            .map(|(id, _)| id.clone())
            .collect();
        shared
            .into_iter()
            .filter_map(|id| match self.running.remove(&id) {
                Some(Operation::Shared { member, .. }) => {
                    let error = member.error_payload(subscription::expired());
                    Some((id, Outcome::Next(error)))
                }
                _ => None,
            })
            .collect()
    }

    /// Whether nothing runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

impl Stream for Operations {
    type Item = (String, Outcome);

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(String, Outcome)>> {
        self.running.poll_next_unpin(cx)
    }
}

/// The shared stream that can serve `payload` for `identity`: none for an
/// expired token (its own stream reports that), for a document outside the
/// trusted ones (its own stream refuses it), or for one that cannot be shared.
fn shareable(payload: &Value, identity: &Identity, state: &AppState) -> Option<live::Plan> {
    let unexpired = identity.expires_at.is_none_or(|at| at > Utc::now());
    let trusted = state.trusted.as_ref().is_none_or(|trusted| {
        payload
            .get("query")
            .and_then(Value::as_str)
            .is_some_and(|query| trusted.trusts_text(query))
    });
    if !(unexpired && trusted) {
        return None;
    }
    live::plan(payload, identity.caller, &state.limits.documents())
}

/// The data every operation of a session runs with.
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

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{Pos, ServerError};

    /// What an operation of its own reports for `responses`, in order.
    async fn outcomes(responses: Vec<Response>) -> Vec<String> {
        let own = Operation::Own {
            responses: futures_util::stream::iter(responses).boxed(),
            over: false,
        };
        own.map(|outcome| match outcome {
            Outcome::Next(payload) => format!("next {}", payload.get()),
            Outcome::Failed(errors) => format!("failed {}", errors.get()),
            Outcome::Done => "done".to_owned(),
            Outcome::Unreadable(reason) => format!("unreadable {reason}"),
        })
        .collect()
        .await
    }

    #[tokio::test]
    async fn a_request_error_fails_the_operation_and_nothing_follows() {
        let refused = Response::from_errors(vec![ServerError::new(
            "Unknown field",
            Some(Pos {
                line: 1,
                column: 16,
            }),
        )]);
        assert_eq!(
            outcomes(vec![refused]).await,
            [r#"failed [{"message":"Unknown field","locations":[{"line":1,"column":16}]}]"#]
        );
    }

    #[tokio::test]
    async fn results_and_errors_of_fields_are_results_then_the_end() {
        let data =
            Response::new(async_graphql::Value::from_json(serde_json::json!({ "a": 1 })).unwrap());
        let mut failed_field = ServerError::new("bad cursor", None);
        failed_field.path = vec![async_graphql::PathSegment::Field("activityAdded".into())];
        let executed = Response::from_errors(vec![failed_field]);
        assert_eq!(
            outcomes(vec![data, executed]).await,
            [
                r#"next {"data":{"a":1}}"#,
                r#"next {"data":null,"errors":[{"message":"bad cursor","path":["activityAdded"]}]}"#,
                "done",
            ]
        );
    }
}
