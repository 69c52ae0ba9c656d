//! The input types of the API and how each becomes the service's input.

use async_graphql::{Enum, InputObject};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::field_errors;
use super::scalars::{DateTime, Json};
use crate::service;

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
        Some(f) => f.try_into().map_err(|e: Vec<_>| field_errors(&e)),
    }
}

/// The most entries a list condition of a filter may hold.
pub const MAX_FILTER_LIST: usize = 100;

impl TryFrom<ActivityFilterInput> for service::ActivityFilter {
    /// Every condition at fault, not only the first.
    type Error = Vec<service::FieldError>;

    fn try_from(f: ActivityFilterInput) -> Result<Self, Self::Error> {
        let lists = [
            ("actionIn", f.action_in.as_ref().map(Vec::len)),
            ("actorUuidIn", f.actor_uuid_in.as_ref().map(Vec::len)),
            ("resourceTypeIn", f.resource_type_in.as_ref().map(Vec::len)),
        ];
        let mut errors: Vec<service::FieldError> = lists
            .into_iter()
            .filter(|(_, len)| len.is_some_and(|n| n > MAX_FILTER_LIST))
            .map(|(field, _)| {
                service::FieldError::invalid(
                    format!("filter.{field}"),
                    format!("at most {MAX_FILTER_LIST} entries"),
                )
            })
            .collect();
        let after = match f.after.as_deref() {
            None => None,
            Some(cursor) => match service::ResumeCursor::decode(cursor) {
                Some(service::ResumeCursor::Position(p)) => Some(p),
                _ => {
                    errors.push(service::FieldError::invalid(
                        "filter.after",
                        "must be an Activity.cursor",
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
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
