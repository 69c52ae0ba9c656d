//! Rollups: counts of activities kept per hour, action, module, mode and
//! resource type, so that totals, grouped counts and distinct lists cost the
//! same on ten million rows as on ten thousand.
//!
//! Writers never touch the rollups. One *folder* at a time (on PostgreSQL,
//! whoever holds the rollup advisory lock of the schema) adds the rows after
//! the watermark position that are *released* (see [`super::position`]: no
//! row can appear below them any more) and moves the watermark past them, in
//! one transaction. A read then answers `rollup (rows up to the watermark) +
//! count of the rows after it`, in one statement and so one snapshot: exact
//! whenever it runs, however far behind the folder is. Prune subtracts the
//! rows it deletes that are below the watermark in the transaction that
//! deletes them, under the same lock.
//!
//! Three tables hold the same counts at three grains, so that each read
//! touches few rollup rows: `activity_rollup_totals` (no time: totals and
//! distinct lists over all time), `activity_rollup_hour_totals` (per hour, no
//! dimensions: unfiltered counts by day or hour) and `activity_rollup_hours`
//! (per hour and dimensions: everything else the rollups answer).
//!
//! One file, because its parts share one invariant: the folder, the reads,
//! and prune's subtraction must agree on the watermark, the three grains and
//! the key columns, or a count would be off by the rows in between. Its
//! tests (about 70 lines) check that agreement.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use entity::activity::{Column, Entity};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, UnionType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QuerySelect, QueryTrait, Statement, Value,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::counts::{Bucket, GroupBy};
use super::position::{BOOKKEEPING_SQL, HORIZON_SQL};
use super::{ActivityFeed, ActivityFilter, Caller, Position, Result};

/// Rows one fold adds at most: a fold is one transaction, and a bounded one
/// keeps the lock, the WAL and a prune waiting for it short.
pub const FOLD_BATCH: u64 = 50_000;

/// The rows after the watermark, as SQL on `activities`, for the folder's
/// own bookkeeping.
const AFTER_MARK: &str =
    "(activities.txid, activities.seq) > (SELECT txid, seq FROM activity_rollup_mark)";
/// The rows up to the watermark, as SQL on `activities`.
const UP_TO_MARK: &str =
    "(activities.txid, activities.seq) <= (SELECT txid, seq FROM activity_rollup_mark)";

/// Which rollup a read takes its counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grain {
    /// `activity_rollup_totals`: dimensions, no time.
    Totals,
    /// `activity_rollup_hour_totals`: hours, no dimensions.
    HourTotals,
    /// `activity_rollup_hours`: hours and dimensions.
    Hours,
}

impl Grain {
    fn table(self) -> &'static str {
        match self {
            Grain::Totals => "activity_rollup_totals",
            Grain::HourTotals => "activity_rollup_hour_totals",
            Grain::Hours => "activity_rollup_hours",
        }
    }
}

/// What a read counts by: nothing (one total) or one grouping.
type Key = Option<GroupBy>;

/// A time range `[from, to)`; `None` bounds are open.
type Range = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A filter the rollups answer, split into what they roll up and the time range.
#[derive(Debug, Clone)]
struct Plan {
    /// The filter's conditions on action, module, mode and resource type.
    dims: ActivityFilter,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl Plan {
    /// The plan for `filter` read by `caller`; `None` when the rollups cannot
    /// answer it and the table must be scanned: a filter on anything but
    /// action, module, mode, resource type and time, or a caller confined to
    /// their own rows (the actor index serves that).
    fn of(caller: &Caller, filter: &ActivityFilter) -> Option<Plan> {
        let ActivityFilter {
            action,
            module,
            mode,
            actor_uuid,
            resource_type,
            resource_uuid,
            target_uuid,
            within_actor,
            since,
            until,
            correlation_id,
            client_ip,
            user_agent,
            metadata,
            metadata_text,
            action_in,
            action_not,
            actor_uuid_in,
            resource_type_in,
            after,
        } = filter;
        let rolled_up = caller.confined_to().is_none()
            && actor_uuid.is_none()
            && resource_uuid.is_none()
            && target_uuid.is_none()
            && within_actor.is_none()
            && correlation_id.is_none()
            && client_ip.is_none()
            && user_agent.is_none()
            && metadata.is_none()
            && metadata_text.is_none()
            && actor_uuid_in.is_none()
            && after.is_none();
        rolled_up.then(|| Plan {
            dims: ActivityFilter {
                action: action.clone(),
                module: module.clone(),
                mode: mode.clone(),
                resource_type: resource_type.clone(),
                action_in: action_in.clone(),
                action_not: action_not.clone(),
                resource_type_in: resource_type_in.clone(),
                ..Default::default()
            },
            since: *since,
            until: *until,
        })
    }

    /// The whole hours `[from, to)` inside `[since, until]`, the part the
    /// rollups answer; the rest of the range is read from the table. `None`
    /// bounds are open. `None` when no whole hour lies inside.
    fn whole_hours(&self) -> Option<Range> {
        let hour = TimeDelta::hours(1);
        let from = match self.since {
            None => None,
            Some(s) => {
                let floor = s.duration_trunc(hour).ok()?;
                Some(if floor == s {
                    s
                } else {
                    floor.checked_add_signed(hour)?
                })
            }
        };
        // `until` is inclusive: an hour is whole when its last microsecond is in.
        let to = match self.until {
            None => None,
            Some(u) => Some(
                u.checked_add_signed(TimeDelta::microseconds(1))?
                    .duration_trunc(hour)
                    .ok()?,
            ),
        };
        match (from, to) {
            (Some(f), Some(t)) if f >= t => None,
            range => Some(range),
        }
    }

    fn has_dims(&self) -> bool {
        self.dims != ActivityFilter::default()
    }
}

/// An hour bound as the rollups store hours.
fn hour_value(backend: DbBackend, at: DateTime<Utc>) -> Value {
    match backend {
        DbBackend::Postgres => at.into(),
        _ => at.format("%Y-%m-%dT%H").to_string().into(),
    }
}

/// The SQL that gives a stored row its rollup hour.
fn row_hour(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "date_trunc('hour', activities.inserted_at, 'UTC')",
        _ => "substr(activities.inserted_at, 1, 13)",
    }
}

/// The group key of a rollup row (`rollup`) or of a stored row, as text;
/// the same text for the same group either way.
fn key_sql(backend: DbBackend, key: Key, rollup: bool) -> String {
    let col = |c: &str| format!("activities.{c}");
    match key {
        None => "''".into(),
        Some(GroupBy::Action) => col("action"),
        Some(GroupBy::Module) => col("module"),
        Some(GroupBy::Mode) => col("mode"),
        Some(GroupBy::ResourceType) => col("resource_type"),
        // Never planned: actors are not rolled up.
        Some(GroupBy::Actor) => "CAST(activities.actor_uuid AS TEXT)".into(),
        Some(g @ (GroupBy::Day | GroupBy::Hour)) => {
            let day = g == GroupBy::Day;
            match (backend, rollup) {
                (DbBackend::Postgres, _) => {
                    let hour = match rollup {
                        true => "activities.hour".to_owned(),
                        false => row_hour(backend).to_owned(),
                    };
                    match day {
                        true => format!(
                            "to_char(date_trunc('day', {hour} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
                        ),
                        false => format!(
                            "to_char({hour} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24\":00:00Z\"')"
                        ),
                    }
                }
                (_, true) => match day {
                    true => "substr(activities.hour, 1, 10)".into(),
                    false => "activities.hour || ':00:00Z'".into(),
                },
                (_, false) => match day {
                    true => "substr(activities.inserted_at, 1, 10)".into(),
                    false => "substr(activities.inserted_at, 1, 13) || ':00:00Z'".into(),
                },
            }
        }
    }
}

/// One group key and its count, with the watermark the statement saw.
#[derive(Debug, FromQueryResult)]
struct KeyCount {
    key: Option<String>,
    count: i64,
    mark_txid: i64,
    mark_seq: i64,
}

/// How many times a read tries again when it assumed a watermark ahead of
/// the real one, before it scans instead.
const MARK_RETRIES: usize = 5;

/// The watermark as the statement sees it, as two output columns: the read
/// compares it with the one it assumed.
const MARK_COLUMNS: &str = "(SELECT txid FROM activity_rollup_mark) AS mark_txid, \
                            (SELECT seq FROM activity_rollup_mark) AS mark_seq";

impl ActivityFeed {
    /// The watermark this instance last saw; reads assume it and check.
    fn assumed_mark(&self) -> Position {
        *self
            .rollup_mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers the watermark a read saw, for the next read to assume.
    fn saw_mark(&self, mark: Position) {
        *self
            .rollup_mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mark;
    }

    /// Counts of the activities `filter` matches for `caller`, grouped by
    /// `key`, from the rollups and the rows after their watermark; `None`
    /// when the rollups cannot answer the filter. Unordered.
    ///
    /// The statement names the watermark it assumes as constants, so that the
    /// planner sees how few rows lie after it and walks the position index
    /// (a watermark read by a subquery is an unknown to the planner, which
    /// then scanned by action instead: 218 ms against 0.1 ms at 1,000,000
    /// rows), and also the watermark of its snapshot, which makes the count
    /// exact when the assumed one is behind (the folder moved it since): the
    /// walk is only longer. The statement returns the watermark it saw, the
    /// next read assumes that one, and a read that assumed a watermark ahead
    /// of it (rollups rebuilt by hand) is repeated. One statement is one
    /// snapshot, so the answer is exact.
    pub(super) async fn rolled_up_counts(
        &self,
        caller: &Caller,
        filter: &ActivityFilter,
        key: Key,
    ) -> Result<Option<Vec<Bucket>>> {
        if key == Some(GroupBy::Actor) {
            return Ok(None);
        }
        let Some(plan) = Plan::of(caller, filter) else {
            return Ok(None);
        };
        // No whole hour inside the range: the table answers it cheaply.
        let Some((from, to)) = plan.whole_hours() else {
            return Ok(None);
        };
        let mut mark = self.assumed_mark();
        for _ in 0..MARK_RETRIES {
            let statement = self.rollup_statement(filter, &plan, key, (from, to), mark);
            let rows = KeyCount::find_by_statement(statement).all(&self.db).await?;
            // Every answer holds a row: the statement adds an empty group.
            let Some(seen) = rows.first().map(|r| Position {
                txid: r.mark_txid,
                seq: r.mark_seq,
            }) else {
                return Ok(None);
            };
            if seen != mark {
                self.saw_mark(seen);
            }
            // An assumed watermark ahead of the real one (the rollups were
            // rebuilt) would leave rows out of the walked range: repeat.
            if mark > seen {
                mark = seen;
                continue;
            }
            return Ok(Some(
                rows.into_iter()
                    .filter(|r| r.count > 0)
                    .map(|r| Bucket {
                        key: r.key,
                        count: u64::try_from(r.count).unwrap_or_default(),
                    })
                    .collect(),
            ));
        }
        Ok(None)
    }

    /// The statement of [`Self::rolled_up_counts`] for the watermark `mark`.
    fn rollup_statement(
        &self,
        filter: &ActivityFilter,
        plan: &Plan,
        key: Key,
        (from, to): Range,
        mark: Position,
    ) -> Statement {
        let backend = self.db.get_database_backend();
        let timed = matches!(key, Some(GroupBy::Day | GroupBy::Hour));
        let bounded = from.is_some() || to.is_some();
        let grain = match (
            plan.has_dims() || (key.is_some() && !timed),
            timed || bounded,
        ) {
            (false, true) => Grain::HourTotals,
            (true, true) => Grain::Hours,
            (_, false) => Grain::Totals,
        };
        let mut rollup = Query::select();
        rollup
            .expr_as(Expr::cust(key_sql(backend, key, true)), Alias::new("key"))
            .expr_as(Expr::cust("activities.n"), Alias::new("n"))
            .from_as(Alias::new(grain.table()), Alias::new("activities"))
            // The dimension conditions name `activities`' columns, which the
            // rollups share: the alias lets the same condition apply.
            .cond_where(plan.dims.condition(backend));
        let hour = || Expr::col((Alias::new("activities"), Alias::new("hour")));
        if let Some(from) = from {
            rollup.and_where(hour().gte(hour_value(backend, from)));
        }
        if let Some(to) = to {
            rollup.and_where(hour().lt(hour_value(backend, to)));
        }
        let scan = |extra: Expr| {
            let mut part = Entity::find()
                .select_only()
                .expr_as(Expr::cust(key_sql(backend, key, false)), "key")
                .expr_as(Expr::cust("COUNT(*)"), "n")
                .filter(filter.condition(backend))
                .filter(extra)
                .into_query();
            if key.is_some() {
                part.group_by_col(Alias::new("key"));
            }
            part
        };
        // After the assumed watermark (the range the index walks) and after
        // the one the snapshot holds (exact when the assumed one is behind).
        let mut parts: Vec<SelectStatement> = vec![scan(mark.later().and(Expr::cust(AFTER_MARK)))];
        // The partial hours: bounded by time, which the index walks instead.
        if let Some(from) = from {
            parts.push(scan(
                Expr::cust(UP_TO_MARK).and(Column::InsertedAt.lt(from)),
            ));
        }
        if let Some(to) = to {
            parts.push(scan(Expr::cust(UP_TO_MARK).and(Column::InsertedAt.gte(to))));
        }
        // An empty group, so that even an answer without rows says which
        // watermark it saw.
        parts.push(
            Query::select()
                .expr_as(Expr::cust("NULL"), Alias::new("key"))
                .expr_as(Expr::cust("0"), Alias::new("n"))
                .to_owned(),
        );
        for part in parts {
            rollup.union(UnionType::All, part);
        }
        let sum = Query::select()
            .column(Alias::new("key"))
            .expr_as(Expr::cust("CAST(SUM(n) AS BIGINT)"), Alias::new("count"))
            .expr(Expr::cust(MARK_COLUMNS))
            .from_subquery(rollup, Alias::new("parts"))
            .group_by_col(Alias::new("key"))
            .to_owned();
        backend.build(&sum)
    }

    /// The distinct non-null values of `column` from the rollups and the rows
    /// after their watermark; `None` for a caller the rollups cannot answer
    /// for. Like [`Self::rolled_up_counts`], it assumes a watermark and checks.
    pub(super) async fn rolled_up_distinct(
        &self,
        caller: &Caller,
        column: Column,
    ) -> Result<Option<Vec<String>>> {
        if Plan::of(caller, &ActivityFilter::default()).is_none() {
            return Ok(None);
        }
        let name = match column {
            Column::Action => "action",
            Column::Module => "module",
            Column::Mode => "mode",
            Column::ResourceType => "resource_type",
            _ => return Ok(None),
        };
        let backend = self.db.get_database_backend();
        let mut mark = self.assumed_mark();
        for _ in 0..MARK_RETRIES {
            // The empty value (NULL) makes every answer hold a row.
            let sql = format!(
                "SELECT DISTINCT v, {MARK_COLUMNS} FROM (\
                   SELECT activities.{name} AS v FROM activity_rollup_totals AS activities WHERE activities.n > 0 \
                   UNION ALL SELECT activities.{name} AS v FROM activities \
                     WHERE (activities.txid, activities.seq) > ({}, {}) AND {AFTER_MARK} \
                   UNION ALL SELECT NULL) AS parts ORDER BY v",
                placeholder(backend, 1),
                placeholder(backend, 2)
            );
            let rows = self
                .db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    sql,
                    [mark.txid.into(), mark.seq.into()],
                ))
                .await?;
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let seen = Position {
                txid: first.try_get_by_index(1)?,
                seq: first.try_get_by_index(2)?,
            };
            if seen != mark {
                self.saw_mark(seen);
            }
            if mark > seen {
                mark = seen;
                continue;
            }
            let values = rows
                .iter()
                .map(|r| r.try_get_by_index::<Option<String>>(0))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            return Ok(Some(values.into_iter().flatten().collect()));
        }
        Ok(None)
    }

    /// Folds up to [`FOLD_BATCH`] released rows after the watermark into the
    /// rollups and moves the watermark past them. Returns how many rows it
    /// folded, or `None` when another instance is folding.
    pub async fn fold_rollups(&self) -> Result<Option<u64>> {
        let txn = self.begin_write().await?;
        let backend = txn.get_database_backend();
        if backend == DbBackend::Postgres {
            // It inserts no activity: live delivery need not wait for it.
            txn.execute_unprepared(BOOKKEEPING_SQL).await?;
        }
        if !rollup_lock(&txn, false).await? {
            txn.rollback().await?;
            return Ok(None);
        }
        let mark = read_mark(&txn).await?;
        let released = match backend {
            DbBackend::Postgres => format!("AND txid < {HORIZON_SQL}"),
            _ => String::new(),
        };
        let last = txn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT txid, seq, n FROM (SELECT txid, seq, count(*) OVER () AS n FROM \
                       (SELECT txid, seq FROM activities WHERE (txid, seq) > ({}, {}) {released} \
                        ORDER BY txid, seq LIMIT {FOLD_BATCH}) AS batch) AS counted \
                     ORDER BY txid DESC, seq DESC LIMIT 1",
                    placeholder(backend, 1),
                    placeholder(backend, 2)
                ),
                [mark.txid.into(), mark.seq.into()],
            ))
            .await?;
        let Some(last) = last else {
            txn.commit().await?;
            return Ok(Some(0));
        };
        let upto = Position {
            txid: last.try_get_by_index(0)?,
            seq: last.try_get_by_index(1)?,
        };
        let folded: i64 = last.try_get_by_index(2)?;
        stage(
            &txn,
            false,
            Condition::all().add(mark.later()).add(at_or_before(upto)),
        )
        .await?;
        merge(&txn).await?;
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE activity_rollup_mark SET txid = {}, seq = {}",
                placeholder(backend, 1),
                placeholder(backend, 2)
            ),
            [upto.txid.into(), upto.seq.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(Some(u64::try_from(folded).unwrap_or_default()))
    }

    /// Deletes the activities `ids` in `txn` and subtracts those the rollups
    /// hold, waiting for a running fold to finish first.
    pub(super) async fn delete_rolled_up(
        &self,
        txn: &DatabaseTransaction,
        ids: Vec<Uuid>,
    ) -> Result<u64> {
        rollup_lock(txn, true).await?;
        stage(
            txn,
            true,
            Condition::all()
                .add(Column::Uuid.is_in(ids.iter().copied()))
                .add(Expr::cust(UP_TO_MARK)),
        )
        .await?;
        let deleted = Entity::delete_many()
            .filter(Column::Uuid.is_in(ids))
            .exec(txn)
            .await?
            .rows_affected;
        merge(txn).await?;
        for grain in [Grain::Hours, Grain::Totals, Grain::HourTotals] {
            txn.execute_unprepared(&format!("DELETE FROM {} WHERE n = 0", grain.table()))
                .await?;
        }
        Ok(deleted)
    }

    /// The rows after the watermark (not yet folded), for metrics and tests.
    pub async fn rollup_lag(&self) -> Result<u64> {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) FROM activities WHERE {AFTER_MARK}"),
            ))
            .await?;
        let n: i64 = match row {
            Some(r) => r.try_get_by_index(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or_default())
    }
}

/// A bind placeholder in `backend`'s dialect.
fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".into(),
    }
}

/// Takes the rollup lock of the schema for the transaction: waiting for it
/// (`wait`) or not. SQLite's write transaction is the lock already.
async fn rollup_lock(txn: &DatabaseTransaction, wait: bool) -> Result<bool> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(true);
    }
    let function = match wait {
        true => "pg_advisory_xact_lock",
        false => "pg_try_advisory_xact_lock",
    };
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT {function}(hashtext('activity-feed rollups ' || current_schema()))::text"
            ),
        ))
        .await?;
    let answer: String = match row {
        Some(r) => r.try_get_by_index(0)?,
        None => String::new(),
    };
    // pg_advisory_xact_lock returns void, which reads as empty text.
    Ok(answer != "false")
}

/// The watermark: every row at or below it is in the rollups.
async fn read_mark(txn: &DatabaseTransaction) -> Result<Position> {
    let row = txn
        .query_one_raw(Statement::from_string(
            txn.get_database_backend(),
            "SELECT txid, seq FROM activity_rollup_mark",
        ))
        .await?;
    Ok(match row {
        Some(r) => Position {
            txid: r.try_get_by_index(0)?,
            seq: r.try_get_by_index(1)?,
        },
        None => Position::default(),
    })
}

/// Fills the staging table with the counts, per hour and dimensions, of the
/// rows `condition` selects, added (`subtract` false) or subtracted.
async fn stage(txn: &DatabaseTransaction, subtract: bool, condition: Condition) -> Result<()> {
    let backend = txn.get_database_backend();
    txn.execute_unprepared("DELETE FROM activity_rollup_delta")
        .await?;
    let sign = if subtract { "-" } else { "" };
    let counted = Query::select()
        .expr(Expr::cust(row_hour(backend)))
        .exprs([
            Expr::col((Entity, Column::Action)),
            Expr::col((Entity, Column::Module)),
            Expr::col((Entity, Column::Mode)),
            Expr::col((Entity, Column::ResourceType)),
        ])
        .expr(Expr::cust(format!("{sign}COUNT(*)")))
        .from(Entity)
        .cond_where(condition)
        .add_group_by((1..=5).map(|i| Expr::cust(i.to_string())))
        .to_owned();
    let insert = Query::insert()
        .into_table(Alias::new("activity_rollup_delta"))
        .columns(["hour", "action", "module", "mode", "resource_type", "n"].map(Alias::new))
        .select_from(counted)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    txn.execute(&insert).await?;
    Ok(())
}

/// Rows at or below `upto`, as a condition on `activities`.
fn at_or_before(upto: Position) -> Expr {
    Expr::tuple([
        Expr::col((Entity, Column::Txid)),
        Expr::col((Entity, Column::Seq)),
    ])
    .lte(Expr::tuple([Expr::val(upto.txid), Expr::val(upto.seq)]))
}

/// Adds the staging table's counts to the three rollups.
async fn merge(txn: &DatabaseTransaction) -> Result<()> {
    let backend = txn.get_database_backend();
    let grains = [
        (Grain::Hours, "hour, action, module, mode, resource_type"),
        (Grain::Totals, "action, module, mode, resource_type"),
        (Grain::HourTotals, "hour"),
    ];
    for (grain, cols) in grains {
        let table = grain.table();
        let delta =
            format!("SELECT {cols}, SUM(n) AS n FROM activity_rollup_delta GROUP BY {cols}");
        match backend {
            DbBackend::Postgres => {
                txn.execute_unprepared(&format!(
                    "INSERT INTO {table} ({cols}, n) {delta} \
                     ON CONFLICT ({cols}) DO UPDATE SET n = {table}.n + excluded.n"
                ))
                .await?;
            }
            _ => {
                // NULLs are distinct in SQLite's unique indexes, so no upsert:
                // update the groups that exist, insert the others. Only
                // this and prune write here, under the write lock.
                let same = cols
                    .split(", ")
                    .map(|c| format!("{table}.{c} IS d.{c}"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                txn.execute_unprepared(&format!(
                    "UPDATE {table} SET n = {table}.n + d.n FROM ({delta}) AS d WHERE {same}"
                ))
                .await?;
                txn.execute_unprepared(&format!(
                    "INSERT INTO {table} ({cols}, n) SELECT {cols}, n FROM ({delta}) AS d \
                     WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {same})"
                ))
                .await?;
            }
        }
    }
    Ok(())
}

/// Folds now and then every `interval` until `shutdown`: at once again after
/// a full batch, so that a backlog (a fresh migration over a large table, a
/// bulk import) is worked off without waiting. An interval of zero turns the
/// folder off; reads stay exact, they only scan more.
pub fn spawn(
    feed: ActivityFeed,
    interval: Duration,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) {
    if interval.is_zero() {
        tracing::info!("rollup folder is off");
        return;
    }
    tasks.spawn(async move {
        loop {
            let pause = match feed.fold_rollups().await {
                Ok(Some(n)) if n >= FOLD_BATCH => Duration::ZERO,
                Ok(_) => interval,
                Err(error) => {
                    tracing::warn!(%error, "folding rollups failed; will try again");
                    interval
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn plan(since: Option<&str>, until: Option<&str>) -> Plan {
        Plan {
            dims: ActivityFilter::default(),
            since: since.map(at),
            until: until.map(at),
        }
    }

    #[test]
    fn whole_hours_leave_partial_edges_to_the_table() {
        let p = plan(Some("2026-01-01T10:30:00Z"), Some("2026-01-01T14:15:00Z"));
        assert_eq!(
            p.whole_hours(),
            Some((
                Some(at("2026-01-01T11:00:00Z")),
                Some(at("2026-01-01T14:00:00Z"))
            ))
        );
        // Exact hour bounds: since's hour is whole; until's last microsecond
        // is in only when until is the hour's last microsecond.
        let p = plan(
            Some("2026-01-01T10:00:00Z"),
            Some("2026-01-01T13:59:59.999999Z"),
        );
        assert_eq!(
            p.whole_hours(),
            Some((
                Some(at("2026-01-01T10:00:00Z")),
                Some(at("2026-01-01T14:00:00Z"))
            ))
        );
        let p = plan(None, Some("2026-01-01T14:00:00Z"));
        assert_eq!(
            p.whole_hours(),
            Some((None, Some(at("2026-01-01T14:00:00Z"))))
        );
        assert_eq!(
            plan(Some("2026-01-01T10:10:00Z"), Some("2026-01-01T10:50:00Z")).whole_hours(),
            None
        );
        assert_eq!(plan(None, None).whole_hours(), Some((None, None)));
    }

    #[test]
    fn only_rolled_up_dimensions_and_unconfined_callers_plan() {
        let f = ActivityFilter {
            action: Some("post.*".into()),
            module: Some("posts".into()),
            ..Default::default()
        };
        assert!(Plan::of(&Caller::SYSTEM, &f).is_some());
        assert!(Plan::of(&Caller::user(Uuid::now_v7()), &f).is_none());
        let by_actor = ActivityFilter {
            actor_uuid: Some(Uuid::now_v7()),
            ..f.clone()
        };
        assert!(Plan::of(&Caller::SYSTEM, &by_actor).is_none());
        let by_text = ActivityFilter {
            metadata_text: Some("x".into()),
            ..f
        };
        assert!(Plan::of(&Caller::SYSTEM, &by_text).is_none());
    }
}
