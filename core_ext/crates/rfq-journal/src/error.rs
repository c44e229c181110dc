//! [`JournalError`]: every way a journal can be refused, each naming the file and byte offset.

use crate::key::{key_id_hex, KeyId, KEY_ENV};
use std::path::PathBuf;

/// Why a journal (or one of its segments) was refused. Recovery never guesses: anything but a
/// torn tail after the last commit of the last segment is one of these.
#[derive(Debug)]
pub enum JournalError {
    /// An I/O call failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory holds no segment (reader) .
    Empty {
        /// The journal directory.
        dir: PathBuf,
    },
    /// A segment between the first and the last is absent (deleted or renamed away).
    MissingSegment {
        /// The journal directory.
        dir: PathBuf,
        /// Index of the absent segment.
        index: u64,
    },
    /// A segment header is malformed (magic, version, size, CRC, or the index in the file
    /// differs from the index in its name: a renamed segment).
    BadHeader {
        /// The segment.
        path: PathBuf,
        /// Which check failed.
        why: String,
    },
    /// The journal was written for a differently configured core.
    FingerprintMismatch {
        /// The segment.
        path: PathBuf,
        /// Fingerprint the caller expects.
        expected: u64,
        /// Fingerprint in the segment header.
        found: u64,
    },
    /// A frame's CRC does not match its bytes, with valid committed data after it (so it is
    /// not a torn tail), or anywhere in a segment that is not the last.
    BadCrc {
        /// The segment.
        path: PathBuf,
        /// Byte offset of the frame in the segment.
        offset: u64,
    },
    /// A frame with a valid CRC but an impossible type or length, or a segment that is not the
    /// last one ends in the middle of a frame or with records after its last commit.
    BadFrame {
        /// The segment.
        path: PathBuf,
        /// Byte offset of the frame in the segment.
        offset: u64,
        /// Which check failed.
        why: String,
    },
    /// Sequence numbers do not follow each other (a frame or block was removed, duplicated or
    /// moved), within a segment or from one segment's header to the previous segment's end.
    SequenceGap {
        /// The segment.
        path: PathBuf,
        /// Byte offset of the frame (0 = the segment header).
        offset: u64,
        /// The sequence number that should come next.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// The hash chain does not verify: the bytes of a committed block (or a segment's carried
    /// chain) are not what was committed, although every CRC matches — tampering.
    ChainBroken {
        /// The segment.
        path: PathBuf,
        /// Byte offset of the COMMIT frame whose chain failed (0 = the segment header).
        offset: u64,
    },
    /// The journal ends before an anchor (sequence number and chain hash) known from elsewhere:
    /// whole blocks or segments were cut from its end.
    AnchorMismatch {
        /// The journal directory.
        dir: PathBuf,
        /// Why.
        why: String,
    },
    /// The journal is keyed (docs/journal.md, "Keyed chain") and no key was given.
    KeyMissing {
        /// The keyed segment.
        path: PathBuf,
        /// Key id recorded in its header.
        key_id: KeyId,
    },
    /// The journal is keyed with another key than the one given.
    WrongKey {
        /// The keyed segment.
        path: PathBuf,
        /// Key id recorded in its header.
        found: KeyId,
        /// Id of the key given.
        given: KeyId,
    },
    /// The desk secret cannot be used as a key (the message says what to set).
    BadKey(String),
    /// Invalid writer configuration.
    Config(String),
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalError::Io { op, path, source } => write!(f, "{op} {}: {source}", path.display()),
            JournalError::Empty { dir } => write!(f, "{}: no journal segment", dir.display()),
            JournalError::MissingSegment { dir, index } => {
                write!(f, "{}: segment {index} is missing", dir.display())
            }
            JournalError::BadHeader { path, why } => {
                write!(f, "{} offset 0: bad segment header: {why}", path.display())
            }
            JournalError::FingerprintMismatch { path, expected, found } => write!(
                f,
                "{} offset 0: config fingerprint {found:#018x}, expected {expected:#018x} (journal of a differently configured core)",
                path.display()
            ),
            JournalError::BadCrc { path, offset } => {
                write!(f, "{} offset {offset}: frame CRC mismatch", path.display())
            }
            JournalError::BadFrame { path, offset, why } => {
                write!(f, "{} offset {offset}: bad frame: {why}", path.display())
            }
            JournalError::SequenceGap { path, offset, expected, found } => write!(
                f,
                "{} offset {offset}: sequence {found}, expected {expected}",
                path.display()
            ),
            JournalError::ChainBroken { path, offset } => {
                write!(f, "{} offset {offset}: hash chain broken (tampered data)", path.display())
            }
            JournalError::AnchorMismatch { dir, why } => write!(f, "{}: {why}", dir.display()),
            JournalError::KeyMissing { path, key_id } => write!(
                f,
                "{}: journal keyed with key id {}, but {KEY_ENV} is not set: set {KEY_ENV} to the desk key it was written with",
                path.display(),
                key_id_hex(key_id)
            ),
            JournalError::WrongKey { path, found, given } => write!(
                f,
                "{}: journal keyed with key id {}, but {KEY_ENV} is key id {}: set {KEY_ENV} to the desk key it was written with",
                path.display(),
                key_id_hex(found),
                key_id_hex(given)
            ),
            JournalError::BadKey(why) => f.write_str(why),
            JournalError::Config(why) => write!(f, "journal config: {why}"),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub(crate) fn io_err<'a>(op: &'static str, path: &'a std::path::Path) -> impl FnOnce(std::io::Error) -> JournalError + 'a {
    move |source| JournalError::Io { op, path: path.to_path_buf(), source }
}
