//! Handing each released row only to the subscriptions that may want it.
//!
//! Every subscription waits in one bucket of the router, chosen from its
//! filter's equality fields ([`Route`]): a row goes to the bucket of every
//! value it carries (its actor, resource, target, correlation id, action)
//! and to the bucket of subscriptions that name none of them. With 10,000
//! per-user feeds, a row reaches the one subscription of its actor, not ten
//! thousand filters. Each subscription still checks its whole filter; the
//! route only spares it the rows that cannot match.
//!
//! Each subscription has a bounded queue of its own. A row that finds it
//! full is counted as missed, and the subscription ends with
//! [`LiveError::Lagged`] when it reads next: a slow reader is dropped alone,
//! and neither the publisher nor anyone else waits for it.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use entity::activity;
use futures_util::Stream;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{LiveError, LiveItem};
use crate::service::{ActivityFilter, Caller};

/// The one equality a subscription's rows must satisfy, used to find it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// No indexable field: every row.
    All,
    /// Rows of one actor.
    Actor(Uuid),
    /// Rows about one resource.
    Resource(Uuid),
    /// Rows aimed at one person.
    Target(Uuid),
    /// Rows of one request, job or import.
    Correlation(String),
    /// Rows of one exact action.
    Action(String),
}

impl Route {
    /// The most selective route for what `caller` sees of `filter`: a
    /// user's own actor first (they see nothing else), then the filter's
    /// actor, resource, target, correlation id and exact action.
    pub fn of(caller: &Caller, filter: &ActivityFilter) -> Self {
        let uuid_route = caller
            .confined_to()
            .or(filter.actor_uuid)
            .or(filter.within_actor)
            .map(Route::Actor)
            .or(filter.resource_uuid.map(Route::Resource))
            .or(filter.target_uuid.map(Route::Target));
        uuid_route
            .or_else(|| filter.correlation_id.clone().map(Route::Correlation))
            .or_else(|| filter.exact_action().map(|a| Route::Action(a.to_owned())))
            .unwrap_or(Route::All)
    }

    /// Every route a row is sent on.
    fn of_row(row: &activity::Model) -> impl Iterator<Item = Route> + '_ {
        [
            Some(Route::All),
            row.actor_uuid.map(Route::Actor),
            row.resource_uuid.map(Route::Resource),
            row.target_uuid.map(Route::Target),
            row.correlation_id.clone().map(Route::Correlation),
            Some(Route::Action(row.action.clone())),
        ]
        .into_iter()
        .flatten()
    }
}

/// One subscription's place in the router.
struct Inbox {
    sender: mpsc::Sender<Arc<activity::Model>>,
    missed: Arc<AtomicU64>,
}

#[derive(Default)]
struct Table {
    next: u64,
    buckets: HashMap<Route, HashMap<u64, Inbox>>,
    routes: HashMap<u64, Route>,
}

/// The subscriptions of one process, by route.
#[derive(Clone)]
pub struct Router {
    table: Arc<Mutex<Table>>,
    capacity: usize,
    delivered: Arc<AtomicU64>,
    lagged: Arc<AtomicU64>,
}

impl Router {
    /// A router whose subscriptions may each fall `capacity` rows behind.
    pub fn new(capacity: usize) -> Self {
        Self {
            table: Arc::default(),
            capacity: capacity.max(1),
            delivered: Arc::default(),
            lagged: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new subscription to every row ([`Route::All`]) from now on;
    /// [`Subscription::narrow`] moves it to its own route.
    pub fn subscribe(&self) -> Subscription {
        let (sender, receiver) = mpsc::channel(self.capacity);
        let missed = Arc::new(AtomicU64::new(0));
        let id = {
            let mut table = self.lock();
            table.next += 1;
            let id = table.next;
            let inbox = Inbox {
                sender,
                missed: missed.clone(),
            };
            table
                .buckets
                .entry(Route::All)
                .or_default()
                .insert(id, inbox);
            table.routes.insert(id, Route::All);
            id
        };
        Subscription {
            id,
            receiver,
            missed,
            router: self.clone(),
            ended: false,
        }
    }

    /// Hands `rows` (in position order) to every subscription on their routes.
    pub fn dispatch(&self, rows: &[Arc<activity::Model>]) {
        let table = self.lock();
        for row in rows {
            for route in Route::of_row(row) {
                let Some(bucket) = table.buckets.get(&route) else {
                    continue;
                };
                for inbox in bucket.values() {
                    if inbox.sender.try_send(row.clone()).is_err() {
                        inbox.missed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Moves subscription `id` to `route`, under the lock that dispatch
    /// takes, so that no row reaches it twice or not at all in between.
    fn narrow(&self, id: u64, route: Route) {
        let mut table = self.lock();
        let Some(old) = table.routes.get(&id).cloned() else {
            return;
        };
        if old == route {
            return;
        }
        let Some(inbox) = table.buckets.get_mut(&old).and_then(|b| b.remove(&id)) else {
            return;
        };
        if table.buckets.get(&old).is_some_and(HashMap::is_empty) {
            table.buckets.remove(&old);
        }
        table
            .buckets
            .entry(route.clone())
            .or_default()
            .insert(id, inbox);
        table.routes.insert(id, route);
    }

    fn leave(&self, id: u64) {
        let mut table = self.lock();
        if let Some(route) = table.routes.remove(&id) {
            if let Some(bucket) = table.buckets.get_mut(&route) {
                bucket.remove(&id);
                if bucket.is_empty() {
                    table.buckets.remove(&route);
                }
            }
        }
    }

    /// Subscriptions now.
    pub fn subscribers(&self) -> u64 {
        self.lock().routes.len() as u64
    }

    /// Rows received by subscriptions, one per subscription per row.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Subscriptions ended for falling behind.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }
}

/// Moves a subscription to its route; kept by whoever knows the filter.
#[derive(Clone)]
pub struct Narrower {
    id: u64,
    router: Router,
}

impl Narrower {
    /// From now on, only rows on `route` reach the subscription.
    pub fn narrow(&self, route: Route) {
        self.router.narrow(self.id, route);
    }
}

/// The rows the router hands one subscription, in position order; ends
/// with [`LiveError::Lagged`] once a row found its queue full.
pub struct Subscription {
    id: u64,
    receiver: mpsc::Receiver<Arc<activity::Model>>,
    missed: Arc<AtomicU64>,
    router: Router,
    ended: bool,
}

impl Subscription {
    /// What moves this subscription to its route.
    pub fn narrower(&self) -> Narrower {
        Narrower {
            id: self.id,
            router: self.router.clone(),
        }
    }
}

impl Stream for Subscription {
    type Item = LiveItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LiveItem>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let missed = self.missed.load(Ordering::Relaxed);
        if missed > 0 {
            self.ended = true;
            self.router.leave(self.id);
            self.router.lagged.fetch_add(1, Ordering::Relaxed);
            return Poll::Ready(Some(Err(LiveError::Lagged { missed })));
        }
        match self.receiver.poll_recv(cx) {
            Poll::Ready(Some(row)) => {
                self.router.delivered.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(Some(Ok(row)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.router.leave(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Role;
    use futures_util::{FutureExt, StreamExt};

    fn row(action: &str, actor: Option<Uuid>) -> Arc<activity::Model> {
        Arc::new(activity::Model {
            actor_uuid: actor,
            ..crate::service::testing::row(action)
        })
    }

    /// The actions queued for `s` now.
    fn waiting(s: &mut Subscription) -> Vec<String> {
        let mut actions = Vec::new();
        while let Some(Some(item)) = s.next().now_or_never() {
            actions.push(item.unwrap().action.clone());
        }
        actions
    }

    #[tokio::test]
    async fn a_row_reaches_only_the_subscriptions_on_its_routes() {
        let router = Router::new(8);
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let mut everyone = router.subscribe();
        let mut of_alice = router.subscribe();
        of_alice.narrower().narrow(Route::Actor(alice));
        let mut of_bob = router.subscribe();
        of_bob.narrower().narrow(Route::Actor(bob));
        let mut likes = router.subscribe();
        likes.narrower().narrow(Route::Action("post.liked".into()));

        router.dispatch(&[
            row("post.liked", Some(alice)),
            row("post.created", Some(bob)),
        ]);

        assert_eq!(waiting(&mut everyone), ["post.liked", "post.created"]);
        assert_eq!(waiting(&mut of_alice), ["post.liked"]);
        assert_eq!(waiting(&mut of_bob), ["post.created"]);
        assert_eq!(waiting(&mut likes), ["post.liked"]);
    }

    #[tokio::test]
    async fn a_full_queue_ends_that_subscription_alone_with_the_count_missed() {
        let router = Router::new(2);
        let mut slow = router.subscribe();
        let mut fast = router.subscribe();
        for _ in 0..2 {
            router.dispatch(&[row("a.b", None)]);
            assert!(fast.next().await.unwrap().is_ok());
        }
        router.dispatch(&[row("a.b", None), row("a.b", None)]);

        assert_eq!(
            slow.next().await,
            Some(Err(LiveError::Lagged { missed: 2 }))
        );
        assert_eq!(slow.next().await, None);
        assert!(fast.next().await.unwrap().is_ok());
        assert_eq!(router.subscribers(), 1);
        assert_eq!(router.lagged(), 1);
    }

    #[test]
    fn routes_follow_the_most_selective_equality() {
        let alice = Uuid::now_v7();
        let service = Caller {
            role: Role::Service,
            subject: None,
        };
        let user = Caller {
            role: Role::User,
            subject: Some(alice),
        };
        let prefix = ActivityFilter {
            action: Some("post.*".into()),
            ..Default::default()
        };
        let exact = ActivityFilter {
            action: Some("post.liked".into()),
            ..Default::default()
        };
        assert_eq!(Route::of(&service, &prefix), Route::All);
        assert_eq!(
            Route::of(&service, &exact),
            Route::Action("post.liked".into())
        );
        assert_eq!(Route::of(&user, &prefix), Route::Actor(alice));
        let resource = Uuid::now_v7();
        let on_resource = ActivityFilter {
            resource_uuid: Some(resource),
            ..exact
        };
        assert_eq!(Route::of(&service, &on_resource), Route::Resource(resource));
    }
}
