//! Where a token keeps the caller's role and subject: a claim path, such
//! as Keycloak's `realm_access.roles` or a namespaced Auth0 claim, and an
//! optional mapping from the provider's role names to this server's roles.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::service::Role;

/// A dotted path into a token's claims ("role", "realm_access.roles").
///
/// Claim names may themselves hold dots, as namespaced claims do
/// ("https://example.com/roles"): at each level the longest claim name
/// that the rest of the path starts with is taken, so both
/// `{"https://example.com/roles": …}` and `{"https://example": {"com/roles": …}}`
/// are found by "https://example.com/roles".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(String);

impl ClaimPath {
    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value at this path in `claims`, if any.
    pub fn find<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        find(claims, &self.0)
    }
}

fn find<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = object.get(path) {
        return Some(value);
    }
    // The longest name the path continues past with a dot.
    let (name, rest) = object
        .keys()
        .filter_map(|key| {
            let rest = path.strip_prefix(key.as_str())?.strip_prefix('.')?;
            Some((key, rest))
        })
        .max_by_key(|(key, _)| key.len())?;
    find(object.get(name)?.as_object()?, rest)
}

impl std::str::FromStr for ClaimPath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let path = s.trim();
        if path.is_empty() || path.starts_with('.') || path.ends_with('.') || path.contains("..") {
            return Err(format!(
                "{s:?} is not a claim path: write claim names joined by dots (\"realm_access.roles\")"
            ));
        }
        Ok(Self(path.to_owned()))
    }
}

impl Default for ClaimPath {
    fn default() -> Self {
        Self("role".into())
    }
}

/// One entry of `JWT_ROLE_MAP`: a provider's role name and the role it grants here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMapping {
    /// The name in the token.
    pub name: String,
    /// The role it grants.
    pub role: Role,
}

impl std::str::FromStr for RoleMapping {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, role) = s.rsplit_once('=').ok_or_else(|| {
            format!("{s:?} is not a role mapping: write provider-name=role (\"feed-admins=admin\")")
        })?;
        let role = Role::parse(role.trim()).ok_or_else(|| {
            format!(
                "{s:?}: {:?} is not a role; use admin, service or user",
                role.trim()
            )
        })?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("{s:?}: the provider's role name is empty"));
        }
        Ok(Self {
            name: name.to_owned(),
            role,
        })
    }
}

/// How a token's claims name its caller.
#[derive(Debug, Clone, Default)]
pub struct ClaimRules {
    /// Where the role is: a string, or a list of strings.
    pub role: ClaimPath,
    /// Where the subject is; `sub` unless told otherwise.
    pub subject: Option<ClaimPath>,
    /// Provider role names and what they grant; when empty, the names are
    /// this server's own ("admin", "service", "user").
    pub role_map: HashMap<String, Role>,
}

/// Why the claims name no caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// No value at the role path.
    NoRole(String),
    /// A role name that neither the mapping nor this server knows.
    UnknownRole(String),
    /// A list of role names none of which is known.
    NoKnownRole(String),
    /// The role claim is neither a string nor a list of them.
    RoleType(String),
    /// No string at the subject path.
    NoSubject(String),
}

impl std::fmt::Display for ClaimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClaimError::NoRole(path) => write!(f, "the token has no role claim `{path}`"),
            ClaimError::UnknownRole(name) => write!(f, "unknown role {name:?}"),
            ClaimError::NoKnownRole(path) => {
                write!(f, "none of the roles in the token's `{path}` is known here")
            }
            ClaimError::RoleType(path) => write!(
                f,
                "the token's `{path}` must be a role name or a list of role names"
            ),
            ClaimError::NoSubject(path) => {
                write!(f, "the token has no subject: `{path}` must be a string")
            }
        }
    }
}

impl ClaimRules {
    /// The role the claims grant: for a list, the strongest known one
    /// (admin, then service, then user); names not known are ignored there,
    /// as providers list roles of their own ("offline_access").
    pub fn role(&self, claims: &Map<String, Value>) -> Result<Role, ClaimError> {
        let path = self.role.as_str();
        match self.role.find(claims) {
            None | Some(Value::Null) => Err(ClaimError::NoRole(path.into())),
            Some(Value::String(name)) => self
                .known(name)
                .ok_or_else(|| ClaimError::UnknownRole(name.clone())),
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|name| self.known(name))
                .min_by_key(|role| strength(*role))
                .ok_or_else(|| ClaimError::NoKnownRole(path.into())),
            Some(_) => Err(ClaimError::RoleType(path.into())),
        }
    }

    /// The subject the claims name.
    pub fn subject<'a>(&self, claims: &'a Map<String, Value>) -> Result<&'a str, ClaimError> {
        let path = self.subject.as_ref().map_or("sub", ClaimPath::as_str);
        let found = match &self.subject {
            Some(subject) => subject.find(claims),
            None => claims.get("sub"),
        };
        found
            .and_then(Value::as_str)
            .ok_or_else(|| ClaimError::NoSubject(path.into()))
    }

    /// A role name as the mapping (when there is one) or this server knows it.
    fn known(&self, name: &str) -> Option<Role> {
        if self.role_map.is_empty() {
            Role::parse(name)
        } else {
            // With a mapping, only mapped names count: a provider's own
            // "admin" must not become this server's admin by coincidence.
            self.role_map.get(name).copied()
        }
    }
}

/// Lower is stronger.
fn strength(role: Role) -> u8 {
    match role {
        Role::Admin => 0,
        Role::Service => 1,
        Role::User => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn rules(role: &str, map: &[&str]) -> ClaimRules {
        ClaimRules {
            role: role.parse().unwrap(),
            subject: None,
            role_map: map
                .iter()
                .map(|m| {
                    let m: RoleMapping = m.parse().unwrap();
                    (m.name, m.role)
                })
                .collect(),
        }
    }

    #[test]
    fn a_keycloak_role_list_grants_the_strongest_known_role() {
        let c =
            claims(json!({ "realm_access": { "roles": ["offline_access", "user", "service"] } }));
        assert_eq!(rules("realm_access.roles", &[]).role(&c), Ok(Role::Service));
        let none = claims(json!({ "realm_access": { "roles": ["offline_access"] } }));
        assert_eq!(
            rules("realm_access.roles", &[]).role(&none),
            Err(ClaimError::NoKnownRole("realm_access.roles".into()))
        );
    }

    #[test]
    fn namespaced_claims_with_dots_in_their_names_are_found() {
        let c = claims(json!({ "https://feed.example.com/role": "admin" }));
        assert_eq!(
            rules("https://feed.example.com/role", &[]).role(&c),
            Ok(Role::Admin)
        );
        let nested = claims(json!({ "https://feed.example.com/claims": { "role": "user" } }));
        assert_eq!(
            rules("https://feed.example.com/claims.role", &[]).role(&nested),
            Ok(Role::User)
        );
    }

    #[test]
    fn with_a_mapping_only_mapped_names_count() {
        let r = rules("groups", &["feed-admins=admin", "writers=service"]);
        let c = claims(json!({ "groups": ["admin", "writers"] }));
        assert_eq!(r.role(&c), Ok(Role::Service));
        let c = claims(json!({ "groups": "admin" }));
        assert_eq!(r.role(&c), Err(ClaimError::UnknownRole("admin".into())));
        let c = claims(json!({ "groups": ["feed-admins"] }));
        assert_eq!(r.role(&c), Ok(Role::Admin));
    }

    #[test]
    fn missing_and_mistyped_claims_are_told_apart() {
        let r = rules("realm_access.roles", &[]);
        assert_eq!(
            r.role(&claims(json!({}))),
            Err(ClaimError::NoRole("realm_access.roles".into()))
        );
        assert_eq!(
            r.role(&claims(json!({ "realm_access": { "roles": 3 } }))),
            Err(ClaimError::RoleType("realm_access.roles".into()))
        );
        let s = ClaimRules {
            subject: Some("ext.uid".parse().unwrap()),
            ..ClaimRules::default()
        };
        assert_eq!(
            s.subject(&claims(json!({ "ext": { "uid": "u-1" } }))),
            Ok("u-1")
        );
        assert_eq!(
            s.subject(&claims(json!({ "sub": "x" }))),
            Err(ClaimError::NoSubject("ext.uid".into()))
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        for path in ["", ".a", "a.", "a..b"] {
            assert!(path.parse::<ClaimPath>().is_err(), "{path:?}");
        }
        for mapping in ["admin", "x=root", "=admin"] {
            assert!(mapping.parse::<RoleMapping>().is_err(), "{mapping:?}");
        }
    }
}
