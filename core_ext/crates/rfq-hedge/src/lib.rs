//! Hedging on the core thread (docs/hedging.md): the hedging policy, the smart order router,
//! the OMS of hedge orders ([`rfq_oms::Oms`]), hedge positions, slippage, and venue link state.
//!
//! Everything here is driven by journaled records, like the rest of the core:
//! - a client fill (`ACCEPT` → `EXEC`) adds to the composite's client flow, and the policy decides
//!   how much to hedge; the router splits it across the venues that are up and whose member
//!   book is usable, best effective price (taker fee included) first, and emits one IOC
//!   `HEDGE_ORDER` per venue;
//! - a venue link sends the venues' execution reports back as `VENUE_REPORT` records and
//!   link changes as `VENUE_STATUS`; fills move the desk position of the composite, so the
//!   desk's risk checks see hedges at once;
//! - when hedging is configured but impossible (no venue up with a usable book), RFQs are
//!   refused and risk-increasing accepts rejected with `HEDGE_UNAVAILABLE`.
//!
//! The hedging path does not allocate either: the OMS reserves its tables at construction
//! (`rfq_oms::DEFAULT_MAX_ORDERS`, pruning finished orders when full), and the internal cross
//! and a venue's reconnection use scratch vectors reserved here (tests/hedge_alloc*.rs).

#![deny(missing_docs, unsafe_code)]

use rfq_book::composite::{Conversion, QtyConversion, MAX_MEMBERS};
use rfq_kernel::codec::{corrupt, mismatch, Dec, Decode, Encode, Out, Persist, R};
use rfq_kernel::positions::Position;
use rfq_kernel::pricing::PPM;
use rfq_kernel::views::{DeskMove, HedgeInputs};
use rfq_kernel::{echo, Sink};
use rfq_match::{AccountConfig, BookConfig, Event as MatchEvent, OrderBook, OrderType, PostOnly, StpMode, TimeInForce};
use rfq_model::{HedgeMode, HedgeSpec, HedgeVenue, Instrument, InstrumentKind, ModelError, Side};
use rfq_oms::{NewOrder, Oms, Outcome, ReportKind, VenueReport};
use rfq_ring::record::{desk_event, flags, hedge_reject, kind, rfq_reject, venue_report};
use rfq_ring::Record;

/// Most desk orders one routing crosses in the internal book (the rest waits for the next one).
pub const MAX_INTERNAL_FILLS: usize = 8;

/// Most records one hedge evaluation emits: an order per venue, two records per internal
/// fill, a reject and a status.
pub const MAX_HEDGE_OUT: usize = MAX_MEMBERS + 2 * MAX_INTERNAL_FILLS + 3;

/// Internal crossing book accounts: client flow (the router's taker orders) and desk orders.
const FLOW_ACCOUNT: u32 = 0;
const DESK_ACCOUNT: u32 = 1;
/// Taker order ids of the router in the internal book (desk order ids stay below).
const TAKER_ID_BASE: u64 = 1 << 63;

/// The internal crossing book of one composite: desk orders that client flow is matched
/// against before anything goes to an external venue.
#[derive(Debug, Clone)]
pub(crate) struct Internal {
    pub book: OrderBook,
    pub next_taker: u64,
    /// Position of the desk orders' owner (what crossing moved out of the client-flow book).
    pub position: Position,
    pub fills: u64,
}

/// One venue of a composite's hedging.
#[derive(Debug, Clone)]
pub(crate) struct VenueState {
    pub spec: HedgeVenue,
    /// Index of the member in the composite.
    pub member: usize,
    /// Index of the instrument in the core.
    pub inst: usize,
    /// Member units → composite units (linear only).
    pub conv: Conversion,
    /// Composite qty per member qty unit.
    pub qty_mult: i64,
    pub lot: i64,
    pub tick: i64,
    pub max_order: i64,
    /// Link state from `VENUE_STATUS` (down until the gateway says up).
    pub up: bool,
    /// Net hedge position at this venue, member qty units.
    pub position: i64,
    /// Open (working) hedge quantity at this venue, member units, signed (buy +).
    pub working: i64,
}

/// Hedging state of one composite.
#[derive(Debug, Clone)]
pub(crate) struct HedgeState {
    pub ci: usize,
    pub spec: HedgeSpec,
    pub venues: Vec<VenueState>,
    /// Σ desk deltas of client fills (composite qty).
    pub client_flow: i64,
    /// Σ hedge fills, signed (buy +), composite qty.
    pub hedged: i64,
    /// Σ open hedge quantity, signed, composite qty.
    pub pending: i64,
    /// Unhedged client flow not yet matched by hedge fills: |qty| and its notional at the
    /// quoted prices (composite scales), for slippage.
    pub ref_qty: i64,
    pub ref_notional: i128,
    /// Σ hedge slippage against the quoted prices (composite notional scale; + = cost).
    pub slippage: i128,
    /// Σ quoted notional the hedge fills were matched against.
    pub matched_notional: i128,
    /// Σ hedge fees (composite notional scale).
    pub fees: i128,
    /// Last published availability.
    pub available: bool,
    /// Route again (after an order ended unfilled) not before this core time; 0 = no retry due.
    pub retry_at: i64,
    pub orders: u64,
    pub fills: u64,
    pub refused: u64,
    pub internal: Option<Internal>,
}

/// Hedging of every composite that has a policy, plus the OMS of all hedge orders. Single
/// writer: only the core thread mutates it, through the engine.
#[derive(Debug, Clone, Default)]
pub struct Hedging {
    pub(crate) states: Vec<HedgeState>,
    /// Composite index → index into `states`.
    pub(crate) by_ci: Vec<Option<usize>>,
    pub(crate) oms: Oms,
    pub(crate) last_cl_ord_id: u64,
    pub(crate) reports: u64,
    pub(crate) duplicates: u64,
    pub(crate) refused_inputs: u64,
    /// Scratch (not state): matching events of one internal cross or desk order, reserved for
    /// the most one can produce, so crossing does not allocate.
    pub(crate) events: Vec<MatchEvent>,
    /// Scratch (not state): reconciliation actions of one venue coming back up, reserved for
    /// every order the OMS can hold.
    pub(crate) recon: Vec<rfq_oms::ReconAction>,
    /// Hedge fills' moves of the desk position since the last [`Hedging::take_desk_moves`]
    /// (the engine applies them to the desk after each call; reserved).
    pub(crate) desk_moves: Vec<DeskMove>,
}

/// A member of a composite as hedging needs to know it: the instrument's index and
/// specification and its conversion to composite units (from the market, at construction).
#[derive(Debug, Clone, Copy)]
pub struct MemberInfo<'a> {
    /// Instrument index in the core.
    pub inst: usize,
    /// Its specification.
    pub spec: &'a Instrument,
    /// Member units → composite units (without basis).
    pub conv: Conversion,
}

/// A composite as hedging needs to know it: its id and members, in the core's order.
#[derive(Debug, Clone)]
pub struct CompositeInfo<'a> {
    /// Composite id.
    pub id: u16,
    /// Its members in configuration order.
    pub members: Vec<MemberInfo<'a>>,
}

/// A view of one composite's hedging (the query API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HedgeView {
    /// Composite id.
    pub composite: u16,
    /// Policy (0 off, 1 full, 2 partial, 3 threshold).
    pub mode: u8,
    /// `Partial`: percent of the client flow hedged (`SET_HEDGE` field 2).
    pub ratio_pct: i64,
    /// `Threshold`: unhedged size that triggers a hedge, composite qty (field 3).
    pub threshold: i64,
    /// Limit-price tolerance beyond the router's marginal price, cbps (field 4).
    pub max_slippage_cbps: i64,
    /// Wait before routing an unfilled rest again, ns (field 5).
    pub retry_ns: i64,
    /// Hedging possible now (or not needed: mode off).
    pub available: bool,
    /// Σ desk deltas of client fills (composite qty).
    pub client_flow: i64,
    /// Σ hedge fills, signed (composite qty).
    pub hedged: i64,
    /// Open hedge quantity, signed (composite qty).
    pub pending: i64,
    /// Σ slippage against the quoted prices (composite notional scale, + = cost).
    pub slippage: i128,
    /// Σ quoted notional matched by hedge fills.
    pub matched_notional: i128,
    /// Σ hedge fees (composite notional scale).
    pub fees: i128,
    /// Hedge orders sent / fills / orders refused by the core's checks.
    pub orders: u64,
    /// Fills applied.
    pub fills: u64,
    /// Orders refused or not routable.
    pub refused: u64,
    /// Per venue: (venue id, up, position in member units, working qty in member units).
    pub venues: Vec<(u16, bool, i64, i64)>,
    /// Internal crossing book: (desk orders' position qty, its cost, realised P&L, fills,
    /// resting desk orders), composite scales; `None` without one.
    pub internal: Option<(i64, i128, i128, u64, usize)>,
}

/// One hedge order as the OMS holds it (the query API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HedgeOrderView {
    /// Client order id.
    pub cl_ord_id: u64,
    /// Venue id.
    pub venue: u16,
    /// Member instrument id.
    pub instrument: u16,
    /// 0 buy, 1 sell.
    pub side: u8,
    /// Limit price (member scale).
    pub price: i64,
    /// Quantity (member scale).
    pub qty: i64,
    /// Filled quantity.
    pub filled: i64,
    /// Σ price × qty of the fills (member notional scale).
    pub notional: i128,
    /// OMS state code (`rfq_oms::OrderState::code`).
    pub state: u8,
}

/// The hedging mode of a wire code (`HEDGE_STATUS`, SET_HEDGE MODE).
pub fn mode_of(c: u8) -> Option<HedgeMode> {
    [HedgeMode::Off, HedgeMode::Full, HedgeMode::Partial, HedgeMode::Threshold].get(usize::from(c)).copied()
}

/// The wire code of a hedging mode.
pub fn mode_code(m: HedgeMode) -> u8 {
    match m {
        HedgeMode::Off => 0,
        HedgeMode::Full => 1,
        HedgeMode::Partial => 2,
        HedgeMode::Threshold => 3,
    }
}

impl Hedging {
    /// Build from the configuration; every venue must be a linear/spot member of its composite.
    pub fn new(composites: &[CompositeInfo<'_>], specs: &[HedgeSpec]) -> Result<Hedging, ModelError> {
        let mut h = Hedging {
            by_ci: vec![None; composites.len()],
            events: Vec::with_capacity(2 * MAX_INTERNAL_FILLS + 2),
            recon: Vec::with_capacity(rfq_oms::DEFAULT_MAX_ORDERS),
            ..Hedging::default()
        };
        for spec in specs {
            let bad = |why: String| ModelError::BadRfq { what: format!("hedging of composite {}", spec.composite), why };
            let ci = composites.iter().position(|c| c.id == spec.composite).ok_or_else(|| bad("no such composite".into()))?;
            let c = &composites[ci];
            let mut venues = Vec::new();
            for v in &spec.venues {
                let member = c
                    .members
                    .iter()
                    .position(|m| m.spec.id == v.instrument)
                    .ok_or_else(|| bad(format!("venue {}: instrument {} is not a member", v.name, v.instrument)))?;
                let m = &c.members[member];
                let inst = m.spec;
                if inst.kind == InstrumentKind::Inverse {
                    return Err(bad(format!("venue {}: inverse instruments cannot be hedge venues", v.name)));
                }
                let QtyConversion::Linear(qty_mult) = m.conv.qty else {
                    return Err(bad(format!("venue {}: not a linear member", v.name)));
                };
                venues.push(VenueState {
                    spec: v.clone(),
                    member,
                    inst: m.inst,
                    conv: Conversion { offset: 0, ..m.conv },
                    qty_mult,
                    lot: inst.lot.max(1),
                    tick: inst.tick.max(1),
                    max_order: if v.max_order_qty > 0 { v.max_order_qty } else { inst.max_qty },
                    up: false,
                    position: 0,
                    working: 0,
                });
            }
            let internal = match spec.internal {
                None => None,
                Some(b) => {
                    let cfg = BookConfig {
                        tick: b.tick,
                        lot: 1,
                        max_qty: i64::MAX / b.max_price.max(1),
                        min_price: b.min_price,
                        max_price: b.max_price,
                        max_orders: b.max_orders,
                        max_accounts: 2,
                        default_account: AccountConfig { stp: StpMode::CancelNewest, maker_cbps: 0, taker_cbps: 0 },
                    };
                    let book = OrderBook::new(cfg).map_err(|e| bad(format!("internal book: {}", e.0)))?;
                    Some(Internal { book, next_taker: 0, position: Position::default(), fills: 0 })
                }
            };
            h.by_ci[ci] = Some(h.states.len());
            h.states.push(HedgeState {
                ci,
                spec: spec.clone(),
                venues,
                client_flow: 0,
                hedged: 0,
                pending: 0,
                ref_qty: 0,
                ref_notional: 0,
                slippage: 0,
                matched_notional: 0,
                fees: 0,
                available: spec.mode == HedgeMode::Off,
                retry_at: 0,
                orders: 0,
                fills: 0,
                refused: 0,
                internal,
            });
        }
        // the most hedge fills one record books: a venue fill, then every composite's routing
        // crossing the internal book
        h.desk_moves = Vec::with_capacity((h.states.len() + 1) * (MAX_INTERNAL_FILLS + 1));
        Ok(h)
    }

    /// The desk moves of the hedge fills booked since the last call (handed back with
    /// [`Hedging::give_back_desk_moves`], so the buffer keeps its capacity).
    #[inline]
    pub fn take_desk_moves(&mut self) -> Vec<DeskMove> {
        std::mem::take(&mut self.desk_moves)
    }

    /// Hedge fills were booked since the last [`Hedging::take_desk_moves`].
    #[inline]
    pub fn has_desk_moves(&self) -> bool {
        !self.desk_moves.is_empty()
    }

    /// Return the buffer of [`Hedging::take_desk_moves`] (emptied).
    #[inline]
    pub fn give_back_desk_moves(&mut self, mut moves: Vec<DeskMove>) {
        moves.clear();
        self.desk_moves = moves;
    }

    /// Number of composites with a hedging policy.
    #[inline]
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// No composite has a hedging policy.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    fn venue(&self, venue: u16) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.states.iter().enumerate().flat_map(move |(hi, s)| {
            s.venues.iter().enumerate().filter(move |(_, v)| v.spec.venue == venue).map(move |(vi, _)| (hi, vi))
        })
    }

    fn order_venue(&self, venue: u16, instrument: u16) -> Option<(usize, usize)> {
        self.venue(venue).find(|&(hi, vi)| self.states[hi].venues[vi].spec.instrument == instrument)
    }

    /// The view of hedged composite `hi`.
    pub fn view(&self, hi: usize) -> HedgeView {
        let s = &self.states[hi];
        HedgeView {
            composite: s.spec.composite,
            mode: mode_code(s.spec.mode),
            ratio_pct: s.spec.ratio_pct,
            threshold: s.spec.threshold,
            max_slippage_cbps: s.spec.max_slippage_cbps,
            retry_ns: s.spec.retry_ns,
            available: s.available,
            client_flow: s.client_flow,
            hedged: s.hedged,
            pending: s.pending,
            slippage: s.slippage,
            matched_notional: s.matched_notional,
            fees: s.fees,
            orders: s.orders,
            fills: s.fills,
            refused: s.refused,
            venues: s.venues.iter().map(|v| (v.spec.venue, v.up, v.position, v.working)).collect(),
            internal: s.internal.as_ref().map(|i| (i.position.qty, i.position.cost, i.position.realised, i.fills, i.book.len())),
        }
    }
}

mod control;
mod internal;
mod persist;
mod reports;
mod router;
mod routing;
