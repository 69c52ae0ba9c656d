use sea_orm_migration::prelude::*;

use crate::run;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One counter that erasure and pruning raise in the transaction that
/// rewrites or deletes rows. A sealer that seals rows its publisher read
/// earlier, instead of reading them again, compares the counter read
/// before that read with the one under the chain's lock: if they differ,
/// the copies may be stale and it reads the rows afresh.
const UP: &[&str] = &[
    "CREATE TABLE chain_epoch (id integer PRIMARY KEY, epoch bigint NOT NULL)",
    "INSERT INTO chain_epoch (id, epoch) VALUES (1, 0)",
];

const DOWN: &[&str] = &["DROP TABLE chain_epoch"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
