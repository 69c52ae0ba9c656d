use entity::activity;
use futures_util::stream::Stream;
use sea_orm::{QueryFilter, QuerySelect};

use super::query::newest_first;
use super::{ActivityFeed, ActivityFilter, Caller, Cursor, Operation, Result};

/// Rows read per query while exporting: memory stays bounded by this,
/// whatever the size of the export.
const EXPORT_PAGE: u64 = 1000;

impl ActivityFeed {
    /// Every matching activity the caller may see, newest first, read in
    /// keyset pages so that an export of any size runs in constant memory.
    pub fn export(
        &self,
        caller: &Caller,
        filter: ActivityFilter,
    ) -> Result<impl Stream<Item = Result<activity::Model>> + Send + 'static> {
        caller.require(Operation::Read)?;
        self.check_filter(&filter)?;
        let caller = *caller;
        let feed = self.clone();
        Ok(async_stream::try_stream! {
            let mut after: Option<Cursor> = None;
            loop {
                let mut select = feed.matching(&caller, &filter);
                if let Some(c) = after {
                    select = select.filter(c.older());
                }
                let page = newest_first(select)
                    .limit(EXPORT_PAGE)
                    .all(&feed.db)
                    .await?;
                let done = (page.len() as u64) < EXPORT_PAGE;
                for row in page {
                    after = Some(Cursor::of(&row));
                    yield row;
                }
                if done {
                    break;
                }
            }
        })
    }
}
