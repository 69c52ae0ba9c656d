//! The chain's tables as SQL, written once for both databases, and the only
//! module that names them: its points (the anchor, the newest seal), its
//! lock and epoch, the insert of new seals, the salts that sealing,
//! pruning, erasure and verification read, and what pruning and erasure
//! change. How seals are stored is this module's business alone.
//!
//! One file: every statement here reads or writes the same few tables, and
//! a change of their layout (seals packed per batch, say) must change all of
//! them together; split, half the statements would know a layout the other
//! half no longer wrote.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, ArrayType, Query};
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

/// The chain's epoch: a counter that every update or delete of stored
/// activities raises, by trigger (erasure's rewrites, pruning's deletes),
/// so that copies of rows read before it changed are known to be possibly
/// stale.
pub(crate) async fn chain_epoch(conn: &impl ConnectionTrait) -> Result<i64> {
    let row = conn
        .query_one_raw(statement(
            conn.get_database_backend(),
            "SELECT epoch FROM chain_epoch WHERE id = 1",
            vec![],
        ))
        .await?
        .ok_or_else(|| sea_orm::DbErr::Custom("chain_epoch has no row".into()))?;
    Ok(row.try_get_by_index(0)?)
}

/// A chain point from a row of (txid, seq, hash).
fn point(row: &sea_orm::QueryResult) -> Result<ChainPoint> {
    let hash: String = row.try_get_by_index(2)?;
    Ok(ChainPoint {
        position: position_of(row)?,
        hash: parse_hash(&hash)?,
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
    match seal_before(conn, None).await? {
        Some((position, hash)) => Ok(ChainPoint {
            position,
            hash: parse_hash(&hash)?,
        }),
        None => anchor(conn).await,
    }
}

/// A stored hash as bytes; an error names a hash that is not 64 hex digits.
fn parse_hash(hash: &str) -> Result<[u8; 32]> {
    Ok(form::from_hex(hash)
        .ok_or_else(|| sea_orm::DbErr::Custom(format!("a stored hash is not hex: {hash}")))?)
}

/// The newest seal before `before` (the newest of all when `None`): its
/// position and its hash as stored, which may not be hex if tampered with.
pub(crate) async fn seal_before(
    conn: &impl ConnectionTrait,
    before: Option<Position>,
) -> Result<Option<(Position, String)>> {
    // The bound on the newest of all changes nothing but gives the statement
    // a parameter, so that PostgreSQL may plan it afresh (see `seal_batch`):
    // a plan cached while `seals` was empty scans the whole table for its
    // newest row.
    let (sql, values) = match before {
        Some(p) => (
            "SELECT txid, seq, hash FROM seals WHERE (txid, seq) < ($1, $2) \
             ORDER BY txid DESC, seq DESC LIMIT 1",
            vec![p.txid.into(), p.seq.into()],
        ),
        None => (
            "SELECT txid, seq, hash FROM seals WHERE txid >= $1 \
             ORDER BY txid DESC, seq DESC LIMIT 1",
            vec![i64::MIN.into()],
        ),
    };
    let found = conn
        .query_one_raw(statement(conn.get_database_backend(), sql, values))
        .await?;
    match found {
        Some(row) => Ok(Some((position_of(&row)?, row.try_get_by_index(2)?))),
        None => Ok(None),
    }
}

/// The position in a row's first two columns.
fn position_of(row: &sea_orm::QueryResult) -> Result<Position> {
    Ok(Position {
        txid: row.try_get_by_index(0)?,
        seq: row.try_get_by_index(1)?,
    })
}

/// One seal as `seal_batch` inserts it.
pub(crate) struct NewSeal {
    /// The sealed row's position.
    pub position: Position,
    /// The sealed row's uuid.
    pub activity_uuid: uuid::Uuid,
    /// The position chained on from.
    pub previous: Position,
    /// The chain hash at `position`, 64 hex digits.
    pub hash: String,
    /// The salts of its committed fields, as JSON; `None` when it has none.
    pub salts: Option<String>,
}

/// The columns of `seals` a new seal fills, in [`NewSeal`]'s order.
const SEAL_COLUMNS: [&str; 7] = [
    "txid",
    "seq",
    "activity_uuid",
    "prev_txid",
    "prev_seq",
    "hash",
    "salts",
];

/// Inserts `seals`. PostgreSQL takes the batch as one array per column
/// (`unnest`): seven bound values however long the batch, where a
/// multi-row VALUES list binds seven per seal. SQLite has no arrays; it
/// takes VALUES lists of at most 1,000 rows (it binds at most 32,766 values
/// per statement).
pub(crate) async fn insert_seals(txn: &DatabaseTransaction, seals: Vec<NewSeal>) -> Result<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        let column =
            |ty: ArrayType, values: Vec<DbValue>| DbValue::Array(ty, Some(Box::new(values)));
        let mut columns: [Vec<DbValue>; 7] = Default::default();
        for seal in seals {
            columns[0].push(seal.position.txid.into());
            columns[1].push(seal.position.seq.into());
            columns[2].push(seal.activity_uuid.into());
            columns[3].push(seal.previous.txid.into());
            columns[4].push(seal.previous.seq.into());
            columns[5].push(seal.hash.into());
            // sqlx binds no NULL inside a text[]; no salts is '' there (a
            // seal's salts, when it has any, are a JSON object), NULL in the table.
            columns[6].push(seal.salts.unwrap_or_default().into());
        }
        let [txid, seq, uuid, prev_txid, prev_seq, hash, salts] = columns;
        let sql = format!(
            "INSERT INTO seals ({}) SELECT t, q, u, pt, pq, h, NULLIF(s, '') FROM unnest($1::bigint[], \
             $2::bigint[], $3::uuid[], $4::bigint[], $5::bigint[], $6::text[], $7::text[]) \
             AS batch (t, q, u, pt, pq, h, s)",
            SEAL_COLUMNS.join(", ")
        );
        let values = [
            column(ArrayType::BigInt, txid),
            column(ArrayType::BigInt, seq),
            column(ArrayType::Uuid, uuid),
            column(ArrayType::BigInt, prev_txid),
            column(ArrayType::BigInt, prev_seq),
            column(ArrayType::String, hash),
            column(ArrayType::String, salts),
        ];
        txn.execute_raw(statement(DbBackend::Postgres, &sql, values.into()))
            .await?;
        return Ok(());
    }
    let mut seals = seals.into_iter().peekable();
    while seals.peek().is_some() {
        let mut insert = Query::insert()
            .into_table(Alias::new("seals"))
            .columns(SEAL_COLUMNS.map(Alias::new))
            .to_owned();
        for seal in seals.by_ref().take(1000) {
            insert.values_panic([
                seal.position.txid.into(),
                seal.position.seq.into(),
                seal.activity_uuid.into(),
                seal.previous.txid.into(),
                seal.previous.seq.into(),
                seal.hash.into(),
                seal.salts.into(),
            ]);
        }
        txn.execute(&insert).await?;
    }
    Ok(())
}

/// A seal as stored, with its salts: what verification checks a row against.
pub(crate) struct StoredSeal {
    /// The sealed row's position.
    pub position: Position,
    /// The sealed row's uuid.
    pub activity: uuid::Uuid,
    /// The position chained on from.
    pub previous: Position,
    /// The chain hash at `position`, as stored (64 hex digits unless tampered with).
    pub hash: String,
    /// Whether retention deleted the row while older rows remained.
    pub pruned: bool,
    /// The salts of its committed fields, as JSON.
    pub salts: Option<String>,
    /// The commitments of its erased fields, as JSON.
    pub erased: Option<String>,
    /// The canonical form of a row pruned while older rows remained.
    pub form: Option<String>,
}

/// At most `limit` seals after `after` and at most `upper`, in position order.
pub(crate) async fn seals_after(
    conn: &impl ConnectionTrait,
    after: Position,
    upper: Position,
    limit: u64,
) -> Result<Vec<StoredSeal>> {
    let rows = conn
        .query_all_raw(statement(
            conn.get_database_backend(),
            "SELECT txid, seq, activity_uuid, prev_txid, prev_seq, hash, pruned, salts, erased, form \
             FROM seals WHERE (txid, seq) > ($1, $2) AND (txid, seq) <= ($3, $4) \
             ORDER BY txid, seq LIMIT $5",
            vec![
                after.txid.into(),
                after.seq.into(),
                upper.txid.into(),
                upper.seq.into(),
                (limit as i64).into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredSeal {
                position: position_of(r)?,
                activity: r.try_get_by_index(2)?,
                previous: Position {
                    txid: r.try_get_by_index(3)?,
                    seq: r.try_get_by_index(4)?,
                },
                hash: r.try_get_by_index(5)?,
                pruned: r.try_get_by_index(6)?,
                salts: r.try_get_by_index(7)?,
                erased: r.try_get_by_index(8)?,
                form: r.try_get_by_index(9)?,
            })
        })
        .collect()
}

/// Where the seal of the row `uuid` is, when it has one.
pub(crate) async fn sealed_at(
    conn: &impl ConnectionTrait,
    uuid: uuid::Uuid,
) -> Result<Option<Position>> {
    let row = conn
        .query_one_raw(statement(
            conn.get_database_backend(),
            "SELECT txid, seq FROM seals WHERE activity_uuid = $1",
            vec![uuid.into()],
        ))
        .await?;
    row.as_ref().map(position_of).transpose()
}

/// The statement that stores a seal's salts and erased commitments after
/// erasure took some of them (an empty map is stored as NULL).
pub(crate) fn set_salts(
    backend: DbBackend,
    position: Position,
    salts: &FieldMap,
    erased: &FieldMap,
) -> Statement {
    statement(
        backend,
        "UPDATE seals SET salts = $1, erased = $2 WHERE txid = $3 AND seq = $4",
        vec![
            (!salts.is_empty()).then(|| salts.to_json()).into(),
            (!erased.is_empty()).then(|| erased.to_json()).into(),
            position.txid.into(),
            position.seq.into(),
        ],
    )
}

/// Marks the seals at `positions` as of rows retention deleted, and drops
/// their salts: nothing is left to check them against.
pub(crate) async fn mark_pruned(
    txn: &DatabaseTransaction,
    positions: impl IntoIterator<Item = (i64, i64)>,
) -> Result<()> {
    let positions = values_of(positions);
    if positions.is_empty() {
        return Ok(());
    }
    txn.execute_raw(statement(
        txn.get_database_backend(),
        &format!(
            "UPDATE seals SET pruned = $1, salts = NULL, erased = NULL \
             WHERE (txid, seq) IN (VALUES {positions})"
        ),
        vec![true.into()],
    ))
    .await?;
    Ok(())
}

/// Stores with each seal the canonical form of its row, which retention
/// is about to delete while older rows remain.
pub(crate) async fn keep_forms(
    txn: &DatabaseTransaction,
    forms: Vec<(Position, String)>,
) -> Result<()> {
    if forms.is_empty() {
        return Ok(());
    }
    // One statement, not one per row: a prune batch's 3 × 5,000 values fit
    // both databases' limits. Both name the columns of a bare VALUES
    // column1, ….
    let rows: Vec<String> = (0..forms.len())
        .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
        .collect();
    let values = forms
        .into_iter()
        .flat_map(|(p, form)| [p.txid.into(), p.seq.into(), form.into()])
        .collect();
    txn.execute_raw(statement(
        txn.get_database_backend(),
        &format!(
            "UPDATE seals SET form = v.column3 FROM (VALUES {}) AS v \
             WHERE seals.txid = v.column1 AND seals.seq = v.column2",
            rows.join(", ")
        ),
        values,
    ))
    .await?;
    Ok(())
}

/// The oldest seal not marked pruned.
pub(crate) async fn first_unpruned(conn: &impl ConnectionTrait) -> Result<Option<Position>> {
    let row = conn
        .query_one_raw(statement(
            conn.get_database_backend(),
            "SELECT txid, seq FROM seals WHERE pruned = false ORDER BY txid, seq LIMIT 1",
            vec![],
        ))
        .await?;
    row.as_ref().map(position_of).transpose()
}

/// Drops every seal up to `position`, whose hash `hash` (as stored)
/// becomes the anchor verification starts from.
pub(crate) async fn move_anchor(
    txn: &DatabaseTransaction,
    position: Position,
    hash: String,
) -> Result<()> {
    let backend = txn.get_database_backend();
    txn.execute_raw(statement(
        backend,
        "DELETE FROM seals WHERE (txid, seq) <= ($1, $2)",
        vec![position.txid.into(), position.seq.into()],
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
        vec![position.txid.into(), position.seq.into(), hash.into()],
    ))
    .await?;
    Ok(())
}
