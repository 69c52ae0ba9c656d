//! The GraphQL object, input and enum types, each a thin view of a service type.

use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject, Union, ID};
use entity::{activity, user};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::connection::{self, ActivityConnection, FeedArgsInput};
use super::error::{field_error, internal, UserError};
use super::limits::{list_cost, STATEMENT};
use super::loaders::{Prefetched, UserLoader};
use super::node::{global_id, opaque, Kind};
use super::scalars::{format_utc, DateTime, Json};
use crate::service::{self, badge};

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
}

/// The position at or below which every row was finished before the
/// request read anything (see [`crate::service::Live::floor`]); `None` when
/// every visible row is released (SQLite).
#[derive(Debug, Clone, Copy)]
pub struct ReadFloor(pub Option<service::Position>);

/// The person `resourceUser` shows: the resource, when its type is "user".
pub fn resource_user_uuid(row: &activity::Model) -> Option<Uuid> {
    let is_user = row.resource_type.as_deref() == Some("user");
    row.resource_uuid.filter(|_| is_user)
}

/// Loads one person: looked up ahead by the request's list, or through the
/// batching loader.
async fn load_user(ctx: &Context<'_>, uuid: Option<Uuid>) -> async_graphql::Result<Option<User>> {
    let Some(uuid) = uuid else { return Ok(None) };
    if let Some(known) = ctx.data_opt::<Prefetched>().and_then(|p| p.get(uuid)) {
        return Ok(known.map(User));
    }
    let loader = ctx.data::<DataLoader<UserLoader>>()?;
    let user = loader.load_one(uuid).await.map_err(internal)?;
    Ok(user.map(User))
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
        load_user(ctx, self.0.actor_uuid).await
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
        Ok(load_user(ctx, resource_user_uuid(&self.0))
            .await?
            .map(Resource::User))
    }
    /// The person acted upon, when resourceType is "user"; null otherwise or when unknown.
    #[graphql(
        deprecation = "Use `resource { ... on User { ... } }`, which other resource types can join."
    )]
    async fn resource_user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        load_user(ctx, resource_user_uuid(&self.0)).await
    }
    /// The person the action was aimed at.
    async fn target_uuid(&self) -> Option<Uuid> {
        self.0.target_uuid
    }
    /// The person the action was aimed at; null when unknown.
    async fn target(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        load_user(ctx, self.0.target_uuid).await
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
        Ok(load_user(ctx, resource_user_uuid(&self.group.latest))
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
        let loader = ctx.data::<DataLoader<UserLoader>>()?;
        let mut found = loader
            .load_many(self.group.actor_uuids.iter().copied())
            .await
            .map_err(internal)?;
        Ok(self
            .group
            .actor_uuids
            .iter()
            .filter_map(|uuid| found.remove(uuid).map(User))
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
        connection::activities(ctx, filter, args).await
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
        load_user(ctx, self.0.subject).await
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
        load_user(ctx, uuid).await
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

/// Why a piece of input was refused (the shape `errors` fields keep; new
/// code reads `userErrors`, whose `field` is a path and `code` an enum).
#[derive(SimpleObject, Clone)]
pub struct FieldError {
    /// The input field at fault.
    pub field: String,
    /// What is wrong, for people.
    pub message: String,
    /// A stable code for programs, e.g. BAD_USER_INPUT.
    pub code: String,
}

impl From<service::FieldError> for FieldError {
    fn from(e: service::FieldError) -> Self {
        Self {
            field: e.field,
            message: e.message,
            code: e.code.into(),
        }
    }
}

/// The result of `log`: the activity, or why it was refused.
#[derive(SimpleObject)]
pub struct LogPayload {
    /// The stored activity; null when the input was refused.
    pub activity: Option<Activity>,
    /// Whether an earlier `log` with the same idempotency key and input
    /// stored the activity, so that this one wrote nothing.
    pub replayed: bool,
    /// What is wrong with the input, by path (e.g. `["input", "action"]`); empty on success.
    pub user_errors: Vec<UserError>,
    /// What is wrong with the input; empty on success.
    #[graphql(deprecation = "Use `userErrors`: `field` as a path, `code` as an enum.")]
    pub errors: Vec<FieldError>,
}

/// The result of `logActivities`: every activity, or why the batch was refused.
#[derive(SimpleObject)]
pub struct LogActivitiesPayload {
    /// The stored activities in input order; empty when the batch was refused.
    pub activities: Vec<Activity>,
    /// What is wrong, by path (e.g. `["inputs", "3", "action"]`); empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of `logUserChange`.
#[derive(SimpleObject)]
pub struct LogUserChangePayload {
    /// Whether any field actually changed (and so an activity was written).
    pub changed: bool,
    /// The stored activity; null when nothing changed or the input was refused.
    pub activity: Option<Activity>,
    /// What is wrong with the input, by path (e.g. `["input", "changes"]`); empty on success.
    pub user_errors: Vec<UserError>,
    /// What is wrong with the input; empty on success.
    #[graphql(deprecation = "Use `userErrors`: `field` as a path, `code` as an enum.")]
    pub errors: Vec<FieldError>,
}

/// The result of `saveUsers`: the people as stored, or why none was saved.
#[derive(SimpleObject)]
pub struct SaveUsersPayload {
    /// The people as stored, in input order; empty when the input was refused.
    pub users: Vec<User>,
    /// What is wrong, by path (e.g. `["inputs", "0", "firstName"]`); empty on success.
    pub user_errors: Vec<UserError>,
}

/// The result of `pruneActivities`.
#[derive(SimpleObject)]
pub struct PruneActivitiesPayload {
    /// How many activities were deleted; null when the input was refused.
    pub deleted: Option<u64>,
    /// Activities stored before this instant were deleted; null when the input was refused.
    pub cutoff: Option<DateTime>,
    /// What is wrong, by path (e.g. `["days"]`); empty on success.
    pub user_errors: Vec<UserError>,
}

/// What a prune removed.
#[derive(SimpleObject)]
pub struct PruneResult {
    /// How many activities were deleted.
    pub deleted: u64,
    /// Activities stored before this instant were deleted.
    pub cutoff: DateTime,
}

/// How `activityCounts` groups activities.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ActivityGroupBy {
    /// By action.
    Action,
    /// By module.
    Module,
    /// By mode.
    Mode,
    /// By resource type.
    ResourceType,
    /// By actor uuid.
    Actor,
    /// By UTC day; keys look like "2026-11-26".
    Day,
    /// By UTC hour; keys look like "2026-11-26T14:00:00Z".
    Hour,
}

impl From<ActivityGroupBy> for service::GroupBy {
    fn from(g: ActivityGroupBy) -> Self {
        match g {
            ActivityGroupBy::Action => Self::Action,
            ActivityGroupBy::Module => Self::Module,
            ActivityGroupBy::Mode => Self::Mode,
            ActivityGroupBy::ResourceType => Self::ResourceType,
            ActivityGroupBy::Actor => Self::Actor,
            ActivityGroupBy::Day => Self::Day,
            ActivityGroupBy::Hour => Self::Hour,
        }
    }
}

/// Conditions on activities; every field that is set must hold.
///
/// Also read from JSON (camelCase, as in GraphQL) by `GET /export`, so the
/// export takes exactly the filter the API takes.
#[derive(InputObject, Default, serde::Deserialize)]
#[graphql(name = "ActivityFilter")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivityFilterInput {
    /// Exact action, or a prefix when it ends in ".*": "post.*" matches
    /// "post.created" but not "postage.paid". `%` and `_` are literal.
    pub action: Option<String>,
    /// Exact module.
    pub module: Option<String>,
    /// Exact mode.
    pub mode: Option<String>,
    /// Exact actor.
    pub actor_uuid: Option<Uuid>,
    /// Exact resource type.
    pub resource_type: Option<String>,
    /// Exact resource.
    pub resource_uuid: Option<Uuid>,
    /// Exact target.
    pub target_uuid: Option<Uuid>,
    /// Stored at or after this instant (inclusive, to the microsecond; for
    /// "new since I looked" use `after`).
    pub since: Option<DateTime>,
    /// Stored at or before this instant.
    pub until: Option<DateTime>,
    /// Exact correlation id.
    pub correlation_id: Option<String>,
    /// Exact client IP address, as recorded.
    pub client_ip: Option<String>,
    /// User agents containing this text (case-sensitive).
    pub user_agent: Option<String>,
    /// Metadata containing this JSON object, as PostgreSQL's jsonb `@>`
    /// decides: each key present with a containing value; a list contains
    /// another when each of the other's items is contained by one of its items.
    pub metadata: Option<Json<Map<String, Value>>>,
    /// Metadata whose words (of its string and number values, at any depth,
    /// case-insensitive) include every word of this text.
    pub metadata_text: Option<String>,
    /// Any of these exact actions (at most 100); an empty list matches nothing.
    pub action_in: Option<Vec<String>>,
    /// Not this action: exact, or a prefix when it ends in ".*", as `action`.
    pub action_not: Option<String>,
    /// Any of these actors (at most 100); an empty list matches nothing.
    pub actor_uuid_in: Option<Vec<Uuid>>,
    /// Any of these resource types (at most 100); an empty list matches nothing.
    pub resource_type_in: Option<Vec<String>>,
    /// Only activities that became visible after this one (exclusive): an
    /// `Activity.cursor`. `activityCount(filter: {after})` is "N new since I looked".
    pub after: Option<String>,
}

/// A filter argument as the service takes it; an invalid one is BAD_USER_INPUT.
pub fn filter_of(f: Option<ActivityFilterInput>) -> async_graphql::Result<service::ActivityFilter> {
    match f {
        None => Ok(Default::default()),
        Some(f) => f.try_into().map_err(|e| field_error(&e)),
    }
}

/// The most entries a list condition of a filter may hold.
pub const MAX_FILTER_LIST: usize = 100;

impl TryFrom<ActivityFilterInput> for service::ActivityFilter {
    type Error = service::FieldError;

    fn try_from(f: ActivityFilterInput) -> Result<Self, Self::Error> {
        let lists = [
            ("actionIn", f.action_in.as_ref().map(Vec::len)),
            ("actorUuidIn", f.actor_uuid_in.as_ref().map(Vec::len)),
            ("resourceTypeIn", f.resource_type_in.as_ref().map(Vec::len)),
        ];
        for (field, len) in lists {
            if len.is_some_and(|n| n > MAX_FILTER_LIST) {
                return Err(service::FieldError::invalid(
                    format!("filter.{field}"),
                    format!("at most {MAX_FILTER_LIST} entries"),
                ));
            }
        }
        let after = match f.after.as_deref() {
            None => None,
            Some(cursor) => match service::ResumeCursor::decode(cursor) {
                Some(service::ResumeCursor::Position(p)) => Some(p),
                _ => {
                    return Err(service::FieldError::invalid(
                        "filter.after",
                        "must be an Activity.cursor",
                    ))
                }
            },
        };
        Ok(Self {
            action: f.action,
            module: f.module,
            mode: f.mode,
            actor_uuid: f.actor_uuid,
            resource_type: f.resource_type,
            resource_uuid: f.resource_uuid,
            target_uuid: f.target_uuid,
            within_actor: None,
            since: f.since.map(|d| d.0),
            until: f.until.map(|d| d.0),
            correlation_id: f.correlation_id,
            client_ip: f.client_ip,
            user_agent: f.user_agent,
            metadata: f.metadata.map(|m| m.0),
            metadata_text: f.metadata_text,
            action_in: f.action_in,
            action_not: f.action_not,
            actor_uuid_in: f.actor_uuid_in,
            resource_type_in: f.resource_type_in,
            after,
        })
    }
}

/// An activity to log; the server assigns its uuid and time.
#[derive(InputObject)]
pub struct LogInput {
    /// What happened, e.g. "post.created"; 1 to 100 characters.
    pub action: String,
    /// The part of the platform logging it; at most 50 characters.
    pub module: Option<String>,
    /// How it was triggered; at most 20 characters.
    pub mode: Option<String>,
    /// Who did it.
    pub actor_uuid: Option<Uuid>,
    /// What kind of thing it was done to; at most 50 characters.
    pub resource_type: Option<String>,
    /// The thing it was done to.
    pub resource_uuid: Option<Uuid>,
    /// The person it was aimed at.
    pub target_uuid: Option<Uuid>,
    /// Details; must be a JSON object.
    pub metadata: Option<Json<Value>>,
    /// A key that makes retries safe, 1 to 200 characters, your own (keys are
    /// scoped by the caller's role and `sub`): a second log with the same key
    /// and input writes nothing and returns the first activity; with other
    /// input it is refused with code IDEMPOTENCY_CONFLICT.
    pub idempotency_key: Option<String>,
    /// Groups the activities one request, job or import writes; 1 to 100 characters.
    pub correlation_id: Option<String>,
}

impl From<LogInput> for service::NewActivity {
    fn from(i: LogInput) -> Self {
        Self {
            action: i.action,
            module: i.module,
            mode: i.mode,
            actor_uuid: i.actor_uuid,
            resource_type: i.resource_type,
            resource_uuid: i.resource_uuid,
            target_uuid: i.target_uuid,
            metadata: i.metadata.map(|m| m.0),
            idempotency_key: i.idempotency_key,
            correlation_id: i.correlation_id,
            // Request context comes from the request, never from the input.
            client_ip: None,
            user_agent: None,
        }
    }
}

/// A person as the host platform knows them now.
#[derive(InputObject)]
pub struct UserInput {
    /// The host platform's id.
    pub uuid: Uuid,
    /// Contact address; at most 320 characters.
    pub email: Option<String>,
    /// Given name; at most 100 characters.
    pub first_name: Option<String>,
    /// Family name; at most 100 characters.
    pub last_name: Option<String>,
}

impl From<UserInput> for service::NewUser {
    fn from(i: UserInput) -> Self {
        Self {
            uuid: i.uuid,
            email: i.email,
            first_name: i.first_name,
            last_name: i.last_name,
        }
    }
}

/// A change to a person's fields, logged as one activity holding the diff.
#[derive(InputObject)]
pub struct LogUserChangeInput {
    /// What happened, e.g. "user.updated".
    pub action: String,
    /// The person whose fields changed.
    pub user_uuid: Uuid,
    /// Field name to new value (a JSON object).
    pub changes: Json<Value>,
    /// Field name to old value (a JSON object); the stored user row when omitted.
    pub before: Option<Json<Value>>,
    /// Who made the change; the user themself when omitted.
    pub actor_uuid: Option<Uuid>,
    /// The person the change was aimed at.
    pub target_uuid: Option<Uuid>,
    /// How it was triggered; "auto" when omitted.
    pub mode: Option<String>,
    /// The actor's role, stored as metadata.actor_role; "user" when omitted.
    pub actor_role: Option<String>,
    /// More metadata stored beside the diff (a JSON object).
    pub extra_metadata: Option<Json<Value>>,
    /// Fields never diffed; ["custom_fields"] when omitted.
    pub skip_fields: Option<Vec<String>>,
    /// Groups the activity with others of one request, job or import; 1 to 100 characters.
    pub correlation_id: Option<String>,
}

impl From<LogUserChangeInput> for service::UserChange {
    fn from(i: LogUserChangeInput) -> Self {
        Self {
            action: i.action,
            user_uuid: i.user_uuid,
            changes: i.changes.0,
            before: i.before.map(|b| b.0),
            actor_uuid: i.actor_uuid,
            target_uuid: i.target_uuid,
            mode: i.mode,
            actor_role: i.actor_role,
            extra_metadata: i.extra_metadata.map(|m| m.0),
            skip_fields: i.skip_fields,
            correlation_id: i.correlation_id,
            context: Default::default(),
        }
    }
}
