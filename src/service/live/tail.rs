//! The one reader of "rows after position p": the publisher reads every row
//! through it, and a resuming subscriber the rows it may see that match its
//! filter.

use entity::activity::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ConnectionTrait, DbBackend, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};

use crate::service::position::HORIZON_SQL;
use crate::service::{rows, ActivityFeed, Position, Result};

/// Rows read per query, by the publisher and by a replay.
pub const PAGE: u64 = 500;

/// What one read after a position found.
pub struct Tail {
    /// Released rows, in position order: at most [`PAGE`].
    pub released: Vec<activity::Model>,
    /// Committed rows follow them that wait for an older transaction.
    pub pending: bool,
    /// Every row below this had finished as of the read; `None` on SQLite,
    /// and when the read found no row.
    pub horizon: Option<Position>,
}

impl ActivityFeed {
    /// The rows of `select` after `from`, in position order, split into the
    /// released ones and whether more wait for an older transaction.
    ///
    /// On PostgreSQL the statement also returns its snapshot's xmin, and the
    /// rows come in position order, so the released ones are a prefix; what
    /// follows the first unreleased row is read again once it is released.
    pub(super) async fn read_after(&self, select: Select<Entity>, from: Position) -> Result<Tail> {
        read_after_on(&self.db, select, from, PAGE).await
    }
}

/// [`ActivityFeed::read_after`] on `conn`, at most `limit` rows: the sealer
/// reads through it inside the transaction that writes the seals, so that
/// rows are sealed in exactly the order they are published.
pub(crate) async fn read_after_on(
    conn: &impl ConnectionTrait,
    select: Select<Entity>,
    from: Position,
    limit: u64,
) -> Result<Tail> {
    let backend = conn.get_database_backend();
    let select = select
        .filter(from.later())
        .order_by(Column::Txid, Order::Asc)
        .order_by(Column::Seq, Order::Asc)
        .limit(limit);
    if backend != DbBackend::Postgres {
        // One writer at a time: whatever is committed is released.
        return Ok(Tail {
            released: select.all(conn).await?,
            pending: false,
            horizon: None,
        });
    }
    let statement = select
        .expr_as(Expr::cust(HORIZON_SQL), "horizon")
        .build(backend);
    let found = conn.query_all_raw(statement).await?;
    let mut tail = Tail {
        released: Vec::with_capacity(found.len()),
        pending: false,
        horizon: None,
    };
    for r in &found {
        let horizon: i64 = r.try_get_by_index(rows::ACTIVITY_COLUMNS)?;
        tail.horizon = Some(Position::before_transaction(horizon));
        let row = rows::activity(r, 0)?;
        if row.txid < horizon {
            tail.released.push(row);
        } else {
            tail.pending = true;
            break;
        }
    }
    Ok(tail)
}
