use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use entity::activity::{Column, Entity};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::clock::now;
use super::seal::form;
use super::seal::store::{self, first_unpruned, mark_pruned, move_anchor, salts_at, seal_before};
use super::{ActivityFeed, Caller, Operation, Position, Result, ServiceError};

/// What a prune removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneResult {
    /// How many activities were deleted.
    pub deleted: u64,
    /// Activities stored before this instant were deleted.
    pub cutoff: DateTime<Utc>,
}

/// Rows deleted per statement: small enough that no delete holds its locks
/// for long, and that a batch's forms (3 values a row) fit one statement
/// within SQLite's 32,766 bound values.
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
        let old: Vec<(Uuid, i64, i64)> = Entity::find()
            .select_only()
            .columns([Column::Uuid, Column::Txid, Column::Seq])
            .filter(Column::InsertedAt.lt(cutoff))
            // Oldest first: after every batch, each row deleted is older
            // than each row kept, which verification checks of a pruned
            // seal. Positions follow time closely, so most batches are a
            // prefix of the chain and their seals go into the anchor.
            .order_by_asc(Column::InsertedAt)
            .order_by_asc(Column::Uuid)
            .limit(PRUNE_BATCH)
            .into_tuple()
            .all(&txn)
            .await?;
        if old.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        let forms = forms_of_carried(&txn, &old).await?;
        // Subtracted from the rollups in the same transaction, so they stay
        // exact batch by batch.
        let deleted = self
            .delete_rolled_up(&txn, old.iter().map(|(u, _, _)| *u).collect())
            .await?;
        // Where the anchor goes first: the seals at or below it are dropped,
        // so only those above it are marked pruned (and moved out of their
        // batch to be marked).
        let pruned: HashSet<Position> = old
            .iter()
            .map(|(_, txid, seq)| Position {
                txid: *txid,
                seq: *seq,
            })
            .collect();
        let anchor = new_anchor(&txn, &pruned).await?;
        let above = |p: &Position| anchor.as_ref().is_none_or(|(a, _)| p > a);
        store::keep_forms(&txn, forms.into_iter().filter(|(p, _)| above(p)).collect()).await?;
        mark_pruned(
            &txn,
            pruned.iter().filter(|p| above(p)).map(|p| (p.txid, p.seq)),
        )
        .await?;
        if let Some((position, hash)) = anchor {
            move_anchor(&txn, position, hash).await?;
        }
        txn.commit().await?;
        Ok(deleted)
    }
}

/// The canonical form of each row of `old` that is not part of the pruned
/// prefix (a row older in position order stays), for its seal.
/// Its seal outlives it, marked pruned, and verification recomputes its
/// hash from the form and checks that the row was older than every row
/// kept: a mark alone would let a row deleted behind the server's back pass
/// as pruned.
async fn forms_of_carried(
    txn: &DatabaseTransaction,
    old: &[(Uuid, i64, i64)],
) -> Result<Vec<(Position, String)>> {
    let Some(first_kept) = oldest_row(txn, old.iter().map(|(u, _, _)| *u)).await? else {
        // Nothing stays: every seal goes into the anchor.
        return Ok(Vec::new());
    };
    let carried: Vec<&(Uuid, i64, i64)> = old
        .iter()
        .filter(|(_, txid, seq)| {
            Position {
                txid: *txid,
                seq: *seq,
            } > first_kept
        })
        .collect();
    if carried.is_empty() {
        return Ok(Vec::new());
    }
    let sealed = salts_at(txn, carried.iter().map(|(_, txid, seq)| (*txid, *seq))).await?;
    if sealed.is_empty() {
        return Ok(Vec::new());
    }
    let rows: std::collections::HashMap<(i64, i64), entity::activity::Model> = Entity::find()
        .filter(Column::Uuid.is_in(carried.iter().map(|(u, _, _)| *u)))
        .all(txn)
        .await?
        .into_iter()
        .map(|row| ((row.txid, row.seq), row))
        .collect();
    let mut forms = Vec::with_capacity(sealed.len());
    for ((txid, seq), (salts, erased)) in sealed {
        let Some(row) = rows.get(&(txid, seq)) else {
            continue;
        };
        let committed = form::commitments(row, &salts, &erased);
        forms.push((
            Position { txid, seq },
            form::canonical_form(row, &committed.object),
        ));
    }
    Ok(forms)
}

/// The position of the oldest row in position order, leaving out `except`.
async fn oldest_row(
    txn: &DatabaseTransaction,
    except: impl IntoIterator<Item = Uuid>,
) -> Result<Option<Position>> {
    let found: Option<(i64, i64)> = Entity::find()
        .select_only()
        .columns([Column::Txid, Column::Seq])
        .filter(Column::Uuid.is_not_in(except))
        .order_by_asc(Column::Txid)
        .order_by_asc(Column::Seq)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
    Ok(found.map(|(txid, seq)| Position { txid, seq }))
}

/// Where the anchor moves once the rows `pruned` are gone: the newest seal
/// below the oldest remaining row and below the first seal that is neither
/// marked pruned nor of a row in `pruned` (a seal whose row vanished
/// otherwise stays, for verification to report). `None` when it stays.
async fn new_anchor(
    txn: &DatabaseTransaction,
    pruned: &HashSet<Position>,
) -> Result<Option<(Position, String)>> {
    let oldest_row = oldest_row(txn, []).await?;
    let first_kept = first_unpruned(txn, pruned).await?;
    let limit = match (oldest_row, first_kept) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    seal_before(txn, limit).await
}
