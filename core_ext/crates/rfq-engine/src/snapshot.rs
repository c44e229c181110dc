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

use crate::core::{Core, CoreConfig, MAX_SIZES};
use crate::positions::Position;
use crate::pricing::QuoteLevel;
use crate::rfq::{PendingSlot, QuoteSlot, QuoteState};
use crate::risk::{Bucket, ExecWindow, MAX_EXEC_COUNT};
use crate::state::BookStatus;
use rfq_journal::Chain;
use rfq_model::{InstrumentRisk, Throttle};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `magic` of a snapshot header: ASCII `RFQSNAP1`.
pub const SNAPSHOT_MAGIC: u64 = u64::from_le_bytes(*b"RFQSNAP1");
/// Snapshot format version.
pub const SNAPSHOT_VERSION: u32 = 2;
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
        if u32_at(8) != SNAPSHOT_VERSION {
            return Err(bad(format!("version {}, this build reads {SNAPSHOT_VERSION}", u32_at(8))));
        }
        if u32_at(12) as usize != SNAPSHOT_HEADER || b[120..124].iter().any(|&x| x != 0) {
            return Err(bad("header size or reserved bytes".into()));
        }
        let mut chain = [0; 32];
        chain.copy_from_slice(&b[32..64]);
        let mut body_hash = [0; 32];
        body_hash.copy_from_slice(&b[88..120]);
        Ok(SnapshotHeader {
            version: SNAPSHOT_VERSION,
            anchor: SnapshotAnchor { fingerprint: u64_at(16), seq: u64_at(24), chain, out_hash: u64_at(64) },
            state_hash: u64_at(72),
            body_len: u64_at(80),
            body_hash,
        })
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
// encoding primitives

struct Enc(Vec<u8>);

impl Enc {
    #[inline]
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    #[inline]
    fn bool(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }
    #[inline]
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn i128(&mut self, v: i128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        self.bool(v.is_some());
        self.i64(v.unwrap_or(0));
    }
    /// LEB128.
    #[inline]
    fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn pos(&mut self, p: &Position) {
        self.i64(p.qty);
        self.i128(p.cost);
        self.i128(p.realised);
        self.i128(p.fees);
        self.u64(p.trades);
    }
    fn bucket(&mut self, b: &Bucket) {
        self.i128(b.level);
        self.opt_i64(b.last);
    }
    fn exec(&mut self, w: &ExecWindow) {
        for t in w.times {
            self.i64(t);
        }
        self.u32(w.n);
        self.u8(w.head);
    }
    fn throttle(&mut self, t: &Throttle) {
        self.u32(t.per_sec);
        self.u32(t.burst);
    }
}

struct Dec<'a> {
    b: &'a [u8],
    at: usize,
}

type R<T> = Result<T, SnapshotError>;

fn corrupt(why: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt { why: why.into() }
}

fn mismatch(why: impl Into<String>) -> SnapshotError {
    SnapshotError::Mismatch { why: why.into() }
}

impl Dec<'_> {
    #[inline]
    fn take(&mut self, n: usize) -> R<&[u8]> {
        if self.b.len() - self.at < n {
            return Err(corrupt(format!("body ends at byte {} inside a field", self.b.len())));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    #[inline]
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(corrupt(format!("flag byte {v} at {}", self.at - 1))),
        }
    }
    #[inline]
    fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    #[inline]
    fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    #[inline]
    fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    #[inline]
    fn i64(&mut self) -> R<i64> {
        Ok(self.u64()? as i64)
    }
    fn i128(&mut self) -> R<i128> {
        Ok(i128::from_le_bytes(self.take(16)?.try_into().expect("16")))
    }
    /// A count, bounded so a corrupt length cannot make us allocate absurdly.
    fn len(&mut self, max: usize, what: &str) -> R<usize> {
        let n = self.u64()?;
        if n > max as u64 {
            return Err(corrupt(format!("{what}: {n} entries, at most {max}")));
        }
        Ok(n as usize)
    }
    fn opt_i64(&mut self) -> R<Option<i64>> {
        let some = self.bool()?;
        let v = self.i64()?;
        Ok(some.then_some(v))
    }
    #[inline]
    fn var(&mut self) -> R<u64> {
        let mut v = 0_u64;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(corrupt("varint overflow"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(corrupt("varint too long"));
            }
        }
    }
    fn pos(&mut self) -> R<Position> {
        Ok(Position { qty: self.i64()?, cost: self.i128()?, realised: self.i128()?, fees: self.i128()?, trades: self.u64()? })
    }
    fn bucket(&mut self) -> R<Bucket> {
        Ok(Bucket { level: self.i128()?, last: self.opt_i64()? })
    }
    fn exec(&mut self) -> R<ExecWindow> {
        let mut w = ExecWindow::default();
        for t in &mut w.times {
            *t = self.i64()?;
        }
        w.n = self.u32()?;
        w.head = self.u8()?;
        if w.head as usize >= MAX_EXEC_COUNT {
            return Err(corrupt("execution window head"));
        }
        Ok(w)
    }
    fn throttle(&mut self) -> R<Throttle> {
        Ok(Throttle { per_sec: self.u32()?, burst: self.u32()? })
    }
}

fn status_code(s: BookStatus) -> u8 {
    s.code() as u8
}

fn status_of(c: u8) -> R<BookStatus> {
    Ok(match c {
        0 => BookStatus::Live,
        1 => BookStatus::Stale,
        2 => BookStatus::Crossed,
        3 => BookStatus::Building,
        _ => return Err(corrupt(format!("book status {c}"))),
    })
}

fn quote_state_of(c: u8) -> R<QuoteState> {
    Ok(match c {
        0 => QuoteState::Live,
        1 => QuoteState::Filled,
        2 => QuoteState::Rejected,
        3 => QuoteState::Expired,
        4 => QuoteState::Cancelled,
        _ => return Err(corrupt(format!("quote state {c}"))),
    })
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
        let mut e = Enc(Vec::with_capacity(SNAPSHOT_HEADER + self.snapshot_size_hint()));
        e.0.resize(SNAPSHOT_HEADER, 0);
        self.encode_body(&mut e);
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
        let mut core = Core::new(cfg).map_err(|e| mismatch(format!("configuration: {e}")))?;
        let h = core.restore_snapshot(r)?;
        Ok((core, h))
    }

    /// Replaces this core's state by the snapshot read from `r`. The core must have been built
    /// from the same configuration (checked: [`SnapshotError::Mismatch`]); its state before
    /// does not matter. The header CRC, the body length and BLAKE3 are checked before
    /// anything changes, and the state hash after. The fingerprint is not checked here (see
    /// [`read_snapshot`]).
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
        self.restore_body(body)?;
        let found = self.state_hash();
        if found != h.state_hash {
            return Err(SnapshotError::StateHash { expected: h.state_hash, found });
        }
        Ok(h)
    }

    fn snapshot_size_hint(&self) -> usize {
        let levels: usize = self.instruments.iter().map(|s| s.book.len()).sum();
        4096 + levels * 6 + self.rfq.clients.len() * 700 + self.rfq.expiry.len() * 110 + self.rfq.dedup.len() / 4 * 30
    }

    fn encode_body(&self, e: &mut Enc) {
        // core
        e.i64(self.now);
        e.u64(self.out_seq);
        let st = &self.stats;
        for v in [st.records, st.messages, st.rejects] {
            e.u64(v);
        }
        for v in st.rejects_by_reason {
            e.u64(v);
        }
        for v in [st.level_updates, st.quotes, st.status_changes, st.repricings] {
            e.u64(v);
        }
        // instruments
        e.len(self.instruments.len());
        for (i, s) in self.instruments.iter().enumerate() {
            e.u16(s.spec.id);
            e.u64(s.book.bids.capacity() as u64);
            e.u8(status_code(s.sync));
            e.u8(status_code(s.reported));
            e.i64(s.last_seen_ns);
            e.u64(s.last_seq);
            for (p, q) in s.bbo {
                e.i64(p);
                e.i64(q);
            }
            e.i64(s.last_trade.0);
            e.i64(s.last_trade.1);
            e.u64(s.last_trade.2);
            e.u64(s.trades);
            e.bool(s.dirty);
            e.u64(self.epochs[i]);
            for ladder in [&s.book.bids, &s.book.asks] {
                e.opt_i64(ladder.window_base());
                e.len(ladder.len());
                let mut prev: Option<i64> = None;
                ladder.for_each_raw(|p, q| {
                    let idx = ladder.tick_index(p).expect("levels are on the grid");
                    match prev {
                        None => e.i64(idx),
                        Some(pi) => e.var((idx - pi) as u64),
                    }
                    e.var(q as u64);
                    prev = Some(idx);
                });
            }
        }
        // composites
        e.len(self.composites.len());
        for (ci, c) in self.composites.iter().enumerate() {
            e.u16(c.spec.id);
            e.len(c.members.len());
            for m in &c.members {
                e.u16(self.instruments[m.inst].spec.id);
                e.bool(m.included);
                e.i64(m.basis2);
                e.bool(m.basis_ready);
            }
            let p = &c.spec.pricing;
            e.len(p.sizes.len());
            for &s in &p.sizes {
                e.i64(s);
            }
            e.i64(p.base_cbps);
            e.i64(p.size_cbps_per_unit);
            for q in &c.quotes[..p.sizes.len()] {
                e.u8(q.flags);
                e.u8(q.reason);
                e.i64(q.bid);
                e.i64(q.ask);
            }
            e.u32(c.live_mask);
            e.bool(c.priced);
            let m = &self.markets[ci];
            e.bool(m.valid);
            e.u64(m.epoch);
            e.u32(m.mask);
            e.opt_i64(m.best.0);
            e.opt_i64(m.best.1);
            for pre in &m.prefix {
                e.bool(pre.complete());
                e.len(pre.len());
                for i in 0..pre.len() {
                    let (px, cq, cn) = pre.level(i);
                    e.i64(px);
                    e.i64(cq);
                    e.i128(cn);
                }
            }
        }
        // RFQ workflow
        let r = &self.rfq;
        e.u32(r.desk.exec_count);
        e.i64(r.desk.exec_window_ns);
        e.len(r.desk.quote_table);
        e.len(r.desk.max_pending);
        e.bool(r.desk_killed);
        e.len(r.tiers.len());
        for t in &r.tiers {
            e.u8(t.id);
            for v in [t.markup_cbps, t.fee_cbps, t.ttl_ns, t.max_ttl_ns] {
                e.i64(v);
            }
            e.bool(t.allow_partial);
        }
        e.len(r.clients.len());
        for c in &r.clients {
            let s = &c.spec;
            e.u16(s.id);
            e.u8(s.tier);
            e.bool(s.enabled);
            e.i64(s.credit_limit);
            e.u32(s.max_open_quotes);
            e.throttle(&s.rfq_rate);
            e.throttle(&s.accept_rate);
            e.bool(c.killed);
            e.bool(c.halted);
            e.u32(c.open_quotes);
            e.bucket(&c.rfq_bucket);
            e.bucket(&c.accept_bucket);
            e.exec(&c.exec);
            e.len(c.positions.len());
            for p in &c.positions {
                e.pos(p);
            }
            e.i128(c.util);
        }
        e.len(r.inst.len());
        for i in &r.inst {
            e.bool(i.risk.is_some());
            if let Some(k) = &i.risk {
                e.u16(k.composite);
                for v in [k.min_qty, k.max_qty, k.max_notional, k.long_limit, k.short_limit, k.collar_cbps, k.approval_qty, k.approval_notional, k.approval_timeout_ns] {
                    e.i64(v);
                }
                e.bool(k.restricted);
            }
            let p = &i.pricing;
            e.u16(p.composite);
            for v in [p.skew_cbps_per_unit, p.max_skew_cbps, p.vol_mult_pct] {
                e.i64(v);
            }
            e.u32(p.vol_ema_shift);
            e.i64(p.hedge_fee_cbps);
            e.bool(i.killed);
            e.bool(i.halted);
            e.pos(&i.desk);
            e.exec(&i.exec);
            e.i64(i.vol_m);
            e.i64(i.last_mid);
        }
        e.u64(r.last_quote);
        e.u64(r.last_request);
        e.u64(r.last_trade);
        let used = r.quotes.iter().filter(|q| q.id != 0).count();
        e.len(used);
        for (slot, q) in r.quotes.iter().enumerate().filter(|(_, q)| q.id != 0) {
            e.u32(slot as u32);
            e.u64(q.id);
            e.u16(q.client);
            e.u16(q.ci);
            e.u64(q.rfq_id);
            for (p, x) in q.sides {
                e.i64(p);
                e.i64(x);
            }
            e.i64(q.created);
            e.i64(q.valid_until);
            e.bool(q.partial);
            e.i64(q.fee_cbps);
            e.u8(q.state.code() as u8);
        }
        for heap in [&r.expiry, &r.pending_heap] {
            e.len(heap.len());
            for (s, d, id) in heap.entries() {
                e.u32(s as u32);
                e.i64(d);
                e.u64(id);
            }
        }
        let used = r.pending.iter().filter(|p| p.id != 0).count();
        e.len(used);
        for (slot, p) in r.pending.iter().enumerate().filter(|(_, p)| p.id != 0) {
            e.u32(slot as u32);
            e.u64(p.id);
            e.u16(p.client);
            e.u16(p.ci);
            e.u8(p.side);
            e.i64(p.qty);
            e.bool(p.in_quote);
            e.i64(p.limit);
            e.i64(p.ttl);
            e.u64(p.rfq_id);
            e.i64(p.indicative);
            e.i64(p.deadline);
        }
        e.len(r.free_pending.len());
        for &s in &r.free_pending {
            e.u32(s);
        }
        e.len(r.pending_count);
        e.len(r.dedup.slot_count());
        let blocks: Vec<_> = r.dedup.occupied().collect();
        e.len(blocks.len());
        let mut prev = 0;
        for (i, client, block, bits) in blocks {
            e.var((i - prev) as u64);
            prev = i;
            e.u16(client);
            e.u64(block);
            e.u64(bits);
        }
        match r.kill_scan {
            Some((a, b)) => {
                e.bool(true);
                e.len(a);
                e.len(b);
            }
            None => {
                e.bool(false);
                e.len(0);
                e.len(0);
            }
        }
        let s = &r.stats;
        for v in [s.rfqs, s.quotes, s.fills, s.expiries, s.cancels, s.hit_rejects, s.approvals, s.approved, s.declined, s.timeouts, s.controls, s.risk_events] {
            e.u64(v);
        }
        for v in s.rejects {
            e.u64(v);
        }
        self.encode_hedging(e);
        e.u64(END_MARK);
    }

    /// Hedging: per composite policy state and venues, then the OMS of hedge orders.
    fn encode_hedging(&self, e: &mut Enc) {
        let h = &self.hedging;
        e.len(h.states.len());
        for s in &h.states {
            e.u16(s.spec.composite);
            // the live policy (CONTROL SET_HEDGE changes it)
            e.u8(crate::hedge::mode_code(s.spec.mode));
            for v in [s.spec.ratio_pct, s.spec.threshold, s.spec.max_slippage_cbps, s.spec.retry_ns] {
                e.i64(v);
            }
            for v in [s.client_flow, s.hedged, s.pending, s.ref_qty, s.retry_at] {
                e.i64(v);
            }
            for v in [s.ref_notional, s.slippage, s.matched_notional, s.fees] {
                e.i128(v);
            }
            e.bool(s.available);
            for v in [s.orders, s.fills, s.refused] {
                e.u64(v);
            }
            e.len(s.venues.len());
            for v in &s.venues {
                e.u16(v.spec.venue);
                e.bool(v.up);
                e.i64(v.position);
                e.i64(v.working);
            }
            e.bool(s.internal.is_some());
            if let Some(i) = &s.internal {
                e.u64(i.next_taker);
                e.u64(i.fills);
                e.pos(&i.position);
                for side in [rfq_model::Side::Bid, rfq_model::Side::Ask] {
                    let orders: Vec<_> = i.book.orders(side).collect();
                    e.len(orders.len());
                    for o in orders {
                        e.u64(o.id);
                        e.i64(o.price);
                        e.i64(o.qty);
                    }
                }
            }
        }
        for v in [h.last_cl_ord_id, h.reports, h.duplicates, h.refused_inputs] {
            e.u64(v);
        }
        let mut oms = Vec::new();
        h.oms.encode(&mut oms);
        e.len(oms.len());
        e.0.extend_from_slice(&oms);
    }

    fn restore_hedging(&mut self, d: &mut Dec<'_>) -> R<()> {
        let n = d.len(1 << 16, "hedged composites")?;
        if n != self.hedging.states.len() {
            return Err(mismatch(format!("{n} hedged composites, this core has {}", self.hedging.states.len())));
        }
        for s in &mut self.hedging.states {
            let id = d.u16()?;
            if id != s.spec.composite {
                return Err(mismatch(format!("hedged composite {id}, this core's is {}", s.spec.composite)));
            }
            s.spec.mode = crate::hedge::mode_of(d.u8()?).ok_or_else(|| corrupt("hedging mode"))?;
            s.spec.ratio_pct = d.i64()?;
            s.spec.threshold = d.i64()?;
            s.spec.max_slippage_cbps = d.i64()?;
            s.spec.retry_ns = d.i64()?;
            s.client_flow = d.i64()?;
            s.hedged = d.i64()?;
            s.pending = d.i64()?;
            s.ref_qty = d.i64()?;
            s.retry_at = d.i64()?;
            s.ref_notional = d.i128()?;
            s.slippage = d.i128()?;
            s.matched_notional = d.i128()?;
            s.fees = d.i128()?;
            s.available = d.bool()?;
            s.orders = d.u64()?;
            s.fills = d.u64()?;
            s.refused = d.u64()?;
            let nv = d.len(64, "hedge venues")?;
            if nv != s.venues.len() {
                return Err(mismatch(format!("composite {id}: {nv} hedge venues, this core has {}", s.venues.len())));
            }
            for v in &mut s.venues {
                let vid = d.u16()?;
                if vid != v.spec.venue {
                    return Err(mismatch(format!("composite {id}: hedge venue {vid}, this core's is {}", v.spec.venue)));
                }
                v.up = d.bool()?;
                v.position = d.i64()?;
                v.working = d.i64()?;
            }
            let has = d.bool()?;
            if has != s.internal.is_some() {
                return Err(mismatch(format!("composite {id}: internal crossing book {has}, this core's {}", s.internal.is_some())));
            }
            if let Some(i) = s.internal.as_mut() {
                i.next_taker = d.u64()?;
                i.fills = d.u64()?;
                i.position = d.pos()?;
                if !i.book.is_empty() {
                    return Err(mismatch("restoring into a core whose internal book is not empty"));
                }
                for side in [rfq_model::Side::Bid, rfq_model::Side::Ask] {
                    let n = d.len(1 << 22, "internal book orders")?;
                    for _ in 0..n {
                        let (oid, price, qty) = (d.u64()?, d.i64()?, d.i64()?);
                        let o = rfq_match::NewOrder {
                            id: oid,
                            account: 1,
                            side,
                            kind: rfq_match::OrderType::Limit,
                            tif: rfq_match::TimeInForce::Gtc,
                            post_only: rfq_match::PostOnly::Off,
                            price,
                            qty,
                        };
                        let mut ev: Vec<rfq_match::Event> = Vec::with_capacity(1);
                        i.book.submit(&o, &mut ev);
                        if !matches!(ev.as_slice(), [rfq_match::Event::Accepted { .. }]) {
                            return Err(corrupt(format!("internal book order {oid} does not rest again: {ev:?}")));
                        }
                    }
                }
            }
        }
        let h = &mut self.hedging;
        h.last_cl_ord_id = d.u64()?;
        h.reports = d.u64()?;
        h.duplicates = d.u64()?;
        h.refused_inputs = d.u64()?;
        let n = d.len(usize::MAX >> 1, "OMS bytes")?;
        let b = d.take(n)?;
        let (oms, used) = rfq_oms::Oms::decode(b).map_err(corrupt)?;
        if used != n {
            return Err(corrupt("OMS section longer than its orders"));
        }
        h.oms = oms;
        Ok(())
    }

    fn restore_body(&mut self, body: &[u8]) -> R<()> {
        let d = &mut Dec { b: body, at: 0 };
        self.now = d.i64()?;
        self.out_seq = d.u64()?;
        let mut st = crate::core::Stats { records: d.u64()?, messages: d.u64()?, rejects: d.u64()?, ..Default::default() };
        for v in &mut st.rejects_by_reason {
            *v = d.u64()?;
        }
        st.level_updates = d.u64()?;
        st.quotes = d.u64()?;
        st.status_changes = d.u64()?;
        st.repricings = d.u64()?;
        self.stats = st;
        // instruments
        let n = d.len(1 << 24, "instruments")?;
        if n != self.instruments.len() {
            return Err(mismatch(format!("{n} instruments, this core has {}", self.instruments.len())));
        }
        let mut levels = Vec::new();
        for i in 0..n {
            let id = d.u16()?;
            let s = &mut self.instruments[i];
            if id != s.spec.id {
                return Err(mismatch(format!("instrument {i} is id {id}, this core's is {}", s.spec.id)));
            }
            let cap = d.u64()?;
            if cap != s.book.bids.capacity() as u64 {
                return Err(mismatch(format!("instrument {id}: book capacity {cap}, this core's is {}", s.book.bids.capacity())));
            }
            s.sync = status_of(d.u8()?)?;
            s.reported = status_of(d.u8()?)?;
            s.last_seen_ns = d.i64()?;
            s.last_seq = d.u64()?;
            for b in &mut s.bbo {
                *b = (d.i64()?, d.i64()?);
            }
            s.last_trade = (d.i64()?, d.i64()?, d.u64()?);
            s.trades = d.u64()?;
            s.dirty = d.bool()?;
            self.epochs[i] = d.u64()?;
            let s = &mut self.instruments[i];
            for side in 0..2 {
                let ladder = if side == 0 { &mut s.book.bids } else { &mut s.book.asks };
                let base = d.opt_i64()?;
                let k = d.len(ladder.capacity(), "levels")?;
                levels.clear();
                let mut prev = 0_i64;
                for j in 0..k {
                    let idx = if j == 0 {
                        d.i64()?
                    } else {
                        let delta = d.var()?;
                        i64::try_from(delta).ok().and_then(|dl| prev.checked_add(dl)).ok_or_else(|| corrupt("tick index overflow"))?
                    };
                    let q = i64::try_from(d.var()?).map_err(|_| corrupt("quantity overflow"))?;
                    levels.push((idx, q));
                    prev = idx;
                }
                ladder.load(base, &levels).map_err(|why| corrupt(format!("instrument {id} ladder {side}: {why}")))?;
            }
        }
        // composites
        let n = d.len(1 << 24, "composites")?;
        if n != self.composites.len() {
            return Err(mismatch(format!("{n} composites, this core has {}", self.composites.len())));
        }
        for ci in 0..n {
            let id = d.u16()?;
            if id != self.composites[ci].spec.id {
                return Err(mismatch(format!("composite {ci} is id {id}, this core's is {}", self.composites[ci].spec.id)));
            }
            let nm = d.len(1 << 24, "members")?;
            if nm != self.composites[ci].members.len() {
                return Err(mismatch(format!("composite {id}: {nm} members")));
            }
            for k in 0..nm {
                let mid = d.u16()?;
                let inst = self.composites[ci].members[k].inst;
                if mid != self.instruments[inst].spec.id {
                    return Err(mismatch(format!("composite {id}: member {k} is instrument {mid}")));
                }
                let m = &mut self.composites[ci].members[k];
                m.included = d.bool()?;
                m.basis2 = d.i64()?;
                m.basis_ready = d.bool()?;
            }
            let c = &mut self.composites[ci];
            let ns = d.len(MAX_SIZES, "ladder sizes")?;
            let mut sizes = Vec::with_capacity(ns);
            for _ in 0..ns {
                sizes.push(d.i64()?);
            }
            let pricing = rfq_model::PricingParams { sizes, base_cbps: d.i64()?, size_cbps_per_unit: d.i64()? };
            pricing.validate().map_err(|why| corrupt(format!("composite {id} pricing: {why}")))?;
            c.spec.pricing = pricing;
            c.quotes = [QuoteLevel::default(); MAX_SIZES];
            for q in c.quotes.iter_mut().take(ns) {
                *q = QuoteLevel { flags: d.u8()?, reason: d.u8()?, bid: d.i64()?, ask: d.i64()? };
            }
            c.live_mask = d.u32()?;
            c.priced = d.bool()?;
            let m = &mut self.markets[ci];
            m.valid = d.bool()?;
            m.epoch = d.u64()?;
            m.mask = d.u32()?;
            m.best = (d.opt_i64()?, d.opt_i64()?);
            for pre in &mut m.prefix {
                let complete = d.bool()?;
                let k = d.len(rfq_book::composite::PREFIX_LEVELS, "prefix levels")?;
                let mut lv = Vec::with_capacity(k);
                for _ in 0..k {
                    lv.push((d.i64()?, d.i64()?, d.i128()?));
                }
                pre.load(complete, &lv).map_err(|why| corrupt(format!("composite {id} market cache: {why}")))?;
            }
        }
        self.restore_rfq(d)?;
        self.restore_hedging(d)?;
        self.recompute_max_out();
        if d.u64()? != END_MARK || d.at != body.len() {
            return Err(corrupt("no end marker where the body should end"));
        }
        Ok(())
    }

    fn restore_rfq(&mut self, d: &mut Dec<'_>) -> R<()> {
        let ncomp = self.composites.len();
        let r = &mut self.rfq;
        r.desk.exec_count = d.u32()?;
        if r.desk.exec_count as usize > MAX_EXEC_COUNT {
            return Err(corrupt("exec_count"));
        }
        r.desk.exec_window_ns = d.i64()?;
        let (qt, mp) = (d.u64()?, d.u64()?);
        if qt != r.desk.quote_table as u64 || mp != r.desk.max_pending as u64 {
            return Err(mismatch(format!("quote table {qt} / max pending {mp}, this core's {} / {}", r.desk.quote_table, r.desk.max_pending)));
        }
        r.desk_killed = d.bool()?;
        let n = d.len(1 << 24, "tiers")?;
        if n != r.tiers.len() {
            return Err(mismatch(format!("{n} tiers, this core has {}", r.tiers.len())));
        }
        for t in &mut r.tiers {
            let id = d.u8()?;
            if id != t.id {
                return Err(mismatch(format!("tier {id}, this core's is {}", t.id)));
            }
            t.markup_cbps = d.i64()?;
            t.fee_cbps = d.i64()?;
            t.ttl_ns = d.i64()?;
            t.max_ttl_ns = d.i64()?;
            t.allow_partial = d.bool()?;
        }
        let n = d.len(1 << 24, "clients")?;
        if n != r.clients.len() {
            return Err(mismatch(format!("{n} clients, this core has {}", r.clients.len())));
        }
        for k in 0..n {
            let id = d.u16()?;
            if id != r.clients[k].spec.id {
                return Err(mismatch(format!("client {id}, this core's is {}", r.clients[k].spec.id)));
            }
            let tier = d.u8()?;
            if r.tier_index(tier).is_none() {
                return Err(corrupt(format!("client {id}: unknown tier {tier}")));
            }
            let c = &mut r.clients[k];
            c.spec.tier = tier;
            c.spec.enabled = d.bool()?;
            c.spec.credit_limit = d.i64()?;
            c.spec.max_open_quotes = d.u32()?;
            c.spec.rfq_rate = d.throttle()?;
            c.spec.accept_rate = d.throttle()?;
            c.killed = d.bool()?;
            c.halted = d.bool()?;
            c.open_quotes = d.u32()?;
            c.rfq_bucket = d.bucket()?;
            c.accept_bucket = d.bucket()?;
            c.exec = d.exec()?;
            let np = d.len(1 << 24, "client positions")?;
            if np != ncomp {
                return Err(mismatch(format!("client {id}: {np} positions")));
            }
            for p in &mut c.positions {
                *p = d.pos()?;
            }
            c.util = d.i128()?;
        }
        let n = d.len(1 << 24, "RFQ composites")?;
        if n != ncomp {
            return Err(mismatch(format!("{n} RFQ composites")));
        }
        for i in &mut r.inst {
            i.risk = if d.bool()? {
                Some(InstrumentRisk {
                    composite: d.u16()?,
                    min_qty: d.i64()?,
                    max_qty: d.i64()?,
                    max_notional: d.i64()?,
                    long_limit: d.i64()?,
                    short_limit: d.i64()?,
                    collar_cbps: d.i64()?,
                    approval_qty: d.i64()?,
                    approval_notional: d.i64()?,
                    approval_timeout_ns: d.i64()?,
                    restricted: d.bool()?,
                })
            } else {
                None
            };
            let p = &mut i.pricing;
            p.composite = d.u16()?;
            p.skew_cbps_per_unit = d.i64()?;
            p.max_skew_cbps = d.i64()?;
            p.vol_mult_pct = d.i64()?;
            p.vol_ema_shift = d.u32()?;
            p.hedge_fee_cbps = d.i64()?;
            i.killed = d.bool()?;
            i.halted = d.bool()?;
            i.desk = d.pos()?;
            i.exec = d.exec()?;
            i.vol_m = d.i64()?;
            i.last_mid = d.i64()?;
        }
        r.last_quote = d.u64()?;
        r.last_request = d.u64()?;
        r.last_trade = d.u64()?;
        let nclients = r.clients.len();
        let qt = r.quotes.len();
        r.quotes.iter_mut().for_each(|q| *q = QuoteSlot::EMPTY);
        let n = d.len(qt, "quotes")?;
        for _ in 0..n {
            let slot = d.u32()? as usize;
            let q = QuoteSlot {
                id: d.u64()?,
                client: d.u16()?,
                ci: d.u16()?,
                rfq_id: d.u64()?,
                sides: [(d.i64()?, d.i64()?), (d.i64()?, d.i64()?)],
                created: d.i64()?,
                valid_until: d.i64()?,
                partial: d.bool()?,
                fee_cbps: d.i64()?,
                state: quote_state_of(d.u8()?)?,
            };
            if slot >= qt || q.id == 0 || (q.id & r.qmask) as usize != slot || q.client as usize >= nclients || q.ci as usize >= ncomp {
                return Err(corrupt(format!("quote {} in slot {slot}", q.id)));
            }
            r.quotes[slot] = q;
        }
        for which in 0..2 {
            let heap = if which == 0 { &r.expiry } else { &r.pending_heap };
            let n = d.len(heap.slots(), "deadline heap")?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push((d.u32()? as usize, d.i64()?, d.u64()?));
            }
            let heap = if which == 0 { &mut r.expiry } else { &mut r.pending_heap };
            heap.load(&entries).map_err(corrupt)?;
        }
        let mp = r.pending.len();
        r.pending.iter_mut().for_each(|p| *p = PendingSlot::EMPTY);
        let n = d.len(mp, "pending approvals")?;
        for _ in 0..n {
            let slot = d.u32()? as usize;
            let p = PendingSlot {
                id: d.u64()?,
                client: d.u16()?,
                ci: d.u16()?,
                side: d.u8()?,
                qty: d.i64()?,
                in_quote: d.bool()?,
                limit: d.i64()?,
                ttl: d.i64()?,
                rfq_id: d.u64()?,
                indicative: d.i64()?,
                deadline: d.i64()?,
            };
            if slot >= mp || p.id == 0 || p.client as usize >= nclients || p.ci as usize >= ncomp {
                return Err(corrupt(format!("pending request {} in slot {slot}", p.id)));
            }
            r.pending[slot] = p;
        }
        let n = d.len(mp, "free pending slots")?;
        r.free_pending.clear();
        for _ in 0..n {
            let s = d.u32()?;
            if s as usize >= mp {
                return Err(corrupt("free pending slot out of range"));
            }
            r.free_pending.push(s);
        }
        r.pending_count = d.len(mp, "pending count")?;
        let slots = d.len(1 << 40, "dedup slots")?;
        let nb = d.len(slots / 2, "dedup blocks")?;
        let mut occ = Vec::with_capacity(nb);
        let mut at = 0_usize;
        for _ in 0..nb {
            at = at.checked_add(usize::try_from(d.var()?).map_err(|_| corrupt("dedup slot"))?).ok_or_else(|| corrupt("dedup slot"))?;
            occ.push((at, d.u16()?, d.u64()?, d.u64()?));
        }
        r.dedup.load(slots, &occ).map_err(corrupt)?;
        let scan = d.bool()?;
        let (a, b) = (d.u64()?, d.u64()?);
        r.kill_scan = scan.then_some((a as usize, b as usize));
        if scan && a as usize >= qt.max(1) {
            return Err(corrupt("kill scan position"));
        }
        let s = &mut r.stats;
        for v in [
            &mut s.rfqs,
            &mut s.quotes,
            &mut s.fills,
            &mut s.expiries,
            &mut s.cancels,
            &mut s.hit_rejects,
            &mut s.approvals,
            &mut s.approved,
            &mut s.declined,
            &mut s.timeouts,
            &mut s.controls,
            &mut s.risk_events,
        ] {
            *v = d.u64()?;
        }
        for v in &mut s.rejects {
            *v = d.u64()?;
        }
        Ok(())
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
