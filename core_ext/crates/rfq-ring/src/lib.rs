//! A lock-free single-producer/single-consumer ring of 64-byte [`Record`]s over shared memory.
//!
//! This crate is the Rust side of the rfqcore ring contract (`docs/ring-layout.md`): a ring is
//! one file (normally in `/dev/shm`) with a 384-byte header and a power-of-two number of
//! one-cache-line records. Producer and consumer may be threads of one process or separate
//! processes (the Cython handlers use the same layout through `rfq_ring.h`); the memory layout
//! is the whole interface, there is no linking between the two.
//!
//! The protocol is rtrb's / Aeron's: each side keeps its own position and a cached copy of the
//! other side's, reloads the other side's position with an **Acquire** load only when the
//! cache runs out, and publishes its own with one **Release** store per push, pop or batch.
//! A full ring is reported ([`Full`]), never silently overwritten.
//!
//! # Example
//!
//! ```
//! use rfq_ring::{kind, Record, RingFile};
//!
//! let (mut producer, mut consumer) = RingFile::anonymous(1024)?.split();
//!
//! let rec = Record { kind: kind::TRADE, instrument: 7, price: 6_500_000, qty: 3, ..Record::ZERO };
//! producer.try_push(&rec)?;
//!
//! // Zero-copy batch publish: claim slots, write them in place, commit once.
//! let mut claim = producer.try_claim(2).expect("room for 2");
//! claim.write(0, Record { seq: 1, ..rec });
//! claim.write(1, Record { seq: 2, ..rec });
//! claim.commit();
//!
//! assert_eq!(consumer.try_pop(), Some(rec));
//! let mut seqs = Vec::new();
//! consumer.read_batch(16, |r| seqs.push(r.seq)); // one Release store for the whole batch
//! assert_eq!(seqs, [1, 2]);
//! assert_eq!(consumer.try_pop(), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Across processes, one side creates the file and each side opens its own handle:
//!
//! ```no_run
//! let mut tx = rfq_ring::channel_file("/dev/shm/rfq-in-0", 1 << 16)?.0;
//! // ... in the other process:
//! let mut rx = rfq_ring::open_consumer("/dev/shm/rfq-in-0")?;
//! # Ok::<(), rfq_ring::RingError>(())
//! ```
//!
//! # Memory-model argument
//!
//! `write_pos` and `read_pos` are accessed only as `AtomicU64` through pointers into the
//! mapping (8-aligned because the mapping is page-aligned; alive because every handle owns an
//! `Arc` of the mapping). Records are plain memory: the producer writes a slot only while it is
//! free (`pos − read_pos < capacity`, known through an Acquire load of `read_pos` that
//! synchronises with the consumer's Release store after it finished reading), and the consumer
//! reads a slot only once published (`pos < write_pos`, known through an Acquire load that
//! synchronises with the producer's Release store after it finished writing). That requires
//! exactly one producer and one consumer per ring: in-process [`RingFile::split`] enforces it;
//! across processes it is the contract of the file. Every slot index is masked and every bit
//! pattern is a valid [`Record`], so a misbehaving peer can garble data but cannot make this
//! side access memory out of bounds.
//!
//! # Files
//! [`record`] (the record and its wire codes, which live in `codes.rs`, `control.rs` and
//! `rfq_reject.rs`: the one source `tools/wire_codes.py` generates every other copy from),
//! [`layout`] (header offsets), [`RingFile`] (mapping, create/open/validate), [`Producer`],
//! [`Consumer`], [`idle`] strategies.

#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod clock;
mod codes;
mod consumer;
mod control;
mod error;
pub mod idle;
pub mod layout;
mod producer;
pub mod record;
mod rfq_reject;
mod shm;

use std::path::Path;

pub use consumer::{Consumer, ReadChunk};
pub use error::{Full, RingError};
pub use idle::{AnyIdle, Backoff, BusySpin, IdleKind, IdleStrategy, ParseIdleKindError, Yield};
pub use layout::{header_layout, DATA_OFFSET, HEADER_SIZE, RECORD_SIZE};
pub use producer::{Claim, Producer};
pub use record::{book_status, flags, kind, record_layout, reject, side, withdraw, Record};
pub use shm::RingFile;

/// Creates (or truncates) the ring file at `path` and splits it into producer and consumer.
///
/// # Errors
/// See [`RingFile::create`].
pub fn channel_file(
    path: impl AsRef<Path>,
    capacity: usize,
) -> Result<(Producer, Consumer), RingError> {
    RingFile::create(path, capacity).map(RingFile::split)
}

/// An in-process ring on anonymous memory, split into producer and consumer.
///
/// # Errors
/// See [`RingFile::anonymous`].
pub fn channel(capacity: usize) -> Result<(Producer, Consumer), RingError> {
    RingFile::anonymous(capacity).map(RingFile::split)
}

/// Opens an existing ring file as its (only) producer.
///
/// # Errors
/// See [`RingFile::open`].
pub fn open_producer(path: impl AsRef<Path>) -> Result<Producer, RingError> {
    RingFile::open(path).map(RingFile::into_producer)
}

/// Opens an existing ring file as its (only) consumer.
///
/// # Errors
/// See [`RingFile::open`].
pub fn open_consumer(path: impl AsRef<Path>) -> Result<Consumer, RingError> {
    RingFile::open(path).map(RingFile::into_consumer)
}

#[cfg(test)]
mod tests;
