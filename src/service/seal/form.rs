//! The canonical form of a sealed row and the chain step, as the README's
//! "Verifying the log" section defines them for verifiers in any language.
//!
//! One unit: the sealer's fast path (`seal_fields`) and the verifier's
//! (`commitments`) must write the same bytes, and its tests hold both to
//! the documented form; split apart, the two could drift unseen.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use entity::activity;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The first element of every canonical form: the version of these rules.
pub const FORM_VERSION: &str = "af-seal-1";

/// The hash before the first row ever sealed.
pub const GENESIS: [u8; 32] = [0; 32];

/// The bytes of a salt.
pub const SALT_BYTES: usize = 16;

/// The personal fields committed to one by one, besides metadata, whose
/// top-level keys are committed to each on their own.
pub const PERSONAL_FIELDS: [&str; 5] = [
    "actor_uuid",
    "client_ip",
    "resource_uuid",
    "target_uuid",
    "user_agent",
];

/// Salts or commitments by field: `{"actor_uuid": …, "metadata": {"key": …}}`.
/// A field holds a salt (32 hex digits) while its value may be checked, and
/// its commitment (64 hex digits) once erasure deleted the salt.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldMap {
    /// The personal fields other than metadata.
    #[serde(flatten)]
    pub fields: BTreeMap<String, String>,
    /// The metadata's top-level keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl FieldMap {
    /// The entry of `field`: a personal field's name or `metadata.<key>`.
    pub fn get(&self, field: &Field) -> Option<&String> {
        match field {
            Field::Column(name) => self.fields.get(*name),
            Field::Metadata(key) => self.metadata.get(key),
        }
    }

    /// Removes and returns the entry of `field`.
    pub fn remove(&mut self, field: &Field) -> Option<String> {
        match field {
            Field::Column(name) => self.fields.remove(*name),
            Field::Metadata(key) => self.metadata.remove(key),
        }
    }

    /// Sets the entry of `field`.
    pub fn insert(&mut self, field: &Field, value: String) {
        match field {
            Field::Column(name) => self.fields.insert((*name).to_owned(), value),
            Field::Metadata(key) => self.metadata.insert(key.clone(), value),
        };
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.metadata.is_empty()
    }

    /// As stored: compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a map of strings serialises")
    }

    /// From its stored JSON; `None` for text that is not one.
    pub fn from_json(text: &str) -> Option<Self> {
        let mut map: Self = serde_json::from_str(text).ok()?;
        // `flatten` hands the metadata object to `fields` too when it fails.
        map.fields.remove("metadata");
        Some(map)
    }

    /// From a stored column: NULL, or text that is not a map, is empty.
    pub fn from_column(text: Option<&str>) -> Self {
        text.and_then(Self::from_json).unwrap_or_default()
    }
}

/// A committed field of a row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// One of [`PERSONAL_FIELDS`].
    Column(&'static str),
    /// A top-level key of the metadata.
    Metadata(String),
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Column(name) => f.write_str(name),
            Field::Metadata(key) => write!(f, "metadata.{key}"),
        }
    }
}

/// The value of a personal field of `row`, as it is committed to.
pub fn column_value(row: &activity::Model, name: &str) -> Value {
    let uuid = |u: Option<uuid::Uuid>| u.map_or(Value::Null, |u| Value::String(u.to_string()));
    let text = |t: &Option<String>| t.clone().map_or(Value::Null, Value::String);
    match name {
        "actor_uuid" => uuid(row.actor_uuid),
        "resource_uuid" => uuid(row.resource_uuid),
        "target_uuid" => uuid(row.target_uuid),
        "client_ip" => text(&row.client_ip),
        "user_agent" => text(&row.user_agent),
        _ => Value::Null,
    }
}

/// Every committed field of `row` that holds a value, in canonical order.
pub fn fields_of(row: &activity::Model) -> Vec<(Field, Value)> {
    let mut out: Vec<(Field, Value)> = PERSONAL_FIELDS
        .iter()
        .map(|name| (Field::Column(name), column_value(row, name)))
        .filter(|(_, v)| !v.is_null())
        .collect();
    if let Value::Object(map) = &row.metadata {
        out.extend(
            map.iter()
                .map(|(k, v)| (Field::Metadata(k.clone()), v.clone())),
        );
    }
    out
}

/// Writes `value` as canonical JSON: no whitespace, object keys sorted by
/// code point, strings escaped as JSON requires and nothing more (no
/// `\uXXXX` for non-ASCII), numbers as serde_json writes them.
pub fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(key, out);
                out.push(':');
                canonical_json(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        Value::String(s) => string(s, out),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

/// A JSON string, escaped as serde_json (and Python's `json.dumps` with
/// `ensure_ascii=False`) escape it.
fn string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).expect("a string serialises"));
}

/// The commitment to `value` under `salt`: hex SHA-256 of the salt's bytes
/// followed by the value's canonical JSON.
pub fn commitment(salt_hex: &str, value: &Value) -> Option<String> {
    let mut salt = [0u8; SALT_BYTES];
    hex::decode_to_slice(salt_hex, &mut salt).ok()?;
    Some(commit(&salt, value, &mut String::new()))
}

/// [`commitment`] under a salt's bytes, using `scratch` for the value's JSON.
fn commit(salt: &[u8], value: &Value, scratch: &mut String) -> String {
    scratch.clear();
    canonical_json(value, scratch);
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(scratch.as_bytes());
    to_hex(&hasher.finalize().into())
}

/// A row as the sealer seals it: fresh salts for every committed field
/// that holds a value, and the commitments they give.
pub fn seal_fields(row: &activity::Model) -> (FieldMap, Value) {
    let mut salts = FieldMap::default();
    let mut object = Map::new();
    let mut scratch = String::new();
    let mut salted = |field: &Field, value: &Value| -> Value {
        let salt = rand::random::<[u8; SALT_BYTES]>();
        let mut text = [0u8; 2 * SALT_BYTES];
        hex::encode_to_slice(salt, &mut text).expect("the buffer fits the salt");
        let committed = commit(&salt, value, &mut scratch);
        salts.insert(
            field,
            std::str::from_utf8(&text).expect("hex is ASCII").to_owned(),
        );
        Value::String(committed)
    };
    for name in PERSONAL_FIELDS {
        let value = column_value(row, name);
        let committed = if value.is_null() {
            Value::Null
        } else {
            salted(&Field::Column(name), &value)
        };
        object.insert(name.to_owned(), committed);
    }
    let mut meta = Map::new();
    if let Value::Object(stored) = &row.metadata {
        for (key, value) in stored {
            meta.insert(key.clone(), salted(&Field::Metadata(key.clone()), value));
        }
    }
    object.insert("metadata".into(), Value::Object(meta));
    (salts, Value::Object(object))
}

/// The commitments of a row, resolved from its values, salts and erased
/// commitments; the fields that could not be resolved come back in `unsalted`.
pub struct Commitments {
    /// The object the canonical form carries.
    pub object: Value,
    /// Fields whose commitment came from the erased map.
    pub erased: Vec<Field>,
    /// Fields holding a value that has neither salt nor erased commitment.
    pub unsalted: Vec<Field>,
}

/// The commitments object of `row`: for each personal field, its
/// commitment, or null when the field is null and was sealed so; for the
/// metadata, an object of the commitments of its top-level keys.
pub fn commitments(row: &activity::Model, salts: &FieldMap, erased: &FieldMap) -> Commitments {
    let mut erased_fields = Vec::new();
    let mut unsalted = Vec::new();
    let mut resolve = |field: Field, value: &Value| -> Value {
        if let Some(c) = erased.get(&field) {
            erased_fields.push(field);
            return Value::String(c.clone());
        }
        if let Some(salt) = salts.get(&field) {
            return commitment(salt, value).map_or(Value::Null, Value::String);
        }
        if !value.is_null() {
            unsalted.push(field);
        }
        Value::Null
    };
    let mut object = Map::new();
    for name in PERSONAL_FIELDS {
        let value = column_value(row, name);
        object.insert(name.to_owned(), resolve(Field::Column(name), &value));
    }
    let mut meta = Map::new();
    let empty = Map::new();
    let stored = row.metadata.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = stored.keys().collect();
    // A key sealed but since removed from the row is committed as null,
    // which cannot match: the row changed.
    keys.extend(salts.metadata.keys().chain(erased.metadata.keys()));
    keys.sort();
    keys.dedup();
    for key in keys {
        let value = stored.get(key).cloned().unwrap_or(Value::Null);
        meta.insert(key.clone(), resolve(Field::Metadata(key.clone()), &value));
    }
    object.insert("metadata".into(), Value::Object(meta));
    Commitments {
        object: Value::Object(object),
        erased: erased_fields,
        unsalted,
    }
}

/// The canonical form of `row` with its commitments object: compact JSON of
/// `[version, txid, seq, uuid, inserted_at µs, action, module, mode,
/// resource_type, correlation_id, idempotency_key, idempotency_scope,
/// commitments]`.
pub fn canonical_form(row: &activity::Model, commitments: &Value) -> String {
    // Written element by element rather than as one `Value`, which would
    // copy every string of the row and the commitments once more.
    let mut out = String::with_capacity(1024);
    out.push('[');
    string(FORM_VERSION, &mut out);
    let _ = write!(
        out,
        ",{},{},\"{}\",{},",
        row.txid,
        row.seq,
        row.uuid,
        row.inserted_at.timestamp_micros()
    );
    string(&row.action, &mut out);
    for text in [
        &row.module,
        &row.mode,
        &row.resource_type,
        &row.correlation_id,
        &row.idempotency_key,
        &row.idempotency_scope,
    ] {
        out.push(',');
        match text {
            Some(text) => string(text, &mut out),
            None => out.push_str("null"),
        }
    }
    out.push(',');
    canonical_json(commitments, &mut out);
    out.push(']');
    out
}

/// One step of the chain: SHA-256 of the previous hash's 32 bytes followed
/// by the row's canonical form.
pub fn chain(previous: &[u8; 32], form: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(form.as_bytes());
    hasher.finalize().into()
}

/// A hash as stored and shown: 64 lower-case hex digits.
pub fn to_hex(hash: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    hex::encode_to_slice(hash, &mut out).expect("the buffer fits the hash");
    std::str::from_utf8(&out).expect("hex is ASCII").to_owned()
}

/// A stored hash; `None` for text that is not 64 hex digits.
pub fn from_hex(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_keeps_unicode() {
        let mut out = String::new();
        canonical_json(
            &json!({"b": [1, {"z": "é\n\"", "a": null}], "a": 1.5, "A": true}),
            &mut out,
        );
        assert_eq!(out, r#"{"A":true,"a":1.5,"b":[1,{"a":null,"z":"é\n\""}]}"#);
    }

    /// A row with every field the form carries, and metadata of each kind.
    fn full_row() -> activity::Model {
        let mut row = crate::service::testing::row("post.created");
        row.actor_uuid = Some(uuid::Uuid::now_v7());
        row.target_uuid = Some(uuid::Uuid::now_v7());
        row.resource_uuid = Some(uuid::Uuid::now_v7());
        row.client_ip = Some("10.0.0.1".into());
        row.user_agent = Some("Agent \"é\"".into());
        row.module = Some("posts".into());
        row.correlation_id = Some("c-1".into());
        row.metadata = json!({"title": "Hé\n", "n": 1.5, "big": 12345678901234i64,
                              "list": [true, null, {"z": 1, "a": "x"}]});
        row
    }

    #[test]
    fn the_sealers_commitments_are_the_ones_verification_recomputes() {
        let row = full_row();
        let (salts, sealed) = seal_fields(&row);
        assert_eq!(salts.fields.len(), 5);
        assert_eq!(salts.metadata.len(), 4);
        let recomputed = commitments(&row, &salts, &FieldMap::default());
        assert_eq!(recomputed.object, sealed);
        assert!(recomputed.unsalted.is_empty() && recomputed.erased.is_empty());

        let mut bare = crate::service::testing::row("post.created");
        bare.metadata = json!({});
        let (salts, sealed) = seal_fields(&bare);
        assert!(salts.is_empty());
        assert_eq!(
            commitments(&bare, &salts, &FieldMap::default()).object,
            sealed
        );
    }

    #[test]
    fn the_canonical_form_is_the_canonical_json_of_its_documented_array() {
        for row in [full_row(), crate::service::testing::row("user.registered")] {
            let (_, sealed) = seal_fields(&row);
            let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
            let documented = Value::Array(vec![
                Value::String(FORM_VERSION.into()),
                row.txid.into(),
                row.seq.into(),
                Value::String(row.uuid.to_string()),
                row.inserted_at.timestamp_micros().into(),
                Value::String(row.action.clone()),
                opt(&row.module),
                opt(&row.mode),
                opt(&row.resource_type),
                opt(&row.correlation_id),
                opt(&row.idempotency_key),
                opt(&row.idempotency_scope),
                sealed.clone(),
            ]);
            let mut expected = String::new();
            canonical_json(&documented, &mut expected);
            assert_eq!(canonical_form(&row, &sealed), expected);
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for n in [
            json!(0),
            json!(-7),
            json!(1.5),
            json!(1e300),
            json!(0.1),
            json!(u64::MAX),
        ] {
            let mut out = String::new();
            canonical_json(&n, &mut out);
            assert_eq!(out, serde_json::to_string(&n).unwrap());
        }
    }

    #[test]
    fn a_changed_value_or_salt_changes_the_commitment() {
        let salt = "00112233445566778899aabbccddeeff";
        let a = commitment(salt, &json!("ann@example.com")).unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, commitment(salt, &json!("ann@example.org")).unwrap());
        assert_ne!(
            a,
            commitment(
                "ff112233445566778899aabbccddeeff",
                &json!("ann@example.com")
            )
            .unwrap()
        );
        assert_eq!(commitment("zz", &json!(1)), None);
    }

    #[test]
    fn field_maps_round_trip_through_their_json() {
        let mut map = FieldMap::default();
        map.insert(&Field::Column("actor_uuid"), "aa".into());
        map.insert(&Field::Metadata("email_to".into()), "bb".into());
        let text = map.to_json();
        assert_eq!(text, r#"{"actor_uuid":"aa","metadata":{"email_to":"bb"}}"#);
        assert_eq!(FieldMap::from_json(&text), Some(map));
        assert_eq!(FieldMap::from_json("{}"), Some(FieldMap::default()));
    }

    #[test]
    fn an_erased_field_keeps_the_form_and_an_unsalted_value_is_reported() {
        let mut row = crate::service::testing::row("post.created");
        row.actor_uuid = Some(uuid::Uuid::now_v7());
        row.metadata = json!({"title": "Hello"});
        let (salts, sealed) = seal_fields(&row);
        let form = canonical_form(&row, &sealed);

        // Erasure: the commitment moves to the erased map, the value changes.
        let mut kept = salts.clone();
        let mut erased = FieldMap::default();
        let actor = Field::Column("actor_uuid");
        let salt = kept.remove(&actor).unwrap();
        erased.insert(
            &actor,
            commitment(&salt, &column_value(&row, "actor_uuid")).unwrap(),
        );
        row.actor_uuid = Some(uuid::Uuid::new_v4());
        let after = commitments(&row, &kept, &erased);
        assert_eq!(canonical_form(&row, &after.object), form);
        assert_eq!(after.erased, [actor]);

        // A value where none was sealed has nothing to commit with.
        row.target_uuid = Some(uuid::Uuid::new_v4());
        let forged = commitments(&row, &kept, &erased);
        assert_eq!(forged.unsalted, [Field::Column("target_uuid")]);
    }
}
