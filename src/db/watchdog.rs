//! SQLite statements that stop when their time runs out or their request
//! ends, as `STATEMENT_TIMEOUT` promises on both databases.
//!
//! PostgreSQL cancels a statement after `statement_timeout`. SQLite has no
//! such setting, and a statement whose caller has gone runs to its end on the
//! connection's worker thread: a 200,000-word search kept one at 100 % CPU
//! for 90 s after its request had been answered with 408. SQLite calls a
//! connection's progress handler every few thousand virtual-machine steps
//! and stops the statement when it says so; each checkout from the pool arms
//! the handler with its own deadline and the request it runs for.

use std::future::Future;
use std::time::{Duration, Instant};

use sea_orm::sqlx::sqlite::SqliteConnection;
use sea_orm::sqlx::{self, Connection as _};
use tokio_util::sync::CancellationToken;

/// Virtual-machine steps between two looks at the clock: a few tens of
/// microseconds of work, so a look costs nothing that shows and a statement
/// stops within a millisecond of being told.
const STEPS_PER_CHECK: i32 = 10_000;

tokio::task_local! {
    /// Cancelled when the request the current task serves has ended.
    static REQUEST: CancellationToken;
}

/// Runs `work` as one request: the SQLite statements it started (in its own
/// task) are interrupted if it is dropped before it finishes (a timeout, a
/// client that went away). A request that finishes has awaited its
/// statements; what may still run for it is cleanup, such as the rollback
/// of a transaction it dropped, which must not be stopped.
pub async fn request_scope<F: Future>(work: F) -> F::Output {
    let abandoned = CancellationToken::new();
    let on_drop = abandoned.clone().drop_guard();
    let output = REQUEST.scope(abandoned, work).await;
    on_drop.disarm();
    output
}

/// Arms `conn` for one checkout from the pool: its statements are
/// interrupted once `timeout` has passed from now, or once the request of
/// the current task, if it runs in one, has ended.
///
/// Arming waits for the connection's worker thread, which an idle
/// connection answers at once: one handoff per checkout.
pub async fn arm(conn: &mut SqliteConnection, timeout: Duration) -> Result<(), sqlx::Error> {
    let deadline = Instant::now() + timeout;
    let request = REQUEST.try_with(CancellationToken::clone).ok();
    let mut handle = conn.lock_handle().await?;
    handle.set_progress_handler(STEPS_PER_CHECK, move || {
        Instant::now() < deadline && !request.as_ref().is_some_and(|r| r.is_cancelled())
    });
    Ok(())
}

/// Whether `conn` may go back to the pool. Past its deadline, every
/// statement of a checkout may be interrupted, the rollback of the
/// transaction it broke included; a connection left inside a transaction
/// (as SQLite or sqlx sees it) would run the next caller's statements in
/// it, unseen by everyone else and holding the write lock. Such a connection
/// is closed instead, which rolls the transaction back.
pub async fn reusable(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction's rollback is queued on the worker: let it run.
    conn.ping().await?;
    Ok(!conn.is_in_transaction())
}
