//! Per-instrument state kept by the core.

use rfq_book::{L2Book, DEFAULT_WINDOW};
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
}

impl InstrumentState {
    /// A never-synced instrument with an empty book.
    pub fn new(spec: Instrument, capacity: usize) -> Self {
        InstrumentState {
            book: L2Book::new(capacity, spec.tick, DEFAULT_WINDOW),
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
