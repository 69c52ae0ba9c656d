//! Relay connections: the activity feed (also a person's activities) and
//! activity groups, and people found by `users(search:)`, each with its own described types, `totalCount` counted
//! only when selected, and Relay's slice arguments read in one place.

use async_graphql::{ComplexObject, Context, Result, SimpleObject};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

use super::context::service;
use super::error::{coded, IntoGraphql, BAD_USER_INPUT};
use super::limits::SCAN;
use super::loaders::prefetch_people;
use super::types::{Activity, ActivityGroup, User};
use crate::service::{ActivityFilter, Cursor, FeedArgs};

/// The page size the feed reads when neither `first` nor `last` is given.
pub const DEFAULT_FEED_SIZE: i32 = 50;
/// The page size `groupedActivities` reads when `first` is not given.
pub const DEFAULT_GROUPS: i32 = 20;

/// Information about pagination in a connection.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// When paginating backwards, are there more items?
    pub has_previous_page: bool,
    /// When paginating forwards, are there more items?
    pub has_next_page: bool,
    /// When paginating backwards, the cursor to continue.
    pub start_cursor: Option<String>,
    /// When paginating forwards, the cursor to continue.
    pub end_cursor: Option<String>,
}

/// An activity and its place in a connection.
#[derive(SimpleObject)]
pub struct ActivityEdge {
    /// The item at the end of the edge
    pub node: Activity,
    /// A cursor for use in pagination
    pub cursor: String,
}

/// A slice of activities, newest first, keyset-paged on (insertedAt, uuid).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ActivityConnection {
    /// Information to aid in pagination.
    pub page_info: PageInfo,
    /// A list of edges.
    pub edges: Vec<ActivityEdge>,
    /// How many activities match in all, counted exactly when selected.
    #[graphql(skip)]
    pub total: Option<u64>,
}

#[ComplexObject]
impl ActivityConnection {
    /// A list of nodes.
    async fn nodes(&self) -> Vec<&Activity> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    /// How many activities match the filter in all (one more statement,
    /// run only when this field is selected).
    #[graphql(complexity = "SCAN")]
    async fn total_count(&self) -> Result<u64> {
        self.total.ok_or_else(|| {
            super::error::internal("a connection's total was asked for but not counted")
        })
    }
}

/// An activity group and its place in a connection.
#[derive(SimpleObject)]
pub struct ActivityGroupEdge {
    /// The item at the end of the edge
    pub node: ActivityGroup,
    /// A cursor for use in pagination
    pub cursor: String,
}

/// A slice of activity groups, newest group first.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ActivityGroupConnection {
    /// Information to aid in pagination.
    pub page_info: PageInfo,
    /// A list of edges.
    pub edges: Vec<ActivityGroupEdge>,
}

#[ComplexObject]
impl ActivityGroupConnection {
    /// A list of nodes.
    async fn nodes(&self) -> Vec<&ActivityGroup> {
        self.edges.iter().map(|e| &e.node).collect()
    }
}

/// Relay's slice arguments as the client sent them.
pub struct FeedArgsInput {
    /// The newest this many of what follows `after`.
    pub first: Option<i32>,
    /// An edge cursor.
    pub after: Option<String>,
    /// The oldest this many of what precedes `before`.
    pub last: Option<i32>,
    /// An edge cursor.
    pub before: Option<String>,
}

/// An edge cursor argument, or BAD_USER_INPUT naming it.
pub fn edge_cursor(name: &str, value: Option<String>) -> Result<Option<Cursor>> {
    value
        .map(|c| {
            Cursor::decode(&c)
                .ok_or_else(|| coded(BAD_USER_INPUT, format!("{name}: invalid cursor")))
        })
        .transpose()
}

/// A size argument, or BAD_USER_INPUT when negative (the service checks the cap).
pub fn slice_size(name: &str, value: Option<i32>) -> Result<Option<u64>> {
    value
        .map(|n| {
            u64::try_from(n)
                .map_err(|_| coded(BAD_USER_INPUT, format!("{name}: must not be negative")))
        })
        .transpose()
}

/// The activities of `filter` as a connection, reading the actors in the
/// same statement and counting the total only when the query selects them.
pub async fn activities(
    ctx: &Context<'_>,
    filter: ActivityFilter,
    args: FeedArgsInput,
) -> Result<ActivityConnection> {
    let (feed, caller) = service(ctx)?;
    let look = ctx.look_ahead();
    let nodes = [look.field("edges").field("node"), look.field("nodes")];
    let args = FeedArgs {
        after: edge_cursor("after", args.after)?,
        before: edge_cursor("before", args.before)?,
        first: slice_size("first", args.first)?,
        last: slice_size("last", args.last)?,
        actors: nodes.iter().any(|n| n.field("actor").exists()),
    };
    let slice = feed.feed(&caller, &filter, args).await.graphql()?;
    let total = match look.field("totalCount").exists() {
        true => Some(feed.count(&caller, &filter).await.graphql()?),
        false => None,
    };
    prefetch_people(ctx, &slice.entries, &nodes, slice.actors).await?;
    let edges: Vec<ActivityEdge> = slice
        .entries
        .into_iter()
        .map(|row| ActivityEdge {
            cursor: Cursor::of(&row).encode(),
            node: Activity::read(row),
        })
        .collect();
    Ok(ActivityConnection {
        page_info: PageInfo {
            has_previous_page: slice.has_previous_page,
            has_next_page: slice.has_next_page,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        },
        edges,
        total,
    })
}

/// The page size `users` reads when `first` is not given.
pub const DEFAULT_USERS: i32 = 10;

/// A person and their place in a connection.
#[derive(SimpleObject)]
pub struct UserEdge {
    /// The item at the end of the edge
    pub node: User,
    /// A cursor for use in pagination
    pub cursor: String,
}

/// A slice of people, in uuid order.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct UserConnection {
    /// Information to aid in pagination.
    pub page_info: PageInfo,
    /// A list of edges.
    pub edges: Vec<UserEdge>,
}

#[ComplexObject]
impl UserConnection {
    /// A list of nodes.
    async fn nodes(&self) -> Vec<&User> {
        self.edges.iter().map(|e| &e.node).collect()
    }
}

/// The prefix that tells a person's cursor from an activity's.
const USER_CURSOR: &str = "user:";

/// A person's edge cursor: URL-safe base64 of "user:uuid".
pub fn user_cursor(uuid: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{USER_CURSOR}{}", uuid.simple()))
}

/// A person's edge cursor argument, or BAD_USER_INPUT naming it.
pub fn user_edge_cursor(name: &str, value: Option<String>) -> Result<Option<Uuid>> {
    value
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(&c)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| Uuid::parse_str(text.strip_prefix(USER_CURSOR)?).ok())
                .ok_or_else(|| coded(BAD_USER_INPUT, format!("{name}: invalid cursor")))
        })
        .transpose()
}

/// People matching `search` that the caller may see, as a connection.
pub async fn users(
    ctx: &Context<'_>,
    search: &str,
    first: Option<i32>,
    after: Option<String>,
) -> Result<UserConnection> {
    let (feed, caller) = service(ctx)?;
    let first = slice_size("first", first.or(Some(DEFAULT_USERS)))?.unwrap_or(0);
    let after = user_edge_cursor("after", after)?;
    let slice = feed
        .search_users(&caller, search, first, after)
        .await
        .graphql()?;
    let edges: Vec<UserEdge> = slice
        .users
        .into_iter()
        .map(|u| UserEdge {
            cursor: user_cursor(u.uuid),
            node: User(u),
        })
        .collect();
    Ok(UserConnection {
        page_info: PageInfo {
            has_previous_page: after.is_some(),
            has_next_page: slice.has_next_page,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        },
        edges,
    })
}
