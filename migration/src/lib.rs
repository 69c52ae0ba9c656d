//! Schema migrations of activity-feed.
//!
//! One set of migrations serves SQLite and PostgreSQL; where the two need
//! different DDL, the migration asks the manager for the backend.

pub use sea_orm_migration::prelude::*;

/// Creates `activities` and `users` with the indexes the feed's queries use.
mod m20261126_000001_create_tables;
/// Adds `idempotency_key`, so a retried `log` returns its first activity.
mod m20261127_000002_idempotency_key;
/// Adds `correlation_id`, `client_ip` and `user_agent`, each filterable.
mod m20261128_000003_correlation_and_context;
/// Adds `search_text` and the indexes behind the metadata filters: GIN on
/// PostgreSQL, FTS5 on SQLite.
mod m20261128_000004_metadata_search;
/// Adds each activity's position, `(txid, seq)`: the order in which rows
/// become visible, which live delivery and resuming follow.
mod m20261205_000005_positions;

/// Runs raw statements in order: for DDL that differs per backend.
async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}
/// Scopes idempotency keys per caller: adds `idempotency_scope`, and makes
/// (scope, key) unique instead of the key alone.
pub mod m20261205_000006_idempotency_scope;
/// Rewrites the search words of rows indexed by SQL's word splitting with
/// the service's rule.
mod m20261205_000007_search_words;
/// Adds the hash chain (`seals`, `seal_salts`, `seal_anchor`), the
/// record of erasures, and an index on `resource_uuid` for erasure.
mod m20261206_000100_seals;
/// Adds the rollups that answer counts, totals and distinct lists without
/// scanning `activities`, and their watermark.
mod m20261206_000300_rollups;
/// Keeps each seal's salts and erased commitments in `seals` itself, so
/// that sealing writes one row per activity, and the canonical form of a
/// row pruned out of order, so that its mark can be checked.
mod m20261206_000400_salts_in_seals;
/// Adds the counter that every change to a stored activity raises (by
/// trigger), so that a sealer can tell whether rows its publisher read may
/// have changed since.
mod m20261206_000500_chain_epoch;
/// Adds `seal_batches`: the sealer's seals packed one row per batch.
mod m20261206_000600_seal_batches;
/// Refilling `search_text` with the service's word rule, for migrations.
mod search_words;

/// Every migration of the project, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_tables::Migration),
            Box::new(m20261127_000002_idempotency_key::Migration),
            Box::new(m20261128_000003_correlation_and_context::Migration),
            Box::new(m20261128_000004_metadata_search::Migration),
            Box::new(m20261205_000005_positions::Migration),
            Box::new(m20261205_000006_idempotency_scope::Migration),
            Box::new(m20261205_000007_search_words::Migration),
            Box::new(m20261206_000100_seals::Migration),
            Box::new(m20261206_000300_rollups::Migration),
            Box::new(m20261206_000400_salts_in_seals::Migration),
            Box::new(m20261206_000500_chain_epoch::Migration),
            Box::new(m20261206_000600_seal_batches::Migration),
        ]
    }
}
