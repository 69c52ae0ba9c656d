use sea_orm_migration::prelude::*;

use crate::search_words;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Databases that ran `m20261128_000004` before it used the service's word
/// rule have their older rows indexed by SQL's; this rewrites the rows whose
/// words differ. On a database migrated since, it reads every row once and
/// writes none.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        search_words::refill(manager).await
    }

    /// The words stay: they are what the service writes anyway.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
