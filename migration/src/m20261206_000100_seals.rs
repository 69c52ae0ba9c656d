use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Seals {
    Table,
    Txid,
    Seq,
    ActivityUuid,
    PrevTxid,
    PrevSeq,
    Hash,
    Pruned,
}

#[derive(DeriveIden, Clone, Copy)]
enum SealSalts {
    Table,
    Txid,
    Seq,
    Salts,
    Erased,
}

#[derive(DeriveIden, Clone, Copy)]
enum SealAnchor {
    Table,
    Id,
    Txid,
    Seq,
    Hash,
}

#[derive(DeriveIden, Clone, Copy)]
enum Erasures {
    Table,
    Id,
    Pseudonym,
    Reason,
    Subject,
    Known,
    Rewritten,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Activities {
    Table,
    ResourceUuid,
}

/// The index erasure finds a person's resource rows by.
const RESOURCE_INDEX: &str = "activities_resource_uuid_idx";

/// The hash chain over activities in position order:
/// - `seals`: one row per sealed activity, its chain hash and the position
///   of the row sealed before it (so that a row deleted with its seal is
///   still named), and whether retention deleted the row (`pruned`);
/// - `seal_salts`: the salts of each activity's commitments to its personal
///   fields, and the commitments of the fields erasure rewrote; erasure
///   deletes a field's salt, so that its old value cannot be tested against
///   the commitment;
/// - `seal_anchor`: the hash of the newest row of the pruned prefix, where
///   verification of the remaining chain starts;
/// - `erasures`: each erasure of a person, with the person's uuid and known
///   values only while it runs, so that an interrupted one resumes.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Seals::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Seals::Txid).big_integer().not_null())
                    .col(ColumnDef::new(Seals::Seq).big_integer().not_null())
                    .col(ColumnDef::new(Seals::ActivityUuid).uuid().not_null())
                    .col(ColumnDef::new(Seals::PrevTxid).big_integer().not_null())
                    .col(ColumnDef::new(Seals::PrevSeq).big_integer().not_null())
                    .col(ColumnDef::new(Seals::Hash).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Seals::Pruned)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .primary_key(Index::create().col(Seals::Txid).col(Seals::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SealSalts::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(SealSalts::Txid).big_integer().not_null())
                    .col(ColumnDef::new(SealSalts::Seq).big_integer().not_null())
                    .col(ColumnDef::new(SealSalts::Salts).text().not_null())
                    .col(ColumnDef::new(SealSalts::Erased).text())
                    .primary_key(Index::create().col(SealSalts::Txid).col(SealSalts::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SealAnchor::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SealAnchor::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SealAnchor::Txid).big_integer().not_null())
                    .col(ColumnDef::new(SealAnchor::Seq).big_integer().not_null())
                    .col(ColumnDef::new(SealAnchor::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Erasures::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Erasures::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Erasures::Pseudonym).uuid().not_null())
                    .col(ColumnDef::new(Erasures::Reason).text().not_null())
                    .col(ColumnDef::new(Erasures::Subject).uuid())
                    .col(ColumnDef::new(Erasures::Known).text())
                    .col(
                        ColumnDef::new(Erasures::Rewritten)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Erasures::StartedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Erasures::FinishedAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(RESOURCE_INDEX)
                    .table(Activities::Table)
                    .col(Activities::ResourceUuid)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(RESOURCE_INDEX)
                    .table(Activities::Table)
                    .to_owned(),
            )
            .await?;
        for table in [
            Erasures::Table.into_iden(),
            SealAnchor::Table.into_iden(),
            SealSalts::Table.into_iden(),
            Seals::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
