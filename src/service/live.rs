use futures_util::stream::{Stream, StreamExt};

use super::{ActivityFeed, ActivityFilter, Caller, Operation, Result};
use crate::bus::BusItem;

impl ActivityFeed {
    /// Every activity committed from now on that matches `filter` and that
    /// `caller` may see, in commit order.
    pub fn subscribe(
        &self,
        caller: &Caller,
        filter: ActivityFilter,
    ) -> Result<impl Stream<Item = BusItem> + Send + 'static> {
        caller.require(Operation::Read)?;
        let caller = *caller;
        Ok(self.bus.subscribe().filter(move |item| {
            let keep = match item {
                Ok(row) => caller.sees(row) && filter.matches(row),
                Err(_) => true,
            };
            async move { keep }
        }))
    }
}
