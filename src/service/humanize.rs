//! Metadata rendered for people: `{"from": a, "to": b}` and `x_from`/`x_to`
//! pairs as "a → b", maps as "key: value, …", lists joined with commas, null
//! as nothing. Any JSON shape renders; nothing here can fail.

use serde_json::{Map, Value};

/// How deep the rendering goes; anything deeper shows as "…".
const MAX_DEPTH: usize = 32;

/// The arrow between an old and a new value.
const ARROW: &str = "→";

/// `metadata` as one line of text for people.
///
/// Keys appear in the order the metadata holds them (sorted); a key whose
/// value renders as nothing (null, "", [], {}) is left out.
pub fn metadata_text(metadata: &Value) -> String {
    render(metadata, 0)
}

/// A value at the top of what is rendered, or as an entry's value.
fn render(value: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "…".into();
    }
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => join(items.iter().map(|item| nested(item, depth + 1, true))),
        Value::Object(map) => match pair(map, "from", "to") {
            Some((from, to)) if map.len() == 2 => arrow(from, to, depth),
            _ => render_map(map, depth),
        },
    }
}

/// A value inside a list or map: a map (but a bare from/to pair), or a list
/// inside a list, is bracketed so that its commas do not run into its parent's.
fn nested(value: &Value, depth: usize, in_list: bool) -> String {
    let text = render(value, depth);
    if text.is_empty() {
        return text;
    }
    match value {
        Value::Object(map) if !(map.len() == 2 && pair(map, "from", "to").is_some()) => {
            format!("({text})")
        }
        Value::Array(_) if in_list => format!("[{text}]"),
        _ => text,
    }
}

/// The non-empty parts, joined by commas.
fn join(parts: impl Iterator<Item = String>) -> String {
    parts
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Both values of a pair of keys, when both are present.
fn pair<'a>(map: &'a Map<String, Value>, from: &str, to: &str) -> Option<(&'a Value, &'a Value)> {
    Some((map.get(from)?, map.get(to)?))
}

/// "old → new"; either side may be empty.
fn arrow(from: &Value, to: &Value, depth: usize) -> String {
    let (from, to) = (nested(from, depth + 1, false), nested(to, depth + 1, false));
    format!("{from} {ARROW} {to}").trim().to_owned()
}

/// The stem of a `<stem>_from` or `<stem>_to` key; `None` for other keys.
fn stem(key: &str) -> Option<&str> {
    key.strip_suffix("_from")
        .or_else(|| key.strip_suffix("_to"))
        .filter(|stem| !stem.is_empty())
}

/// "key: value, …", with from/to pairs as "a → b" and x_from/x_to pairs as
/// "x: a → b", each where its first key is.
fn render_map(map: &Map<String, Value>, depth: usize) -> String {
    let mut parts = Vec::with_capacity(map.len());
    let mut pairs_done: Vec<&str> = Vec::new();
    for (key, value) in map {
        if key == "from" || key == "to" {
            if let Some((from, to)) = pair(map, "from", "to") {
                if !pairs_done.contains(&"") {
                    pairs_done.push("");
                    parts.push(arrow(from, to, depth));
                }
                continue;
            }
        }
        if let Some(stem) = stem(key) {
            if let Some((from, to)) = pair(map, &format!("{stem}_from"), &format!("{stem}_to")) {
                if !pairs_done.contains(&stem) {
                    pairs_done.push(stem);
                    parts.push(format!("{stem}: {}", arrow(from, to, depth)));
                }
                continue;
            }
        }
        let text = nested(value, depth + 1, false);
        if !text.is_empty() {
            parts.push(format!("{key}: {text}"));
        }
    }
    join(parts.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(v: Value) -> String {
        metadata_text(&v)
    }

    #[test]
    fn scalars() {
        assert_eq!(text(json!(null)), "");
        assert_eq!(text(json!(true)), "true");
        assert_eq!(text(json!(42)), "42");
        assert_eq!(text(json!(-1.5)), "-1.5");
        assert_eq!(text(json!("plain")), "plain");
        assert_eq!(text(json!("")), "");
    }

    #[test]
    fn empty_containers() {
        assert_eq!(text(json!({})), "");
        assert_eq!(text(json!([])), "");
        assert_eq!(text(json!({"a": {}, "b": [], "c": null, "d": ""})), "");
    }

    #[test]
    fn flat_map() {
        assert_eq!(
            text(json!({"title": "Hello", "words": 120, "draft": false})),
            "draft: false, title: Hello, words: 120"
        );
    }

    #[test]
    fn from_to_object() {
        assert_eq!(
            text(json!({"from": "draft", "to": "published"})),
            "draft → published"
        );
        assert_eq!(
            text(json!({"status": {"from": "draft", "to": "published"}})),
            "status: draft → published"
        );
        assert_eq!(text(json!({"from": null, "to": "x"})), "→ x");
        assert_eq!(text(json!({"from": "x", "to": null})), "x →");
        assert_eq!(text(json!({"from": 1, "to": [2, 3]})), "1 → 2, 3");
    }

    #[test]
    fn from_to_among_other_keys() {
        assert_eq!(
            text(json!({"from": "a", "to": "b", "why": "typo"})),
            "a → b, why: typo"
        );
        assert_eq!(text(json!({"from": "a"})), "from: a");
        assert_eq!(text(json!({"to": "b"})), "to: b");
    }

    #[test]
    fn suffixed_pairs() {
        assert_eq!(
            text(json!({"email_from": "a@x", "email_to": "b@x", "actor_role": "admin"})),
            "actor_role: admin, email: a@x → b@x"
        );
        assert_eq!(
            text(json!({"first_name_from": "", "first_name_to": "Ada"})),
            "first_name: → Ada"
        );
        // Half a pair is an ordinary key.
        assert_eq!(text(json!({"email_from": "a@x"})), "email_from: a@x");
        assert_eq!(text(json!({"x_to": 2})), "x_to: 2");
    }

    #[test]
    fn odd_keys() {
        assert_eq!(text(json!({"_from": 1, "_to": 2})), "_from: 1, _to: 2");
        assert_eq!(text(json!({"": "empty key"})), ": empty key");
        assert_eq!(text(json!({"__from": 1, "__to": 2})), "_: 1 → 2");
        assert_eq!(text(json!({"from_to": 1})), "from_to: 1");
        assert_eq!(
            text(json!({"a_from_to": 1, "a_from_from": 0})),
            "a_from: 0 → 1"
        );
        assert_eq!(
            text(json!({"ключ": "значение", "🙂": "☃"})),
            "ключ: значение, 🙂: ☃"
        );
        assert_eq!(text(json!({"a: b, c": "d"})), "a: b, c: d");
    }

    #[test]
    fn lists() {
        assert_eq!(text(json!({"tags": ["a", "b", "c"]})), "tags: a, b, c");
        assert_eq!(text(json!({"tags": ["a", null, "", "b"]})), "tags: a, b");
        assert_eq!(text(json!([1, "two", true, null])), "1, two, true");
        assert_eq!(text(json!([[1, 2], [3]])), "[1, 2], [3]");
        assert_eq!(text(json!({"m": [[1, 2], [3]]})), "m: [1, 2], [3]");
        assert_eq!(text(json!({"m": [[], [null]]})), "");
    }

    #[test]
    fn nested_maps() {
        assert_eq!(
            text(json!({"user": {"name": "Ada", "role": "admin"}, "n": 1})),
            "n: 1, user: (name: Ada, role: admin)"
        );
        assert_eq!(
            text(json!({"items": [{"sku": "A1", "qty": 2}, {"sku": "B2"}]})),
            "items: (qty: 2, sku: A1), (sku: B2)"
        );
        assert_eq!(
            text(json!({"changes": {"title_from": "Old", "title_to": "New"}})),
            "changes: (title: Old → New)"
        );
        assert_eq!(
            text(json!([{"from": 1, "to": 2}, {"from": 3, "to": 4}])),
            "1 → 2, 3 → 4"
        );
    }

    #[test]
    fn deep_nesting_is_cut_without_failing() {
        let mut deep = json!("bottom");
        for i in 0..200 {
            deep = if i % 2 == 0 {
                json!({ "k": deep })
            } else {
                json!([deep])
            };
        }
        let out = text(deep);
        assert!(out.starts_with("(k: (k: "), "{out}");
        assert!(out.contains('…'), "{out}");
        assert!(!out.contains("bottom"));
    }

    #[test]
    fn moderately_deep_nesting_renders_fully() {
        let v = json!({"a": {"b": {"c": {"d": {"from": 1, "to": 2}}}}});
        assert_eq!(text(v), "a: (b: (c: (d: 1 → 2)))");
    }

    #[test]
    fn numbers_of_every_kind() {
        assert_eq!(
            text(json!({"big": u64::MAX, "neg": i64::MIN, "f": 1e-7})),
            format!("big: {}, f: 1e-7, neg: {}", u64::MAX, i64::MIN)
        );
    }
}
