use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::run;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns of an activity that enter its seal: all but its position
/// (which SQLite's own insert trigger sets) and the search index.
const SEALED_COLUMNS: &str = "uuid, action, module, mode, actor_uuid, resource_type, \
    resource_uuid, target_uuid, metadata, inserted_at, idempotency_key, correlation_id, \
    client_ip, user_agent, idempotency_scope";

/// One counter that every change to a stored activity raises, by trigger,
/// in the transaction that makes it: erasure's rewrites, pruning's deletes,
/// and any other statement, from any version of the server or by hand. A
/// sealer that seals rows its publisher read earlier, instead of reading
/// them again, compares the counter read before that read with the one
/// under the chain's lock: if they differ, the copies may be stale and it
/// reads the rows afresh.
fn up_statements(backend: DatabaseBackend) -> Vec<String> {
    let mut up = vec![
        "CREATE TABLE chain_epoch (id integer PRIMARY KEY, epoch bigint NOT NULL)".to_owned(),
        "INSERT INTO chain_epoch (id, epoch) VALUES (1, 0)".to_owned(),
    ];
    if backend == DatabaseBackend::Postgres {
        // Once per statement: a prune deletes thousands of rows in one.
        up.push(
            "CREATE FUNCTION activities_raise_chain_epoch() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN UPDATE chain_epoch SET epoch = epoch + 1 WHERE id = 1; RETURN NULL; END $$"
                .to_owned(),
        );
        up.push(format!(
            "CREATE TRIGGER activities_chain_epoch_update AFTER UPDATE OF {SEALED_COLUMNS} \
             ON activities FOR EACH STATEMENT EXECUTE FUNCTION activities_raise_chain_epoch()"
        ));
        up.push(
            "CREATE TRIGGER activities_chain_epoch_delete AFTER DELETE ON activities \
             FOR EACH STATEMENT EXECUTE FUNCTION activities_raise_chain_epoch()"
                .to_owned(),
        );
    } else {
        // SQLite has row triggers only; an in-page update per row.
        up.push(format!(
            "CREATE TRIGGER activities_chain_epoch_update AFTER UPDATE OF {SEALED_COLUMNS} \
             ON activities BEGIN UPDATE chain_epoch SET epoch = epoch + 1 WHERE id = 1; END"
        ));
        up.push(
            "CREATE TRIGGER activities_chain_epoch_delete AFTER DELETE ON activities \
             BEGIN UPDATE chain_epoch SET epoch = epoch + 1 WHERE id = 1; END"
                .to_owned(),
        );
    }
    up
}

fn down_statements(backend: DatabaseBackend) -> Vec<String> {
    let statements: &[&str] = if backend == DatabaseBackend::Postgres {
        &[
            "DROP TRIGGER IF EXISTS activities_chain_epoch_update ON activities",
            "DROP TRIGGER IF EXISTS activities_chain_epoch_delete ON activities",
            "DROP FUNCTION IF EXISTS activities_raise_chain_epoch()",
            "DROP TABLE chain_epoch",
        ]
    } else {
        &[
            "DROP TRIGGER IF EXISTS activities_chain_epoch_update",
            "DROP TRIGGER IF EXISTS activities_chain_epoch_delete",
            "DROP TABLE chain_epoch",
        ]
    };
    statements.iter().map(|s| (*s).to_owned()).collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = up_statements(manager.get_database_backend());
        run(
            manager,
            &statements.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = down_statements(manager.get_database_backend());
        run(
            manager,
            &statements.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await
    }
}
