//! Redaction: the values of sensitive metadata keys are replaced before an
//! activity is written or published, at any depth.

use std::sync::Arc;

use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

/// What a sensitive value is stored as.
pub const REDACTED: &str = "[REDACTED]";

/// The keys redacted when the deployment names none.
pub const DEFAULT_SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "password_hash",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "authorization",
    "cookie",
    "private_key",
    "credit_card",
    "ssn",
];

/// A key in the one spelling keys are compared in: Unicode NFKC (so
/// full-width `ＰＡＳＳＷＯＲＤ` is `PASSWORD`), trimmed, camelCase words and
/// `-`, `.` and space separators turned into single underscores, and
/// lower-cased: `apiKey`, `API-Key`, `"Api Key "` and `api_key` are one key.
pub fn normalize_key(key: &str) -> String {
    let key: String = key.nfkc().collect();
    let mut out = String::with_capacity(key.len());
    let mut previous: Option<char> = None;
    let mut chars = key.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, '-' | '.' | '_') || c.is_whitespace() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            previous = Some('_');
            continue;
        }
        if c.is_uppercase() {
            // A word starts at an upper-case letter after a lower-case one
            // or a digit (`apiKey`), or before a lower-case one that ends
            // an acronym (`APIKey`).
            let after_lower = previous.is_some_and(|p| p.is_lowercase() || p.is_numeric());
            let ends_acronym = previous.is_some_and(char::is_uppercase)
                && chars.peek().is_some_and(|n| n.is_lowercase());
            if (after_lower || ends_acronym) && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
        previous = Some(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Replaces the values of sensitive keys with [`REDACTED`].
///
/// Keys are compared after [`normalize_key`]. A key is sensitive when it is
/// a configured key, or one with `_from` or `_to` appended (how
/// `log_user_change` names the two sides of a changed field); a dotted key
/// (`creds.client_secret`, a flattened path) is sensitive when its last part is. Keys are matched in objects at any depth,
/// objects inside lists included; whatever the value (a string, a number, an
/// object, null), it becomes the string "[REDACTED]".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redactor {
    /// Normalized ([`normalize_key`]), never empty.
    keys: Arc<[String]>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(DEFAULT_SENSITIVE_KEYS)
    }
}

impl Redactor {
    /// A redactor for `keys`; blank keys are ignored, so an empty list redacts nothing.
    pub fn new<S: AsRef<str>>(keys: impl IntoIterator<Item = S>) -> Self {
        let keys: Vec<String> = keys
            .into_iter()
            .map(|k| normalize_key(k.as_ref()))
            .filter(|k| !k.is_empty())
            .collect();
        Self { keys: keys.into() }
    }

    /// The configured keys, normalized.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Whether the value under `key` is redacted.
    pub fn is_sensitive(&self, key: &str) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        let whole = normalize_key(key);
        // The last part of a dotted key, normalized alike.
        let last = key
            .rsplit_once('.')
            .map(|(_, last)| normalize_key(last))
            .filter(|last| !last.is_empty());
        std::iter::once(whole).chain(last).any(|key| {
            let stem = key
                .strip_suffix("_from")
                .or_else(|| key.strip_suffix("_to"));
            self.keys
                .iter()
                .any(|k| *k == key || stem.is_some_and(|s| s == k))
        })
    }

    /// Redacts `value` in place.
    pub fn redact(&self, value: &mut Value) {
        if self.keys.is_empty() {
            return;
        }
        // An explicit stack: metadata built in Rust may nest deeper than the
        // stack would like.
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            match value {
                Value::Object(map) => {
                    for (key, v) in map.iter_mut() {
                        if self.is_sensitive(key) {
                            *v = Value::String(REDACTED.into());
                        } else {
                            pending.push(v);
                        }
                    }
                }
                Value::Array(items) => pending.extend(items.iter_mut()),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redacted(mut v: Value) -> Value {
        Redactor::default().redact(&mut v);
        v
    }

    #[test]
    fn top_level_keys_of_any_type() {
        assert_eq!(
            redacted(
                json!({"password": "hunter2", "token": 123, "secret": {"a": 1}, "api_key": null, "title": "ok"})
            ),
            json!({"password": REDACTED, "token": REDACTED, "secret": REDACTED, "api_key": REDACTED, "title": "ok"})
        );
    }

    #[test]
    fn any_depth_and_inside_lists() {
        assert_eq!(
            redacted(json!({
                "user": {"profile": {"password_hash": "$2b$…", "name": "Ada"}},
                "keys": [{"api_key": "k1", "id": 1}, [{"token": "t"}], "token"],
            })),
            json!({
                "user": {"profile": {"password_hash": REDACTED, "name": "Ada"}},
                "keys": [{"api_key": REDACTED, "id": 1}, [{"token": REDACTED}], "token"],
            })
        );
    }

    #[test]
    fn diff_sides_and_case() {
        assert_eq!(
            redacted(
                json!({"password_from": "a", "password_to": "b", "Token": "x", "email_to": "e"})
            ),
            json!({"password_from": REDACTED, "password_to": REDACTED, "Token": REDACTED, "email_to": "e"})
        );
    }

    #[test]
    fn only_whole_keys() {
        let v = json!({"passwords": 1, "my_token": 2, "secretary": 3, "to": 4, "_from": 5});
        assert_eq!(redacted(v.clone()), v);
    }

    #[test]
    fn keys_are_normalized_before_they_are_compared() {
        for key in [
            "apiKey",
            "APIKey",
            "Api-Key",
            "API_KEY",
            "api key",
            "  api_key ",
            "accessToken",
            "Password ",
            "ＰＡＳＳＷＯＲＤ",
            "creds.client_secret",
            "clientSecret_to",
            "passwordFrom",
            "x-api-key",
            "Authorization",
            "refresh-token",
            "creditCard",
        ] {
            let x_api_key = key == "x-api-key";
            assert_eq!(
                Redactor::default().is_sensitive(key),
                !x_api_key,
                "{key}: {}",
                normalize_key(key)
            );
        }
        assert_eq!(normalize_key("APIKey"), "api_key");
        assert_eq!(normalize_key("ＰＡＳＳＷＯＲＤ"), "password");
        assert_eq!(normalize_key(" refresh--Token "), "refresh_token");
        assert_eq!(normalize_key("userID2fa"), "user_id2fa");
    }

    #[test]
    fn configured_list_replaces_the_default() {
        let r = Redactor::new(["SSN", " ", ""]);
        assert_eq!(r.keys(), ["ssn"]);
        let mut v = json!({"ssn": "123", "password": "p"});
        r.redact(&mut v);
        assert_eq!(v, json!({"ssn": REDACTED, "password": "p"}));
        let none = Redactor::new(Vec::<String>::new());
        let mut v = json!({"password": "p"});
        none.redact(&mut v);
        assert_eq!(v, json!({"password": "p"}));
    }
}
