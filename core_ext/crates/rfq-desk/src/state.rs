//! RFQ workflow state kept by the core (docs/rfq-protocol.md): clients, tiers, per-composite
//! risk and pricing v2, positions, the quote table, pending approvals, and the public views
//! the query API returns.

use rfq_kernel::positions::Position;
use crate::risk::{Bucket, DeadlineHeap, ExecWindow, MAX_EXEC_COUNT};
use rfq_model::{ClientSpec, CompositeSpec, DeskSpec, InstrumentRisk, ModelError, PricingV2, RfqConfig, Throttle, TierSpec};
use crate::dedup::{DedupSet, DEDUP_RESERVE};

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

impl RfqState {
    /// A composite was repriced with this mid: update the volatility estimate.
    pub(crate) fn on_mid(&mut self, ci: usize, mid: i64) {
        let st = &mut self.inst[ci];
        if st.last_mid > 0 {
            let mv = i128::from((mid - st.last_mid).abs()) * 1_000_000_000 / i128::from(st.last_mid);
            let mv = mv.min(i128::from(i64::MAX / 4)) as i64; // milli-cbps
            st.vol_m += (mv - st.vol_m) >> st.pricing.vol_ema_shift;
        }
        st.last_mid = mid;
    }
}
