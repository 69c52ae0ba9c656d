use sea_orm_migration::prelude::*;

use crate::run;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Moves each seal's salts and erased commitments from `seal_salts` into
/// `seals` itself: the sealer then writes one row per activity instead of
/// two, which halves the inserts that take CPU from writers. Seals without
/// salts (pruned ones) keep NULL. Adds `form`: the canonical form of a row
/// pruned while older rows remain, from which verification recomputes its
/// hash and reads when it was logged. The same statements serve both
/// databases (SQLite has `UPDATE … FROM` since 3.33).
const UP: &[&str] = &[
    "ALTER TABLE seals ADD COLUMN salts text",
    "ALTER TABLE seals ADD COLUMN erased text",
    "ALTER TABLE seals ADD COLUMN form text",
    "UPDATE seals SET salts = t.salts, erased = t.erased FROM seal_salts t \
     WHERE t.txid = seals.txid AND t.seq = seals.seq",
    "DROP TABLE seal_salts",
];

const DOWN: &[&str] = &[
    "CREATE TABLE seal_salts (txid bigint NOT NULL, seq bigint NOT NULL, salts text NOT NULL, \
     erased text, PRIMARY KEY (txid, seq))",
    "INSERT INTO seal_salts (txid, seq, salts, erased) \
     SELECT txid, seq, COALESCE(salts, '{}'), erased FROM seals \
     WHERE salts IS NOT NULL OR erased IS NOT NULL",
    "ALTER TABLE seals DROP COLUMN form",
    "ALTER TABLE seals DROP COLUMN erased",
    "ALTER TABLE seals DROP COLUMN salts",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
