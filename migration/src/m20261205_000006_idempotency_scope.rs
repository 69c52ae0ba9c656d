use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Activities {
    Table,
    IdempotencyKey,
    IdempotencyScope,
}

/// The key's old index: unique across every producer.
const GLOBAL_INDEX: &str = "activities_idempotency_key_idx";
/// Unique per caller.
const SCOPED_INDEX: &str = "activities_idempotency_scope_key_idx";

/// The scope given to keys stored before keys were scoped. No caller has
/// it: who logged those rows was never recorded, so no caller can be said
/// to own them. They stay stored and unique among themselves; a retry,
/// after the upgrade, of a request first sent before it writes a new row.
pub const LEGACY_SCOPE: &str = "legacy";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Activities::Table)
                    .add_column(ColumnDef::new(Activities::IdempotencyScope).string_len(64))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Activities::Table)
                    .value(Activities::IdempotencyScope, LEGACY_SCOPE)
                    .and_where(Expr::col(Activities::IdempotencyKey).is_not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(GLOBAL_INDEX)
                    .table(Activities::Table)
                    .to_owned(),
            )
            .await?;
        // NULLs never collide on either database: rows without a key (both
        // columns NULL) are unconstrained.
        manager
            .create_index(
                Index::create()
                    .name(SCOPED_INDEX)
                    .table(Activities::Table)
                    .col(Activities::IdempotencyScope)
                    .col(Activities::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(SCOPED_INDEX)
                    .table(Activities::Table)
                    .to_owned(),
            )
            .await?;
        // Fails, as it should, when two callers now hold the same key.
        manager
            .create_index(
                Index::create()
                    .name(GLOBAL_INDEX)
                    .table(Activities::Table)
                    .col(Activities::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Activities::Table)
                    .drop_column(Activities::IdempotencyScope)
                    .to_owned(),
            )
            .await
    }
}
