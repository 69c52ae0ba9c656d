//! Trusted documents: an allow-list of operations, read at start from a
//! manifest of `{ "<hash>": "<document>" }` as GraphQL Codegen's client
//! preset (`persistedDocuments`) and the Relay compiler emit. When it is
//! set, only these documents run, sent by id or as text whose sha256 is
//! listed; admin tokens may run others when the deployment allows it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError, ServerResult};
use sha2::{Digest, Sha256};

use crate::service::ErrorCode;

/// The dashboard's own documents, generated from `dashboard/js/queries.js`
/// (`e2e/trusted-documents.mjs`), trusted with any manifest so the
/// dashboard this binary serves keeps working.
pub const DASHBOARD_MANIFEST: &str = include_str!("../../dashboard/trusted-documents.json");

/// One trusted document: its text and its parse, done once.
struct Trusted {
    text: Arc<str>,
    parsed: ExecutableDocument,
}

/// Why a manifest cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("cannot read the trusted documents manifest {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The file is not a map of hashes to documents.
    #[error(
        "{origin} is not a trusted documents manifest ({{\"<sha256>\": \"<document>\"}}): {reason}"
    )]
    Format {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// A document does not parse, or is not valid against the schema.
    #[error("{origin}: document {id} is not valid against this server's schema: {reason}")]
    Invalid {
        /// Where it came from.
        origin: String,
        /// Its id in the manifest.
        id: String,
        /// The parser's or validator's message.
        reason: String,
    },
    /// A sha256 key that is not the hash of its document.
    #[error("{origin}: key {id} is a sha256 but not the one of its document ({actual})")]
    WrongHash {
        /// Where it came from.
        origin: String,
        /// The key.
        id: String,
        /// The document's actual sha256.
        actual: String,
    },
}

/// The allow-list, and whether admins may run other documents.
#[derive(Clone)]
pub struct TrustedDocuments {
    inner: Arc<Inner>,
}

struct Inner {
    /// By manifest key, as clients send it as an id.
    by_id: HashMap<String, Arc<Trusted>>,
    /// By the sha256 of the text, for clients that send the text.
    by_text_hash: HashMap<String, Arc<Trusted>>,
    admin_may_run_any: bool,
}

/// The sha256 of a document's text, in lower-case hex.
pub fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// The key a document id is held and looked up under: Codegen's client
/// preset writes "sha256:<hex>" ids, others the bare hex, in either case.
fn lookup_key(id: &str) -> String {
    id.strip_prefix("sha256:")
        .unwrap_or(id)
        .to_ascii_lowercase()
}

fn is_sha256(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Manifests as read, before they are checked: (origin, map).
pub struct Manifests(Vec<(String, serde_json::Map<String, serde_json::Value>)>);

impl Manifests {
    /// No manifest yet.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Adds the manifest `text`, naming it `origin` in errors.
    pub fn add(&mut self, origin: &str, text: &str) -> Result<(), ManifestError> {
        let format = |reason: String| ManifestError::Format {
            origin: origin.to_owned(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format(e.to_string()))?;
        let serde_json::Value::Object(map) = value else {
            return Err(format("the top level must be a map".into()));
        };
        if let Some((id, _)) = map.iter().find(|(_, v)| !v.is_string()) {
            return Err(format(format!("the value of {id} is not a string")));
        }
        self.0.push((origin.to_owned(), map));
        Ok(())
    }

    /// Reads and adds the manifest file at `path`.
    pub fn add_file(&mut self, path: &Path) -> Result<(), ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.add(&path.display().to_string(), &text)
    }
}

impl Default for Manifests {
    fn default() -> Self {
        Self::new()
    }
}

impl TrustedDocuments {
    /// Parses every document once and validates it against `schema_sdl`;
    /// the first invalid one is refused, so a stale manifest stops the
    /// server at start rather than failing its clients later.
    pub fn load(
        manifests: Manifests,
        schema_sdl: &str,
        admin_may_run_any: bool,
    ) -> Result<Self, ManifestError> {
        let schema = apollo_compiler::Schema::parse_and_validate(schema_sdl, "schema.graphql")
            .map_err(|e| ManifestError::Invalid {
                origin: "schema".into(),
                id: "-".into(),
                reason: e.errors.to_string(),
            })?;
        let mut by_id = HashMap::new();
        let mut by_text_hash = HashMap::new();
        for (origin, map) in manifests.0 {
            for (id, text) in map {
                let text = text.as_str().unwrap_or_default();
                let invalid = |reason: String| ManifestError::Invalid {
                    origin: origin.clone(),
                    id: id.clone(),
                    reason,
                };
                let actual = sha256(text);
                let key = lookup_key(&id);
                if is_sha256(&key) && key != actual {
                    return Err(ManifestError::WrongHash {
                        origin: origin.clone(),
                        id,
                        actual,
                    });
                }
                apollo_compiler::ExecutableDocument::parse_and_validate(&schema, text, &id)
                    .map_err(|e| invalid(e.errors.to_string()))?;
                let parsed =
                    async_graphql::parser::parse_query(text).map_err(|e| invalid(e.to_string()))?;
                let trusted = Arc::new(Trusted {
                    text: text.into(),
                    parsed,
                });
                by_text_hash.insert(actual, trusted.clone());
                by_id.insert(key, trusted);
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                by_id,
                by_text_hash,
                admin_may_run_any,
            }),
        })
    }

    /// How many distinct documents are trusted.
    pub fn len(&self) -> usize {
        self.inner.by_text_hash.len()
    }

    /// Whether no document is trusted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of the document whose id is `id` (with or without its
    /// `sha256:` prefix), if it is trusted.
    pub fn text_of(&self, id: &str) -> Option<&str> {
        self.inner.by_id.get(&lookup_key(id)).map(|t| &*t.text)
    }

    /// Whether `text` is a trusted document.
    pub fn trusts_text(&self, text: &str) -> bool {
        self.inner.by_text_hash.contains_key(&sha256(text))
    }

    /// The request with its trusted document put in, parsed: one sent by id
    /// (`extensions.persistedQuery.sha256Hash` or a `documentId`, with or
    /// without its `sha256:` prefix) or as text whose hash is listed. Any
    /// other is refused with DOCUMENT_NOT_TRUSTED, unless `admin` and the
    /// deployment lets admins run any document; then it is left as it is.
    pub fn apply(&self, mut request: Request, admin: bool) -> ServerResult<Request> {
        let document_id = request
            .extensions
            .remove(DOCUMENT_ID)
            .and_then(|v| match v {
                async_graphql::Value::String(s) => Some(s),
                _ => None,
            });
        let persisted_hash = match request.extensions.get("persistedQuery") {
            Some(async_graphql::Value::Object(p)) => match p.get("sha256Hash") {
                Some(async_graphql::Value::String(hash)) => Some(hash.clone()),
                _ => None,
            },
            _ => None,
        };
        let found =
            if request.query.is_empty() {
                let id = document_id.clone().or(persisted_hash).ok_or_else(|| {
                    coded(
                        ErrorCode::PersistedQueryNotFound,
                        "the request has no document".into(),
                    )
                })?;
                match self.inner.by_id.get(&lookup_key(&id)) {
                    Some(trusted) => trusted.clone(),
                    // An admin's automatic persisted query, for the store to answer.
                    None if admin && self.inner.admin_may_run_any && document_id.is_none() => {
                        return Ok(request)
                    }
                    None => {
                        return Err(coded(
                            ErrorCode::PersistedQueryNotFound,
                            format!("no trusted document has the id {id:?}"),
                        ))
                    }
                }
            } else {
                match self.inner.by_text_hash.get(&sha256(&request.query)) {
                    Some(trusted) => trusted.clone(),
                    None if admin && self.inner.admin_may_run_any => return Ok(request),
                    None => return Err(coded(
                        ErrorCode::DocumentNotTrusted,
                        "this server runs trusted documents only, and this document is not one \
                         of them: send one of the documents of its manifest, by id or as text"
                            .into(),
                    )),
                }
            };
        // The document is known: the persisted query store has nothing to do.
        request.extensions.remove("persistedQuery");
        request.query = found.text.to_string();
        request.set_parsed_query(found.parsed.clone());
        Ok(request)
    }
}

/// The request extension the HTTP layer puts a top-level `documentId` in.
pub const DOCUMENT_ID: &str = "documentId";

/// A PERSISTED_QUERY_NOT_FOUND request error: no document has this id.
pub fn not_found(message: String) -> ServerError {
    coded(ErrorCode::PersistedQueryNotFound, message)
}

fn coded(code: ErrorCode, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = "query Count { activityCount }";

    fn with(key: &str, value: serde_json::Value) -> Request {
        let mut request = Request::new("");
        request
            .extensions
            .insert(key.into(), async_graphql::Value::from_json(value).unwrap());
        request
    }

    fn load(entries: &[(&str, &str)], admin_any: bool) -> Result<TrustedDocuments, ManifestError> {
        let map: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        let mut manifests = Manifests::new();
        manifests
            .add("test", &serde_json::Value::Object(map).to_string())
            .unwrap();
        TrustedDocuments::load(manifests, &crate::graphql::sdl(), admin_any)
    }

    #[test]
    fn documents_are_found_by_id_prefixed_id_or_text() {
        let trusted = load(&[(&sha256(READ), READ)], false).unwrap();
        for request in [
            with(
                "persistedQuery",
                serde_json::json!({ "version": 1, "sha256Hash": sha256(READ) }),
            ),
            with(
                DOCUMENT_ID,
                serde_json::Value::String(format!("sha256:{}", sha256(READ))),
            ),
            Request::new(READ),
        ] {
            let applied = trusted.apply(request, false).unwrap();
            assert_eq!(applied.query, READ);
            assert!(applied.extensions.get("persistedQuery").is_none());
        }
    }

    #[test]
    fn other_documents_are_refused_unless_an_admin_may_run_them() {
        let strict = load(&[(&sha256(READ), READ)], false).unwrap();
        let lenient = load(&[(&sha256(READ), READ)], true).unwrap();
        let other = "{ activityCount }";
        let error = strict.apply(Request::new(other), true).unwrap_err();
        assert!(
            error.message.contains("trusted documents only"),
            "{}",
            error.message
        );
        assert!(lenient.apply(Request::new(other), false).is_err());
        assert_eq!(
            lenient.apply(Request::new(other), true).unwrap().query,
            other
        );
        let unknown = with(DOCUMENT_ID, serde_json::json!("abc"));
        assert!(
            lenient.apply(unknown, true).is_err(),
            "an unknown id has no text to run"
        );
    }

    #[test]
    fn invalid_manifests_are_refused_with_the_document_named() {
        let unknown_field = "query Bad { noSuchField }";
        match load(&[("bad-one", unknown_field)], false) {
            Err(ManifestError::Invalid { id, reason, .. }) => {
                assert_eq!(id, "bad-one");
                assert!(reason.contains("noSuchField"), "{reason}");
            }
            other => panic!("{:?}", other.err()),
        }
        assert!(matches!(
            load(&[("x", "query {")], false),
            Err(ManifestError::Invalid { .. })
        ));
        assert!(matches!(
            load(&[(&sha256("{ modules }"), READ)], false),
            Err(ManifestError::WrongHash { .. })
        ));
        let mut manifests = Manifests::new();
        assert!(manifests.add("x", "[]").is_err());
        assert!(manifests.add("x", r#"{"a": 1}"#).is_err());
    }

    #[test]
    fn the_dashboards_manifest_is_valid() {
        let mut manifests = Manifests::new();
        manifests.add("dashboard", DASHBOARD_MANIFEST).unwrap();
        let trusted = TrustedDocuments::load(manifests, &crate::graphql::sdl(), false).unwrap();
        assert!(trusted.len() >= 8, "{}", trusted.len());
    }
}
