//! The payloads mutations answer with: what was written, or why not.

use async_graphql::SimpleObject;

use super::error::UserError;
use super::scalars::DateTime;
use super::types::{Activity, User};
use crate::service;

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
            code: e.code.as_str().into(),
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
