//! Object identity for client caches: opaque global ids.
//!
//! A global id is URL-safe base64 of "<Type>:<key>". Clients must treat it as
//! opaque; `uuid` stays the domain id (as GitHub keeps `databaseId`).

use async_graphql::ID;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

/// The kinds of object a global id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An `Activity`, by uuid.
    Activity,
    /// A `User`, by uuid.
    User,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Activity => "Activity",
            Kind::User => "User",
        }
    }
}

/// The global id of the object of `kind` with this uuid.
pub fn global_id(kind: Kind, uuid: Uuid) -> ID {
    opaque(&format!("{}:{uuid}", kind.name()))
}

/// Text as an opaque id.
pub fn opaque(text: &str) -> ID {
    ID(URL_SAFE_NO_PAD.encode(text))
}

/// What a global id names; `None` for anything `global_id` did not make.
pub fn parse(id: &str) -> Option<(Kind, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(id).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (kind, uuid) = text.split_once(':')?;
    let kind = match kind {
        "Activity" => Kind::Activity,
        "User" => Kind::User,
        _ => return None,
    };
    Some((kind, Uuid::parse_str(uuid).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_differ_by_type() {
        let uuid = Uuid::now_v7();
        let activity = global_id(Kind::Activity, uuid);
        let user = global_id(Kind::User, uuid);
        assert_ne!(activity, user);
        assert_eq!(parse(&activity), Some((Kind::Activity, uuid)));
        assert_eq!(parse(&user), Some((Kind::User, uuid)));
        assert_eq!(parse(&uuid.to_string()), None);
        assert_eq!(parse(&opaque("Nope:1")), None);
        assert_eq!(parse("!!"), None);
    }
}
