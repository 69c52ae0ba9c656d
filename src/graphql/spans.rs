//! async-graphql's `Tracing` extension, kept off subscription events.
//!
//! `Tracing` opens an `execute` span and a span for every object field of
//! every response. For a subscription that is per event (and per subscriber
//! when streams are not shared), which the fan-out benchmark showed costing
//! more than the event itself; the subscription's parse and validation spans
//! stay, as they say what was subscribed to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextResolve, NextSubscribe, NextValidation, ResolveInfo, Tracing,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};
use futures_util::stream::BoxStream;
use std::sync::Mutex;

/// Creates one [`Spans`] per request or subscription.
pub struct OperationSpans;

impl ExtensionFactory for OperationSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Spans {
            tracing: Tracing.create(),
            operation_name: Mutex::default(),
            quiet: AtomicBool::new(false),
        })
    }
}

/// `Tracing` for one operation, silent from execution on when it is a subscription.
pub struct Spans {
    tracing: Arc<dyn Extension>,
    operation_name: Mutex<Option<String>>,
    /// Set once the operation is known to be a subscription.
    quiet: AtomicBool,
}

#[async_trait::async_trait]
impl Extension for Spans {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        self.tracing.request(ctx, next).await
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        // Tracing's span here would be entered on every poll of the stream.
        next.run(ctx, stream)
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        *self
            .operation_name
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = request.operation_name.clone();
        self.tracing.prepare_request(ctx, request, next).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = self
            .tracing
            .parse_query(ctx, query, variables, next)
            .await?;
        let name = self
            .operation_name
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let subscription = super::selected_operation(&doc, name.as_deref())
            .is_some_and(|(_, op)| op.node.ty == OperationType::Subscription);
        self.quiet.store(subscription, Ordering::Relaxed);
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        self.tracing.validation(ctx, next).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if self.quiet.load(Ordering::Relaxed) {
            next.run(ctx, operation_name).await
        } else {
            self.tracing.execute(ctx, operation_name, next).await
        }
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if self.quiet.load(Ordering::Relaxed) {
            next.run(ctx, info).await
        } else {
            self.tracing.resolve(ctx, info, next).await
        }
    }
}
