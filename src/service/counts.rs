//! Grouped counts: what they group by and the order they come in, which the
//! scan ([`super::query`]) and the rollups ([`super::rollup`]) both answer in.

use sea_orm::DbBackend;

/// How `counts` groups activities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
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
    /// By UTC day, "YYYY-MM-DD".
    Day,
    /// By UTC hour, "YYYY-MM-DDTHH:00:00Z".
    Hour,
}

/// One group of a grouped count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The group's value; `None` for rows where it is not set.
    pub key: Option<String>,
    /// How many activities fall in the group.
    pub count: u64,
}

/// Sorts grouped counts as a scan returns them: by key for days and hours,
/// else largest first with the key breaking ties, where the group of rows
/// without a value sorts as the database sorts NULL: last on PostgreSQL,
/// first on SQLite.
pub(super) fn sort_buckets(buckets: &mut [Bucket], group_by: GroupBy, backend: DbBackend) {
    let nulls_last = backend == DbBackend::Postgres;
    let by_key = |a: &Bucket, b: &Bucket| match (&a.key, &b.key) {
        (None, Some(_)) if nulls_last => std::cmp::Ordering::Greater,
        (Some(_), None) if nulls_last => std::cmp::Ordering::Less,
        (a, b) => a.cmp(b),
    };
    match group_by {
        GroupBy::Day | GroupBy::Hour => buckets.sort_by(by_key),
        _ => buckets.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| by_key(a, b))),
    }
}
