//! The deterministic core: validates and applies input records, publishes quotes.

use crate::codec::Persist;
use crate::hash::Fnv;
use crate::pricing::{ask_price, bid_price, half_spread_cbps, QuoteLevel};
use crate::state::{BookStatus, InstrumentState};
use rfq_book::composite::{sweep_ladder, sweep_ladder_recording, Conversion, SweepPrefix, MAX_MEMBERS};
use rfq_book::{BookError, L2Book};
use crate::rfq::{RfqState, HOUSEKEEPING_PER_RECORD};
use rfq_model::{CompositeSpec, Instrument, ModelError, PricingParams, RfqConfig, Side};
use rfq_ring::record::{flags, kind, reject, withdraw};
use rfq_ring::Record;

/// Largest quote ladder per composite.
pub const MAX_SIZES: usize = 32;

/// Where the core writes its output records.
pub trait Sink {
    /// Publish one record. The runner guarantees room for [`Core::max_out_per_record`]
    /// records before each input record, so this never fails.
    fn emit(&mut self, rec: &Record);
}

impl Sink for Vec<Record> {
    fn emit(&mut self, rec: &Record) {
        self.push(*rec);
    }
}

/// An answer to input `r`: its fields echoed, with `kind`, `side` and `aux` replaced, flagged
/// `END` and stamped with core time `now` (the shape of every reject and acknowledgement that
/// echoes its request).
#[inline]
pub(crate) fn echo(r: &Record, kind: u16, side: u8, aux: i64, now: i64) -> Record {
    Record { kind, side, flags: flags::END, ts_recv: now, aux, ..*r }
}

/// Static configuration of a core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Instruments; ids must be unique and non-zero.
    pub instruments: Vec<Instrument>,
    /// Composites; members must name configured instruments.
    pub composites: Vec<CompositeSpec>,
    /// Levels per book side (fixed; the update path never allocates).
    pub book_capacity: usize,
    /// The RFQ workflow: tiers, clients, risk limits, pricing v2, desk settings
    /// (docs/rfq-protocol.md). `RfqConfig::default()` = no clients: every RFQ is refused.
    pub rfq: RfqConfig,
}

/// Counters of what the core has done.
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


pub(crate) struct Member {
    pub(crate) inst: usize,
    /// Registry id of that instrument.
    pub(crate) instrument: u16,
    pub(crate) conv: Conversion,
    pub(crate) included: bool,
    /// EMA of `2 × (reference mid − member mid)` in composite price units (see basis_ema_shift).
    pub(crate) basis2: i64,
    pub(crate) basis_ready: bool,
}

pub(crate) struct CompositeState {
    pub(crate) spec: CompositeSpec,
    pub(crate) members: Vec<Member>,
    pub(crate) quotes: [QuoteLevel; MAX_SIZES],
    /// Bit i set = member i was usable at the last repricing.
    pub(crate) live_mask: u32,
    pub(crate) priced: bool,
}

/// The merged market of a composite as its last repricing saw it: best bid/ask and the first
/// merged levels of each side. Valid for a later RFQ or accept exactly when no member book has
/// changed since (per-instrument book epochs) and the same members are usable (the usable
/// set also depends on the clock) — then every input of the merge is the same, so so are its
/// results (basis offsets only change at a repricing).
pub(crate) struct MarketCache {
    /// Set by a repricing that swept (usable members, not crossed).
    pub(crate) valid: bool,
    /// Σ book epochs of the composite's members at that repricing.
    pub(crate) epoch: u64,
    /// Usable members at that repricing.
    pub(crate) mask: u32,
    /// Best bid and ask over the usable, basis-adjusted books.
    pub(crate) best: (Option<i64>, Option<i64>),
    /// `[bids, asks]` merged levels.
    pub(crate) prefix: [SweepPrefix; 2],
}

impl MarketCache {
    fn new() -> MarketCache {
        MarketCache { valid: false, epoch: 0, mask: 0, best: (None, None), prefix: [SweepPrefix::default(), SweepPrefix::default()] }
    }
}

/// The core's whole trading state. Single writer: only the thread that owns it mutates it.
pub struct Core {
    pub(crate) instruments: Vec<InstrumentState>,
    /// Instrument id → index into `instruments` (dense table, 0 = absent).
    pub(crate) by_id: Vec<u16>,
    pub(crate) composites: Vec<CompositeState>,
    pub(crate) now: i64,
    /// Per composite: what its last repricing learnt about the merged market, for RFQs and
    /// accepts.
    pub(crate) markets: Vec<MarketCache>,
    /// Use [`MarketCache`]s (off only in tests that compare against the uncached path).
    pub(crate) market_cache: bool,
    pub(crate) out_seq: u64,
    pub(crate) max_out: usize,
    pub(crate) stats: Stats,
    pub(crate) rfq: RfqState,
    pub(crate) hedging: crate::hedge::Hedging,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("instruments", &self.instruments.len())
            .field("composites", &self.composites.len())
            .field("now", &self.now)
            .field("records", &self.stats.records)
            .field("out_seq", &self.out_seq)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Build a core; every inconsistency in the configuration is an error naming it.
    pub fn new(cfg: CoreConfig) -> Result<Core, ModelError> {
        let capacity = cfg.book_capacity.max(16);
        let mut instruments = Vec::with_capacity(cfg.instruments.len());
        let max_id = cfg.instruments.iter().map(|i| i.id).max().unwrap_or(0) as usize;
        let mut by_id = vec![0_u16; max_id + 1];
        for spec in cfg.instruments {
            spec.validate()?;
            if by_id[spec.id as usize] != 0 {
                return Err(ModelError::BadInstrument { instrument: spec.key(), why: format!("duplicate id {}", spec.id) });
            }
            by_id[spec.id as usize] = (instruments.len() + 1) as u16;
            instruments.push(InstrumentState::new(spec, capacity));
        }
        let mut composites: Vec<CompositeState> = Vec::with_capacity(cfg.composites.len());
        for spec in cfg.composites {
            spec.validate()?;
            if composites.iter().any(|c| c.spec.id == spec.id) {
                return Err(ModelError::BadComposite { composite: spec.name.clone(), why: format!("duplicate id {}", spec.id) });
            }
            if spec.pricing.sizes.len() > MAX_SIZES {
                return Err(ModelError::BadComposite { composite: spec.name.clone(), why: "too many sizes".into() });
            }
            if spec.members.is_empty() || spec.members.len() > MAX_MEMBERS {
                return Err(ModelError::BadComposite {
                    composite: spec.name.clone(),
                    why: format!("needs 1..={MAX_MEMBERS} members, has {}", spec.members.len()),
                });
            }
            let ci = composites.len();
            let mut members = Vec::new();
            for &id in &spec.members {
                let idx = match by_id.get(id as usize) {
                    Some(&i) if i != 0 => (i - 1) as usize,
                    _ => {
                        return Err(ModelError::BadComposite {
                            composite: spec.name.clone(),
                            why: format!("member {id} is not a configured instrument"),
                        })
                    }
                };
                let inst = &instruments[idx].spec;
                let conv = Conversion::new(inst, spec.price_decimals, spec.qty_decimals).ok_or_else(|| {
                    ModelError::BadComposite {
                        composite: spec.name.clone(),
                        why: format!("member {} has finer scales than the composite", inst.key()),
                    }
                })?;
                if members.iter().any(|m: &Member| m.inst == idx) {
                    return Err(ModelError::BadComposite { composite: spec.name.clone(), why: format!("member {id} listed twice") });
                }
                instruments[idx].composites.push(ci);
                members.push(Member { inst: idx, instrument: id, conv, included: true, basis2: 0, basis_ready: false });
            }
            composites.push(CompositeState {
                spec,
                members,
                quotes: [QuoteLevel::default(); MAX_SIZES],
                live_mask: 0,
                priced: false,
            });
        }
        let specs: Vec<CompositeSpec> = composites.iter().map(|c| c.spec.clone()).collect();
        let hedge_specs = cfg.rfq.hedging.clone();
        let rfq = RfqState::new(cfg.rfq, &specs)?;
        let max_out = Self::bound(instruments.len(), &composites, &rfq);
        let mut core = Core {
            markets: composites.iter().map(|_| MarketCache::new()).collect(),
            market_cache: true,
            instruments,
            by_id,
            composites,
            now: i64::MIN,
            out_seq: 0,
            max_out,
            stats: Stats::default(),
            rfq,
            hedging: crate::hedge::Hedging::default(),
        };
        let hedging = crate::hedge::Hedging::new(&core, &hedge_specs)?;
        // a record may route every hedged composite (a venue shared by all, or due retries)
        core.max_out += hedging.states.len() * crate::hedge::MAX_HEDGE_OUT;
        core.hedging = hedging;
        Ok(core)
    }

    /// Output bound: the time-driven work of one record ([`HOUSEKEEPING_PER_RECORD`]; none
    /// without clients, as there can then be no quote and no pending approval) plus the most
    /// the record itself can cause — a venue message or heartbeat (status + repricing of every
    /// ladder), an accept (EXEC, EXEC_FEES, QUOTE_END, 2 RISK_EVENT) or an approval
    /// (2 RFQ_QUOTE + CONTROL_ACK).
    pub(crate) fn bound(instruments: usize, composites: &[CompositeState], rfq: &RfqState) -> usize {
        let market = 2 + instruments + composites.iter().map(|c| c.spec.pricing.sizes.len()).sum::<usize>();
        let housekeeping = if rfq.clients.is_empty() { 0 } else { HOUSEKEEPING_PER_RECORD };
        housekeeping + market.max(crate::workflow::MAX_RFQ_OUT)
    }

    /// Most output records one input record can cause (the runner keeps this much room).
    pub fn max_out_per_record(&self) -> usize {
        self.max_out
    }

    /// Core time: the largest `ts_recv` of any accepted record (`i64::MIN` before the first).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Instrument state by registry id.
    pub fn instrument(&self, id: u16) -> Option<&InstrumentState> {
        self.index(id).map(|i| &self.instruments[i])
    }

    /// All instrument states.
    pub fn instruments(&self) -> &[InstrumentState] {
        &self.instruments
    }

    #[inline]
    pub(crate) fn index(&self, id: u16) -> Option<usize> {
        match self.by_id.get(id as usize) {
            Some(&i) if i != 0 => Some((i - 1) as usize),
            _ => None,
        }
    }

    pub(crate) fn composite_index(&self, id: u16) -> Option<usize> {
        self.composites.iter().position(|c| c.spec.id == id)
    }

    /// Composite sweep notional for `qty` on `side` over the currently usable members.
    pub fn composite_sweep(&self, composite: u16, side: Side, qty: i64) -> Option<i128> {
        let c = &self.composites[self.composite_index(composite)?];
        let mut books: [Option<(&L2Book, Conversion)>; MAX_MEMBERS] = [None; MAX_MEMBERS];
        let n = self.usable_books(c, &mut books);
        let list: Vec<(&L2Book, Conversion)> = books[..n].iter().flatten().copied().collect();
        let mut out = [None];
        sweep_ladder(&list, side, &[qty], &mut out);
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
        self.recompute_max_out();
        Ok(())
    }

    /// [`Core::bound`] plus what hedging can add to one record's outputs.
    pub(crate) fn recompute_max_out(&mut self) {
        self.max_out = Self::bound(self.instruments.len(), &self.composites, &self.rfq)
            + self.hedging.states.len() * crate::hedge::MAX_HEDGE_OUT;
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

    /// Process one input record; outputs go to `out`.
    pub fn process(&mut self, r: &Record, out: &mut impl Sink) {
        self.stats.records += 1;
        let mut budget = HOUSEKEEPING_PER_RECORD;
        if matches!(r.kind, kind::RFQ | kind::ACCEPT | kind::CANCEL | kind::CONTROL | kind::VENUE_REPORT | kind::VENUE_STATUS | kind::DESK_ORDER) {
            self.rfq_record(r, &mut budget, out);
            return;
        }
        if r.kind == kind::HEARTBEAT {
            self.advance(r.ts_recv);
        }
        self.housekeep(r, &mut budget, out);
        match r.kind {
            kind::HEARTBEAT => {
                if r.flags & flags::END != 0 {
                    self.stats.messages += 1;
                    self.on_tick(None, r, out);
                    if !self.hedging.states.is_empty() {
                        self.hedge_timers(r, out);
                    }
                }
            }
            kind::BOOK_CLEAR | kind::BOOK_LEVEL | kind::BOOK_STALE | kind::TRADE | kind::BBO => {
                let Some(idx) = self.index(r.instrument) else {
                    return self.reject(r, reject::UNKNOWN_INSTRUMENT, out);
                };
                if matches!(r.kind, kind::BOOK_CLEAR | kind::BOOK_LEVEL | kind::BOOK_STALE) {
                    self.instruments[idx].epoch += 1;
                }
                if let Err(code) = self.apply(idx, r) {
                    self.reject(r, code, out);
                } else {
                    self.advance(r.ts_recv);
                    self.instruments[idx].last_seen_ns = self.now;
                }
                if r.flags & flags::END != 0 {
                    self.stats.messages += 1;
                    let st = &mut self.instruments[idx];
                    if st.sync == BookStatus::Building && r.flags & flags::SNAPSHOT != 0 && r.kind != kind::BOOK_STALE {
                        st.sync = BookStatus::Live;
                        st.dirty = true;
                    }
                    self.on_tick(Some(idx), r, out);
                }
            }
            _ => self.reject(r, reject::UNKNOWN_KIND, out),
        }
    }

    #[inline]
    pub(crate) fn advance(&mut self, ts: i64) {
        if ts > self.now {
            self.now = ts;
        }
    }

    /// Validate and apply one instrument record. `Err(reason)` means nothing changed, except
    /// for a full ladder, which also marks the book stale (it no longer mirrors the venue).
    #[inline]
    fn apply(&mut self, idx: usize, r: &Record) -> Result<(), i64> {
        let st = &mut self.instruments[idx];
        let spec = &st.spec;
        match r.kind {
            kind::BOOK_CLEAR => {
                st.book.clear();
                st.dirty = true;
                st.sync = BookStatus::Building;
                st.last_seq = r.seq;
                Ok(())
            }
            kind::BOOK_STALE => {
                st.sync = BookStatus::Stale;
                st.dirty = true;
                Ok(())
            }
            _ => {
                let side = Side::from_u8(r.side).ok_or(reject::BAD_SIDE)?;
                if r.price <= 0 {
                    return Err(reject::PRICE_NOT_POSITIVE);
                }
                if r.qty < 0 {
                    return Err(reject::NEGATIVE_QUANTITY);
                }
                if r.price % spec.tick != 0 {
                    return Err(reject::OFF_TICK_PRICE);
                }
                if r.qty % spec.lot != 0 {
                    return Err(reject::OFF_LOT_QUANTITY);
                }
                if r.qty > spec.max_qty {
                    return Err(reject::QUANTITY_ABOVE_MAX);
                }
                match r.kind {
                    kind::BOOK_LEVEL => {
                        let snapshot = r.flags & flags::SNAPSHOT != 0;
                        let ok = if snapshot { st.sync == BookStatus::Building } else { st.sync == BookStatus::Live };
                        if !ok {
                            return Err(reject::BOOK_NOT_SYNCED);
                        }
                        match st.book.set(side, r.price, r.qty) {
                            Ok(()) => {}
                            Err(BookError::CapacityExceeded(_)) => {
                                st.sync = BookStatus::Stale;
                                return Err(reject::BOOK_CAPACITY_EXCEEDED);
                            }
                            Err(BookError::NonPositivePrice(_)) => return Err(reject::PRICE_NOT_POSITIVE),
                            Err(BookError::NegativeQuantity(_)) => return Err(reject::NEGATIVE_QUANTITY),
                            Err(BookError::OffTick(_)) => return Err(reject::OFF_TICK_PRICE),
                        }
                        st.last_seq = r.seq;
                        st.dirty = true;
                        self.stats.level_updates += 1;
                        Ok(())
                    }
                    kind::TRADE => {
                        if r.qty == 0 {
                            return Err(reject::NEGATIVE_QUANTITY);
                        }
                        st.last_trade = (r.price, r.qty, r.seq);
                        st.trades += 1;
                        Ok(())
                    }
                    _ => {
                        st.bbo[side as usize] = (r.price, r.qty);
                        Ok(())
                    }
                }
            }
        }
    }

    fn reject(&mut self, r: &Record, code: i64, out: &mut impl Sink) {
        self.stats.rejects += 1;
        self.stats.rejects_by_reason[(code as usize).min(15)] += 1;
        out.emit(&Record { flags: 0, ..echo(r, kind::REJECT, r.side, code, r.ts_recv) });
    }

    /// End of a venue message (or heartbeat): report status changes, reprice composites whose
    /// inputs changed.
    fn on_tick(&mut self, touched: Option<usize>, trigger: &Record, out: &mut impl Sink) {
        if !self.hedging.states.is_empty() {
            self.hedge_status_all(trigger, out);
        }
        if let Some(idx) = touched {
            let st = &mut self.instruments[idx];
            let status = st.status();
            if st.reported != status {
                st.reported = status;
                self.out_seq += 1;
                self.stats.status_changes += 1;
                out.emit(&Record {
                    kind: kind::BOOK_STATUS,
                    instrument: st.spec.id,
                    side: 255,
                    flags: 0,
                    source: 0,
                    seq: self.out_seq,
                    ts_event: trigger.ts_event,
                    ts_recv: self.now,
                    price: 0,
                    qty: 0,
                    aux: status.code(),
                    ts_send: trigger.ts_send,
                });
            }
        }
        // Reprice a composite when a member's book changed (BBO and trade messages change no
        // book and cost nothing here), or when the set of usable members changed.
        let book_changed = touched.is_some_and(|i| std::mem::take(&mut self.instruments[i].dirty));
        for ci in 0..self.composites.len() {
            let member_touched = book_changed && touched.is_some_and(|i| self.instruments[i].composites.contains(&ci));
            let mask = self.live_mask(ci);
            let c = &self.composites[ci];
            if member_touched || mask != c.live_mask || !c.priced {
                self.reprice(ci, mask, trigger, out);
            }
        }
    }

    /// A member's book is fresh: included, live, not crossed, heard from recently.
    #[inline]
    fn fresh(&self, m: &Member, stale_after: i64) -> bool {
        let st = &self.instruments[m.inst];
        m.included && st.status() == BookStatus::Live && self.now.saturating_sub(st.last_seen_ns) <= stale_after
    }

    /// Fresh, and (with basis normalisation on) its basis to the reference is known.
    #[inline]
    pub(crate) fn usable(&self, c: &CompositeState, i: usize) -> bool {
        let m = &c.members[i];
        self.fresh(m, c.spec.stale_after_ns) && (c.spec.basis_ema_shift == 0 || i == 0 || m.basis_ready)
    }

    fn live_mask(&self, ci: usize) -> u32 {
        let c = &self.composites[ci];
        let mut mask = 0;
        for i in 0..c.members.len() {
            if self.usable(c, i) {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// Σ book epochs of a composite's members.
    #[inline]
    fn epoch_of(&self, c: &CompositeState) -> u64 {
        c.members.iter().map(|m| self.instruments[m.inst].epoch).sum()
    }

    /// The last repricing's view of the merged market, if still exact now (see [`MarketCache`]).
    #[inline]
    pub(crate) fn cached_market(&self, ci: usize) -> Option<&MarketCache> {
        let c = &self.composites[ci];
        let m = &self.markets[ci];
        (self.market_cache && m.valid && m.epoch == self.epoch_of(c) && m.mask == self.live_mask(ci)).then_some(m)
    }

    /// A member's conversion with its current basis offset.
    #[inline]
    pub(crate) fn member_conv(&self, c: &CompositeState, m: &Member) -> Conversion {
        let offset = if c.spec.basis_ema_shift == 0 { 0 } else { m.basis2.div_euclid(2) };
        Conversion { offset, ..m.conv }
    }

    pub(crate) fn usable_books<'a>(&'a self, c: &CompositeState, books: &mut [Option<(&'a L2Book, Conversion)>; MAX_MEMBERS]) -> usize {
        let mut n = 0;
        for (i, m) in c.members.iter().enumerate() {
            if self.usable(c, i) {
                books[n] = Some((&self.instruments[m.inst].book, self.member_conv(c, m)));
                n += 1;
            }
        }
        n
    }

    /// `bid + ask` of a member in composite price units (no basis), if both sides exist.
    fn mid2(&self, m: &Member) -> Option<i64> {
        let b = &self.instruments[m.inst].book;
        let (bid, ask) = (b.best_bid()?.0, b.best_ask()?.0);
        Some((bid + ask) * m.conv.px_mult)
    }

    /// Move each member's basis estimate towards `reference mid − member mid`. Deterministic
    /// integer EMA; only while both the reference (first member) and the member are fresh.
    fn update_basis(&mut self, ci: usize) {
        let c = &self.composites[ci];
        let shift = c.spec.basis_ema_shift;
        if shift == 0 || !self.fresh(&c.members[0], c.spec.stale_after_ns) {
            return;
        }
        let Some(ref2) = self.mid2(&c.members[0]) else { return };
        let mut updates = [None; MAX_MEMBERS];
        for (i, m) in c.members.iter().enumerate().skip(1) {
            if self.fresh(m, c.spec.stale_after_ns) {
                updates[i] = self.mid2(m).map(|m2| ref2 - m2);
            }
        }
        let c = &mut self.composites[ci];
        for (m, u) in c.members.iter_mut().zip(updates) {
            if let Some(diff2) = u {
                if m.basis_ready {
                    m.basis2 += (diff2 - m.basis2) >> shift;
                } else {
                    m.basis2 = diff2;
                    m.basis_ready = true;
                }
            }
        }
    }

    /// Current basis offsets `(instrument id, offset in composite price units, known)`.
    pub fn basis(&self, composite: u16) -> Option<Vec<(u16, i64, bool)>> {
        let c = &self.composites[self.composite_index(composite)?];
        Some(
            c.members
                .iter()
                .map(|m| (self.instruments[m.inst].spec.id, m.basis2.div_euclid(2), m.basis_ready))
                .collect(),
        )
    }

    /// Why a composite with no usable member cannot quote.
    pub(crate) fn no_market_reason(&self, c: &CompositeState) -> u8 {
        let mut reason = withdraw::NO_MARKET;
        for m in c.members.iter().filter(|m| m.included) {
            let st = &self.instruments[m.inst];
            if st.status() == BookStatus::Live && self.now.saturating_sub(st.last_seen_ns) <= c.spec.stale_after_ns {
                continue; // fresh, but its basis is not known yet
            }
            match st.status() {
                BookStatus::Stale => return withdraw::STALE,
                BookStatus::Live => reason = withdraw::STALE, // silent for too long
                BookStatus::Crossed if reason == withdraw::NO_MARKET => reason = withdraw::CROSSED,
                _ => {}
            }
        }
        reason
    }

    fn reprice(&mut self, ci: usize, mask: u32, trigger: &Record, out: &mut impl Sink) {
        self.stats.repricings += 1;
        self.update_basis(ci);
        let mask = if self.composites[ci].spec.basis_ema_shift > 0 { self.live_mask(ci) } else { mask };
        let mut fresh = [QuoteLevel::default(); MAX_SIZES];
        let c = &self.composites[ci];
        let nsizes = c.spec.pricing.sizes.len();
        let mut mid = None;
        let epoch = self.epoch_of(c);
        // the cache is kept only where RFQs and accepts can use it (clients, a risk entry), so
        // a market-data-only core pays nothing for it
        let rfq_able = !self.rfq.clients.is_empty() && self.rfq.inst[ci].risk.is_some();
        // moved out while the books are borrowed (an empty Vec: no allocation)
        let mut markets = std::mem::take(&mut self.markets);
        let market = &mut markets[ci];
        market.valid = false;
        {
            let mut slots: [Option<(&L2Book, Conversion)>; MAX_MEMBERS] = [None; MAX_MEMBERS];
            let n = self.usable_books(c, &mut slots);
            let mut books: [(&L2Book, Conversion); MAX_MEMBERS] = [(&self.instruments[0].book, c.members[0].conv); MAX_MEMBERS];
            for i in 0..n {
                books[i] = slots[i].expect("filled above");
            }
            let books = &books[..n];
            let reason = if n == 0 {
                Some(self.no_market_reason(c))
            } else {
                let (best_bid, best_ask) = best_of(books);
                market.best = (best_bid, best_ask);
                let crossed = is_crossed(best_bid, best_ask, c.spec.cross_tolerance_cbps);
                if let (Some(b), Some(a), false) = (best_bid, best_ask, crossed) {
                    mid = Some((b + a).div_euclid(2));
                }
                crossed.then_some(withdraw::CROSSED)
            };
            if let Some(reason) = reason {
                for q in fresh.iter_mut().take(nsizes) {
                    *q = QuoteLevel { flags: 0, reason, bid: 0, ask: 0 };
                }
            } else {
                let sizes = &c.spec.pricing.sizes;
                let mut nb = [None; MAX_SIZES];
                let mut na = [None; MAX_SIZES];
                if rfq_able {
                    let [pb, pa] = &mut market.prefix;
                    sweep_ladder_recording(books, Side::Bid, sizes, &mut nb, pb);
                    sweep_ladder_recording(books, Side::Ask, sizes, &mut na, pa);
                    (market.valid, market.epoch, market.mask) = (true, epoch, mask);
                } else {
                    sweep_ladder(books, Side::Bid, sizes, &mut nb);
                    sweep_ladder(books, Side::Ask, sizes, &mut na);
                }
                for (i, &size) in sizes.iter().enumerate() {
                    let s = half_spread_cbps(&c.spec.pricing, size, c.spec.qty_decimals);
                    let mut q = QuoteLevel::default();
                    if let Some(n) = nb[i] {
                        q.bid = bid_price(n, size, s);
                        q.flags |= flags::BID_VALID;
                    }
                    if let Some(n) = na[i] {
                        q.ask = ask_price(n, size, s);
                        q.flags |= flags::ASK_VALID;
                    }
                    if q.flags != flags::BID_VALID | flags::ASK_VALID {
                        q.reason = withdraw::TOO_THIN;
                    } else if q.bid >= q.ask {
                        q = QuoteLevel { flags: 0, reason: withdraw::CROSSED, bid: 0, ask: 0 };
                    }
                    fresh[i] = q;
                }
            }
        }
        if let Some(m) = mid {
            self.rfq.on_mid(ci, m);
        }
        self.markets = markets;
        let c = &mut self.composites[ci];
        c.live_mask = mask;
        let first = !c.priced;
        c.priced = true;
        for (i, q) in fresh.iter().enumerate().take(nsizes) {
            if first || c.quotes[i] != *q {
                c.quotes[i] = *q;
                self.out_seq += 1;
                self.stats.quotes += 1;
                out.emit(&Record {
                    kind: kind::QUOTE,
                    instrument: c.spec.id,
                    side: q.reason,
                    flags: q.flags,
                    source: i as u16,
                    seq: self.out_seq,
                    ts_event: trigger.ts_event,
                    ts_recv: self.now,
                    price: q.bid,
                    qty: c.spec.pricing.sizes[i],
                    aux: q.ask,
                    ts_send: trigger.ts_send,
                });
            }
        }
    }

    /// A hash of the whole trading state: FNV-1a of what a snapshot saves (the one encoding
    /// of every state type, `crate::codec`) less counters and caches. Equal inputs give equal
    /// hashes, on any run and any machine.
    pub fn state_hash(&self) -> u64 {
        let mut h = Fnv::new();
        self.save(&mut h);
        h.finish()
    }

    /// Published sequence number of the last output record.
    pub fn out_seq(&self) -> u64 {
        self.out_seq
    }

    /// `book_status` code of an instrument (see docs/ring-layout.md).
    pub fn status_code(&self, id: u16) -> Option<i64> {
        self.instrument(id).map(|s| s.status().code())
    }
}


/// Best bid and best ask over converted member books.
#[inline]
pub(crate) fn best_of(books: &[(&L2Book, Conversion)]) -> (Option<i64>, Option<i64>) {
    let best_bid = books.iter().filter_map(|(b, cv)| b.best_bid().map(|(p, q)| cv.convert(p, q).0)).max();
    let best_ask = books.iter().filter_map(|(b, cv)| b.best_ask().map(|(p, q)| cv.convert(p, q).0)).min();
    (best_bid, best_ask)
}

/// The composite counts as crossed: best bid above best ask by more than the tolerance
/// (at or above it with no tolerance).
#[inline]
pub(crate) fn is_crossed(best_bid: Option<i64>, best_ask: Option<i64>, tol_cbps: i64) -> bool {
    let tol = i128::from(tol_cbps);
    match (best_bid, best_ask) {
        (Some(b), Some(a)) if tol == 0 => b >= a,
        (Some(b), Some(a)) => i128::from(b - a) * crate::pricing::PPM > i128::from(a) * tol,
        _ => false,
    }
}

mod persist;

#[cfg(test)]
mod market_cache_tests;
