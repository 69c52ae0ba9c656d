//! The chain's tables as SQL, written once for both databases: its points
//! (the anchor, the newest seal), its lock, and the salts that sealing,
//! pruning, erasure and verification read.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value as DbValue};

use super::form::{self, FieldMap};
use crate::service::{Position, Result};

/// A point of the chain: a position and the hash there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainPoint {
    /// The position of the row sealed there; (0, 0) before any row.
    pub position: Position,
    /// The chain hash after that row.
    pub hash: [u8; 32],
}

impl ChainPoint {
    /// Before anything was sealed.
    pub const GENESIS: ChainPoint = ChainPoint {
        position: Position { txid: 0, seq: 0 },
        hash: form::GENESIS,
    };
}

/// `sql` with `$1`, `$2`, … as the backend writes placeholders: as they are
/// on PostgreSQL, `?` on SQLite (each number used once, in order).
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<DbValue>) -> Statement {
    let text = if backend == DbBackend::Postgres {
        sql.to_owned()
    } else {
        let mut out = String::with_capacity(sql.len());
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                out.push('?');
            } else {
                out.push(c);
            }
        }
        out
    };
    Statement::from_sql_and_values(backend, text, values)
}

/// Positions as the rows of a `VALUES` list: `(1, 2), (1, 3)`.
pub(crate) fn values_of(positions: impl IntoIterator<Item = (i64, i64)>) -> String {
    positions
        .into_iter()
        .map(|(txid, seq)| format!("({txid}, {seq})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The salts and erased commitments of the seals at `positions`, by
/// position; a position without a seal is absent.
pub(crate) async fn salts_at(
    conn: &impl ConnectionTrait,
    positions: impl IntoIterator<Item = (i64, i64)>,
) -> Result<HashMap<(i64, i64), (FieldMap, FieldMap)>> {
    let values = values_of(positions);
    if values.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = conn
        .query_all_raw(statement(
            conn.get_database_backend(),
            &format!(
                "SELECT txid, seq, salts, erased FROM seals WHERE (txid, seq) IN (VALUES {values})"
            ),
            vec![],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            let salts: Option<String> = r.try_get_by_index(2)?;
            let erased: Option<String> = r.try_get_by_index(3)?;
            Ok((
                (r.try_get_by_index(0)?, r.try_get_by_index(1)?),
                (
                    FieldMap::from_column(salts.as_deref()),
                    FieldMap::from_column(erased.as_deref()),
                ),
            ))
        })
        .collect()
}

/// Takes the chain's lock for the rest of `txn`: on PostgreSQL an advisory
/// lock per schema, so one instance seals, prunes or erases at a time; on
/// SQLite the write lock `txn` already holds does it.
pub(crate) async fn lock_chain(txn: &DatabaseTransaction) -> Result<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(
            "SELECT pg_advisory_xact_lock(hashtext('activity-feed seal ' || current_schema()))",
        )
        .await?;
    }
    Ok(())
}

/// A chain point from a row of (txid, seq, hash).
fn point(row: &sea_orm::QueryResult) -> Result<ChainPoint> {
    let hash: String = row.try_get_by_index(2)?;
    Ok(ChainPoint {
        position: Position {
            txid: row.try_get_by_index(0)?,
            seq: row.try_get_by_index(1)?,
        },
        hash: form::from_hex(&hash)
            .ok_or_else(|| sea_orm::DbErr::Custom(format!("a stored hash is not hex: {hash}")))?,
    })
}

/// Where verification starts: the newest pruned row, or genesis.
pub(crate) async fn anchor(conn: &impl ConnectionTrait) -> Result<ChainPoint> {
    let backend = conn.get_database_backend();
    let found = conn
        .query_one_raw(statement(
            backend,
            "SELECT txid, seq, hash FROM seal_anchor WHERE id = 1",
            vec![],
        ))
        .await?;
    found.as_ref().map_or(Ok(ChainPoint::GENESIS), point)
}

/// The newest sealed row, or the anchor when none is left.
pub(crate) async fn chain_end(conn: &impl ConnectionTrait) -> Result<ChainPoint> {
    let backend = conn.get_database_backend();
    // The bound changes nothing but gives the statement a parameter, so
    // that PostgreSQL may plan it afresh (see `seal_batch`): a plan cached
    // while `seals` was empty scans the whole table for its newest row.
    let found = conn
        .query_one_raw(statement(
            backend,
            "SELECT txid, seq, hash FROM seals WHERE txid >= $1 \
             ORDER BY txid DESC, seq DESC LIMIT 1",
            vec![i64::MIN.into()],
        ))
        .await?;
    match found {
        Some(row) => point(&row),
        None => anchor(conn).await,
    }
}
