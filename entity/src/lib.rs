//! SeaORM entities of activity-feed.
//!
//! The tables are created by the `migration` crate; these structs mirror them
//! column for column (but for the full-text index column
//! `activities.search_text`) so that queries are type-checked on both SQLite
//! and PostgreSQL.

/// One logged business action: "post.created", "role.assigned", …
pub mod activity;
/// The packed entries of `seal_batches`, the hash chain's seals.
pub mod seal_batch;
/// The words of metadata that `activities.search_text` holds.
pub mod search_text;
/// The people who appear as actor, target or resource of an activity.
pub mod user;

pub use activity::Entity as Activity;
pub use user::Entity as User;
