//! Per-instrument state kept by the core.

use rfq_kernel::codec::{corrupt, mismatch, within, Dec, Out, Persist, R};
use rfq_book::L2Book;
use rfq_model::Instrument;

/// Synchronisation state of a venue book, as the core sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookStatus {
    /// Usable: synced, not crossed.
    Live,
    /// Lost sync (gap, disconnect, capacity) until the next snapshot.
    Stale,
    /// Synced but best bid ≥ best ask: excluded from composites.
    Crossed,
    /// No snapshot yet, or a snapshot is being loaded.
    Building,
}

impl BookStatus {
    /// The status of a wire code.
    pub fn of_code(c: i64) -> Option<BookStatus> {
        Some(match c {
            0 => BookStatus::Live,
            1 => BookStatus::Stale,
            2 => BookStatus::Crossed,
            3 => BookStatus::Building,
            _ => return None,
        })
    }

    /// The wire code of `BOOK_STATUS.aux` (docs/ring-layout.md).
    pub fn code(self) -> i64 {
        match self {
            BookStatus::Live => 0,
            BookStatus::Stale => 1,
            BookStatus::Crossed => 2,
            BookStatus::Building => 3,
        }
    }
}

/// [`InstrumentState::touched`] with no change on either side.
pub const NOT_TOUCHED: [i64; 2] = [i64::MIN, i64::MAX];
/// [`InstrumentState::touched`] when any price may have changed (a clear, a restore).
pub const ALL_TOUCHED: [i64; 2] = [i64::MAX, i64::MIN];

/// Everything the core keeps for one venue instrument.
#[derive(Debug, Clone)]
pub struct InstrumentState {
    /// Static definition.
    pub spec: Instrument,
    /// The L2 book.
    pub book: L2Book,
    /// Sync state (Live / Stale / Building); `Crossed` is derived, see [`Self::status`].
    pub sync: BookStatus,
    /// Core time (ns) of the last record applied for this instrument.
    pub last_seen_ns: i64,
    /// Venue sequence of the last applied book record.
    pub last_seq: u64,
    /// Venue top of book from BBO records: `[bid, ask]` as `(price, qty)`.
    pub bbo: [(i64, i64); 2],
    /// Last trade `(price, qty, trade id)`.
    pub last_trade: (i64, i64, u64),
    /// Trades seen.
    pub trades: u64,
    /// Last status reported on the outbound ring (initially `Building`, the documented start
    /// state, so only changes are reported).
    pub reported: BookStatus,
    /// Indices of the composites this instrument is a member of.
    pub composites: Vec<usize>,
    /// The book changed since the composites were last priced.
    pub dirty: bool,
    /// The best price changed on each side since the composites were last priced: `[highest
    /// bid, lowest ask]` ([`NOT_TOUCHED`] when none, [`ALL_TOUCHED`] after a clear). A sweep that
    /// ran out strictly before it cannot have changed. A cache: not in snapshots.
    pub touched: [i64; 2],
    /// Bumped by every record that may change the book or the sync state (validity of the
    /// composites' market caches).
    pub epoch: u64,
}

impl InstrumentState {
    /// A never-synced instrument with an empty book.
    pub fn new(spec: Instrument, capacity: usize) -> Self {
        InstrumentState {
            book: L2Book::new(capacity, spec.tick, spec.book_window as usize),
            spec,
            sync: BookStatus::Building,
            last_seen_ns: i64::MIN,
            last_seq: 0,
            bbo: [(0, 0); 2],
            last_trade: (0, 0, 0),
            trades: 0,
            reported: BookStatus::Building,
            composites: Vec::new(),
            dirty: false,
            touched: ALL_TOUCHED,
            epoch: 0,
        }
    }

    /// Effective status: the sync state, or `Crossed` for a synced but crossed book.
    #[inline]
    pub fn status(&self) -> BookStatus {
        match self.sync {
            BookStatus::Live if self.book.is_crossed() => BookStatus::Crossed,
            s => s,
        }
    }
}

/// Sync state, clocks, venue BBO, last trade, and both ladders; the spec and the composites
/// it belongs to come from the configuration.
impl Persist for InstrumentState {
    fn save<O: Out>(&self, o: &mut O) {
        let InstrumentState { spec, book, sync, last_seen_ns, last_seq, bbo, last_trade, trades, reported, composites: _, dirty, touched: _, epoch } = self;
        o.u16(spec.id);
        o.u64(book.bids.capacity() as u64);
        o.u8(sync.code() as u8);
        o.u8(reported.code() as u8);
        o.i64(*last_seen_ns);
        o.u64(*last_seq);
        for &(p, q) in bbo {
            o.i64(p);
            o.i64(q);
        }
        o.i64(last_trade.0);
        o.i64(last_trade.1);
        o.u64(last_trade.2);
        o.count(*trades);
        o.cache(|o| {
            o.bool(*dirty);
            o.u64(*epoch);
        });
        book.bids.save(o);
        book.asks.save(o);
    }

    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let id = d.u16()?;
        if id != self.spec.id {
            return Err(mismatch(format!("instrument id {id}, this core's is {}", self.spec.id)));
        }
        let cap = d.u64()?;
        if cap != self.book.bids.capacity() as u64 {
            return Err(mismatch(format!("instrument {id}: book capacity {cap}, this core's is {}", self.book.bids.capacity())));
        }
        let status = |c: u8| BookStatus::of_code(i64::from(c)).ok_or_else(|| corrupt(format!("book status {c}")));
        self.sync = status(d.u8()?)?;
        self.reported = status(d.u8()?)?;
        self.last_seen_ns = d.i64()?;
        self.last_seq = d.u64()?;
        for b in &mut self.bbo {
            *b = (d.i64()?, d.i64()?);
        }
        self.last_trade = (d.i64()?, d.i64()?, d.u64()?);
        self.trades = d.count()?;
        self.dirty = d.bool()?;
        self.touched = ALL_TOUCHED;
        self.epoch = d.u64()?;
        for ladder in [&mut self.book.bids, &mut self.book.asks] {
            Persist::load(ladder, d).map_err(within(format!("instrument {id}")))?;
        }
        Ok(())
    }
}
