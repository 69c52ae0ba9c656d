//! The read side of the API.

use async_graphql::connection::{self, Connection, CursorType, Edge};
use async_graphql::{Context, ErrorExtensions, Object, Result};
use entity::activity::Column;
use uuid::Uuid;

use super::context::service;
use super::error::{coded, IntoGraphql, BAD_USER_INPUT};
use super::limits::{list_cost, SCAN, STATEMENT};
use super::loaders::prefetch_people;
use super::types::{
    Activity, ActivityFilterInput, ActivityGroup, ActivityGroupBy, ActivityPage, CountBucket, User,
};
use crate::service::{badge, ActivityFilter, Cursor, FeedArgs, GroupArgs, PageArgs};

/// The feed's cursor as async-graphql's connection helper reads and writes it.
pub struct FeedCursor(pub Cursor);

impl CursorType for FeedCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        Cursor::decode(s).map(FeedCursor).ok_or("invalid cursor")
    }

    fn encode_cursor(&self) -> String {
        self.0.encode()
    }
}

/// The retention the server was configured with, in days.
pub struct RetentionDays(pub u32);

/// The page a page query reads when the client gives none, or null.
const DEFAULT_PAGE: i32 = 1;
/// The page size of a page query when the client gives none, or null.
const DEFAULT_PER_PAGE: i32 = 50;
/// How many `recentActivities` returns when the client gives no limit, or null.
const DEFAULT_LIMIT: i32 = 20;

/// A GraphQL size argument as the service's unsigned size; negative means 0,
/// which the service refuses with a clear message.
fn size(n: i32) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn filter(f: Option<ActivityFilterInput>) -> ActivityFilter {
    f.map(Into::into).unwrap_or_default()
}

/// Read operations on the activity feed.
#[derive(Default)]
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Matching activities by numbered page, newest first.
    #[graphql(complexity = "SCAN + list_cost(per_page, child_complexity)")]
    async fn activities(
        &self,
        ctx: &Context<'_>,
        filter: Option<ActivityFilterInput>,
        #[graphql(default_with = "Some(DEFAULT_PAGE)")] page: Option<i32>,
        #[graphql(default_with = "Some(DEFAULT_PER_PAGE)")] per_page: Option<i32>,
    ) -> Result<ActivityPage> {
        page_of(ctx, self::filter(filter), page, per_page).await
    }

    /// Activities a person performed (as actor), by numbered page, newest first.
    #[graphql(complexity = "SCAN + list_cost(per_page, child_complexity)")]
    async fn activities_for_user(
        &self,
        ctx: &Context<'_>,
        user_uuid: Uuid,
        filter: Option<ActivityFilterInput>,
        #[graphql(default_with = "Some(DEFAULT_PAGE)")] page: Option<i32>,
        #[graphql(default_with = "Some(DEFAULT_PER_PAGE)")] per_page: Option<i32>,
    ) -> Result<ActivityPage> {
        let mut filter = self::filter(filter);
        filter.within_actor = Some(user_uuid);
        page_of(ctx, filter, page, per_page).await
    }

    /// Matching activities as a Relay connection, newest first. Keyset-paged
    /// on (insertedAt, uuid), so a page deep in history costs what the first costs.
    #[graphql(complexity = "STATEMENT + list_cost(first.or(last), child_complexity)")]
    async fn activity_feed(
        &self,
        ctx: &Context<'_>,
        filter: Option<ActivityFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<FeedCursor, Activity>> {
        let (feed, caller) = service(ctx)?;
        let filter = self::filter(filter);
        let conn = connection::query(
            after,
            before,
            first,
            last,
            |after: Option<FeedCursor>, before: Option<FeedCursor>, first, last| async move {
                let look = ctx.look_ahead();
                let nodes = [look.field("edges").field("node"), look.field("nodes")];
                let args = FeedArgs {
                    after: after.map(|c| c.0),
                    before: before.map(|c| c.0),
                    first: first.map(|n| n as u64),
                    last: last.map(|n| n as u64),
                    actors: nodes.iter().any(|n| n.field("actor").exists()),
                };
                let slice = feed.feed(&caller, &filter, args).await.graphql()?;
                prefetch_people(ctx, &slice.entries, &nodes, slice.actors).await?;
                let mut conn = Connection::new(slice.has_previous_page, slice.has_next_page);
                conn.edges.extend(
                    slice
                        .entries
                        .into_iter()
                        .map(|row| Edge::new(FeedCursor(Cursor::of(&row)), Activity::read(row))),
                );
                Ok::<_, async_graphql::Error>(conn)
            },
        )
        .await;
        // The helper's own argument errors carry no code; they are all bad input.
        conn.map_err(|e| match e.extensions {
            Some(_) => e,
            None => e.extend_with(|_, ext| ext.set("code", BAD_USER_INPUT)),
        })
    }

    /// Matching activities collapsed into groups, newest group first, as a
    /// Relay connection: within one action and resource (resourceType +
    /// resourceUuid), an activity joins the group of the one before it when at
    /// most `window` seconds (0 to a year) lie between them. Each group has
    /// its count, first few distinct actors and time span.
    #[graphql(complexity = "SCAN + list_cost(first, child_complexity)")]
    async fn grouped_activities(
        &self,
        ctx: &Context<'_>,
        filter: Option<ActivityFilterInput>,
        #[graphql(default = 3600)] window: i32,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<FeedCursor, ActivityGroup>> {
        let (feed, caller) = service(ctx)?;
        let filter = self::filter(filter);
        let after = after
            .map(|c| {
                Cursor::decode(&c).ok_or_else(|| coded(BAD_USER_INPUT, "after: invalid cursor"))
            })
            .transpose()?;
        let args = GroupArgs {
            window_secs: i64::from(window),
            first: first.map(size),
            after,
        };
        let slice = feed.grouped(&caller, &filter, args).await.graphql()?;
        let mut conn = Connection::new(slice.has_previous_page, slice.has_next_page);
        conn.edges.extend(
            slice
                .groups
                .into_iter()
                .map(|group| Edge::new(FeedCursor(group.cursor()), ActivityGroup(group))),
        );
        Ok(conn)
    }

    /// The newest activities.
    #[graphql(
        complexity = "STATEMENT + list_cost(limit.or(Some(DEFAULT_LIMIT)), child_complexity)"
    )]
    async fn recent_activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(DEFAULT_LIMIT)")] limit: Option<i32>,
    ) -> Result<Vec<Activity>> {
        let (feed, caller) = service(ctx)?;
        let rows = feed
            .recent(
                &caller,
                &ActivityFilter::default(),
                size(limit.unwrap_or(DEFAULT_LIMIT)),
            )
            .await
            .graphql()?;
        prefetch_people(ctx, &rows, &[ctx.look_ahead()], None).await?;
        Ok(rows.into_iter().map(Activity::read).collect())
    }

    /// One activity by id; null when there is none, or when the caller may not see it.
    #[graphql(complexity = "STATEMENT + child_complexity")]
    async fn activity(&self, ctx: &Context<'_>, uuid: Uuid) -> Result<Option<Activity>> {
        let (feed, caller) = service(ctx)?;
        Ok(feed.get(&caller, uuid).await.graphql()?.map(Activity::read))
    }

    /// How many activities match.
    #[graphql(complexity = "SCAN")]
    async fn activity_count(
        &self,
        ctx: &Context<'_>,
        filter: Option<ActivityFilterInput>,
    ) -> Result<u64> {
        let (feed, caller) = service(ctx)?;
        feed.count(&caller, &self::filter(filter)).await.graphql()
    }

    /// Matching activities counted by group: largest first, or in time order for DAY and HOUR.
    #[graphql(complexity = "SCAN + child_complexity")]
    async fn activity_counts(
        &self,
        ctx: &Context<'_>,
        filter: Option<ActivityFilterInput>,
        group_by: ActivityGroupBy,
    ) -> Result<Vec<CountBucket>> {
        let (feed, caller) = service(ctx)?;
        let buckets = feed
            .counts(&caller, &self::filter(filter), group_by.into())
            .await
            .graphql()?;
        Ok(buckets.into_iter().map(Into::into).collect())
    }

    /// Every action that has been logged, sorted.
    #[graphql(complexity = "SCAN")]
    async fn action_types(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        distinct(ctx, Column::Action).await
    }

    /// Every mode that has been logged, sorted.
    #[graphql(complexity = "SCAN")]
    async fn modes(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        distinct(ctx, Column::Mode).await
    }

    /// Every module that has been logged, sorted.
    #[graphql(complexity = "SCAN")]
    async fn modules(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        distinct(ctx, Column::Module).await
    }

    /// Every resource type that has been logged, sorted.
    #[graphql(complexity = "SCAN")]
    async fn resource_types(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        distinct(ctx, Column::ResourceType).await
    }

    /// How many days activities are kept before the retention job deletes them.
    async fn retention_days(&self, ctx: &Context<'_>) -> Result<u32> {
        service(ctx)?;
        Ok(ctx.data::<RetentionDays>()?.0)
    }

    /// The dashboard badge class for an action.
    async fn action_badge_color(&self, ctx: &Context<'_>, action: String) -> Result<&'static str> {
        service(ctx)?;
        Ok(badge::action_badge_color(&action))
    }

    /// The dashboard badge class for a mode.
    async fn mode_badge_color(
        &self,
        ctx: &Context<'_>,
        mode: Option<String>,
    ) -> Result<&'static str> {
        service(ctx)?;
        Ok(badge::mode_badge_color(mode.as_deref()))
    }

    /// One person by uuid; null when unknown. A user may only look up themselves.
    #[graphql(complexity = "STATEMENT + child_complexity")]
    async fn user(&self, ctx: &Context<'_>, uuid: Uuid) -> Result<Option<User>> {
        let (feed, caller) = service(ctx)?;
        Ok(feed.user(&caller, uuid).await.graphql()?.map(User))
    }
}

async fn distinct(ctx: &Context<'_>, column: Column) -> Result<Vec<String>> {
    let (feed, caller) = service(ctx)?;
    feed.distinct(&caller, column).await.graphql()
}

async fn page_of(
    ctx: &Context<'_>,
    filter: ActivityFilter,
    page: Option<i32>,
    per_page: Option<i32>,
) -> Result<ActivityPage> {
    let (feed, caller) = service(ctx)?;
    let page = size(page.unwrap_or(DEFAULT_PAGE));
    let per_page = size(per_page.unwrap_or(DEFAULT_PER_PAGE));
    let look = ctx.look_ahead();
    let entries = look.field("entries");
    let args = PageArgs {
        page,
        per_page,
        total: look.field("total").exists() || look.field("totalPages").exists(),
        actors: entries.field("actor").exists(),
    };
    let result = feed.page(&caller, &filter, args).await.graphql()?;
    prefetch_people(ctx, &result.entries, &[entries], result.actors).await?;
    Ok(ActivityPage {
        entries: result.entries.into_iter().map(Activity::read).collect(),
        total: result.total,
        page,
        per_page,
    })
}
