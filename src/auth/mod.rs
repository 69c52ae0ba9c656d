//! Who is calling: bearer tokens (JWT) turned into a service [`Caller`].
//!
//! Without a configured key the server runs in open development mode, where
//! every caller is the system; [`crate::startup`] allows that only on loopback.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::service::{Caller, Role};

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

/// Verifies bearer tokens, or lets everyone in as the system in open mode.
#[derive(Clone)]
pub struct Authenticator {
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
}

impl Authenticator {
    /// Open development mode: no token needed, every caller is the system.
    pub fn open() -> Self {
        Self {
            hs256: None,
            rs256: None,
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
        })
    }

    /// Whether no key is configured.
    pub fn is_open(&self) -> bool {
        self.hs256.is_none() && self.rs256.is_none()
    }

    /// Authenticates an `Authorization` header value ("Bearer …").
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Identity, AuthError> {
        if self.is_open() {
            return Ok(Identity {
                caller: Caller::SYSTEM,
                expires_at: None,
            });
        }
        let header = authorization.map(str::trim).filter(|h| !h.is_empty());
        let header = header.ok_or(AuthError::Missing)?;
        let token = bearer_token(header)
            .ok_or_else(|| AuthError::Invalid("expected \"Bearer <token>\"".into()))?;
        self.verify(token)
    }

    /// Verifies a bare token. Each key is bound to its own algorithm, so a
    /// token cannot choose how it is checked.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 => self.rs256.as_ref(),
            _ => None,
        }
        .ok_or_else(|| AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)))?;
        let mut validation = Validation::new(header.alg);
        // `exp` is checked below, to the instant.
        validation.leeway = 0;
        // A token minted for later (`nbf`) is not valid before then.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            _ => AuthError::Invalid(e.to_string()),
        })?;
        let claims = data.claims;
        // Expired from the instant `exp` passes, as the resolvers and the open
        // websocket see it: a websocket is never acknowledged for a token it
        // would close a second later.
        let expires_at = DateTime::from_timestamp(claims.exp, 0)
            .ok_or_else(|| AuthError::Invalid("`exp` is out of range".into()))?;
        if expires_at < Utc::now() {
            return Err(AuthError::Expired);
        }
        let role = Role::parse(&claims.role)
            .ok_or_else(|| AuthError::Invalid(format!("unknown role {:?}", claims.role)))?;
        let subject = Uuid::try_parse(&claims.sub).ok();
        if role == Role::User && subject.is_none() {
            return Err(AuthError::Invalid("a user token needs a uuid `sub`".into()));
        }
        Ok(Identity {
            caller: Caller { role, subject },
            expires_at: Some(expires_at),
        })
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

    #[test]
    fn accepts_a_valid_hs256_token() {
        let auth = Authenticator::new(Some(SECRET), None).unwrap();
        let c = claims("user", 60);
        let token = mint(&c, SigningKey::Secret(SECRET)).unwrap();
        let id = auth.authenticate(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(id.caller.role, Role::User);
        assert_eq!(id.caller.subject.unwrap().to_string(), c.sub);
    }

    #[test]
    fn refuses_forged_expired_and_unknown() {
        let auth = Authenticator::new(Some(SECRET), None).unwrap();
        let forged = mint(&claims("admin", 60), SigningKey::Secret("other")).unwrap();
        assert!(matches!(auth.verify(&forged), Err(AuthError::Invalid(_))));
        let expired = mint(&claims("admin", -60), SigningKey::Secret(SECRET)).unwrap();
        assert_eq!(auth.verify(&expired), Err(AuthError::Expired));
        let bad_role = mint(&claims("root", 60), SigningKey::Secret(SECRET)).unwrap();
        assert!(matches!(auth.verify(&bad_role), Err(AuthError::Invalid(_))));
        assert_eq!(auth.authenticate(None), Err(AuthError::Missing));
        assert!(matches!(
            auth.authenticate(Some("Basic abc")),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn a_token_is_expired_as_soon_as_its_exp_has_passed() {
        let auth = Authenticator::new(Some(SECRET), None).unwrap();
        let just_expired = mint(&claims("admin", -1), SigningKey::Secret(SECRET)).unwrap();
        assert_eq!(auth.verify(&just_expired), Err(AuthError::Expired));
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        let auth = Authenticator::new(Some(SECRET), None).unwrap();
        let token = mint(&claims("admin", 60), SigningKey::Secret(SECRET)).unwrap();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let header = format!("{scheme} {token}");
            assert!(auth.authenticate(Some(&header)).is_ok(), "{scheme}");
        }
        for header in [token.clone(), format!("Bearer{token}"), "Bearer ".into()] {
            assert!(
                matches!(auth.authenticate(Some(&header)), Err(AuthError::Invalid(_))),
                "{header}"
            );
        }
    }

    #[test]
    fn empty_and_short_secrets_are_refused() {
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

    #[test]
    fn a_token_before_its_nbf_is_refused() {
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
        assert_eq!(auth.verify(&sign(now + 300)), Err(AuthError::NotYetValid));
        assert!(auth.verify(&sign(now - 1)).is_ok());
    }

    #[test]
    fn open_mode_lets_the_system_in() {
        let id = Authenticator::open().authenticate(None).unwrap();
        assert_eq!(id.caller, Caller::SYSTEM);
    }
}
