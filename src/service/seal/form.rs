//! The canonical form of a sealed row and the chain step, as the README's
//! "Verifying the log" section defines them for verifiers in any language.
//!
//! One unit: the sealer's fast path (`seal_row`) and the verifier's
//! (`commitments`) must write the same bytes, and its tests hold both to
//! the documented form; split apart, the two could drift unseen.

use std::collections::BTreeMap;
use std::io::Write as _;

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

/// A personal field's value as the row holds it.
enum Personal<'a> {
    /// `actor_uuid`, `resource_uuid`, `target_uuid`.
    Uuid(uuid::Uuid),
    /// `client_ip`, `user_agent`.
    Text(&'a str),
}

/// The value of the personal field `name` of `row`; `None` when it is null
/// (or `name` is not one of [`PERSONAL_FIELDS`]).
fn personal<'a>(row: &'a activity::Model, name: &str) -> Option<Personal<'a>> {
    match name {
        "actor_uuid" => row.actor_uuid.map(Personal::Uuid),
        "resource_uuid" => row.resource_uuid.map(Personal::Uuid),
        "target_uuid" => row.target_uuid.map(Personal::Uuid),
        "client_ip" => row.client_ip.as_deref().map(Personal::Text),
        "user_agent" => row.user_agent.as_deref().map(Personal::Text),
        _ => None,
    }
}

/// The value of a personal field of `row`, as it is committed to.
pub fn column_value(row: &activity::Model, name: &str) -> Value {
    match personal(row, name) {
        Some(Personal::Uuid(u)) => Value::String(u.to_string()),
        Some(Personal::Text(t)) => Value::String(t.to_owned()),
        None => Value::Null,
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
    let mut bytes = std::mem::take(out).into_bytes();
    write_json(value, &mut bytes);
    *out = String::from_utf8(bytes).expect("canonical JSON is UTF-8");
}

/// [`canonical_json`] into bytes, which the sealer reuses from row to row.
fn write_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                member(i == 0, key, out);
                write_json(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => string(s, out),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

/// Opens an object member: a comma unless it is the first, the key, a colon.
fn member(first: bool, key: &str, out: &mut Vec<u8>) {
    if !first {
        out.push(b',');
    }
    string(key, out);
    out.push(b':');
}

/// A JSON string, escaped as serde_json (and Python's `json.dumps` with
/// `ensure_ascii=False`) escape it, written in place.
fn string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(out, s).expect("a string serialises into memory");
}

/// The commitment to `value` under `salt`: hex SHA-256 of the salt's bytes
/// followed by the value's canonical JSON.
pub fn commitment(salt_hex: &str, value: &Value) -> Option<String> {
    let mut salt = [0u8; SALT_BYTES];
    hex::decode_to_slice(salt_hex, &mut salt).ok()?;
    let mut json = Vec::new();
    write_json(value, &mut json);
    Some(to_hex(&commit(&salt, &json)))
}

/// SHA-256 of a salt's bytes followed by a value's canonical JSON.
fn commit(salt: &[u8], json: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(json);
    hasher.finalize().into()
}

/// Buffers the sealer reuses from row to row, so that sealing a batch
/// allocates little beyond what it stores.
#[derive(Default)]
pub struct Sealing {
    form: Vec<u8>,
    value: Vec<u8>,
    salts: Vec<u8>,
    metadata_salts: Vec<u8>,
}

/// The keys of the commitments object in canonical (code point) order.
const COMMITTED_KEYS: [&str; 6] = [
    "actor_uuid",
    "client_ip",
    "metadata",
    "resource_uuid",
    "target_uuid",
    "user_agent",
];

/// Seals `row` after the chain hash `previous`: draws a fresh salt for
/// every committed field that holds a value and returns the chain hash at
/// `row` with the salts as stored ([`FieldMap::to_json`]'s text), or `None`
/// when no field holds a value. Writes the same bytes as [`canonical_form`]
/// over [`commitments`] under those salts (the tests hold it to that), but
/// straight into reused buffers: the sealer's CPU is the writers' CPU.
pub fn seal_row(
    row: &activity::Model,
    previous: &[u8; 32],
    buffers: &mut Sealing,
) -> ([u8; 32], Option<String>) {
    let Sealing {
        form,
        value,
        salts,
        metadata_salts,
    } = buffers;
    form.clear();
    salts.clear();
    metadata_salts.clear();
    form_head(row, form);
    form.push(b'{');
    // Salts in `FieldMap::to_json`'s order: the columns, then `metadata`;
    // the two buffers hold members, their braces are added at the end.
    fn salt_of(name: &str, json: &[u8], form: &mut Vec<u8>, salts: &mut Vec<u8>) {
        let salt = rand::random::<[u8; SALT_BYTES]>();
        let mut text = [0u8; 2 * SALT_BYTES];
        hex::encode_to_slice(salt, &mut text).expect("the buffer fits the salt");
        member(salts.is_empty(), name, salts);
        salts.push(b'"');
        salts.extend_from_slice(&text);
        salts.push(b'"');
        let mut hash = [0u8; 64];
        hex::encode_to_slice(commit(&salt, json), &mut hash).expect("the buffer fits the hash");
        form.push(b'"');
        form.extend_from_slice(&hash);
        form.push(b'"');
    }
    for (i, name) in COMMITTED_KEYS.into_iter().enumerate() {
        member(i == 0, name, form);
        if name == "metadata" {
            form.push(b'{');
            let empty = Map::new();
            let stored = row.metadata.as_object().unwrap_or(&empty);
            let mut keys: Vec<&String> = stored.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                member(i == 0, key, form);
                value.clear();
                write_json(&stored[key], value);
                salt_of(key, value, form, metadata_salts);
            }
            form.push(b'}');
            continue;
        }
        value.clear();
        match personal(row, name) {
            Some(Personal::Uuid(uuid)) => {
                let _ = write!(value, "\"{uuid}\"");
            }
            Some(Personal::Text(text)) => string(text, value),
            None => {
                form.extend_from_slice(b"null");
                continue;
            }
        }
        salt_of(name, value, form, salts);
    }
    form.extend_from_slice(b"}]");
    if !metadata_salts.is_empty() {
        member(salts.is_empty(), "metadata", salts);
        salts.push(b'{');
        salts.extend_from_slice(metadata_salts);
        salts.push(b'}');
    }
    let stored = (!salts.is_empty()).then(|| {
        let mut text = String::with_capacity(salts.len() + 2);
        text.push('{');
        text.push_str(std::str::from_utf8(salts).expect("JSON is UTF-8"));
        text.push('}');
        text
    });
    (chain(previous, &form[..]), stored)
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
    let mut out = Vec::with_capacity(1024);
    form_head(row, &mut out);
    write_json(commitments, &mut out);
    out.push(b']');
    String::from_utf8(out).expect("canonical JSON is UTF-8")
}

/// The canonical form up to its commitments object: `[` and the twelve
/// elements before it, each followed by a comma.
fn form_head(row: &activity::Model, out: &mut Vec<u8>) {
    out.push(b'[');
    string(FORM_VERSION, out);
    let _ = write!(
        out,
        ",{},{},\"{}\",{},",
        row.txid,
        row.seq,
        row.uuid,
        row.inserted_at.timestamp_micros()
    );
    string(&row.action, out);
    for text in [
        &row.module,
        &row.mode,
        &row.resource_type,
        &row.correlation_id,
        &row.idempotency_key,
        &row.idempotency_scope,
    ] {
        out.push(b',');
        match text {
            Some(text) => string(text, out),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b',');
}

/// One step of the chain: SHA-256 of the previous hash's 32 bytes followed
/// by the row's canonical form.
pub fn chain(previous: &[u8; 32], form: impl AsRef<[u8]>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(form.as_ref());
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

    /// What the sealer stored for `row`: its salts, and the commitments
    /// object verification recomputes from them.
    fn sealed(row: &activity::Model) -> (FieldMap, Value) {
        let (_, stored) = seal_row(row, &GENESIS, &mut Sealing::default());
        let salts = FieldMap::from_column(stored.as_deref());
        let object = commitments(row, &salts, &FieldMap::default()).object;
        (salts, object)
    }

    #[test]
    fn the_sealers_hash_and_salts_are_the_ones_verification_recomputes() {
        let mut awkward = full_row();
        // Keys that sort differently by code point than by letter, that
        // need escaping, or that name a column.
        awkward.metadata = json!({"é": "x", "Z": 1, "a\"b\n": {"k": [1, "é"]},
                                  "actor_uuid": "not the column", "metadata": null});
        awkward.user_agent = Some("tab\tand\u{1}control".into());
        let mut bare = crate::service::testing::row("post.created");
        bare.metadata = json!({});
        let mut fields_only = full_row();
        fields_only.metadata = json!({});
        let mut metadata_only = crate::service::testing::row("post.created");
        metadata_only.metadata = json!({"title": "t"});

        // One set of buffers for every row, as the sealer uses them: nothing
        // of one row may leak into the next.
        let mut buffers = Sealing::default();
        let mut previous = GENESIS;
        for (row, columns, keys) in [
            (full_row(), 5, 4),
            (bare, 0, 0),
            (awkward, 5, 5),
            (fields_only, 5, 0),
            (metadata_only, 0, 1),
            (full_row(), 5, 4),
        ] {
            let (hash, stored) = seal_row(&row, &previous, &mut buffers);
            let salts = FieldMap::from_column(stored.as_deref());
            assert_eq!(salts.fields.len(), columns, "{stored:?}");
            assert_eq!(salts.metadata.len(), keys, "{stored:?}");
            // Stored as `FieldMap::to_json` writes it, and NULL without salts.
            assert_eq!(stored, (!salts.is_empty()).then(|| salts.to_json()));
            let recomputed = commitments(&row, &salts, &FieldMap::default());
            assert!(recomputed.unsalted.is_empty() && recomputed.erased.is_empty());
            assert_eq!(
                hash,
                chain(&previous, canonical_form(&row, &recomputed.object))
            );
            previous = hash;
        }
    }

    #[test]
    fn the_committed_keys_are_the_personal_fields_and_metadata_in_code_point_order() {
        let mut keys: Vec<&str> = PERSONAL_FIELDS
            .iter()
            .copied()
            .chain(["metadata"])
            .collect();
        keys.sort();
        assert_eq!(keys, COMMITTED_KEYS);
    }

    #[test]
    fn each_seal_draws_fresh_salts() {
        let row = full_row();
        let mut buffers = Sealing::default();
        let (first, a) = seal_row(&row, &GENESIS, &mut buffers);
        let (second, b) = seal_row(&row, &GENESIS, &mut buffers);
        assert_ne!(first, second);
        let (a, b) = (
            FieldMap::from_column(a.as_deref()),
            FieldMap::from_column(b.as_deref()),
        );
        for (field, salt) in a.fields.iter().chain(&a.metadata) {
            assert_eq!(salt.len(), 2 * SALT_BYTES);
            assert!(
                !b.fields
                    .values()
                    .chain(b.metadata.values())
                    .any(|s| s == salt),
                "{field}"
            );
        }
    }

    #[test]
    fn the_canonical_form_is_the_canonical_json_of_its_documented_array() {
        for row in [full_row(), crate::service::testing::row("user.registered")] {
            let (_, sealed) = sealed(&row);
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
        let (salts, sealed) = sealed(&row);
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
