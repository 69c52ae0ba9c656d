//! Verification keys from a JSON Web Key Set (RFC 7517), the way identity
//! providers (Auth0, Keycloak, Cognito, Entra ID) publish them: fetched from
//! a URL and/or read from a file, chosen by a token's `kid`, and fetched
//! again when a token names a key the set does not hold yet.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// The largest key set document accepted; real ones hold a few keys in a few KiB.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// How long one fetch of the URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the keys come from, and how often they may be fetched again.
#[derive(Debug, Clone)]
pub struct JwksSource {
    /// The provider's `jwks_uri`.
    pub url: Option<reqwest::Url>,
    /// A key set document on disk, read again whenever the URL would be fetched.
    pub file: Option<PathBuf>,
    /// Fewest time between two loads triggered by an unknown `kid`.
    pub min_refetch_interval: Duration,
    /// How old the loaded set may grow before the next token loads it again.
    pub max_age: Duration,
}

/// Why a key set could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The URL could not be fetched, or answered with an error.
    #[error("cannot fetch the JWKS from {url}: {reason}")]
    Fetch {
        /// The URL fetched.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read the JWKS file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The document is not a key set.
    #[error("{origin} is not a JWKS document: {reason}")]
    Document {
        /// The URL or file it came from.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// One usable key and the algorithms its type allows.
#[derive(Clone)]
struct Key {
    decoding: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// The keys of one load.
struct KeySet {
    by_kid: HashMap<String, Key>,
    /// Keys published without a `kid`, usable by tokens that name none.
    anonymous: Vec<Key>,
    loaded_at: Instant,
}

/// The key set, loaded at start and kept current.
#[derive(Clone)]
pub struct Jwks {
    inner: Arc<Inner>,
}

struct Inner {
    source: JwksSource,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// Held while loading, so a burst of tokens with an unknown `kid` loads
    /// the set once; it records when the last load started.
    loading: tokio::sync::Mutex<Instant>,
}

/// Why no key verifies a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRefusal {
    /// The set has no key with this `kid`, even after loading it again.
    UnknownKid(String),
    /// The token names no key and the set does not hold exactly one that fits.
    NoKid,
    /// The key exists, but its type does not allow the token's algorithm.
    WrongAlgorithm(String, Algorithm),
}

impl Jwks {
    /// Loads the set once; the server refuses to start when it cannot, so a
    /// wrong URL or file is found at deploy time, not at the first request.
    pub async fn load(source: JwksSource) -> Result<Self, JwksError> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| JwksError::Fetch {
                url: source
                    .url
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                reason: e.to_string(),
            })?;
        let keys = read_all(&source, &http).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                source,
                http,
                keys: RwLock::new(Arc::new(keys)),
                loading: tokio::sync::Mutex::new(Instant::now()),
            }),
        })
    }

    /// How many keys are loaded now.
    pub fn len(&self) -> usize {
        let keys = self.current();
        keys.by_kid.len() + keys.anonymous.len()
    }

    /// Whether no usable key is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn current(&self) -> Arc<KeySet> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The key that verifies a token with header `kid` and `alg`. An unknown
    /// `kid` loads the set again (a rotated key), at most once per
    /// `min_refetch_interval`, so forged `kid`s cannot make the server hammer
    /// the provider.
    pub async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, KeyRefusal> {
        let mut keys = self.current();
        if keys.loaded_at.elapsed() >= self.inner.source.max_age {
            keys = self.reload(keys.loaded_at).await;
        }
        let found = match kid {
            Some(kid) => match keys.by_kid.get(kid) {
                Some(key) => key.clone(),
                None => {
                    let keys = self.reload(keys.loaded_at).await;
                    keys.by_kid
                        .get(kid)
                        .cloned()
                        .ok_or_else(|| KeyRefusal::UnknownKid(kid.to_owned()))?
                }
            },
            None => {
                let mut fitting = keys
                    .by_kid
                    .values()
                    .chain(&keys.anonymous)
                    .filter(|k| k.algorithms.contains(&alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => key.clone(),
                    _ => return Err(KeyRefusal::NoKid),
                }
            }
        };
        if !found.algorithms.contains(&alg) {
            return Err(KeyRefusal::WrongAlgorithm(
                kid.unwrap_or_default().to_owned(),
                alg,
            ));
        }
        Ok(found.decoding)
    }

    /// Loads the set again unless someone did since `seen` or the last load
    /// is too recent; keeps the old keys when loading fails.
    async fn reload(&self, seen: Instant) -> Arc<KeySet> {
        let mut last = self.inner.loading.lock().await;
        let current = self.current();
        if current.loaded_at > seen || last.elapsed() < self.inner.source.min_refetch_interval {
            return current;
        }
        *last = Instant::now();
        match read_all(&self.inner.source, &self.inner.http).await {
            Ok(keys) => {
                tracing::info!(
                    keys = keys.by_kid.len() + keys.anonymous.len(),
                    "JWKS loaded"
                );
                let keys = Arc::new(keys);
                *self.inner.keys.write().unwrap_or_else(|e| e.into_inner()) = keys.clone();
                keys
            }
            Err(error) => {
                tracing::warn!(%error, "JWKS reload failed; keeping the keys loaded before");
                current
            }
        }
    }
}

/// Reads every configured source into one set.
async fn read_all(source: &JwksSource, http: &reqwest::Client) -> Result<KeySet, JwksError> {
    let mut set = KeySet {
        by_kid: HashMap::new(),
        anonymous: Vec::new(),
        loaded_at: Instant::now(),
    };
    if let Some(path) = &source.file {
        let text = tokio::fs::read(path).await.map_err(|e| JwksError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        add_keys(&mut set, &text, &path.display().to_string())?;
    }
    if let Some(url) = &source.url {
        let body = fetch(http, url).await?;
        add_keys(&mut set, &body, url.as_str())?;
    }
    Ok(set)
}

async fn fetch(http: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, JwksError> {
    let failed = |reason: String| JwksError::Fetch {
        url: url.to_string(),
        reason,
    };
    let mut response = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(failed(format!(
                "the document is larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
    }
    Ok(body)
}

/// Adds the usable keys of one document. Keys this server cannot use (for
/// encryption, symmetric, of an unknown type) are skipped one by one, as a
/// provider may publish them beside its signing keys.
fn add_keys(set: &mut KeySet, document: &[u8], origin: &str) -> Result<(), JwksError> {
    let invalid = |reason: String| JwksError::Document {
        origin: origin.to_owned(),
        reason,
    };
    let document: Value = serde_json::from_slice(document).map_err(|e| invalid(e.to_string()))?;
    let entries = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("it has no \"keys\" list".into()))?;
    for entry in entries {
        let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("");
        match usable(entry) {
            Ok(key) if kid.is_empty() => set.anonymous.push(key),
            Ok(key) => {
                set.by_kid.insert(kid.to_owned(), key);
            }
            Err(reason) => tracing::debug!(%origin, kid, reason, "JWKS key skipped"),
        }
    }
    Ok(())
}

/// A key and the algorithms its type allows, or why it cannot verify tokens.
fn usable(entry: &Value) -> Result<Key, String> {
    let jwk: Jwk = serde_json::from_value(entry.clone()).map_err(|e| e.to_string())?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return Err("not a signing key (`use`)".into());
    }
    // Bound to the key's type: an RSA key never verifies an HMAC token, so
    // a token cannot pick an algorithm that turns the public key into a secret.
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return Err("unsupported curve".into()),
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric keys are not taken from a key set; use JWT_SECRET".into())
        }
        _ => return Err("unsupported key type".into()),
    };
    // A key that names its algorithm allows that one alone.
    let algorithms = match jwk.common.key_algorithm {
        Some(named) => {
            let named: Algorithm = named
                .to_string()
                .parse()
                .map_err(|_| "its `alg` is not a signature algorithm".to_string())?;
            if !by_type.contains(&named) {
                return Err(format!("its `alg` {named:?} does not fit its key type"));
            }
            vec![named]
        }
        None => by_type,
    };
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    Ok(Key {
        decoding,
        algorithms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(document: Value) -> KeySet {
        let mut set = KeySet {
            by_kid: HashMap::new(),
            anonymous: Vec::new(),
            loaded_at: Instant::now(),
        };
        add_keys(&mut set, document.to_string().as_bytes(), "test").unwrap();
        set
    }

    /// The modulus of tests/fixtures/jwt_rs256_public.pem.
    const N: &str = "9LCeHgnNpQC69ELTtIj5cFac4jABvjNUZ_G7ohHYn9kFATxopidcUoNq9Qghbs0T4PwHr0eZHMNTeuyr7eLQKPxfZcdY1bG_MWKuhZv5npfYSTMBb-viRjkNW_mFtaRtZincfTsb0uyPqIEYnZu43XAWiu2RTd_FWLC8zQQfvhhw6YdOG2jEfl2VU5atf0MrhhT2KxY4cU1thrLtCrjU6jOVwoxreTd9uh7kS1MFeYucPXFggzCho5RLIab7WwfNNiS6eqlCENAvUGi6jrQ7Xs3E5XE69lB5ck2VocTgDdT_20sFD6dfJgdM5RLT7KqN-_3v8Cy-9ZcSsl3eTwYAlw";

    #[test]
    fn each_key_is_bound_to_the_algorithms_of_its_type() {
        let keys = set(json!({ "keys": [
            { "kty": "RSA", "kid": "any-rsa", "n": N, "e": "AQAB" },
            { "kty": "RSA", "kid": "rs384-only", "alg": "RS384", "n": N, "e": "AQAB" },
        ]}));
        let any = &keys.by_kid["any-rsa"].algorithms;
        assert!(any.contains(&Algorithm::RS256) && any.contains(&Algorithm::PS512));
        assert!(!any.contains(&Algorithm::HS256) && !any.contains(&Algorithm::ES256));
        assert_eq!(keys.by_kid["rs384-only"].algorithms, [Algorithm::RS384]);
    }

    #[test]
    fn keys_it_cannot_verify_with_are_skipped_not_fatal() {
        let keys = set(json!({ "keys": [
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "RSA", "kid": "enc", "use": "enc", "n": N, "e": "AQAB" },
            { "kty": "RSA", "kid": "mismatch", "alg": "ES256", "n": N, "e": "AQAB" },
            { "kty": "XYZ", "kid": "odd" },
            { "kty": "RSA", "kid": "good", "use": "sig", "n": N, "e": "AQAB" },
        ]}));
        assert_eq!(keys.by_kid.keys().collect::<Vec<_>>(), ["good"]);
    }

    #[test]
    fn a_document_without_keys_is_refused() {
        let mut keys = set(json!({ "keys": [] }));
        for bad in [&b"not json"[..], br#"{"jwks": []}"#] {
            assert!(matches!(
                add_keys(&mut keys, bad, "test"),
                Err(JwksError::Document { .. })
            ));
        }
    }
}
