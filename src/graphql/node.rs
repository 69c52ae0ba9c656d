//! The `Node` interface: the objects a global id (see [`super::id`]) reads back.

use async_graphql::{Interface, ID};

use super::types::{Activity, User};

/// An object with a global id that `node(id:)` reads back.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "An opaque id, unique across types, that `node(id:)` reads back."
))]
pub enum Node {
    /// An activity.
    Activity(Box<Activity>),
    /// A person.
    User(User),
}
