//! Reading activities: pages, keyset slices, single reads, counts and
//! distinct values. One unit because every read goes through the same
//! visibility condition and filter, and sharing them here keeps lists,
//! counts and single reads from drifting apart.

use std::collections::HashSet;

use entity::activity::{self, Column, Entity};
use entity::user;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};
use uuid::Uuid;

use super::counts::{self, Bucket, GroupBy};
use super::{rows, ActivityFeed, ActivityFilter, Caller, Cursor, Operation, Result, ServiceError};

/// Which numbered page to read, and what to read with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageArgs {
    /// The page, from 1.
    pub page: u64,
    /// Rows per page.
    pub per_page: u64,
    /// Also count every matching row.
    pub total: bool,
    /// Also read each row's actor, in the same statement.
    pub actors: bool,
}

/// One numbered page of activities and, when asked for, the size of the whole result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The rows of this page, newest first.
    pub entries: Vec<activity::Model>,
    /// How many rows match the filter in all; `None` when not asked for.
    pub total: Option<u64>,
    /// The stored actors of the rows, when asked for; an actor missing here
    /// is not stored.
    pub actors: Option<Vec<user::Model>>,
}

/// Which slice of the keyset-ordered feed to read, as Relay describes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedArgs {
    /// Only rows older than this cursor.
    pub after: Option<Cursor>,
    /// Only rows newer than this cursor.
    pub before: Option<Cursor>,
    /// The newest `first` rows of what is left.
    pub first: Option<u64>,
    /// The oldest `last` rows of what is left.
    pub last: Option<u64>,
    /// Also read each row's actor, in the same statement.
    pub actors: bool,
}

/// A slice of the feed, newest first, and whether there is more on either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSlice {
    /// The rows, newest first.
    pub entries: Vec<activity::Model>,
    /// There are newer rows than the first one.
    pub has_previous_page: bool,
    /// There are older rows than the last one.
    pub has_next_page: bool,
    /// The stored actors of the rows, when asked for; an actor missing here
    /// is not stored.
    pub actors: Option<Vec<user::Model>>,
}

/// The most uuids one read by uuid may name: one statement, a bounded IN list.
pub const MAX_UUIDS_PER_READ: usize = 100;

/// Refuses a read by more than [`MAX_UUIDS_PER_READ`] uuids.
pub(super) fn check_uuid_count(uuids: &[Uuid]) -> Result<()> {
    if uuids.len() > MAX_UUIDS_PER_READ {
        return Err(ServiceError::invalid(
            "ids",
            format!("at most {MAX_UUIDS_PER_READ} ids per request"),
        ));
    }
    Ok(())
}

/// The size of a feed slice when the caller names none.
const DEFAULT_FEED_SIZE: u64 = 50;

/// Newest first: insertion time, then uuid as the tiebreak.
pub(super) fn newest_first(select: Select<Entity>) -> Select<Entity> {
    select
        .order_by(Column::InsertedAt, Order::Desc)
        .order_by(Column::Uuid, Order::Desc)
}

/// Oldest first, the order in which rows were committed.
pub(super) fn oldest_first(select: Select<Entity>) -> Select<Entity> {
    select
        .order_by(Column::InsertedAt, Order::Asc)
        .order_by(Column::Uuid, Order::Asc)
}

impl ActivityFeed {
    /// Activities matching `filter` that `caller` may see, without order.
    pub(super) fn matching(&self, caller: &Caller, filter: &ActivityFilter) -> Select<Entity> {
        Entity::find()
            .filter(caller.visible())
            .filter(filter.condition(self.db.get_database_backend()))
    }

    /// One activity by id; `None` when it does not exist or the caller may not see it.
    pub async fn get(&self, caller: &Caller, uuid: Uuid) -> Result<Option<activity::Model>> {
        caller.require(Operation::Read)?;
        Ok(Entity::find_by_id(uuid)
            .filter(caller.visible())
            .one(&self.db)
            .await?)
    }

    /// The activities with these uuids that `caller` may see, in no
    /// particular order; unknown and hidden ones are left out.
    pub async fn get_many(&self, caller: &Caller, uuids: &[Uuid]) -> Result<Vec<activity::Model>> {
        caller.require(Operation::Read)?;
        check_uuid_count(uuids)?;
        if uuids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(Entity::find()
            .filter(Column::Uuid.is_in(uuids.iter().copied()))
            .filter(caller.visible())
            .all(&self.db)
            .await?)
    }

    /// Page `args.page` (from 1) of `args.per_page` matching activities,
    /// newest first, and with `args.total` how many match in all.
    #[tracing::instrument(skip(self))]
    pub async fn page(
        &self,
        caller: &Caller,
        filter: &ActivityFilter,
        args: PageArgs,
    ) -> Result<Page> {
        let PageArgs {
            page,
            per_page,
            total: with_total,
            actors,
        } = args;
        caller.require(Operation::Read)?;
        self.check_filter(filter)?;
        if page < 1 {
            return Err(ServiceError::invalid("page", "must be at least 1"));
        }
        self.check_page_size("perPage", per_page)?;
        let offset = (page - 1)
            .checked_mul(per_page)
            .ok_or_else(|| ServiceError::invalid("page", "is too large"))?;
        let entries = self.rows(
            newest_first(self.matching(caller, filter))
                .offset(offset)
                .limit(per_page),
            actors,
        );
        // The count scans every match while the page reads a few rows: on two
        // pooled connections at once, the page costs the longer of the two
        // instead of their sum, and nothing when nobody asked for the total.
        let total = async {
            match with_total {
                true => self.count(caller, filter).await.map(Some),
                false => Ok(None),
            }
        };
        let ((entries, actors), total) = tokio::try_join!(entries, total)?;
        Ok(Page {
            entries,
            total,
            actors,
        })
    }

    /// The newest `limit` activities.
    pub async fn recent(
        &self,
        caller: &Caller,
        filter: &ActivityFilter,
        limit: u64,
    ) -> Result<Vec<activity::Model>> {
        caller.require(Operation::Read)?;
        self.check_filter(filter)?;
        self.check_page_size("limit", limit)?;
        let select = newest_first(self.matching(caller, filter)).limit(limit);
        Ok(self.rows(select, false).await?.0)
    }

    /// A keyset slice of the feed: its cost does not grow with its distance from the top.
    #[tracing::instrument(skip(self))]
    pub async fn feed(
        &self,
        caller: &Caller,
        filter: &ActivityFilter,
        args: FeedArgs,
    ) -> Result<FeedSlice> {
        caller.require(Operation::Read)?;
        self.check_filter(filter)?;
        let (size, backwards) = match (args.first, args.last) {
            (Some(_), Some(_)) => {
                return Err(ServiceError::invalid(
                    "first",
                    "give either first or last, not both",
                ))
            }
            (Some(first), None) => (first, false),
            (None, Some(last)) => (last, true),
            (None, None) => (
                Ord::min(DEFAULT_FEED_SIZE, self.limits.max_page_size),
                false,
            ),
        };
        self.check_slice_size(if backwards { "last" } else { "first" }, size)?;

        let mut select = self.matching(caller, filter);
        if let Some(after) = args.after {
            select = select.filter(after.older());
        }
        if let Some(before) = args.before {
            select = select.filter(before.newer());
        }
        // Read one row more than asked to learn whether there is more.
        let select = if backwards {
            oldest_first(select)
        } else {
            newest_first(select)
        };
        let (mut entries, actors) = self.rows(select.limit(size + 1), args.actors).await?;
        let more = entries.len() as u64 > size;
        entries.truncate(size as usize);
        if backwards {
            entries.reverse();
            Ok(FeedSlice {
                entries,
                has_previous_page: more,
                has_next_page: args.before.is_some(),
                actors,
            })
        } else {
            Ok(FeedSlice {
                entries,
                has_previous_page: args.after.is_some(),
                has_next_page: more,
                actors,
            })
        }
    }

    /// The rows `select` reads and, with `actors`, their stored actors, joined
    /// in the same statement (each actor once).
    async fn rows(
        &self,
        select: Select<Entity>,
        actors: bool,
    ) -> Result<(Vec<activity::Model>, Option<Vec<user::Model>>)> {
        let backend = self.db.get_database_backend();
        let statement = match actors {
            true => select.find_also_related(user::Entity).build(backend),
            false => select.build(backend),
        };
        let found = self.db.query_all_raw(statement).await?;
        let mut rows = Vec::with_capacity(found.len());
        let mut people = actors.then(Vec::new);
        let mut seen = HashSet::new();
        for r in &found {
            rows.push(rows::activity(r, 0)?);
            if let Some(people) = &mut people {
                let actor = rows::user(r, rows::ACTIVITY_COLUMNS)?;
                people.extend(actor.filter(|a| seen.insert(a.uuid)));
            }
        }
        Ok((rows, people))
    }

    /// How many activities match `filter`: from the rollups when they can
    /// answer the filter (see [`super::rollup`]), else by scanning.
    pub async fn count(&self, caller: &Caller, filter: &ActivityFilter) -> Result<u64> {
        caller.require(Operation::Read)?;
        self.check_filter(filter)?;
        if let Some(buckets) = self.rolled_up_counts(caller, filter, None).await? {
            return Ok(buckets.iter().map(|b| b.count).sum());
        }
        Ok(self.matching(caller, filter).count(&self.db).await?)
    }

    /// Matching activities counted by group: largest first, or in time order
    /// for [`GroupBy::Day`] and [`GroupBy::Hour`]. From the rollups when they
    /// can answer the filter and grouping, else by scanning.
    #[tracing::instrument(skip(self))]
    pub async fn counts(
        &self,
        caller: &Caller,
        filter: &ActivityFilter,
        group_by: GroupBy,
    ) -> Result<Vec<Bucket>> {
        caller.require(Operation::Read)?;
        self.check_filter(filter)?;
        if let Some(mut buckets) = self
            .rolled_up_counts(caller, filter, Some(group_by))
            .await?
        {
            counts::sort_buckets(&mut buckets, group_by, self.db.get_database_backend());
            return Ok(buckets);
        }
        self.scanned_counts(caller, filter, group_by).await
    }

    /// [`Self::counts`] by scanning the matching rows.
    async fn scanned_counts(
        &self,
        caller: &Caller,
        filter: &ActivityFilter,
        group_by: GroupBy,
    ) -> Result<Vec<Bucket>> {
        #[derive(FromQueryResult)]
        struct Text {
            key: Option<String>,
            count: i64,
        }
        #[derive(FromQueryResult)]
        struct Id {
            key: Option<Uuid>,
            count: i64,
        }
        let backend = self.db.get_database_backend();
        let key = match group_by {
            GroupBy::Action => Expr::col(Column::Action),
            GroupBy::Module => Expr::col(Column::Module),
            GroupBy::Mode => Expr::col(Column::Mode),
            GroupBy::ResourceType => Expr::col(Column::ResourceType),
            GroupBy::Actor => Expr::col(Column::ActorUuid),
            GroupBy::Day | GroupBy::Hour => time_bucket(backend, group_by),
        };
        let select = self
            .matching(caller, filter)
            .select_only()
            .expr_as(key, "key")
            // count(*) is answered from the rows' existence; count(uuid)
            // would read and null-check a column of every row.
            .expr_as(Expr::cust("COUNT(*)"), "count")
            .group_by(group_key(backend, group_by));
        let select = match group_by {
            GroupBy::Day | GroupBy::Hour => select.order_by(Expr::cust("key"), Order::Asc),
            _ => select
                .order_by(Expr::cust("count"), Order::Desc)
                .order_by(Expr::cust("key"), Order::Asc),
        };
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        Ok(if group_by == GroupBy::Actor {
            select
                .into_model::<Id>()
                .all(&self.db)
                .await?
                .into_iter()
                .map(|r| Bucket {
                    key: r.key.map(|u| u.to_string()),
                    count: count(r.count),
                })
                .collect()
        } else {
            select
                .into_model::<Text>()
                .all(&self.db)
                .await?
                .into_iter()
                .map(|r| Bucket {
                    key: r.key,
                    count: count(r.count),
                })
                .collect()
        })
    }

    /// The distinct non-null values of a text column among the activities
    /// the caller may see, sorted.
    pub async fn distinct(&self, caller: &Caller, column: Column) -> Result<Vec<String>> {
        caller.require(Operation::Read)?;
        if let Some(values) = self.rolled_up_distinct(caller, column).await? {
            return Ok(values);
        }
        Ok(self
            .matching(caller, &ActivityFilter::default())
            .select_only()
            .column(column)
            .distinct()
            .filter(column.is_not_null())
            .order_by(column, Order::Asc)
            .into_tuple::<String>()
            .all(&self.db)
            .await?)
    }
}

/// The SQL that turns `inserted_at` into a day or hour key, per backend.
///
/// SQLite stores the time as RFC 3339 text in UTC, so the key is a prefix of it.
/// On PostgreSQL the key formats the truncated time that [`group_key`] groups
/// by, so `to_char` runs once per group rather than once per row.
fn time_bucket(backend: DbBackend, group_by: GroupBy) -> Expr {
    let hour = group_by == GroupBy::Hour;
    match (backend, hour) {
        (DbBackend::Postgres, false) => {
            Expr::cust(format!("to_char({}, 'YYYY-MM-DD')", pg_truncated(false)))
        }
        (DbBackend::Postgres, true) => Expr::cust(format!(
            "to_char({}, 'YYYY-MM-DD\"T\"HH24\":00:00Z\"')",
            pg_truncated(true)
        )),
        (_, false) => Expr::cust("substr(inserted_at, 1, 10)"),
        (_, true) => Expr::cust("substr(inserted_at, 1, 13) || ':00:00Z'"),
    }
}

/// `inserted_at` in UTC truncated to its day or hour, on PostgreSQL.
fn pg_truncated(hour: bool) -> &'static str {
    match hour {
        true => "date_trunc('hour', inserted_at AT TIME ZONE 'UTC')",
        false => "date_trunc('day', inserted_at AT TIME ZONE 'UTC')",
    }
}

/// What `counts` groups rows by: the key itself, except for times on
/// PostgreSQL, which group by the truncated timestamp (hashed as a number)
/// instead of by its formatted text.
fn group_key(backend: DbBackend, group_by: GroupBy) -> Expr {
    match (backend, group_by) {
        (DbBackend::Postgres, GroupBy::Day) => Expr::cust(pg_truncated(false)),
        (DbBackend::Postgres, GroupBy::Hour) => Expr::cust(pg_truncated(true)),
        _ => Expr::cust("key"),
    }
}
