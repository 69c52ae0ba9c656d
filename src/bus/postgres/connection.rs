use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};

/// How long connecting, or one notify statement, may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `application_name` of this process's notifier connection:
/// "af notifier <pid> <channel>", cut to the 63 bytes PostgreSQL keeps.
pub fn notifier_application_name(pid: u32, channel: &str) -> String {
    let mut name = format!("af notifier {pid} {channel}");
    name.truncate(63);
    name
}

/// The `application_name` of this process's listening connection, so an
/// operator can find it in `pg_stat_activity`: "af listener <pid> <channel>",
/// cut to the 63 bytes PostgreSQL keeps.
pub fn listener_application_name(pid: u32, channel: &str) -> String {
    let mut name = format!("af listener {pid} {channel}");
    name.truncate(63);
    name
}

/// Opens the notifier's pool of one connection. It reconnects by itself on
/// the next send after its connection is lost.
pub async fn notifier_pool(url: &str, channel: &str) -> Result<PgPool, sea_orm::sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    let name = notifier_application_name(std::process::id(), channel);
    // A notification is not durable whatever the commit does, and the rows it
    // announces are already flushed by their writers, so this connection's
    // commits skip the WAL flush and hold the notify lock only briefly.
    let options = options
        .application_name(&name)
        .options([("synchronous_commit", "off")]);
    PgPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        // A ping before every send would double its round trips; a send on a
        // connection that died fails instead, and its retry reconnects.
        .test_before_acquire(false)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await
}

/// Opens the listening connection and LISTENs on `channel`.
pub async fn listen(url: &str, channel: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    let name = listener_application_name(std::process::id(), channel);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options.application_name(&name))
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
