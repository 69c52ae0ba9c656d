//! The checks every write applies to text: lengths that fit their columns
//! and no NUL characters, shared by activities, people and erasures.

use serde_json::Value;

use super::FieldError;

/// Refuses an empty or overlong correlation id.
pub(super) fn check_correlation_id(errors: &mut Vec<FieldError>, id: Option<&str>) {
    if id.is_some_and(str::is_empty) {
        errors.push(FieldError::invalid("correlationId", "must not be empty"));
    }
    check_len(errors, "correlationId", id, 100);
    if id.is_some_and(|id| id.contains('\0')) {
        errors.push(FieldError::invalid("correlationId", NUL_REFUSED));
    }
}

/// Checks that an optional text field fits its column.
pub(super) fn check_len(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&str>,
    max: usize,
) {
    if let Some(v) = value {
        if v.chars().count() > max {
            errors.push(FieldError::invalid(
                field,
                format!("must be at most {max} characters"),
            ));
        }
    }
}

/// Why text holding NUL is refused: PostgreSQL cannot store it in text or
/// JSON, so it would fail as a database error there and be stored on SQLite.
pub(super) const NUL_REFUSED: &str = "must not contain NUL characters";

/// Whether any key or string inside `value` holds a NUL character.
pub(super) fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}
