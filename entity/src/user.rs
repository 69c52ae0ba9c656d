use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of `users`: a person the host platform knows.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// The host platform's id for this person.
    #[sea_orm(primary_key, auto_increment = false)]
    pub uuid: Uuid,
    /// Contact address, as the host platform knows it.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// When the row was first stored.
    pub inserted_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
