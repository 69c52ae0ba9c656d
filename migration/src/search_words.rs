//! Refills `activities.search_text` with the service's own word rule
//! (`entity::search_text`), for rows the service did not write it for.
//!
//! SQL cannot say the rule: PostgreSQL's `[^[:alnum:]]` follows the
//! database's locale (a C-locale database splits `café` into `caf`, and
//! C.UTF-8 drops `²` that the service keeps), so rows indexed in SQL were
//! found by other words than rows written since.

use entity::search_text::search_text;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};
use uuid::Uuid;

#[derive(DeriveIden, Clone, Copy)]
enum Activities {
    Table,
    Uuid,
    Metadata,
    SearchText,
}

/// Rows read, and at most rows written, per statement: 1,000 bound values,
/// well within either database's limit.
const PAGE: u64 = 500;

/// Rewrites `search_text` for every row whose stored words differ from the
/// rule's, reading in keyset pages by uuid so memory stays flat.
pub async fn refill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let mut after: Option<Uuid> = None;
    loop {
        let mut page = Query::select();
        page.columns([
            Activities::Uuid,
            Activities::Metadata,
            Activities::SearchText,
        ])
        .from(Activities::Table)
        .order_by(Activities::Uuid, Order::Asc)
        .limit(PAGE);
        if let Some(after) = after {
            page.and_where(Expr::col(Activities::Uuid).gt(after));
        }
        let rows = db.query_all(&page).await?;
        // By position: a pooled SQLite connection that prepared this before
        // `search_text` was added on another one names the column after
        // SQLite's fallback for an unknown quoted name (a string literal),
        // though it reads the column once the statement is re-prepared.
        let mut stale = Vec::new();
        for row in &rows {
            let uuid: Uuid = row.try_get_by_index(0)?;
            let metadata: serde_json::Value = row.try_get_by_index(1)?;
            let stored: String = row.try_get_by_index(2)?;
            after = Some(uuid);
            let words = search_text(&metadata);
            if words != stored {
                stale.push((uuid, words));
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        if !stale.is_empty() {
            db.execute_raw(update(backend, stale)).await?;
        }
    }
}

/// One UPDATE that sets each row's words, joined to a VALUES list.
fn update(backend: DatabaseBackend, rows: Vec<(Uuid, String)>) -> Statement {
    let mut tuples = Vec::with_capacity(rows.len());
    let mut values: Vec<Value> = Vec::with_capacity(rows.len() * 2);
    for (i, (uuid, words)) in rows.into_iter().enumerate() {
        tuples.push(match backend {
            DatabaseBackend::Postgres => format!("(${}::uuid, ${}::text)", 2 * i + 1, 2 * i + 2),
            _ => "(?, ?)".to_owned(),
        });
        values.push(uuid.into());
        values.push(words.into());
    }
    let tuples = tuples.join(", ");
    let sql = match backend {
        DatabaseBackend::Postgres => format!(
            "UPDATE activities SET search_text = v.t FROM (VALUES {tuples}) AS v(u, t) \
             WHERE activities.uuid = v.u"
        ),
        // SQLite names a VALUES list's columns column1, column2, …
        _ => format!(
            "UPDATE activities SET search_text = v.column2 FROM (VALUES {tuples}) AS v \
             WHERE activities.uuid = v.column1"
        ),
    };
    Statement::from_sql_and_values(backend, sql, values)
}
