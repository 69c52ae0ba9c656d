use std::collections::HashSet;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use futures_util::stream::{BoxStream, Stream, StreamExt};
use sea_orm::{QueryFilter, QuerySelect};

use super::query::oldest_first;
use super::{ActivityFeed, ActivityFilter, Caller, Cursor, Operation, Result};
use crate::bus::{BusError, BusItem};

/// Rows read per replay query when a subscriber resumes.
const REPLAY_PAGE: u64 = 500;

/// How long before a subscription started a row committed during it can have
/// been stamped: a transaction's rows carry the time it wrote them, and it
/// may commit later. Replayed rows newer than this may also arrive live.
const IN_FLIGHT: TimeDelta = TimeDelta::seconds(60);

impl ActivityFeed {
    /// Every activity committed from now on that matches `filter` and that
    /// `caller` may see, in commit order.
    ///
    /// With `after`, first replays the matching activities after that cursor
    /// (oldest first), then goes live: nothing committed in between is
    /// missed, and nothing is delivered twice at the seam.
    pub fn subscribe(
        &self,
        caller: &Caller,
        filter: ActivityFilter,
        after: Option<Cursor>,
    ) -> Result<impl Stream<Item = BusItem> + Send + 'static> {
        caller.require(Operation::Read)?;
        self.check_filter(&filter)?;
        let caller = *caller;
        // Listen before replaying, so what commits during the replay is kept.
        let live = self.bus.subscribe();
        let feed = self.clone();
        Ok(async_stream::stream! {
            let started = Utc::now();
            let mut replayed = HashSet::new();
            if let Some(mut cursor) = after {
                loop {
                    let page = match feed.replay_page(&caller, &filter, cursor).await {
                        Ok(page) => page,
                        Err(error) => {
                            tracing::error!(%error, "replay for a resuming subscriber failed");
                            yield Err(BusError::Replay("could not read the activities to replay".into()));
                            return;
                        }
                    };
                    let done = (page.len() as u64) < REPLAY_PAGE;
                    for row in page {
                        cursor = Cursor::of(&row);
                        if row.inserted_at >= started - IN_FLIGHT {
                            replayed.insert(row.uuid);
                        }
                        yield Ok(Arc::new(row));
                    }
                    if done {
                        break;
                    }
                }
            }
            let mut live = live;
            while let Some(item) = live.next().await {
                match item {
                    Ok(row) if replayed.remove(&row.uuid) => {}
                    Ok(row) if caller.sees(&row) && filter.matches(&row) => yield Ok(row),
                    Ok(_) => {}
                    Err(error) => yield Err(error),
                }
            }
        })
    }

    /// What `live` (a stream from the bus) carries that matches `filter` and
    /// that `caller` may see, in its order, errors included: [`Self::subscribe`]
    /// without replay, over a bus stream the caller holds already, so that
    /// one stream can serve every subscriber with the same filter and caller.
    pub fn follow(
        &self,
        caller: &Caller,
        filter: ActivityFilter,
        live: BoxStream<'static, BusItem>,
    ) -> Result<impl Stream<Item = BusItem> + Send + 'static> {
        caller.require(Operation::Read)?;
        self.check_filter(&filter)?;
        let caller = *caller;
        Ok(live.filter(move |item| {
            let pass = match item {
                Ok(row) => caller.sees(row) && filter.matches(row),
                Err(_) => true,
            };
            std::future::ready(pass)
        }))
    }

    /// The next matching rows after `cursor`, oldest first.
    async fn replay_page(
        &self,
        caller: &Caller,
        filter: &ActivityFilter,
        cursor: Cursor,
    ) -> Result<Vec<entity::activity::Model>> {
        Ok(
            oldest_first(self.matching(caller, filter).filter(cursor.newer()))
                .limit(REPLAY_PAGE)
                .all(&self.db)
                .await?,
        )
    }
}
