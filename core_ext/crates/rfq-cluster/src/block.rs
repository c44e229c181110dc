//! The application data of a Raft entry: one journal commit block.

use rfq_journal::format::{decode_record, encode_record};
use rfq_ring::Record;
use serde::{Deserialize, Serialize};

/// Bytes of one record in a block (the ring layout, docs/ring-layout.md).
pub const RECORD_BYTES: usize = 64;

/// The records of one journal commit block, in the order the core consumes them, each in the
/// 64-byte ring layout. A Raft entry carries one block; applying it feeds its records to the
/// node's core and commits them as one block of the node's journal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    bytes: Vec<u8>,
}

impl Block {
    /// A block holding `recs`.
    #[must_use]
    pub fn from_records(recs: &[Record]) -> Block {
        let mut bytes = vec![0; recs.len() * RECORD_BYTES];
        for (r, b) in recs.iter().zip(bytes.chunks_exact_mut(RECORD_BYTES)) {
            encode_record(r, b);
        }
        Block { bytes }
    }

    /// Number of records.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len() / RECORD_BYTES
    }

    /// Whether the block holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.len() < RECORD_BYTES
    }

    /// The records, decoded.
    pub fn records(&self) -> impl ExactSizeIterator<Item = Record> + '_ {
        self.bytes.chunks_exact(RECORD_BYTES).map(decode_record)
    }

    /// Whether the bytes are whole records (a block received from the network is checked
    /// before it is applied).
    #[must_use]
    pub fn is_well_formed(&self) -> bool {
        self.bytes.len() % RECORD_BYTES == 0
    }
}

/// What applying an entry produced on a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Journal sequence number of the block's last record (records are numbered from 1 across
    /// the replicated log; an entry without records leaves it unchanged).
    pub last_seq: u64,
    /// Output records the block's records produced in the node's core.
    pub outputs: u64,
}
