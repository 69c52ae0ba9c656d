use chrono::{DateTime, TimeDelta, Utc};
use entity::activity::{Column, Entity};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{log::now, ActivityFeed, Caller, Operation, Result, ServiceError};

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
            // Each batch is deleted, and subtracted from the rollups, in a
            // transaction of its own: the rollups stay exact batch by batch.
            let txn = self.begin_write().await?;
            let batch: Vec<Uuid> = Entity::find()
                .select_only()
                .column(Column::Uuid)
                .filter(Column::InsertedAt.lt(cutoff))
                .limit(PRUNE_BATCH)
                .into_tuple()
                .all(&txn)
                .await?;
            let found = batch.len() as u64;
            let removed = match found {
                0 => 0,
                _ => self.delete_rolled_up(&txn, batch).await?,
            };
            txn.commit().await?;
            deleted += removed;
            progress(deleted);
            if found < PRUNE_BATCH {
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
}
