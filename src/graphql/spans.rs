//! One tracing span per GraphQL operation.
//!
//! async-graphql's own `Tracing` extension also opens a span around every
//! field of every result: on a page of 50 activities that is ~600 spans and
//! their futures, a measurable share of the page's CPU (BENCHMARKS.md), and on
//! a subscription it repeats for every event of every subscriber. Logs need
//! to know which operation they belong to, not which field.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::Response;
use tracing::Instrument;

/// Creates the [`OperationSpan`] extension.
pub struct OperationSpans;

impl ExtensionFactory for OperationSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationSpan)
    }
}

/// Runs each operation inside a `graphql` span that names it.
pub struct OperationSpan;

#[async_trait::async_trait]
impl Extension for OperationSpan {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let span = tracing::info_span!("graphql", operation = operation_name.unwrap_or(""));
        next.run(ctx, operation_name).instrument(span).await
    }
}
