//! An async-graphql extension that counts and times every operation.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextSubscribe,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerResult, Variables};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use crate::metrics::Metrics;

/// Creates one [`OperationMetrics`] per request.
pub struct MetricsFactory(pub Arc<Metrics>);

impl ExtensionFactory for MetricsFactory {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetrics {
            metrics: self.0.clone(),
            seen: Mutex::default(),
        })
    }
}

/// What one request turned out to be.
#[derive(Default)]
struct Seen {
    name: Option<String>,
    kind: Option<&'static str>,
}

/// Records the request's operation name, type, time and outcome.
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

#[async_trait::async_trait]
impl Extension for OperationMetrics {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        self.metrics.observe(
            seen.name.as_deref(),
            seen.kind.unwrap_or("invalid"),
            started.elapsed().as_secs_f64(),
            !response.errors.is_empty(),
        );
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        // A stream shared by several subscribers is counted by each of them.
        if ctx.data_opt::<super::LiveSource>().is_some() {
            return next.run(ctx, stream);
        }
        let metrics = self.metrics.clone();
        metrics.subscriptions_started.inc();
        metrics.subscriptions_active.inc();
        let guard = ActiveSubscription(metrics);
        next.run(ctx, stream)
            .map(move |item| {
                let _keep = &guard;
                item
            })
            .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).name = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((kind, name)) = operation_of(&doc, seen.name.as_deref()) {
            seen.kind = Some(kind);
            seen.name = seen.name.take().or(name);
        }
        Ok(doc)
    }
}

/// Counts a subscription as open until its stream is dropped.
struct ActiveSubscription(Arc<Metrics>);

impl Drop for ActiveSubscription {
    fn drop(&mut self) {
        self.0.subscriptions_active.dec();
    }
}
