//! An append-only journal of the core's merged input records (docs/journal.md).
//!
//! The core is deterministic: its state is a pure function of the records it consumed, in the
//! order it consumed them (docs/ARCHITECTURE.md). This crate keeps that sequence durably:
//!
//! - **segments**: files `seg-NNNNNNNNNN.rfqj` in one directory, rolled over at a configurable
//!   size, each with a 128-byte header (magic, version, index, first sequence number, the config
//!   fingerprint, the chain value carried over from the previous segment);
//! - **frames**: length-prefixed, CRC32C per frame; a RECORD frame holds one 64-byte
//!   [`Record`](rfq_ring::Record) (and optionally the recorded run's output-stream hash); a
//!   COMMIT frame ends each block and carries the BLAKE3 **chain** value
//!   `chain_k = BLAKE3(chain_{k−1} ‖ record frames of block k ‖ commit header)`, keyed with the
//!   desk secret ([`JournalKey`], from [`KEY_ENV`]) when one is configured, so that an edit
//!   cannot be re-chained without it; keyed segments record the key's id, never the key;
//! - **writer** ([`JournalWriter`]): `append` / `commit` with a [`Durability`] policy (none,
//!   group commit, fdatasync per commit); reopening recovers: a torn tail after the last commit
//!   is truncated, anything else damaged is refused with the file and offset;
//! - **reader** ([`JournalReader`], [`verify`]): delivers committed records from a sequence
//!   number across segments, each block only after its CRCs and chain verify.
//!
//! ```
//! use rfq_journal::{Durability, JournalConfig, JournalReader, JournalWriter};
//! use rfq_ring::{kind, Record};
//!
//! let dir = tempfile::tempdir()?;
//! let mut cfg = JournalConfig::new(dir.path(), 0xC0FFEE);
//! cfg.durability = Durability::None;
//! let mut w = JournalWriter::open(cfg.clone())?;
//! w.append(&[Record::new(kind::HEARTBEAT), Record::new(kind::TRADE)])?;
//! assert_eq!(w.commit()?, 2); // records 1 and 2 are committed
//! drop(w);
//!
//! let mut kinds = Vec::new();
//! let sum = JournalReader::open(dir.path(), 0xC0FFEE)?.for_each_from(1, |_, r, _| kinds.push(r.kind))?;
//! assert_eq!(kinds, [kind::HEARTBEAT, kind::TRADE]);
//! assert_eq!(sum.last_seq, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs, unsafe_code)]

mod error;
pub mod format;
mod key;
mod outhash;
mod reader;
mod sync;
mod writer;

pub use error::JournalError;
pub use format::Chain;
pub use key::{key_id_hex, JournalKey, KeyId, KEY_ENV, MIN_PASSPHRASE};
pub use outhash::OutputHash;
pub use reader::{prune_before, verify, JournalReader, ReadSummary, TornTail};
pub use sync::SyncHook;
pub use writer::{Durability, JournalConfig, JournalWriter, Recovery, WriterStats};
