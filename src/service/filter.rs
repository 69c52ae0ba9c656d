//! Which activities a query, a count or a subscription is about.
//!
//! The same [`ActivityFilter`] becomes a SQL condition for stored rows and a
//! predicate for rows that are being published live, so that a list and a
//! subscription with the same filter always agree.

use chrono::{DateTime, Utc};
use entity::activity::{self, Column};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, DbBackend};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::search;
use super::validate::holds_nul;
use super::Position;

/// Conditions on activities; every field that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityFilter {
    /// An exact action, or a prefix when it ends in `.*` ("post.*").
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
    /// Only this actor's activities, on top of `actor_uuid`: how a person's
    /// own view is imposed whatever else the filter asks for.
    pub within_actor: Option<Uuid>,
    /// Inserted at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Inserted at or before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Exact correlation id.
    pub correlation_id: Option<String>,
    /// Exact client IP address, as recorded.
    pub client_ip: Option<String>,
    /// User agents containing this text (case-sensitive).
    pub user_agent: Option<String>,
    /// Metadata containing this object, as PostgreSQL's `jsonb @>` decides it
    /// (see [`search`]).
    pub metadata: Option<Map<String, Value>>,
    /// Metadata whose words include every word of this text (see [`search`]);
    /// text without words sets no condition.
    pub metadata_text: Option<String>,
    /// Any of these exact actions; an empty list matches nothing.
    pub action_in: Option<Vec<String>>,
    /// Not this action: exact, or a prefix when it ends in `.*`, as `action`.
    pub action_not: Option<String>,
    /// Any of these actors; an empty list matches nothing.
    pub actor_uuid_in: Option<Vec<Uuid>>,
    /// Any of these resource types; an empty list matches nothing.
    pub resource_type_in: Option<Vec<String>>,
    /// Only activities after this position (exclusive): "new since I looked".
    pub after: Option<Position>,
}

/// How an `action` filter matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ActionMatch<'a> {
    Exact(&'a str),
    /// Actions that start with this prefix, which ends in a dot.
    Prefix(&'a str),
}

impl ActionMatch<'_> {
    fn parse(action: &str) -> ActionMatch<'_> {
        match action.strip_suffix('*') {
            Some(prefix) if prefix.ends_with('.') => ActionMatch::Prefix(prefix),
            _ => ActionMatch::Exact(action),
        }
    }
}

/// The smallest string greater than every string that starts with `prefix`,
/// where `prefix` ends in '.': the same prefix ending in '/', the next byte.
///
/// A range `[prefix, upper)` rather than `LIKE 'prefix%'` keeps `%` and `_`
/// literal and lets both databases walk the (action, inserted_at) index.
fn prefix_upper_bound(prefix: &str) -> String {
    let mut upper = prefix[..prefix.len() - 1].to_owned();
    upper.push('/');
    upper
}

impl ActivityFilter {
    /// This filter as a SQL condition on `activities`, in `backend`'s dialect.
    pub fn condition(&self, backend: DbBackend) -> Condition {
        if self.asks_for_nul() {
            return Condition::all().add(Expr::val(1).eq(0));
        }
        let mut cond = Condition::all();
        if let Some(action) = &self.action {
            cond = match ActionMatch::parse(action) {
                ActionMatch::Exact(a) => cond.add(Column::Action.eq(a)),
                ActionMatch::Prefix(p) => cond
                    .add(Column::Action.gte(p))
                    .add(Column::Action.lt(prefix_upper_bound(p))),
            };
        }
        let strings = [
            (Column::Module, &self.module),
            (Column::Mode, &self.mode),
            (Column::ResourceType, &self.resource_type),
            (Column::CorrelationId, &self.correlation_id),
            (Column::ClientIp, &self.client_ip),
        ];
        for (col, value) in strings {
            if let Some(v) = value {
                cond = cond.add(col.eq(v.as_str()));
            }
        }
        let uuids = [
            (Column::ActorUuid, self.actor_uuid),
            (Column::ActorUuid, self.within_actor),
            (Column::ResourceUuid, self.resource_uuid),
            (Column::TargetUuid, self.target_uuid),
        ];
        for (col, value) in uuids {
            if let Some(v) = value {
                cond = cond.add(col.eq(v));
            }
        }
        if let Some(not) = &self.action_not {
            cond = match ActionMatch::parse(not) {
                ActionMatch::Exact(a) => cond.add(Column::Action.ne(a)),
                ActionMatch::Prefix(p) => cond.add(
                    Condition::any()
                        .add(Column::Action.lt(p))
                        .add(Column::Action.gte(prefix_upper_bound(p))),
                ),
            };
        }
        if let Some(actions) = &self.action_in {
            cond = cond.add(Column::Action.is_in(actions.iter().map(String::as_str)));
        }
        if let Some(actors) = &self.actor_uuid_in {
            cond = cond.add(Column::ActorUuid.is_in(actors.iter().copied()));
        }
        if let Some(types) = &self.resource_type_in {
            cond = cond.add(Column::ResourceType.is_in(types.iter().map(String::as_str)));
        }
        if let Some(after) = self.after {
            cond = cond.add(after.later());
        }
        if let Some(since) = self.since {
            cond = cond.add(Column::InsertedAt.gte(since));
        }
        if let Some(until) = self.until {
            cond = cond.add(Column::InsertedAt.lte(until));
        }
        if let Some(agent) = &self.user_agent {
            // A substring test in which no character is special.
            cond = cond.add(match backend {
                DbBackend::Postgres => {
                    Expr::cust_with_values("strpos(activities.user_agent, $1) > 0", [agent])
                }
                _ => Expr::cust_with_values("instr(activities.user_agent, ?) > 0", [agent]),
            });
        }
        if let Some(want) = &self.metadata {
            cond = cond.add(search::contains_condition(backend, want));
        }
        if let Some(text) = self.metadata_text.as_deref() {
            if let Some(expr) = search::text_condition(backend, text) {
                cond = cond.add(expr);
            }
        }
        cond
    }

    /// Whether a text condition holds NUL. No stored text does (writes refuse
    /// it), and PostgreSQL cannot even compare with such a string, so the
    /// filter matches nothing.
    fn asks_for_nul(&self) -> bool {
        let texts = [
            &self.action,
            &self.module,
            &self.mode,
            &self.resource_type,
            &self.correlation_id,
            &self.client_ip,
            &self.user_agent,
        ];
        // A list holding NUL cannot be compared either; its other entries
        // could match, but no client needs NUL to find them.
        let lists = [&self.action_in, &self.resource_type_in];
        texts
            .iter()
            .any(|t| t.as_ref().is_some_and(|t| t.contains('\0')))
            || self.action_not.as_ref().is_some_and(|t| t.contains('\0'))
            || lists
                .iter()
                .any(|l| l.iter().flatten().any(|t| t.contains('\0')))
            || self
                .metadata
                .as_ref()
                .is_some_and(|m| m.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)))
    }

    /// The action every match has, when the filter names one exactly (not
    /// a `post.*` prefix): an equality live delivery can route by.
    pub fn exact_action(&self) -> Option<&str> {
        match self.action.as_deref().map(ActionMatch::parse) {
            Some(ActionMatch::Exact(action)) => Some(action),
            _ => None,
        }
    }

    /// Whether `row` passes this filter: the same rules as [`Self::condition`].
    pub fn matches(&self, row: &activity::Model) -> bool {
        if self.asks_for_nul() {
            return false;
        }
        let action_ok = match self.action.as_deref().map(ActionMatch::parse) {
            None => true,
            Some(ActionMatch::Exact(a)) => row.action == a,
            Some(ActionMatch::Prefix(p)) => row.action.starts_with(p),
        };
        fn same<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
            want.is_none() || want == have
        }
        let action_not_ok = match self.action_not.as_deref().map(ActionMatch::parse) {
            None => true,
            Some(ActionMatch::Exact(a)) => row.action != a,
            Some(ActionMatch::Prefix(p)) => !row.action.starts_with(p),
        };
        fn one_of<T: PartialEq>(list: &Option<Vec<T>>, have: Option<&T>) -> bool {
            list.as_ref()
                .is_none_or(|list| have.is_some_and(|h| list.contains(h)))
        }
        action_ok
            && action_not_ok
            && one_of(&self.action_in, Some(&row.action))
            && one_of(&self.actor_uuid_in, row.actor_uuid.as_ref())
            && one_of(&self.resource_type_in, row.resource_type.as_ref())
            && self.after.is_none_or(|after| Position::of(row) > after)
            && same(&self.module, &row.module)
            && same(&self.mode, &row.mode)
            && same(&self.resource_type, &row.resource_type)
            && same(&self.actor_uuid, &row.actor_uuid)
            && same(&self.within_actor, &row.actor_uuid)
            && same(&self.resource_uuid, &row.resource_uuid)
            && same(&self.target_uuid, &row.target_uuid)
            && self.since.is_none_or(|s| row.inserted_at >= s)
            && self.until.is_none_or(|u| row.inserted_at <= u)
            && same(&self.correlation_id, &row.correlation_id)
            && same(&self.client_ip, &row.client_ip)
            && self.user_agent.as_deref().is_none_or(|want| {
                row.user_agent
                    .as_deref()
                    .is_some_and(|have| have.contains(want))
            })
            && self
                .metadata
                .as_ref()
                .is_none_or(|want| search::contains_object(&row.metadata, want))
            && self
                .metadata_text
                .as_deref()
                .is_none_or(|text| search::text_matches(&row.metadata, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::service::testing::row;

    fn action(a: &str) -> ActivityFilter {
        ActivityFilter {
            action: Some(a.into()),
            ..Default::default()
        }
    }

    #[test]
    fn prefix_matches_dotted_children_only() {
        let f = action("post.*");
        assert!(f.matches(&row("post.created")));
        assert!(f.matches(&row("post.comment.added")));
        assert!(!f.matches(&row("postage.paid")));
        assert!(!f.matches(&row("post")));
    }

    #[test]
    fn wildcard_characters_are_literal() {
        assert!(!action("p%").matches(&row("post.created")));
        assert!(action("p%").matches(&row("p%")));
        assert!(!action("post_created").matches(&row("post.created")));
        assert!(!action("%.*").matches(&row("post.created")));
        assert!(action("%.*").matches(&row("%.x")));
    }

    #[test]
    fn star_without_dot_is_exact() {
        assert!(!action("post*").matches(&row("post.created")));
        assert!(action("post*").matches(&row("post*")));
    }

    #[test]
    fn nul_matches_nothing() {
        assert!(!action("a\0b").matches(&row("a\0b")));
        let in_metadata = ActivityFilter {
            metadata: serde_json::json!({ "k": ["a\0"] }).as_object().cloned(),
            ..Default::default()
        };
        assert!(in_metadata.asks_for_nul());
        let in_correlation = ActivityFilter {
            correlation_id: Some("\0".into()),
            ..Default::default()
        };
        assert!(in_correlation.asks_for_nul());
        let sql = sea_orm::sea_query::Query::select()
            .column(Column::Uuid)
            .from(activity::Entity)
            .cond_where(action("a\0b").condition(DbBackend::Sqlite))
            .to_string(sea_orm::sea_query::SqliteQueryBuilder);
        assert!(sql.ends_with("WHERE 1 = 0"), "{sql}");
    }

    #[test]
    fn lists_negation_and_position_match_as_in_sql() {
        let mut r = row("post.created");
        r.resource_type = Some("post".into());
        r.txid = 7;
        r.seq = 3;
        let not = |a: &str| ActivityFilter {
            action_not: Some(a.into()),
            ..Default::default()
        };
        assert!(!not("post.created").matches(&r));
        assert!(!not("post.*").matches(&r));
        assert!(not("postage.*").matches(&r));
        let types = |t: Vec<&str>| ActivityFilter {
            resource_type_in: Some(t.into_iter().map(Into::into).collect()),
            ..Default::default()
        };
        assert!(types(vec!["user", "post"]).matches(&r));
        assert!(!types(vec![]).matches(&r));
        let actors = ActivityFilter {
            actor_uuid_in: Some(vec![Uuid::now_v7()]),
            ..Default::default()
        };
        assert!(!actors.matches(&r), "a row without actor is in no list");
        let after = |txid, seq| ActivityFilter {
            after: Some(Position { txid, seq }),
            ..Default::default()
        };
        assert!(after(7, 2).matches(&r));
        assert!(!after(7, 3).matches(&r), "after is exclusive");
        assert!(after(6, 99).matches(&r));
        assert!(!after(8, 0).matches(&r));
    }

    #[test]
    fn upper_bound_is_next_byte() {
        assert_eq!(prefix_upper_bound("post."), "post/");
    }
}
