//! Counts and times every operation (called from the schema's hooks).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Request, Response};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use crate::metrics::Metrics;

/// What one request turned out to be.
#[derive(Default)]
struct Seen {
    name: Option<String>,
    kind: Option<&'static str>,
}

/// Records one request's operation name, type, time and outcome.
pub struct OperationMetrics {
    metrics: Arc<Metrics>,
    seen: Mutex<Seen>,
}

/// The type and name of the operation the request runs: the one named by
/// `operationName`, or the document's only one (which may carry a name).
fn operation_of(
    doc: &ExecutableDocument,
    name: Option<&str>,
) -> Option<(&'static str, Option<String>)> {
    let (op_name, op) = super::selected_operation(doc, name)?;
    let kind = match op.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    Some((kind, op_name.map(|n| n.to_string())))
}

impl OperationMetrics {
    /// Metrics for a request about to start.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            seen: Mutex::default(),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes the operation name the request gave.
    pub fn requested(&self, request: &Request) {
        self.seen().name = request.operation_name.clone();
    }

    /// Notes which operation of the parsed document runs.
    pub fn parsed(&self, doc: &ExecutableDocument) {
        let mut seen = self.seen();
        if let Some((kind, name)) = operation_of(doc, seen.name.as_deref()) {
            seen.kind = Some(kind);
            seen.name = seen.name.take().or(name);
        }
    }

    /// Counts and times a finished query or mutation; a request whose
    /// document never parsed counts as "invalid".
    pub fn finished(&self, started: Instant, response: &Response) {
        let seen = self.seen();
        self.metrics.observe(
            seen.name.as_deref(),
            seen.kind.unwrap_or("invalid"),
            started.elapsed().as_secs_f64(),
            !response.errors.is_empty(),
        );
    }

    /// Counts a subscription as started, and as active while `stream` lives.
    pub fn subscribed<'s>(&self, stream: BoxStream<'s, Response>) -> BoxStream<'s, Response> {
        let metrics = self.metrics.clone();
        metrics.subscriptions_started.inc();
        metrics.subscriptions_active.inc();
        let guard = ActiveSubscription(metrics);
        stream
            .map(move |item| {
                let _keep = &guard;
                item
            })
            .boxed()
    }
}

/// Counts a subscription as open until its stream is dropped.
struct ActiveSubscription(Arc<Metrics>);

impl Drop for ActiveSubscription {
    fn drop(&mut self) {
        self.0.subscriptions_active.dec();
    }
}
