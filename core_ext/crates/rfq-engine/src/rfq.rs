//! RFQ workflow state kept by the core (docs/rfq-protocol.md): clients, tiers, per-composite
//! risk and pricing v2, positions, the quote table, pending approvals, and the public views
//! the query API returns.

use crate::hash::Fnv;
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

    pub fn hash(&self, h: &mut Fnv) {
        h.u64(u64::from(self.desk_killed));
        h.u64(u64::from(self.desk.exec_count));
        h.i64(self.desk.exec_window_ns);
        for t in &self.tiers {
            h.u64(u64::from(t.id) | u64::from(t.allow_partial) << 8);
            h.i64(t.markup_cbps);
            h.i64(t.fee_cbps);
            h.i64(t.ttl_ns);
            h.i64(t.max_ttl_ns);
        }
        for c in &self.clients {
            let s = &c.spec;
            h.u64(u64::from(s.id) | u64::from(s.tier) << 16 | u64::from(s.enabled) << 24 | u64::from(c.killed) << 25 | u64::from(c.halted) << 26);
            h.i64(s.credit_limit);
            h.u64(u64::from(s.max_open_quotes) | u64::from(c.open_quotes) << 32);
            h.u64(u64::from(s.rfq_rate.per_sec) | u64::from(s.rfq_rate.burst) << 32);
            h.u64(u64::from(s.accept_rate.per_sec) | u64::from(s.accept_rate.burst) << 32);
            c.rfq_bucket.hash(h);
            c.accept_bucket.hash(h);
            c.exec.hash(h);
            hash_i128(h, c.util);
            for p in &c.positions {
                hash_pos(h, p);
            }
        }
        for i in &self.inst {
            h.u64(u64::from(i.killed) | u64::from(i.halted) << 1 | u64::from(i.risk.is_some()) << 2);
            if let Some(r) = &i.risk {
                for v in [r.min_qty, r.max_qty, r.max_notional, r.long_limit, r.short_limit, r.collar_cbps, r.approval_qty, r.approval_notional, r.approval_timeout_ns] {
                    h.i64(v);
                }
                h.u64(u64::from(r.restricted));
            }
            let p = &i.pricing;
            for v in [p.skew_cbps_per_unit, p.max_skew_cbps, p.vol_mult_pct, i64::from(p.vol_ema_shift), p.hedge_fee_cbps] {
                h.i64(v);
            }
            hash_pos(h, &i.desk);
            i.exec.hash(h);
            h.i64(i.vol_m);
            h.i64(i.last_mid);
        }
        h.u64(self.last_quote);
        h.u64(self.last_request);
        h.u64(self.last_trade);
        h.u64(self.dedup.len() as u64);
        h.u64(self.pending_count as u64);
        h.u64(self.expiry.len() as u64);
        match self.kill_scan {
            Some((a, b)) => {
                h.u64(a as u64);
                h.u64(b as u64);
            }
            None => h.u64(u64::MAX),
        }
        for (s, q) in self.quotes.iter().enumerate() {
            if q.id == 0 {
                continue;
            }
            h.u64(s as u64);
            h.u64(q.id);
            h.u64(u64::from(q.client) | u64::from(q.ci) << 16 | (q.state.code() as u64) << 32 | u64::from(q.partial) << 40);
            h.u64(q.rfq_id);
            for (p, x) in q.sides {
                h.i64(p);
                h.i64(x);
            }
            h.i64(q.created);
            h.i64(q.valid_until);
        }
        for (s, p) in self.pending.iter().enumerate() {
            if p.id == 0 {
                continue;
            }
            h.u64(s as u64);
            h.u64(p.id);
            h.u64(u64::from(p.client) | u64::from(p.ci) << 16 | u64::from(p.side) << 32 | u64::from(p.in_quote) << 40);
            for v in [p.qty, p.limit, p.ttl, p.indicative, p.deadline] {
                h.i64(v);
            }
            h.u64(p.rfq_id);
        }
    }
}

fn hash_i128(h: &mut Fnv, v: i128) {
    h.u64(v as u64);
    h.u64((v >> 64) as u64);
}

fn hash_pos(h: &mut Fnv, p: &Position) {
    h.i64(p.qty);
    hash_i128(h, p.cost);
    hash_i128(h, p.realised);
    hash_i128(h, p.fees);
    h.u64(p.trades);
}
