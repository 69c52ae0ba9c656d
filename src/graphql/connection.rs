//! Relay's slice arguments, read in one place: edge cursors, page sizes and
//! their defaults. The connection types themselves are in [`super::types`],
//! with the objects they list.

use async_graphql::Result;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

use super::error::coded;
use crate::service::{Cursor, ErrorCode};

/// The page size the feed reads when neither `first` nor `last` is given.
pub const DEFAULT_FEED_SIZE: i32 = 50;
/// The page size `groupedActivities` reads when `first` is not given.
pub const DEFAULT_GROUPS: i32 = 20;

/// Relay's slice arguments as the client sent them.
pub struct FeedArgsInput {
    /// The newest this many of what follows `after`.
    pub first: Option<i32>,
    /// An edge cursor.
    pub after: Option<String>,
    /// The oldest this many of what precedes `before`.
    pub last: Option<i32>,
    /// An edge cursor.
    pub before: Option<String>,
}

/// An edge cursor argument, or BAD_USER_INPUT naming it.
pub fn edge_cursor(name: &str, value: Option<String>) -> Result<Option<Cursor>> {
    value
        .map(|c| {
            Cursor::decode(&c)
                .ok_or_else(|| coded(ErrorCode::BadUserInput, format!("{name}: invalid cursor")))
        })
        .transpose()
}

/// A size argument, or BAD_USER_INPUT when negative (the service checks the cap).
pub fn slice_size(name: &str, value: Option<i32>) -> Result<Option<u64>> {
    value
        .map(|n| {
            u64::try_from(n).map_err(|_| {
                coded(
                    ErrorCode::BadUserInput,
                    format!("{name}: must not be negative"),
                )
            })
        })
        .transpose()
}

/// The page size `users` reads when `first` is not given.
pub const DEFAULT_USERS: i32 = 10;

/// The prefix that tells a person's cursor from an activity's.
const USER_CURSOR: &str = "user:";

/// A person's edge cursor: URL-safe base64 of "user:uuid".
pub fn user_cursor(uuid: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{USER_CURSOR}{}", uuid.simple()))
}

/// A person's edge cursor argument, or BAD_USER_INPUT naming it.
pub fn user_edge_cursor(name: &str, value: Option<String>) -> Result<Option<Uuid>> {
    value
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(&c)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| Uuid::parse_str(text.strip_prefix(USER_CURSOR)?).ok())
                .ok_or_else(|| coded(ErrorCode::BadUserInput, format!("{name}: invalid cursor")))
        })
        .transpose()
}
