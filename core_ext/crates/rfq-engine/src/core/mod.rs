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

mod books;
mod persist;
mod repricing;

pub(crate) use repricing::{best_of, is_crossed};

#[cfg(test)]
mod market_cache_tests;
