//! Errors: [`RingError`] for creating/opening ring files, [`Full`] for back-pressure.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::layout::{DATA_OFFSET, MAGIC, RECORD_SIZE, VERSION};

/// Why a ring file could not be created or opened. Every header problem has its own variant
/// naming the field and the values involved; a malformed file is an error, never a crash.
#[derive(Debug)]
#[non_exhaustive]
pub enum RingError {
    /// An I/O operation (`op`, e.g. "open", "mmap") on `path` failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The file involved (empty for anonymous rings).
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Requested or stored `capacity` is not a power of two ≥ 2 (or is too large to map).
    InvalidCapacity {
        /// The offending capacity.
        capacity: u64,
    },
    /// The file is shorter than the 384-byte header.
    Truncated {
        /// Actual file length in bytes.
        len: u64,
    },
    /// `magic` is not `RFQRING1`.
    BadMagic {
        /// Value found at offset 0.
        found: u64,
    },
    /// `version` is not the supported layout version.
    BadVersion {
        /// Value found at offset 8.
        found: u32,
    },
    /// `record_size` is not 64.
    BadRecordSize {
        /// Value found at offset 12.
        found: u32,
    },
    /// `mask` is not `capacity − 1`.
    BadMask {
        /// Value found at offset 24.
        found: u64,
        /// `capacity − 1`.
        expected: u64,
    },
    /// The file length is not `384 + 64 × capacity`.
    BadFileLength {
        /// Actual file length in bytes.
        len: u64,
        /// Length implied by the header's capacity.
        expected: u64,
    },
    /// `write_pos − read_pos` is not within `0..=capacity`: the positions are corrupt.
    BadPositions {
        /// `write_pos` found in the header.
        write_pos: u64,
        /// `read_pos` found in the header.
        read_pos: u64,
        /// The ring capacity.
        capacity: u64,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Io { op, path, source } => {
                write!(f, "ring file {}: {op} failed: {source}", path.display())
            }
            RingError::InvalidCapacity { capacity } => write!(
                f,
                "ring field `capacity` = {capacity}: must be a power of two >= 2 that fits in memory"
            ),
            RingError::Truncated { len } => write!(
                f,
                "ring file is truncated: length {len} bytes is shorter than the {DATA_OFFSET}-byte header"
            ),
            RingError::BadMagic { found } => write!(
                f,
                "ring header field `magic` = {found:#018x}, expected {MAGIC:#018x} (\"RFQRING1\"): not a ring file"
            ),
            RingError::BadVersion { found } => {
                write!(f, "ring header field `version` = {found}, expected {VERSION}")
            }
            RingError::BadRecordSize { found } => write!(
                f,
                "ring header field `record_size` = {found}, expected {RECORD_SIZE}"
            ),
            RingError::BadMask { found, expected } => write!(
                f,
                "ring header field `mask` = {found:#x}, expected capacity - 1 = {expected:#x}"
            ),
            RingError::BadFileLength { len, expected } => write!(
                f,
                "ring file length = {len} bytes, expected {expected} (= {DATA_OFFSET} + {RECORD_SIZE} * capacity)"
            ),
            RingError::BadPositions { write_pos, read_pos, capacity } => write!(
                f,
                "ring header fields `write_pos` = {write_pos}, `read_pos` = {read_pos}: \
                 write_pos - read_pos must be within 0..={capacity}"
            ),
        }
    }
}

impl std::error::Error for RingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RingError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The ring had no room: nothing was written, the record is still the caller's.
///
/// The ring never drops silently; the caller decides whether to retry, idle or drop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ring is full")
    }
}

impl std::error::Error for Full {}
