//! A bus that tells every instance on one PostgreSQL that rows were
//! committed, through LISTEN/NOTIFY.
//!
//! A notification carries nothing but the channel: each instance's publisher
//! reads the rows from the table by position (see [`crate::service::live`]),
//! so a forged or lost notification can delay rows or cause a read, never
//! add, drop or reorder one. Two tasks per instance: the [`notifier`] sends
//! one NOTIFY for however many writes committed since its last send, on a
//! connection of its own; the [`listener`] keeps a LISTEN connection and
//! wakes the publisher on every notification and after every reconnect.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::DbErr;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::service::{Bus, Health, LiveStats, Wake};

/// Opening the connections, named so operators can find them.
mod connection;
/// The task that keeps the LISTEN connection and wakes the publisher.
mod listener;
/// The task that sends this instance's notifications.
mod notifier;

pub use connection::{listener_application_name, notifier_application_name};

/// Listener and notifier settings.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// The database URL the bus's connections open.
    pub url: String,
    /// The schema the instances share; part of the channel name, so
    /// deployments in different schemas of one database do not hear each other.
    pub schema: Option<String>,
    /// The longest wait between reconnection or resend attempts.
    pub max_reconnect_delay: Duration,
}

impl ListenerConfig {
    /// The channel this deployment's instances share.
    fn channel(&self) -> String {
        match &self.schema {
            Some(schema) => format!("activity_feed_{schema}"),
            None => "activity_feed".to_owned(),
        }
    }
}

/// The LISTEN/NOTIFY bus.
pub struct PgBus {
    notifier: Arc<notifier::Signals>,
    listening: Arc<Mutex<Health>>,
}

impl PgBus {
    /// Connects the listener and the notifier (both before this returns),
    /// and starts their tasks: the listener rings `wake` on every
    /// notification and reconnect; the notifier runs until `shutdown`, then
    /// sends a last notification for writes not yet announced.
    pub async fn start(
        config: ListenerConfig,
        wake: Wake,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<Self, DbErr> {
        let channel = config.channel();
        let first = connection::listen(&config.url, &channel)
            .await
            .map_err(|e| DbErr::Custom(format!("listener: {e}")))?;
        let pool = connection::notifier_pool(&config.url, &channel)
            .await
            .map_err(|e| DbErr::Custom(format!("notifier: {e}")))?;
        let signals = Arc::new(notifier::Signals::default());
        let listening = Arc::new(Mutex::new(Health::Up));
        tasks.spawn(
            notifier::Notifier {
                pool,
                channel: channel.clone(),
                signals: signals.clone(),
                max_delay: config.max_reconnect_delay,
            }
            .run(shutdown.clone()),
        );
        tasks.spawn(
            listener::Listener {
                url: config.url,
                channel,
                wake,
                health: listening.clone(),
                max_delay: config.max_reconnect_delay,
            }
            .run(first, shutdown),
        );
        Ok(Self {
            notifier: signals,
            listening,
        })
    }
}

impl Bus for PgBus {
    fn committed(&self) {
        self.notifier.raise();
    }

    fn health(&self) -> Health {
        let listening = *self.listening.lock().unwrap_or_else(|e| e.into_inner());
        match listening {
            Health::Up if self.notifier.failing() => Health::Down("notifier failing"),
            other => other,
        }
    }

    fn stats(&self) -> LiveStats {
        self.notifier.stats()
    }
}
