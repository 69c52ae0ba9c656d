use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Activities {
    Table,
    CorrelationId,
    ClientIp,
    UserAgent,
}

const CORRELATION_INDEX: &str = "activities_correlation_id_idx";
const CLIENT_IP_INDEX: &str = "activities_client_ip_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = [
            ColumnDef::new(Activities::CorrelationId)
                .string_len(100)
                .to_owned(),
            // 45 characters hold any textual IPv6 address, IPv4-mapped included.
            ColumnDef::new(Activities::ClientIp)
                .string_len(45)
                .to_owned(),
            ColumnDef::new(Activities::UserAgent)
                .string_len(512)
                .to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Activities::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        for (name, column) in [
            (CORRELATION_INDEX, Activities::CorrelationId),
            (CLIENT_IP_INDEX, Activities::ClientIp),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Activities::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [CORRELATION_INDEX, CLIENT_IP_INDEX] {
            manager
                .drop_index(Index::drop().name(name).table(Activities::Table).to_owned())
                .await?;
        }
        for column in [
            Activities::CorrelationId,
            Activities::ClientIp,
            Activities::UserAgent,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Activities::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
