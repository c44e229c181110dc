//! Snapshots of the whole core state (docs/journal.md, "Snapshots").
//!
//! A snapshot file is a 128-byte header followed by a body:
//!
//! - the header names the journal point the state corresponds to — the anchor `(seq, chain)` of
//!   the commit after which it was taken, the output-stream hash there — plus the
//!   configuration fingerprint, the core's [`Core::state_hash`], the body length and the
//!   BLAKE3 hash of the body; it ends with a CRC32C of itself;
//! - the body is a hand-written little-endian encoding of every piece of mutable state, in a
//!   fixed order: clock, counters, each instrument (sync state, clocks, BBO, last trade, both
//!   ladders as window position + levels), each composite (members' basis and inclusion, live
//!   pricing parameters, published ladder, live mask, the market cache of the RFQ fast path),
//!   and the RFQ workflow (tiers, clients with throttle buckets and execution windows,
//!   positions, per-composite risk/pricing v2/switches/volatility, the quote table, both
//!   deadline heaps in heap order, pending approvals and their free list, the duplicate-id table
//!   slot by slot, the kill-switch scan, counters).
//!
//! What comes from the configuration (instrument specs, names, conversions, table sizes) is
//! not stored but checked: restoring into a core built from another configuration is refused
//! ([`SnapshotError::Mismatch`]). Book levels are stored as varint deltas of tick indices and
//! varint quantities (≈ 4–5 bytes a level instead of 16).

use rfq_kernel::codec::{Body, DecodeError, Dec, Out, Persist};
use crate::core::{Core, CoreConfig};
use rfq_journal::Chain;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `magic` of a snapshot header: ASCII `RFQSNAP1`.
pub const SNAPSHOT_MAGIC: u64 = u64::from_le_bytes(*b"RFQSNAP1");
/// Snapshot format version written. Version 3 defines the header's state hash as
/// [`Core::state_hash`] of today (the hash of the state's one encoding, `crate::codec`) and
/// keeps the OMS in its layout 2 (`rfq_oms::codec`: table bound, owners of applied exec ids,
/// pruning point). Version 2 had an older state hash and OMS layout 1 and otherwise the same
/// body; it still restores (see [`Core::restore_snapshot`]).
pub const SNAPSHOT_VERSION: u32 = 3;
/// Oldest snapshot format version this build restores.
pub const SNAPSHOT_MIN_VERSION: u32 = 2;
/// Bytes of a snapshot header.
pub const SNAPSHOT_HEADER: usize = 128;
/// End-of-body marker (ASCII `SNAPEND!`): a body decoded to its end finds it.
const END_MARK: u64 = u64::from_le_bytes(*b"SNAPEND!");

/// Where in the journal a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotAnchor {
    /// Configuration fingerprint (the journal's).
    pub fingerprint: u64,
    /// Sequence number of the last journaled record the state includes (0 = none).
    pub seq: u64,
    /// Chain value after the commit ending at `seq` (the journal's genesis for 0).
    pub chain: Chain,
    /// The run's output-stream hash after `seq` ([`rfq_journal::OutputHash`] value).
    pub out_hash: u64,
}

impl SnapshotAnchor {
    /// A snapshot taken outside any journal (`seq` 0).
    #[must_use]
    pub fn detached(fingerprint: u64) -> SnapshotAnchor {
        SnapshotAnchor { fingerprint, seq: 0, chain: rfq_journal::format::genesis(fingerprint), out_hash: rfq_journal::OutputHash::new().value() }
    }
}

/// A decoded snapshot header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// Format version.
    pub version: u32,
    /// The journal point.
    pub anchor: SnapshotAnchor,
    /// [`Core::state_hash`] of the saved state (checked after a restore).
    pub state_hash: u64,
    /// Bytes of the body.
    pub body_len: u64,
    /// BLAKE3 of the body.
    pub body_hash: [u8; 32],
}

impl SnapshotHeader {
    /// The 128 header bytes: magic, version, header size, fingerprint, seq, chain, output hash,
    /// state hash, body length, body BLAKE3, reserved, CRC32C of bytes 0..124.
    #[must_use]
    pub fn encode(&self) -> [u8; SNAPSHOT_HEADER] {
        let mut b = [0_u8; SNAPSHOT_HEADER];
        b[0..8].copy_from_slice(&SNAPSHOT_MAGIC.to_le_bytes());
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&(SNAPSHOT_HEADER as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.anchor.fingerprint.to_le_bytes());
        b[24..32].copy_from_slice(&self.anchor.seq.to_le_bytes());
        b[32..64].copy_from_slice(&self.anchor.chain);
        b[64..72].copy_from_slice(&self.anchor.out_hash.to_le_bytes());
        b[72..80].copy_from_slice(&self.state_hash.to_le_bytes());
        b[80..88].copy_from_slice(&self.body_len.to_le_bytes());
        b[88..120].copy_from_slice(&self.body_hash);
        let crc = crc32c::crc32c(&b[..124]);
        b[124..128].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks magic, version, size, CRC.
    ///
    /// # Errors
    /// [`SnapshotError::BadHeader`].
    pub fn decode(b: &[u8]) -> Result<SnapshotHeader, SnapshotError> {
        let bad = |why: String| SnapshotError::BadHeader { why };
        if b.len() < SNAPSHOT_HEADER {
            return Err(bad(format!("{} bytes, a header is {SNAPSHOT_HEADER}", b.len())));
        }
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        if u64_at(0) != SNAPSHOT_MAGIC {
            return Err(bad(format!("magic {:#018x}, expected {SNAPSHOT_MAGIC:#018x} (not a snapshot)", u64_at(0))));
        }
        if u32_at(124) != crc32c::crc32c(&b[..124]) {
            return Err(bad("header CRC mismatch".into()));
        }
        let version = u32_at(8);
        if !(SNAPSHOT_MIN_VERSION..=SNAPSHOT_VERSION).contains(&version) {
            return Err(bad(format!("version {version}, this build reads {SNAPSHOT_MIN_VERSION} to {SNAPSHOT_VERSION}")));
        }
        if u32_at(12) as usize != SNAPSHOT_HEADER || b[120..124].iter().any(|&x| x != 0) {
            return Err(bad("header size or reserved bytes".into()));
        }
        let mut chain = [0; 32];
        chain.copy_from_slice(&b[32..64]);
        let mut body_hash = [0; 32];
        body_hash.copy_from_slice(&b[88..120]);
        Ok(SnapshotHeader {
            version,
            anchor: SnapshotAnchor { fingerprint: u64_at(16), seq: u64_at(24), chain, out_hash: u64_at(64) },
            state_hash: u64_at(72),
            body_len: u64_at(80),
            body_hash,
        })
    }
}

impl From<DecodeError> for SnapshotError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Mismatch { why } => SnapshotError::Mismatch { why },
            DecodeError::Corrupt { why } => SnapshotError::Corrupt { why },
        }
    }
}

/// Why a snapshot was refused.
#[derive(Debug)]
pub enum SnapshotError {
    /// An I/O call failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The file, when there is one.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not a snapshot header (magic, version, size, CRC).
    BadHeader {
        /// Which check failed.
        why: String,
    },
    /// The body does not have the length or BLAKE3 hash the header records (damaged file).
    Checksum {
        /// What differs.
        why: String,
    },
    /// Taken with another configuration fingerprint.
    Fingerprint {
        /// Expected.
        expected: u64,
        /// In the header.
        found: u64,
    },
    /// The saved state does not fit this core's configuration (instruments, composites,
    /// clients, tiers, table sizes...).
    Mismatch {
        /// What differs.
        why: String,
    },
    /// The body passed its checksum but does not decode (a bug or a forged file).
    Corrupt {
        /// Where.
        why: String,
    },
    /// Restored, but the state hash differs from the one recorded.
    StateHash {
        /// Recorded.
        expected: u64,
        /// After the restore.
        found: u64,
    },
    /// A valid snapshot taken after the journal's last committed record: the journal lost
    /// history that was acknowledged. Recovery refuses to continue (remove the snapshot
    /// knowingly, or restore the journal).
    NewerThanJournal {
        /// The snapshot.
        path: PathBuf,
        /// Its sequence number.
        seq: u64,
        /// The journal's last committed record.
        journal_seq: u64,
    },
    /// The core is not fresh (it processed records), or another precondition.
    Usage(String),
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Io { op, path, source } => write!(f, "{op} {}: {source}", path.display()),
            SnapshotError::BadHeader { why } => write!(f, "bad snapshot header: {why}"),
            SnapshotError::Checksum { why } => write!(f, "snapshot body damaged: {why}"),
            SnapshotError::Fingerprint { expected, found } => {
                write!(f, "snapshot of config fingerprint {found:#018x}, expected {expected:#018x}")
            }
            SnapshotError::Mismatch { why } => write!(f, "snapshot of a differently configured core: {why}"),
            SnapshotError::Corrupt { why } => write!(f, "snapshot body does not decode: {why}"),
            SnapshotError::StateHash { expected, found } => {
                write!(f, "restored state hash {found:#018x}, the snapshot recorded {expected:#018x}")
            }
            SnapshotError::NewerThanJournal { path, seq, journal_seq } => write!(
                f,
                "{}: snapshot at sequence {seq} is newer than the journal, which ends at {journal_seq}: the journal lost committed records; refusing to recover (restore the journal, or move the snapshot away knowingly)",
                path.display()
            ),
            SnapshotError::Usage(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for SnapshotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SnapshotError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub(crate) fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SnapshotError + 'a {
    move |source| SnapshotError::Io { op, path: path.to_path_buf(), source }
}

// ---------------------------------------------------------------------------------------------

/// What a snapshot write produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotWritten {
    /// The header written.
    pub header: SnapshotHeader,
    /// Bytes written (header + body).
    pub bytes: u64,
}

impl Core {
    /// The whole snapshot file (header + body) for the journal point `anchor`.
    #[must_use]
    pub fn snapshot_bytes(&self, anchor: &SnapshotAnchor) -> Vec<u8> {
        let mut e = Body(Vec::with_capacity(SNAPSHOT_HEADER + self.snapshot_size_hint()));
        e.0.resize(SNAPSHOT_HEADER, 0);
        self.save(&mut e);
        e.u64(END_MARK);
        let body = &e.0[SNAPSHOT_HEADER..];
        let header = SnapshotHeader {
            version: SNAPSHOT_VERSION,
            anchor: *anchor,
            state_hash: self.state_hash(),
            body_len: body.len() as u64,
            body_hash: *blake3::hash(body).as_bytes(),
        };
        e.0[..SNAPSHOT_HEADER].copy_from_slice(&header.encode());
        e.0
    }

    /// Writes a snapshot of the whole state for the journal point `anchor` (see the module
    /// docs for the format).
    ///
    /// # Errors
    /// I/O errors of `w`.
    pub fn snapshot(&self, w: &mut impl Write, anchor: &SnapshotAnchor) -> std::io::Result<SnapshotWritten> {
        let bytes = self.snapshot_bytes(anchor);
        w.write_all(&bytes)?;
        let header = SnapshotHeader::decode(&bytes).expect("just encoded");
        Ok(SnapshotWritten { header, bytes: bytes.len() as u64 })
    }

    /// Builds a core from `cfg` and restores the snapshot read from `r` into it.
    ///
    /// # Errors
    /// As [`Core::restore_snapshot`]; a configuration error as [`SnapshotError::Mismatch`].
    pub fn restore(cfg: CoreConfig, r: &mut impl Read) -> Result<(Core, SnapshotHeader), SnapshotError> {
        let mut core = Core::new(cfg).map_err(|e| SnapshotError::Mismatch { why: format!("configuration: {e}") })?;
        let h = core.restore_snapshot(r)?;
        Ok((core, h))
    }

    /// Replaces this core's state by the snapshot read from `r`. The core must have been built
    /// from the same configuration (checked: [`SnapshotError::Mismatch`]); its state before
    /// does not matter. The header CRC, the body length and BLAKE3 are checked before
    /// anything changes; after (format 3 on), the restored state must encode back to exactly
    /// the body read and have the header's state hash. The fingerprint is not checked here
    /// (see [`read_snapshot`]).
    ///
    /// On an error after the checksums (a mismatch with this configuration, a body that does
    /// not decode, a different state hash) the core may be partly restored: discard it, or
    /// restore another snapshot into it.
    ///
    /// # Errors
    /// See [`SnapshotError`].
    pub fn restore_snapshot(&mut self, r: &mut impl Read) -> Result<SnapshotHeader, SnapshotError> {
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes).map_err(|source| SnapshotError::Io { op: "read", path: PathBuf::new(), source })?;
        let (h, body) = check_snapshot(&bytes)?;
        let mut d = Dec::new(body);
        self.load(&mut d)?;
        if d.u64()? != END_MARK || d.at != body.len() {
            return Err(SnapshotError::Corrupt { why: "no end marker where the body should end".into() });
        }
        if h.version < 3 {
            // format 2: its OMS section is layout 1, which this build no longer writes; the
            // BLAKE3 of the body and its full decode are the checks
            return Ok(h);
        }
        let mut again = Body(Vec::with_capacity(body.len()));
        self.save(&mut again);
        again.u64(END_MARK);
        if again.0 != body {
            let at = again.0.iter().zip(body).position(|(a, b)| a != b).unwrap_or(again.0.len().min(body.len()));
            return Err(SnapshotError::Corrupt { why: format!("the restored state encodes differently from byte {at} of the body") });
        }
        let found = self.state_hash();
        if found != h.state_hash {
            return Err(SnapshotError::StateHash { expected: h.state_hash, found });
        }
        Ok(h)
    }

    fn snapshot_size_hint(&self) -> usize {
        let levels: usize = self.market.instruments().iter().map(|s| s.book.len()).sum();
        4096 + levels * 6 + self.desk.snapshot_size_hint()
    }
}

/// Checks a whole snapshot file's header, body length and BLAKE3; returns the header and the
/// body.
///
/// # Errors
/// [`SnapshotError::BadHeader`], [`SnapshotError::Checksum`].
pub fn check_snapshot(bytes: &[u8]) -> Result<(SnapshotHeader, &[u8]), SnapshotError> {
    let h = SnapshotHeader::decode(bytes)?;
    let body = &bytes[SNAPSHOT_HEADER..];
    if body.len() as u64 != h.body_len {
        return Err(SnapshotError::Checksum { why: format!("body of {} bytes, the header says {} (truncated?)", body.len(), h.body_len) });
    }
    if *blake3::hash(body).as_bytes() != h.body_hash {
        return Err(SnapshotError::Checksum { why: "BLAKE3 of the body differs from the header's".into() });
    }
    Ok((h, body))
}

/// Reads a snapshot file and checks it (header, length, BLAKE3, and the fingerprint when
/// given); returns its header and its bytes.
///
/// # Errors
/// I/O errors and every check.
pub fn read_snapshot(path: &Path, fingerprint: Option<u64>) -> Result<(SnapshotHeader, Vec<u8>), SnapshotError> {
    let bytes = std::fs::read(path).map_err(io_err("read", path))?;
    let (h, _) = check_snapshot(&bytes)?;
    if let Some(fp) = fingerprint {
        if h.anchor.fingerprint != fp {
            return Err(SnapshotError::Fingerprint { expected: fp, found: h.anchor.fingerprint });
        }
    }
    Ok((h, bytes))
}

/// Directory of a journal's snapshots: `<journal dir>/snapshots`.
#[must_use]
pub fn snapshot_dir(journal_dir: &Path) -> PathBuf {
    journal_dir.join("snapshots")
}

/// File name of the snapshot at `seq`: `snap-00000000000000001234.rfqs` (20 digits, so names
/// sort by sequence).
#[must_use]
pub fn snapshot_name(seq: u64) -> String {
    format!("snap-{seq:020}.rfqs")
}

/// Sequence number in a snapshot file name.
#[must_use]
pub fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("snap-")?.strip_suffix(".rfqs")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

/// Snapshot files of a journal, `(seq from the name, path)`, newest first. Temporary files
/// (`.tmp`, from a write that never completed) are ignored.
///
/// # Errors
/// I/O errors other than a missing directory.
pub fn list_snapshots(journal_dir: &Path) -> Result<Vec<(u64, PathBuf)>, SnapshotError> {
    let dir = snapshot_dir(journal_dir);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SnapshotError::Io { op: "read_dir", path: dir, source: e }),
    };
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(io_err("read_dir", &dir))?;
        if let Some(seq) = e.file_name().to_str().and_then(parse_snapshot_name) {
            v.push((seq, e.path()));
        }
    }
    v.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
    Ok(v)
}

/// Writes snapshot file bytes into `<journal dir>/snapshots/snap-<seq>.rfqs` durably: a
/// temporary file, written, fsynced, renamed into place, directory fsynced. Returns the path.
///
/// # Errors
/// I/O errors (the temporary file is removed).
pub fn write_snapshot_file(journal_dir: &Path, bytes: &[u8]) -> Result<PathBuf, SnapshotError> {
    let h = SnapshotHeader::decode(bytes)?;
    let dir = snapshot_dir(journal_dir);
    std::fs::create_dir_all(&dir).map_err(io_err("create_dir", &dir))?;
    let path = dir.join(snapshot_name(h.anchor.seq));
    let tmp = dir.join(format!("{}.tmp", snapshot_name(h.anchor.seq)));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("rename", &path))?;
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io_err("fsync dir", &dir))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map(|()| path)
}
