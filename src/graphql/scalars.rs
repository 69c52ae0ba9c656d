//! The schema's own scalars, where async-graphql's would leak Rust into the
//! SDL, print an instant in more than one form, or lack `@specifiedBy`.

use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::registry::{MetaType, MetaTypeId, Registry};
use async_graphql::{
    from_value, to_value, ContextSelectionSet, InputType, InputValueError, InputValueResult,
    OutputType, Positioned, Scalar, ScalarType, ServerResult, Value,
};
use chrono::{SecondsFormat, Utc};
use serde::{de::DeserializeOwned, Serialize};

/// An instant in UTC: how every time in the API is read and written.
///
/// Output is always RFC 3339 with six fractional digits and `Z`
/// (`2026-11-26T14:03:07.123456Z`), the form hour bucket keys use too, so a
/// client compares strings without parsing. Input takes any RFC 3339 offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(transparent)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// An instant as RFC 3339 text: written in UTC with microseconds and `Z`
/// (e.g. "2026-11-26T14:03:07.123456Z"); read with any offset.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://scalars.graphql.org/andimarek/date-time"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| DateTime(t.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom("expected an RFC 3339 date-time")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(format_utc(self.0))
    }
}

/// The one text form of an instant the API writes.
pub fn format_utc(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        Self(at)
    }
}

/// A JSON value, read and written as async-graphql's `Json` does, with the
/// schema's description and `@specifiedBy` (RFC 8259).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(transparent)]
pub struct Json<T>(pub T);

/// The JSON scalar's entry in the schema, the same for input and output.
fn json_meta() -> MetaType {
    MetaType::Scalar {
        name: "JSON".to_owned(),
        description: Some(
            "A JSON value (RFC 8259). Every JSON field and argument of this schema holds an object."
                .to_owned(),
        ),
        is_valid: None,
        visible: None,
        inaccessible: false,
        tags: Default::default(),
        specified_by_url: Some("https://www.rfc-editor.org/rfc/rfc8259".to_owned()),
        directive_invocations: Default::default(),
        requires_scopes: Default::default(),
    }
}

impl<T: DeserializeOwned + Serialize + Send + Sync> InputType for Json<T> {
    type RawValueType = T;

    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed("JSON")
    }

    fn create_type_info(registry: &mut Registry) -> String {
        registry.create_input_type::<Json<T>, _>(MetaTypeId::Scalar, |_| json_meta())
    }

    fn parse(value: Option<Value>) -> InputValueResult<Self> {
        Ok(Json(from_value(value.unwrap_or_default())?))
    }

    fn to_value(&self) -> Value {
        to_value(&self.0).unwrap_or_default()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }
}

impl<T: Serialize + Send + Sync> OutputType for Json<T> {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed("JSON")
    }

    fn create_type_info(registry: &mut Registry) -> String {
        registry.create_output_type::<Json<T>, _>(MetaTypeId::Scalar, |_| json_meta())
    }

    async fn resolve(
        &self,
        _ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        // A value serde cannot write (a map with non-text keys) is null, as in async-graphql.
        Ok(to_value(&self.0).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_utc_with_z_and_microseconds_and_reads_any_offset() {
        let at =
            <DateTime as ScalarType>::parse(Value::String("2026-11-26T15:03:07.5+01:00".into()))
                .unwrap();
        assert_eq!(
            ScalarType::to_value(&at),
            Value::String("2026-11-26T14:03:07.500000Z".into())
        );
        assert!(<DateTime as ScalarType>::parse(Value::String("yesterday".into())).is_err());
        assert!(<DateTime as ScalarType>::parse(Value::Number(1.into())).is_err());
    }

    #[test]
    fn json_reads_any_value_and_writes_it_back() {
        let value = Value::from_json(serde_json::json!({"a": [1, "b", null]})).unwrap();
        let parsed = <Json<serde_json::Value> as InputType>::parse(Some(value.clone())).unwrap();
        assert_eq!(parsed.0, serde_json::json!({"a": [1, "b", null]}));
        assert_eq!(InputType::to_value(&parsed), value);
    }
}
