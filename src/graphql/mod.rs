//! The GraphQL API over the service layer. Resolvers are thin: they turn
//! arguments into service calls and service results into GraphQL types.

use std::sync::Arc;

use async_graphql::parser::types::{ExecutableDocument, OperationDefinition};
use async_graphql::{Name, Positioned};
use async_graphql::{SDLExportOptions, Schema};

use crate::config::LimitsConfig;
use crate::metrics::Metrics;
use crate::service::ActivityFeed;
use persisted::PersistedQueries;

/// The tamper-evident log and erasure: heads, verification, forgetting a person.
pub mod chain;
/// Relay's slice arguments: edge cursors, page sizes and their defaults.
pub mod connection;
/// The service and caller of a request.
pub mod context;
/// How service errors become GraphQL errors.
pub mod error;
/// The per-request hooks: error codes, metrics, spans, prefetch, persisted queries, document limits.
pub mod hooks;
/// Opaque global ids for client caches.
pub mod id;
/// Input types and how each becomes the service's input.
pub mod input;
/// Refusing introspection when it is turned off.
pub mod introspection;
/// What one document may ask for: size, tokens, root fields, aliases, field costs.
pub mod limits;
/// Subscriptions shared by every subscriber with the same document and caller.
pub mod live;
/// Batching loaders for related rows.
pub mod loaders;
/// Counts and times every operation.
pub mod metrics;
/// Write operations.
pub mod mutation;
/// The Node interface over the objects a global id reads back.
pub mod node;
/// What mutations answer with.
pub mod payload;
/// Apollo's automatic persisted queries, in a store bounded by bytes.
pub mod persisted;
/// Read operations.
pub mod query;
/// The schema's own scalars (DateTime).
pub mod scalars;
/// Live operations.
pub mod subscription;
/// Trusted documents: the operation allow-list of `TRUSTED_DOCUMENTS`.
pub mod trusted;
/// The object graph: activities, people, groups and their connections.
pub mod types;

pub use mutation::MutationRoot;
pub use query::{QueryRoot, RetentionDays};
pub use subscription::{LiveSource, SubscriptionRoot};

/// Whether a response is a request error: nothing executed (no `data`),
/// and no error points at a field, as for parse and validation failures.
pub fn is_request_error(res: &async_graphql::Response) -> bool {
    res.data == async_graphql::Value::Null
        && !res.errors.is_empty()
        && res.errors.iter().all(|e| e.path.is_empty())
}

/// The operation a request runs: the one `operation_name` names, or else the
/// document's first, with its name if it has one. GraphQL-over-HTTP's GET
/// check and the metrics both ask this, so they agree on what ran.
pub fn selected_operation<'a>(
    doc: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<(Option<&'a Name>, &'a Positioned<OperationDefinition>)> {
    match operation_name {
        Some(wanted) => doc
            .operations
            .iter()
            .find(|(name, _)| name.map(|n| n.as_str()) == Some(wanted)),
        None => doc.operations.iter().next(),
    }
}

/// The schema this server serves.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What the schema needs beyond the service.
#[derive(Clone)]
pub struct SchemaConfig {
    /// Days activities are kept, as reported by `retentionDays`.
    pub retention_days: u32,
    /// The limits on queries: depth, complexity, introspection, persisted
    /// queries and the bounds on one document, as configured.
    pub limits: LimitsConfig,
    /// Where operations are counted.
    pub metrics: Arc<Metrics>,
    /// The callers' buckets, charged each operation's cost.
    pub rate_limits: crate::ratelimit::RateLimits,
    /// The only documents that run, when the deployment has a manifest.
    pub trusted: Option<trusted::TrustedDocuments>,
}

/// Builds the schema over `feed`; every limit on queries is applied here.
pub fn build_schema(feed: ActivityFeed, config: SchemaConfig) -> AppSchema {
    let live = feed.live().clone();
    let limits = &config.limits;
    let builder = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .data(loaders::fresh_users(feed.clone()))
        .data(feed)
        .data(RetentionDays(config.retention_days))
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(limits.max_depth.max(32))
        .limit_directives(16)
        // The only extension: each one costs every field of every result a hop.
        .extension(hooks::HooksFactory::new(
            config.metrics.clone(),
            live,
            limits.introspection,
            limits
                .persisted_queries
                .then(|| PersistedQueries::new(limits.persisted_queries_cache_bytes)),
            limits.documents(),
            config.rate_limits.clone(),
            config.trusted.clone(),
        ));
    if limits.introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The schema's SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .finish()
        .sdl_with_options(SDLExportOptions::new().include_specified_by())
}
