//! The schema's object graph: an activity shows its actor, a `User`, whose
//! `activities` are a connection of activities. Types that name each other
//! like that are one unit, so the objects and the connections that list
//! them live here together; inputs are in [`super::input`] and mutation
//! payloads in [`super::payload`].

use async_graphql::{ComplexObject, Context, Enum, Object, Result, SimpleObject, Union, ID};
use entity::{activity, user};
use serde_json::Value;
use uuid::Uuid;

use super::connection::{
    edge_cursor, slice_size, user_cursor, user_edge_cursor, FeedArgsInput, DEFAULT_USERS,
};
use super::context::service;
use super::error::{internal, IntoGraphql};
use super::id::{global_id, opaque, Kind};
use super::input::{filter_of, ActivityFilterInput, ActivityGroupBy};
use super::limits::{list_cost, SCAN, STATEMENT};
use super::loaders::{
    load_user, load_user_fresh, prefetch_people, resource_user_uuid, RequestUsers,
};
use super::scalars::{format_utc, DateTime, Json};
use crate::service::{self, badge, ActivityFilter, Cursor, FeedArgs};

/// One logged business action, and how it reached the client.
pub struct Activity(pub activity::Model, pub Delivery);

/// How an activity reached the client, which decides what its cursor says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Read by a query: a list in time order may hold a row whose position
    /// is above rows not yet committed, and a client that resumes after its
    /// newest row means "everything I have not listed", so the cursor is
    /// kept at or below the request's [`ReadFloor`].
    Read,
    /// Delivered live or replayed (everything below it was delivered
    /// first), or just written by the caller: the cursor is its own position.
    Exact,
}

impl Activity {
    /// An activity read by a query.
    pub fn read(row: activity::Model) -> Self {
        Self(row, Delivery::Read)
    }

    /// An activity delivered by a subscription, or written by a mutation.
    pub fn exact(row: activity::Model) -> Self {
        Self(row, Delivery::Exact)
    }

    /// The person with `uuid`: through the request's cache for an activity
    /// a query read, and as they are now for one delivered live or just
    /// written, whose request may have begun long before (see
    /// [`super::loaders::FreshUsers`]).
    async fn person(&self, ctx: &Context<'_>, uuid: Option<Uuid>) -> Result<Option<User>> {
        let found = match self.1 {
            Delivery::Read => load_user(ctx, uuid).await?,
            Delivery::Exact => load_user_fresh(ctx, uuid).await?,
        };
        Ok(found.map(User))
    }
}

/// The position at or below which every row was finished before the
/// request read anything (see [`crate::service::Live::floor`]); `None` when
/// every visible row is released (SQLite).
#[derive(Debug, Clone, Copy)]
pub struct ReadFloor(pub Option<service::Position>);

/// The person with `uuid`, as the request's loaders find them.
async fn person(ctx: &Context<'_>, uuid: Option<Uuid>) -> Result<Option<User>> {
    Ok(load_user(ctx, uuid).await?.map(User))
}

/// One logged business action: who did what to which resource, and when.
#[Object]
impl Activity {
    /// An opaque id, unique across types, that `node(id:)` reads back; the
    /// key client caches store the activity under.
    pub async fn id(&self) -> ID {
        global_id(Kind::Activity, self.0.uuid)
    }
    /// Time-ordered unique id (UUIDv7).
    async fn uuid(&self) -> Uuid {
        self.0.uuid
    }
    /// What happened, e.g. "post.created".
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// The part of the platform that logged it.
    async fn module(&self) -> Option<&str> {
        self.0.module.as_deref()
    }
    /// How it was triggered: "manual", "auto", "cron", "script", …
    async fn mode(&self) -> Option<&str> {
        self.0.mode.as_deref()
    }
    /// Who performed it.
    async fn actor_uuid(&self) -> Option<Uuid> {
        self.0.actor_uuid
    }
    /// The person who performed it; null when unknown.
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        self.person(ctx, self.0.actor_uuid).await
    }
    /// The kind of thing acted upon, e.g. "post" or "user".
    async fn resource_type(&self) -> Option<&str> {
        self.0.resource_type.as_deref()
    }
    /// The thing acted upon.
    async fn resource_uuid(&self) -> Option<Uuid> {
        self.0.resource_uuid
    }
    /// The thing acted upon, when its type is one the API resolves (today
    /// "user", as a User); null otherwise or when unknown.
    async fn resource(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Resource>> {
        Ok(self
            .person(ctx, resource_user_uuid(&self.0))
            .await?
            .map(Resource::User))
    }
    /// The person acted upon, when resourceType is "user"; null otherwise or when unknown.
    #[graphql(
        deprecation = "Use `resource { ... on User { ... } }`, which other resource types can join."
    )]
    async fn resource_user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        self.person(ctx, resource_user_uuid(&self.0)).await
    }
    /// The person the action was aimed at.
    async fn target_uuid(&self) -> Option<Uuid> {
        self.0.target_uuid
    }
    /// The person the action was aimed at; null when unknown.
    async fn target(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        self.person(ctx, self.0.target_uuid).await
    }
    /// Free-form details; always a JSON object.
    async fn metadata(&self) -> Json<&Value> {
        Json(&self.0.metadata)
    }
    /// The metadata as one line for people: {"from": a, "to": b} and
    /// x_from/x_to pairs as "a → b", maps as "key: value, …", lists joined
    /// with commas, null as nothing.
    async fn metadata_text(&self) -> String {
        crate::service::humanize::metadata_text(&self.0.metadata)
    }
    /// Groups the activities one request, job or import wrote.
    async fn correlation_id(&self) -> Option<&str> {
        self.0.correlation_id.as_deref()
    }
    /// The caller's IP address, when the deployment records request context.
    async fn client_ip(&self) -> Option<&str> {
        self.0.client_ip.as_deref()
    }
    /// The caller's user agent, when the deployment records request context.
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }
    /// When the server stored it (UTC, microsecond precision).
    async fn inserted_at(&self) -> DateTime {
        DateTime(self.0.inserted_at)
    }
    /// Where this activity stands in the order activities become visible:
    /// pass it as `after` to activityAdded to get exactly what follows. Read
    /// by a query just after it was written, it may name an earlier position
    /// below which everything had committed, so resuming from it may repeat
    /// rows you have (match them by uuid) and never skips one.
    async fn cursor(&self, ctx: &Context<'_>) -> String {
        let own = service::Position::of(&self.0);
        let floor = match self.1 {
            Delivery::Exact => None,
            Delivery::Read => ctx.data_opt::<ReadFloor>().and_then(|f| f.0),
        };
        floor.map_or(own, |f| f.min(own)).encode()
    }
    /// How the action should look; a front end maps tones to its colours.
    async fn action_tone(&self) -> Tone {
        badge::action_tone(&self.0.action).into()
    }
    /// How the mode should look; a front end maps tones to its colours.
    async fn mode_tone(&self) -> Tone {
        badge::mode_tone(self.0.mode.as_deref()).into()
    }
    /// Dashboard badge class for the action.
    #[graphql(deprecation = "Use `actionTone` and map tones to your own classes.")]
    async fn action_badge_color(&self) -> &'static str {
        badge::action_badge_color(&self.0.action)
    }
    /// Dashboard badge class for the mode.
    #[graphql(deprecation = "Use `modeTone` and map tones to your own classes.")]
    async fn mode_badge_color(&self) -> &'static str {
        badge::mode_badge_color(self.0.mode.as_deref())
    }
}

/// Consecutive activities of one action on one resource, each within the
/// window of the one before: "Alice and 3 others liked your post".
pub struct ActivityGroup {
    /// The group as the service found it.
    pub group: service::ActivityGroup,
    /// The window, in seconds, it was grouped with: part of its identity.
    pub window: i32,
}

/// Consecutive activities of one action on one resource, each within the
/// window of the one before: "Alice and 3 others liked your post".
#[Object]
impl ActivityGroup {
    /// A stable opaque id for client caches: the same group (action,
    /// resource, oldest activity and window) has the same id in every
    /// response, while newer activities join it.
    async fn id(&self) -> ID {
        let g = &self.group;
        opaque(&format!(
            "ActivityGroup:{}:{}:{}:{}:{}",
            g.latest.action,
            g.latest.resource_type.as_deref().unwrap_or_default(),
            g.latest
                .resource_uuid
                .map(|u| u.to_string())
                .unwrap_or_default(),
            format_utc(g.first_at),
            self.window
        ))
    }
    /// The action of every activity in the group.
    async fn action(&self) -> &str {
        &self.group.latest.action
    }
    /// The resource type of every activity in the group.
    async fn resource_type(&self) -> Option<&str> {
        self.group.latest.resource_type.as_deref()
    }
    /// The resource of every activity in the group.
    async fn resource_uuid(&self) -> Option<Uuid> {
        self.group.latest.resource_uuid
    }
    /// The thing acted upon, as `Activity.resource` resolves it.
    async fn resource(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Resource>> {
        Ok(person(ctx, resource_user_uuid(&self.group.latest))
            .await?
            .map(Resource::User))
    }
    /// How many activities the group holds.
    async fn count(&self) -> u64 {
        self.group.count
    }
    /// How many distinct actors performed them.
    async fn actor_count(&self) -> u64 {
        self.group.actor_count
    }
    /// The first few (at most 3) distinct actors, in the order they first acted.
    async fn actor_uuids(&self) -> &[Uuid] {
        &self.group.actor_uuids
    }
    /// The people of actorUuids, in the same order; unknown people are left out.
    async fn actors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        let loader = ctx.data::<RequestUsers>()?;
        let mut found = loader
            .load_many(self.group.actor_uuids.iter().copied())
            .await
            .map_err(internal)?;
        Ok(self
            .group
            .actor_uuids
            .iter()
            .filter_map(|uuid| found.remove(uuid).flatten().map(User))
            .collect())
    }
    /// When the group's oldest activity was stored.
    async fn first_at(&self) -> DateTime {
        DateTime(self.group.first_at)
    }
    /// When the group's newest activity was stored.
    async fn last_at(&self) -> DateTime {
        DateTime(self.group.last_at)
    }
    /// The group's newest activity.
    async fn latest(&self) -> Activity {
        Activity::read(self.group.latest.clone())
    }
}

/// A person who appears as actor, target or resource of activities.
pub struct User(pub user::Model);

/// A person who appears as actor, target or resource of activities.
#[Object]
impl User {
    /// An opaque id, unique across types, that `node(id:)` reads back; the
    /// key client caches store the person under.
    pub async fn id(&self) -> ID {
        global_id(Kind::User, self.0.uuid)
    }
    /// The host platform's id for this person.
    async fn uuid(&self) -> Uuid {
        self.0.uuid
    }
    /// Contact address.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    /// Given name.
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }
    /// Family name.
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }
    /// The activities this person performed (as actor), newest first, as a
    /// Relay connection like `activityFeed`.
    #[graphql(complexity = "STATEMENT + list_cost(first.or(last), child_complexity)")]
    async fn activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Further conditions on the activities.")] filter: Option<
            ActivityFilterInput,
        >,
        #[graphql(
            desc = "The newest this many of what follows `after` (0 to the page cap, 500 by default); 50 when neither first nor last is given."
        )]
        first: Option<i32>,
        #[graphql(desc = "An edge cursor: only activities older than it.")] after: Option<String>,
        #[graphql(desc = "The oldest this many of what precedes `before` (0 to the page cap).")]
        last: Option<i32>,
        #[graphql(desc = "An edge cursor: only activities newer than it.")] before: Option<String>,
    ) -> async_graphql::Result<ActivityConnection> {
        let mut filter = filter_of(filter)?;
        filter.within_actor = Some(self.0.uuid);
        let args = FeedArgsInput {
            first,
            after,
            last,
            before,
        };
        activities(ctx, filter, args).await
    }
}

/// What an activity was done to, when the API knows the type: each member
/// is a type a client can ask for with `... on Type`.
#[derive(Union)]
pub enum Resource {
    /// A person, for resourceType "user".
    User(User),
}

/// How an action or a mode should look; front ends map tones to colours.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Tone {
    /// Something was made.
    Success,
    /// Something was removed.
    Error,
    /// Something was changed, or done by hand.
    Warning,
    /// A reaction, or done automatically.
    Info,
    /// Anything else.
    Neutral,
}

impl From<badge::Tone> for Tone {
    fn from(t: badge::Tone) -> Self {
        match t {
            badge::Tone::Success => Self::Success,
            badge::Tone::Error => Self::Error,
            badge::Tone::Warning => Self::Warning,
            badge::Tone::Info => Self::Info,
            badge::Tone::Neutral => Self::Neutral,
        }
    }
}

/// Who the request's credentials say is calling.
pub struct Viewer(
    pub service::Caller,
    pub Option<chrono::DateTime<chrono::Utc>>,
);

/// A caller's role.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    /// Everything, including pruning.
    Admin,
    /// A trusted producer: writes activities and people, reads the whole log.
    Service,
    /// A person: reads only the activities they performed, writes nothing.
    User,
}

/// Who the request's credentials say is calling, so that a client need not
/// decode its own token.
#[Object]
impl Viewer {
    /// What the caller may do.
    async fn role(&self) -> Role {
        match self.0.role {
            service::Role::Admin => Role::Admin,
            service::Role::Service => Role::Service,
            service::Role::User => Role::User,
        }
    }
    /// The token's subject (`sub`) as a uuid; null in open development mode
    /// and for tokens without one.
    async fn uuid(&self) -> Option<Uuid> {
        self.0.subject
    }
    /// The caller as a stored person; null when the subject is unknown or absent.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        person(ctx, self.0.subject).await
    }
    /// When the credentials expire; null when they do not (open development mode).
    async fn expires_at(&self) -> Option<DateTime> {
        self.1.map(DateTime)
    }
}

/// One numbered page of activities.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ActivityPage {
    /// The activities on this page, newest first.
    pub entries: Vec<Activity>,
    /// This page's number, from 1.
    pub page: u64,
    /// The page size asked for.
    pub per_page: u64,
    /// How many activities match in all: counted with the page exactly when
    /// the query selects `total` or `totalPages` (look-ahead sees through
    /// fragments), so the fields below always find it.
    #[graphql(skip)]
    pub total: Option<u64>,
}

impl ActivityPage {
    fn counted_total(&self) -> async_graphql::Result<u64> {
        self.total
            .ok_or_else(|| internal("a page's total was asked for but not counted"))
    }
}

#[ComplexObject]
impl ActivityPage {
    /// How many activities match the filter in all.
    async fn total(&self) -> async_graphql::Result<u64> {
        self.counted_total()
    }
    /// How many pages there are; at least 1, even when nothing matches.
    async fn total_pages(&self) -> async_graphql::Result<u64> {
        Ok(self.counted_total()?.div_ceil(self.per_page).max(1))
    }
}

/// A group of a grouped count.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CountBucket {
    /// The group's value; null for activities where it is not set.
    pub key: Option<String>,
    /// How many activities fall in the group.
    pub count: u64,
    /// What the activities were grouped by.
    #[graphql(skip)]
    pub group_by: ActivityGroupBy,
}

#[ComplexObject]
impl CountBucket {
    /// With groupBy ACTOR, the person whose uuid is the key; null for other
    /// groupings, activities without an actor, and unknown people.
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        if self.group_by != ActivityGroupBy::Actor {
            return Ok(None);
        }
        let uuid = self.key.as_deref().and_then(|k| Uuid::parse_str(k).ok());
        person(ctx, uuid).await
    }
}

impl CountBucket {
    /// A service bucket of a count grouped by `group_by`.
    pub fn new(b: service::Bucket, group_by: ActivityGroupBy) -> Self {
        Self {
            key: b.key,
            count: b.count,
            group_by,
        }
    }
}

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
        self.total
            .ok_or_else(|| internal("a connection's total was asked for but not counted"))
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
