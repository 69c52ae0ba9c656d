//! Live delivery of committed activities.

use std::sync::Mutex;

use async_graphql::{Context, Result, Subscription};
use futures_util::stream::{BoxStream, Stream, StreamExt};

use super::context::{identity, service};
use super::error::{coded, IntoGraphql};
use super::input::{filter_of, ActivityFilterInput};
use super::types::Activity;
use crate::service::live::Narrower;
use crate::service::{ErrorCode, LiveError, LiveItem, ResumeCursor};

/// The live stream a shared subscription reads instead of subscribing
/// itself: its owner (the websocket fan-out) numbers the events it hands
/// out, so it knows which of them each subscriber may receive. The
/// narrower routes that stream by the subscription's filter, which only the
/// resolver knows. Only the server puts it in a request's data; it is taken
/// once, by the first `activityAdded`.
pub struct LiveSource(Mutex<Option<(BoxStream<'static, LiveItem>, Narrower)>>);

impl LiveSource {
    /// A source that hands `events` to the subscription.
    pub fn new(events: BoxStream<'static, LiveItem>, narrower: Narrower) -> Self {
        Self(Mutex::new(Some((events, narrower))))
    }

    fn take(&self) -> Option<(BoxStream<'static, LiveItem>, Narrower)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// What a subscriber that fell `missed` events behind is told before its stream ends.
pub fn lagged(missed: u64) -> async_graphql::Error {
    coded(
        ErrorCode::SubscriberLagged,
        format!("subscriber fell behind and missed {missed} activities; subscribe again"),
    )
}

/// What a subscriber whose token expired is told.
pub fn expired() -> async_graphql::Error {
    coded(ErrorCode::Unauthenticated, "the token has expired")
}

/// Live operations on the activity feed.
#[derive(Default)]
pub struct SubscriptionRoot;

/// What ends a live stream early, with the error the client is told.
enum End {
    Lagged(u64),
    TokenExpired,
    Unavailable,
}

/// Live operations: activities as they are committed.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every activity committed after the subscription starts that matches the
    /// filter (and that the caller may see), in commit order. With `after` (an
    /// activity's `cursor`, as from activityFeed), first replays what matched
    /// after it, then goes live: a client that reconnects loses nothing.
    async fn activity_added(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions every activity delivered meets.")] filter: Option<
            ActivityFilterInput,
        >,
        #[graphql(desc = "An `Activity.cursor`: replay what follows it first.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = Result<Activity>>> {
        let (feed, caller) = service(ctx)?;
        let expires_at = identity(ctx)?.expires_at;
        // Subscribe before returning, so nothing committed from now on is missed.
        let after = match after {
            Some(c) => {
                let cursor = ResumeCursor::decode(&c)
                    .ok_or_else(|| coded(ErrorCode::BadUserInput, "after: invalid cursor"))?;
                Some(feed.resume_point(&caller, cursor).await.graphql()?)
            }
            None => None,
        };
        let filter = filter_of(filter)?;
        let source = after
            .is_none()
            .then(|| ctx.data_opt::<LiveSource>().and_then(LiveSource::take))
            .flatten();
        let events = match source {
            Some((live, narrower)) => feed
                .follow(&caller, filter, live, &narrower)
                .graphql()?
                .boxed(),
            None => feed.subscribe(&caller, filter, after).graphql()?.boxed(),
        };
        let expiry = async move {
            match expires_at.and_then(|at| (at - chrono::Utc::now()).to_std().ok()) {
                Some(left) => tokio::time::sleep(left).await,
                None if expires_at.is_some() => {}
                None => std::future::pending().await,
            }
        };
        let expiring = futures_util::stream::once(expiry).map(|()| Err(End::TokenExpired));
        let live = events.map(|item| {
            item.map_err(|e| match e {
                LiveError::Lagged { missed } => End::Lagged(missed),
                LiveError::Replay(_) => End::Unavailable,
            })
        });
        // No end at shutdown: the socket closes with 1012 instead, which
        // clients take as "reconnect", where a `complete` would mean "done".
        let stream = futures_util::stream::select(live, expiring)
            // The first error is delivered, then the stream ends.
            .scan(false, |ended, item| {
                let out = if *ended {
                    None
                } else {
                    *ended = item.is_err();
                    Some(match item {
                        Ok(row) => Ok(Activity::exact((*row).clone())),
                        Err(End::Lagged(missed)) => Err(lagged(missed)),
                        Err(End::TokenExpired) => Err(expired()),
                        Err(End::Unavailable) => Err(coded(ErrorCode::Internal, "internal error")),
                    })
                };
                futures_util::future::ready(out)
            });
        Ok(stream)
    }
}
