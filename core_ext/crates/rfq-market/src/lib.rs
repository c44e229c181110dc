//! The market state of the core thread: venue books with their sync state, composites of
//! member books (conversions, basis, which members are usable), the quote ladders published
//! from them, and the merged depth an RFQ is priced from.
//!
//! Owned by `rfq-engine`'s core and driven by it: book records go through [`Market::apply`],
//! the end of a venue message (or a heartbeat) through [`Market::on_tick`], which reports
//! status changes and reprices ladders. The desk reads the market only through
//! [`Market::open`] (a [`Depth`]) and [`Market::mid_of`], given to it by the engine; the market
//! never reads the desk or hedging: what it needs of them arrives as plain values
//! ([`Market::set_rfq_priced`]) and what they need of a repricing leaves as plain values
//! ([`Market::take_mids`]).
//!
//! ## Layout
//! `instrument.rs` a venue instrument's state; `composite.rs` composites, members and the
//! market cache; `books.rs` a book record validated and applied; `repricing.rs` the end of a
//! venue message; `depth.rs` the merged market RFQs are priced from; `control.rs` the
//! operator commands on ladders and members; `persist.rs` the one encoding of it all.
#![deny(missing_docs, unsafe_code)]

mod books;
mod composite;
mod control;
mod depth;
mod instrument;
mod persist;
mod repricing;

pub(crate) use composite::{CompositeState, MarketCache, Member};
pub use depth::Depth;
pub use instrument::{BookStatus, InstrumentState};
pub use rfq_kernel::pricing::{QuoteLevel, MAX_SIZES};

use rfq_book::composite::{sweep_ladder, sweep_search, Conversion, MAX_MEMBERS};
use rfq_book::L2Book;
use rfq_model::{CompositeSpec, Instrument, ModelError, PricingParams, Side};

/// Counters of what the market has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Input records consumed (accepted or rejected).
    pub records: u64,
    /// Input records carrying the END flag (venue messages).
    pub messages: u64,
    /// Input records rejected.
    pub rejects: u64,
    /// Rejects by reason code (index = code).
    pub rejects_by_reason: [u64; 16],
    /// Book level updates applied.
    pub level_updates: u64,
    /// QUOTE records published.
    pub quotes: u64,
    /// BOOK_STATUS records published.
    pub status_changes: u64,
    /// Composite repricings.
    pub repricings: u64,
}


/// The market half of the core's state. Single writer: only the core thread mutates it.
pub struct Market {
    pub(crate) instruments: Vec<InstrumentState>,
    /// Instrument id → index into `instruments` (dense table, 0 = absent).
    pub(crate) by_id: Vec<u16>,
    pub(crate) composites: Vec<CompositeState>,
    /// Per composite: what its last repricing learnt about the merged market, for RFQs and
    /// accepts.
    pub(crate) markets: Vec<MarketCache>,
    /// Use [`MarketCache`]s (off only in tests that compare against the uncached path).
    pub(crate) market_cache: bool,
    /// Price sweeps by depth search (`rfq_book::composite::sweep_search`); off, every sweep
    /// walks the merged levels (tests and benchmarks comparing the two: same results).
    pub(crate) depth_search: bool,
    /// Per composite: RFQs can be priced from it (the desk has clients and a risk entry), so
    /// repricing keeps its market cache; a market-data-only core pays nothing for it.
    pub(crate) rfq_priced: Vec<bool>,
    /// Sequence number of the last QUOTE or BOOK_STATUS published.
    pub(crate) out_seq: u64,
    pub(crate) stats: Stats,
    /// `(composite index, mid)` of each repricing with a two-sided market since the last
    /// [`Market::take_mids`] (the desk's volatility estimate); capacity reserved up front.
    pub(crate) mids: Vec<(usize, i64)>,
}

impl std::fmt::Debug for Market {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Market")
            .field("instruments", &self.instruments.len())
            .field("composites", &self.composites.len())
            .field("out_seq", &self.out_seq)
            .finish_non_exhaustive()
    }
}

impl Market {
    /// Build the market of a configuration; every inconsistency is an error naming it.
    /// `book_capacity` is the number of levels per book side (at least 16).
    pub fn new(instrument_specs: Vec<Instrument>, composite_specs: Vec<CompositeSpec>, book_capacity: usize) -> Result<Market, ModelError> {
        let capacity = book_capacity.max(16);
        let mut instruments = Vec::with_capacity(instrument_specs.len());
        let max_id = instrument_specs.iter().map(|i| i.id).max().unwrap_or(0) as usize;
        let mut by_id = vec![0_u16; max_id + 1];
        for spec in instrument_specs {
            spec.validate()?;
            if by_id[spec.id as usize] != 0 {
                return Err(ModelError::BadInstrument { instrument: spec.key(), why: format!("duplicate id {}", spec.id) });
            }
            by_id[spec.id as usize] = (instruments.len() + 1) as u16;
            instruments.push(InstrumentState::new(spec, capacity));
        }
        let mut composites: Vec<CompositeState> = Vec::with_capacity(composite_specs.len());
        for spec in composite_specs {
            let c = CompositeState::new(spec, composites.len(), &by_id, &mut instruments, &composites)?;
            composites.push(c);
        }
        Ok(Market {
            markets: composites.iter().map(|_| MarketCache::new()).collect(),
            market_cache: true,
            depth_search: true,
            rfq_priced: vec![false; composites.len()],
            mids: Vec::with_capacity(composites.len()),
            instruments,
            by_id,
            composites,
            out_seq: 0,
            stats: Stats::default(),
        })
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Count one input record (the engine counts every record, whichever domain takes it).
    #[inline]
    pub fn count_record(&mut self) {
        self.stats.records += 1;
    }

    /// Count one whole venue message or heartbeat.
    #[inline]
    pub fn count_message(&mut self) {
        self.stats.messages += 1;
    }

    /// Instrument state by registry id.
    pub fn instrument(&self, id: u16) -> Option<&InstrumentState> {
        self.index(id).map(|i| &self.instruments[i])
    }

    /// All instrument states.
    pub fn instruments(&self) -> &[InstrumentState] {
        &self.instruments
    }

    /// Number of composites (indices `0..n` in configuration order).
    pub fn composite_count(&self) -> usize {
        self.composites.len()
    }

    /// Id of composite index `ci`.
    pub fn composite_id(&self, ci: usize) -> u16 {
        self.composites[ci].spec.id
    }

    /// Index of an instrument by registry id.
    #[inline]
    pub fn index(&self, id: u16) -> Option<usize> {
        match self.by_id.get(id as usize) {
            Some(&i) if i != 0 => Some((i - 1) as usize),
            _ => None,
        }
    }

    /// Index of a composite by id.
    #[inline]
    pub fn composite_index(&self, id: u16) -> Option<usize> {
        self.composites.iter().position(|c| c.spec.id == id)
    }

    /// Outputs the market can cause for one record: a status change per instrument and the
    /// repricing of every ladder (plus the record's own reject).
    pub fn max_out(&self) -> usize {
        2 + self.instruments.len() + self.composites.iter().map(|c| c.spec.pricing.sizes.len()).sum::<usize>()
    }

    /// Whether RFQs can be priced from composite `ci` (the desk has clients and a risk entry
    /// for it): repricing then keeps the composite's market cache.
    pub fn set_rfq_priced(&mut self, ci: usize, on: bool) {
        self.rfq_priced[ci] = on;
    }

    /// Turn the market caches off (tests comparing against the uncached path only).
    #[doc(hidden)]
    pub fn set_market_cache(&mut self, on: bool) {
        self.market_cache = on;
    }

    /// Price sweeps by searching cumulative depth (the default) or, off, by walking every
    /// merged level — for tests and benchmarks that compare the two; results are identical.
    #[doc(hidden)]
    pub fn set_depth_search(&mut self, on: bool) {
        self.depth_search = on;
    }

    /// Sweeps of `composite` over its members usable at `now` search cumulative depth (on,
    /// and every member linear or an inverse book aggregating this composite's scale).
    pub fn depth_searchable(&self, composite: u16, now: i64) -> Option<bool> {
        let c = &self.composites[self.composite_index(composite)?];
        let mut books: [Option<(&L2Book, Conversion)>; MAX_MEMBERS] = [None; MAX_MEMBERS];
        let n = self.usable_books(c, now, &mut books);
        let list: Vec<(&L2Book, Conversion)> = books[..n].iter().flatten().copied().collect();
        Some(self.depth_search && n > 0 && rfq_book::composite::searchable(&list))
    }

    /// Composite `ci`'s market cache is valid at `now` (tests of the cache only).
    #[doc(hidden)]
    pub fn market_cache_hit(&self, ci: usize, now: i64) -> bool {
        self.cached_market(ci, now).is_some()
    }

    /// Whether a two-way request for `amount` (base units) at `now` reads the books, or is
    /// answered from the market cache alone (tests of the cache only).
    #[doc(hidden)]
    pub fn request_reads_books(&self, ci: usize, amount: i64, now: i64) -> bool {
        let mut d = self.depth(ci, amount, now);
        let _ = d.open(false, &[true, true]);
        d.reads_books()
    }

    /// How many ladder run-outs would bracket a depth search for `amount` (base units) at
    /// `now`, `[bids, asks]` (0: none, it searches from a hint) — tests of the cache only.
    #[doc(hidden)]
    pub fn request_bracket(&self, ci: usize, amount: i64, now: i64) -> [usize; 2] {
        let Some(m) = self.cached_market(ci, now).filter(|_| self.depth_search) else { return [0, 0] };
        let mut buf = [rfq_book::composite::RunOut::default(); 2];
        [Side::Bid, Side::Ask].map(|s| m.runs_around(s, amount, &mut buf))
    }

    /// The book epoch composite `ci`'s market cache was taken at (tests of the cache only).
    #[doc(hidden)]
    pub fn market_cache_epoch(&self, ci: usize) -> u64 {
        self.markets[ci].epoch
    }

    /// The `(composite index, mid)` of each two-sided repricing since the last call, for the
    /// desk's volatility estimate; the buffer is handed back with [`Market::give_back_mids`].
    #[inline]
    pub fn take_mids(&mut self) -> Vec<(usize, i64)> {
        std::mem::take(&mut self.mids)
    }

    /// Return the buffer of [`Market::take_mids`] (emptied; keeps its capacity).
    #[inline]
    pub fn give_back_mids(&mut self, mut mids: Vec<(usize, i64)>) {
        mids.clear();
        self.mids = mids;
    }

    /// Composite sweep notional for `qty` on `side` over the members usable at `now`.
    pub fn composite_sweep(&self, composite: u16, side: Side, qty: i64, now: i64) -> Option<i128> {
        let c = &self.composites[self.composite_index(composite)?];
        let mut books: [Option<(&L2Book, Conversion)>; MAX_MEMBERS] = [None; MAX_MEMBERS];
        let n = self.usable_books(c, now, &mut books);
        let list: Vec<(&L2Book, Conversion)> = books[..n].iter().flatten().copied().collect();
        let mut out = [None];
        if !(self.depth_search && sweep_search(&list, side, &[qty], &mut out, &mut [i64::MIN])) {
            sweep_ladder(&list, side, &[qty], &mut out);
        }
        out[0]
    }

    /// Last published quote ladder of a composite.
    pub fn quotes(&self, composite: u16) -> Option<&[QuoteLevel]> {
        let c = &self.composites[self.composite_index(composite)?];
        Some(&c.quotes[..c.spec.pricing.sizes.len()])
    }

    /// The live pricing v1 parameters of a composite (ladder sizes, spreads): the configured
    /// ones until `set_pricing` or a CONTROL record changes them.
    pub fn pricing(&self, composite: u16) -> Option<&PricingParams> {
        Some(&self.composites[self.composite_index(composite)?].spec.pricing)
    }

    /// Replace a composite's pricing parameters (takes effect at its next repricing).
    pub fn set_pricing(&mut self, composite: u16, params: PricingParams) -> Result<(), ModelError> {
        let ci = self.composite_index(composite).ok_or_else(|| ModelError::BadComposite {
            composite: composite.to_string(),
            why: "no such composite".into(),
        })?;
        let c = &mut self.composites[ci];
        params.validate().map_err(|why| ModelError::BadComposite { composite: c.spec.name.clone(), why })?;
        if params.sizes.len() > MAX_SIZES {
            return Err(ModelError::BadComposite { composite: c.spec.name.clone(), why: "too many sizes".into() });
        }
        c.spec.pricing = params;
        c.priced = false;
        c.quotes = [QuoteLevel::default(); MAX_SIZES];
        Ok(())
    }

    /// Include or exclude a member venue book from a composite.
    pub fn set_member(&mut self, composite: u16, instrument: u16, included: bool) -> Result<(), ModelError> {
        let idx = self.index(instrument);
        let ci = self.composite_index(composite).ok_or_else(|| ModelError::BadComposite {
            composite: composite.to_string(),
            why: "no such composite".into(),
        })?;
        let c = &mut self.composites[ci];
        let m = c.members.iter_mut().find(|m| Some(m.inst) == idx).ok_or_else(|| ModelError::BadComposite {
            composite: c.spec.name.clone(),
            why: format!("instrument {instrument} is not a member"),
        })?;
        m.included = included;
        c.priced = false;
        Ok(())
    }

    /// Member `member` of composite `ci` is usable at `now`: included, live, not crossed,
    /// heard from within the composite's staleness limit, and its basis known.
    #[inline]
    pub fn member_usable(&self, ci: usize, member: usize, now: i64) -> bool {
        self.usable(&self.composites[ci], member, now)
    }

    /// The members of composite `ci`: instrument index, its specification, and its
    /// conversion to composite units (without basis).
    pub fn members(&self, ci: usize) -> impl Iterator<Item = (usize, &Instrument, Conversion)> + '_ {
        self.composites[ci].members.iter().map(|m| (m.inst, &self.instruments[m.inst].spec, m.conv))
    }

    /// The book of instrument index `inst`.
    #[inline]
    pub fn book(&self, inst: usize) -> &L2Book {
        &self.instruments[inst].book
    }

    /// Published sequence number of the last QUOTE or BOOK_STATUS record.
    pub fn out_seq(&self) -> u64 {
        self.out_seq
    }

    /// `book_status` code of an instrument (see docs/ring-layout.md).
    pub fn status_code(&self, id: u16) -> Option<i64> {
        self.instrument(id).map(|s| s.status().code())
    }
}
