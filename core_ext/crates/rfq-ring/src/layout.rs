//! Ring-file header layout: the byte offsets of `docs/ring-layout.md`.
//!
//! The header is 384 bytes: a 128-byte block written once by the creator, then `write_pos` and
//! `read_pos` each alone on their own 128-byte pair of cache lines (so the producer's and the
//! consumer's stores never false-share, even with adjacent-line prefetching). Records start at
//! [`DATA_OFFSET`]; position `p` lives at `DATA_OFFSET + (p & mask) * RECORD_SIZE`.

/// `magic` value: the ASCII bytes `RFQRING1` read as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RFQRING1");
/// Layout version stored at [`OFF_VERSION`].
pub const VERSION: u32 = 1;
/// Size of one record in bytes (one cache line).
pub const RECORD_SIZE: usize = 64;

/// Offset of `magic` (u64).
pub const OFF_MAGIC: usize = 0;
/// Offset of `version` (u32).
pub const OFF_VERSION: usize = 8;
/// Offset of `record_size` (u32).
pub const OFF_RECORD_SIZE: usize = 12;
/// Offset of `capacity` in records (u64, a power of two ≥ 2).
pub const OFF_CAPACITY: usize = 16;
/// Offset of `mask` = capacity − 1 (u64).
pub const OFF_MASK: usize = 24;
/// Offset of the reserved, zeroed block (96 bytes).
pub const OFF_RESERVED: usize = 32;
/// Offset of `write_pos` (u64): records published so far; stored by the producer only.
pub const OFF_WRITE_POS: usize = 128;
/// Offset of `read_pos` (u64): records consumed so far; stored by the consumer only.
pub const OFF_READ_POS: usize = 256;
/// Offset of the first record slot.
pub const DATA_OFFSET: usize = 384;
/// Size of the header in bytes (equal to [`DATA_OFFSET`]).
pub const HEADER_SIZE: usize = DATA_OFFSET;

/// Smallest allowed capacity (in records).
pub const MIN_CAPACITY: u64 = 2;

const _: () = assert!(MAGIC == 0x3147_4E49_5251_4652);
const _: () = assert!(OFF_WRITE_POS % 128 == 0 && OFF_READ_POS % 128 == 0);
const _: () = assert!(OFF_READ_POS - OFF_WRITE_POS == 128 && DATA_OFFSET - OFF_READ_POS == 128);
const _: () = assert!(DATA_OFFSET % RECORD_SIZE == 0);

/// Total file size in bytes of a ring of `capacity` records, or `None` on overflow.
#[must_use]
pub const fn file_len(capacity: u64) -> Option<u64> {
    match capacity.checked_mul(RECORD_SIZE as u64) {
        Some(data) => data.checked_add(DATA_OFFSET as u64),
        None => None,
    }
}

/// Whether `capacity` is a valid ring capacity (a power of two, at least [`MIN_CAPACITY`]).
#[must_use]
pub const fn is_valid_capacity(capacity: u64) -> bool {
    capacity >= MIN_CAPACITY && capacity.is_power_of_two()
}

/// `(name, offset, size)` of every header field, in offset order (reserved and padding omitted).
///
/// This is the Rust side of the three-way layout check (`tests/test_layout.py`).
#[must_use]
pub fn header_layout() -> [(&'static str, usize, usize); 7] {
    [
        ("magic", OFF_MAGIC, 8),
        ("version", OFF_VERSION, 4),
        ("record_size", OFF_RECORD_SIZE, 4),
        ("capacity", OFF_CAPACITY, 8),
        ("mask", OFF_MASK, 8),
        ("write_pos", OFF_WRITE_POS, 8),
        ("read_pos", OFF_READ_POS, 8),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_is_ascii_rfqring1() {
        assert_eq!(&MAGIC.to_le_bytes(), b"RFQRING1");
    }

    #[test]
    fn file_len_matches_doc() {
        assert_eq!(file_len(2), Some(384 + 128));
        assert_eq!(file_len(65536), Some(384 + 64 * 65536));
        assert_eq!(file_len(u64::MAX), None);
    }

    #[test]
    fn header_fields_do_not_overlap() {
        let l = header_layout();
        for w in l.windows(2) {
            assert!(w[0].1 + w[0].2 <= w[1].1, "{:?} overlaps {:?}", w[0], w[1]);
        }
        assert!(l.last().map(|f| f.1 + f.2).unwrap_or(0) <= HEADER_SIZE);
    }

    #[test]
    fn capacity_validation() {
        for bad in [0, 1, 3, 6, 100, u64::MAX] {
            assert!(!is_valid_capacity(bad), "{bad}");
        }
        for good in [2, 4, 1024, 1 << 40] {
            assert!(is_valid_capacity(good), "{good}");
        }
    }
}
