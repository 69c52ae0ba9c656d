//! Which subscriptions can be shared, and what makes two of them the same.

use async_graphql::parser::types::{OperationType, Selection};
use async_graphql::{Pos, Variables};
use serde_json::Value;

use crate::graphql::limits::{self, DocumentLimits};
use crate::graphql::selected_operation;
use crate::service::Caller;

/// Everything that can change what a subscription renders: the document as
/// sent (so error locations match it too), the operation, the variables and
/// the caller (its role and uuid decide which activities it sees; the
/// `Activity` fields read nothing of the caller). Token expiry is not part of
/// it: each member ends on its own expiry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub(super) query: String,
    pub(super) operation_name: Option<String>,
    pub(super) variables: String,
    pub(super) caller: Caller,
}

/// A `subscribe` that can be shared, and where its errors point.
pub struct Plan {
    pub(super) key: Key,
    pub(super) variables: Variables,
    /// Position of the subscribed field, for the errors that end one member.
    pub(super) pos: Pos,
    /// The subscribed field's response key (its alias or name), likewise.
    pub(super) response_key: String,
}

/// The shared subscription for `payload` (a graphql-transport-ws `subscribe`
/// payload) by `caller`, when it can be shared: a single `activityAdded`
/// field of an unambiguous subscription operation, without `after` (a replay
/// is each subscriber's own) and without directives or extensions.
/// Anything else, including documents that do not parse or that are over
/// `documents`' size or token limit (which are not parsed here), is left to
/// the per-subscriber engine, which also reports their errors.
pub fn plan(payload: &Value, caller: Caller, documents: &DocumentLimits) -> Option<Plan> {
    let payload = payload.as_object()?;
    if payload.get("extensions").is_some_and(|e| !e.is_null()) {
        return None;
    }
    let query = payload.get("query")?.as_str()?;
    limits::check_text(query, documents).ok()?;
    let operation_name = match payload.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => return None,
    };
    let variables = match payload.get("variables") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return None,
    };
    let doc = async_graphql::parser::parse_query(query).ok()?;
    if operation_name.is_none() && doc.operations.iter().count() != 1 {
        return None;
    }
    let (_, op) = selected_operation(&doc, operation_name.as_deref())?;
    if op.node.ty != OperationType::Subscription || !op.node.directives.is_empty() {
        return None;
    }
    let [selection] = op.node.selection_set.node.items.as_slice() else {
        return None;
    };
    let Selection::Field(field) = &selection.node else {
        return None;
    };
    if field.node.name.node != "activityAdded" || !field.node.directives.is_empty() {
        return None;
    }
    // `after` with its variables put in: null or absent is a live-only subscription.
    let after = field.node.get_argument("after").map(|arg| {
        arg.node.clone().into_const_with(|name| {
            let value = match variables.get(name.as_str()) {
                Some(value) => async_graphql::Value::from_json(value.clone()).map_err(|_| ())?,
                None => op
                    .node
                    .variable_definitions
                    .iter()
                    .find(|d| d.node.name.node == name)
                    .and_then(|d| d.node.default_value())
                    .cloned()
                    .unwrap_or(async_graphql::Value::Null),
            };
            Ok::<_, ()>(value)
        })
    });
    let after_is_null = match after {
        None => true,
        Some(Ok(value)) => value == async_graphql::Value::Null,
        Some(Err(())) => false,
    };
    if !after_is_null {
        return None;
    }
    let pos = field.pos;
    let response_key = field.node.response_key().node.to_string();
    let variables = Value::Object(variables);
    Some(Plan {
        key: Key {
            query: query.to_owned(),
            operation_name,
            variables: variables.to_string(),
            caller,
        },
        variables: Variables::from_json(variables),
        pos,
        response_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shares(query: &str, variables: Value) -> bool {
        plan(
            &json!({ "query": query, "variables": variables }),
            Caller::SYSTEM,
            &DocumentLimits::default(),
        )
        .is_some()
    }

    #[test]
    fn only_live_single_field_subscriptions_are_shared() {
        let live = "subscription { activityAdded { uuid } }";
        let with_after = "subscription($a: String) { activityAdded(after: $a) { uuid } }";
        let with_default =
            r#"subscription($a: String = "x") { activityAdded(after: $a) { uuid } }"#;
        assert!(shares(live, json!({})));
        assert!(shares(with_after, json!({ "a": null })));
        assert!(shares(with_after, json!({})));
        assert!(!shares(with_after, json!({ "a": "cursor" })));
        assert!(!shares(with_default, json!({})));
        assert!(!shares(
            r#"subscription { activityAdded(after: "c") { uuid } }"#,
            json!({})
        ));
        assert!(!shares(
            "subscription { a: activityAdded { uuid } b: activityAdded { uuid } }",
            json!({})
        ));
        assert!(!shares(
            "subscription { ...F } fragment F on SubscriptionRoot { activityAdded { uuid } }",
            json!({})
        ));
        assert!(!shares(
            "subscription($s: Boolean!) { activityAdded @skip(if: $s) { uuid } }",
            json!({ "s": false })
        ));
        assert!(!shares("query { activityAdded { uuid } }", json!({})));
        assert!(!shares("subscription {", json!({})));
        assert!(!shares(&format!("{live} {live}"), json!({})));
        let apq = json!({ "query": live, "extensions": { "persistedQuery": {} } });
        assert!(plan(&apq, Caller::SYSTEM, &DocumentLimits::default()).is_none());
        let tiny = DocumentLimits {
            max_tokens: 5,
            ..DocumentLimits::default()
        };
        let doc = json!({ "query": live });
        assert!(
            plan(&doc, Caller::SYSTEM, &tiny).is_none(),
            "over the token limit"
        );
    }

    #[test]
    fn the_key_tells_callers_variables_and_names_apart() {
        let key = |payload: Value, caller: Caller| {
            plan(&payload, caller, &DocumentLimits::default()).map(|p| p.key)
        };
        let doc = "subscription S($f: ActivityFilter) { activityAdded(filter: $f) { uuid } }";
        let base = key(
            json!({ "query": doc, "variables": { "f": { "action": "a" } } }),
            Caller::SYSTEM,
        );
        assert!(base.is_some());
        assert_eq!(
            base,
            key(
                json!({ "query": doc, "variables": { "f": { "action": "a" } } }),
                Caller::SYSTEM
            )
        );
        assert_ne!(
            base,
            key(
                json!({ "query": doc, "variables": { "f": { "action": "b" } } }),
                Caller::SYSTEM
            )
        );
        assert_ne!(
            base,
            key(
                json!({ "query": doc, "variables": { "f": { "action": "a" } } }),
                Caller::user(uuid::Uuid::nil())
            )
        );
        assert_ne!(
            base,
            key(
                json!({ "query": doc, "operationName": "S", "variables": { "f": { "action": "a" } } }),
                Caller::SYSTEM
            )
        );
    }
}
