//! The packed format of `seal_batches.entries`: one 80-byte entry per
//! sealed row, in position order, shared by the service that writes and
//! reads it and the migration that unpacks it on the way down.
//!
//! An entry is the row's position (`txid`, then `seq`), the position of the
//! row sealed before it (so that a row deleted with its entry is still
//! named by the next), each a big-endian signed 64-bit integer, then the
//! row's uuid (16 bytes) and the chain hash after it (32 bytes).

use uuid::Uuid;

/// The bytes of one entry.
pub const ENTRY_BYTES: usize = 80;

/// One sealed row of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The row's transaction id (the first half of its position).
    pub txid: i64,
    /// The row's place in its transaction (the second half).
    pub seq: i64,
    /// The transaction id of the row sealed before it.
    pub prev_txid: i64,
    /// The place of the row sealed before it.
    pub prev_seq: i64,
    /// The row's uuid.
    pub uuid: Uuid,
    /// The chain hash after the row.
    pub hash: [u8; 32],
}

/// Packs `entries` in the order given.
pub fn pack(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for e in entries {
        out.extend_from_slice(&e.txid.to_be_bytes());
        out.extend_from_slice(&e.seq.to_be_bytes());
        out.extend_from_slice(&e.prev_txid.to_be_bytes());
        out.extend_from_slice(&e.prev_seq.to_be_bytes());
        out.extend_from_slice(e.uuid.as_bytes());
        out.extend_from_slice(&e.hash);
    }
    out
}

/// The entries packed in `bytes`; `None` when its length is not a whole
/// number of entries.
pub fn unpack(bytes: &[u8]) -> Option<Vec<Entry>> {
    if !bytes.len().is_multiple_of(ENTRY_BYTES) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(ENTRY_BYTES)
            .map(|c| {
                let int = |range: std::ops::Range<usize>| {
                    i64::from_be_bytes(c[range].try_into().expect("eight bytes"))
                };
                Entry {
                    txid: int(0..8),
                    seq: int(8..16),
                    prev_txid: int(16..24),
                    prev_seq: int(24..32),
                    uuid: Uuid::from_bytes(c[32..48].try_into().expect("sixteen bytes")),
                    hash: c[48..80].try_into().expect("thirty-two bytes"),
                }
            })
            .collect(),
    )
}
