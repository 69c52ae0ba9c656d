//! The read side of the API: the `Query` root, one unit because
//! async-graphql takes a root's fields from one `#[Object]` impl.

use async_graphql::{Context, Object, Result, ID};
use entity::activity::Column;
use uuid::Uuid;

use super::chain::{self, LogHead, LogHeadInput, LogVerification};
use super::connection::{edge_cursor, slice_size, FeedArgsInput, DEFAULT_GROUPS, DEFAULT_USERS};
use super::context::{identity, service};
use super::error::{coded, IntoGraphql};
use super::id::{self, Kind};
use super::input::{filter_of, ActivityFilterInput, ActivityGroupBy};
use super::limits::{list_cost, SCAN, STATEMENT};
use super::loaders::prefetch_people;
use super::node::Node;
use super::types::{
    self, Activity, ActivityConnection, ActivityGroup, ActivityGroupConnection, ActivityGroupEdge,
    ActivityPage, CountBucket, PageInfo, Tone, User, UserConnection, Viewer,
};
use crate::service::{badge, ActivityFilter, ErrorCode, GroupArgs, PageArgs, MAX_UUIDS_PER_READ};

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

/// Read operations on the activity feed.
#[derive(Default)]
pub struct QueryRoot;

/// Read operations: activities (by page, by cursor, grouped, counted), people, objects by id.
#[Object(name = "Query")]
impl QueryRoot {
    /// Who the request's credentials say is calling: role, uuid and stored person.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        let identity = identity(ctx)?;
        Ok(Viewer(identity.caller, identity.expires_at))
    }

    /// The object with this global id (an `id` field's value); null when
    /// there is none or the caller may not see it.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A global id, as an `id` field gave it.")] id: ID,
    ) -> Result<Option<Node>> {
        Ok(read_nodes(ctx, "id", vec![id]).await?.pop().flatten())
    }

    /// The objects with these global ids (at most 100), in the order asked;
    /// null for each there is none of, or the caller may not see.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global ids, as `id` fields gave them; at most 100.")] ids: Vec<ID>,
    ) -> Result<Vec<Option<Node>>> {
        read_nodes(ctx, "ids", ids).await
    }

    /// The newest sealed position of the log and its chain hash, signed with
    /// the server's key. Keep heads elsewhere, and check the log against
    /// them with `verifyLog(head:)`.
    async fn log_head(&self, ctx: &Context<'_>) -> Result<LogHead> {
        let (feed, caller) = service(ctx)?;
        Ok(feed.log_head(&caller).await.graphql()?.into())
    }

    /// Recomputes the hash chain (admin only) over the sealed rows from
    /// `from` to `to` (both inclusive; the whole log when omitted), and
    /// checks `head` against it; names the first position that fails and why.
    #[graphql(complexity = "SCAN")]
    async fn verify_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The first position to check, as a cursor; the oldest kept row when omitted."
        )]
        from: Option<String>,
        #[graphql(desc = "The last position to check, as a cursor; the newest seal when omitted.")]
        to: Option<String>,
        #[graphql(desc = "A head kept earlier: the chain must reach it with its hash.")]
        head: Option<LogHeadInput>,
    ) -> Result<LogVerification> {
        let (feed, caller) = service(ctx)?;
        let from = from.map(|f| chain::position("from", &f)).transpose()?;
        let to = to.map(|t| chain::position("to", &t)).transpose()?;
        let head = head.map(LogHeadInput::into_head).transpose()?;
        Ok(feed
            .verify_log(&caller, from, to, head.as_ref())
            .await
            .graphql()?
            .into())
    }

    /// Matching activities by numbered page, newest first; for page/perPage
    /// screens. `activityFeed` pages by cursor.
    #[graphql(complexity = "SCAN + list_cost(per_page, child_complexity)")]
    async fn activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions every activity listed meets.")] filter: Option<
            ActivityFilterInput,
        >,
        #[graphql(desc = "The page, from 1.", default_with = "Some(DEFAULT_PAGE)")] page: Option<
            i32,
        >,
        #[graphql(
            desc = "Activities per page, 1 to the page cap (500 by default).",
            default_with = "Some(DEFAULT_PER_PAGE)"
        )]
        per_page: Option<i32>,
    ) -> Result<ActivityPage> {
        page_of(ctx, filter_of(filter)?, page, per_page).await
    }

    /// Activities a person performed (as actor), by numbered page, newest first.
    #[graphql(
        complexity = "SCAN + list_cost(per_page, child_complexity)",
        deprecation = "Use `user(uuid:) { activities(first:) }`, a Relay connection with totalCount."
    )]
    async fn activities_for_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The person who performed the activities.")] user_uuid: Uuid,
        #[graphql(desc = "Further conditions on the activities.")] filter: Option<
            ActivityFilterInput,
        >,
        #[graphql(desc = "The page, from 1.", default_with = "Some(DEFAULT_PAGE)")] page: Option<
            i32,
        >,
        #[graphql(
            desc = "Activities per page, 1 to the page cap (500 by default).",
            default_with = "Some(DEFAULT_PER_PAGE)"
        )]
        per_page: Option<i32>,
    ) -> Result<ActivityPage> {
        let mut filter = filter_of(filter)?;
        filter.within_actor = Some(user_uuid);
        page_of(ctx, filter, page, per_page).await
    }

    /// Matching activities as a Relay connection, newest first. Keyset-paged
    /// on (insertedAt, uuid), so a page deep in history costs what the first costs.
    #[graphql(complexity = "STATEMENT + list_cost(first.or(last), child_complexity)")]
    async fn activity_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions every activity listed meets.")] filter: Option<
            ActivityFilterInput,
        >,
        #[graphql(
            desc = "The newest this many of what follows `after`, 0 to the page cap (500 by default); 50 when neither first nor last is given (not declared as a default, which would send it beside `last`)."
        )]
        first: Option<i32>,
        #[graphql(desc = "An edge cursor: only activities older than it.")] after: Option<String>,
        #[graphql(desc = "The oldest this many of what precedes `before`, 0 to the page cap.")]
        last: Option<i32>,
        #[graphql(desc = "An edge cursor: only activities newer than it.")] before: Option<String>,
    ) -> Result<ActivityConnection> {
        let args = FeedArgsInput {
            first,
            after,
            last,
            before,
        };
        types::activities(ctx, filter_of(filter)?, args).await
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
        #[graphql(desc = "Conditions every grouped activity meets.")] filter: Option<
            ActivityFilterInput,
        >,
        #[graphql(
            desc = "Seconds between consecutive activities of one group, 0 to a year.",
            default = 3600
        )]
        window: i32,
        #[graphql(
            desc = "The newest this many groups of what follows `after`, 0 to the page cap (500 by default).",
            default_with = "Some(DEFAULT_GROUPS)"
        )]
        first: Option<i32>,
        #[graphql(desc = "An edge cursor: only groups older than it.")] after: Option<String>,
    ) -> Result<ActivityGroupConnection> {
        let (feed, caller) = service(ctx)?;
        let filter = filter_of(filter)?;
        let args = GroupArgs {
            window_secs: i64::from(window),
            first: slice_size("first", first.or(Some(DEFAULT_GROUPS)))?,
            after: edge_cursor("after", after)?,
        };
        let slice = feed.grouped(&caller, &filter, args).await.graphql()?;
        let edges: Vec<ActivityGroupEdge> = slice
            .groups
            .into_iter()
            .map(|group| ActivityGroupEdge {
                cursor: group.cursor().encode(),
                node: ActivityGroup { group, window },
            })
            .collect();
        Ok(ActivityGroupConnection {
            page_info: PageInfo {
                has_previous_page: slice.has_previous_page,
                has_next_page: slice.has_next_page,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }

    /// The newest activities.
    #[graphql(
        complexity = "STATEMENT + list_cost(limit.or(Some(DEFAULT_LIMIT)), child_complexity)",
        deprecation = "Use `activityFeed(first:)`, which also pages on."
    )]
    async fn recent_activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "How many, 1 to the page cap.",
            default_with = "Some(DEFAULT_LIMIT)"
        )]
        limit: Option<i32>,
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

    /// One activity by uuid; null when there is none, or when the caller may not see it.
    #[graphql(complexity = "STATEMENT + child_complexity")]
    async fn activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The activity's uuid.")] uuid: Uuid,
    ) -> Result<Option<Activity>> {
        let (feed, caller) = service(ctx)?;
        Ok(feed.get(&caller, uuid).await.graphql()?.map(Activity::read))
    }

    /// How many activities match. With `filter: {after: <cursor>}`: how many
    /// are new since the activity of that cursor.
    #[graphql(complexity = "SCAN")]
    async fn activity_count(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions every activity counted meets.")] filter: Option<
            ActivityFilterInput,
        >,
    ) -> Result<u64> {
        let (feed, caller) = service(ctx)?;
        feed.count(&caller, &filter_of(filter)?).await.graphql()
    }

    /// Matching activities counted by group: largest first, or in time order for DAY and HOUR.
    #[graphql(complexity = "SCAN + child_complexity")]
    async fn activity_counts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions every activity counted meets.")] filter: Option<
            ActivityFilterInput,
        >,
        #[graphql(desc = "What to count by.")] group_by: ActivityGroupBy,
    ) -> Result<Vec<CountBucket>> {
        let (feed, caller) = service(ctx)?;
        let buckets = feed
            .counts(&caller, &filter_of(filter)?, group_by.into())
            .await
            .graphql()?;
        Ok(buckets
            .into_iter()
            .map(|b| CountBucket::new(b, group_by))
            .collect())
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

    /// The tone of an action, as `Activity.actionTone` gives it.
    async fn action_tone(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An action, e.g. \"post.created\".")] action: String,
    ) -> Result<Tone> {
        service(ctx)?;
        Ok(badge::action_tone(&action).into())
    }

    /// The tone of a mode, as `Activity.modeTone` gives it.
    async fn mode_tone(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A mode, e.g. \"manual\"; null for none.")] mode: Option<String>,
    ) -> Result<Tone> {
        service(ctx)?;
        Ok(badge::mode_tone(mode.as_deref()).into())
    }

    /// The dashboard badge class for an action.
    #[graphql(deprecation = "Use `actionTone` and map tones to your own classes.")]
    async fn action_badge_color(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An action, e.g. \"post.created\".")] action: String,
    ) -> Result<&'static str> {
        service(ctx)?;
        Ok(badge::action_badge_color(&action))
    }

    /// The dashboard badge class for a mode.
    #[graphql(deprecation = "Use `modeTone` and map tones to your own classes.")]
    async fn mode_badge_color(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A mode, e.g. \"manual\"; null for none.")] mode: Option<String>,
    ) -> Result<&'static str> {
        service(ctx)?;
        Ok(badge::mode_badge_color(mode.as_deref()))
    }

    /// One person by uuid; null when unknown. A user may only look up themselves.
    #[graphql(complexity = "STATEMENT + child_complexity")]
    async fn user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The person's uuid.")] uuid: Uuid,
    ) -> Result<Option<User>> {
        let (feed, caller) = service(ctx)?;
        Ok(feed.user(&caller, uuid).await.graphql()?.map(User))
    }

    /// People whose name or email holds every word of `search`
    /// (case-insensitive), or whose uuid it is, in uuid order; scoped like
    /// `user(uuid)`: a user finds only themselves.
    #[graphql(complexity = "STATEMENT + list_cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Words to find in first name, last name or email, or a uuid; at most 100 characters. Empty lists everyone visible.",
            default
        )]
        search: String,
        #[graphql(
            desc = "At most this many people after `after`, 0 to 50.",
            default_with = "Some(DEFAULT_USERS)"
        )]
        first: Option<i32>,
        #[graphql(desc = "An edge cursor: only people after it.")] after: Option<String>,
    ) -> Result<UserConnection> {
        types::users(ctx, &search, first, after).await
    }
}

/// The objects of global ids given as argument `arg`, in order: one read per type.
async fn read_nodes(ctx: &Context<'_>, arg: &str, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
    let (feed, caller) = service(ctx)?;
    if ids.len() > MAX_UUIDS_PER_READ {
        return Err(coded(
            ErrorCode::BadUserInput,
            format!("{arg}: at most {MAX_UUIDS_PER_READ} per request"),
        ));
    }
    let parsed: Vec<(Kind, Uuid)> = ids
        .iter()
        .map(|id| {
            id::parse(id).ok_or_else(|| {
                coded(
                    ErrorCode::BadUserInput,
                    format!("{arg}: {} is not a global id", id.as_str()),
                )
            })
        })
        .collect::<Result<_>>()?;
    let wanted = |kind| -> Vec<Uuid> {
        parsed
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, u)| *u)
            .collect()
    };
    let activities = feed
        .get_many(&caller, &wanted(Kind::Activity))
        .await
        .graphql()?;
    let users = feed
        .users_for(&caller, &wanted(Kind::User))
        .await
        .graphql()?;
    Ok(parsed
        .iter()
        .map(|(kind, uuid)| match kind {
            Kind::Activity => activities
                .iter()
                .find(|a| a.uuid == *uuid)
                .map(|a| Node::Activity(Box::new(Activity::read(a.clone())))),
            Kind::User => users
                .iter()
                .find(|u| u.uuid == *uuid)
                .map(|u| Node::User(User(u.clone()))),
        })
        .collect())
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
