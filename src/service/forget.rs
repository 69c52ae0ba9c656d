//! Erasure of a person (GDPR Art. 17): their `users` row is deleted, their
//! uuid becomes a pseudonym wherever it stands, the request context of what
//! they did is cleared, and their known emails and names in metadata become
//! "[ERASED]". The chain still verifies: each rewritten field's salt is
//! deleted and its commitment kept, so it verifies as erased.
//!
//! One file, because the rewrite of a row, the commitments that keep it
//! verifiable and the batches that apply both are one invariant: a field is
//! rewritten exactly when its salt is deleted, in the same transaction.

use std::collections::BTreeSet;

use entity::activity::{self, Column, Entity};
use entity::user;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::clock::now;
use super::log::write_rows;
use super::seal::form::{self, Field, PERSONAL_FIELDS};
use super::seal::store::{move_out, salts_at, set_salts, statement};
use super::seal::ERASED;
use super::validate::NUL_REFUSED;
use super::{search, ActivityFeed, Caller, Operation, Position, Result, ServiceError};

/// The action of the entry each erasure logs.
pub const FORGOTTEN_ACTION: &str = "person.forgotten";

/// Rows rewritten per transaction.
const BATCH: usize = 500;

/// The most characters of an erasure's reason.
pub const MAX_REASON: usize = 1000;

/// The metadata keys of a person's diffs that hold their emails and names.
const DIFF_FIELDS: [&str; 3] = ["email", "first_name", "last_name"];

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forgotten {
    /// Whether anything was held about the person (a `users` row, or
    /// activities naming them); when not, nothing was written.
    pub found: bool,
    /// The uuid that now stands for them; `None` when nothing was found.
    pub pseudonym: Option<Uuid>,
    /// How many activities were rewritten.
    pub rewritten: u64,
    /// The `person.forgotten` entry logged; `None` when nothing was found,
    /// or when a concurrent call for the same person logged it.
    pub activity: Option<activity::Model>,
}

/// An erasure under way, as `erasures` holds it until it finishes.
struct Erasure {
    id: Uuid,
    pseudonym: Uuid,
    reason: String,
    /// The person's emails and names, to be found in metadata.
    known: Vec<String>,
}

/// Whether `s` is a value worth erasing: not empty, not already replaced.
fn personal(s: &str) -> bool {
    !s.trim().is_empty() && s != ERASED && s != super::redact::REDACTED
}

/// `row` as erasure leaves it; the same row when nothing in it is the person's.
fn rewrite(row: &activity::Model, person: Uuid, erasure: &Erasure) -> activity::Model {
    let mut new = row.clone();
    let pseudonym = Some(erasure.pseudonym);
    if row.actor_uuid == Some(person) {
        new.actor_uuid = pseudonym;
        new.client_ip = None;
        new.user_agent = None;
    }
    if row.target_uuid == Some(person) {
        new.target_uuid = pseudonym;
    }
    if row.resource_uuid == Some(person) {
        new.resource_uuid = pseudonym;
    }
    let about_them =
        row.resource_uuid == Some(person) && row.resource_type.as_deref() == Some("user");
    if let Value::Object(map) = &mut new.metadata {
        for (key, value) in map.iter_mut() {
            let diff = key.ends_with("_from") || key.ends_with("_to");
            if about_them && diff {
                if value.as_str().is_none_or(personal) {
                    *value = Value::String(ERASED.into());
                }
            } else {
                scrub(value, person, erasure);
            }
        }
    }
    new
}

/// Replaces, at any depth, strings equal to a known value with "[ERASED]"
/// and the person's uuid with the pseudonym.
fn scrub(value: &mut Value, person: Uuid, erasure: &Erasure) {
    match value {
        Value::String(s) => {
            if Uuid::parse_str(s).is_ok_and(|u| u == person) {
                *s = erasure.pseudonym.to_string();
            } else if erasure.known.iter().any(|k| k == s) {
                *s = ERASED.into();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, person, erasure)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub(v, person, erasure)),
        _ => {}
    }
}

/// The committed fields whose value differs between `old` and `new`.
fn changed_fields(old: &activity::Model, new: &activity::Model) -> Vec<Field> {
    let mut out: Vec<Field> = PERSONAL_FIELDS
        .iter()
        .filter(|name| form::column_value(old, name) != form::column_value(new, name))
        .map(|name| Field::Column(name))
        .collect();
    if let (Value::Object(a), Value::Object(b)) = (&old.metadata, &new.metadata) {
        out.extend(
            a.iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, _)| Field::Metadata(k.clone())),
        );
    }
    out
}

/// The value of `field` in `row`.
fn value_of(row: &activity::Model, field: &Field) -> Value {
    match field {
        Field::Column(name) => form::column_value(row, name),
        Field::Metadata(key) => row.metadata.get(key).cloned().unwrap_or(Value::Null),
    }
}

impl ActivityFeed {
    /// Erases the person `person`, giving `reason` in the entry it logs.
    pub async fn forget_person(
        &self,
        caller: &Caller,
        person: Uuid,
        reason: &str,
    ) -> Result<Forgotten> {
        self.forget_reporting(caller, person, reason, |_, _| {})
            .await
    }

    /// [`Self::forget_person`], calling `progress` with the activities
    /// looked at so far and how many there are to look at.
    ///
    /// Idempotent: a second call finds nothing left and writes nothing; a
    /// call after an interrupted one resumes it, with the same pseudonym.
    #[tracing::instrument(skip(self, reason, progress))]
    pub async fn forget_reporting(
        &self,
        caller: &Caller,
        person: Uuid,
        reason: &str,
        progress: impl Fn(u64, u64),
    ) -> Result<Forgotten> {
        caller.require(Operation::Forget)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::invalid("reason", "must not be empty"));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(ServiceError::invalid(
                "reason",
                format!("must be at most {MAX_REASON} characters"),
            ));
        }
        if reason.contains('\0') {
            return Err(ServiceError::invalid("reason", NUL_REFUSED));
        }
        let Some(erasure) = self.begin_erasure(person, reason).await? else {
            return Ok(Forgotten {
                found: false,
                pseudonym: None,
                rewritten: 0,
                activity: None,
            });
        };
        let mut rewritten = 0;
        // Rows logged while the erasure runs may name the person too: go
        // again until a pass finds nothing left to rewrite.
        loop {
            let targets = self.erasure_targets(person, &erasure).await?;
            let total = targets.len() as u64;
            let mut looked = 0;
            let mut pass = 0;
            progress(0, total);
            for chunk in targets.chunks(BATCH) {
                pass += self.erase_batch(person, &erasure, chunk).await?;
                looked += chunk.len() as u64;
                progress(looked, total);
            }
            rewritten += pass;
            if pass == 0 {
                break;
            }
        }
        let activity = self.finish_erasure(caller, person, &erasure).await?;
        tracing::info!(pseudonym = %erasure.pseudonym, rewritten, "person forgotten");
        Ok(Forgotten {
            found: true,
            pseudonym: Some(erasure.pseudonym),
            rewritten,
            activity,
        })
    }

    /// Finds the erasure of `person` under way, or starts one: records the
    /// person's known emails and names and deletes their `users` row, in one
    /// transaction. `None` when nothing is held about them.
    async fn begin_erasure(&self, person: Uuid, reason: &str) -> Result<Option<Erasure>> {
        let (_chain, txn) = self.begin_chain().await?;
        let backend = txn.get_database_backend();
        let running = txn
            .query_one_raw(statement(
                backend,
                "SELECT id, pseudonym, reason, known FROM erasures \
                 WHERE subject = $1 AND finished_at IS NULL",
                vec![person.into()],
            ))
            .await?;
        if let Some(row) = running {
            let known: Option<String> = row.try_get_by_index(3)?;
            let erasure = Erasure {
                id: row.try_get_by_index(0)?,
                pseudonym: row.try_get_by_index(1)?,
                reason: row.try_get_by_index(2)?,
                known: known
                    .and_then(|k| serde_json::from_str(&k).ok())
                    .unwrap_or_default(),
            };
            txn.commit().await?;
            return Ok(Some(erasure));
        }
        let stored = user::Entity::find_by_id(person).one(&txn).await?;
        let named = Entity::find()
            .select_only()
            .column(Column::Uuid)
            .filter(mentions(person))
            .into_tuple::<Uuid>()
            .one(&txn)
            .await?;
        if stored.is_none() && named.is_none() {
            txn.commit().await?;
            return Ok(None);
        }
        let mut known: Vec<String> = Vec::new();
        if let Some(u) = &stored {
            known.extend(
                [&u.email, &u.first_name, &u.last_name]
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
        // The emails and names their diffs recorded, before and after.
        let diffs: Vec<Value> = Entity::find()
            .select_only()
            .column(Column::Metadata)
            .filter(Column::ResourceUuid.eq(person))
            .filter(Column::ResourceType.eq("user"))
            .into_tuple::<Value>()
            .all(&txn)
            .await?;
        for metadata in diffs {
            for field in DIFF_FIELDS {
                for side in ["from", "to"] {
                    if let Some(s) = metadata
                        .get(format!("{field}_{side}"))
                        .and_then(Value::as_str)
                    {
                        known.push(s.to_owned());
                    }
                }
            }
        }
        known.retain(|s| personal(s));
        known.sort();
        known.dedup();
        let erasure = Erasure {
            id: Uuid::now_v7(),
            // Random, so nothing about the person leads to it.
            pseudonym: Uuid::new_v4(),
            reason: reason.to_owned(),
            known,
        };
        txn.execute(
            &Query::insert()
                .into_table(Alias::new("erasures"))
                .columns(
                    [
                        "id",
                        "pseudonym",
                        "reason",
                        "subject",
                        "known",
                        "started_at",
                    ]
                    .map(Alias::new),
                )
                .values_panic([
                    erasure.id.into(),
                    erasure.pseudonym.into(),
                    erasure.reason.clone().into(),
                    person.into(),
                    serde_json::to_string(&erasure.known)
                        .expect("strings serialise")
                        .into(),
                    now().into(),
                ])
                .to_owned(),
        )
        .await?;
        user::Entity::delete_by_id(person).exec(&txn).await?;
        txn.commit().await?;
        Ok(Some(erasure))
    }

    /// The activities that may hold something of the person: those naming
    /// their uuid, and those whose metadata holds the words of a known value
    /// or of their uuid (found through the metadata search index; each is
    /// compared exactly when rewritten).
    async fn erasure_targets(&self, person: Uuid, erasure: &Erasure) -> Result<Vec<Uuid>> {
        let backend = self.db.get_database_backend();
        let mut found: BTreeSet<Uuid> = BTreeSet::new();
        let named: Vec<Uuid> = Entity::find()
            .select_only()
            .column(Column::Uuid)
            .filter(mentions(person))
            .into_tuple()
            .all(&self.db)
            .await?;
        found.extend(named);
        let mut texts: Vec<String> = erasure.known.clone();
        texts.push(person.to_string());
        for text in texts {
            let Some(condition) = search::text_condition(backend, &text) else {
                continue;
            };
            let matching: Vec<Uuid> = Entity::find()
                .select_only()
                .column(Column::Uuid)
                .filter(condition)
                .into_tuple()
                .all(&self.db)
                .await?;
            found.extend(matching);
        }
        Ok(found.into_iter().collect())
    }

    /// Rewrites the rows `uuids` that hold something of the person, in one
    /// transaction under the chain's lock (so no row is sealed half-way);
    /// returns how many it rewrote.
    async fn erase_batch(&self, person: Uuid, erasure: &Erasure, uuids: &[Uuid]) -> Result<u64> {
        let (_chain, txn) = self.begin_chain().await?;
        let backend = txn.get_database_backend();
        let rows = Entity::find()
            .filter(Column::Uuid.is_in(uuids.iter().copied()))
            .all(&txn)
            .await?;
        let mut changes = Vec::new();
        for row in rows {
            let new = rewrite(&row, person, erasure);
            if new != row {
                let fields = changed_fields(&row, &new);
                changes.push((row, new, fields));
            }
        }
        if changes.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        // The salts of the rows already sealed.
        let mut sealed = salts_at(&txn, changes.iter().map(|(r, _, _)| (r.txid, r.seq))).await?;
        // Every statement is built before the first write runs: from then
        // until the commit the transaction holds an id, and on PostgreSQL
        // rows written meanwhile are not released (delivered live) before it ends.
        let mut writes = Vec::with_capacity(changes.len() * 2);
        // Seals held in a batch become rows of `seals` first, which the
        // statements below then change.
        writes.extend(
            move_out(
                &txn,
                sealed.keys().map(|&(txid, seq)| Position { txid, seq }),
            )
            .await?,
        );
        for (old, new, fields) in &changes {
            writes.push(
                backend.build(
                    &Query::update()
                        .table(Entity)
                        .values([
                            (Column::ActorUuid, new.actor_uuid.into()),
                            (Column::TargetUuid, new.target_uuid.into()),
                            (Column::ResourceUuid, new.resource_uuid.into()),
                            (Column::ClientIp, new.client_ip.clone().into()),
                            (Column::UserAgent, new.user_agent.clone().into()),
                            (Column::Metadata, new.metadata.clone().into()),
                        ])
                        .value(
                            Alias::new("search_text"),
                            search::search_text(&new.metadata),
                        )
                        .and_where(Expr::col(Column::Uuid).eq(old.uuid))
                        .to_owned(),
                ),
            );
            let Some((salts, erased)) = sealed.get_mut(&(old.txid, old.seq)) else {
                // Not sealed yet: the sealer seals the erased form.
                continue;
            };
            for field in fields {
                if erased.get(field).is_some() {
                    // Erased before, for someone else: its commitment stays.
                    continue;
                }
                if let Some(salt) = salts.remove(field) {
                    let committed =
                        form::commitment(&salt, &value_of(old, field)).ok_or_else(|| {
                            sea_orm::DbErr::Custom(format!("a stored salt is not hex: {salt}"))
                        })?;
                    erased.insert(field, committed);
                }
            }
            writes.push(set_salts(backend, Position::of(old), salts, erased));
        }
        for write in writes {
            txn.execute_raw(write).await?;
        }
        let n = changes.len() as u64;
        txn.execute_raw(statement(
            backend,
            "UPDATE erasures SET rewritten = rewritten + $1 WHERE id = $2",
            vec![(n as i64).into(), erasure.id.into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(n)
    }

    /// Logs the `person.forgotten` entry and forgets who the erasure was
    /// about, in one transaction; `None` when a concurrent call finished it.
    async fn finish_erasure(
        &self,
        caller: &Caller,
        person: Uuid,
        erasure: &Erasure,
    ) -> Result<Option<activity::Model>> {
        let txn = self.db.begin().await?;
        let backend = txn.get_database_backend();
        let finished = txn
            .execute_raw(statement(
                backend,
                "UPDATE erasures SET subject = NULL, known = NULL, finished_at = $1 \
                 WHERE id = $2 AND finished_at IS NULL",
                vec![now().into(), erasure.id.into()],
            ))
            .await?;
        if finished.rows_affected() == 0 {
            txn.commit().await?;
            return Ok(None);
        }
        let rewritten: i64 = txn
            .query_one_raw(statement(
                backend,
                "SELECT rewritten FROM erasures WHERE id = $1",
                vec![erasure.id.into()],
            ))
            .await?
            .map(|r| r.try_get_by_index(0))
            .transpose()?
            .unwrap_or(0);
        let mut row = activity::Model {
            uuid: Uuid::now_v7(),
            action: FORGOTTEN_ACTION.into(),
            module: Some("privacy".into()),
            mode: Some("manual".into()),
            // An administrator erasing themself is not named either.
            actor_uuid: caller.subject.filter(|s| *s != person),
            resource_type: Some("person".into()),
            resource_uuid: Some(erasure.pseudonym),
            target_uuid: None,
            metadata: json!({ "reason": erasure.reason, "rewritten": rewritten }),
            inserted_at: now(),
            idempotency_key: None,
            correlation_id: None,
            client_ip: None,
            user_agent: None,
            txid: 0,
            seq: 0,
            idempotency_scope: None,
        };
        let written = write_rows(&txn, std::slice::from_ref(&row)).await?;
        if let Some(position) = written.get(&row.uuid) {
            row.txid = position.txid;
            row.seq = position.seq;
        }
        txn.commit().await?;
        self.bus.committed();
        self.live.committed().await;
        Ok(Some(row))
    }
}

/// Activities whose actor, target or resource is `person`.
fn mentions(person: Uuid) -> Condition {
    Condition::any()
        .add(Column::ActorUuid.eq(person))
        .add(Column::TargetUuid.eq(person))
        .add(Column::ResourceUuid.eq(person))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erasure(known: &[&str]) -> Erasure {
        Erasure {
            id: Uuid::now_v7(),
            pseudonym: Uuid::new_v4(),
            reason: "request".into(),
            known: known.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn rewrites_the_person_and_nothing_else() {
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let e = erasure(&["ann@example.com", "Ann"]);
        let mut row = crate::service::testing::row("comment.created");
        row.actor_uuid = Some(ann);
        row.target_uuid = Some(bob);
        row.client_ip = Some("10.0.0.1".into());
        row.user_agent = Some("Firefox".into());
        row.metadata = json!({
            "to": "ann@example.com", "greeting": "Ann and Bob", "names": ["Ann", "Bob"],
            "mention": ann.to_string(), "count": 3,
        });
        let new = rewrite(&row, ann, &e);
        assert_eq!(new.actor_uuid, Some(e.pseudonym));
        assert_eq!(new.target_uuid, Some(bob));
        assert_eq!((new.client_ip, new.user_agent), (None, None));
        assert_eq!(
            new.metadata,
            json!({
                "to": ERASED, "greeting": "Ann and Bob", "names": [ERASED, "Bob"],
                "mention": e.pseudonym.to_string(), "count": 3,
            })
        );
        let fields = changed_fields(&row, &rewrite(&row, ann, &e));
        let names: Vec<String> = fields.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "actor_uuid",
                "client_ip",
                "user_agent",
                "metadata.mention",
                "metadata.names",
                "metadata.to"
            ]
        );
    }

    #[test]
    fn a_diff_about_the_person_loses_every_from_and_to_value_but_redactions() {
        let ann = Uuid::now_v7();
        let e = erasure(&[]);
        let mut row = crate::service::testing::row("user.updated");
        row.actor_uuid = Some(Uuid::now_v7());
        row.resource_type = Some("user".into());
        row.resource_uuid = Some(ann);
        row.metadata = json!({
            "nickname_from": "annie", "nickname_to": "nan", "password_from": "[REDACTED]",
            "actor_role": "admin",
        });
        let new = rewrite(&row, ann, &e);
        assert_eq!(new.resource_uuid, Some(e.pseudonym));
        assert_eq!(
            new.metadata,
            json!({
                "nickname_from": ERASED, "nickname_to": ERASED, "password_from": "[REDACTED]",
                "actor_role": "admin",
            })
        );
    }
}
