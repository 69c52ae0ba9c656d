//! Writing activities: an input's rules, idempotent retries, and the
//! batched insert. One unit, because one write's transaction runs them all
//! in order and each step relies on the one before.

use chrono::{DateTime, Utc};
use entity::activity;
use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Alias, DynIden, InsertStatement, IntoIden, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, IntoActiveModel, Iterable, QueryFilter, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::clock::now;
use super::validate::{check_correlation_id, check_len, holds_nul, NUL_REFUSED};
use super::{search, ActivityFeed, Caller, FieldError, Operation, Position, Result, ServiceError};

/// An activity to be logged; the server assigns its uuid and time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewActivity {
    /// What happened: "post.created". Required, at most 100 characters.
    pub action: String,
    /// The part of the platform that logged it; at most 50 characters.
    pub module: Option<String>,
    /// How it was triggered; at most 20 characters.
    pub mode: Option<String>,
    /// Who did it.
    pub actor_uuid: Option<Uuid>,
    /// What kind of thing it was done to; at most 50 characters.
    pub resource_type: Option<String>,
    /// The thing it was done to.
    pub resource_uuid: Option<Uuid>,
    /// The person it was aimed at.
    pub target_uuid: Option<Uuid>,
    /// Details; must be a JSON object when given. `None` and `null` mean `{}`.
    pub metadata: Option<Value>,
    /// The producer's key for retries; 1 to 200 characters. A second `log`
    /// by the same caller with the same key and input writes nothing and
    /// returns the first activity; with other input it is refused.
    pub idempotency_key: Option<String>,
    /// Groups the activities of one request, job or import; 1 to 100 characters.
    pub correlation_id: Option<String>,
    /// The caller's IP address; at most 45 characters. Set from the request
    /// when the deployment records request context.
    pub client_ip: Option<String>,
    /// The caller's user agent; at most 512 characters. Set from the request
    /// when the deployment records request context.
    pub user_agent: Option<String>,
}

/// Where a request came from, as the transport saw it: recorded with what
/// the request logs when the deployment asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The caller's IP address.
    pub client_ip: Option<String>,
    /// The caller's `User-Agent`, cut to [`RequestContext::MAX_USER_AGENT`] characters.
    pub user_agent: Option<String>,
}

impl RequestContext {
    /// The most characters of a user agent that are kept.
    pub const MAX_USER_AGENT: usize = 512;

    /// A context from raw values: the user agent is cut to its maximum.
    pub fn new(client_ip: Option<String>, user_agent: Option<&str>) -> Self {
        Self {
            client_ip,
            user_agent: user_agent.map(|ua| ua.chars().take(Self::MAX_USER_AGENT).collect()),
        }
    }

    /// Stamps this context on `input`.
    pub fn apply(&self, input: &mut NewActivity) {
        input.client_ip.clone_from(&self.client_ip);
        input.user_agent.clone_from(&self.user_agent);
    }
}

impl NewActivity {
    /// Every rule this input breaks; empty when it may be written.
    pub fn validate(&self, max_metadata_bytes: usize) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.action.trim().is_empty() {
            errors.push(FieldError::invalid("action", "must not be empty"));
        }
        check_len(&mut errors, "action", Some(&self.action), 100);
        check_len(&mut errors, "module", self.module.as_deref(), 50);
        check_len(&mut errors, "mode", self.mode.as_deref(), 20);
        check_len(
            &mut errors,
            "resourceType",
            self.resource_type.as_deref(),
            50,
        );
        check_correlation_id(&mut errors, self.correlation_id.as_deref());
        check_len(&mut errors, "clientIp", self.client_ip.as_deref(), 45);
        check_len(
            &mut errors,
            "userAgent",
            self.user_agent.as_deref(),
            RequestContext::MAX_USER_AGENT,
        );
        let texts = [
            ("action", Some(self.action.as_str())),
            ("module", self.module.as_deref()),
            ("mode", self.mode.as_deref()),
            ("resourceType", self.resource_type.as_deref()),
            ("clientIp", self.client_ip.as_deref()),
            ("userAgent", self.user_agent.as_deref()),
        ];
        for (field, value) in texts {
            if value.is_some_and(|v| v.contains('\0')) {
                errors.push(FieldError::invalid(field, NUL_REFUSED));
            }
        }
        match &self.metadata {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(_) => errors.push(FieldError::invalid("metadata", "must be a JSON object")),
        }
        if let Some(meta @ Value::Object(_)) = &self.metadata {
            let size = serde_json::to_vec(meta).map_or(usize::MAX, |b| b.len());
            if size > max_metadata_bytes {
                errors.push(FieldError::invalid(
                    "metadata",
                    format!("must be at most {max_metadata_bytes} bytes as JSON"),
                ));
            } else if holds_nul(meta) {
                errors.push(FieldError::invalid("metadata", NUL_REFUSED));
            }
        }
        if let Some(key) = &self.idempotency_key {
            if !(1..=200).contains(&key.chars().count()) {
                errors.push(FieldError::invalid(
                    "idempotencyKey",
                    "must be 1 to 200 characters",
                ));
            } else if key.contains('\0') {
                errors.push(FieldError::invalid("idempotencyKey", NUL_REFUSED));
            }
        }
        errors
    }

    /// The row this input becomes at `now`, logged by the caller whose keys
    /// are `scope`'s.
    fn into_model(self, now: DateTime<Utc>, scope: &str) -> activity::Model {
        activity::Model {
            idempotency_scope: self.idempotency_key.as_ref().map(|_| scope.to_owned()),
            uuid: Uuid::now_v7(),
            action: self.action,
            module: self.module,
            mode: self.mode,
            actor_uuid: self.actor_uuid,
            resource_type: self.resource_type,
            resource_uuid: self.resource_uuid,
            target_uuid: self.target_uuid,
            metadata: match self.metadata {
                Some(meta @ Value::Object(_)) => meta,
                _ => Value::Object(Default::default()),
            },
            inserted_at: now,
            idempotency_key: self.idempotency_key,
            correlation_id: self.correlation_id,
            client_ip: self.client_ip,
            user_agent: self.user_agent,
            // Assigned by the database as the row is written.
            txid: 0,
            seq: 0,
        }
    }
}

/// Whose idempotency keys `caller`'s are: its role and uuid `sub`.
///
/// Callers without a uuid subject (open mode and the CLI act as the system;
/// tokens whose `sub` is not a uuid) share their role's scope.
fn idempotency_scope(caller: &Caller) -> String {
    match caller.subject {
        Some(subject) => format!("{}:{subject}", caller.role.as_str()),
        None => format!("{}:-", caller.role.as_str()),
    }
}

/// Whether `retry` repeats what `first` logged: every field its producer
/// chose. The request context may differ (a retry can take another route).
fn same_input(retry: &activity::Model, first: &activity::Model) -> bool {
    retry.action == first.action
        && retry.module == first.module
        && retry.mode == first.mode
        && retry.actor_uuid == first.actor_uuid
        && retry.resource_type == first.resource_type
        && retry.resource_uuid == first.resource_uuid
        && retry.target_uuid == first.target_uuid
        && retry.correlation_id == first.correlation_id
        // As the database returns it: numbers by value, keys in any order.
        && search::same_json(&retry.metadata, &first.metadata)
}

/// What a log call did with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The stored activity: the one written, or the one a replayed key's
    /// first use wrote.
    pub activity: activity::Model,
    /// Whether an earlier call with the same idempotency key and input
    /// wrote it, so that this call wrote nothing.
    pub replayed: bool,
}

impl ActivityFeed {
    /// Validates and stores one activity, then publishes it.
    #[tracing::instrument(skip_all, fields(action = %input.action))]
    pub async fn log(&self, caller: &Caller, mut input: NewActivity) -> Result<Logged> {
        caller.require(Operation::Log)?;
        self.redact(&mut input);
        let errors = input.validate(self.limits.max_metadata_bytes);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let scope = idempotency_scope(caller);
        match self.insert(vec![input.into_model(now(), &scope)]).await {
            Ok(mut logged) => Ok(logged.remove(0)),
            Err(ServiceError::InvalidBatch(mut errors)) => {
                Err(ServiceError::Invalid(errors.remove(0)))
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces the sensitive values of the input's metadata.
    fn redact(&self, input: &mut NewActivity) {
        if let Some(metadata) = &mut input.metadata {
            self.redactor.redact(metadata);
        }
    }

    /// Validates and stores many activities in one transaction: all or none.
    ///
    /// When any input is invalid nothing is written, and the error lists
    /// every input's problems by position.
    pub async fn log_batch(
        &self,
        caller: &Caller,
        inputs: Vec<NewActivity>,
    ) -> Result<Vec<Logged>> {
        self.log_correlated_batch(caller, None, inputs).await
    }

    /// [`Self::log_batch`], stamping `correlation_id` (when given) on every
    /// entry; an entry that names a different one is refused.
    #[tracing::instrument(skip_all, fields(count = inputs.len()))]
    pub async fn log_correlated_batch(
        &self,
        caller: &Caller,
        correlation_id: Option<&str>,
        mut inputs: Vec<NewActivity>,
    ) -> Result<Vec<Logged>> {
        caller.require(Operation::Log)?;
        if inputs.len() > self.limits.max_batch_size {
            return Err(ServiceError::invalid(
                "inputs",
                format!("at most {} entries per batch", self.limits.max_batch_size),
            ));
        }
        let mut batch_errors = Vec::new();
        check_correlation_id(&mut batch_errors, correlation_id);
        if !batch_errors.is_empty() {
            return Err(ServiceError::Invalid(batch_errors));
        }
        let errors: Vec<Vec<FieldError>> = inputs
            .iter_mut()
            .map(|input| {
                let mut errors = Vec::new();
                if let Some(id) = correlation_id {
                    match &input.correlation_id {
                        None => input.correlation_id = Some(id.to_owned()),
                        Some(own) if own != id => errors.push(FieldError::invalid(
                            "correlationId",
                            "differs from the batch's correlationId",
                        )),
                        Some(_) => {}
                    }
                }
                self.redact(input);
                errors.extend(input.validate(self.limits.max_metadata_bytes));
                errors
            })
            .collect();
        if errors.iter().any(|e| !e.is_empty()) {
            return Err(ServiceError::InvalidBatch(errors));
        }
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let (at, scope) = (now(), idempotency_scope(caller));
        self.insert(
            inputs
                .into_iter()
                .map(|i| i.into_model(at, &scope))
                .collect(),
        )
        .await
    }

    /// Writes rows all or none, then wakes the publishers of every instance.
    ///
    /// Returns one row per input: the row written, or, for a retried
    /// idempotency key, the row its first use wrote.
    ///
    /// On PostgreSQL up to [`ROWS_PER_INSERT`] rows are one INSERT, which is
    /// atomic on its own: it runs without BEGIN and COMMIT, saving their
    /// round trips. SQLite always takes a transaction (BEGIN IMMEDIATE: the
    /// write lock, waited for under the busy timeout). Larger batches take one,
    /// and so do batches with keys: a key replayed with other input is only
    /// found once the INSERT ran, and refusing it must leave nothing written.
    /// A conflict is [`ServiceError::InvalidBatch`], one list per row.
    async fn insert(&self, rows: Vec<activity::Model>) -> Result<Vec<Logged>> {
        // A replayed key answers with its first row, whose uuid is not the
        // one this call generated.
        let generated: Vec<Uuid> = rows.iter().map(|r| r.uuid).collect();
        let keyed_batch = rows.len() > 1 && rows.iter().any(|r| r.idempotency_key.is_some());
        // On SQLite a refused autocommit INSERT (a trigger's RAISE, seen in
        // `refused_and_rolled_back_writes_are_never_published`) could leave
        // its pooled connection reading an old snapshot, so that a count on
        // it missed rows committed since (1 run in 10). In a transaction the
        // failure ends with an explicit ROLLBACK; BEGIN and COMMIT cost no
        // round trip to an embedded database.
        let sqlite = self.db.get_database_backend() == DbBackend::Sqlite;
        let (rows, fresh) = if rows.len() <= ROWS_PER_INSERT && !keyed_batch && !sqlite {
            let written = write_rows(&self.db, &rows).await?;
            resolve_retries(&self.db, rows, &written).await?
        } else {
            let txn = self.begin_write().await?;
            let written = write_rows(&txn, &rows).await?;
            let resolved = resolve_retries(&txn, rows, &written).await?;
            txn.commit().await?;
            resolved
        };
        if !fresh.is_empty() {
            self.bus.committed();
            self.live.committed().await;
        }
        Ok(rows
            .into_iter()
            .zip(generated)
            .map(|(activity, uuid)| Logged {
                replayed: activity.uuid != uuid,
                activity,
            })
            .collect())
    }

    /// Writes rows in one transaction without waking any publisher: for
    /// imported or generated history. They still take new positions, so a
    /// running publisher delivers them on its next read.
    pub(super) async fn insert_history(&self, rows: Vec<activity::Model>) -> Result<()> {
        let txn = self.begin_write().await?;
        let backend = txn.get_database_backend();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            txn.execute(&insert_statement(backend, chunk)).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// A transaction that is going to write. On SQLite it takes the write lock
    /// at BEGIN (IMMEDIATE), waiting its turn under the busy timeout. Deferred,
    /// an insert into `activities` (whose full-text trigger writes the index
    /// too) got "database is locked" at once, without waiting, when another
    /// writer held the lock: concurrent logs failed as INTERNAL. PostgreSQL
    /// ignores the mode.
    pub(super) async fn begin_write(&self) -> Result<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(self.db.begin_with_options(options).await?)
    }
}

/// Swaps each row the insert skipped for the row that holds its idempotency
/// key in its caller's scope, gives each written row the position the
/// database assigned, and returns the rows with the subset that this call
/// wrote. A skipped row whose input differs from that first row's is a
/// conflict: [`ServiceError::InvalidBatch`], with an error for each.
///
/// The insert skipped a row only when its key was taken, and it waited for a
/// concurrent writer of the same key to commit first, so the key's row is
/// there to read, in the same transaction or after the autocommit insert.
async fn resolve_retries(
    conn: &impl ConnectionTrait,
    mut rows: Vec<activity::Model>,
    written: &HashMap<Uuid, Position>,
) -> Result<(Vec<activity::Model>, Vec<activity::Model>)> {
    for row in &mut rows {
        if let Some(position) = written.get(&row.uuid) {
            row.txid = position.txid;
            row.seq = position.seq;
        }
    }
    if rows.iter().all(|r| written.contains_key(&r.uuid)) {
        return Ok((rows.clone(), rows));
    }
    let skipped = rows.iter().filter(|r| !written.contains_key(&r.uuid));
    let keys: HashSet<&str> = skipped
        .clone()
        .filter_map(|r| r.idempotency_key.as_deref())
        .collect();
    let scopes: HashSet<&str> = skipped
        .filter_map(|r| r.idempotency_scope.as_deref())
        .collect();
    let stored: HashMap<(String, String), activity::Model> = activity::Entity::find()
        .filter(activity::Column::IdempotencyKey.is_in(keys))
        .filter(activity::Column::IdempotencyScope.is_in(scopes))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|row| {
            let id = (row.idempotency_scope.clone()?, row.idempotency_key.clone()?);
            Some((id, row))
        })
        .collect();
    let mut fresh = Vec::new();
    let mut resolved = Vec::with_capacity(rows.len());
    let mut conflicts = vec![Vec::new(); rows.len()];
    for (index, row) in rows.into_iter().enumerate() {
        if written.contains_key(&row.uuid) {
            fresh.push(row.clone());
            resolved.push(row);
            continue;
        }
        // Skipped, yet nothing holds its key: the first row was deleted in
        // between (pruned), or the uuid itself collided. Neither can be
        // answered with a row that exists.
        let first = match (&row.idempotency_scope, &row.idempotency_key) {
            (Some(scope), Some(key)) => stored.get(&(scope.clone(), key.clone())),
            _ => None,
        };
        let first = first.ok_or_else(|| {
            DbErr::Custom(format!(
                "activity {} was not written and no row holds its idempotency key",
                row.uuid
            ))
        })?;
        if !same_input(&row, first) {
            conflicts[index].push(FieldError::idempotency_conflict(first.uuid));
        }
        resolved.push(first.clone());
    }
    if conflicts.iter().any(|c| !c.is_empty()) {
        return Err(ServiceError::InvalidBatch(conflicts));
    }
    Ok((resolved, fresh))
}

/// The most rows one INSERT carries: SQLite allows 32,766 bound values per
/// statement, and a row takes 16.
const ROWS_PER_INSERT: usize = 1000;

/// Inserts rows with multi-row INSERTs; a row whose idempotency key is taken
/// is skipped. Returns the rows written, with the positions the database gave them.
pub(super) async fn write_rows(
    conn: &impl ConnectionTrait,
    rows: &[activity::Model],
) -> Result<HashMap<Uuid, Position>> {
    let backend = conn.get_database_backend();
    let mut written = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = insert_statement(backend, chunk);
        // Both databases return only the rows inserted, not the skipped ones.
        insert.returning(Query::returning().columns([
            activity::Column::Uuid,
            activity::Column::Txid,
            activity::Column::Seq,
        ]));
        for row in conn.query_all(&insert).await? {
            written.insert(
                row.try_get_by_index::<Uuid>(0)?,
                Position {
                    txid: row.try_get_by_index(1)?,
                    seq: row.try_get_by_index(2)?,
                },
            );
        }
    }
    Ok(written)
}

/// The columns the service writes; the position is the database's to assign.
fn written_columns() -> impl Iterator<Item = activity::Column> {
    activity::Column::iter()
        .filter(|c| !matches!(c, activity::Column::Txid | activity::Column::Seq))
}

/// One multi-row INSERT of `rows` that skips a row whose idempotency key is taken.
///
/// Each row is written with its `search_text`, the words of its metadata
/// that the full-text filter searches (see [`search`]). On PostgreSQL the
/// position comes from the columns' defaults; on SQLite the k-th row takes
/// the counter plus k, under the write lock the INSERT holds (see the
/// positions migration).
fn insert_statement(backend: DbBackend, rows: &[activity::Model]) -> InsertStatement {
    let sqlite = backend == DbBackend::Sqlite;
    let mut columns: Vec<DynIden> = written_columns().map(IntoIden::into_iden).collect();
    columns.push(Alias::new("search_text").into_iden());
    if sqlite {
        columns.push(activity::Column::Seq.into_iden());
    }
    let mut insert = Query::insert();
    insert.into_table(activity::Entity).columns(columns);
    for (k, row) in rows.iter().enumerate() {
        let model = row.clone().into_active_model();
        let mut values: Vec<sea_orm::sea_query::Expr> = written_columns()
            .map(|c| {
                model
                    .get(c)
                    .into_value()
                    .expect("a model sets every column")
            })
            .map(Into::into)
            .collect();
        values.push(search::search_text(&row.metadata).into());
        if sqlite {
            values.push(sea_orm::sea_query::Expr::cust(format!(
                "(SELECT last FROM activity_positions) + {}",
                k + 1
            )));
        }
        insert.values_panic(values);
    }
    // No conflict target: the unique idempotency key is the only index a
    // fresh row can collide with. A target would have to be matched to the
    // index when the statement is prepared, and SQLite fails that with "ON
    // CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint"
    // on a pooled connection that read the schema before the migration
    // adding the index ran; untargeted, SQLite re-prepares the statement
    // once it notices the schema changed.
    insert.on_conflict(OnConflict::new().do_nothing().to_owned());
    insert
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(input: &NewActivity) -> Vec<String> {
        input.validate(64).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn accepts_a_minimal_input() {
        let input = NewActivity {
            action: "post.created".into(),
            ..Default::default()
        };
        assert!(fields(&input).is_empty());
    }

    #[test]
    fn reports_every_broken_rule() {
        let input = NewActivity {
            action: " ".into(),
            module: Some("m".repeat(51)),
            mode: Some("m".repeat(21)),
            resource_type: Some("r".repeat(51)),
            metadata: Some(json!([1, 2])),
            ..Default::default()
        };
        assert_eq!(
            fields(&input),
            ["action", "module", "mode", "resourceType", "metadata"]
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        let input = NewActivity {
            action: "é".repeat(100),
            ..Default::default()
        };
        assert!(fields(&input).is_empty());
    }

    #[test]
    fn bounds_correlation_and_context() {
        let input = NewActivity {
            action: "a".into(),
            correlation_id: Some(String::new()),
            client_ip: Some("1".repeat(46)),
            user_agent: Some("u".repeat(513)),
            ..Default::default()
        };
        assert_eq!(fields(&input), ["correlationId", "clientIp", "userAgent"]);
        let input = NewActivity {
            action: "a".into(),
            correlation_id: Some("c".repeat(101)),
            ..Default::default()
        };
        assert_eq!(fields(&input), ["correlationId"]);
        let input = NewActivity {
            action: "a".into(),
            correlation_id: Some("c".repeat(100)),
            ..Default::default()
        };
        assert!(fields(&input).is_empty());
    }

    #[test]
    fn request_context_cuts_the_user_agent() {
        let ctx = RequestContext::new(Some("10.0.0.1".into()), Some(&"é".repeat(600)));
        assert_eq!(ctx.user_agent.as_ref().unwrap().chars().count(), 512);
        let mut input = NewActivity::default();
        ctx.apply(&mut input);
        assert_eq!(input.client_ip.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn refuses_nul_anywhere_and_bad_idempotency_keys() {
        let input = NewActivity {
            action: "a\0".into(),
            module: Some("\0".into()),
            metadata: Some(json!({ "k": [{ "j\0": 1 }] })),
            idempotency_key: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(
            fields(&input),
            ["action", "module", "metadata", "idempotencyKey"]
        );
        let key = |k: &str| NewActivity {
            action: "a".into(),
            idempotency_key: Some(k.into()),
            ..Default::default()
        };
        assert_eq!(fields(&key(&"é".repeat(200))), Vec::<String>::new());
        assert_eq!(fields(&key(&"k".repeat(201))), ["idempotencyKey"]);
        assert_eq!(fields(&key("k\0")), ["idempotencyKey"]);
    }

    #[test]
    fn keys_are_scoped_by_role_and_subject_and_only_keyed_rows_get_a_scope() {
        let subject = Uuid::now_v7();
        let service = Caller {
            role: super::super::Role::Service,
            subject: Some(subject),
        };
        assert_eq!(idempotency_scope(&service), format!("service:{subject}"));
        assert_eq!(idempotency_scope(&Caller::SYSTEM), "admin:-");
        let keyed = NewActivity {
            action: "a".into(),
            idempotency_key: Some("k".into()),
            ..Default::default()
        };
        let unkeyed = NewActivity {
            action: "a".into(),
            ..Default::default()
        };
        assert_eq!(
            keyed
                .into_model(now(), "service:x")
                .idempotency_scope
                .as_deref(),
            Some("service:x")
        );
        assert_eq!(
            unkeyed.into_model(now(), "service:x").idempotency_scope,
            None
        );
    }

    #[test]
    fn limits_metadata_size() {
        let input = NewActivity {
            action: "a".into(),
            metadata: Some(json!({ "k": "x".repeat(100) })),
            ..Default::default()
        };
        assert_eq!(fields(&input), ["metadata"]);
    }
}
