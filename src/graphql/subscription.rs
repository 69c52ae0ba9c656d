//! Live delivery of committed activities.

use async_graphql::{Context, Result, Subscription};
use futures_util::stream::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::context::{identity, service};
use super::error::{
    coded, IntoGraphql, BAD_USER_INPUT, INTERNAL, SUBSCRIBER_LAGGED, UNAUTHENTICATED,
};
use super::types::{Activity, ActivityFilterInput};
use crate::bus::BusError;
use crate::service::Cursor;

/// Fired when the server shuts down, so every subscription completes cleanly.
#[derive(Clone, Default)]
pub struct Shutdown(pub CancellationToken);

/// Live operations on the activity feed.
#[derive(Default)]
pub struct SubscriptionRoot;

/// What ends a live stream early, with the error the client is told.
enum End {
    Lagged(u64),
    TokenExpired,
    Unavailable,
}

#[Subscription]
impl SubscriptionRoot {
    /// Every activity committed after the subscription starts that matches the
    /// filter (and that the caller may see), in commit order. With `after` (an
    /// activity's `cursor`, as from activityFeed), first replays what matched
    /// after it, then goes live: a client that reconnects loses nothing.
    async fn activity_added(
        &self,
        ctx: &Context<'_>,
        filter: Option<ActivityFilterInput>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Activity>>> {
        let (feed, caller) = service(ctx)?;
        let expires_at = identity(ctx)?.expires_at;
        let shutdown = ctx.data::<Shutdown>()?.0.clone();
        // Subscribe before returning, so nothing committed from now on is missed.
        let after = after
            .map(|c| {
                Cursor::decode(&c).ok_or_else(|| coded(BAD_USER_INPUT, "after: invalid cursor"))
            })
            .transpose()?;
        let events = feed
            .subscribe(&caller, filter.map(Into::into).unwrap_or_default(), after)
            .graphql()?;
        let expiry = async move {
            match expires_at.and_then(|at| (at - chrono::Utc::now()).to_std().ok()) {
                Some(left) => tokio::time::sleep(left).await,
                None if expires_at.is_some() => {}
                None => std::future::pending().await,
            }
        };
        let expired = futures_util::stream::once(expiry).map(|()| Err(End::TokenExpired));
        let live = events.map(|item| {
            item.map_err(|e| match e {
                BusError::Lagged { missed } => End::Lagged(missed),
                BusError::Replay(_) => End::Unavailable,
            })
        });
        let stream = futures_util::stream::select(live, expired)
            .take_until(shutdown.cancelled_owned())
            // The first error is delivered, then the stream ends.
            .scan(false, |ended, item| {
                let out = if *ended {
                    None
                } else {
                    *ended = item.is_err();
                    Some(match item {
                        Ok(row) => Ok(Activity((*row).clone())),
                        Err(End::Lagged(missed)) => Err(coded(
                            SUBSCRIBER_LAGGED,
                            format!("subscriber fell behind and missed {missed} activities; subscribe again"),
                        )),
                        Err(End::TokenExpired) => Err(coded(UNAUTHENTICATED, "the token has expired")),
                        Err(End::Unavailable) => Err(coded(INTERNAL, "internal error")),
                    })
                };
                futures_util::future::ready(out)
            });
        Ok(stream)
    }
}
