use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Activities {
    Table,
    Uuid,
    Action,
    Module,
    Mode,
    ActorUuid,
    ResourceType,
    ResourceUuid,
    TargetUuid,
    Metadata,
    InsertedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Uuid,
    Email,
    FirstName,
    LastName,
    InsertedAt,
}

/// A bounded text column. On PostgreSQL it gets the "C" collation so that
/// sorting and prefix ranges (`action >= 'post.' AND action < 'post/'`) follow
/// byte order, exactly as SQLite's default BINARY collation does, and so that
/// a prefix range can walk the btree index whatever the database's locale is.
fn text(col: impl IntoIden, len: u32, backend: DatabaseBackend) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.string_len(len);
    if backend == DatabaseBackend::Postgres {
        def.extra("COLLATE \"C\"");
    }
    def
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        manager
            .create_table(
                Table::create()
                    .table(Activities::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Activities::Uuid)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(text(Activities::Action, 100, backend).not_null())
                    .col(text(Activities::Module, 50, backend))
                    .col(text(Activities::Mode, 20, backend))
                    .col(ColumnDef::new(Activities::ActorUuid).uuid())
                    .col(text(Activities::ResourceType, 50, backend))
                    .col(ColumnDef::new(Activities::ResourceUuid).uuid())
                    .col(ColumnDef::new(Activities::TargetUuid).uuid())
                    .col(
                        ColumnDef::new(Activities::Metadata)
                            .json_binary()
                            .not_null()
                            .default("{}"),
                    )
                    .col(
                        ColumnDef::new(Activities::InsertedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        let indexes: [(&str, &[Activities]); 5] = [
            (
                "activities_inserted_at_uuid_idx",
                &[Activities::InsertedAt, Activities::Uuid],
            ),
            (
                "activities_action_inserted_at_idx",
                &[Activities::Action, Activities::InsertedAt],
            ),
            (
                "activities_actor_inserted_at_idx",
                &[Activities::ActorUuid, Activities::InsertedAt],
            ),
            ("activities_resource_type_idx", &[Activities::ResourceType]),
            ("activities_target_uuid_idx", &[Activities::TargetUuid]),
        ];
        for (name, cols) in indexes {
            let mut index = Index::create();
            index.name(name).table(Activities::Table).if_not_exists();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Users::Uuid).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Users::Email).string_len(320))
                    .col(ColumnDef::new(Users::FirstName).string_len(100))
                    .col(ColumnDef::new(Users::LastName).string_len(100))
                    .col(
                        ColumnDef::new(Users::InsertedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Activities::Table).to_owned())
            .await
    }
}
