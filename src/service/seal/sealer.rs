//! The sealer: follows released rows after the newest sealed position, in
//! the order the publisher delivers them, and chains them, after commit and
//! in batches, so that writers never wait for it. It seals from the rows
//! its publisher has already read when it can ([`super::released`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::activity::{self, Entity};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::service::position::BOOKKEEPING_SQL;

use super::form;
use super::head::SignedHead;
use super::store::{
    chain_end, chain_epoch, insert_seals, lock_chain, statement, ChainPoint, NewSeal,
};
use crate::service::live::tail::read_after_on;
use crate::service::{ActivityFeed, Caller, Operation, Position, Result};

/// Rows sealed per transaction.
pub const SEAL_BATCH: u64 = 2000;

/// How long the sealer waits between looks when it has caught up.
const IDLE: Duration = Duration::from_millis(200);

/// The longest wait after a failed round.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The action of the checkpoints the sealer logs.
pub const CHECKPOINT_ACTION: &str = "log.checkpoint";

/// A head as the API shows it: signed when the server has a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    /// The newest sealed position ((0, 0) before anything was sealed).
    pub position: Position,
    /// The chain hash there, 64 hex digits.
    pub hash: String,
    /// When it was read and signed.
    pub signed_at: DateTime<Utc>,
    /// The signed head; `None` when the server has no signing key.
    pub signed: Option<SignedHead>,
}

/// The seals of `rows`, in position order, chained on from `previous`.
fn seal_rows(rows: &[Arc<activity::Model>], mut previous: ChainPoint) -> Vec<NewSeal> {
    let mut seals = Vec::with_capacity(rows.len());
    let mut buffers = form::Sealing::default();
    for row in rows {
        let (hash, salts) = form::seal_row(row, &previous.hash, &mut buffers);
        seals.push(NewSeal {
            position: Position::of(row),
            activity_uuid: row.uuid,
            previous: previous.position,
            hash,
            salts,
        });
        previous = ChainPoint {
            position: Position::of(row),
            hash,
        };
    }
    seals
}

impl ActivityFeed {
    /// A write transaction holding the chain: this process's guard (held
    /// for as long as the returned guard lives) and the database's lock, so
    /// that sealing, pruning, erasing and checkpoints take turns.
    pub(crate) async fn begin_chain(
        &self,
    ) -> Result<(tokio::sync::MutexGuard<'_, ()>, DatabaseTransaction)> {
        let guard = self.chain.lock().await;
        let txn = self.begin_write().await?;
        lock_chain(&txn).await?;
        Ok((guard, txn))
    }

    /// Seals the next batch of released rows, at most [`SEAL_BATCH`], in one
    /// transaction under the chain's lock; returns how many it sealed.
    pub async fn seal_batch(&self) -> Result<u64> {
        let _chain = self.chain.lock().await;
        // On PostgreSQL the advisory lock is taken first and the rows read in
        // the transaction that seals them (no write lock is held: writers
        // never wait). SQLite's write lock would stop every writer while the
        // batch is hashed, so there the rows are read and hashed first, this
        // process's guard keeping its own prunes and erasures out, and the
        // write lock taken for the inserts alone.
        let postgres = self.db.get_database_backend() == DbBackend::Postgres;
        let (txn, end, epoch, rows, copies) = if postgres {
            let txn = self.begin_write().await?;
            // It inserts no activity: live delivery need not wait for it.
            txn.execute_unprepared(BOOKKEEPING_SQL).await?;
            // `seal_batches` grows by a row each round; a plan cached when it
            // was small (or just vacuumed empty) would scan it whole every round
            // until the next ANALYZE. Planned afresh, each round sees its size.
            txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
                .await?;
            lock_chain(&txn).await?;
            let end = chain_end(&txn).await?;
            let epoch = chain_epoch(&txn).await?;
            let (rows, copies) = self.rows_after(&txn, end, epoch).await?;
            (Some(txn), end, epoch, rows, copies)
        } else {
            let end = chain_end(&self.db).await?;
            let epoch = chain_epoch(&self.db).await?;
            let (rows, copies) = self.rows_after(&self.db, end, epoch).await?;
            (None, end, epoch, rows, copies)
        };
        if rows.is_empty() {
            if let Some(txn) = txn {
                txn.commit().await?;
            }
            return Ok(0);
        }
        // Everything is computed before the first write: from it until the
        // commit the transaction holds an id, and on PostgreSQL no row
        // written after it is released (delivered live) before it ends.
        // The hashing of a batch is milliseconds of CPU without an await: on
        // the blocking pool, so that it does not hold one of the runtime's
        // few workers while requests queue behind it.
        let hashed = tokio::task::spawn_blocking(move || {
            let seals = seal_rows(&rows, end);
            (rows.len() as u64, seals)
        })
        .await;
        let (n, seals) = match hashed {
            Ok(hashed) => hashed,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down; the transaction rolls back.
            Err(_) => return Ok(0),
        };
        let txn = match txn {
            Some(txn) => txn,
            None => {
                let txn = self.begin_write().await?;
                // Another process on the same file (a CLI) sealed, erased or
                // pruned meanwhile: what was hashed may be stale; leave it
                // to the next round.
                if chain_end(&txn).await? != end || chain_epoch(&txn).await? != epoch {
                    txn.commit().await?;
                    return Ok(0);
                }
                txn
            }
        };
        insert_seals(&txn, seals).await?;
        txn.commit().await?;
        self.sealed.fetch_add(n, Ordering::Relaxed);
        if copies {
            self.sealed_from_copies.fetch_add(n, Ordering::Relaxed);
        }
        Ok(n)
    }

    /// The next released rows after `end`, at most [`SEAL_BATCH`]: this
    /// process's publisher's copies when it has every one of them and the
    /// chain's `epoch` is still theirs, read from the database otherwise.
    /// Also says whether they are copies.
    async fn rows_after(
        &self,
        conn: &impl ConnectionTrait,
        end: ChainPoint,
        epoch: i64,
    ) -> Result<(Vec<Arc<activity::Model>>, bool)> {
        if let Some(rows) = self.released.after(end.position, epoch, SEAL_BATCH) {
            return Ok((rows, true));
        }
        let tail = read_after_on(conn, Entity::find(), end.position, SEAL_BATCH).await?;
        Ok((tail.released.into_iter().map(Arc::new).collect(), false))
    }

    /// Seals released rows, batch after batch, until a batch is short;
    /// returns how many. A batch from the publisher's copies ends where the
    /// publisher's reads have, so rows released since may be left to the
    /// next call.
    pub async fn seal_pending(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self.seal_batch().await?;
            total += n;
            if n < SEAL_BATCH {
                return Ok(total);
            }
        }
    }

    /// How many rows this service has sealed since it was created.
    pub fn sealed_total(&self) -> u64 {
        self.sealed.load(Ordering::Relaxed)
    }

    /// How many of those it sealed from its publisher's copies, without
    /// reading them again.
    pub fn sealed_from_copies(&self) -> u64 {
        self.sealed_from_copies.load(Ordering::Relaxed)
    }

    /// From now on this process's publisher keeps copies of the rows it
    /// reads, and [`Self::seal_batch`] seals from them when it can.
    pub fn seal_from_publisher(&self) {
        self.released.want();
    }

    /// The newest sealed position and its hash, signed when the server has a key.
    pub async fn log_head(&self, caller: &Caller) -> Result<LogHead> {
        caller.require(Operation::Read)?;
        let end = chain_end(&self.db).await?;
        Ok(self.head_of(end))
    }

    /// `end` as a head, signed now.
    fn head_of(&self, end: ChainPoint) -> LogHead {
        let signed_at = super::super::clock::now();
        let hash = form::to_hex(&end.hash);
        LogHead {
            position: end.position,
            signed: self
                .signer
                .as_ref()
                .map(|s| s.sign(end.position, &hash, signed_at)),
            hash,
            signed_at,
        }
    }

    /// Logs a `log.checkpoint` activity holding the signed head when the
    /// newest one is older than `interval` (or there is none); under the
    /// chain's lock, so instances sharing a database write one between them.
    pub async fn checkpoint_if_due(&self, interval: Duration) -> Result<bool> {
        if self.signer.is_none() || interval.is_zero() {
            return Ok(false);
        }
        let (_chain, txn) = self.begin_chain().await?;
        let backend = txn.get_database_backend();
        let newest = txn
            .query_one_raw(statement(
                backend,
                "SELECT inserted_at FROM activities WHERE action = $1 \
                 ORDER BY inserted_at DESC LIMIT 1",
                vec![CHECKPOINT_ACTION.into()],
            ))
            .await?
            .map(|row| row.try_get_by_index::<DateTime<Utc>>(0))
            .transpose()?;
        let interval = TimeDelta::from_std(interval).unwrap_or(TimeDelta::MAX);
        let end = chain_end(&txn).await?;
        let due = newest.is_none_or(|at| super::super::clock::now() - at >= interval);
        if !due || end == ChainPoint::GENESIS {
            txn.commit().await?;
            return Ok(false);
        }
        let head = self.head_of(end);
        let signed = head.signed.expect("a signer is set");
        let row = activity::Model {
            uuid: Uuid::now_v7(),
            action: CHECKPOINT_ACTION.into(),
            module: Some("log".into()),
            mode: Some("auto".into()),
            actor_uuid: None,
            resource_type: None,
            resource_uuid: None,
            target_uuid: None,
            metadata: json!({
                "position": signed.position.encode(),
                "hash": signed.hash,
                "signedAt": signed.signed_at,
                "signature": signed.signature,
            }),
            inserted_at: head.signed_at,
            idempotency_key: None,
            correlation_id: None,
            client_ip: None,
            user_agent: None,
            txid: 0,
            seq: 0,
            idempotency_scope: None,
        };
        super::super::log::write_rows(&txn, &[row]).await?;
        txn.commit().await?;
        self.bus.committed();
        self.live.committed().await;
        Ok(true)
    }

    /// Starts this process's sealer: it seals what is released, in batches,
    /// until `shutdown`, and logs a checkpoint every `checkpoint_interval`
    /// (never when zero or without a signing key). It works through `db`,
    /// a pool of its own, so it never waits behind requests.
    pub fn start_sealer(
        &self,
        db: sea_orm::DatabaseConnection,
        checkpoint_interval: Duration,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) {
        let feed = Self { db, ..self.clone() };
        feed.seal_from_publisher();
        tasks.spawn(async move {
            let mut retry = IDLE;
            loop {
                let wait = match feed.seal_batch().await {
                    Ok(n) if n == SEAL_BATCH => Duration::ZERO,
                    Ok(_) => {
                        retry = IDLE;
                        if let Err(error) = feed.checkpoint_if_due(checkpoint_interval).await {
                            tracing::warn!(%error, "cannot log a checkpoint; will try again");
                        }
                        IDLE
                    }
                    Err(error) => {
                        tracing::warn!(%error, retry_in = ?retry, "cannot seal new activities; retrying");
                        let wait = retry;
                        retry = (retry * 2).min(RETRY_MAX);
                        wait
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        });
    }
}
