//! Live delivery of committed activities.

use async_graphql::{Context, Result, Subscription};
use futures_util::stream::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::error::{coded, SUBSCRIBER_LAGGED};
use super::types::{Activity, ActivityFilterInput};
use crate::bus::BusError;
use crate::service::{ActivityFeed, ActivityFilter};

/// Fired when the server shuts down, so every subscription completes cleanly.
#[derive(Clone, Default)]
pub struct Shutdown(pub CancellationToken);

/// Live operations on the activity feed.
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Every activity committed after the subscription starts that matches the
    /// filter, in commit order.
    async fn activity_added(
        &self,
        ctx: &Context<'_>,
        filter: Option<ActivityFilterInput>,
    ) -> Result<impl Stream<Item = Result<Activity>>> {
        let feed = ctx.data::<ActivityFeed>()?;
        let shutdown = ctx.data::<Shutdown>()?.0.clone();
        let filter: ActivityFilter = filter.map(Into::into).unwrap_or_default();
        // Subscribe before returning, so nothing committed from now on is missed.
        let events = feed.bus().subscribe();
        let stream = events
            .take_until(shutdown.cancelled_owned())
            .filter_map(move |item| {
                let out = match item {
                    Ok(row) if filter.matches(&row) => Some(Ok(Activity((*row).clone()))),
                    Ok(_) => None,
                    Err(BusError::Lagged { missed }) => Some(Err(coded(
                        SUBSCRIBER_LAGGED,
                        format!("subscriber fell behind and missed {missed} activities; subscribe again"),
                    ))),
                };
                async move { out }
            })
            // A lagging subscriber gets its error, then the stream ends.
            .scan(false, |ended, item| {
                if *ended {
                    return futures_util::future::ready(None);
                }
                *ended = item.is_err();
                futures_util::future::ready(Some(item))
            });
        Ok(stream)
    }
}
