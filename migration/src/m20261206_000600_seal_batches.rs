use entity::seal_batch;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `seal_batches`: the sealer's seals, one row per batch instead of one per
/// activity (PostgreSQL spends on a row's tuple, not its width, so a seal
/// per row cost it 2.7 µs where a packed batch costs 0.4: BENCHMARKS.md).
/// A batch holds its entries packed (`entity::seal_batch`) and one line of
/// salts per entry (its JSON, or empty). `seals` stays for the seals written
/// before, and for the few that erasure or pruning change, which are moved
/// out of their batch into a row of their own; a row there wins over a
/// batch's entry at the same position. On PostgreSQL both packed columns
/// are stored out of line uncompressed: compressing salts cost more than
/// storing them.
fn up_statements(backend: DatabaseBackend) -> Vec<&'static str> {
    let mut up = vec![
        if backend == DatabaseBackend::Postgres {
            "CREATE TABLE seal_batches (last_txid bigint NOT NULL, last_seq bigint NOT NULL, \
             first_txid bigint NOT NULL, first_seq bigint NOT NULL, entries bytea NOT NULL, \
             salts text NOT NULL, \
             PRIMARY KEY (last_txid, last_seq))"
        } else {
            "CREATE TABLE seal_batches (last_txid bigint NOT NULL, last_seq bigint NOT NULL, \
             first_txid bigint NOT NULL, first_seq bigint NOT NULL, entries blob NOT NULL, \
             salts text NOT NULL, \
             PRIMARY KEY (last_txid, last_seq))"
        },
        "CREATE INDEX seal_batches_first_idx ON seal_batches (first_txid, first_seq)",
    ];
    if backend == DatabaseBackend::Postgres {
        up.push(
            "ALTER TABLE seal_batches ALTER COLUMN entries SET STORAGE EXTERNAL, \
             ALTER COLUMN salts SET STORAGE EXTERNAL",
        );
    }
    up
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        crate::run(manager, &up_statements(backend)).await
    }

    /// Unpacks every batch into rows of `seals`, keeping the rows already
    /// there (they won over their batch's entry), then drops the table.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let batches = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT entries, salts FROM seal_batches ORDER BY last_txid, last_seq",
            ))
            .await?;
        let mut rows: Vec<[Value; 7]> = Vec::new();
        for batch in batches {
            let bytes: Vec<u8> = batch.try_get_by_index(0)?;
            let salts: String = batch.try_get_by_index(1)?;
            let entries = seal_batch::unpack(&bytes)
                .ok_or_else(|| DbErr::Migration("a seal batch's entries are torn".into()))?;
            let mut lines = salts.split('\n');
            for entry in entries {
                let line = lines.next().unwrap_or_default();
                let hash: String = entry.hash.iter().map(|b| format!("{b:02x}")).collect();
                rows.push([
                    Value::from(entry.txid),
                    entry.seq.into(),
                    entry.uuid.into(),
                    entry.prev_txid.into(),
                    entry.prev_seq.into(),
                    hash.into(),
                    (!line.is_empty()).then(|| line.to_owned()).into(),
                ]);
            }
        }
        // 1,000 rows of 7 values a statement: SQLite binds at most 32,766.
        for chunk in rows.chunks(1000) {
            let mut insert = Query::insert()
                .into_table(Alias::new("seals"))
                .columns(
                    [
                        "txid",
                        "seq",
                        "activity_uuid",
                        "prev_txid",
                        "prev_seq",
                        "hash",
                        "salts",
                    ]
                    .map(Alias::new),
                )
                .on_conflict(
                    OnConflict::columns([Alias::new("txid"), Alias::new("seq")])
                        .do_nothing()
                        .to_owned(),
                )
                .to_owned();
            for row in chunk {
                insert.values_panic(row.clone().map(SimpleExpr::from));
            }
            db.execute(&insert).await?;
        }
        db.execute_unprepared("DROP TABLE seal_batches").await?;
        Ok(())
    }
}
