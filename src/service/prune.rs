use chrono::{DateTime, TimeDelta, Utc};
use entity::activity::{Column, Entity};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::clock::now;
use super::seal::sealer::statement;
use super::{ActivityFeed, Caller, Operation, Position, Result, ServiceError};

/// What a prune removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneResult {
    /// How many activities were deleted.
    pub deleted: u64,
    /// Activities stored before this instant were deleted.
    pub cutoff: DateTime<Utc>,
}

/// Rows deleted per statement: small enough that no delete holds its locks for long.
const PRUNE_BATCH: u64 = 5000;

impl ActivityFeed {
    /// Deletes activities stored more than `days` days ago, in bounded batches.
    pub async fn prune(&self, caller: &Caller, days: i64) -> Result<PruneResult> {
        self.prune_reporting(caller, days, |_| {}).await
    }

    /// [`Self::prune`], calling `progress` with the number deleted so far after each batch.
    ///
    /// The hash chain stays verifiable: a deleted row's seal stays, marked
    /// pruned, while rows older in position order remain; once nothing older
    /// remains, the seals of the deleted prefix go and the hash of its
    /// newest row becomes the chain's anchor. A row deleted before it was
    /// sealed never enters the chain. The count rollups lose each batch in
    /// the batch's own transaction.
    #[tracing::instrument(skip(self, progress))]
    pub async fn prune_reporting(
        &self,
        caller: &Caller,
        days: i64,
        progress: impl Fn(u64),
    ) -> Result<PruneResult> {
        caller.require(Operation::Prune)?;
        if days < 1 {
            return Err(ServiceError::invalid("days", "must be at least 1"));
        }
        let cutoff = TimeDelta::try_days(days)
            .and_then(|age| now().checked_sub_signed(age))
            .ok_or_else(|| ServiceError::invalid("days", "is too large"))?;
        let mut deleted = 0;
        loop {
            let n = self.prune_batch(cutoff).await?;
            deleted += n;
            progress(deleted);
            if n < PRUNE_BATCH {
                break;
            }
        }
        self.pruned
            .fetch_add(deleted, std::sync::atomic::Ordering::Relaxed);
        if deleted > 0 {
            tracing::info!(deleted, %cutoff, "pruned activities");
        }
        Ok(PruneResult { deleted, cutoff })
    }

    /// Deletes the next rows older than `cutoff`, at most [`PRUNE_BATCH`],
    /// marks the seals of those sealed pruned and moves the anchor past the
    /// pruned prefix, in one transaction under the chain's lock (so that
    /// the sealer never seals a row half-deleted).
    async fn prune_batch(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let (_chain, txn) = self.begin_chain().await?;
        let backend = txn.get_database_backend();
        let old: Vec<(Uuid, i64, i64)> = Entity::find()
            .select_only()
            .columns([Column::Uuid, Column::Txid, Column::Seq])
            .filter(Column::InsertedAt.lt(cutoff))
            .limit(PRUNE_BATCH)
            .into_tuple()
            .all(&txn)
            .await?;
        if old.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        // Subtracted from the rollups in the same transaction, so they stay
        // exact batch by batch.
        let deleted = self
            .delete_rolled_up(&txn, old.iter().map(|(u, _, _)| *u).collect())
            .await?;
        let positions: Vec<String> = old
            .iter()
            .map(|(_, txid, seq)| format!("({txid}, {seq})"))
            .collect();
        let positions = positions.join(", ");
        // The salts go with the rows: nothing is left to check them against.
        txn.execute_raw(statement(
            backend,
            &format!(
                "UPDATE seals SET pruned = $1, salts = NULL, erased = NULL                  WHERE (txid, seq) IN (VALUES {positions})"
            ),
            vec![true.into()],
        ))
        .await?;
        compact(&txn).await?;
        txn.commit().await?;
        Ok(deleted)
    }
}

/// Drops the seals of the pruned prefix: those below the oldest remaining
/// row and below the first seal whose row was not pruned; the newest of
/// them becomes the anchor.
async fn compact(txn: &DatabaseTransaction) -> Result<()> {
    let backend = txn.get_database_backend();
    let first_of = |sql: &'static str| async move {
        let row = txn.query_one_raw(statement(backend, sql, vec![])).await?;
        Ok::<_, ServiceError>(match row {
            Some(r) => Some(Position {
                txid: r.try_get_by_index(0)?,
                seq: r.try_get_by_index(1)?,
            }),
            None => None,
        })
    };
    let oldest_row =
        first_of("SELECT txid, seq FROM activities ORDER BY txid, seq LIMIT 1").await?;
    let first_kept =
        first_of("SELECT txid, seq FROM seals WHERE pruned = false ORDER BY txid, seq LIMIT 1")
            .await?;
    let limit = match (oldest_row, first_kept) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let newest = match limit {
        Some(limit) => {
            txn.query_one_raw(statement(
                backend,
                "SELECT txid, seq, hash FROM seals WHERE (txid, seq) < ($1, $2) \
                 ORDER BY txid DESC, seq DESC LIMIT 1",
                vec![limit.txid.into(), limit.seq.into()],
            ))
            .await?
        }
        None => {
            txn.query_one_raw(statement(
                backend,
                "SELECT txid, seq, hash FROM seals ORDER BY txid DESC, seq DESC LIMIT 1",
                vec![],
            ))
            .await?
        }
    };
    let Some(newest) = newest else {
        return Ok(());
    };
    let (txid, seq, hash): (i64, i64, String) = (
        newest.try_get_by_index(0)?,
        newest.try_get_by_index(1)?,
        newest.try_get_by_index(2)?,
    );
    txn.execute_raw(statement(
        backend,
        "DELETE FROM seals WHERE (txid, seq) <= ($1, $2)",
        vec![txid.into(), seq.into()],
    ))
    .await?;
    txn.execute_raw(statement(
        backend,
        "DELETE FROM seal_anchor WHERE id = 1",
        vec![],
    ))
    .await?;
    txn.execute_raw(statement(
        backend,
        "INSERT INTO seal_anchor (id, txid, seq, hash) VALUES (1, $1, $2, $3)",
        vec![txid.into(), seq.into(), hash.into()],
    ))
    .await?;
    Ok(())
}
