//! The schema's own scalars, where async-graphql's would leak Rust into the
//! SDL or print an instant in more than one form.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{SecondsFormat, Utc};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_utc_with_z_and_microseconds_and_reads_any_offset() {
        let at = DateTime::parse(Value::String("2026-11-26T15:03:07.5+01:00".into())).unwrap();
        assert_eq!(
            at.to_value(),
            Value::String("2026-11-26T14:03:07.500000Z".into())
        );
        assert!(DateTime::parse(Value::String("yesterday".into())).is_err());
        assert!(DateTime::parse(Value::Number(1.into())).is_err());
    }
}
