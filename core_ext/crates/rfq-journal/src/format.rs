//! The on-disk format (docs/journal.md): segment header, frames, record encoding, chain.
//!
//! All integers little-endian.

use crate::key::KeyId;
use rfq_ring::Record;
use std::path::{Path, PathBuf};

/// `magic` of a segment header: ASCII `RFQJRNL1`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RFQJRNL1");
/// Format version of an unkeyed segment (plain BLAKE3 chain; what every build wrote before
/// the chain could be keyed).
pub const VERSION: u32 = 1;
/// Format version of a keyed segment: the chain is BLAKE3 keyed with the desk key, whose
/// [`KeyId`] is in the header at offset 80.
pub const VERSION_KEYED: u32 = 2;
/// Bytes of a segment header.
pub const HEADER_SIZE: usize = 128;
/// Bytes of a frame header (before the payload).
pub const FRAME_HEADER: usize = 24;
/// Bytes of a RECORD frame (header + the 64-byte record).
pub const RECORD_FRAME: usize = FRAME_HEADER + 64;
/// Bytes of a COMMIT frame (header + the 32-byte chain hash).
pub const COMMIT_FRAME: usize = FRAME_HEADER + 32;
/// Frame type: one input record.
pub const T_RECORD: u8 = 1;
/// Frame type: end of a commit block, carrying the chain hash.
pub const T_COMMIT: u8 = 2;
/// RECORD frame flag: `aux` holds the recorded run's output-stream hash after this record.
pub const F_OUT_HASH: u8 = 1;

/// A 32-byte BLAKE3 chain value.
pub type Chain = [u8; 32];

/// Chain value carried into segment 0: `BLAKE3("rfqcore-journal-v1" ‖ le64(fingerprint))`.
#[must_use]
pub fn genesis(fingerprint: u64) -> Chain {
    let mut h = blake3::Hasher::new();
    h.update(b"rfqcore-journal-v1");
    h.update(&fingerprint.to_le_bytes());
    *h.finalize().as_bytes()
}

/// File name of segment `index`: `seg-0000000007.rfqj`.
#[must_use]
pub fn segment_name(index: u64) -> String {
    format!("seg-{index:010}.rfqj")
}

/// Index encoded in a segment file name, if it is one.
#[must_use]
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".rfqj")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Path of segment `index` in `dir`.
#[must_use]
pub fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(segment_name(index))
}

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Segment index (0, 1, 2, ... with no gap).
    pub index: u64,
    /// Sequence number of the first record this segment holds (records are numbered from 1).
    pub first_seq: u64,
    /// Configuration fingerprint supplied by the writer's caller.
    pub fingerprint: u64,
    /// Rollover size the writer used (informational).
    pub segment_bytes: u64,
    /// Chain value at the end of the previous segment ([`genesis`] for segment 0).
    pub chain_in: Chain,
    /// Id of the key the segment's chain is keyed with (version 2); `None`: unkeyed (version 1).
    pub key_id: Option<KeyId>,
}

impl SegmentHeader {
    /// The 128 header bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0_u8; HEADER_SIZE];
        b[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        let version = if self.key_id.is_some() { VERSION_KEYED } else { VERSION };
        b[8..12].copy_from_slice(&version.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.index.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_seq.to_le_bytes());
        b[32..40].copy_from_slice(&self.fingerprint.to_le_bytes());
        b[40..48].copy_from_slice(&self.segment_bytes.to_le_bytes());
        b[48..80].copy_from_slice(&self.chain_in);
        if let Some(id) = &self.key_id {
            b[80..88].copy_from_slice(id);
        }
        let crc = crc32c::crc32c(&b[..124]);
        b[124..128].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks magic, version, header size and CRC; `Err(why)` otherwise.
    pub fn decode(b: &[u8]) -> Result<SegmentHeader, String> {
        if b.len() < HEADER_SIZE {
            return Err(format!("{} bytes, a header is {HEADER_SIZE}", b.len()));
        }
        let magic = u64_at(b, 0);
        if magic != MAGIC {
            return Err(format!("magic {magic:#018x}, expected {MAGIC:#018x}"));
        }
        let version = u32_at(b, 8);
        if version != VERSION && version != VERSION_KEYED {
            return Err(format!("version {version}, expected {VERSION} or {VERSION_KEYED} (written by a newer build?)"));
        }
        let size = u32_at(b, 12);
        if size as usize != HEADER_SIZE {
            return Err(format!("header size {size}, expected {HEADER_SIZE}"));
        }
        let crc = u32_at(b, 124);
        if crc != crc32c::crc32c(&b[..124]) {
            return Err("header CRC mismatch".into());
        }
        let keyed = version == VERSION_KEYED;
        let reserved = if keyed { 88 } else { 80 };
        if b[reserved..124].iter().any(|&x| x != 0) {
            return Err("reserved bytes not zero".into());
        }
        let mut chain_in = [0_u8; 32];
        chain_in.copy_from_slice(&b[48..80]);
        Ok(SegmentHeader {
            index: u64_at(b, 16),
            first_seq: u64_at(b, 24),
            fingerprint: u64_at(b, 32),
            segment_bytes: u64_at(b, 40),
            chain_in,
            key_id: keyed.then(|| b[80..88].try_into().expect("8 bytes")),
        })
    }
}

#[inline(always)]
pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

#[inline(always)]
pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

#[inline(always)]
fn i64_at(b: &[u8], off: usize) -> i64 {
    u64_at(b, off) as i64
}

/// Writes the 64 bytes of `r` (its `#[repr(C)]` little-endian layout, docs/ring-layout.md).
#[inline(always)]
pub fn encode_record(r: &Record, b: &mut [u8]) {
    let b: &mut [u8; 64] = (&mut b[..64]).try_into().expect("64 bytes");
    b[0..2].copy_from_slice(&r.kind.to_le_bytes());
    b[2..4].copy_from_slice(&r.instrument.to_le_bytes());
    b[4] = r.side;
    b[5] = r.flags;
    b[6..8].copy_from_slice(&r.source.to_le_bytes());
    b[8..16].copy_from_slice(&r.seq.to_le_bytes());
    b[16..24].copy_from_slice(&r.ts_event.to_le_bytes());
    b[24..32].copy_from_slice(&r.ts_recv.to_le_bytes());
    b[32..40].copy_from_slice(&r.price.to_le_bytes());
    b[40..48].copy_from_slice(&r.qty.to_le_bytes());
    b[48..56].copy_from_slice(&r.aux.to_le_bytes());
    b[56..64].copy_from_slice(&r.ts_send.to_le_bytes());
}

/// Reads a record written by [`encode_record`].
#[inline(always)]
#[must_use]
pub fn decode_record(b: &[u8]) -> Record {
    let b: &[u8; 64] = (&b[..64]).try_into().expect("64 bytes");
    Record {
        kind: u16::from_le_bytes([b[0], b[1]]),
        instrument: u16::from_le_bytes([b[2], b[3]]),
        side: b[4],
        flags: b[5],
        source: u16::from_le_bytes([b[6], b[7]]),
        seq: u64_at(b, 8),
        ts_event: i64_at(b, 16),
        ts_recv: i64_at(b, 24),
        price: i64_at(b, 32),
        qty: i64_at(b, 40),
        aux: i64_at(b, 48),
        ts_send: i64_at(b, 56),
    }
}

/// Writes the frame header fields (not the CRC) into `b[4..FRAME_HEADER]`.
#[inline(always)]
pub(crate) fn frame_header(b: &mut [u8], ty: u8, flags: u8, len: u16, seq: u64, aux: u64) {
    b[4] = ty;
    b[5] = flags;
    b[6..8].copy_from_slice(&len.to_le_bytes());
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    b[16..24].copy_from_slice(&aux.to_le_bytes());
}

/// Writes the CRC of a frame whose header fields and payload (`len` bytes) are in place.
#[inline(always)]
pub(crate) fn frame_crc(b: &mut [u8], len: usize) {
    let crc = crc32c::crc32c(&b[4..FRAME_HEADER + len]);
    b[0..4].copy_from_slice(&crc.to_le_bytes());
}

/// A frame's header fields, CRC verified.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub ty: u8,
    pub seq: u64,
    pub aux: u64,
    pub size: usize,
}

/// Why a frame at some offset could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameFault {
    /// Fewer bytes left than the frame needs.
    Short,
    /// CRC mismatch.
    Crc,
    /// CRC ok, but the type/length pair is not one this version writes.
    Shape,
}

/// Parses and CRC-checks the frame at the start of `b`.
#[inline(always)]
pub(crate) fn read_frame(b: &[u8]) -> Result<Frame, FrameFault> {
    if b.len() < FRAME_HEADER {
        return Err(FrameFault::Short);
    }
    let len = u16::from_le_bytes([b[6], b[7]]) as usize;
    let size = FRAME_HEADER + len;
    if b.len() < size {
        return Err(FrameFault::Short);
    }
    if u32_at(b, 0) != crc32c::crc32c(&b[4..size]) {
        return Err(FrameFault::Crc);
    }
    let ty = b[4];
    let ok = match ty {
        T_RECORD => size == RECORD_FRAME && b[5] & !F_OUT_HASH == 0,
        T_COMMIT => size == COMMIT_FRAME && b[5] == 0,
        _ => false,
    };
    if !ok {
        return Err(FrameFault::Shape);
    }
    Ok(Frame { ty, seq: u64_at(b, 8), aux: u64_at(b, 16), size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrip_matches_memory_layout() {
        let r = Record {
            kind: 0x0102,
            instrument: 0x0304,
            side: 5,
            flags: 6,
            source: 0x0708,
            seq: 9,
            ts_event: -10,
            ts_recv: 11,
            price: -12,
            qty: 13,
            aux: -14,
            ts_send: 15,
        };
        let mut b = [0_u8; 64];
        encode_record(&r, &mut b);
        assert_eq!(decode_record(&b), r);
        assert_eq!(&b[0..2], &[2, 1]);
        assert_eq!(&b[56..64], &15_i64.to_le_bytes());
    }

    #[test]
    fn header_roundtrip_and_crc() {
        let h = SegmentHeader { index: 3, first_seq: 77, fingerprint: 0xfeed, segment_bytes: 1 << 20, chain_in: genesis(1), key_id: None };
        let mut b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        assert_eq!(u32_at(&b, 8), VERSION);
        let k = SegmentHeader { key_id: Some(*b"keyid-01"), ..h };
        let bk = k.encode();
        assert_eq!(u32_at(&bk, 8), VERSION_KEYED);
        assert_eq!(&bk[80..88], b"keyid-01");
        assert_eq!(SegmentHeader::decode(&bk), Ok(k));
        b[30] ^= 1;
        assert!(SegmentHeader::decode(&b).unwrap_err().contains("CRC"));
    }

    #[test]
    fn names() {
        assert_eq!(segment_name(7), "seg-0000000007.rfqj");
        assert_eq!(parse_segment_name("seg-0000000007.rfqj"), Some(7));
        assert_eq!(parse_segment_name("seg-7.rfqj"), None);
        assert_eq!(parse_segment_name("seg-0000000007.rfqj.tmp"), None);
    }
}
