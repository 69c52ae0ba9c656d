use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Activities {
    Table,
    IdempotencyKey,
}

const INDEX: &str = "activities_idempotency_key_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Activities::Table)
                    .add_column(ColumnDef::new(Activities::IdempotencyKey).string_len(200))
                    .to_owned(),
            )
            .await?;
        // Unique, and NULLs never collide on either database: rows without a
        // key are unconstrained, a retried key conflicts with its first row.
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Activities::Table)
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
                    .name(INDEX)
                    .table(Activities::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Activities::Table)
                    .drop_column(Activities::IdempotencyKey)
                    .to_owned(),
            )
            .await
    }
}
