//! Positions: the order in which activities become visible to readers.
//!
//! A position is `(txid, seq)`: the writing transaction's id and a number
//! from a sequence. On PostgreSQL neither is in commit order, so a row is
//! *released* only once every transaction with a lower id has ended (its
//! `txid` is below the reader's snapshot xmin); from then on nothing can
//! appear below it. Released rows therefore appear in position order, and
//! "everything after position p" never gains a row below p later. On SQLite
//! there is one writer at a time, `txid` is 0 and every committed row is
//! released.
//!
//! Live delivery, resuming with `after` and the listener all follow
//! positions. Lists stay in time order (see [`super::Cursor`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entity::activity;
use sea_orm::sea_query::{Expr, ExprTrait};

/// Where an activity stands in the order rows become visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// The writing transaction's id (0 on SQLite and for rows older than positions).
    pub txid: i64,
    /// The row's number, which only grows.
    pub seq: i64,
}

/// What a client's resume cursor names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeCursor {
    /// A position, as `Activity.cursor` gives it.
    Position(Position),
    /// A time-ordered cursor (`micros:uuid`): what `Activity.cursor` gave
    /// before positions, and what `activityFeed` edges still give.
    Time(super::Cursor),
}

/// The text that marks a position cursor, so that it can never be read as a
/// time cursor and a later format can be told apart.
const PREFIX: &str = "p1:";

impl Position {
    /// The position of `row`.
    pub fn of(row: &activity::Model) -> Self {
        Self {
            txid: row.txid,
            seq: row.seq,
        }
    }

    /// The position just before every row of transaction `txid`: rows with
    /// a lower transaction id are at or below it.
    pub fn before_transaction(txid: i64) -> Self {
        Self { txid, seq: 0 }
    }

    /// The cursor as clients see it: URL-safe base64 of "p1:txid:seq".
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{PREFIX}{}:{}", self.txid, self.seq))
    }

    /// Rows after this position, as a condition on `activities`: a row-value
    /// comparison both databases answer from the (txid, seq) index.
    pub fn later(&self) -> Expr {
        Expr::tuple([
            Expr::col((activity::Entity, activity::Column::Txid)),
            Expr::col((activity::Entity, activity::Column::Seq)),
        ])
        .gt(Expr::tuple([Expr::val(self.txid), Expr::val(self.seq)]))
    }
}

impl ResumeCursor {
    /// Reads a cursor a client passes as `after`; `None` for anything else.
    pub fn decode(s: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        match text.strip_prefix(PREFIX) {
            Some(rest) => {
                let (txid, seq) = rest.split_once(':')?;
                let (txid, seq) = (txid.parse().ok()?, seq.parse().ok()?);
                // Both halves start at 0; nothing negative is ever handed out.
                (txid >= 0 && seq >= 0).then_some(Self::Position(Position { txid, seq }))
            }
            None => super::Cursor::decode(s).map(Self::Time),
        }
    }
}

/// The lowest transaction id of this database that may still be running,
/// as of the statement's snapshot: rows of lower ids can no longer appear.
///
/// It is the snapshot's xmin, less the transactions that
/// `pg_stat_activity` shows running in *other* databases: transaction ids
/// and snapshots span the whole cluster, and a transaction can only write
/// to the database it is connected to, so without this a 2 s transaction
/// anywhere in the cluster held back every row for 2 s (BENCHMARKS.md,
/// "Delivery waits for other databases' transactions"). A transaction it
/// cannot place stays in: one that has ended by the time its backend is
/// read (its rows, if any, are in the snapshot already), one whose session
/// the database role may not see (without `pg_read_all_stats` another
/// role's sessions show no transaction id), a prepared one. Those hold rows
/// back as before; none is skipped. Transaction ids not yet in the
/// snapshot's list are at or above its xmax, where the horizon stops anyway.
/// `backend_xid` is 32 bits, the snapshot's ids 64: the in-progress list
/// spans far less than 2^32 ids, so comparing the low halves is exact.
/// A scalar subquery, so PostgreSQL evaluates it once per statement.
pub const HORIZON_SQL: &str = "(SELECT coalesce(\
    (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x \
      WHERE x::text::bigint % 4294967296 NOT IN (\
        SELECT a.backend_xid::text::bigint FROM pg_stat_activity AS a \
        WHERE a.backend_xid IS NOT NULL \
          AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))), \
    pg_snapshot_xmax(pg_current_snapshot())::text::bigint))";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use uuid::Uuid;

    #[test]
    fn round_trips_and_orders_by_transaction_first() {
        let p = Position { txid: 812, seq: 9 };
        assert_eq!(
            ResumeCursor::decode(&p.encode()),
            Some(ResumeCursor::Position(p))
        );
        assert!(Position { txid: 1, seq: 100 } < Position { txid: 2, seq: 1 });
        assert!(Position::before_transaction(2) < Position { txid: 2, seq: 1 });
    }

    #[test]
    fn reads_time_cursors_as_such() {
        let c = super::super::Cursor {
            inserted_at: DateTime::from_timestamp_micros(1_764_199_789_123_456).unwrap(),
            uuid: Uuid::now_v7(),
        };
        assert_eq!(
            ResumeCursor::decode(&c.encode()),
            Some(ResumeCursor::Time(c))
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "!!!",
            &URL_SAFE_NO_PAD.encode("p1:1"),
            &URL_SAFE_NO_PAD.encode("p1:-1:5"),
            &URL_SAFE_NO_PAD.encode("p1:1:x"),
            &URL_SAFE_NO_PAD.encode("p1:99999999999999999999:1"),
        ] {
            assert_eq!(ResumeCursor::decode(bad), None, "{bad}");
        }
    }
}
