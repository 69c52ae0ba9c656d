//! Grouped activities: runs of the same action on the same resource within a
//! time window, collapsed into one group each — the "Alice and 3 others liked
//! your post" view — computed in the database with window functions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::activity::{self, Column, Entity};
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, QueryTrait,
    Statement, Value,
};
use uuid::Uuid;

use super::{ActivityFeed, ActivityFilter, Caller, Cursor, Operation, Result, ServiceError};

/// How many distinct actors a group names.
pub const GROUP_ACTORS: usize = 3;

/// The widest window, in seconds: a year.
pub const MAX_WINDOW_SECS: i64 = 366 * 24 * 60 * 60;

/// The number of groups a slice holds when the caller names none.
const DEFAULT_GROUPS: u64 = 20;

/// Which groups to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupArgs {
    /// Two activities of the same action and resource belong to one group
    /// when at most this many seconds lie between them (0 to a year).
    pub window_secs: i64,
    /// How many groups, newest first.
    pub first: Option<u64>,
    /// Only groups older than this one (a group's [`ActivityGroup::cursor`]).
    pub after: Option<Cursor>,
}

/// Consecutive activities with the same action and resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityGroup {
    /// The group's newest activity; its action and resource are the group's.
    pub latest: activity::Model,
    /// How many activities the group holds.
    pub count: u64,
    /// How many distinct actors performed them (activities without an actor
    /// count for none).
    pub actor_count: u64,
    /// The first [`GROUP_ACTORS`] distinct actors, in the order they first acted.
    pub actor_uuids: Vec<Uuid>,
    /// When the group's oldest activity was stored.
    pub first_at: DateTime<Utc>,
    /// When the group's newest activity was stored.
    pub last_at: DateTime<Utc>,
}

impl ActivityGroup {
    /// The group's position: pass it as `after` to continue with older groups.
    pub fn cursor(&self) -> Cursor {
        Cursor::of(&self.latest)
    }
}

/// Groups, newest first, and whether there are more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSlice {
    /// The groups, by their newest activity, newest first.
    pub groups: Vec<ActivityGroup>,
    /// Groups newer than the first one were skipped (`after` was given).
    pub has_previous_page: bool,
    /// There are older groups than the last one.
    pub has_next_page: bool,
}

/// A SQL text being assembled with its bound values, in one backend's dialect.
struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    /// Binds `value` and returns its placeholder.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".into(),
        }
    }
}

/// One row of the grouping query: a group, with one of its first actors.
#[derive(Debug, FromQueryResult)]
struct GroupRow {
    latest_uuid: Uuid,
    count: i64,
    actor_count: i64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    actor_uuid: Option<Uuid>,
}

/// Whether more than `window` seconds lie from `earlier` to `later`, both
/// `inserted_at` values, to the microsecond on both databases.
fn gap_exceeds(backend: DbBackend, later: &str, earlier: &str, window: i64) -> String {
    match backend {
        DbBackend::Postgres => format!("EXTRACT(EPOCH FROM ({later} - {earlier})) > {window}"),
        // SQLite stores the time as RFC 3339 text in UTC,
        // "YYYY-MM-DDTHH:MM:SS[.fraction]+00:00". Its date functions keep
        // milliseconds only, so whole seconds come from them and the
        // microseconds from the text, and the comparison is in integers.
        _ => {
            let micros = |t: &str| {
                format!(
                    "(unixepoch(substr({t}, 1, 19)) * 1000000 + CASE WHEN substr({t}, 20, 1) = '.' \
                     THEN CAST(substr(substr({t}, 21, length({t}) - 26) || '000000', 1, 6) AS INTEGER) \
                     ELSE 0 END)"
                )
            };
            format!(
                "{} - {} > {}",
                micros(later),
                micros(earlier),
                window.saturating_mul(1_000_000)
            )
        }
    }
}

impl ActivityFeed {
    /// Matching activities the caller may see, collapsed into groups: within
    /// each action and resource (`resource_type` + `resource_uuid`, either may
    /// be unset), taken in time order, an activity joins the group of the one
    /// before it when at most `window_secs` seconds lie between the two, and
    /// starts a new group otherwise. Groups come newest first, by their newest
    /// activity, keyset-paged on it.
    ///
    /// The grouping runs in one statement over every matching activity, so a
    /// `since` in the filter keeps it cheap on a long history.
    #[tracing::instrument(skip(self))]
    pub async fn grouped(
        &self,
        caller: &Caller,
        filter: &ActivityFilter,
        args: GroupArgs,
    ) -> Result<GroupSlice> {
        caller.require(Operation::Read)?;
        self.check_filter(filter)?;
        if !(0..=MAX_WINDOW_SECS).contains(&args.window_secs) {
            return Err(ServiceError::invalid(
                "window",
                format!("must be between 0 and {MAX_WINDOW_SECS} seconds"),
            ));
        }
        let size = args
            .first
            .unwrap_or(Ord::min(DEFAULT_GROUPS, self.limits.max_page_size));
        self.check_slice_size("first", size)?;

        let backend = self.db.get_database_backend();
        let matching = self
            .matching(caller, filter)
            .select_only()
            .columns([
                Column::Uuid,
                Column::Action,
                Column::ResourceType,
                Column::ResourceUuid,
                Column::ActorUuid,
                Column::InsertedAt,
            ])
            .build(backend);
        let mut sql = Sql {
            backend,
            text: String::new(),
            values: matching.values.map(|v| v.0).unwrap_or_default(),
        };
        let key = "action, resource_type, resource_uuid";
        let gap_exceeds = gap_exceeds(backend, "inserted_at", "prev_at", args.window_secs);
        let after = match args.after {
            Some(c) => {
                let (at, id) = (sql.bind(c.inserted_at), sql.bind(c.uuid));
                format!("WHERE (last_at, latest_uuid) < ({at}, {id})")
            }
            None => String::new(),
        };
        let limit = sql.bind(i64::try_from(size + 1).unwrap_or(i64::MAX));
        sql.text = format!(
            "WITH m AS ({matching}), \
             s AS (SELECT m.*, LAG(inserted_at) OVER (PARTITION BY {key} ORDER BY inserted_at, uuid) AS prev_at FROM m), \
             g AS (SELECT s.*, SUM(CASE WHEN prev_at IS NULL OR {gap_exceeds} THEN 1 ELSE 0 END) \
                   OVER (PARTITION BY {key} ORDER BY inserted_at, uuid ROWS UNBOUNDED PRECEDING) AS grp FROM s), \
             h AS (SELECT g.*, FIRST_VALUE(uuid) OVER (PARTITION BY {key}, grp ORDER BY inserted_at DESC, uuid DESC) AS latest_uuid FROM g), \
             groups AS (SELECT latest_uuid, COUNT(*) AS count, COUNT(DISTINCT actor_uuid) AS actor_count, \
                        MIN(inserted_at) AS first_at, MAX(inserted_at) AS last_at FROM h GROUP BY latest_uuid), \
             page AS (SELECT * FROM groups {after} ORDER BY last_at DESC, latest_uuid DESC LIMIT {limit}), \
             seen AS (SELECT h.latest_uuid, h.actor_uuid, MIN(h.inserted_at) AS seen_at FROM h \
                      JOIN page ON page.latest_uuid = h.latest_uuid WHERE h.actor_uuid IS NOT NULL \
                      GROUP BY h.latest_uuid, h.actor_uuid), \
             ranked AS (SELECT seen.*, ROW_NUMBER() OVER (PARTITION BY latest_uuid ORDER BY seen_at, actor_uuid) AS rn FROM seen) \
             SELECT page.latest_uuid, page.count, page.actor_count, page.first_at, page.last_at, ranked.actor_uuid \
             FROM page LEFT JOIN ranked ON ranked.latest_uuid = page.latest_uuid AND ranked.rn <= {GROUP_ACTORS} \
             ORDER BY page.last_at DESC, page.latest_uuid DESC, ranked.rn",
            matching = matching.sql,
        );
        let rows = GroupRow::find_by_statement(Statement::from_sql_and_values(
            backend, sql.text, sql.values,
        ))
        .all(&self.db)
        .await?;

        // Rows come group by group, each group's actors in order.
        let mut groups: Vec<(GroupRow, Vec<Uuid>)> = Vec::new();
        for row in rows {
            let actor = row.actor_uuid;
            match groups.last_mut() {
                Some((group, actors)) if group.latest_uuid == row.latest_uuid => {
                    actors.extend(actor);
                }
                _ => groups.push((row, actor.into_iter().collect())),
            }
        }
        let more = groups.len() as u64 > size;
        groups.truncate(size as usize);

        let ids: Vec<Uuid> = groups.iter().map(|(g, _)| g.latest_uuid).collect();
        let mut latest: HashMap<Uuid, activity::Model> = if ids.is_empty() {
            HashMap::new()
        } else {
            Entity::find()
                .filter(caller.visible())
                .filter(Column::Uuid.is_in(ids))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|row| (row.uuid, row))
                .collect()
        };
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        let groups = groups
            .into_iter()
            // A latest row deleted (pruned) in between leaves its group out.
            .filter_map(|(g, actor_uuids)| {
                Some(ActivityGroup {
                    latest: latest.remove(&g.latest_uuid)?,
                    count: count(g.count),
                    actor_count: count(g.actor_count),
                    actor_uuids,
                    first_at: g.first_at,
                    last_at: g.last_at,
                })
            })
            .collect();
        Ok(GroupSlice {
            groups,
            has_previous_page: args.after.is_some(),
            has_next_page: more,
        })
    }
}
