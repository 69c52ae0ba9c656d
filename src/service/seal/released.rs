//! Rows this process's publisher has read, kept for its sealer, so that
//! sealing does not read every row from the database a second time.
//!
//! The copies are only as good as the moment they were read: erasure and
//! pruning rewrite and delete rows. Each run of copies carries the chain's
//! epoch as it was before the publisher's read; every update or delete of a
//! stored activity raises it, by trigger, in its own transaction, and the
//! sealer hands out copies only while the epoch it reads before sealing
//! (under the chain's lock, or on SQLite inside its write transaction) is
//! still theirs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use entity::activity;

use crate::service::Position;

/// Copies kept at most: sixteen batches (32,000 rows, under a second of
/// the fastest batch writes measured). A sealer further behind reads from
/// the database until it is back within them.
const CAPACITY: usize = 16 * super::SEAL_BATCH as usize;

/// Memory the copies may take at most, by [`footprint`]'s estimate: the
/// 32,000 rows of the benchmarks' size (a few hundred bytes each) fit, and
/// rows with large metadata (up to 64 KiB each by default) are kept fewer.
const BUDGET: usize = 32 << 20;

/// About how many bytes a copy of `row` holds: the struct and what its
/// strings and metadata allocate. An estimate, to bound the copies' memory,
/// not an account.
fn footprint(row: &activity::Model) -> usize {
    let strings = [
        Some(&row.action),
        row.module.as_ref(),
        row.mode.as_ref(),
        row.resource_type.as_ref(),
        row.idempotency_key.as_ref(),
        row.correlation_id.as_ref(),
        row.client_ip.as_ref(),
        row.user_agent.as_ref(),
        row.idempotency_scope.as_ref(),
    ];
    std::mem::size_of::<activity::Model>()
        + strings
            .into_iter()
            .flatten()
            .map(String::len)
            .sum::<usize>()
        + json_footprint(&row.metadata)
}

/// About how many bytes `value` allocates.
fn json_footprint(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    const NODE: usize = std::mem::size_of::<Value>();
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => NODE,
        Value::String(s) => NODE + s.len(),
        Value::Array(items) => NODE + items.iter().map(json_footprint).sum::<usize>(),
        // A map entry: its key, and the map's own bookkeeping for it.
        Value::Object(map) => {
            NODE + map
                .iter()
                .map(|(k, v)| k.len() + 2 * NODE + json_footprint(v))
                .sum::<usize>()
        }
    }
}

/// Every released row after one position, up to the newest the publisher
/// read, as long as they follow on without a gap.
#[derive(Default)]
pub(crate) struct Released {
    /// Set once this process seals: until then the publisher keeps nothing.
    wanted: AtomicBool,
    run: Mutex<Option<Run>>,
}

/// Copies of every released row after `after`, in position order, all read
/// while the chain's epoch was `epoch`, each with its [`footprint`].
struct Run {
    after: Position,
    epoch: i64,
    rows: VecDeque<(Arc<activity::Model>, usize)>,
    /// The sum of the rows' footprints.
    bytes: usize,
}

impl Run {
    /// The position the next read must follow on from.
    fn end(&self) -> Position {
        self.rows
            .back()
            .map_or(self.after, |(row, _)| Position::of(row))
    }

    /// Drops the oldest copy: the run then starts after it.
    fn drop_oldest(&mut self) {
        if let Some((row, bytes)) = self.rows.pop_front() {
            self.after = Position::of(&row);
            self.bytes -= bytes;
        }
    }
}

impl Released {
    /// From now on the publisher keeps copies for the sealer.
    pub(crate) fn want(&self) {
        self.wanted.store(true, Ordering::SeqCst);
    }

    /// Whether the publisher should keep copies (and read the epoch first).
    pub(crate) fn wanted(&self) -> bool {
        self.wanted.load(Ordering::SeqCst)
    }

    /// Adds what one read of the publisher found: every released row after
    /// `after`, read while the epoch was `epoch` (`None`: it could not be
    /// read, so the copies cannot be vouched for). A read that does not
    /// follow on from the run, or under another epoch, starts a new one.
    pub(crate) fn push(&self, after: Position, epoch: Option<i64>, rows: &[Arc<activity::Model>]) {
        let mut run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        let Some(epoch) = epoch else {
            *run = None;
            return;
        };
        let follows = run
            .as_ref()
            .is_some_and(|r| r.epoch == epoch && r.end() == after);
        if !follows {
            *run = Some(Run {
                after,
                epoch,
                rows: VecDeque::new(),
                bytes: 0,
            });
        }
        let run = run.as_mut().expect("set above");
        for row in rows {
            let bytes = footprint(row);
            run.bytes += bytes;
            run.rows.push_back((row.clone(), bytes));
        }
        while run.rows.len() > CAPACITY || run.bytes > BUDGET {
            run.drop_oldest();
        }
    }

    /// The copies of at most `limit` released rows after `end`, when every
    /// released row after `end` that the publisher has read is here and
    /// the chain's epoch is still `epoch`; `None` when the sealer must read
    /// from the database (no copies, a gap, or rows changed since).
    pub(crate) fn after(
        &self,
        end: Position,
        epoch: i64,
        limit: u64,
    ) -> Option<Vec<Arc<activity::Model>>> {
        let mut guard = self.run.lock().unwrap_or_else(|e| e.into_inner());
        let run = guard.as_mut()?;
        if run.epoch != epoch {
            *guard = None;
            return None;
        }
        if run.after > end {
            return None;
        }
        // What is sealed is not needed again.
        while run
            .rows
            .front()
            .is_some_and(|(row, _)| Position::of(row) <= end)
        {
            run.drop_oldest();
        }
        run.after = end;
        if run.rows.is_empty() {
            return None;
        }
        Some(
            run.rows
                .iter()
                .take(limit as usize)
                .map(|(row, _)| row.clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64) -> Arc<activity::Model> {
        let mut row = crate::service::testing::row("test.row");
        row.txid = 0;
        row.seq = seq;
        Arc::new(row)
    }

    fn at(seq: i64) -> Position {
        Position { txid: 0, seq }
    }

    fn seqs(rows: Option<Vec<Arc<activity::Model>>>) -> Option<Vec<i64>> {
        rows.map(|rows| rows.iter().map(|r| r.seq).collect())
    }

    #[test]
    fn hands_out_the_rows_after_the_chain_end_that_follow_on() {
        let released = Released::default();
        released.push(at(0), Some(7), &[row(1), row(2)]);
        released.push(at(2), Some(7), &[row(3)]);
        assert_eq!(seqs(released.after(at(0), 7, 10)), Some(vec![1, 2, 3]));
        assert_eq!(seqs(released.after(at(1), 7, 1)), Some(vec![2]));
        // Sealed up to 3: nothing left to hand out.
        assert_eq!(seqs(released.after(at(3), 7, 10)), None);
        released.push(at(3), Some(7), &[row(4)]);
        assert_eq!(seqs(released.after(at(3), 7, 10)), Some(vec![4]));
    }

    #[test]
    fn refuses_when_the_copies_start_after_the_chain_end() {
        let released = Released::default();
        released.push(at(5), Some(7), &[row(6), row(7)]);
        // Rows 1 to 5 were never copied: the sealer must read them.
        assert_eq!(seqs(released.after(at(0), 7, 10)), None);
        assert_eq!(seqs(released.after(at(5), 7, 10)), Some(vec![6, 7]));
    }

    #[test]
    fn a_read_that_does_not_follow_on_starts_again() {
        let released = Released::default();
        released.push(at(0), Some(7), &[row(1), row(2)]);
        // The publisher restarted further on: rows 3 and 4 were not copied.
        released.push(at(4), Some(7), &[row(5)]);
        assert_eq!(seqs(released.after(at(2), 7, 10)), None);
        assert_eq!(seqs(released.after(at(4), 7, 10)), Some(vec![5]));
    }

    #[test]
    fn a_changed_epoch_drops_every_copy() {
        let released = Released::default();
        released.push(at(0), Some(7), &[row(1), row(2)]);
        // An erasure or a prune committed since: the copies may be stale.
        assert_eq!(seqs(released.after(at(0), 8, 10)), None);
        // Even if asked again under the old epoch, they are gone.
        assert_eq!(seqs(released.after(at(0), 7, 10)), None);
        // Copies read under the new epoch start a new run.
        released.push(at(2), Some(8), &[row(3)]);
        assert_eq!(seqs(released.after(at(2), 8, 10)), Some(vec![3]));
        assert_eq!(seqs(released.after(at(0), 8, 10)), None);
    }

    #[test]
    fn a_read_under_another_epoch_or_none_restarts_the_run() {
        let released = Released::default();
        released.push(at(0), Some(7), &[row(1)]);
        released.push(at(1), Some(8), &[row(2)]);
        assert_eq!(seqs(released.after(at(0), 8, 10)), None);
        assert_eq!(seqs(released.after(at(1), 8, 10)), Some(vec![2]));
        released.push(at(2), None, &[row(3)]);
        assert_eq!(seqs(released.after(at(1), 8, 10)), None);
        assert_eq!(seqs(released.after(at(2), 8, 10)), None);
    }

    #[test]
    fn keeps_rows_with_large_metadata_within_its_memory_budget() {
        let released = Released::default();
        let big = |seq| {
            let mut row = crate::service::testing::row("test.big");
            row.seq = seq;
            row.metadata = serde_json::json!({ "body": "x".repeat(64 * 1024) });
            Arc::new(row)
        };
        let rows: Vec<_> = (1..=1000).map(big).collect();
        released.push(at(0), Some(1), &rows);
        let fit = (BUDGET / (64 * 1024)) as i64;
        // No more than fit in the budget were kept: the copies do not reach
        // back to fit + 1 rows from the newest; the database serves those.
        assert!(released.after(at(0), 1, 1).is_none());
        assert!(released.after(at(1000 - fit - 1), 1, 1).is_none());
        // But nearly as many, the newest.
        let newest = seqs(released.after(at(1000 - fit * 9 / 10), 1, u64::MAX));
        assert_eq!(newest.and_then(|k| k.last().copied()), Some(1000));
    }

    #[test]
    fn keeps_at_most_its_capacity_and_then_refuses_what_it_dropped() {
        let released = Released::default();
        let rows: Vec<_> = (1..=(CAPACITY as i64 + 10)).map(row).collect();
        released.push(at(0), Some(1), &rows);
        assert_eq!(seqs(released.after(at(0), 1, 1)), None);
        let kept = seqs(released.after(at(10), 1, u64::MAX)).expect("rows after 10 are kept");
        assert_eq!(kept.len(), CAPACITY);
        assert_eq!(kept.first(), Some(&11));
    }
}
