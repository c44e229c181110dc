//! Reading and verifying a journal: [`JournalReader`], [`verify`], and the segment scan that
//! recovery shares.

use crate::error::{io_err, JournalError};
use crate::key::{JournalKey, KeyId};
use crate::format::{
    decode_record, genesis, parse_segment_name, read_frame, segment_path, u64_at, Chain, FrameFault, SegmentHeader,
    COMMIT_FRAME, FRAME_HEADER, F_OUT_HASH, HEADER_SIZE, RECORD_FRAME, T_COMMIT, T_RECORD,
};
use rfq_ring::Record;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes after the last valid commit of the last segment: a write that never completed (its
/// records were never acknowledged). The reader ignores them; the writer truncates them away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment.
    pub path: PathBuf,
    /// Offset of the first byte after the last valid commit (where the file is cut).
    pub offset: u64,
    /// Bytes dropped.
    pub bytes: u64,
    /// Whole, CRC-valid record frames among them (appended but never committed).
    pub records: u64,
}

/// What a read or verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSummary {
    /// Segments read.
    pub segments: u64,
    /// Records delivered to the callback (those with sequence ≥ the start).
    pub delivered: u64,
    /// Sequence number of the last committed record (0 = empty journal).
    pub last_seq: u64,
    /// Chain value after the last commit (anchor this externally to detect cut-off tails).
    pub chain: Chain,
    /// Bytes of committed data read (headers and frames).
    pub bytes: u64,
    /// A torn tail at the end of the last segment, if any.
    pub torn: Option<TornTail>,
    /// Id of the key the keyed segments read are chained with (`None`: every segment read is
    /// unkeyed — a journal written without a key, or before the chain could be keyed).
    pub key_id: Option<KeyId>,
    /// Unkeyed segments read (they come before the keyed ones; their chain is plain BLAKE3,
    /// which anyone able to write the files can recompute).
    pub unkeyed_segments: u64,
}

impl ReadSummary {
    fn new(chain: Chain) -> ReadSummary {
        ReadSummary { segments: 0, delivered: 0, last_seq: 0, chain, bytes: 0, torn: None, key_id: None, unkeyed_segments: 0 }
    }

    /// Adds one scanned segment (and the records delivered from it); returns the link the next
    /// segment must continue: `(its first sequence number, chain)`.
    fn absorb(&mut self, scan: SegScan, delivered: u64) -> (u64, Chain) {
        self.segments += 1;
        self.delivered += delivered;
        self.last_seq = scan.last_seq;
        self.chain = scan.chain;
        self.bytes += scan.valid_end as u64;
        self.torn = scan.torn;
        match scan.header.key_id {
            Some(id) => self.key_id = Some(id),
            None => self.unkeyed_segments += 1,
        }
        (scan.last_seq + 1, scan.chain)
    }
}

/// Result of scanning one segment.
#[derive(Debug)]
pub(crate) struct SegScan {
    pub header: SegmentHeader,
    /// Offset just after the last valid COMMIT frame (or the header).
    pub valid_end: usize,
    /// Last committed sequence number (`first_seq − 1` if none).
    pub last_seq: u64,
    pub chain: Chain,
    pub torn: Option<TornTail>,
}

/// What a scan expects of a segment.
pub(crate) struct Expect<'k> {
    pub index: u64,
    pub fingerprint: u64,
    /// `(first_seq, chain_in)` when the previous segment was read.
    pub link: Option<(u64, Chain)>,
    /// The key a keyed segment must be chained with (`None`: a keyed segment is refused).
    pub key: Option<&'k JournalKey>,
    /// A segment before this one is keyed: this one must be too (no downgrade).
    pub after_keyed: bool,
}

/// Indices of the segment files in `dir`, sorted, checked contiguous (first one may be > 0 only
/// if `from_zero` is false).
pub(crate) fn list_segments(dir: &Path, from_zero: bool) -> Result<Vec<u64>, JournalError> {
    let mut idx = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err("read_dir", dir))? {
        let e = e.map_err(io_err("read_dir", dir))?;
        if let Some(i) = e.file_name().to_str().and_then(parse_segment_name) {
            idx.push(i);
        }
    }
    idx.sort_unstable();
    let first = if from_zero { 0 } else { idx.first().copied().unwrap_or(0) };
    for (want, &i) in (first..).zip(&idx) {
        if i != want {
            return Err(JournalError::MissingSegment { dir: dir.to_path_buf(), index: want });
        }
    }
    Ok(idx)
}

pub(crate) fn read_file(path: &Path, buf: &mut Vec<u8>) -> Result<(), JournalError> {
    buf.clear();
    let mut f = std::fs::File::open(path).map_err(io_err("open", path))?;
    f.read_to_end(buf).map_err(io_err("read", path))?;
    Ok(())
}

/// Whether a valid COMMIT frame starts anywhere in `b` at or after `from` (so damage before it
/// is not a torn tail).
fn commit_after(b: &[u8], from: usize) -> bool {
    if b.len() < COMMIT_FRAME {
        return false;
    }
    (from..=b.len() - COMMIT_FRAME).any(|off| {
        b[off + 4] == T_COMMIT && b[off + 6] == 32 && b[off + 7] == 0 && matches!(read_frame(&b[off..]), Ok(f) if f.ty == T_COMMIT)
    })
}

/// Scans one segment (`b` = the whole file): header, frames, sequence numbers and the chain of
/// every block. `on_block(first_seq, frames, chain)` gets each verified block's record frames
/// and the chain value after the block.
pub(crate) fn scan_segment(
    b: &[u8],
    path: &Path,
    expect: &Expect,
    is_last: bool,
    mut on_block: impl FnMut(u64, &[u8], &Chain),
) -> Result<SegScan, JournalError> {
    let header = SegmentHeader::decode(b).map_err(|why| JournalError::BadHeader { path: path.to_path_buf(), why })?;
    if header.index != expect.index {
        return Err(JournalError::BadHeader {
            path: path.to_path_buf(),
            why: format!("segment index {} in the file, {} in its name (renamed?)", header.index, expect.index),
        });
    }
    if header.fingerprint != expect.fingerprint {
        return Err(JournalError::FingerprintMismatch {
            path: path.to_path_buf(),
            expected: expect.fingerprint,
            found: header.fingerprint,
        });
    }
    if header.index == 0 && (header.first_seq != 1 || header.chain_in != genesis(header.fingerprint)) {
        return Err(JournalError::BadHeader { path: path.to_path_buf(), why: "segment 0 must start at sequence 1 from the genesis chain".into() });
    }
    let mut hasher = match (header.key_id, expect.key) {
        (Some(key_id), None) => return Err(JournalError::KeyMissing { path: path.to_path_buf(), key_id }),
        (Some(found), Some(k)) if found != k.id() => {
            return Err(JournalError::WrongKey { path: path.to_path_buf(), found, given: k.id() })
        }
        (Some(_), Some(k)) => k.hasher(),
        (None, _) if expect.after_keyed => {
            return Err(JournalError::BadHeader {
                path: path.to_path_buf(),
                why: "unkeyed segment after a keyed one (rewritten without the key?)".into(),
            })
        }
        (None, _) => blake3::Hasher::new(),
    };
    if let Some((first_seq, chain_in)) = expect.link {
        if header.first_seq != first_seq {
            return Err(JournalError::SequenceGap { path: path.to_path_buf(), offset: 0, expected: first_seq, found: header.first_seq });
        }
        if header.chain_in != chain_in {
            return Err(JournalError::ChainBroken { path: path.to_path_buf(), offset: 0 });
        }
    }
    let mut chain = header.chain_in;
    let mut last_seq = header.first_seq - 1;
    let mut valid_end = HEADER_SIZE;
    let mut off = HEADER_SIZE;
    let mut block_records = 0_u64;
    let fault = loop {
        if off == b.len() {
            break None;
        }
        let f = match read_frame(&b[off..]) {
            Ok(f) => f,
            Err(e) => break Some((off, e)),
        };
        let want = last_seq + block_records + 1;
        match f.ty {
            T_RECORD => {
                if f.seq != want {
                    return Err(JournalError::SequenceGap { path: path.to_path_buf(), offset: off as u64, expected: want, found: f.seq });
                }
                block_records += 1;
            }
            _ => {
                debug_assert_eq!(f.ty, T_COMMIT);
                if block_records == 0 || f.seq != want - 1 || f.aux != block_records {
                    return Err(JournalError::BadFrame {
                        path: path.to_path_buf(),
                        offset: off as u64,
                        why: format!("commit of {} records up to {}, block holds {block_records} up to {}", f.aux, f.seq, want - 1),
                    });
                }
                hasher.reset();
                hasher.update(&chain);
                hasher.update(&b[valid_end..off]);
                hasher.update(&b[off + 4..off + FRAME_HEADER]);
                let c = *hasher.finalize().as_bytes();
                if c[..] != b[off + FRAME_HEADER..off + COMMIT_FRAME] {
                    return Err(JournalError::ChainBroken { path: path.to_path_buf(), offset: off as u64 });
                }
                on_block(last_seq + 1, &b[valid_end..off], &c);
                chain = c;
                last_seq = f.seq;
                block_records = 0;
                valid_end = off + COMMIT_FRAME;
            }
        }
        off += f.size;
    };
    let torn_from = match fault {
        None if block_records == 0 => None,
        None => Some(b.len()),
        Some((at, e)) => {
            let damaged_mid = commit_after(b, at + 1);
            if !is_last || damaged_mid {
                return Err(match e {
                    FrameFault::Crc => JournalError::BadCrc { path: path.to_path_buf(), offset: at as u64 },
                    FrameFault::Shape => JournalError::BadFrame { path: path.to_path_buf(), offset: at as u64, why: "unknown type or length".into() },
                    FrameFault::Short => JournalError::BadFrame {
                        path: path.to_path_buf(),
                        offset: at as u64,
                        why: if damaged_mid { "length runs past the end, with committed data after it".into() } else { "segment ends in the middle of a frame".into() },
                    },
                });
            }
            if e == FrameFault::Shape {
                // A CRC-valid frame this version never writes is not a partial write.
                return Err(JournalError::BadFrame { path: path.to_path_buf(), offset: at as u64, why: "unknown type or length".into() });
            }
            Some(at)
        }
    };
    let torn = match torn_from {
        None => None,
        Some(_) if !is_last => {
            return Err(JournalError::BadFrame {
                path: path.to_path_buf(),
                offset: valid_end as u64,
                why: "records after the last commit of a segment that is not the last".into(),
            })
        }
        Some(_) => Some(TornTail {
            path: path.to_path_buf(),
            offset: valid_end as u64,
            bytes: (b.len() - valid_end) as u64,
            records: block_records,
        }),
    };
    Ok(SegScan { header, valid_end, last_seq, chain, torn })
}

/// Calls `f(seq, record, out_hash)` for every record frame of a verified block.
#[inline]
pub(crate) fn for_each_frame(first_seq: u64, frames: &[u8], from: u64, f: &mut impl FnMut(u64, &Record, Option<u64>)) -> u64 {
    let mut n = 0;
    for (i, fr) in frames.chunks_exact(RECORD_FRAME).enumerate() {
        let seq = first_seq + i as u64;
        if seq < from {
            continue;
        }
        let rec = decode_record(&fr[FRAME_HEADER..]);
        let out = (fr[5] & F_OUT_HASH != 0).then(|| u64_at(fr, 16));
        f(seq, &rec, out);
        n += 1;
    }
    n
}

/// Reads a journal directory: every segment from 0, each verified (header, fingerprint, CRC,
/// sequence numbers, chain, links between segments) before its records are delivered.
///
/// A keyed segment (docs/journal.md, "Keyed chain") is only read with its key
/// ([`JournalReader::with_key`]): without one it is refused with [`JournalError::KeyMissing`],
/// with another with [`JournalError::WrongKey`]. Unkeyed segments (written without a key or
/// before the chain could be keyed) are read with or without a key, but only before the keyed
/// ones; [`ReadSummary::unkeyed_segments`] counts them.
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    fingerprint: u64,
    segments: Vec<u64>,
    buf: Vec<u8>,
    key: Option<JournalKey>,
}

impl JournalReader {
    /// Opens `dir` for reading; the journal must have been written with `fingerprint`.
    ///
    /// # Errors
    /// [`JournalError::Empty`] without segments, [`JournalError::MissingSegment`] on a gap in
    /// the segment numbering (from 0), [`JournalError::Io`].
    pub fn open(dir: impl AsRef<Path>, fingerprint: u64) -> Result<JournalReader, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let segments = list_segments(&dir, true)?;
        if segments.is_empty() {
            return Err(JournalError::Empty { dir });
        }
        Ok(JournalReader { dir, fingerprint, segments, buf: Vec::new(), key: None })
    }

    /// Opens `dir` for reading from an anchor ([`JournalReader::for_each_after`]): the
    /// segments must be contiguous, but they may start after segment 0 (segments entirely
    /// before a snapshot may have been pruned, see [`prune_before`]).
    ///
    /// # Errors
    /// As [`JournalReader::open`], except that a missing segment 0 is not one.
    pub fn open_pruned(dir: impl AsRef<Path>, fingerprint: u64) -> Result<JournalReader, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let segments = list_segments(&dir, false)?;
        if segments.is_empty() {
            return Err(JournalError::Empty { dir });
        }
        Ok(JournalReader { dir, fingerprint, segments, buf: Vec::new(), key: None })
    }

    /// Verifies keyed segments with `key` (the desk key, e.g. [`JournalKey::from_env`]).
    #[must_use]
    pub fn with_key(mut self, key: Option<JournalKey>) -> JournalReader {
        self.key = key;
        self
    }

    /// Segment indices found.
    #[must_use]
    pub fn segments(&self) -> &[u64] {
        &self.segments
    }

    /// Sequence number of the first record the journal still holds (1 unless segments were
    /// pruned), from the first segment's header.
    ///
    /// # Errors
    /// I/O or a bad header.
    pub fn first_seq(&self) -> Result<u64, JournalError> {
        let &first = self.segments.first().expect("opened with a segment");
        Ok(read_header(&self.dir, first, self.fingerprint)?.first_seq)
    }

    /// Delivers `f(seq, record, out_hash)` for every committed record **after** the anchor
    /// `(seq, chain)` — the commit a snapshot was taken at — in order, across segments.
    ///
    /// Reading starts at the segment holding that commit (earlier segments are not read, and
    /// may have been pruned). The anchor must be exactly a commit of this journal: a COMMIT
    /// frame ending at `seq` whose chain value is `chain` (or, when that commit ended a
    /// segment, the next segment's `chain_in`); only then is anything delivered, and every
    /// later block is chained to it, so the tail is exactly the history that followed the
    /// snapshot. `anchor.0 == 0` is the start of the journal (segment 0 and the genesis chain).
    ///
    /// # Errors
    /// [`JournalError::AnchorMismatch`] when the journal has no such commit (it ends before
    /// `seq`, starts after it, or holds other data there); every error of
    /// [`JournalReader::for_each_from`] for damage from the anchor's segment on.
    pub fn for_each_after(&mut self, anchor: (u64, Chain), mut f: impl FnMut(u64, &Record, Option<u64>)) -> Result<ReadSummary, JournalError> {
        let (seq, chain) = anchor;
        let dir = self.dir.clone();
        let mismatch = |why: String| JournalError::AnchorMismatch { dir: dir.clone(), why };
        if seq == 0 {
            if chain != genesis(self.fingerprint) {
                return Err(mismatch("anchor at sequence 0 with a chain other than the genesis".into()));
            }
            if self.segments.first() != Some(&0) {
                return Err(JournalError::MissingSegment { dir: self.dir.clone(), index: 0 });
            }
            return self.for_each_from(1, f);
        }
        // the last segment whose first record is at most seq + 1 holds the anchor's commit (or
        // starts right after it)
        let mut start = None;
        for (k, &index) in self.segments.iter().enumerate() {
            let h = read_header(&self.dir, index, self.fingerprint)?;
            if h.first_seq <= seq + 1 {
                start = Some((k, h));
            } else {
                break;
            }
        }
        let Some((k0, h0)) = start else {
            let first = read_header(&self.dir, self.segments[0], self.fingerprint)?.first_seq;
            return Err(mismatch(format!(
                "anchor at sequence {seq}, but the journal starts at sequence {first} (segment {}; earlier segments pruned)",
                self.segments[0]
            )));
        };
        let mut sum = ReadSummary::new(chain);
        // anchored: Some(true) once the anchor's commit is verified
        let mut anchored = h0.first_seq == seq + 1;
        if anchored && h0.chain_in != chain {
            return Err(mismatch(format!("segment {} starts after sequence {seq} from another chain value than the anchor's", h0.index)));
        }
        let mut link = None;
        let n = self.segments.len();
        let segs = self.segments[k0..].to_vec();
        for (j, &index) in segs.iter().enumerate() {
            let path = segment_path(&self.dir, index);
            read_file(&path, &mut self.buf)?;
            let expect = Expect { index, fingerprint: self.fingerprint, link, key: self.key.as_ref(), after_keyed: sum.key_id.is_some() };
            let mut delivered = 0;
            let mut bad = None;
            let scan = scan_segment(&self.buf, &path, &expect, k0 + j + 1 == n, |first, frames, after| {
                let last = first + (frames.len() / RECORD_FRAME) as u64 - 1;
                if !anchored {
                    if last == seq {
                        if *after == chain {
                            anchored = true;
                        } else {
                            bad.get_or_insert_with(|| format!("the commit ending at sequence {seq} has another chain value than the anchor's"));
                        }
                    } else if first <= seq && seq < last {
                        bad.get_or_insert_with(|| format!("sequence {seq} is inside a commit block ({first}..={last}), not at its end"));
                    }
                    return;
                }
                if bad.is_none() && last > seq {
                    delivered += for_each_frame(first, frames, seq + 1, &mut f);
                }
            })?;
            if let Some(why) = bad {
                return Err(mismatch(why));
            }
            if !anchored {
                // the anchor's commit can only be in the first segment read
                return Err(mismatch(format!("no commit ends at sequence {seq} (segment {index} ends at {})", scan.last_seq)));
            }
            link = Some(sum.absorb(scan, delivered));
        }
        Ok(sum)
    }

    /// Delivers `f(seq, record, out_hash)` for every committed record with sequence ≥ `from`
    /// (records are numbered from 1), in order, across segments. Every segment is verified
    /// from its start (the chain needs it); a block's records are delivered only once the
    /// block's CRCs and chain check. A torn tail of the last segment ends the journal (it is
    /// reported in the summary, not delivered, and not modified).
    ///
    /// # Errors
    /// The first [`JournalError`] met; records already delivered stay delivered.
    pub fn for_each_from(&mut self, from: u64, mut f: impl FnMut(u64, &Record, Option<u64>)) -> Result<ReadSummary, JournalError> {
        let mut link = None;
        let mut sum = ReadSummary::new(genesis(self.fingerprint));
        let n = self.segments.len();
        for (k, &index) in self.segments.iter().enumerate() {
            let path = segment_path(&self.dir, index);
            read_file(&path, &mut self.buf)?;
            let expect = Expect { index, fingerprint: self.fingerprint, link, key: self.key.as_ref(), after_keyed: sum.key_id.is_some() };
            let mut delivered = 0;
            let scan = scan_segment(&self.buf, &path, &expect, k + 1 == n, |first, frames, _| {
                if first + (frames.len() / RECORD_FRAME) as u64 > from {
                    delivered += for_each_frame(first, frames, from, &mut f);
                }
            })?;
            link = Some(sum.absorb(scan, delivered));
        }
        Ok(sum)
    }
}

/// Verifies a whole journal without delivering records. With `anchor = Some((seq, chain))` —
/// a `(last_seq, chain)` pair obtained from the writer at some earlier point and kept elsewhere —
/// also checks that the journal still contains that point unchanged, which detects cutting
/// whole committed blocks or segments from the end (the one thing a chain cannot detect alone).
///
/// Keyed segments are verified with `key` ([`JournalReader::with_key`]).
///
/// # Errors
/// As [`JournalReader::for_each_from`], plus [`JournalError::AnchorMismatch`].
pub fn verify(dir: impl AsRef<Path>, fingerprint: u64, key: Option<&JournalKey>, anchor: Option<(u64, Chain)>) -> Result<ReadSummary, JournalError> {
    let dir = dir.as_ref();
    let sum = JournalReader::open(dir, fingerprint)?.with_key(key.cloned()).for_each_from(u64::MAX, |_, _, _| {})?;
    if let Some((seq, chain)) = anchor {
        if chain_at(dir, fingerprint, key, seq)? != Some(chain) {
            return Err(JournalError::AnchorMismatch {
                dir: dir.to_path_buf(),
                why: format!("no commit ending at sequence {seq} with the anchored chain (journal ends at {})", sum.last_seq),
            });
        }
    }
    Ok(sum)
}

/// The header of segment `index`, decoded and checked (name, fingerprint).
pub(crate) fn read_header(dir: &Path, index: u64, fingerprint: u64) -> Result<SegmentHeader, JournalError> {
    let path = segment_path(dir, index);
    let mut b = [0_u8; HEADER_SIZE];
    let mut f = std::fs::File::open(&path).map_err(io_err("open", &path))?;
    f.read_exact(&mut b).map_err(io_err("read", &path))?;
    let h = SegmentHeader::decode(&b).map_err(|why| JournalError::BadHeader { path: path.clone(), why })?;
    if h.index != index {
        return Err(JournalError::BadHeader { path, why: format!("segment index {} in the file, {index} in its name (renamed?)", h.index) });
    }
    if h.fingerprint != fingerprint {
        return Err(JournalError::FingerprintMismatch { path, expected: fingerprint, found: h.fingerprint });
    }
    Ok(h)
}

/// Deletes the segments that lie entirely before the commit ending at `seq` (each one whose
/// successor exists and starts at or before `seq + 1`), oldest first, so the journal still
/// holds that commit and everything after it: recovery from a snapshot taken at `seq` still
/// works, a full replay from segment 0 no longer does. The segment being written is never
/// deleted (it has no successor). Returns the deleted paths.
///
/// # Errors
/// I/O errors, a bad header; a gap in the segment numbering.
pub fn prune_before(dir: impl AsRef<Path>, fingerprint: u64, seq: u64) -> Result<Vec<PathBuf>, JournalError> {
    let dir = dir.as_ref();
    let segs = list_segments(dir, false)?;
    let mut removed = Vec::new();
    for w in segs.windows(2) {
        let next = read_header(dir, w[1], fingerprint)?;
        if next.first_seq > seq.saturating_add(1) {
            break;
        }
        let path = segment_path(dir, w[0]);
        std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
        removed.push(path);
    }
    if !removed.is_empty() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync dir", dir))?;
    }
    Ok(removed)
}

/// Chain value right after the commit that ends at `seq`, if some commit does.
fn chain_at(dir: &Path, fingerprint: u64, key: Option<&JournalKey>, seq: u64) -> Result<Option<Chain>, JournalError> {
    if seq == 0 {
        return Ok(Some(genesis(fingerprint)));
    }
    let mut r = JournalReader::open(dir, fingerprint)?;
    let n = r.segments.len();
    let mut link = None;
    let mut after_keyed = false;
    for (k, &index) in r.segments.clone().iter().enumerate() {
        let path = segment_path(dir, index);
        read_file(&path, &mut r.buf)?;
        let b = &r.buf;
        let scan = scan_segment(b, &path, &Expect { index, fingerprint, link, key, after_keyed }, k + 1 == n, |_, _, _| {})?;
        after_keyed |= scan.header.key_id.is_some();
        if scan.header.first_seq <= seq && seq <= scan.last_seq {
            // Walk the frames to the commit ending at `seq`.
            let mut off = HEADER_SIZE;
            while off < scan.valid_end {
                let f = read_frame(&b[off..]).expect("verified by the scan");
                if f.ty == T_COMMIT && f.seq == seq {
                    let mut c = [0_u8; 32];
                    c.copy_from_slice(&b[off + FRAME_HEADER..off + COMMIT_FRAME]);
                    return Ok(Some(c));
                }
                off += f.size;
            }
            return Ok(None);
        }
        link = Some((scan.last_seq + 1, scan.chain));
    }
    Ok(None)
}
