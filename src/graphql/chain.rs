//! The tamper-evident log and erasure as GraphQL types: `logHead`,
//! `verifyLog`, `forgetPerson`.

use async_graphql::{Enum, InputObject, SimpleObject};
use uuid::Uuid;

use super::error::{coded, UserError};
use super::scalars::DateTime;
use super::types::Activity;
use crate::service::seal::{self, SignedHead};
use crate::service::{ErrorCode, Forgotten, Position, ResumeCursor};

/// The newest sealed position of the log and its chain hash, signed with
/// the server's Ed25519 key. Keep heads somewhere else: only a head kept
/// elsewhere shows that the newest rows were deleted.
#[derive(SimpleObject)]
pub struct LogHead {
    /// The newest sealed position, as a cursor (the form of `Activity.cursor`).
    pub position: String,
    /// The chain hash at that position: 64 lower-case hex digits.
    pub hash: String,
    /// When the head was read and signed.
    pub signed_at: DateTime,
    /// The Ed25519 signature, 128 hex digits, of the UTF-8 text
    /// `af-head-1|<position>|<hash>|<signedAt>`; null when the server has no
    /// SIGNING_KEY_FILE.
    pub signature: Option<String>,
}

impl From<seal::LogHead> for LogHead {
    fn from(head: seal::LogHead) -> Self {
        Self {
            position: head.position.encode(),
            hash: head.hash,
            signed_at: DateTime(head.signed_at),
            signature: head.signed.map(|s| s.signature),
        }
    }
}

/// A signed head, as `logHead` gave it, to verify the log against.
#[derive(InputObject)]
pub struct LogHeadInput {
    /// The head's position, as `logHead.position` gave it.
    pub position: String,
    /// The head's hash, as `logHead.hash` gave it.
    pub hash: String,
    /// The head's time, exactly as `logHead.signedAt` gave it.
    pub signed_at: String,
    /// The head's signature, as `logHead.signature` gave it.
    pub signature: String,
}

/// Reads a position argument; BAD_USER_INPUT naming `field` otherwise.
pub fn position(field: &str, cursor: &str) -> async_graphql::Result<Position> {
    match ResumeCursor::decode(cursor) {
        Some(ResumeCursor::Position(p)) => Ok(p),
        _ => Err(coded(
            ErrorCode::BadUserInput,
            format!(
                "{field}: not a position cursor (as Activity.cursor or logHead.position give them)"
            ),
        )
        .extend_with(|_, e| e.set("field", field.to_owned()))),
    }
}

use async_graphql::ErrorExtensions as _;

impl LogHeadInput {
    /// The head as the service checks it.
    pub fn into_head(self) -> async_graphql::Result<SignedHead> {
        Ok(SignedHead {
            position: position("head.position", &self.position)?,
            hash: self.hash,
            signed_at: self.signed_at,
            signature: self.signature,
        })
    }
}

/// Why a position fails verification.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LogFailureReason {
    /// The row's fields differ from what was sealed.
    ChangedField,
    /// A sealed row is gone.
    MissingRow,
    /// A row that was never sealed stands among sealed ones.
    InsertedRow,
    /// A sealed row stands at a position other than its own.
    ReorderedRow,
    /// The head's signature is not the server's signature of it.
    BadSignature,
}

impl From<seal::FailureReason> for LogFailureReason {
    fn from(r: seal::FailureReason) -> Self {
        match r {
            seal::FailureReason::ChangedField => Self::ChangedField,
            seal::FailureReason::MissingRow => Self::MissingRow,
            seal::FailureReason::InsertedRow => Self::InsertedRow,
            seal::FailureReason::ReorderedRow => Self::ReorderedRow,
            seal::FailureReason::BadSignature => Self::BadSignature,
        }
    }
}

/// The first position that fails verification, and why.
#[derive(SimpleObject)]
pub struct LogFailure {
    /// Where, as a position cursor.
    pub position: String,
    /// Why, for programs.
    pub reason: LogFailureReason,
    /// The field at fault, when it can be named (`uuid`, `target_uuid`, `metadata.email_to`, …).
    pub field: Option<String>,
    /// Why, for people.
    pub message: String,
}

/// A field erasure rewrote: it verifies as erased, not as tampered.
#[derive(SimpleObject)]
pub struct ErasedField {
    /// The row's position, as a cursor.
    pub position: String,
    /// The activity's uuid.
    pub activity_uuid: Uuid,
    /// The field: `actor_uuid`, `target_uuid`, `resource_uuid`, `client_ip`,
    /// `user_agent` or `metadata.<key>`.
    pub field: String,
}

/// What `verifyLog` found.
#[derive(SimpleObject)]
pub struct LogVerification {
    /// Whether every row checked (and the head, when given) matched.
    pub valid: bool,
    /// How many sealed rows were recomputed and matched.
    pub checked: u64,
    /// The position the check started after: the anchor left by pruning, or
    /// the seal before `from`.
    pub start: String,
    /// The last position that matched; `start` when none did.
    pub last_verified: String,
    /// Rows logged after the newest seal: not sealed yet, so not checked.
    pub unsealed: u64,
    /// Sealed rows retention deleted while older rows remain: their seals
    /// carry the chain across them.
    pub pruned: u64,
    /// How many erased fields were met.
    pub erased_count: u64,
    /// The erased fields met, the first 1000.
    pub erased: Vec<ErasedField>,
    /// Whether the given head was compared with the chain.
    pub head_checked: bool,
    /// The first failure; null when valid.
    pub failure: Option<LogFailure>,
}

impl From<seal::Verification> for LogVerification {
    fn from(v: seal::Verification) -> Self {
        Self {
            valid: v.valid,
            checked: v.checked,
            start: v.start.encode(),
            last_verified: v.last_verified.encode(),
            unsealed: v.unsealed,
            pruned: v.pruned,
            erased_count: v.erased_total,
            erased: v
                .erased
                .into_iter()
                .map(|e| ErasedField {
                    position: e.position.encode(),
                    activity_uuid: e.activity,
                    field: e.field,
                })
                .collect(),
            head_checked: v.head_checked,
            failure: v.failure.map(|f| LogFailure {
                position: f.position.encode(),
                reason: f.reason.into(),
                field: f.field,
                message: f.message,
            }),
        }
    }
}

/// The result of `forgetPerson`.
#[derive(SimpleObject)]
pub struct ForgetPersonPayload {
    /// Whether anything was held about the person; when not, nothing was written.
    pub found: bool,
    /// The uuid that now stands for the person in the log; null when nothing was found.
    pub pseudonym: Option<Uuid>,
    /// How many activities were rewritten.
    pub rewritten: u64,
    /// The `person.forgotten` entry logged; null when nothing was found.
    pub activity: Option<Activity>,
    /// What is wrong, by path (e.g. `["reason"]`); empty on success.
    pub user_errors: Vec<UserError>,
}

impl From<Forgotten> for ForgetPersonPayload {
    fn from(f: Forgotten) -> Self {
        Self {
            found: f.found,
            pseudonym: f.pseudonym,
            rewritten: f.rewritten,
            activity: f.activity.map(Activity::exact),
            user_errors: Vec::new(),
        }
    }
}
