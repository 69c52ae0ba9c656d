//! Apollo's automatic persisted queries, with a store bounded by bytes.
//!
//! async-graphql's own extension keeps the parsed documents of the last
//! 1,024 hashes, whatever their size, and parses a new one before any limit
//! applies: four 1 MB documents took 500 MB. This store keeps the text,
//! which is what the client sent and what its size limit bounds, and each
//! hit is parsed again like any other request, within the token limit.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_graphql::{Request, ServerError, ServerResult};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The `persistedQuery` request extension.
#[derive(Deserialize)]
struct PersistedQuery {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

/// One stored document and when it was last used.
struct Entry {
    text: Arc<str>,
    used: u64,
}

/// The documents, by hash, and their use order.
#[derive(Default)]
struct Store {
    entries: HashMap<String, Entry>,
    /// Hashes by last use, oldest first.
    by_use: BTreeMap<u64, String>,
    clock: u64,
    bytes: usize,
}

impl Store {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn get(&mut self, hash: &str) -> Option<Arc<str>> {
        let now = self.tick();
        let entry = self.entries.get_mut(hash)?;
        self.by_use.remove(&entry.used);
        entry.used = now;
        self.by_use.insert(now, hash.to_owned());
        Some(entry.text.clone())
    }

    fn put(&mut self, hash: String, text: Arc<str>, max_bytes: usize) {
        let size = hash.len() + text.len();
        if size > max_bytes || self.entries.contains_key(&hash) {
            return;
        }
        while self.bytes + size > max_bytes {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some(gone) = self.entries.remove(&oldest) {
                self.bytes -= oldest.len() + gone.text.len();
            }
        }
        let used = self.tick();
        self.by_use.insert(used, hash.clone());
        self.entries.insert(hash, Entry { text, used });
        self.bytes += size;
    }
}

/// The documents clients have registered by hash, at most `max_bytes` of
/// hashes and text, least recently used out. Shared by every request.
#[derive(Clone)]
pub struct PersistedQueries {
    store: Arc<Mutex<Store>>,
    max_bytes: usize,
}

impl PersistedQueries {
    /// An empty store that keeps at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            store: Arc::default(),
            max_bytes,
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The request with its persisted query applied: a hash alone gets the
    /// document stored under it (or `PersistedQueryNotFound`); a hash with
    /// the document is checked and the document stored. The document has
    /// passed the size and token limits before it gets here.
    pub fn apply(&self, mut request: Request) -> ServerResult<Request> {
        let Some(value) = request.extensions.remove("persistedQuery") else {
            return Ok(request);
        };
        let persisted: PersistedQuery = async_graphql::from_value(value).map_err(|_| {
            ServerError::new("Invalid \"PersistedQuery\" extension configuration.", None)
        })?;
        if persisted.version != 1 {
            return Err(ServerError::new(
                format!(
                    "Only the \"PersistedQuery\" extension of version \"1\" is supported, and the current version is \"{}\".",
                    persisted.version
                ),
                None,
            ));
        }
        if request.query.is_empty() {
            let text = self
                .store()
                .get(&persisted.sha256_hash)
                .ok_or_else(|| ServerError::new("PersistedQueryNotFound", None))?;
            request.query = text.to_string();
            return Ok(request);
        }
        let hash = format!("{:x}", Sha256::digest(request.query.as_bytes()));
        if persisted.sha256_hash != hash {
            return Err(ServerError::new("provided sha does not match query", None));
        }
        self.store()
            .put(hash, request.query.as_str().into(), self.max_bytes);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Arc<str> {
        s.into()
    }

    #[test]
    fn the_store_keeps_its_byte_budget_least_recently_used_out() {
        let mut store = Store::default();
        store.put("a".into(), text("1234"), 10);
        store.put("b".into(), text("1234"), 10);
        assert_eq!(store.bytes, 10);
        // Using `a` makes `b` the oldest.
        assert!(store.get("a").is_some());
        store.put("c".into(), text("1234"), 10);
        assert_eq!(store.bytes, 10);
        assert!(store.get("b").is_none());
        assert!(store.get("a").is_some() && store.get("c").is_some());
        // A document larger than the whole budget is not kept, and evicts nothing.
        store.put("d".into(), text("12345678901"), 10);
        assert!(store.get("d").is_none());
        assert_eq!(store.entries.len(), 2);
        assert_eq!(store.by_use.len(), 2);
    }
}
