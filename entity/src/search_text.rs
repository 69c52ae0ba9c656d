//! The words of an activity's metadata, as `activities.search_text` holds
//! them. One rule, here beside the table it fills, for every writer of the
//! column: the service for new rows, the migrations for rows written before
//! the column existed. A database's own word splitting (PostgreSQL's
//! `[[:alnum:]]` follows the database's locale) would disagree with it.

use serde_json::Value;

/// The longest word kept, in bytes: PostgreSQL's text search ignores longer ones.
const MAX_WORD_BYTES: usize = 2047;

/// How many words [`push_words`] would append, without keeping them.
pub fn count_words(text: &str) -> usize {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty() && word.to_lowercase().len() <= MAX_WORD_BYTES)
        .count()
}

/// Appends the words of `text` to `out`: runs of letters and digits
/// (Unicode's), lower-cased.
pub fn push_words(text: &str, out: &mut Vec<String>) {
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        if word.len() <= MAX_WORD_BYTES {
            out.push(word);
        }
    }
}

/// The words of the string and number values of `metadata`, in document order.
pub fn metadata_words(metadata: &Value) -> Vec<String> {
    let mut words = Vec::new();
    let mut pending = vec![metadata];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(s) => push_words(s, &mut words),
            Value::Number(n) => push_words(&n.to_string(), &mut words),
            // Reversed, so that popping visits them in order.
            Value::Array(items) => pending.extend(items.iter().rev()),
            Value::Object(map) => pending.extend(map.values().rev()),
            Value::Null | Value::Bool(_) => {}
        }
    }
    words
}

/// What `activities.search_text` holds for `metadata`: its words, space-separated.
pub fn search_text(metadata: &Value) -> String {
    metadata_words(metadata).join(" ")
}
