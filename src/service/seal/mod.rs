//! The tamper-evident log: every activity is sealed, in position order, into
//! a hash chain whose head the server signs. Personal fields enter the chain
//! as salted commitments, so that erasure can rewrite them (deleting the
//! salt) and the chain still verifies, with those fields reported as erased.

/// The canonical form of a row and the chain step.
pub mod form;
/// Signed heads and the signing key.
pub mod head;
/// The publisher's copies of released rows, kept for the sealer.
pub(crate) mod released;
/// Sealing released rows, heads and checkpoints.
pub mod sealer;
/// The chain's tables as SQL: its points, its lock, the seals' salts.
pub mod store;
/// Recomputing the chain.
pub mod verify;

pub use head::{HeadSigner, PublicKey, SignedHead};
pub use sealer::{LogHead, CHECKPOINT_ACTION, SEAL_BATCH};
pub use store::ChainPoint;
pub use verify::{ErasedField, Failure, FailureReason, Verification, ERASED};
