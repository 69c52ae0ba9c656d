//! Batching loaders, so a page of activities costs one users query however
//! many actors, targets and resource users it shows.
//!
//! The [`UserLoader`] batches the people that resolvers ask for within a
//! millisecond of each other. A long list takes longer than that to resolve,
//! so the list queries also look up the people of the whole page up front
//! ([`prefetch_people`]), and the resolvers find them in [`Prefetched`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Lookahead};
use entity::{activity, user};
use sea_orm::DbErr;
use uuid::Uuid;

use super::error::{internal, service_error};
use crate::service::{ActivityFeed, ServiceError};

/// Loads people by uuid, one `IN` query per batch.
pub struct UserLoader(pub ActivityFeed);

impl Loader<Uuid> for UserLoader {
    type Value = user::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        match self.0.users(keys).await {
            Ok(users) => Ok(users.into_iter().map(|u| (u.uuid, u)).collect()),
            Err(ServiceError::Database(e)) => Err(Arc::new(e)),
            Err(other) => Err(Arc::new(DbErr::Custom(other.to_string()))),
        }
    }
}

/// The people looked up ahead for the lists of one request: `None` for a
/// uuid that was looked up and is nobody.
#[derive(Default)]
pub struct Prefetched(Mutex<HashMap<Uuid, Option<user::Model>>>);

impl Prefetched {
    /// The person with `uuid` if the request looked them up ahead.
    pub fn get(&self, uuid: Uuid) -> Option<Option<user::Model>> {
        self.lock().get(&uuid).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Option<user::Model>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The person `resourceUser` shows: the resource, when its type is "user".
pub fn resource_user_uuid(row: &activity::Model) -> Option<Uuid> {
    let is_user = row.resource_type.as_deref() == Some("user");
    row.resource_uuid.filter(|_| is_user)
}

/// Loads one person: looked up ahead by the request's list, or through the
/// batching loader.
pub async fn load_user(
    ctx: &Context<'_>,
    uuid: Option<Uuid>,
) -> async_graphql::Result<Option<user::Model>> {
    let Some(uuid) = uuid else { return Ok(None) };
    if let Some(known) = ctx.data_opt::<Prefetched>().and_then(|p| p.get(uuid)) {
        return Ok(known);
    }
    let loader = ctx.data::<DataLoader<UserLoader>>()?;
    loader.load_one(uuid).await.map_err(internal)
}

/// Looks up, in one query, the people that the `actor`, `target` and
/// `resourceUser` fields selected under any of `selections` will show for
/// `rows`, so that resolving them costs nothing more. `actors`, when the list
/// read them with its rows, are taken as they are: only the others are
/// looked up.
pub async fn prefetch_people(
    ctx: &Context<'_>,
    rows: &[activity::Model],
    selections: &[Lookahead<'_>],
    actors: Option<Vec<user::Model>>,
) -> async_graphql::Result<()> {
    let Some(store) = ctx.data_opt::<Prefetched>() else {
        return Ok(());
    };
    let mut known: HashMap<Uuid, Option<user::Model>> = HashMap::new();
    if let Some(actors) = actors {
        let mut stored: HashMap<Uuid, user::Model> =
            actors.into_iter().map(|u| (u.uuid, u)).collect();
        for uuid in rows.iter().filter_map(|r| r.actor_uuid) {
            known.entry(uuid).or_insert_with(|| stored.remove(&uuid));
        }
    }
    let wants = |field: &str| selections.iter().any(|s| s.field(field).exists());
    let (actor, target, resource) = (
        wants("actor"),
        wants("target"),
        wants("resourceUser") || wants("resource"),
    );
    let mut keys = HashSet::new();
    for row in rows {
        keys.extend(row.actor_uuid.filter(|_| actor));
        keys.extend(row.target_uuid.filter(|_| target));
        keys.extend(resource_user_uuid(row).filter(|_| resource));
    }
    keys.retain(|k| !known.contains_key(k));
    store.lock().extend(known);
    let keys: Vec<Uuid> = keys.into_iter().collect();
    if keys.is_empty() {
        return Ok(());
    }
    let mut found: HashMap<Uuid, user::Model> = ctx
        .data::<ActivityFeed>()?
        .users(&keys)
        .await
        .map_err(service_error)?
        .into_iter()
        .map(|u| (u.uuid, u))
        .collect();
    store
        .lock()
        .extend(keys.into_iter().map(|k| (k, found.remove(&k))));
    Ok(())
}
