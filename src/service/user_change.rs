use entity::activity;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    ActivityFeed, Caller, FieldError, NewActivity, Operation, RequestContext, Result, ServiceError,
};

/// A change to a person's fields, to be logged as one activity holding the diff.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserChange {
    /// What happened: "user.updated", "password.changed", …
    pub action: String,
    /// The person whose fields changed.
    pub user_uuid: Uuid,
    /// Field name to new value; must be a JSON object.
    pub changes: Value,
    /// Field name to old value; when `None`, the stored user row is used.
    pub before: Option<Value>,
    /// Who made the change; defaults to the user themself.
    pub actor_uuid: Option<Uuid>,
    /// The person the change was aimed at.
    pub target_uuid: Option<Uuid>,
    /// How it was triggered; defaults to "auto".
    pub mode: Option<String>,
    /// The actor's role, recorded as `actor_role`; defaults to "user".
    pub actor_role: Option<String>,
    /// More metadata to store beside the diff; must be a JSON object.
    pub extra_metadata: Option<Value>,
    /// Fields never diffed; defaults to `["custom_fields"]`.
    pub skip_fields: Option<Vec<String>>,
    /// Groups the activity with others of the same request, job or import.
    pub correlation_id: Option<String>,
    /// Where the request came from, when the deployment records it.
    pub context: RequestContext,
}

/// What `log_user_change` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChangeOutcome {
    /// The activity written, or `None` when no field actually changed.
    pub activity: Option<activity::Model>,
}

/// A value as it is shown in a diff: strings as they are, null as "",
/// numbers and booleans as text, objects and lists as the JSON they are.
///
/// Objects and lists stay JSON so that redaction, which runs on the stored
/// metadata, still sees their keys: as text, `{"password": …}` under a field
/// of another name was stored and searchable in plain text.
fn shown(value: Option<&Value>) -> Value {
    match value {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(nested @ (Value::Object(_) | Value::Array(_))) => nested.clone(),
        Some(scalar) => Value::String(scalar.to_string()),
    }
}

/// Takes a JSON object out of an optional field, or says why it is not one.
fn object(field: &str, value: Option<Value>, errors: &mut Vec<FieldError>) -> Map<String, Value> {
    match value {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            errors.push(FieldError::invalid(field, "must be a JSON object"));
            Map::new()
        }
    }
}

/// The stored user's fields, by the names a diff uses, with the camelCase
/// names GraphQL clients write (as in `UserInput`) for the same fields.
const STORED_FIELDS: [(&str, &str); 3] = [
    ("email", "email"),
    ("first_name", "firstName"),
    ("last_name", "lastName"),
];

/// An object with camelCase names of stored fields renamed to the names
/// the stored user is compared under; a field named both ways is refused.
fn stored_names(
    field: &str,
    map: Map<String, Value>,
    errors: &mut Vec<FieldError>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in map {
        let name = STORED_FIELDS
            .iter()
            .find(|(_, camel)| *camel == key)
            .map_or(key, |(snake, _)| (*snake).to_owned());
        if out.contains_key(&name) {
            errors.push(FieldError::invalid(
                field,
                format!("names {name} twice, in snake_case and in camelCase"),
            ));
        }
        out.insert(name, value);
    }
    out
}

/// `{"<field>_from": old, "<field>_to": new}` for every field whose shown value changed.
fn diff(
    changes: &Map<String, Value>,
    before: &Map<String, Value>,
    skip: &[String],
) -> Map<String, Value> {
    let mut out = Map::new();
    for (field, new) in changes {
        if skip.iter().any(|s| s == field) {
            continue;
        }
        let (from, to) = (shown(before.get(field)), shown(Some(new)));
        if from != to {
            out.insert(format!("{field}_from"), from);
            out.insert(format!("{field}_to"), to);
        }
    }
    out
}

impl ActivityFeed {
    /// Logs the fields of a person that really changed, or nothing when none did.
    ///
    /// A sensitive field's diff (`password_from`/`password_to`, …) is stored
    /// redacted, like any sensitive metadata key: that it changed is kept,
    /// what it was and became is not.
    #[tracing::instrument(skip_all, fields(action = %change.action, user = %change.user_uuid))]
    pub async fn log_user_change(
        &self,
        caller: &Caller,
        change: UserChange,
    ) -> Result<UserChangeOutcome> {
        caller.require(Operation::Log)?;
        let mut errors = Vec::new();
        if change.changes.is_null() {
            errors.push(FieldError::invalid("changes", "must be a JSON object"));
        }
        let changes = object("changes", Some(change.changes), &mut errors);
        let changes = stored_names("changes", changes, &mut errors);
        let given_before = change.before.map(|b| {
            let before = object("before", Some(b), &mut errors);
            stored_names("before", before, &mut errors)
        });
        let extra = object("extraMetadata", change.extra_metadata, &mut errors);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }

        let before = match given_before {
            Some(before) => before,
            None => self.stored_fields(caller, change.user_uuid).await?,
        };
        let skip = change
            .skip_fields
            .unwrap_or_else(|| vec!["custom_fields".to_owned()]);
        let diff = diff(&changes, &before, &skip);
        if diff.is_empty() {
            return Ok(UserChangeOutcome { activity: None });
        }

        let mut metadata = extra;
        metadata.extend(diff);
        metadata.insert(
            "actor_role".into(),
            Value::String(change.actor_role.unwrap_or_else(|| "user".into())),
        );
        let mut input = NewActivity {
            action: change.action,
            module: Some("users".into()),
            mode: Some(change.mode.unwrap_or_else(|| "auto".into())),
            actor_uuid: Some(change.actor_uuid.unwrap_or(change.user_uuid)),
            resource_type: Some("user".into()),
            resource_uuid: Some(change.user_uuid),
            target_uuid: change.target_uuid,
            metadata: Some(Value::Object(metadata)),
            idempotency_key: None,
            correlation_id: change.correlation_id,
            ..Default::default()
        };
        change.context.apply(&mut input);
        let logged = self.log(caller, input).await?;
        Ok(UserChangeOutcome {
            activity: Some(logged.activity),
        })
    }

    /// A stored person's fields under the names a diff uses; empty when unknown.
    async fn stored_fields(&self, caller: &Caller, uuid: Uuid) -> Result<Map<String, Value>> {
        let Some(user) = self.user(caller, uuid).await? else {
            return Ok(Map::new());
        };
        let text = |v: Option<String>| v.map_or(Value::Null, Value::String);
        Ok(Map::from_iter([
            ("email".to_owned(), text(user.email)),
            ("first_name".to_owned(), text(user.first_name)),
            ("last_name".to_owned(), text(user.last_name)),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn keeps_only_changed_fields_as_text() {
        let changes =
            map(json!({"name": "Bo", "age": 5, "admin": true, "same": "x", "gone": null}));
        let before = map(json!({"name": "Al", "age": "5", "admin": false, "same": "x"}));
        assert_eq!(
            Value::Object(diff(&changes, &before, &[])),
            json!({"name_from": "Al", "name_to": "Bo", "admin_from": "false", "admin_to": "true"})
        );
    }

    #[test]
    fn keeps_objects_and_lists_as_json_so_redaction_sees_inside_them() {
        let changes = map(json!({"profile": {"password": "new"}, "tags": ["a"], "same": {"k": 1}}));
        let before = map(json!({"profile": {"password": "old"}, "same": {"k": 1}}));
        assert_eq!(
            Value::Object(diff(&changes, &before, &[])),
            json!({
                "profile_from": {"password": "old"}, "profile_to": {"password": "new"},
                "tags_from": "", "tags_to": ["a"],
            })
        );
    }

    #[test]
    fn camel_case_names_of_stored_fields_are_the_stored_fields() {
        let mut errors = Vec::new();
        let out = stored_names(
            "changes",
            map(json!({"firstName": "A", "lastName": "B", "email": "c", "nickName": "d"})),
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(
            Value::Object(out),
            json!({"first_name": "A", "last_name": "B", "email": "c", "nickName": "d"})
        );
        stored_names(
            "changes",
            map(json!({"first_name": "A", "firstName": "B"})),
            &mut errors,
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "changes");
    }

    #[test]
    fn skips_fields() {
        let changes = map(json!({"custom_fields": {"a": 1}, "email": "b@x"}));
        let out = diff(&changes, &Map::new(), &["custom_fields".into()]);
        assert_eq!(
            Value::Object(out),
            json!({"email_from": "", "email_to": "b@x"})
        );
    }
}
