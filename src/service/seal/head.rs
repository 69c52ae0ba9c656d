//! Signed heads: the newest sealed position and its hash, signed with the
//! deployment's Ed25519 key, so that a copy kept elsewhere proves later
//! what the log held.

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use crate::service::Position;

/// The text a head's signature covers starts with this.
pub const HEAD_VERSION: &str = "af-head-1";

/// The key heads are signed with.
#[derive(Clone)]
pub struct HeadSigner {
    key: SigningKey,
}

impl std::fmt::Debug for HeadSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadSigner")
            .field(
                "public_key",
                &hex::encode(self.key.verifying_key().as_bytes()),
            )
            .finish()
    }
}

impl HeadSigner {
    /// The key of a PKCS#8 PEM file, as `openssl genpkey -algorithm ed25519` writes it.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|key| Self { key })
            .map_err(|e| format!("not an Ed25519 private key in PKCS#8 PEM: {e}"))
    }

    /// Reads the key file at `path`.
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read signing key {}: {e}", path.display()))?;
        Self::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The public key that checks this key's signatures.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// Signs the head at `position` with `hash`, as of `signed_at`.
    pub fn sign(&self, position: Position, hash: &str, signed_at: DateTime<Utc>) -> SignedHead {
        let mut head = SignedHead {
            position,
            hash: hash.to_owned(),
            signed_at: signed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            signature: String::new(),
        };
        head.signature = hex::encode(self.key.sign(head.message().as_bytes()).to_bytes());
        head
    }
}

/// An Ed25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// As a SubjectPublicKeyInfo PEM, which most tools read.
    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .expect("an Ed25519 key encodes")
    }

    /// The raw 32 bytes, in hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// Whether `head`'s signature is this key's signature of its text.
    pub fn verifies(&self, head: &SignedHead) -> bool {
        let Some(bytes) = hex::decode(&head.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        self.0
            .verify(head.message().as_bytes(), &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

/// A head as `logHead` gives it and `verify --head` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHead {
    /// The newest sealed position.
    pub position: Position,
    /// The chain hash at that position, 64 hex digits.
    pub hash: String,
    /// When it was signed: RFC 3339, UTC, microseconds, as the API writes times.
    pub signed_at: String,
    /// The Ed25519 signature of [`SignedHead::message`], 128 hex digits.
    pub signature: String,
}

impl SignedHead {
    /// The text the signature covers:
    /// `af-head-1|<position cursor>|<hash>|<signedAt>`.
    pub fn message(&self) -> String {
        format!(
            "{HEAD_VERSION}|{}|{}|{}",
            self.position.encode(),
            self.hash,
            self.signed_at
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePrivateKey;

    fn signer() -> HeadSigner {
        let key = SigningKey::from_bytes(&[7; 32]);
        let pem = key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        HeadSigner::from_pem(&pem).unwrap()
    }

    #[test]
    fn a_head_verifies_until_any_part_of_it_changes() {
        let signer = signer();
        let head = signer.sign(Position { txid: 3, seq: 9 }, &"ab".repeat(32), Utc::now());
        let key = signer.public_key();
        assert!(key.verifies(&head));
        for tampered in [
            SignedHead {
                position: Position { txid: 3, seq: 8 },
                ..head.clone()
            },
            SignedHead {
                hash: "cd".repeat(32),
                ..head.clone()
            },
            SignedHead {
                signed_at: "2020-01-01T00:00:00.000000Z".into(),
                ..head.clone()
            },
            SignedHead {
                signature: "00".repeat(64),
                ..head.clone()
            },
            SignedHead {
                signature: "zz".into(),
                ..head.clone()
            },
        ] {
            assert!(!key.verifies(&tampered), "{tampered:?}");
        }
        assert!(key.to_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
    }

    #[test]
    fn refuses_what_is_not_an_ed25519_key() {
        assert!(HeadSigner::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err());
    }
}
