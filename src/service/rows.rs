//! Decoding list rows by column position.
//!
//! sea-orm's derived decoding finds every column by name, formatting the
//! prefixed name first and then searching the row's columns for it: for a
//! page of 50 activities with their actors that was a fifth of the server's
//! instructions (callgrind, BENCHMARKS.md). A select of an entity lists its
//! columns in `Column::iter()` order, and a select of two entities lists the
//! second's after the first's, so list reads decode by position.

use entity::{activity, user};
use sea_orm::{DbErr, QueryResult};
use uuid::Uuid;

/// How many columns an activity takes in a select of the entity.
pub const ACTIVITY_COLUMNS: usize = 17;

/// The activity whose columns start at `at`.
pub fn activity(row: &QueryResult, at: usize) -> Result<activity::Model, DbErr> {
    Ok(activity::Model {
        uuid: row.try_get_by_index(at)?,
        action: row.try_get_by_index(at + 1)?,
        module: row.try_get_by_index(at + 2)?,
        mode: row.try_get_by_index(at + 3)?,
        actor_uuid: row.try_get_by_index(at + 4)?,
        resource_type: row.try_get_by_index(at + 5)?,
        resource_uuid: row.try_get_by_index(at + 6)?,
        target_uuid: row.try_get_by_index(at + 7)?,
        metadata: row.try_get_by_index(at + 8)?,
        inserted_at: row.try_get_by_index(at + 9)?,
        idempotency_key: row.try_get_by_index(at + 10)?,
        correlation_id: row.try_get_by_index(at + 11)?,
        client_ip: row.try_get_by_index(at + 12)?,
        user_agent: row.try_get_by_index(at + 13)?,
        txid: row.try_get_by_index(at + 14)?,
        seq: row.try_get_by_index(at + 15)?,
        idempotency_scope: row.try_get_by_index(at + 16)?,
    })
}

/// The person whose columns start at `at`, if the (outer) join found one.
pub fn user(row: &QueryResult, at: usize) -> Result<Option<user::Model>, DbErr> {
    let Some(uuid) = row.try_get_by_index::<Option<Uuid>>(at)? else {
        return Ok(None);
    };
    Ok(Some(user::Model {
        uuid,
        email: row.try_get_by_index(at + 1)?,
        first_name: row.try_get_by_index(at + 2)?,
        last_name: row.try_get_by_index(at + 3)?,
        inserted_at: row.try_get_by_index(at + 4)?,
    }))
}

#[cfg(test)]
mod tests {
    use sea_orm::{IdenStatic, Iterable};

    use super::*;

    // The positions above follow these orders; a column added, removed or
    // moved in an entity must be handled there too.
    #[test]
    fn the_entities_list_their_columns_in_the_order_decoded() {
        let activity: Vec<&str> = activity::Column::iter().map(|c| c.as_str()).collect();
        let user: Vec<&str> = user::Column::iter().map(|c| c.as_str()).collect();
        assert_eq!(
            activity,
            [
                "uuid",
                "action",
                "module",
                "mode",
                "actor_uuid",
                "resource_type",
                "resource_uuid",
                "target_uuid",
                "metadata",
                "inserted_at",
                "idempotency_key",
                "correlation_id",
                "client_ip",
                "user_agent",
                "txid",
                "seq",
                "idempotency_scope",
            ]
        );
        assert_eq!(activity.len(), ACTIVITY_COLUMNS);
        assert_eq!(
            user,
            ["uuid", "email", "first_name", "last_name", "inserted_at"]
        );
    }
}
