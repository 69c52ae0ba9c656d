//! The chain's tables as SQL, written once for both databases, and the only
//! module that names them: its points (the anchor, the newest seal), its
//! lock and epoch, the insert of new seals, the salts that sealing,
//! pruning, erasure and verification read, and what pruning and erasure
//! change. How seals are stored is this module's business alone.
//!
//! New seals are stored one row per batch in `seal_batches` (their entries
//! packed, `entity::seal_batch`, and one line of salts each); `seals` holds
//! one row per seal for those written before, and for those erasure or
//! pruning changed, which are moved out of their batch first ([`move_out`]).
//! A row in `seals` wins over a batch's entry at the same position.
//!
//! One file: every statement here reads or writes the same few tables, and
//! a change of their layout must change all of them together (packing seals
//! per batch did); split, half the statements would know a layout the other
//! half no longer wrote.

use std::collections::{BTreeMap, HashMap, HashSet};

use entity::seal_batch::{self, Entry};
use sea_orm::sea_query::{Alias, Query};
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
    let positions: Vec<(i64, i64)> = positions.into_iter().collect();
    let values = values_of(positions.iter().copied());
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
    let mut found = rows
        .iter()
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
        .collect::<Result<HashMap<_, _>>>()?;
    let rest: Vec<Position> = positions
        .into_iter()
        .filter(|p| !found.contains_key(p))
        .map(|(txid, seq)| Position { txid, seq })
        .collect();
    for batch in batches_holding(conn, rest).await? {
        for (entry, line) in batch.entries.iter().zip(&batch.lines) {
            if batch.wanted.contains(&entry_position(entry)) {
                found.insert(
                    (entry.txid, entry.seq),
                    (
                        FieldMap::from_column((!line.is_empty()).then_some(line.as_str())),
                        FieldMap::default(),
                    ),
                );
            }
        }
    }
    Ok(found)
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
    // a plan cached while the table was empty scans all of it for its
    // newest row.
    let backend = conn.get_database_backend();
    let tail = if backend == DbBackend::Postgres {
        "substring(entries from octet_length(entries) - 79)"
    } else {
        "substr(entries, -80)"
    };
    let (rows_sql, batches_sql, values) = match before {
        Some(p) => (
            "SELECT txid, seq, hash FROM seals WHERE (txid, seq) < ($1, $2) \
             ORDER BY txid DESC, seq DESC LIMIT 1",
            "SELECT last_txid, last_seq, NULL FROM seal_batches \
             WHERE (first_txid, first_seq) < ($1, $2) ORDER BY first_txid DESC, first_seq DESC LIMIT 1"
                .to_owned(),
            vec![p.txid.into(), p.seq.into()],
        ),
        None => (
            "SELECT txid, seq, hash FROM seals WHERE txid >= $1 \
             ORDER BY txid DESC, seq DESC LIMIT 1",
            format!(
                "SELECT last_txid, last_seq, {tail} FROM seal_batches WHERE last_txid >= $1 \
                 ORDER BY last_txid DESC, last_seq DESC LIMIT 1"
            ),
            vec![i64::MIN.into()],
        ),
    };
    let row = conn
        .query_one_raw(statement(backend, rows_sql, values.clone()))
        .await?;
    let row = match row {
        Some(row) => Some((position_of(&row)?, row.try_get_by_index::<String>(2)?)),
        None => None,
    };
    let batch = conn
        .query_one_raw(statement(backend, &batches_sql, values))
        .await?;
    let entry = match batch {
        Some(batch) => {
            // The newest of all reads only the batch's last entry (the
            // sealer asks every round), unless it is not the batch's last.
            let tail: Option<Vec<u8>> = if before.is_none() {
                batch.try_get_by_index(2)?
            } else {
                None
            };
            let tail = tail
                .as_deref()
                .and_then(seal_batch::unpack)
                .and_then(|e| e.first().copied());
            let last = position_of(&batch)?;
            match tail {
                Some(e) if entry_position(&e) == last => Some((last, form::to_hex(&e.hash))),
                _ => batch_at(conn, last)
                    .await?
                    .and_then(|b| {
                        b.entries
                            .into_iter()
                            .rev()
                            .find(|e| before.is_none_or(|p| entry_position(e) < p))
                    })
                    .map(|e| (entry_position(&e), form::to_hex(&e.hash))),
            }
        }
        None => None,
    };
    // At one position a row of `seals` wins over a batch's entry.
    Ok(match (row, entry) {
        (Some(row), Some(entry)) if entry.0 > row.0 => Some(entry),
        (row, entry) => row.or(entry),
    })
}

/// The position in a row's first two columns.
fn position_of(row: &sea_orm::QueryResult) -> Result<Position> {
    Ok(Position {
        txid: row.try_get_by_index(0)?,
        seq: row.try_get_by_index(1)?,
    })
}

/// One seal as `insert_seals` stores it.
pub(crate) struct NewSeal {
    /// The sealed row's position.
    pub position: Position,
    /// The sealed row's uuid.
    pub activity_uuid: uuid::Uuid,
    /// The position chained on from.
    pub previous: Position,
    /// The chain hash at `position`.
    pub hash: [u8; 32],
    /// The salts of its committed fields, as JSON; `None` when it has none.
    pub salts: Option<String>,
}

/// Stores `seals`, each chained on from the one before, as one row of
/// `seal_batches`: PostgreSQL spends on a row's tuple, not its width
/// (BENCHMARKS.md, "A leaner row per seal does not get there").
pub(crate) async fn insert_seals(txn: &DatabaseTransaction, seals: Vec<NewSeal>) -> Result<()> {
    let (Some(first), Some(last)) = (seals.first(), seals.last()) else {
        return Ok(());
    };
    let (first, last) = (first.position, last.position);
    let entries: Vec<Entry> = seals
        .iter()
        .map(|s| Entry {
            txid: s.position.txid,
            seq: s.position.seq,
            prev_txid: s.previous.txid,
            prev_seq: s.previous.seq,
            uuid: s.activity_uuid,
            hash: s.hash,
        })
        .collect();
    // serde_json escapes every control character, so no salts' JSON holds
    // a raw newline.
    let salts = seals
        .iter()
        .map(|s| s.salts.as_deref().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    txn.execute_raw(statement(
        txn.get_database_backend(),
        "INSERT INTO seal_batches (last_txid, last_seq, first_txid, first_seq, entries, salts) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        vec![
            last.txid.into(),
            last.seq.into(),
            first.txid.into(),
            first.seq.into(),
            seal_batch::pack(&entries).into(),
            salts.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The columns of `seal_batches` that [`Batch::of`] reads, in its order.
const BATCH_COLUMNS: &str = "last_txid, last_seq, entries, salts";

/// A row of `seal_batches`, unpacked.
struct Batch {
    /// The position of its last entry.
    last: Position,
    /// Its entries, in position order.
    entries: Vec<Entry>,
    /// Each entry's salts line ("" for none).
    lines: Vec<String>,
    /// The positions of its entries a lookup asked for ([`batches_holding`]).
    wanted: HashSet<Position>,
}

impl Batch {
    /// A row read with [`BATCH_COLUMNS`].
    fn of(row: &sea_orm::QueryResult) -> Result<Batch> {
        let bytes: Vec<u8> = row.try_get_by_index(2)?;
        let salts: String = row.try_get_by_index(3)?;
        let entries = seal_batch::unpack(&bytes).ok_or_else(|| {
            sea_orm::DbErr::Custom("a row of seal_batches holds a torn entry".into())
        })?;
        let mut lines: Vec<String> = salts.split('\n').map(str::to_owned).collect();
        lines.resize(entries.len(), String::new());
        // In position order whatever the bytes' order: every reader relies
        // on it, and an entry's position, not its place, is what it seals.
        let (entries, lines) = if entries.is_sorted_by_key(entry_position) {
            (entries, lines)
        } else {
            let mut both: Vec<(Entry, String)> = entries.into_iter().zip(lines).collect();
            both.sort_by_key(|(e, _)| entry_position(e));
            both.into_iter().unzip()
        };
        Ok(Batch {
            last: position_of(row)?,
            entries,
            lines,
            wanted: HashSet::new(),
        })
    }

    /// Its entries as seals.
    fn seals(&self) -> Vec<StoredSeal> {
        self.entries
            .iter()
            .zip(&self.lines)
            .map(|(e, line)| StoredSeal {
                position: entry_position(e),
                activity: e.uuid,
                previous: Position {
                    txid: e.prev_txid,
                    seq: e.prev_seq,
                },
                hash: form::to_hex(&e.hash),
                pruned: false,
                salts: (!line.is_empty()).then(|| line.clone()),
                erased: None,
                form: None,
            })
            .collect()
    }
}

/// The batch whose last position is `last`.
async fn batch_at(conn: &impl ConnectionTrait, last: Position) -> Result<Option<Batch>> {
    let row = conn
        .query_one_raw(statement(
            conn.get_database_backend(),
            &format!(
                "SELECT {BATCH_COLUMNS} FROM seal_batches WHERE last_txid = $1 AND last_seq = $2"
            ),
            vec![last.txid.into(), last.seq.into()],
        ))
        .await?;
    row.as_ref().map(Batch::of).transpose()
}

/// An entry's position.
fn entry_position(e: &Entry) -> Position {
    Position {
        txid: e.txid,
        seq: e.seq,
    }
}

/// The batches that hold any of `positions`, each with the positions of
/// its entries that were asked for: two queries, whatever the number of
/// batches (the first finds each position's batch by an index probe).
async fn batches_holding(
    conn: &impl ConnectionTrait,
    positions: Vec<Position>,
) -> Result<Vec<Batch>> {
    let wanted: HashSet<Position> = positions.into_iter().collect();
    let values = values_of(wanted.iter().map(|p| (p.txid, p.seq)));
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let holding = |column: &str| {
        format!(
            "(SELECT b.{column} FROM seal_batches b WHERE (b.last_txid, b.last_seq) >= \
             (v.column1, v.column2) ORDER BY b.last_txid, b.last_seq LIMIT 1)"
        )
    };
    let keys = conn
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT DISTINCT {}, {} FROM (VALUES {values}) AS v",
                holding("last_txid"),
                holding("last_seq")
            ),
            vec![],
        ))
        .await?;
    let keys: Vec<(i64, i64)> = keys
        .iter()
        .filter_map(|r| {
            let key: (Option<i64>, Option<i64>) =
                (r.try_get_by_index(0).ok()?, r.try_get_by_index(1).ok()?);
            Some((key.0?, key.1?))
        })
        .collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows = conn
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT {BATCH_COLUMNS} FROM seal_batches WHERE (last_txid, last_seq) IN (VALUES {})",
                values_of(keys)
            ),
            vec![],
        ))
        .await?;
    let mut batches = Vec::new();
    for row in &rows {
        let mut batch = Batch::of(row)?;
        batch.wanted = batch
            .entries
            .iter()
            .map(entry_position)
            .filter(|p| wanted.contains(p))
            .collect();
        if !batch.wanted.is_empty() {
            batches.push(batch);
        }
    }
    Ok(batches)
}

/// Statements that move the seals at `positions` held only in a batch into
/// rows of `seals` (salts included) and blank their salts lines in the
/// batch, so that erasure and pruning then change them as rows. Built from
/// what is read now; nothing is written until they run.
pub(crate) async fn move_out(
    conn: &impl ConnectionTrait,
    positions: impl IntoIterator<Item = Position>,
) -> Result<Vec<Statement>> {
    let positions: Vec<Position> = positions.into_iter().collect();
    let values = values_of(positions.iter().map(|p| (p.txid, p.seq)));
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let in_rows: HashSet<Position> = conn
        .query_all_raw(statement(
            backend,
            &format!("SELECT txid, seq FROM seals WHERE (txid, seq) IN (VALUES {values})"),
            vec![],
        ))
        .await?
        .iter()
        .map(position_of)
        .collect::<Result<_>>()?;
    let rest: Vec<Position> = positions
        .into_iter()
        .filter(|p| !in_rows.contains(p))
        .collect();
    let mut moved = Vec::new();
    let mut writes = Vec::new();
    for mut batch in batches_holding(conn, rest).await? {
        for seal in batch.seals() {
            if batch.wanted.contains(&seal.position) {
                moved.push(seal);
            }
        }
        for (entry, line) in batch.entries.iter().zip(batch.lines.iter_mut()) {
            if batch.wanted.contains(&entry_position(entry)) {
                line.clear();
            }
        }
        writes.push(statement(
            backend,
            "UPDATE seal_batches SET salts = $1 WHERE last_txid = $2 AND last_seq = $3",
            vec![
                batch.lines.join("\n").into(),
                batch.last.txid.into(),
                batch.last.seq.into(),
            ],
        ));
    }
    // At most 1,000 rows of 7 values a statement: SQLite binds at most
    // 32,766 values.
    for chunk in moved.chunks(1000) {
        let mut insert = Query::insert()
            .into_table(Alias::new("seals"))
            .columns(
                [
                    "txid",
                    "seq",
                    "activity_uuid",
                    "prev_txid",
                    "prev_seq",
                    "hash",
                    "salts",
                ]
                .map(Alias::new),
            )
            .to_owned();
        for seal in chunk {
            insert.values_panic([
                seal.position.txid.into(),
                seal.position.seq.into(),
                seal.activity.into(),
                seal.previous.txid.into(),
                seal.previous.seq.into(),
                seal.hash.clone().into(),
                seal.salts.clone().into(),
            ]);
        }
        writes.push(backend.build(&insert));
    }
    Ok(writes)
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
    let backend = conn.get_database_backend();
    let mut merged: BTreeMap<Position, StoredSeal> = BTreeMap::new();
    // Batches until they hold `limit` seals in range; the rows of `seals`
    // then go over them. Each source gives its first `limit`, so the first
    // `limit` of both together are all there.
    // A few batches first (a busy sealer's hold 2,000 seals), twice as many
    // each time after (a quiet one's hold a few).
    let (mut cursor, mut taken, mut want) = (after, 0, 4_i64);
    loop {
        let batches = conn
            .query_all_raw(statement(
                backend,
                &format!(
                    "SELECT {BATCH_COLUMNS} FROM seal_batches WHERE (last_txid, last_seq) > ($1, $2) \
                     AND (first_txid, first_seq) <= ($3, $4) ORDER BY last_txid, last_seq LIMIT $5"
                ),
                vec![
                    cursor.txid.into(),
                    cursor.seq.into(),
                    upper.txid.into(),
                    upper.seq.into(),
                    want.into(),
                ],
            ))
            .await?;
        for row in &batches {
            let batch = Batch::of(row)?;
            cursor = batch.last;
            for seal in batch.seals() {
                if seal.position > after && seal.position <= upper {
                    merged.insert(seal.position, seal);
                    taken += 1;
                }
            }
        }
        if (batches.len() as i64) < want || taken >= limit {
            break;
        }
        want = (want * 2).min(1024);
    }
    let rows = conn
        .query_all_raw(statement(
            backend,
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
    for r in &rows {
        let seal = StoredSeal {
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
        };
        merged.insert(seal.position, seal);
    }
    Ok(merged.into_values().take(limit as usize).collect())
}

/// Where the seal of the row `uuid` is, when it has one.
pub(crate) async fn sealed_at(
    conn: &impl ConnectionTrait,
    uuid: uuid::Uuid,
) -> Result<Option<Position>> {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(statement(
            backend,
            "SELECT txid, seq FROM seals WHERE activity_uuid = $1",
            vec![uuid.into()],
        ))
        .await?;
    if let Some(row) = row {
        return Ok(Some(position_of(&row)?));
    }
    // Only a failing verification asks: a scan of the batches for the bytes,
    // then the entries (a match may straddle two).
    let sql = if backend == DbBackend::Postgres {
        format!("SELECT {BATCH_COLUMNS} FROM seal_batches WHERE position($1::bytea IN entries) > 0")
    } else {
        format!("SELECT {BATCH_COLUMNS} FROM seal_batches WHERE instr(entries, $1) > 0")
    };
    let bytes = uuid.as_bytes().to_vec();
    for row in conn
        .query_all_raw(statement(backend, &sql, vec![bytes.into()]))
        .await?
    {
        if let Some(e) = Batch::of(&row)?.entries.iter().find(|e| e.uuid == uuid) {
            return Ok(Some(entry_position(e)));
        }
    }
    Ok(None)
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
    let positions: Vec<(i64, i64)> = positions.into_iter().collect();
    run(
        txn,
        move_out(
            txn,
            positions.iter().map(|&(txid, seq)| Position { txid, seq }),
        )
        .await?,
    )
    .await?;
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
    run(txn, move_out(txn, forms.iter().map(|(p, _)| *p)).await?).await?;
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

/// The oldest seal neither marked pruned nor at one of `also`.
pub(crate) async fn first_unpruned(
    conn: &impl ConnectionTrait,
    also: &HashSet<Position>,
) -> Result<Option<Position>> {
    let (mut after, end) = (
        Position::default(),
        Position {
            txid: i64::MAX,
            seq: i64::MAX,
        },
    );
    loop {
        let page = seals_after(conn, after, end, 1000).await?;
        if let Some(seal) = page
            .iter()
            .find(|s| !s.pruned && !also.contains(&s.position))
        {
            return Ok(Some(seal.position));
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = last.position,
            _ => return Ok(None),
        }
    }
}

/// Runs `statements` in order.
async fn run(txn: &DatabaseTransaction, statements: Vec<Statement>) -> Result<()> {
    for s in statements {
        txn.execute_raw(s).await?;
    }
    Ok(())
}

/// Drops every seal up to `position`, whose hash `hash` (as stored)
/// becomes the anchor verification starts from.
pub(crate) async fn move_anchor(
    txn: &DatabaseTransaction,
    position: Position,
    hash: String,
) -> Result<()> {
    let backend = txn.get_database_backend();
    for sql in [
        "DELETE FROM seals WHERE (txid, seq) <= ($1, $2)",
        "DELETE FROM seal_batches WHERE (last_txid, last_seq) <= ($1, $2)",
    ] {
        txn.execute_raw(statement(
            backend,
            sql,
            vec![position.txid.into(), position.seq.into()],
        ))
        .await?;
    }
    // The batch the anchor falls in keeps only its entries after it.
    let straddling = txn
        .query_one_raw(statement(
            backend,
            &format!(
                "SELECT {BATCH_COLUMNS} FROM seal_batches WHERE (first_txid, first_seq) <= ($1, $2) \
                 ORDER BY first_txid DESC, first_seq DESC LIMIT 1"
            ),
            vec![position.txid.into(), position.seq.into()],
        ))
        .await?;
    // Batches up to the anchor are gone: one that starts at or below it
    // ends after it.
    if let Some(row) = straddling {
        let batch = Batch::of(&row)?;
        let (entries, lines): (Vec<Entry>, Vec<String>) = batch
            .entries
            .into_iter()
            .zip(batch.lines)
            .filter(|(e, _)| entry_position(e) > position)
            .unzip();
        let first = entries.first().map_or(batch.last, entry_position);
        txn.execute_raw(statement(
            backend,
            "UPDATE seal_batches SET first_txid = $1, first_seq = $2, entries = $3, salts = $4 \
             WHERE last_txid = $5 AND last_seq = $6",
            vec![
                first.txid.into(),
                first.seq.into(),
                seal_batch::pack(&entries).into(),
                lines.join("\n").into(),
                batch.last.txid.into(),
                batch.last.seq.into(),
            ],
        ))
        .await?;
    }
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

#[cfg(test)]
mod tests {
    use entity::seal_batch::{pack, unpack, Entry, ENTRY_BYTES};
    use uuid::Uuid;

    #[test]
    fn packed_entries_round_trip_and_a_torn_batch_is_refused() {
        let entries = [
            Entry {
                txid: 7,
                seq: -1,
                prev_txid: 6,
                prev_seq: 3,
                uuid: Uuid::from_u128(1),
                hash: [9; 32],
            },
            Entry {
                txid: i64::MAX,
                seq: 0,
                prev_txid: 7,
                prev_seq: -1,
                uuid: Uuid::from_u128(u128::MAX),
                hash: [0; 32],
            },
        ];
        let bytes = pack(&entries);
        assert_eq!(bytes.len(), 2 * ENTRY_BYTES);
        assert_eq!(&bytes[..8], &7i64.to_be_bytes());
        assert_eq!(unpack(&bytes).unwrap(), entries);
        assert_eq!(unpack(&bytes[..120]), None);
        assert_eq!(unpack(&[]).unwrap(), []);
    }
}
