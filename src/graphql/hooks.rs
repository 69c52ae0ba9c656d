//! The schema's per-request hooks, installed as one async-graphql extension.
//!
//! async-graphql runs every field of every result through each installed
//! extension's `resolve` in turn, a boxed future per extension per field,
//! even for extensions that never look at fields. With one extension per
//! concern (error codes, metrics, spans, the people loader, persisted
//! queries) that was about a fifth of the instructions of a 50-row page
//! (callgrind, BENCHMARKS.md). So the concerns stay in their own modules and
//! this one extension calls them.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use futures_util::stream::{BoxStream, StreamExt};
use tracing::Instrument;

use super::context::Authentication;
use super::error::with_default_code;
use super::introspection;
use super::limits::{self, DocumentLimits};
use super::loaders::request_users;
use super::metrics::OperationMetrics;
use super::persisted::PersistedQueries;
use super::trusted::{TrustedDocuments, DOCUMENT_ID};
use super::types::ReadFloor;
use crate::metrics::Metrics;
use crate::ratelimit::{Bucket, RateLimits};
use crate::service::{Live, Role};

/// Creates the [`Hooks`] of each request.
pub struct HooksFactory {
    metrics: Arc<Metrics>,
    live: Live,
    introspection: bool,
    persisted: Option<PersistedQueries>,
    documents: DocumentLimits,
    rate_limits: RateLimits,
    trusted: Option<TrustedDocuments>,
}

impl HooksFactory {
    /// Hooks that count into `metrics`, read the floor of `live` before each
    /// request, refuse introspection unless `introspection`, accept Apollo's
    /// persisted queries into `persisted` when there is one, and refuse
    /// documents beyond `documents`, and charge each validated operation's
    /// cost to the [`Bucket`] its request carries; with `trusted`, run
    /// only its documents.
    pub fn new(
        metrics: Arc<Metrics>,
        live: Live,
        introspection: bool,
        persisted: Option<PersistedQueries>,
        documents: DocumentLimits,
        rate_limits: RateLimits,
        trusted: Option<TrustedDocuments>,
    ) -> Self {
        Self {
            metrics,
            live,
            introspection,
            persisted,
            documents,
            rate_limits,
            trusted,
        }
    }
}

impl ExtensionFactory for HooksFactory {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Hooks {
            metrics: OperationMetrics::new(self.metrics.clone()),
            live: self.live.clone(),
            introspection: self.introspection,
            persisted: self.persisted.clone(),
            documents: self.documents,
            rate_limits: self.rate_limits.clone(),
            counter: self.metrics.clone(),
            trusted: self.trusted.clone(),
        })
    }
}

/// One request's hooks.
pub struct Hooks {
    metrics: OperationMetrics,
    live: Live,
    introspection: bool,
    persisted: Option<PersistedQueries>,
    documents: DocumentLimits,
    rate_limits: RateLimits,
    counter: Arc<Metrics>,
    trusted: Option<TrustedDocuments>,
}

#[async_trait::async_trait]
impl Extension for Hooks {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        self.metrics.finished(started, &response);
        with_default_code(response)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let stream = next.run(ctx, stream);
        // A stream shared by several subscribers is counted by each of them.
        let stream = match ctx.data_opt::<super::LiveSource>() {
            Some(_) => stream,
            None => self.metrics.subscribed(stream),
        };
        stream.map(with_default_code).boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.metrics.requested(&request);
        // Each request's own cached people loader (see `loaders`).
        // The floor is read before anything the request reads, so the
        // cursors of what it reads can be kept at or below it.
        let feed = ctx
            .data::<crate::service::ActivityFeed>()
            .map_err(|e| e.into_server_error(Default::default()))?
            .clone();
        let request = request
            .data(request_users(feed))
            .data(ReadFloor(self.live.floor()));
        // Before anything is parsed or stored; a stored document passed it
        // when it was stored.
        limits::check_text(&request.query, &self.documents)?;
        let request = match &self.trusted {
            Some(trusted) => {
                // HTTP puts the caller in the request's data, which the
                // context does not show before the request is prepared; a
                // websocket puts it in the session's.
                let authentication = request
                    .data
                    .get(&std::any::TypeId::of::<Authentication>())
                    .and_then(|d| d.downcast_ref::<Authentication>())
                    .or_else(|| ctx.data_opt::<Authentication>());
                let admin = matches!(
                    authentication,
                    Some(Authentication(Ok(identity))) if identity.caller.role == Role::Admin
                );
                trusted.apply(request, admin)?
            }
            None if request.extensions.contains_key(DOCUMENT_ID) => {
                return Err(super::trusted::not_found(
                    "this server has no trusted documents to look a `documentId` up in; send the query".into(),
                ))
            }
            None => request,
        };
        let request = match &self.persisted {
            Some(persisted) => persisted.apply(request)?,
            None => request,
        };
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
        limits::check_document(&doc, &self.documents)?;
        if !self.introspection {
            introspection::refuse(&doc)?;
        }
        self.metrics.parsed(&doc);
        Ok(doc)
    }

    /// Charges the operation's cost, known once it is validated, to the
    /// caller's bucket; a refused operation runs nothing. Requests without a
    /// bucket (open mode, the shared streams' own runs) are not charged.
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if let Some(bucket) = ctx.data_opt::<Bucket>() {
            if let Err(refused) = self.rate_limits.charge(bucket, result.complexity) {
                self.counter.rate_limited(bucket.kind());
                return Err(vec![super::error::rate_limited(
                    result.complexity,
                    refused.retry_after_secs(),
                )]);
            }
        }
        Ok(result)
    }

    /// One span per operation, named after it, for traces and logs; not one
    /// per field, which async-graphql's `Tracing` extension opens.
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
