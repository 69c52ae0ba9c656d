//! The metadata filters: containment of a JSON object, and words of its text.
//!
//! Each rule exists three times — PostgreSQL SQL, SQLite SQL, and Rust for
//! activities being published live — and the three must agree.
//!
//! * Containment follows PostgreSQL's `jsonb @>`: every key of the wanted
//!   object is present with a value that contains the wanted value; a wanted
//!   list is contained when each of its items is contained by some item of
//!   the stored list (order and repeats do not matter); scalars are equal
//!   (numbers by value, so `1` equals `1.0`); types must agree at every level.
//! * Text search looks for words: the words of the metadata are those of its
//!   string and number values, at any depth, split at everything that is not
//!   a letter or digit and lower-cased. The service stores them, joined by
//!   spaces, in `activities.search_text` when it writes a row (the rule is
//!   `entity::search_text`, which the migrations use for older rows too); a
//!   query matches when every one of its words is among them.

use sea_orm::sea_query::Expr;
use sea_orm::{DbBackend, Value as SqlValue};
use serde_json::{Map, Number, Value};

pub use entity::search_text::{metadata_words, search_text};

/// How many words a search query holds, without keeping them.
pub fn query_word_count(query: &str) -> usize {
    entity::search_text::count_words(query)
}

/// The words of a search query, by the rule the stored words follow.
pub fn query_words(query: &str) -> Vec<String> {
    let mut words = Vec::new();
    entity::search_text::push_words(query, &mut words);
    words
}

/// Whether every word of `query` is a word of `metadata`; a query without
/// words asks for nothing and matches everything.
pub fn text_matches(metadata: &Value, query: &str) -> bool {
    let wanted = query_words(query);
    if wanted.is_empty() {
        return true;
    }
    let have = metadata_words(metadata);
    wanted.iter().all(|w| have.contains(w))
}

/// The text-search condition for `query`, or `None` when it has no words.
pub fn text_condition(backend: DbBackend, query: &str) -> Option<Expr> {
    let words = query_words(query);
    if words.is_empty() {
        return None;
    }
    Some(match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            "to_tsvector('simple'::regconfig, activities.search_text) \
             @@ plainto_tsquery('simple'::regconfig, $1)",
            [words.join(" ")],
        ),
        // Each word a quoted FTS5 phrase; words hold only letters and digits.
        _ => Expr::cust_with_values(
            "activities.rowid IN (SELECT rowid FROM activities_fts WHERE activities_fts MATCH ?)",
            [words
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(" ")],
        ),
    })
}

/// Whether two JSON numbers are equal by value.
fn same_number(a: &Number, b: &Number) -> bool {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a.as_f64() == b.as_f64(),
    }
}

/// Whether two JSON values are equal as the databases keep them: objects
/// key by key in any order, lists item by item in order, numbers by value
/// (PostgreSQL's jsonb may give back `1e2` as `100`).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| same_json(v, w))
        }
        (Value::Number(a), Value::Number(b)) => same_number(a, b),
        _ => a == b,
    }
}

/// Whether `have` contains `want`, as PostgreSQL's `jsonb @>` decides it
/// below the top level (where a list never contains a bare scalar).
pub fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(_), Value::Object(want)) => contains_object(have, want),
        (Value::Array(have), Value::Array(want)) => {
            want.iter().all(|w| have.iter().any(|h| contains(h, w)))
        }
        (Value::Number(h), Value::Number(w)) => same_number(h, w),
        _ => have == want,
    }
}

/// Whether `have` is an object containing every entry of `want`.
pub fn contains_object(have: &Value, want: &Map<String, Value>) -> bool {
    match have {
        Value::Object(have) => want
            .iter()
            .all(|(key, w)| have.get(key).is_some_and(|h| contains(h, w))),
        _ => false,
    }
}

/// The containment condition `metadata ⊇ want`.
pub fn contains_condition(backend: DbBackend, want: &Map<String, Value>) -> Expr {
    match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            "activities.metadata @> CAST($1 AS jsonb)",
            [Value::Object(want.clone()).to_string()],
        ),
        _ => {
            let mut sql = SqliteContainment::default();
            let text = sql.object("activities.metadata", want);
            Expr::cust_with_values(text, sql.values)
        }
    }
}

/// Builds SQLite SQL for containment out of `json_each`, one correlated
/// `EXISTS` per wanted key or list item, every wanted value a bound parameter.
#[derive(Default)]
struct SqliteContainment {
    values: Vec<SqlValue>,
    aliases: usize,
}

impl SqliteContainment {
    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("j{}", self.aliases)
    }

    /// `source` (JSON text) is an object holding every entry of `want`.
    fn object(&mut self, source: &str, want: &Map<String, Value>) -> String {
        let mut parts = vec![format!("json_type({source}) = 'object'")];
        for (key, value) in want {
            let j = self.alias();
            self.values.push(key.clone().into());
            let inner = self.value(&j, value);
            parts.push(format!(
                "EXISTS (SELECT 1 FROM json_each({source}) AS {j} WHERE {j}.key = ? AND {inner})"
            ));
        }
        parts.join(" AND ")
    }

    /// The `json_each` row `j` holds a value containing `want`.
    fn value(&mut self, j: &str, want: &Value) -> String {
        match want {
            Value::Null => format!("{j}.type = 'null'"),
            Value::Bool(true) => format!("{j}.type = 'true'"),
            Value::Bool(false) => format!("{j}.type = 'false'"),
            Value::String(s) => {
                self.values.push(s.clone().into());
                format!("{j}.type = 'text' AND {j}.atom = ?")
            }
            Value::Number(n) => {
                self.values.push(match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => i.into(),
                    (None, Some(f)) => f.into(),
                    (None, None) => SqlValue::Double(None),
                });
                format!("{j}.type IN ('integer', 'real') AND {j}.atom = ?")
            }
            Value::Object(map) => {
                let source = format!("{j}.value");
                format!("{j}.type = 'object' AND {}", self.object(&source, map))
            }
            Value::Array(items) => {
                let mut parts = vec![format!("{j}.type = 'array'")];
                for item in items {
                    let k = self.alias();
                    let inner = self.value(&k, item);
                    parts.push(format!(
                        "EXISTS (SELECT 1 FROM json_each({j}.value) AS {k} WHERE {inner})"
                    ));
                }
                parts.join(" AND ")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_of_strings_and_numbers_at_any_depth() {
        let meta = json!({
            "title": "Hello, World!",
            "n": 4711,
            "price": 3.5,
            "ok": true,
            "none": null,
            "tags": ["Rust-Lang", {"deep": "Café au_lait"}],
        });
        assert_eq!(
            metadata_words(&meta),
            ["4711", "3", "5", "rust", "lang", "café", "au", "lait", "hello", "world"]
        );
        assert_eq!(search_text(&json!({})), "");
    }

    #[test]
    fn text_matching_wants_every_word() {
        let meta = json!({"title": "Quarterly report", "owner": {"name": "Ada Lovelace"}});
        assert!(text_matches(&meta, "report"));
        assert!(text_matches(&meta, "REPORT ada"));
        assert!(text_matches(&meta, "  lovelace,quarterly "));
        assert!(!text_matches(&meta, "report bob"));
        assert!(!text_matches(&meta, "repo"));
        assert!(!text_matches(&meta, "title"), "keys are not words");
        assert!(text_matches(&meta, " ,;"), "no words: no condition");
    }

    #[test]
    fn overlong_words_are_dropped() {
        // PostgreSQL's text search ignores words over 2047 bytes.
        let long = "x".repeat(2048);
        assert_eq!(query_words(&format!("a {long} b")), ["a", "b"]);
    }

    #[test]
    fn same_json_compares_as_the_databases_keep_values() {
        let a = json!({"n": 100, "f": 1.5, "o": {"x": [1, 2]}});
        let b: Value =
            serde_json::from_str(r#"{"o": {"x": [1, 2.0]}, "f": 1.50, "n": 1e2}"#).unwrap();
        assert!(same_json(&a, &b));
        assert!(!same_json(
            &a,
            &json!({"n": 100, "f": 1.5, "o": {"x": [2, 1]}})
        ));
        assert!(!same_json(&a, &json!({"n": 100, "f": 1.5})));
        assert!(!same_json(&json!({"n": "100"}), &json!({"n": 100})));
        assert!(!same_json(&json!({"a": null}), &json!({})));
    }

    #[test]
    fn containment_like_jsonb() {
        let have = json!({
            "a": 1, "s": "x", "b": true, "z": null,
            "o": {"p": {"q": [1, 2]}, "r": "s"},
            "l": [1, "two", {"k": "v", "w": 2}, [3, 4]],
        });
        let yes = [
            json!({}),
            json!({"a": 1}),
            json!({"a": 1.0}),
            json!({"z": null}),
            json!({"o": {}}),
            json!({"o": {"p": {"q": [2]}}}),
            json!({"l": []}),
            json!({"l": ["two", 1]}),
            json!({"l": [{"k": "v"}]}),
            json!({"l": [[4]]}),
            json!({"l": [1, 1, 1]}),
            json!({"s": "x", "b": true}),
        ];
        let no = [
            json!({"a": 2}),
            json!({"a": "1"}),
            json!({"missing": null}),
            json!({"z": false}),
            json!({"b": 1}),
            json!({"o": {"p": {"q": 2}}}),
            json!({"o": []}),
            json!({"l": {}}),
            json!({"l": [5]}),
            json!({"l": [{"k": "v", "w": 3}]}),
            json!({"l": [[3, 5]]}),
            json!({"l": [3]}),
            json!({"s": ["x"]}),
        ];
        for want in yes {
            assert!(contains(&have, &want), "{want}");
        }
        for want in no {
            assert!(!contains(&have, &want), "{want}");
        }
    }

    #[test]
    fn sqlite_sql_binds_every_value() {
        let want = json!({"a": "x", "l": [1, {"k": null}]});
        let mut sql = SqliteContainment::default();
        let text = sql.object("m", want.as_object().unwrap());
        assert_eq!(text.matches('?').count(), sql.values.len());
        assert_eq!(sql.values.len(), 5);
    }
}
