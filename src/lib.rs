//! activity-feed: a GraphQL API server for an activity feed.
//!
//! Layers, from the bottom: [`service`] (plain Rust over the database),
//! [`bus`] (live delivery of committed rows), [`graphql`] (the schema over the
//! service), [`http`] (routes), and [`startup`] (wiring it all into a server).

/// Bearer tokens and open development mode.
pub mod auth;
/// How committed activities reach live subscribers.
pub mod bus;
/// Configuration from flags and environment.
pub mod config;
/// The database pool and migrations.
pub mod db;
/// The GraphQL schema over the service.
pub mod graphql;
/// Routes and layers.
pub mod http;
/// Prometheus metrics.
pub mod metrics;
/// Per-caller rate limits, charged by operation cost.
pub mod ratelimit;
/// The background retention job.
pub mod retention;
/// The activity feed as plain Rust.
pub mod service;
/// Building and running the server.
pub mod startup;
/// Structured logs.
pub mod telemetry;
