//! Batching loaders, so a page of activities costs one users query however
//! many actors, targets and resource users it shows.
//!
//! Each request has its own [`RequestUsers`]: async-graphql's `DataLoader`
//! with a cache, so a person is looked up once per request. A long list
//! takes longer to resolve than one batch waits, so the list queries also
//! load the people of the whole page up front ([`prefetch_people`]), and the
//! resolvers find them in the cache. Activities delivered live or just
//! written go through [`FreshUsers`] instead, which caches nothing.
//!
//! This replaced a hand-written per-request map (`Prefetched`). Measured on
//! 2026-12-06 (BENCHMARKS.md, "People of a page"): both cost 2 statements
//! for a 500-row page with its actors, targets and resource users, and the
//! same time within the shared machine's noise (medians 10.3–14.7 ms against
//! 10.4–13.0 ms), so the maintained crate's cache was kept. Unknown people
//! are cached as `None`, which `feed_many` alone cannot express, so the
//! loader answers every key.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader, NoCache};
use async_graphql::{Context, Lookahead};
use entity::{activity, user};
use sea_orm::DbErr;
use uuid::Uuid;

use super::error::internal;
use crate::service::{ActivityFeed, ServiceError};

/// Loads people by uuid, one `IN` query per batch; `None` for a uuid that
/// is nobody, so the request's cache remembers that too.
pub struct UserLoader(pub ActivityFeed);

impl Loader<Uuid> for UserLoader {
    type Value = Option<user::Model>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut found: HashMap<Uuid, user::Model> = match self.0.users(keys).await {
            Ok(users) => users.into_iter().map(|u| (u.uuid, u)).collect(),
            Err(ServiceError::Database(e)) => return Err(Arc::new(e)),
            Err(other) => return Err(Arc::new(DbErr::Custom(other.to_string()))),
        };
        Ok(keys.iter().map(|k| (*k, found.remove(k))).collect())
    }
}

/// The request's people loader, caching every person it looked up.
pub type RequestUsers = DataLoader<UserLoader, HashMapCache>;

/// A loader for one request: its cache must not outlive the request, or
/// people changed since would be shown as they were. Keys asked for while
/// one result resolves still share a batch without the default 1 ms wait,
/// which was most of a small page's latency.
pub fn request_users(feed: ActivityFeed) -> RequestUsers {
    DataLoader::with_cache(UserLoader(feed), tokio::spawn, HashMapCache::default())
        .delay(std::time::Duration::ZERO)
}

/// People looked up at every call, never cached (concurrent calls still
/// share one batch): for activities delivered live or just written. A
/// subscription's request lives as long as the subscription, and a cache
/// there would keep showing a person as they were when first looked up,
/// after an edit and after `forgetPerson` deleted them.
pub type FreshUsers = DataLoader<UserLoader, NoCache>;

/// The schema's one [`FreshUsers`].
pub fn fresh_users(feed: ActivityFeed) -> FreshUsers {
    DataLoader::new(UserLoader(feed), tokio::spawn).delay(std::time::Duration::ZERO)
}

/// The person `resourceUser` shows: the resource, when its type is "user".
pub fn resource_user_uuid(row: &activity::Model) -> Option<Uuid> {
    let is_user = row.resource_type.as_deref() == Some("user");
    row.resource_uuid.filter(|_| is_user)
}

/// Loads one person through the request's cached loader.
pub async fn load_user(
    ctx: &Context<'_>,
    uuid: Option<Uuid>,
) -> async_graphql::Result<Option<user::Model>> {
    let Some(uuid) = uuid else { return Ok(None) };
    let loader = ctx.data::<RequestUsers>()?;
    Ok(loader.load_one(uuid).await.map_err(internal)?.flatten())
}

/// Loads one person as they are now, past any cache ([`FreshUsers`]).
pub async fn load_user_fresh(
    ctx: &Context<'_>,
    uuid: Option<Uuid>,
) -> async_graphql::Result<Option<user::Model>> {
    let Some(uuid) = uuid else { return Ok(None) };
    let loader = ctx.data::<FreshUsers>()?;
    Ok(loader.load_one(uuid).await.map_err(internal)?.flatten())
}

/// Looks up, in one batch, the people the `actor`, `target` and
/// `resourceUser` fields selected under any of `selections` will show for
/// `rows`; `actors` read with the rows are fed to the cache as they are.
pub async fn prefetch_people(
    ctx: &Context<'_>,
    rows: &[activity::Model],
    selections: &[Lookahead<'_>],
    actors: Option<Vec<user::Model>>,
) -> async_graphql::Result<()> {
    let Some(loader) = ctx.data_opt::<RequestUsers>() else {
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
    loader.feed_many(known).await;
    if !keys.is_empty() {
        loader.load_many(keys).await.map_err(internal)?;
    }
    Ok(())
}
