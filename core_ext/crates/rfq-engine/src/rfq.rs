//! RFQ workflow state kept by the core (docs/rfq-protocol.md): clients, tiers, per-composite
//! risk and pricing v2, positions, the quote table, pending approvals, and the public views
//! the query API returns.

use crate::codec::{corrupt, mismatch, Dec, Decode, Encode, Out, Persist, R};
use crate::positions::Position;
use crate::risk::{Bucket, DeadlineHeap, ExecWindow, MAX_EXEC_COUNT};
use rfq_model::{ClientSpec, CompositeSpec, DeskSpec, InstrumentRisk, ModelError, PricingV2, RfqConfig, Throttle, TierSpec};
use crate::dedup::DedupSet;
pub use crate::dedup::DEDUP_RESERVE;

/// Most records the time-driven work (expiries, approval timeouts, kill-switch
/// cancellations) may emit for one input record; the rest waits for the next records.
pub const HOUSEKEEPING_PER_RECORD: usize = 64;

/// Quote table slots examined per input record by a kill-switch cancellation scan.
pub const KILL_SCAN_PER_RECORD: usize = 4096;

/// Counters of the RFQ workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfqStats {
    /// RFQ records received.
    pub rfqs: u64,
    /// Quotes made (one per quote id, whichever number of sides).
    pub quotes: u64,
    /// Fills (executions).
    pub fills: u64,
    /// Quotes ended by expiry.
    pub expiries: u64,
    /// Quotes ended by a cancel (client, desk or kill switch).
    pub cancels: u64,
    /// Quotes ended `rejected` by an accept refused at the moment of the hit.
    pub hit_rejects: u64,
    /// RFQs sent to manual approval.
    pub approvals: u64,
    /// Approval requests approved (whatever the re-check then decided).
    pub approved: u64,
    /// Approval requests declined.
    pub declined: u64,
    /// Approval requests timed out.
    pub timeouts: u64,
    /// CONTROL records received.
    pub controls: u64,
    /// RISK_EVENT records published.
    pub risk_events: u64,
    /// Reject reasons published (RFQ_REJECT, ACCEPT_REJECT, CANCEL_REJECT, refused CONTROL_ACK),
    /// index = reason code.
    pub rejects: [u64; 64],
}

impl Default for RfqStats {
    fn default() -> Self {
        RfqStats {
            rfqs: 0,
            quotes: 0,
            fills: 0,
            expiries: 0,
            cancels: 0,
            hit_rejects: 0,
            approvals: 0,
            approved: 0,
            declined: 0,
            timeouts: 0,
            controls: 0,
            risk_events: 0,
            rejects: [0; 64],
        }
    }
}

/// Life-cycle state of a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteState {
    /// Can be accepted until `valid_until`.
    Live,
    /// Filled (`QUOTE_END aux=1`).
    Filled,
    /// An accept was refused by risk at the moment of the hit (`aux=2`).
    Rejected,
    /// Expired (`aux=3`).
    Expired,
    /// Cancelled by the client, the desk or a kill switch (`aux=4`).
    Cancelled,
}

impl QuoteState {
    /// The `QUOTE_END.aux` code (0 while live).
    pub fn code(self) -> i64 {
        match self {
            QuoteState::Live => 0,
            QuoteState::Filled => 1,
            QuoteState::Rejected => 2,
            QuoteState::Expired => 3,
            QuoteState::Cancelled => 4,
        }
    }
}

/// A position as the query API reports it. Amounts are exact, in the composite's notional
/// scale (price decimals + quantity decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionView {
    /// Composite id.
    pub composite: u16,
    /// Signed quantity (composite qty units; positive = long).
    pub qty: i64,
    /// Cost of the open quantity at average price.
    pub cost: i128,
    /// Realised P&L.
    pub realised: i128,
    /// `qty × mid − cost` at the current composite mid; `None` without a mid.
    pub unrealised: Option<i128>,
    /// Fees received (desk) or paid (client).
    pub fees: i128,
    /// Fills.
    pub trades: u64,
}

/// A client as the query API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// Client id.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Tier id.
    pub tier: u8,
    /// Enabled (a disabled client is refused `NOT_AUTHORISED`).
    pub enabled: bool,
    /// A client-scope kill switch is on.
    pub killed: bool,
    /// Halted by the repeated-execution throttle.
    pub halted: bool,
    /// Credit limit, cents.
    pub credit_limit: i64,
    /// Credit used, cents: `⌈Σ over composites |client cost at average price|⌉` (the exact
    /// figure rounded up to the cent, so `utilised ≤ credit_limit` ⇔ the exact check passes).
    pub utilised: i128,
    /// Live quotes.
    pub open_quotes: u32,
    /// Live quotes at most.
    pub max_open_quotes: u32,
    /// RFQ throttle.
    pub rfq_rate: Throttle,
    /// Accept throttle.
    pub accept_rate: Throttle,
}

/// A composite's RFQ settings and switches as the query API reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentView {
    /// Composite id.
    pub composite: u16,
    /// Current risk limits (`None`: no risk entry, the composite is never quoted).
    pub risk: Option<InstrumentRisk>,
    /// An instrument-scope kill switch is on (the desk-wide one: [`crate::Core::desk_killed`]).
    pub killed: bool,
    /// Halted by the repeated-execution throttle.
    pub halted: bool,
    /// On the restricted list (or without a risk entry).
    pub restricted: bool,
    /// Current pricing v2 knobs.
    pub pricing: PricingV2,
    /// Ladder base half-spread (pricing v1, `SET_PRICING` field 6), cbps.
    pub base_cbps: i64,
    /// Ladder size spread (pricing v1, `SET_PRICING` field 7), cbps per whole unit.
    pub size_cbps_per_unit: i64,
    /// Current volatility estimate: EMA of absolute composite mid moves, cbps (rounded down).
    pub vol_cbps: i64,
}

/// A quote as the query API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteView {
    /// Quote id.
    pub quote_id: u64,
    /// Client id.
    pub client: u16,
    /// Composite id.
    pub composite: u16,
    /// The client's RFQ id.
    pub client_rfq_id: u64,
    /// Side 0 (client buys at the desk's ask): `(price, qty)`.
    pub ask: Option<(i64, i64)>,
    /// Side 1 (client sells at the desk's bid): `(price, qty)`.
    pub bid: Option<(i64, i64)>,
    /// Core time the quote was made.
    pub created: i64,
    /// Good while `ts_recv < valid_until`.
    pub valid_until: i64,
    /// Partial fills allowed.
    pub partial_ok: bool,
    /// State.
    pub state: QuoteState,
}

/// An RFQ waiting for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingView {
    /// Approval request id (`APPROVE`/`DECLINE` `price`).
    pub request_id: u64,
    /// Client id.
    pub client: u16,
    /// Composite id.
    pub composite: u16,
    /// Client side (0, 1, 255).
    pub side: u8,
    /// Requested size (base qty, or quote amount if `qty_in_quote`).
    pub qty: i64,
    /// `qty` is an amount of quote currency.
    pub qty_in_quote: bool,
    /// Limit price (0 = none).
    pub limit: i64,
    /// Indicative price published with `APPROVAL_PENDING`.
    pub indicative: i64,
    /// Timed out at this core time.
    pub deadline: i64,
    /// The client's RFQ id.
    pub client_rfq_id: u64,
}

pub(crate) struct ClientState {
    pub spec: ClientSpec,
    pub killed: bool,
    pub halted: bool,
    pub open_quotes: u32,
    pub rfq_bucket: Bucket,
    pub accept_bucket: Bucket,
    pub exec: ExecWindow,
    /// Per composite index.
    pub positions: Vec<Position>,
    /// `Σ |cost|` over composites at the common credit scale.
    pub util: i128,
}

impl ClientState {
    /// Replace the RFQ (`rfq`) or accept throttle, keeping the saved tokens (capped).
    pub fn set_throttle(&mut self, rfq: bool, t: Throttle) {
        if rfq {
            self.spec.rfq_rate = t;
            self.rfq_bucket.rescale(&t);
        } else {
            self.spec.accept_rate = t;
            self.accept_bucket.rescale(&t);
        }
    }
}

pub(crate) struct InstRfq {
    pub risk: Option<InstrumentRisk>,
    pub pricing: PricingV2,
    pub killed: bool,
    pub halted: bool,
    pub desk: Position,
    pub exec: ExecWindow,
    /// EMA of absolute mid moves, milli-cbps.
    pub vol_m: i64,
    /// Composite mid at the last repricing (0 = none yet).
    pub last_mid: i64,
    /// `10^(pd + qd − 2)`: one cent in the exact notional scale (≥ 1; see `cents_scale`).
    pub cent: i128,
    /// `10^(S − (pd + qd))`: exact notional → common credit scale.
    pub to_credit: i128,
    /// `10^qd`.
    pub unit: i128,
}

impl InstRfq {
    /// Restricted: on the list, or without a risk entry.
    pub fn restricted(&self) -> bool {
        !matches!(&self.risk, Some(r) if !r.restricted)
    }
}

/// One slot of the quote table (`id == 0`: never used).
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuoteSlot {
    pub id: u64,
    pub client: u16,
    pub ci: u16,
    pub rfq_id: u64,
    /// `[side 0 (ask), side 1 (bid)]` as `(price, qty)`, qty 0 = side absent.
    pub sides: [(i64, i64); 2],
    pub created: i64,
    pub valid_until: i64,
    pub partial: bool,
    /// The tier fee when quoted, cbps.
    pub fee_cbps: i64,
    pub state: QuoteState,
}

impl QuoteSlot {
    pub const EMPTY: QuoteSlot = QuoteSlot {
        id: 0,
        client: 0,
        ci: 0,
        rfq_id: 0,
        sides: [(0, 0); 2],
        created: 0,
        valid_until: 0,
        partial: false,
        fee_cbps: 0,
        state: QuoteState::Live,
    };

    pub fn live(&self) -> bool {
        self.id != 0 && self.state == QuoteState::Live
    }
}

/// A pending approval (`id == 0`: free slot).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingSlot {
    pub id: u64,
    pub client: u16,
    pub ci: u16,
    pub side: u8,
    pub qty: i64,
    pub in_quote: bool,
    pub limit: i64,
    pub ttl: i64,
    pub rfq_id: u64,
    pub indicative: i64,
    pub deadline: i64,
}

impl PendingSlot {
    pub const EMPTY: PendingSlot =
        PendingSlot { id: 0, client: 0, ci: 0, side: 0, qty: 0, in_quote: false, limit: 0, ttl: 0, rfq_id: 0, indicative: 0, deadline: 0 };
}

/// The whole RFQ state of a core.
pub(crate) struct RfqState {
    pub tiers: Vec<TierSpec>,
    /// Tier id → index + 1 (0 = none).
    pub tier_by_id: [u8; 256],
    pub clients: Vec<ClientState>,
    /// Client id → index + 1 (0 = none).
    pub client_by_id: Vec<u16>,
    /// Parallel to the core's composites.
    pub inst: Vec<InstRfq>,
    pub desk: DeskSpec,
    pub desk_killed: bool,
    pub quotes: Vec<QuoteSlot>,
    pub qmask: u64,
    /// Last quote id issued.
    pub last_quote: u64,
    pub expiry: DeadlineHeap,
    pub pending: Vec<PendingSlot>,
    pub pending_heap: DeadlineHeap,
    /// Free pending slots (a stack, reserved at `max_pending`).
    pub free_pending: Vec<u32>,
    pub pending_count: usize,
    pub last_request: u64,
    pub last_trade: u64,
    pub dedup: DedupSet,
    /// Kill-switch cancellation scan: next quote-table slot and slots left to examine.
    pub kill_scan: Option<(usize, usize)>,
    pub stats: RfqStats,
    /// `10^(S − 2)`: one cent at the common credit scale `S` (decimals: max over composites of
    /// `pd + qd`, at least 2).
    pub credit_cent: i128,
}

fn bad(what: impl Into<String>, why: impl Into<String>) -> ModelError {
    ModelError::BadRfq { what: what.into(), why: why.into() }
}

impl RfqState {
    pub fn new(cfg: RfqConfig, composites: &[CompositeSpec]) -> Result<RfqState, ModelError> {
        cfg.validate()?;
        if cfg.desk.exec_count as usize > MAX_EXEC_COUNT {
            return Err(bad("desk", format!("exec_count above {MAX_EXEC_COUNT}")));
        }
        if cfg.desk.quote_table > 1 << 24 || cfg.desk.max_pending > 1 << 20 {
            return Err(bad("desk", "quote_table above 2^24 or max_pending above 2^20"));
        }
        for r in &cfg.risk {
            if !composites.iter().any(|c| c.id == r.composite) {
                return Err(bad(format!("risk of composite {}", r.composite), "no such composite"));
            }
        }
        for p in &cfg.pricing {
            if !composites.iter().any(|c| c.id == p.composite) {
                return Err(bad(format!("pricing v2 of composite {}", p.composite), "no such composite"));
            }
        }
        let credit_decimals = composites.iter().map(|c| c.price_decimals + c.qty_decimals).max().unwrap_or(2).max(2);
        if credit_decimals > 30 {
            return Err(bad("composites", "price + quantity decimals above 30"));
        }
        let inst: Vec<InstRfq> = composites
            .iter()
            .map(|c| {
                let d = c.price_decimals + c.qty_decimals;
                InstRfq {
                    risk: cfg.risk.iter().find(|r| r.composite == c.id).cloned(),
                    pricing: cfg.pricing.iter().find(|p| p.composite == c.id).cloned().unwrap_or(PricingV2 { composite: c.id, ..PricingV2::default() }),
                    killed: false,
                    halted: false,
                    desk: Position::default(),
                    exec: ExecWindow::default(),
                    vol_m: 0,
                    last_mid: 0,
                    cent: if d >= 2 { 10_i128.pow(d - 2) } else { 1 },
                    to_credit: 10_i128.pow(credit_decimals - d),
                    unit: 10_i128.pow(c.qty_decimals),
                }
            })
            .collect();
        for c in composites {
            if c.price_decimals + c.qty_decimals < 2 {
                return Err(bad(format!("composite {}", c.name), "RFQ notionals need price + quantity decimals >= 2"));
            }
        }
        let mut tier_by_id = [0_u8; 256];
        for (i, t) in cfg.tiers.iter().enumerate() {
            if i >= 255 {
                return Err(bad("tiers", "more than 255"));
            }
            tier_by_id[t.id as usize] = (i + 1) as u8;
        }
        let mut client_by_id = vec![0_u16; 1 << 16];
        let mut clients = Vec::with_capacity(cfg.clients.len());
        for (i, c) in cfg.clients.into_iter().enumerate() {
            if i >= 65_535 {
                return Err(bad("clients", "more than 65535"));
            }
            client_by_id[c.id as usize] = (i + 1) as u16;
            clients.push(ClientState {
                spec: c,
                killed: false,
                halted: false,
                open_quotes: 0,
                rfq_bucket: Bucket::default(),
                accept_bucket: Bucket::default(),
                exec: ExecWindow::default(),
                positions: vec![Position::default(); composites.len()],
                util: 0,
            });
        }
        let qt = cfg.desk.quote_table;
        let mp = cfg.desk.max_pending;
        let dedup = DedupSet::with_blocks(DEDUP_RESERVE);
        Ok(RfqState {
            tiers: cfg.tiers,
            tier_by_id,
            clients,
            client_by_id,
            inst,
            desk_killed: false,
            quotes: vec![QuoteSlot::EMPTY; qt],
            qmask: (qt - 1) as u64,
            last_quote: 0,
            expiry: DeadlineHeap::new(qt),
            pending: vec![PendingSlot::EMPTY; mp],
            pending_heap: DeadlineHeap::new(mp),
            free_pending: (0..mp as u32).rev().collect(),
            pending_count: 0,
            last_request: 0,
            last_trade: 0,
            dedup,
            kill_scan: None,
            stats: RfqStats::default(),
            credit_cent: 10_i128.pow(credit_decimals - 2),
            desk: cfg.desk,
        })
    }

    /// Touch every page of the duplicate-id set and the deadline heaps (see
    /// [`crate::Core::prefault`]). Changes no state.
    pub fn prefault(&mut self) {
        self.dedup.prefault();
        self.expiry.prefault();
        self.pending_heap.prefault();
    }

    #[inline]
    pub fn client_index(&self, id: u16) -> Option<usize> {
        match self.client_by_id[id as usize] {
            0 => None,
            i => Some((i - 1) as usize),
        }
    }

    #[inline]
    pub fn tier_index(&self, id: u8) -> Option<usize> {
        match self.tier_by_id[id as usize] {
            0 => None,
            i => Some((i - 1) as usize),
        }
    }

    /// The client's tier (clients always name an existing tier).
    #[inline]
    pub fn tier_of(&self, client: usize) -> &TierSpec {
        &self.tiers[self.tier_index(self.clients[client].spec.tier).expect("validated tier")]
    }

    /// Slot of a known, still-tabled quote id.
    #[inline]
    pub fn quote_slot(&self, id: u64) -> Option<usize> {
        if id == 0 || id > self.last_quote {
            return None;
        }
        let s = (id & self.qmask) as usize;
        (self.quotes[s].id == id).then_some(s)
    }

    /// Slot of a pending approval request.
    pub fn pending_slot(&self, id: u64) -> Option<usize> {
        if id == 0 {
            return None;
        }
        self.pending.iter().position(|p| p.id == id)
    }

    /// A cent amount (credit limit) at the common credit scale.
    #[inline]
    pub fn cents_to_credit(&self, cents: i64) -> i128 {
        i128::from(cents) * self.credit_cent
    }

    /// The client's credit use in cents, rounded up.
    pub fn util_cents(&self, client: usize) -> i128 {
        rfq_model::fixed::div_ceil_i128(self.clients[client].util, self.credit_cent)
    }
}

impl QuoteState {
    /// The state of a `QUOTE_END.aux` code.
    pub(crate) fn of_code(c: u8) -> Option<QuoteState> {
        Some(match c {
            0 => QuoteState::Live,
            1 => QuoteState::Filled,
            2 => QuoteState::Rejected,
            3 => QuoteState::Expired,
            4 => QuoteState::Cancelled,
            _ => return None,
        })
    }
}

impl Persist for RfqStats {
    fn save<O: Out>(&self, o: &mut O) {
        let RfqStats { rfqs, quotes, fills, expiries, cancels, hit_rejects, approvals, approved, declined, timeouts, controls, risk_events, rejects } = self;
        for v in [rfqs, quotes, fills, expiries, cancels, hit_rejects, approvals, approved, declined, timeouts, controls, risk_events] {
            o.count(*v);
        }
        for &v in rejects {
            o.count(v);
        }
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let s = self;
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
            *v = d.count()?;
        }
        for v in &mut s.rejects {
            *v = d.count()?;
        }
        Ok(())
    }
}

/// The client's live settings (its name comes from the configuration), then its state.
impl Persist for ClientState {
    fn save<O: Out>(&self, o: &mut O) {
        let ClientState { spec, killed, halted, open_quotes, rfq_bucket, accept_bucket, exec, positions, util } = self;
        let ClientSpec { id, name: _, tier, enabled, credit_limit, max_open_quotes, rfq_rate, accept_rate } = spec;
        o.u16(*id);
        o.u8(*tier);
        o.bool(*enabled);
        o.i64(*credit_limit);
        o.u32(*max_open_quotes);
        rfq_rate.encode(o);
        accept_rate.encode(o);
        o.bool(*killed);
        o.bool(*halted);
        o.u32(*open_quotes);
        rfq_bucket.encode(o);
        accept_bucket.encode(o);
        exec.encode(o);
        o.len(positions.len());
        for p in positions {
            p.encode(o);
        }
        o.i128(*util);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let id = d.u16()?;
        if id != self.spec.id {
            return Err(mismatch(format!("client {id}, this core's is {}", self.spec.id)));
        }
        self.spec.tier = d.u8()?;
        self.spec.enabled = d.bool()?;
        self.spec.credit_limit = d.i64()?;
        self.spec.max_open_quotes = d.u32()?;
        self.spec.rfq_rate = Throttle::decode(d)?;
        self.spec.accept_rate = Throttle::decode(d)?;
        self.killed = d.bool()?;
        self.halted = d.bool()?;
        self.open_quotes = d.u32()?;
        self.rfq_bucket = Bucket::decode(d)?;
        self.accept_bucket = Bucket::decode(d)?;
        self.exec = ExecWindow::decode(d)?;
        d.same_len(self.positions.len(), &format!("positions of client {id}"))?;
        for p in &mut self.positions {
            *p = Position::decode(d)?;
        }
        self.util = d.i128()?;
        Ok(())
    }
}

/// Risk limits, pricing v2 and switches of one composite; its scales come from the
/// configuration.
impl Persist for InstRfq {
    fn save<O: Out>(&self, o: &mut O) {
        let InstRfq { risk, pricing, killed, halted, desk, exec, vol_m, last_mid, cent: _, to_credit: _, unit: _ } = self;
        risk.encode(o);
        pricing.encode(o);
        o.bool(*killed);
        o.bool(*halted);
        desk.encode(o);
        exec.encode(o);
        o.i64(*vol_m);
        o.i64(*last_mid);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        self.risk = Option::<InstrumentRisk>::decode(d)?;
        self.pricing = PricingV2::decode(d)?;
        self.killed = d.bool()?;
        self.halted = d.bool()?;
        self.desk = Position::decode(d)?;
        self.exec = ExecWindow::decode(d)?;
        self.vol_m = d.i64()?;
        self.last_mid = d.i64()?;
        Ok(())
    }
}

impl Encode for QuoteSlot {
    fn encode<O: Out>(&self, o: &mut O) {
        let QuoteSlot { id, client, ci, rfq_id, sides, created, valid_until, partial, fee_cbps, state } = *self;
        o.u64(id);
        o.u16(client);
        o.u16(ci);
        o.u64(rfq_id);
        for (p, x) in sides {
            o.i64(p);
            o.i64(x);
        }
        o.i64(created);
        o.i64(valid_until);
        o.bool(partial);
        o.i64(fee_cbps);
        o.u8(state.code() as u8);
    }
}

impl Decode for QuoteSlot {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        Ok(QuoteSlot {
            id: d.u64()?,
            client: d.u16()?,
            ci: d.u16()?,
            rfq_id: d.u64()?,
            sides: [(d.i64()?, d.i64()?), (d.i64()?, d.i64()?)],
            created: d.i64()?,
            valid_until: d.i64()?,
            partial: d.bool()?,
            fee_cbps: d.i64()?,
            state: QuoteState::of_code(d.u8()?).ok_or_else(|| corrupt("quote state"))?,
        })
    }
}

impl Encode for PendingSlot {
    fn encode<O: Out>(&self, o: &mut O) {
        let PendingSlot { id, client, ci, side, qty, in_quote, limit, ttl, rfq_id, indicative, deadline } = *self;
        o.u64(id);
        o.u16(client);
        o.u16(ci);
        o.u8(side);
        o.i64(qty);
        o.bool(in_quote);
        o.i64(limit);
        o.i64(ttl);
        o.u64(rfq_id);
        o.i64(indicative);
        o.i64(deadline);
    }
}

impl Decode for PendingSlot {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        Ok(PendingSlot {
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
        })
    }
}

/// A list whose length the configuration fixes: the count, then each entry.
fn save_list<O: Out, T: Persist>(o: &mut O, list: &[T]) {
    o.len(list.len());
    for e in list {
        e.save(o);
    }
}

/// Used slots of a fixed table as `(slot, entry)`; free slots (`id == 0`) are not written.
fn save_table<O: Out, T: Encode>(o: &mut O, table: &[T], used: impl Fn(&T) -> bool) {
    o.len(table.iter().filter(|e| used(e)).count());
    for (slot, e) in table.iter().enumerate().filter(|(_, e)| used(e)) {
        o.u32(slot as u32);
        e.encode(o);
    }
}

/// The RFQ workflow: desk settings and switches, tiers, clients, per-composite settings, the
/// quote table, both deadline heaps in heap order, pending approvals and their free list, the
/// duplicate-id table, the kill-switch scan, counters. Lookup tables (`tier_by_id`,
/// `client_by_id`), table masks and the credit scale come from the configuration.
impl Persist for RfqState {
    fn save<O: Out>(&self, o: &mut O) {
        let RfqState {
            tiers,
            tier_by_id: _,
            clients,
            client_by_id: _,
            inst,
            desk,
            desk_killed,
            quotes,
            qmask: _,
            last_quote,
            expiry,
            pending,
            pending_heap,
            free_pending,
            pending_count,
            last_request,
            last_trade,
            dedup,
            kill_scan,
            stats,
            credit_cent: _,
        } = self;
        let DeskSpec { exec_count, exec_window_ns, quote_table, max_pending } = *desk;
        o.u32(exec_count);
        o.i64(exec_window_ns);
        o.len(quote_table);
        o.len(max_pending);
        o.bool(*desk_killed);
        save_list(o, tiers);
        save_list(o, clients);
        save_list(o, inst);
        o.u64(*last_quote);
        o.u64(*last_request);
        o.u64(*last_trade);
        save_table(o, quotes, |q| q.id != 0);
        expiry.save(o);
        pending_heap.save(o);
        save_table(o, pending, |p| p.id != 0);
        o.len(free_pending.len());
        for &s in free_pending {
            o.u32(s);
        }
        o.len(*pending_count);
        dedup.save(o);
        let (a, b) = kill_scan.unwrap_or((0, 0));
        o.bool(kill_scan.is_some());
        o.len(a);
        o.len(b);
        stats.save(o);
    }

    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let r = self;
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
        d.same_len(r.tiers.len(), "tiers")?;
        for t in &mut r.tiers {
            t.load(d)?;
        }
        d.same_len(r.clients.len(), "clients")?;
        for k in 0..r.clients.len() {
            r.clients[k].load(d)?;
            let (id, tier) = (r.clients[k].spec.id, r.clients[k].spec.tier);
            if r.tier_index(tier).is_none() {
                return Err(corrupt(format!("client {id}: unknown tier {tier}")));
            }
        }
        d.same_len(r.inst.len(), "RFQ composites")?;
        for i in &mut r.inst {
            i.load(d)?;
        }
        r.last_quote = d.u64()?;
        r.last_request = d.u64()?;
        r.last_trade = d.u64()?;
        let (nclients, ncomp, qt) = (r.clients.len(), r.inst.len(), r.quotes.len());
        r.quotes.iter_mut().for_each(|q| *q = QuoteSlot::EMPTY);
        for _ in 0..d.len(qt, "quotes")? {
            let slot = d.u32()? as usize;
            let q = QuoteSlot::decode(d)?;
            if slot >= qt || q.id == 0 || (q.id & r.qmask) as usize != slot || q.client as usize >= nclients || q.ci as usize >= ncomp {
                return Err(corrupt(format!("quote {} in slot {slot}", q.id)));
            }
            r.quotes[slot] = q;
        }
        Persist::load(&mut r.expiry, d)?;
        Persist::load(&mut r.pending_heap, d)?;
        let mp = r.pending.len();
        r.pending.iter_mut().for_each(|p| *p = PendingSlot::EMPTY);
        for _ in 0..d.len(mp, "pending approvals")? {
            let slot = d.u32()? as usize;
            let p = PendingSlot::decode(d)?;
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
        Persist::load(&mut r.dedup, d)?;
        let scan = d.bool()?;
        let (a, b) = (d.u64()?, d.u64()?);
        r.kill_scan = scan.then_some((a as usize, b as usize));
        if scan && a as usize >= qt.max(1) {
            return Err(corrupt("kill scan position"));
        }
        r.stats.load(d)
    }
}
