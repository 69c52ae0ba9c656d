//! Verification: recomputes the chain from the rows as they are now and
//! names the first position that does not match, and why.
//!
//! One file: the walk over seals and rows, the reading of erased fields and
//! the reasons it reports are one algorithm, and split up they would pass
//! half-checked state between modules.

use std::collections::{HashSet, VecDeque};

use entity::activity::{self, Column, Entity};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, EntityTrait, IsolationLevel, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::form::{self, Field, FieldMap};
use super::head::SignedHead;
use super::store::{
    anchor, chain_end, seal_before, sealed_at, seals_after, statement, ChainPoint, StoredSeal,
};
use crate::service::{ActivityFeed, Caller, Operation, Position, Result, ServiceError};

/// Rows read per query while verifying.
const PAGE: u64 = 1000;

/// Erased fields listed in a report; the total is counted past it.
pub const ERASED_LISTED: usize = 1000;

/// What erasure writes in place of a personal metadata value.
pub const ERASED: &str = "[ERASED]";

/// Why a position fails verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The row's fields differ from what was sealed.
    ChangedField,
    /// A sealed row is gone.
    MissingRow,
    /// A row that was never sealed sits among sealed ones.
    InsertedRow,
    /// A sealed row stands at a position other than its own.
    ReorderedRow,
    /// The head's signature is not the server key's signature of it.
    BadSignature,
}

impl FailureReason {
    /// The reason as the API and the CLI name it: `CHANGED_FIELD`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChangedField => "CHANGED_FIELD",
            Self::MissingRow => "MISSING_ROW",
            Self::InsertedRow => "INSERTED_ROW",
            Self::ReorderedRow => "REORDERED_ROW",
            Self::BadSignature => "BAD_SIGNATURE",
        }
    }
}

/// The first position that fails, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Where.
    pub position: Position,
    /// Why, for programs.
    pub reason: FailureReason,
    /// The field at fault, when one can be named.
    pub field: Option<String>,
    /// Why, for people.
    pub message: String,
}

/// A field erasure rewrote, which verifies as erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasedField {
    /// The row's position.
    pub position: Position,
    /// The row's uuid.
    pub activity: Uuid,
    /// The field: `actor_uuid`, `client_ip`, `metadata.<key>`, ….
    pub field: String,
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Whether everything checked matched.
    pub valid: bool,
    /// Rows whose seal was recomputed and matched.
    pub checked: u64,
    /// The chain point verification started from: the anchor, or the seal before `from`.
    pub start: Position,
    /// The last position that verified; the start when none did.
    pub last_verified: Position,
    /// Rows written after the newest seal: not sealed yet, so not checked.
    pub unsealed: u64,
    /// Sealed rows that retention deleted while older rows remain.
    pub pruned: u64,
    /// Erased fields met, the first [`ERASED_LISTED`] of them.
    pub erased: Vec<ErasedField>,
    /// How many erased fields were met.
    pub erased_total: u64,
    /// Whether a signed head was checked against the chain.
    pub head_checked: bool,
    /// The first failure; `None` when valid.
    pub failure: Option<Failure>,
}

/// Rows after `after` and at most `upper`, as a condition.
fn range(after: Position, upper: Position) -> Expr {
    let pos = || {
        Expr::tuple([
            Expr::col((Entity, Column::Txid)),
            Expr::col((Entity, Column::Seq)),
        ])
    };
    let tuple = |p: Position| Expr::tuple([Expr::val(p.txid), Expr::val(p.seq)]);
    pos().gt(tuple(after)).and(pos().lte(tuple(upper)))
}

async fn rows_after(
    conn: &impl ConnectionTrait,
    after: Position,
    upper: Position,
) -> Result<Vec<activity::Model>> {
    Ok(Entity::find()
        .filter(range(after, upper))
        .order_by(Column::Txid, Order::Asc)
        .order_by(Column::Seq, Order::Asc)
        .limit(PAGE)
        .all(conn)
        .await?)
}

/// The pseudonyms erasures gave: the resource of each sealed
/// `person.forgotten` entry, and those of erasures still running.
async fn pseudonyms(conn: &impl ConnectionTrait) -> Result<HashSet<Uuid>> {
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(statement(
            backend,
            "SELECT resource_uuid FROM activities WHERE action = $1 AND resource_uuid IS NOT NULL \
             UNION SELECT pseudonym FROM erasures WHERE finished_at IS NULL",
            vec![crate::service::forget::FORGOTTEN_ACTION.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get_by_index::<Uuid>(0)?))
        .collect()
}

/// Whether `value` is what erasure writes in place of `field`.
fn erased_form(field: &Field, value: &Value, pseudonyms: &HashSet<Uuid>) -> bool {
    let pseudonym = |s: &str| Uuid::parse_str(s).is_ok_and(|u| pseudonyms.contains(&u));
    match field {
        Field::Column("client_ip" | "user_agent") => value.is_null(),
        Field::Column(_) => value.as_str().is_some_and(pseudonym),
        Field::Metadata(_) => {
            let mut pending = vec![value];
            while let Some(v) = pending.pop() {
                match v {
                    Value::String(s) if s == ERASED || pseudonym(s) => return true,
                    Value::Array(items) => pending.extend(items),
                    Value::Object(map) => pending.extend(map.values()),
                    _ => {}
                }
            }
            false
        }
    }
}

/// When the oldest row kept was logged, in microseconds since the epoch.
async fn oldest_kept(conn: &impl ConnectionTrait) -> Result<Option<i64>> {
    let oldest: Option<chrono::DateTime<chrono::Utc>> = Entity::find()
        .select_only()
        .column_as(Column::InsertedAt.min(), "oldest")
        .into_tuple()
        .one(conn)
        .await?
        .flatten();
    Ok(oldest.map(|at| at.timestamp_micros()))
}

/// The chain point after a seal marked pruned, from the canonical form it
/// kept; or why the mark is no proof. Retention deletes every row older
/// than its cutoff and keeps the rest, so a row it pruned was logged
/// before every row that is kept.
fn pruned_point(
    previous: &ChainPoint,
    seal: &StoredSeal,
    oldest_kept: Option<i64>,
) -> std::result::Result<ChainPoint, String> {
    let Some(text) = &seal.form else {
        return Err(format!(
            "activity {} is gone, and its seal is marked pruned without the form that proves it \
             (seals pruned before forms were kept carry none)",
            seal.activity
        ));
    };
    let hash = form::chain(&previous.hash, text);
    if form::to_hex(&hash) != seal.hash {
        return Err(format!(
            "activity {} is gone, and the form its pruned seal kept does not give the seal's hash",
            seal.activity
        ));
    }
    let kept: Option<Vec<Value>> = serde_json::from_str(text).ok();
    let field = |i: usize| kept.as_ref().and_then(|f| f.get(i)).and_then(Value::as_i64);
    if (field(1), field(2)) != (Some(seal.position.txid), Some(seal.position.seq)) {
        return Err(format!(
            "activity {} is gone, and the form its pruned seal kept is not of its position",
            seal.activity
        ));
    }
    let logged = field(4).unwrap_or(i64::MAX);
    // Equal is allowed: one instant's rows may fall on both sides of a
    // batch (batches go in (inserted_at, uuid) order).
    if oldest_kept.is_some_and(|oldest| logged > oldest) {
        return Err(format!(
            "activity {} is gone and its seal is marked pruned, but rows logged before it are kept: \
             retention deletes the oldest rows",
            seal.activity
        ));
    }
    Ok(ChainPoint {
        position: seal.position,
        hash,
    })
}

/// The walk's state.
struct Walk {
    previous: ChainPoint,
    report: Verification,
}

impl Walk {
    fn fail(
        &mut self,
        position: Position,
        reason: FailureReason,
        field: Option<String>,
        message: String,
    ) {
        self.report.valid = false;
        self.report.failure = Some(Failure {
            position,
            reason,
            field,
            message,
        });
    }
}

impl ActivityFeed {
    /// Recomputes the chain over sealed rows after `from` (inclusive) up to
    /// `to` (inclusive), from the anchor when `from` is `None`, and checks
    /// `head` against it when given.
    pub async fn verify_log(
        &self,
        caller: &Caller,
        from: Option<Position>,
        to: Option<Position>,
        head: Option<&SignedHead>,
    ) -> Result<Verification> {
        self.verify_reporting(caller, from, to, head, |_| {}).await
    }

    /// [`Self::verify_log`], calling `progress` with the rows checked so far.
    pub async fn verify_reporting(
        &self,
        caller: &Caller,
        from: Option<Position>,
        to: Option<Position>,
        head: Option<&SignedHead>,
        progress: impl Fn(u64),
    ) -> Result<Verification> {
        caller.require(Operation::Verify)?;
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(ServiceError::invalid("to", "must not be before `from`"));
            }
        }
        // One snapshot for the whole walk: a prune or a sealer committing
        // between two of its pages would otherwise look like tampering.
        // SQLite's transaction reads one snapshot as it is (WAL).
        let snapshot = if self.db.get_database_backend() == sea_orm::DbBackend::Postgres {
            self.db
                .begin_with_config(
                    Some(IsolationLevel::RepeatableRead),
                    Some(AccessMode::ReadOnly),
                )
                .await?
        } else {
            self.db.begin().await?
        };
        let conn = &snapshot;
        let anchor = anchor(conn).await?;
        let end = chain_end(conn).await?;
        let start = match from {
            Some(f) if f > anchor.position => match seal_before(conn, Some(f)).await? {
                // A hash tampered into something not hex fails at the
                // first row after it, as a changed field.
                Some((position, hash)) => ChainPoint {
                    position,
                    hash: form::from_hex(&hash).unwrap_or_default(),
                },
                None => anchor,
            },
            _ => anchor,
        };
        let upper = to.map_or(end.position, |t| t.min(end.position));
        let unsealed = Entity::find()
            .filter(end.position.later())
            .count(conn)
            .await?;
        let mut walk = Walk {
            previous: start,
            report: Verification {
                valid: true,
                checked: 0,
                start: start.position,
                last_verified: start.position,
                unsealed,
                pruned: 0,
                erased: Vec::new(),
                erased_total: 0,
                head_checked: false,
                failure: None,
            },
        };
        if let Some(head) = head {
            let key = self
                .signer
                .as_ref()
                .map(|s| s.public_key())
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "head",
                        "the server has no signing key to check a head with",
                    )
                })?;
            if !key.verifies(head) {
                walk.fail(
                    head.position,
                    FailureReason::BadSignature,
                    None,
                    "the head's signature is not this server's key's signature of it".into(),
                );
                return Ok(walk.report);
            }
        }
        // A row at or below the anchor was pruned, or was never there.
        if from.is_none() {
            let below = Entity::find()
                .filter(range(Position::default(), anchor.position))
                .order_by(Column::Txid, Order::Asc)
                .order_by(Column::Seq, Order::Asc)
                .one(conn)
                .await?;
            if let Some(row) = below {
                walk.fail(
                    Position::of(&row),
                    FailureReason::InsertedRow,
                    None,
                    format!(
                        "activity {} stands at or below the anchor of pruned rows",
                        row.uuid
                    ),
                );
                return Ok(walk.report);
            }
        }
        let pseudonyms = pseudonyms(conn).await?;
        let oldest_kept = oldest_kept(conn).await?;
        let mut seals: VecDeque<StoredSeal> = VecDeque::new();
        let mut rows: VecDeque<activity::Model> = VecDeque::new();
        let (mut seal_cursor, mut row_cursor) = (start.position, start.position);
        let (mut seals_done, mut rows_done) = (false, false);
        loop {
            if seals.is_empty() && !seals_done {
                let page = seals_after(conn, seal_cursor, upper, PAGE).await?;
                seals_done = (page.len() as u64) < PAGE;
                if let Some(last) = page.last() {
                    seal_cursor = last.position;
                }
                seals.extend(page);
            }
            if rows.is_empty() && !rows_done {
                let page = rows_after(conn, row_cursor, upper).await?;
                rows_done = (page.len() as u64) < PAGE;
                if let Some(last) = page.last() {
                    row_cursor = Position::of(last);
                }
                rows.extend(page);
            }
            let (seal, row) = (seals.front(), rows.front());
            match (seal, row) {
                (None, None) => break,
                (Some(s), Some(r)) if s.position == Position::of(r) => {
                    let (s, r) = (seals.pop_front().unwrap(), rows.pop_front().unwrap());
                    if !self.check(&mut walk, &s, &r, &pseudonyms, conn).await? {
                        return Ok(walk.report);
                    }
                    if let Some(head) = head {
                        if head.position == s.position {
                            walk.report.head_checked = true;
                            if form::to_hex(&walk.previous.hash) != head.hash {
                                walk.fail(
                                    s.position,
                                    FailureReason::ChangedField,
                                    None,
                                    "the chain up to the signed head differs from the one signed"
                                        .into(),
                                );
                                return Ok(walk.report);
                            }
                        }
                    }
                    progress(walk.report.checked);
                }
                (Some(s), r) if r.is_none_or(|r| s.position < Position::of(r)) => {
                    if s.pruned && s.previous == walk.previous.position {
                        // Deleted by retention while older rows remain: the
                        // form its seal kept carries the chain across it.
                        let s = seals.pop_front().unwrap();
                        match pruned_point(&walk.previous, &s, oldest_kept) {
                            Ok(point) => {
                                walk.previous = point;
                                walk.report.pruned += 1;
                                continue;
                            }
                            Err(message) => {
                                walk.fail(s.position, FailureReason::MissingRow, None, message);
                                return Ok(walk.report);
                            }
                        }
                    }
                    walk.fail(
                        s.position,
                        FailureReason::MissingRow,
                        None,
                        format!("activity {} was sealed here and is gone", s.activity),
                    );
                    return Ok(walk.report);
                }
                (_, Some(r)) => {
                    let position = Position::of(r);
                    match sealed_at(conn, r.uuid).await? {
                        Some(own) => walk.fail(
                            position,
                            FailureReason::ReorderedRow,
                            None,
                            format!("activity {} was sealed at {}", r.uuid, own.encode()),
                        ),
                        None => walk.fail(
                            position,
                            FailureReason::InsertedRow,
                            None,
                            format!("activity {} was never sealed", r.uuid),
                        ),
                    }
                    return Ok(walk.report);
                }
                (Some(_), None) => unreachable!("handled by the arm above"),
            }
        }
        if let Some(head) = head {
            if !walk.report.head_checked {
                if head.position == anchor.position && from.is_none() {
                    walk.report.head_checked = true;
                    if form::to_hex(&anchor.hash) != head.hash {
                        walk.fail(
                            head.position,
                            FailureReason::ChangedField,
                            None,
                            "the anchor differs from the signed head".into(),
                        );
                    }
                } else if head.position > walk.report.last_verified
                    && to.is_none_or(|t| head.position <= t)
                {
                    walk.fail(
                        head.position,
                        FailureReason::MissingRow,
                        None,
                        format!(
                            "the signed head is at {}, and the log ends at {}: rows were deleted",
                            head.position.encode(),
                            walk.report.last_verified.encode()
                        ),
                    );
                }
            }
        }
        Ok(walk.report)
    }

    /// Checks one sealed row against its seal; false once it failed.
    async fn check(
        &self,
        walk: &mut Walk,
        seal: &StoredSeal,
        row: &activity::Model,
        pseudonyms: &HashSet<Uuid>,
        conn: &impl ConnectionTrait,
    ) -> Result<bool> {
        if seal.previous != walk.previous.position {
            let (position, reason, message) = if seal.previous > walk.previous.position {
                (
                    seal.previous,
                    FailureReason::MissingRow,
                    "a sealed row is gone with its seal".to_owned(),
                )
            } else {
                (
                    seal.position,
                    FailureReason::ReorderedRow,
                    format!("sealed after {}", seal.previous.encode()),
                )
            };
            walk.fail(position, reason, None, message);
            return Ok(false);
        }
        if row.uuid != seal.activity {
            match sealed_at(conn, row.uuid).await? {
                Some(own) => walk.fail(
                    seal.position,
                    FailureReason::ReorderedRow,
                    None,
                    format!(
                        "activity {} stands here and was sealed at {}",
                        row.uuid,
                        own.encode()
                    ),
                ),
                None => walk.fail(
                    seal.position,
                    FailureReason::ChangedField,
                    Some("uuid".into()),
                    format!("activity {} was sealed here as {}", row.uuid, seal.activity),
                ),
            }
            return Ok(false);
        }
        // Every way in stores an object, and the form commits to an
        // object's keys: a `{}` turned into `[]` or `"x"` would hash alike.
        if !row.metadata.is_object() {
            walk.fail(
                seal.position,
                FailureReason::ChangedField,
                Some("metadata".into()),
                "metadata is not a JSON object; nothing but tampering stores one".into(),
            );
            return Ok(false);
        }
        let salts = FieldMap::from_column(seal.salts.as_deref());
        let erased = FieldMap::from_column(seal.erased.as_deref());
        let committed = form::commitments(row, &salts, &erased);
        if let Some(field) = committed.unsalted.first() {
            walk.fail(
                seal.position,
                FailureReason::ChangedField,
                Some(field.to_string()),
                format!("{field} holds a value that was not sealed"),
            );
            return Ok(false);
        }
        let values: std::collections::HashMap<Field, Value> =
            form::fields_of(row).into_iter().collect();
        for field in &committed.erased {
            let value = values.get(field).cloned().unwrap_or(Value::Null);
            if !erased_form(field, &value, pseudonyms) {
                walk.fail(
                    seal.position,
                    FailureReason::ChangedField,
                    Some(field.to_string()),
                    format!("{field} was erased and now holds something erasure does not write"),
                );
                return Ok(false);
            }
        }
        let hash = form::chain(
            &walk.previous.hash,
            form::canonical_form(row, &committed.object),
        );
        if form::to_hex(&hash) != seal.hash {
            walk.fail(
                seal.position,
                FailureReason::ChangedField,
                None,
                format!("activity {}'s fields differ from what was sealed", row.uuid),
            );
            return Ok(false);
        }
        for field in committed.erased {
            walk.report.erased_total += 1;
            if walk.report.erased.len() < ERASED_LISTED {
                walk.report.erased.push(ErasedField {
                    position: seal.position,
                    activity: row.uuid,
                    field: field.to_string(),
                });
            }
        }
        walk.previous = ChainPoint {
            position: seal.position,
            hash,
        };
        walk.report.checked += 1;
        walk.report.last_verified = seal.position;
        Ok(true)
    }
}
