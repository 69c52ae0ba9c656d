//! Who is calling: bearer tokens (JWT) turned into a service [`Caller`].
//!
//! Without a configured key the server runs in open development mode, where
//! every caller is the system; [`crate::startup`] allows that only on loopback.
//!
//! One unit: the token rules and the authenticator that applies them (about
//! 350 lines, the rest tests); key sets and claim paths have modules of
//! their own.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::service::{Caller, Role};

/// Role and subject claim paths, and provider role names.
pub mod claims;
/// Keys from a JSON Web Key Set, rotated without a restart.
pub mod jwks;

pub use claims::{ClaimError, ClaimPath, ClaimRules, RoleMapping};
use jwks::KeyRefusal;
pub use jwks::{Jwks, JwksError, JwksSource};

/// The claims of an activity-feed token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The caller's uuid.
    pub sub: String,
    /// "admin", "service" or "user".
    pub role: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

/// An authenticated caller and until when its token holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Who is calling, for the service layer.
    pub caller: Caller,
    /// When the token expires; `None` in open development mode.
    pub expires_at: Option<DateTime<Utc>>,
    /// A hash of the token's subject claim as written (0 in open mode), so
    /// callers whose subjects are not uuids are still told apart.
    pub subject_hash: u64,
}

/// Why a request could not be authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was sent.
    #[error("authentication required: send a bearer token")]
    Missing,
    /// The token is past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// The token's `nbf` is still ahead.
    #[error("the token is not valid yet (`nbf` is in the future)")]
    NotYetValid,
    /// The configured HS256 secret is too weak to sign anything with.
    #[error(
        "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (it is {0}): an empty or short \
         HMAC key lets anyone forge tokens; unset it for open development mode on loopback"
    )]
    WeakSecret(usize),
    /// The token is malformed, forged, or uses an algorithm that is not configured.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token comes from another issuer than the configured one.
    #[error("wrong issuer: {0}")]
    WrongIssuer(String),
    /// The token is meant for another audience.
    #[error("wrong audience: {0}")]
    WrongAudience(String),
}

/// The shortest HS256 secret accepted: RFC 7518 (3.2) asks for a key at
/// least as long as the hash, 256 bits for HS256.
pub const MIN_SECRET_BYTES: usize = 32;

/// Refuses an HS256 secret shorter than [`MIN_SECRET_BYTES`]; an empty one
/// would make every token signed with the empty key valid.
pub fn check_secret(secret: &str) -> Result<(), AuthError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(AuthError::WeakSecret(secret.len()));
    }
    Ok(())
}

/// The credentials of an `Authorization` header value: the text after the
/// `Bearer` scheme, whose name is case-insensitive (RFC 7235, 2.1).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// What a token must say besides its signature: who issued it, whom it is
/// for, and where its role and subject are.
#[derive(Debug, Clone, Default)]
pub struct TokenRules {
    /// Accepted `iss` values; any issuer when empty.
    pub issuers: Vec<String>,
    /// This server's names as an audience. When empty, a token carrying an
    /// `aud` claim is refused (RFC 7519, 4.1.3): it was minted for someone else.
    pub audiences: Vec<String>,
    /// Where the role and subject are.
    pub claims: ClaimRules,
}

/// Verifies bearer tokens, or lets everyone in as the system in open mode.
#[derive(Clone)]
pub struct Authenticator {
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
    jwks: Option<Jwks>,
    rules: Arc<TokenRules>,
}

impl Authenticator {
    /// Open development mode: no token needed, every caller is the system.
    pub fn open() -> Self {
        Self {
            hs256: None,
            rs256: None,
            jwks: None,
            rules: Arc::default(),
        }
    }

    /// Verifies HS256 tokens with `secret` (at least [`MIN_SECRET_BYTES`])
    /// and/or RS256 tokens with a PEM public key.
    pub fn new(secret: Option<&str>, rsa_public_pem: Option<&[u8]>) -> Result<Self, AuthError> {
        secret.map(check_secret).transpose()?;
        let rs256 = rsa_public_pem
            .map(DecodingKey::from_rsa_pem)
            .transpose()
            .map_err(|e| AuthError::Invalid(format!("RSA public key: {e}")))?;
        Ok(Self {
            hs256: secret.map(|s| DecodingKey::from_secret(s.as_bytes())),
            rs256,
            jwks: None,
            rules: Arc::default(),
        })
    }

    /// Also verifies tokens with the keys of a key set, chosen by `kid`.
    pub fn with_jwks(mut self, jwks: Jwks) -> Self {
        self.jwks = Some(jwks);
        self
    }

    /// Checks issuer, audience and claim paths as `rules` say.
    pub fn with_rules(mut self, rules: TokenRules) -> Self {
        self.rules = Arc::new(rules);
        self
    }

    /// Whether no key is configured.
    pub fn is_open(&self) -> bool {
        self.hs256.is_none() && self.rs256.is_none() && self.jwks.is_none()
    }

    /// Authenticates an `Authorization` header value ("Bearer …").
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Identity, AuthError> {
        if self.is_open() {
            return Ok(Identity {
                caller: Caller::SYSTEM,
                expires_at: None,
                subject_hash: 0,
            });
        }
        let header = authorization.map(str::trim).filter(|h| !h.is_empty());
        let header = header.ok_or(AuthError::Missing)?;
        let token = bearer_token(header)
            .ok_or_else(|| AuthError::Invalid("expected \"Bearer <token>\"".into()))?;
        self.verify(token).await
    }

    /// The key a token is checked with. Each key is bound to its own
    /// algorithm, so a token cannot choose how it is checked. A token that
    /// names a `kid` is checked against the key set when there is one.
    async fn key_for(&self, header: &Header) -> Result<DecodingKey, AuthError> {
        if let Some(jwks) = &self.jwks {
            let fixed = match header.alg {
                Algorithm::HS256 => self.hs256.as_ref(),
                Algorithm::RS256 => self.rs256.as_ref(),
                _ => None,
            };
            if header.kid.is_some() || fixed.is_none() {
                return jwks
                    .key(header.kid.as_deref(), header.alg)
                    .await
                    .map_err(|refusal| match refusal {
                        KeyRefusal::UnknownKid(kid) => AuthError::Invalid(format!(
                            "the token's key {kid:?} (`kid`) is not one of the identity provider's keys"
                        )),
                        KeyRefusal::NoKid => AuthError::Invalid(
                            "the token names no key (`kid`) and no single key fits it".into(),
                        ),
                        KeyRefusal::WrongAlgorithm(kid, alg) => AuthError::Invalid(format!(
                            "algorithm {alg:?} is not accepted for key {kid:?}"
                        )),
                    });
            }
        }
        match header.alg {
            Algorithm::HS256 => self.hs256.clone(),
            Algorithm::RS256 => self.rs256.clone(),
            _ => None,
        }
        .ok_or_else(|| AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)))
    }

    /// Verifies a bare token: signature, `exp`, `nbf`, issuer and audience,
    /// then reads its role and subject.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let key = self.key_for(&header).await?;
        let mut validation = Validation::new(header.alg);
        // `exp` is checked below, to the instant.
        validation.leeway = 0;
        // A token minted for later (`nbf`) is not valid before then.
        validation.validate_nbf = true;
        // Issuer and audience are checked below, with reasons that name them.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                    _ => AuthError::Invalid(e.to_string()),
                }
            })?;
        let claims = data.claims;
        self.check_issuer(&claims)?;
        self.check_audience(&claims)?;
        // Expired from the instant `exp` passes, as the resolvers and the open
        // websocket see it: a websocket is never acknowledged for a token it
        // would close a second later.
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or_else(|| AuthError::Invalid("`exp` must be a number".into()))?;
        let expires_at = DateTime::from_timestamp(exp.floor() as i64, 0)
            .ok_or_else(|| AuthError::Invalid("`exp` is out of range".into()))?;
        if expires_at < Utc::now() {
            return Err(AuthError::Expired);
        }
        let rules = &self.rules.claims;
        let invalid = |e: ClaimError| AuthError::Invalid(e.to_string());
        let role = rules.role(&claims).map_err(invalid)?;
        let raw_subject = rules.subject(&claims).map_err(invalid)?;
        let subject = Uuid::try_parse(raw_subject).ok();
        if role == Role::User && subject.is_none() {
            return Err(AuthError::Invalid(
                "a user token needs a uuid subject (`sub`)".into(),
            ));
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(raw_subject, &mut hasher);
        Ok(Identity {
            caller: Caller { role, subject },
            expires_at: Some(expires_at),
            subject_hash: std::hash::Hasher::finish(&hasher),
        })
    }

    fn check_issuer(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
        let issuers = &self.rules.issuers;
        if issuers.is_empty() {
            return Ok(());
        }
        match claims.get("iss").and_then(Value::as_str) {
            Some(iss) if issuers.iter().any(|i| i == iss) => Ok(()),
            Some(iss) => Err(AuthError::WrongIssuer(format!(
                "the token was issued by {iss:?}, not by this server's identity provider"
            ))),
            None => Err(AuthError::WrongIssuer(
                "the token has no issuer (`iss`); this server accepts only its identity provider's"
                    .into(),
            )),
        }
    }

    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
        let audiences: Vec<&str> = match claims.get("aud") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(_) => {
                return Err(AuthError::WrongAudience(
                    "the token's `aud` must be a string or a list of strings".into(),
                ))
            }
        };
        let ours = &self.rules.audiences;
        if ours.is_empty() {
            return match audiences.first() {
                None => Ok(()),
                Some(aud) => Err(AuthError::WrongAudience(format!(
                    "the token is meant for {aud:?} (`aud`), and this server has no audience \
                     configured (JWT_AUDIENCE), so it accepts only tokens without one"
                ))),
            };
        }
        if audiences.iter().any(|aud| ours.iter().any(|o| o == aud)) {
            return Ok(());
        }
        Err(AuthError::WrongAudience(match audiences.first() {
            None => {
                "the token has no audience (`aud`); this server accepts only tokens meant for it"
                    .into()
            }
            Some(aud) => format!("the token is meant for {aud:?} (`aud`), not for this server"),
        }))
    }
}

/// Signs a token for `role` and `sub` that expires at `exp`: HS256 with a
/// secret, or RS256 with a PEM private key.
pub fn mint(claims: &Claims, key: SigningKey<'_>) -> Result<String, AuthError> {
    let (alg, key) = match key {
        SigningKey::Secret(secret) => (
            Algorithm::HS256,
            EncodingKey::from_secret(secret.as_bytes()),
        ),
        SigningKey::RsaPem(pem) => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(pem)
                .map_err(|e| AuthError::Invalid(format!("RSA private key: {e}")))?,
        ),
    };
    jsonwebtoken::encode(&Header::new(alg), claims, &key)
        .map_err(|e| AuthError::Invalid(e.to_string()))
}

/// The key a token is signed with.
#[derive(Debug, Clone, Copy)]
pub enum SigningKey<'a> {
    /// HS256 shared secret.
    Secret(&'a str),
    /// RS256 private key, PEM.
    RsaPem(&'a [u8]),
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-unit-test-secret-of-32-bytes!!";

    fn claims(role: &str, exp_in: i64) -> Claims {
        Claims {
            sub: Uuid::now_v7().to_string(),
            role: role.into(),
            exp: Utc::now().timestamp() + exp_in,
        }
    }

    #[tokio::test]
    async fn accepts_a_valid_hs256_token() {
        let auth = Authenticator::new(Some(SECRET), None).unwrap();
        let c = claims("user", 60);
        let token = mint(&c, SigningKey::Secret(SECRET)).unwrap();
        let id = auth
            .authenticate(Some(&format!("Bearer {token}")))
            .await
            .unwrap();
        assert_eq!(id.caller.role, Role::User);
        assert_eq!(id.caller.subject.unwrap().to_string(), c.sub);
    }

    #[tokio::test]
    async fn refuses_forged_expired_and_unknown() {
        let auth = Authenticator::new(Some(SECRET), None).unwrap();
        let forged = mint(&claims("admin", 60), SigningKey::Secret("other")).unwrap();
        assert!(matches!(
            auth.verify(&forged).await,
            Err(AuthError::Invalid(_))
        ));
        let expired = mint(&claims("admin", -60), SigningKey::Secret(SECRET)).unwrap();
        assert_eq!(auth.verify(&expired).await, Err(AuthError::Expired));
        let bad_role = mint(&claims("root", 60), SigningKey::Secret(SECRET)).unwrap();
        assert!(matches!(
            auth.verify(&bad_role).await,
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(auth.authenticate(None).await, Err(AuthError::Missing));
        assert!(matches!(
            auth.authenticate(Some("Basic abc")).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn a_token_is_expired_as_soon_as_its_exp_has_passed() {
        let auth = Authenticator::new(Some(SECRET), None).unwrap();
        let just_expired = mint(&claims("admin", -1), SigningKey::Secret(SECRET)).unwrap();
        assert_eq!(auth.verify(&just_expired).await, Err(AuthError::Expired));
    }

    #[tokio::test]
    async fn the_scheme_is_case_insensitive() {
        let auth = Authenticator::new(Some(SECRET), None).unwrap();
        let token = mint(&claims("admin", 60), SigningKey::Secret(SECRET)).unwrap();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let header = format!("{scheme} {token}");
            assert!(auth.authenticate(Some(&header)).await.is_ok(), "{scheme}");
        }
        for header in [token.clone(), format!("Bearer{token}"), "Bearer ".into()] {
            assert!(
                matches!(
                    auth.authenticate(Some(&header)).await,
                    Err(AuthError::Invalid(_))
                ),
                "{header}"
            );
        }
    }

    #[tokio::test]
    async fn empty_and_short_secrets_are_refused() {
        assert_eq!(
            Authenticator::new(Some(""), None).err(),
            Some(AuthError::WeakSecret(0))
        );
        let short = "s".repeat(MIN_SECRET_BYTES - 1);
        assert_eq!(
            Authenticator::new(Some(&short), None).err(),
            Some(AuthError::WeakSecret(MIN_SECRET_BYTES - 1))
        );
        assert!(Authenticator::new(Some(&"s".repeat(MIN_SECRET_BYTES)), None).is_ok());
    }

    #[tokio::test]
    async fn a_token_before_its_nbf_is_refused() {
        #[derive(Serialize)]
        struct WithNbf {
            sub: String,
            role: String,
            exp: i64,
            nbf: i64,
        }
        let auth = Authenticator::new(Some(SECRET), None).unwrap();
        let now = Utc::now().timestamp();
        let sign = |nbf: i64| {
            let claims = WithNbf {
                sub: Uuid::now_v7().to_string(),
                role: "admin".into(),
                exp: now + 600,
                nbf,
            };
            let key = EncodingKey::from_secret(SECRET.as_bytes());
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
        };
        assert_eq!(
            auth.verify(&sign(now + 300)).await,
            Err(AuthError::NotYetValid)
        );
        assert!(auth.verify(&sign(now - 1)).await.is_ok());
    }

    #[tokio::test]
    async fn open_mode_lets_the_system_in() {
        let id = Authenticator::open().authenticate(None).await.unwrap();
        assert_eq!(id.caller, Caller::SYSTEM);
    }
}
