use chrono::{DateTime, TimeDelta, Utc};
use entity::activity::{Column, Entity};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect};

use super::seal::form;
use super::seal::sealer::{anchor, lock_chain, statement};
use super::{log::now, ActivityFeed, Caller, Operation, Position, Result, ServiceError};

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
    /// The hash chain must stay verifiable from the oldest kept row, so a
    /// prune deletes a prefix of the log in position order: the sealed rows
    /// older than the cutoff up to the first row that is not. The hash of
    /// the last row deleted becomes the chain's anchor. Rows are sealed
    /// first, so that everything released and old enough can go.
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
        self.seal_pending().await?;
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

    /// Deletes the next sealed rows older than `cutoff`, at most
    /// [`PRUNE_BATCH`], with their seals, and moves the anchor to the last.
    async fn prune_batch(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let txn = self.begin_write().await?;
        lock_chain(&txn).await?;
        let backend = txn.get_database_backend();
        let from = anchor(&txn).await?.position;
        let oldest: Vec<(i64, i64, DateTime<Utc>)> = Entity::find()
            .select_only()
            .columns([Column::Txid, Column::Seq, Column::InsertedAt])
            .filter(from.later())
            .order_by(Column::Txid, Order::Asc)
            .order_by(Column::Seq, Order::Asc)
            .limit(PRUNE_BATCH)
            .into_tuple()
            .all(&txn)
            .await?;
        let prefix = oldest.iter().take_while(|(_, _, at)| *at < cutoff).count();
        let Some(&(txid, seq, _)) = oldest[..prefix].last() else {
            txn.commit().await?;
            return Ok(0);
        };
        let last = Position { txid, seq };
        // The newest seal at or below the last row: the row's own, unless it
        // is not sealed (a prune never runs ahead of the sealer).
        let sealed = txn
            .query_one_raw(statement(
                backend,
                "SELECT txid, seq, hash FROM seals WHERE (txid, seq) <= ($1, $2) \
                 ORDER BY txid DESC, seq DESC LIMIT 1",
                vec![txid.into(), seq.into()],
            ))
            .await?;
        let Some(sealed) = sealed else {
            txn.commit().await?;
            return Ok(0);
        };
        let upto = Position {
            txid: sealed.try_get_by_index(0)?,
            seq: sealed.try_get_by_index(1)?,
        };
        let hash: String = sealed.try_get_by_index(2)?;
        let upto = upto.min(last);
        if upto <= from {
            txn.commit().await?;
            return Ok(0);
        }
        let at_most = |p: Position| {
            Expr::tuple([Expr::col(Column::Txid), Expr::col(Column::Seq)])
                .lte(Expr::tuple([Expr::val(p.txid), Expr::val(p.seq)]))
        };
        let res = Entity::delete_many()
            .filter(from.later())
            .filter(at_most(upto))
            .exec(&txn)
            .await?;
        for table in ["seals", "seal_salts"] {
            txn.execute_raw(statement(
                backend,
                &format!("DELETE FROM {table} WHERE (txid, seq) <= ($1, $2)"),
                vec![upto.txid.into(), upto.seq.into()],
            ))
            .await?;
        }
        let anchor_hash = form::from_hex(&hash)
            .map(|h| form::to_hex(&h))
            .ok_or_else(|| sea_orm::DbErr::Custom(format!("a stored hash is not hex: {hash}")))?;
        txn.execute_raw(statement(
            backend,
            "DELETE FROM seal_anchor WHERE id = 1",
            vec![],
        ))
        .await?;
        txn.execute_raw(statement(
            backend,
            "INSERT INTO seal_anchor (id, txid, seq, hash) VALUES (1, $1, $2, $3)",
            vec![upto.txid.into(), upto.seq.into(), anchor_hash.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(res.rows_affected)
    }
}
