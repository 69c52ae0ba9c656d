use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row of `activities`: who did what to which resource, and when.
///
/// The table has one more column, `search_text`: the words of the metadata,
/// written by the service beside each row for the full-text filter and never
/// read back, so it is not part of the model.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "activities")]
pub struct Model {
    /// UUIDv7, so the primary key is ordered by creation time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub uuid: Uuid,
    /// What happened, dotted by convention: "post.created".
    pub action: String,
    /// The part of the platform that logged it.
    pub module: Option<String>,
    /// How it was triggered: "manual", "auto", "cron", "script", …
    pub mode: Option<String>,
    /// Who performed the action.
    pub actor_uuid: Option<Uuid>,
    /// The kind of thing acted upon: "post", "user", …
    pub resource_type: Option<String>,
    /// The thing acted upon.
    pub resource_uuid: Option<Uuid>,
    /// The person the action was aimed at, when it is not the actor.
    pub target_uuid: Option<Uuid>,
    /// Free-form details; always a JSON object.
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    /// When the server stored the row, UTC, microsecond precision.
    pub inserted_at: DateTimeUtc,
    /// The producer's key for retries: a second `log` with it returns this row.
    pub idempotency_key: Option<String>,
    /// Groups the activities one request, job or import wrote.
    pub correlation_id: Option<String>,
    /// The caller's IP address, when the deployment records request context.
    pub client_ip: Option<String>,
    /// The caller's user agent, when the deployment records request context.
    pub user_agent: Option<String>,
    /// The transaction that wrote the row, the first half of its position:
    /// PostgreSQL's transaction id, 0 on SQLite and for rows older than positions.
    pub txid: i64,
    /// The second half of its position: a number that only grows.
    pub seq: i64,
    /// Whose `idempotency_key` it is: the role and uuid `sub` of the caller
    /// that logged it ("service:0190…"), so one producer's key never meets
    /// another's; "legacy" for keys stored before keys were scoped.
    pub idempotency_scope: Option<String>,
}

/// How activities join the people they mention. There is no foreign key:
/// an activity may name a person the platform has not sent yet.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The person who performed the action.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::ActorUuid",
        to = "super::user::Column::Uuid"
    )]
    Actor,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Actor.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
