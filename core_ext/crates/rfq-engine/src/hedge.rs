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

use crate::core::{echo, Core, Sink};
use crate::codec::{corrupt, mismatch, Dec, Decode, Encode, Out, Persist, R};
use crate::pricing::PPM;
use rfq_book::composite::{Conversion, QtyConversion, MAX_MEMBERS};
use crate::positions::Position;
use rfq_match::{AccountConfig, BookConfig, Event as MatchEvent, OrderBook, OrderType, PostOnly, StpMode, TimeInForce};
use rfq_model::{HedgeMode, HedgeSpec, HedgeVenue, InstrumentKind, ModelError, Side};
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

/// Hedging of every composite that has a policy, plus the OMS of all hedge orders.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hedging {
    pub states: Vec<HedgeState>,
    /// Composite index → index into `states`.
    pub by_ci: Vec<Option<usize>>,
    pub oms: Oms,
    pub last_cl_ord_id: u64,
    pub reports: u64,
    pub duplicates: u64,
    pub refused_inputs: u64,
    /// Scratch (not state): matching events of one internal cross or desk order, reserved for
    /// the most one can produce, so crossing does not allocate.
    pub events: Vec<MatchEvent>,
    /// Scratch (not state): reconciliation actions of one venue coming back up, reserved for
    /// every order the OMS can hold.
    pub recon: Vec<rfq_oms::ReconAction>,
}

/// A view of one composite's hedging (the query API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HedgeView {
    /// Composite id.
    pub composite: u16,
    /// Policy (0 off, 1 full, 2 partial, 3 threshold).
    pub mode: u8,
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

pub(crate) fn mode_of(c: u8) -> Option<HedgeMode> {
    [HedgeMode::Off, HedgeMode::Full, HedgeMode::Partial, HedgeMode::Threshold].get(usize::from(c)).copied()
}

pub(crate) fn mode_code(m: HedgeMode) -> u8 {
    match m {
        HedgeMode::Off => 0,
        HedgeMode::Full => 1,
        HedgeMode::Partial => 2,
        HedgeMode::Threshold => 3,
    }
}

impl Hedging {
    /// Build from the configuration; every venue must be a linear/spot member of its composite.
    pub(crate) fn new(core: &Core, specs: &[HedgeSpec]) -> Result<Hedging, ModelError> {
        let mut h = Hedging {
            by_ci: vec![None; core.composites.len()],
            events: Vec::with_capacity(2 * MAX_INTERNAL_FILLS + 2),
            recon: Vec::with_capacity(rfq_oms::DEFAULT_MAX_ORDERS),
            ..Hedging::default()
        };
        for spec in specs {
            let bad = |why: String| ModelError::BadRfq { what: format!("hedging of composite {}", spec.composite), why };
            let ci = core
                .composites
                .iter()
                .position(|c| c.spec.id == spec.composite)
                .ok_or_else(|| bad("no such composite".into()))?;
            let c = &core.composites[ci];
            let mut venues = Vec::new();
            for v in &spec.venues {
                let member = c
                    .members
                    .iter()
                    .position(|m| core.instruments[m.inst].spec.id == v.instrument)
                    .ok_or_else(|| bad(format!("venue {}: instrument {} is not a member", v.name, v.instrument)))?;
                let m = &c.members[member];
                let inst = &core.instruments[m.inst].spec;
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
        Ok(h)
    }

    fn venue(&self, venue: u16) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.states.iter().enumerate().flat_map(move |(hi, s)| {
            s.venues.iter().enumerate().filter(move |(_, v)| v.spec.venue == venue).map(move |(vi, _)| (hi, vi))
        })
    }

    fn order_venue(&self, venue: u16, instrument: u16) -> Option<(usize, usize)> {
        self.venue(venue).find(|&(hi, vi)| self.states[hi].venues[vi].spec.instrument == instrument)
    }

    pub(crate) fn view(&self, hi: usize) -> HedgeView {
        let s = &self.states[hi];
        HedgeView {
            composite: s.spec.composite,
            mode: mode_code(s.spec.mode),
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

/// How one routing splits its need: member units per venue, each at its worst level price,
/// and composite units crossed in the internal book; with the market its orders are checked
/// against.
struct RoutePlan {
    /// Venues considered (`≤ MAX_MEMBERS`).
    n: usize,
    alloc: [i64; MAX_MEMBERS],
    worst: [i64; MAX_MEMBERS],
    int_alloc: i64,
    int_worst: i64,
    /// Some venue was up with a usable book.
    any_up: bool,
    /// A venue's limits (max order, max position, max notional) stopped it.
    capped: bool,
    /// The composite's mid and collar, for the collar check of each order.
    mid: Option<i64>,
    collar: Option<i64>,
}

/// The router's walk: the ladders of the venues that are up and usable and the desk orders of
/// the internal book, taken best effective price first.
struct Router<'a> {
    s: &'a HedgeState,
    buy: bool,
    slip: i128,
    /// The instrument's max notional of one hedge order (exact notional scale).
    max_n: Option<i128>,
    iters: [Option<rfq_book::Levels<'a>>; MAX_MEMBERS],
    heads: [Option<(i64, i64)>; MAX_MEMBERS],
    /// Member units still allowed per venue.
    cap: [i64; MAX_MEMBERS],
    int_iter: Option<rfq_match::Orders<'a>>,
    int_head: Option<rfq_match::RestingOrder>,
    int_orders: usize,
    plan: RoutePlan,
}

impl<'a> Router<'a> {
    /// Opens the ladders of the venues of `hi` that are up, usable and within their limits,
    /// and the internal book's other side.
    fn open(core: &'a Core, hi: usize, need: i64) -> Router<'a> {
        let s = &core.hedging.states[hi];
        let ci = s.ci;
        let buy = need > 0;
        let side = if buy { Side::Ask } else { Side::Bid };
        let n = s.venues.len().min(MAX_MEMBERS);
        let inst = &core.rfq.inst[ci];
        let mut r = Router {
            s,
            buy,
            slip: i128::from(s.spec.max_slippage_cbps),
            max_n: inst.risk.as_ref().map(|x| i128::from(x.max_notional) * inst.cent),
            iters: Default::default(),
            heads: [None; MAX_MEMBERS],
            cap: [0; MAX_MEMBERS],
            int_iter: None,
            int_head: None,
            int_orders: 0,
            plan: RoutePlan {
                n,
                alloc: [0; MAX_MEMBERS],
                worst: [0; MAX_MEMBERS],
                int_alloc: 0,
                int_worst: 0,
                any_up: false,
                capped: false,
                mid: core.mid_of(ci),
                collar: inst.risk.as_ref().map(|x| x.collar_cbps),
            },
        };
        let c = &core.composites[ci];
        for (vi, v) in s.venues.iter().enumerate().take(n) {
            if !(v.up && core.usable(c, v.member)) {
                continue;
            }
            r.plan.any_up = true;
            let mut lim = v.max_order;
            if v.spec.max_position > 0 {
                let room = if buy { v.spec.max_position - v.position - v.working.max(0) } else { v.spec.max_position + v.position + v.working.min(0) };
                lim = lim.min(room.max(0));
            }
            r.cap[vi] = lim - lim % v.lot;
            if r.cap[vi] <= 0 {
                r.plan.capped = true;
                continue;
            }
            let mut it = core.instruments[v.inst].book.ladder(side).iter();
            r.heads[vi] = it.next();
            r.iters[vi] = Some(it);
        }
        // the internal crossing book: desk orders on the other side, in priority order
        r.int_iter = s.internal.as_ref().map(|i| i.book.orders(side));
        r.int_head = r.int_iter.as_mut().and_then(Iterator::next);
        r
    }

    /// Splits `|need|` (composite units) level by level, best effective price first.
    fn split(mut self, need: i64) -> RoutePlan {
        let mut left = need.abs();
        while left > 0 {
            let best = self.best_venue();
            if self.internal_first(best) {
                left -= self.take_internal(left);
                continue;
            }
            let Some((vi, _)) = best else { break };
            left -= self.take_venue(vi, left);
        }
        self.plan
    }

    /// The effective price of level price `p` at venue `vi`: composite scale, taker fee
    /// included.
    #[inline]
    fn effective(&self, vi: usize, p: i64) -> i128 {
        let f = i128::from(self.s.venues[vi].spec.taker_cbps);
        let cp = i128::from(self.s.venues[vi].conv.convert(p, 0).0);
        if self.buy {
            cp * (PPM + f)
        } else {
            cp * (PPM - f)
        }
    }

    /// The venue whose head level has the best effective price, with that price.
    fn best_venue(&self) -> Option<(usize, i128)> {
        let mut best: Option<(usize, i128)> = None;
        for vi in 0..self.plan.n {
            let Some((p, _)) = self.heads[vi] else { continue };
            let e = self.effective(vi, p);
            let better = match best {
                None => true,
                Some((_, b)) => (self.buy && e < b) || (!self.buy && e > b),
            };
            if better {
                best = Some((vi, e));
            }
        }
        best
    }

    /// The next desk order goes before the best venue: fee 0, and preferred at an equal
    /// effective price.
    fn internal_first(&self, best: Option<(usize, i128)>) -> bool {
        let Some(o) = self.int_head else { return false };
        let e = i128::from(o.price) * PPM;
        match best {
            None => true,
            Some((_, b)) => (self.buy && e <= b) || (!self.buy && e >= b),
        }
    }

    /// Takes the next desk order (at most `left`, at most [`MAX_INTERNAL_FILLS`] orders);
    /// returns the composite units taken.
    fn take_internal(&mut self, left: i64) -> i64 {
        let o = self.int_head.expect("a desk order is next");
        let take = o.qty.min(left);
        self.plan.int_alloc += take;
        self.plan.int_worst = o.price;
        self.int_orders += 1;
        self.int_head = if self.int_orders < MAX_INTERNAL_FILLS { self.int_iter.as_mut().and_then(Iterator::next) } else { None };
        take
    }

    /// Takes from the head level of venue `vi` what its lot, limits, the max notional and
    /// `left` allow, then moves to its next level or stops the venue; returns the composite
    /// units taken.
    fn take_venue(&mut self, vi: usize, left: i64) -> i64 {
        let s = self.s;
        let v = &s.venues[vi];
        let (p, q) = self.heads[vi].expect("best has a head");
        let want = left / v.qty_mult; // member units
        let alloc = self.plan.alloc[vi];
        let mut take = q.min(want).min(self.cap[vi] - alloc);
        let unit_n = i128::from(v.conv.convert(p, 0).0) * (PPM + self.slip) / PPM * i128::from(v.qty_mult);
        if let Some(mn) = self.max_n {
            // this level is the worst so far: the whole order is valued at it
            let room = i64::try_from(mn / unit_n.max(1)).unwrap_or(i64::MAX) - alloc;
            if take > room {
                take = room;
                self.cap[vi] = alloc + room - room % v.lot; // this venue is done for this routing
            }
        }
        take -= take % v.lot;
        let mut taken = 0;
        if take > 0 {
            self.plan.alloc[vi] += take;
            self.plan.worst[vi] = p;
            taken = take * v.qty_mult;
        }
        if take < q.min(want) || self.plan.alloc[vi] >= self.cap[vi] {
            // lot, cap or the remaining need stops this venue
            self.plan.capped |= self.plan.alloc[vi] >= self.cap[vi];
            self.heads[vi] = None;
        } else {
            self.heads[vi] = self.iters[vi].as_mut().and_then(Iterator::next);
        }
        taken
    }
}

/// The limit price of a hedge order whose worst level price is `worst`: plus (buy) or minus
/// (sell) the slippage tolerance `slip` (cbps), rounded to the tick against the desk.
#[inline]
fn hedge_limit(worst: i64, tick: i64, slip: i128, buy: bool) -> i64 {
    let w = i128::from(worst);
    if buy {
        let x = (w * (PPM + slip) / PPM) as i64;
        x - x.rem_euclid(tick)
    } else {
        let x = rfq_model::fixed::div_ceil_i128(w * (PPM - slip), PPM) as i64;
        x + (tick - x.rem_euclid(tick)) % tick
    }
}

impl Core {
    /// Hedging is possible for composite `ci`, or not needed (no policy / mode off).
    pub(crate) fn hedge_ok(&self, ci: usize) -> bool {
        let Some(hi) = self.hedging.by_ci.get(ci).copied().flatten() else { return true };
        let s = &self.hedging.states[hi];
        s.spec.mode == HedgeMode::Off || s.venues.iter().any(|v| v.up && self.usable(&self.composites[ci], v.member))
    }

    /// Publish a `HEDGE_STATUS` when the availability of `hi` changed.
    fn hedge_status(&mut self, hi: usize, trigger: &Record, out: &mut impl Sink) {
        let ci = self.hedging.states[hi].ci;
        let ok = self.hedge_ok(ci);
        let s = &mut self.hedging.states[hi];
        if ok != s.available {
            s.available = ok;
            out.emit(&Record {
                kind: kind::HEDGE_STATUS,
                instrument: s.spec.composite,
                side: u8::from(ok),
                flags: flags::END,
                source: 0,
                seq: 0,
                ts_event: 0,
                ts_recv: self.now,
                price: s.pending,
                qty: s.client_flow + s.hedged,
                aux: if ok { 0 } else { rfq_reject::HEDGE_UNAVAILABLE },
                ts_send: trigger.ts_send,
            });
        }
    }

    /// Publish availability changes of every hedged composite (after market data or time moved).
    pub(crate) fn hedge_status_all(&mut self, trigger: &Record, out: &mut impl Sink) {
        for hi in 0..self.hedging.states.len() {
            self.hedge_status(hi, trigger, out);
        }
    }

    /// A client fill moved the desk position of composite `ci` by `dq` at `price`: hedge it.
    pub(crate) fn on_client_fill(&mut self, ci: usize, dq: i64, price: i64, trigger: &Record, out: &mut impl Sink) {
        let Some(hi) = self.hedging.by_ci.get(ci).copied().flatten() else { return };
        let s = &mut self.hedging.states[hi];
        s.client_flow += dq;
        s.ref_qty += dq.abs();
        s.ref_notional += i128::from(price) * i128::from(dq.abs());
        self.hedge_evaluate(hi, trigger, out);
    }

    /// Retries that fell due (called on heartbeats and before RFQ-family records).
    pub(crate) fn hedge_timers(&mut self, trigger: &Record, out: &mut impl Sink) {
        for hi in 0..self.hedging.states.len() {
            let at = self.hedging.states[hi].retry_at;
            if at != 0 && self.now >= at {
                self.hedging.states[hi].retry_at = 0;
                self.hedge_evaluate(hi, trigger, out);
            }
        }
    }

    /// Apply the policy: route what still needs hedging.
    fn hedge_evaluate(&mut self, hi: usize, trigger: &Record, out: &mut impl Sink) {
        let s = &self.hedging.states[hi];
        if s.retry_at != 0 && self.now < s.retry_at {
            return;
        }
        let target = match s.spec.mode {
            HedgeMode::Off => return,
            HedgeMode::Full => -s.client_flow,
            HedgeMode::Partial => -((i128::from(s.client_flow) * i128::from(s.spec.ratio_pct) / 100) as i64),
            HedgeMode::Threshold => {
                if (s.client_flow + s.hedged + s.pending).abs() < s.spec.threshold {
                    return;
                }
                -s.client_flow
            }
        };
        let need = target - s.hedged - s.pending;
        if need != 0 {
            self.route(hi, need, trigger, out);
        }
        self.hedge_status(hi, trigger, out);
    }

    /// The smart order router: split `need` (composite qty, + = buy) across the venues that are
    /// up and usable, walking their books best effective price first (taker fee included), and
    /// send one IOC limit order per venue at its worst level price plus the slippage tolerance.
    fn route(&mut self, hi: usize, need: i64, trigger: &Record, out: &mut impl Sink) {
        let plan = Router::open(self, hi, need).split(need);
        let buy = need > 0;
        let mut sent = 0;
        if plan.int_alloc > 0 {
            self.cross_internal(hi, buy, plan.int_alloc, plan.int_worst, trigger, out);
            sent += 1;
        }
        for vi in 0..plan.n {
            if plan.alloc[vi] != 0 && self.send_hedge_order(hi, vi, buy, &plan, trigger, out) {
                sent += 1;
            }
        }
        self.route_rest(hi, need, &plan, sent, trigger, out);
    }

    /// Sends venue `vi` its share of the plan as an IOC limit order at its worst level price
    /// plus the slippage tolerance (rounded to the tick, against the desk); refused
    /// (`HEDGE_REJECT`) outside the composite's collar or by the OMS. Returns whether it was sent.
    fn send_hedge_order(&mut self, hi: usize, vi: usize, buy: bool, plan: &RoutePlan, trigger: &Record, out: &mut impl Sink) -> bool {
        let s = &self.hedging.states[hi];
        let v = &s.venues[vi];
        let (tick, conv, venue, inst_id) = (v.tick, v.conv, v.spec.venue, v.spec.instrument);
        let qty = plan.alloc[vi];
        let limit = hedge_limit(plan.worst[vi], tick, i128::from(s.spec.max_slippage_cbps), buy);
        let (climit, _) = conv.convert(limit, 0);
        let in_collar = match (plan.mid, plan.collar) {
            (Some(m), Some(cb)) => (i128::from(climit) - i128::from(m)).abs() * PPM <= i128::from(cb) * i128::from(m),
            _ => false,
        };
        if !in_collar {
            self.hedge_refuse(hi, inst_id, venue, rfq_reject::HEDGE_COLLAR, qty, limit, trigger, out);
            return false;
        }
        self.hedging.last_cl_ord_id += 1;
        let id = self.hedging.last_cl_ord_id;
        let req = NewOrder { cl_ord_id: id, venue, instrument: u32::from(inst_id), side: if buy { Side::Bid } else { Side::Ask }, price: limit, qty };
        let ok = self.hedging.oms.new_order(&req).and_then(|()| self.hedging.oms.mark_sent(id));
        if let Err(e) = ok {
            self.hedge_refuse(hi, inst_id, venue, rfq_reject::OMS_BASE + i64::from(e.index()), qty, limit, trigger, out);
            return false;
        }
        let s = &mut self.hedging.states[hi];
        let signed = if buy { qty } else { -qty };
        s.venues[vi].working += signed;
        s.pending += signed * s.venues[vi].qty_mult;
        s.orders += 1;
        out.emit(&Record {
            kind: kind::HEDGE_ORDER,
            instrument: inst_id,
            side: u8::from(!buy),
            flags: flags::END,
            source: venue,
            seq: id,
            ts_event: 0,
            ts_recv: self.now,
            price: limit,
            qty,
            aux: i64::from(s.spec.composite),
            ts_send: trigger.ts_send,
        });
        true
    }

    /// After a routing that sent `sent` orders: what it could not route (caps, thin books,
    /// lots) is routed again after the retry delay; one that sent nothing is refused
    /// (`HEDGE_REJECT` with the reason) and retried after the delay.
    fn route_rest(&mut self, hi: usize, need: i64, plan: &RoutePlan, sent: usize, trigger: &Record, out: &mut impl Sink) {
        let routed: i64 = plan.int_alloc + (0..plan.n).map(|vi| plan.alloc[vi] * self.hedging.states[hi].venues[vi].qty_mult).sum::<i64>();
        if sent > 0 && routed < need.abs() {
            // the rest (caps, thin books, lots) is routed again after the retry delay
            let retry = self.hedging.states[hi].spec.retry_ns.max(1);
            self.hedging.states[hi].retry_at = self.now.saturating_add(retry);
        }
        if sent == 0 {
            let reason = if !plan.any_up {
                rfq_reject::HEDGE_UNAVAILABLE
            } else if plan.capped {
                rfq_reject::HEDGE_VENUE_LIMIT
            } else {
                rfq_reject::HEDGE_NO_LIQUIDITY
            };
            let composite = self.hedging.states[hi].spec.composite;
            self.hedge_refuse(hi, composite, 0, reason, need.abs(), 0, trigger, out);
            let retry = self.hedging.states[hi].spec.retry_ns.max(1);
            self.hedging.states[hi].retry_at = self.now.saturating_add(retry);
        }
    }

    /// A hedge fill of `cq` at `cp` (composite scales) and `fee` (composite notional scale):
    /// hedged quantity, desk position, fees, slippage against the quoted prices of the unhedged
    /// client flow (average first). Returns this fill's slippage in cbps (+ = cost).
    fn book_hedge_fill(&mut self, hi: usize, buy: bool, cq: i64, cp: i64, fee: i128) -> i64 {
        let sign = if buy { 1 } else { -1 };
        let s = &mut self.hedging.states[hi];
        s.hedged += sign * cq;
        s.fills += 1;
        s.fees += fee;
        let mut slip_cbps = 0;
        let matched = cq.min(s.ref_qty);
        if matched > 0 {
            let ref_part = s.ref_notional * i128::from(matched) / i128::from(s.ref_qty);
            let paid = i128::from(cp) * i128::from(matched);
            let cost = if buy { paid - ref_part } else { ref_part - paid };
            s.ref_qty -= matched;
            s.ref_notional -= ref_part;
            s.slippage += cost;
            s.matched_notional += ref_part;
            slip_cbps = (cost * PPM / ref_part.max(1)) as i64;
        }
        let desk = &mut self.rfq.inst[s.ci].desk;
        desk.apply(sign * cq, cp);
        desk.fees += fee;
        slip_cbps
    }

    /// Cross `qty` of client flow against the internal book's desk orders (an IOC taker order
    /// limited at `limit`): each fill is booked like a venue fill (venue 0) and reported to the
    /// desk order's owner.
    fn cross_internal(&mut self, hi: usize, buy: bool, qty: i64, limit: i64, trigger: &Record, out: &mut impl Sink) {
        let s = &mut self.hedging.states[hi];
        let composite = s.spec.composite;
        let Some(int) = s.internal.as_mut() else { return };
        int.next_taker += 1;
        let taker = TAKER_ID_BASE | int.next_taker;
        let order = rfq_match::NewOrder {
            id: taker,
            account: FLOW_ACCOUNT,
            side: if buy { Side::Bid } else { Side::Ask },
            kind: OrderType::Limit,
            tif: TimeInForce::Ioc,
            post_only: PostOnly::Off,
            price: limit,
            qty,
        };
        // the reserved scratch vector, moved out while the loop below borrows the core
        let mut events = std::mem::take(&mut self.hedging.events);
        events.clear();
        int.book.submit(&order, &mut events);
        let now = self.now;
        for e in events.drain(..) {
            let MatchEvent::Trade { maker_id, price, qty, maker_remaining, .. } = e else { continue };
            let sign = if buy { 1 } else { -1 };
            if let Some(int) = self.hedging.states[hi].internal.as_mut() {
                int.position.apply(-sign * qty, price);
                int.fills += 1;
            }
            let slip = self.book_hedge_fill(hi, buy, qty, price, 0);
            out.emit(&Record {
                kind: kind::HEDGE_REPORT,
                instrument: composite,
                side: rfq_oms::OrderState::Filled.code(),
                flags: flags::END,
                source: 0,
                seq: taker,
                ts_event: 0,
                ts_recv: now,
                price,
                qty,
                aux: slip,
                ts_send: trigger.ts_send,
            });
            out.emit(&Record {
                kind: kind::DESK_ORDER_EVENT,
                instrument: composite,
                side: desk_event::FILL,
                flags: flags::END,
                source: 0,
                seq: maker_id,
                ts_event: 0,
                ts_recv: now,
                price,
                qty,
                aux: maker_remaining,
                ts_send: trigger.ts_send,
            });
        }
        self.hedging.events = events;
    }

    /// `DESK_ORDER`: a desk order for the internal crossing book (`aux` 0 = new GTC limit,
    /// post-only; 1 = cancel), or a cancel. Answered by `DESK_ORDER_EVENT`s.
    pub(crate) fn on_desk_order(&mut self, r: &Record, out: &mut impl Sink) {
        let now = self.now;
        let ev = |side: u8, price: i64, qty: i64, aux: i64| Record { price, qty, ..echo(r, kind::DESK_ORDER_EVENT, side, aux, now) };
        if r.flags & flags::END == 0 || r.seq == 0 || r.seq >= TAKER_ID_BASE {
            return out.emit(&ev(desk_event::REJECTED, r.price, r.qty, rfq_reject::MALFORMED));
        }
        let hi = self
            .composites
            .iter()
            .position(|c| c.spec.id == r.instrument)
            .and_then(|ci| self.hedging.by_ci.get(ci).copied().flatten())
            .filter(|&hi| self.hedging.states[hi].internal.is_some());
        let Some(hi) = hi else {
            return out.emit(&ev(desk_event::REJECTED, r.price, r.qty, rfq_reject::NO_INTERNAL_BOOK));
        };
        if r.aux != 0 && r.aux != 1 {
            return out.emit(&ev(desk_event::REJECTED, r.price, r.qty, rfq_reject::BAD_COMMAND));
        }
        if r.aux == 0 && r.side > 1 {
            return out.emit(&ev(desk_event::REJECTED, r.price, r.qty, rfq_reject::BAD_SIDE));
        }
        let mut events = std::mem::take(&mut self.hedging.events);
        events.clear();
        let int = self.hedging.states[hi].internal.as_mut().expect("filtered");
        match r.aux {
            0 => {
                let order = rfq_match::NewOrder {
                    id: r.seq,
                    account: DESK_ACCOUNT,
                    side: if r.side == 0 { Side::Bid } else { Side::Ask },
                    kind: OrderType::Limit,
                    tif: TimeInForce::Gtc,
                    post_only: PostOnly::Reject,
                    price: r.price,
                    qty: r.qty,
                };
                int.book.submit(&order, &mut events);
            }
            _ => int.book.cancel(r.seq, &mut events),
        }
        for e in events.drain(..) {
            match e {
                MatchEvent::Accepted { price, qty, .. } => out.emit(&ev(desk_event::ACCEPTED, price, qty, 0)),
                MatchEvent::Rejected { reason, .. } => {
                    out.emit(&ev(desk_event::REJECTED, r.price, r.qty, rfq_reject::MATCH_BASE + reason as i64));
                }
                MatchEvent::Cancelled { remaining, .. } => out.emit(&ev(desk_event::CANCELLED, r.price, 0, remaining)),
                _ => {}
            }
        }
        self.hedging.events = events;
    }

    #[allow(clippy::too_many_arguments)]
    fn hedge_refuse(&mut self, hi: usize, instrument: u16, venue: u16, reason: i64, qty: i64, price: i64, trigger: &Record, out: &mut impl Sink) {
        self.hedging.states[hi].refused += 1;
        out.emit(&Record {
            kind: kind::HEDGE_REJECT,
            instrument,
            side: hedge_reject::ORDER,
            flags: flags::END,
            source: venue,
            seq: 0,
            ts_event: 0,
            ts_recv: self.now,
            price,
            qty,
            aux: reason,
            ts_send: trigger.ts_send,
        });
    }

    fn input_refuse(&mut self, r: &Record, what: u8, reason: i64, out: &mut impl Sink) {
        self.hedging.refused_inputs += 1;
        out.emit(&echo(r, kind::HEDGE_REJECT, what, reason, self.now));
    }

    /// `VENUE_REPORT`: an execution report of a hedge order.
    pub(crate) fn on_venue_report(&mut self, r: &Record, out: &mut impl Sink) {
        if r.flags & flags::END == 0 || r.seq == 0 {
            return self.input_refuse(r, hedge_reject::REPORT, rfq_reject::MALFORMED, out);
        }
        let Some((hi, vi)) = self.hedging.order_venue(r.source, r.instrument) else {
            return self.input_refuse(r, hedge_reject::REPORT, rfq_reject::UNKNOWN_VENUE, out);
        };
        let reason = u16::try_from(r.aux).unwrap_or(u16::MAX);
        let k = match r.side {
            venue_report::ACK => ReportKind::Ack,
            venue_report::REJECT => ReportKind::Reject { reason },
            venue_report::PARTIAL_FILL => ReportKind::PartialFill { qty: r.qty, price: r.price, fee: r.aux },
            venue_report::FILL => ReportKind::Fill { qty: r.qty, price: r.price, fee: r.aux },
            venue_report::CANCEL_ACK => ReportKind::CancelAck,
            venue_report::CANCEL_REJECT => ReportKind::CancelReject { reason },
            venue_report::EXPIRED => ReportKind::Expired,
            _ => return self.input_refuse(r, hedge_reject::REPORT, rfq_reject::BAD_REPORT, out),
        };
        if matches!(k, ReportKind::PartialFill { .. } | ReportKind::Fill { .. }) && (r.qty <= 0 || r.price <= 0) {
            return self.input_refuse(r, hedge_reject::REPORT, rfq_reject::BAD_REPORT, out);
        }
        let before = self.hedging.oms.order(r.seq).map(|o| (o.filled, o.leaves(), o.req.instrument));
        if before.is_some_and(|b| b.2 != u32::from(r.instrument)) {
            return self.input_refuse(r, hedge_reject::REPORT, rfq_reject::UNKNOWN_VENUE, out);
        }
        let rep = VenueReport { venue: r.source, cl_ord_id: r.seq, venue_order_id: 0, exec_id: r.ts_event as u64, kind: k };
        let state = match self.hedging.oms.apply(&rep) {
            Err(e) => return self.input_refuse(r, hedge_reject::REPORT, rfq_reject::OMS_BASE + i64::from(e.index()), out),
            Ok(Outcome::Duplicate | Outcome::Ignored(_)) => {
                self.hedging.duplicates += 1;
                return;
            }
            Ok(Outcome::Applied(s)) => s,
        };
        self.hedging.reports += 1;
        let (f0, l0, _) = before.expect("applied to a known order");
        let o = self.hedging.oms.order(r.seq).expect("applied to a known order");
        let (f1, l1, buy, qty) = (o.filled, o.leaves(), o.req.side == Side::Bid, o.req.qty);
        let sign = if buy { 1 } else { -1 };
        let s = &mut self.hedging.states[hi];
        let v = &mut s.venues[vi];
        let (qm, conv) = (v.qty_mult, v.conv);
        v.working -= sign * (l0 - l1);
        s.pending -= sign * (l0 - l1) * qm;
        let mut slip_cbps = 0;
        let mut fill_px = 0;
        let filled = f1 - f0;
        if filled > 0 {
            v.position += sign * filled;
            let (cp, cq) = conv.convert(r.price, filled);
            fill_px = r.price;
            let fee = i128::from(r.aux) * i128::from(conv.px_mult) * i128::from(qm);
            slip_cbps = self.book_hedge_fill(hi, buy, cq, cp, fee);
        }
        out.emit(&Record {
            kind: kind::HEDGE_REPORT,
            instrument: r.instrument,
            side: state.code(),
            flags: flags::END,
            source: r.source,
            seq: r.seq,
            ts_event: r.ts_event,
            ts_recv: self.now,
            price: fill_px,
            qty: filled,
            aux: slip_cbps,
            ts_send: r.ts_send,
        });
        if state.is_terminal() && l0 > 0 && f1 < qty {
            // ended with quantity unfilled: route the rest again after the retry delay
            let s = &mut self.hedging.states[hi];
            s.retry_at = self.now.saturating_add(s.spec.retry_ns);
            if s.spec.retry_ns == 0 {
                s.retry_at = 0;
                self.hedge_evaluate(hi, r, out);
            }
        }
        self.hedge_status(hi, r, out);
    }

    /// `VENUE_STATUS`: a venue's link went up (`side` 1) or down (`side` 0).
    pub(crate) fn on_venue_status(&mut self, r: &Record, out: &mut impl Sink) {
        if r.flags & flags::END == 0 || r.side > 1 {
            return self.input_refuse(r, hedge_reject::STATUS, rfq_reject::MALFORMED, out);
        }
        if self.hedging.venue(r.source).next().is_none() {
            return self.input_refuse(r, hedge_reject::STATUS, rfq_reject::UNKNOWN_VENUE, out);
        }
        let up = r.side == 1;
        if up {
            // the venue link reported every in-flight order's outcome before saying up: what is
            // still open here is unknown to the venue (IOC orders) and is closed as cancelled
            if self.hedging.oms.is_disconnected(r.source) || self.hedging.oms.orders().any(|o| o.req.venue == r.source && o.state.is_open()) {
                let mut recon = std::mem::take(&mut self.hedging.recon);
                recon.clear();
                self.hedging.oms.reconcile_into(r.source, &rfq_oms::VenueSnapshot::default(), &mut recon);
                self.hedging.recon = recon;
            }
        } else {
            self.hedging.oms.disconnect_each(r.source, |_| {});
        }
        // every (composite, venue) pair of this venue id, in the order of `Hedging::venue`,
        // without collecting them
        let n = self.hedging.states.len();
        for hi in 0..n {
            for vi in 0..self.hedging.states[hi].venues.len() {
                if self.hedging.states[hi].venues[vi].spec.venue == r.source {
                    self.hedging.states[hi].venues[vi].up = up;
                    if up {
                        self.resync_working(hi);
                        // a venue came back: route at once, whatever retry was pending
                        self.hedging.states[hi].retry_at = 0;
                    }
                }
            }
        }
        for hi in 0..n {
            for vi in 0..self.hedging.states[hi].venues.len() {
                if self.hedging.states[hi].venues[vi].spec.venue == r.source {
                    if up {
                        self.hedge_evaluate(hi, r, out);
                    }
                    self.hedge_status(hi, r, out);
                }
            }
        }
    }

    /// Recompute working / pending quantities of `hi` from the OMS (after reconciliation
    /// closed orders without reports).
    fn resync_working(&mut self, hi: usize) {
        let s = &mut self.hedging.states[hi];
        let mut pending = 0;
        for v in &mut s.venues {
            v.working = self
                .hedging
                .oms
                .orders()
                .filter(|o| o.req.venue == v.spec.venue && o.req.instrument == u32::from(v.spec.instrument))
                .map(|o| if o.req.side == Side::Bid { o.leaves() } else { -o.leaves() })
                .sum();
            pending += v.working * v.qty_mult;
        }
        s.pending = pending;
    }

    /// Hedging views of every composite with a policy.
    pub fn hedge_views(&self) -> Vec<HedgeView> {
        (0..self.hedging.states.len()).map(|hi| self.hedging.view(hi)).collect()
    }

    /// Every hedge order the OMS holds, by client order id.
    pub fn hedge_orders(&self) -> Vec<HedgeOrderView> {
        self.hedging
            .oms
            .orders()
            .map(|o| HedgeOrderView {
                cl_ord_id: o.req.cl_ord_id,
                venue: o.req.venue,
                instrument: o.req.instrument as u16,
                side: u8::from(o.req.side == Side::Ask),
                price: o.req.price,
                qty: o.req.qty,
                filled: o.filled,
                notional: o.notional,
                state: o.state.code(),
            })
            .collect()
    }
}


/// Link state and hedge position of one venue; the rest comes from the configuration.
impl Persist for VenueState {
    fn save<O: Out>(&self, o: &mut O) {
        let VenueState { spec, member: _, inst: _, conv: _, qty_mult: _, lot: _, tick: _, max_order: _, up, position, working } = self;
        o.u16(spec.venue);
        o.bool(*up);
        o.i64(*position);
        o.i64(*working);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let vid = d.u16()?;
        if vid != self.spec.venue {
            return Err(mismatch(format!("hedge venue {vid}, this core's is {}", self.spec.venue)));
        }
        self.up = d.bool()?;
        self.position = d.i64()?;
        self.working = d.i64()?;
        Ok(())
    }
}

/// The internal crossing book: its resting desk orders in priority order per side (restored by
/// resubmitting them, which keeps that order), the taker id counter and the owner's position.
impl Persist for Internal {
    fn save<O: Out>(&self, o: &mut O) {
        let Internal { book, next_taker, position, fills } = self;
        o.u64(*next_taker);
        o.u64(*fills);
        position.encode(o);
        for side in [Side::Bid, Side::Ask] {
            o.len(book.orders(side).count());
            for ord in book.orders(side) {
                o.u64(ord.id);
                o.i64(ord.price);
                o.i64(ord.qty);
            }
        }
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        self.next_taker = d.u64()?;
        self.fills = d.u64()?;
        self.position = Position::decode(d)?;
        if !self.book.is_empty() {
            return Err(mismatch("restoring into a core whose internal book is not empty"));
        }
        for side in [Side::Bid, Side::Ask] {
            for _ in 0..d.len(1 << 22, "internal book orders")? {
                let (id, price, qty) = (d.u64()?, d.i64()?, d.i64()?);
                let order = rfq_match::NewOrder { id, account: DESK_ACCOUNT, side, kind: OrderType::Limit, tif: TimeInForce::Gtc, post_only: PostOnly::Off, price, qty };
                let mut ev: Vec<MatchEvent> = Vec::with_capacity(1);
                self.book.submit(&order, &mut ev);
                if !matches!(ev.as_slice(), [MatchEvent::Accepted { .. }]) {
                    return Err(corrupt(format!("internal book order {id} does not rest again: {ev:?}")));
                }
            }
        }
        Ok(())
    }
}

/// The live policy (CONTROL SET_HEDGE changes it), flow, hedge and slippage totals,
/// availability, counters, venues and the internal book.
impl Persist for HedgeState {
    fn save<O: Out>(&self, o: &mut O) {
        let HedgeState {
            ci: _,
            spec,
            venues,
            client_flow,
            hedged,
            pending,
            ref_qty,
            ref_notional,
            slippage,
            matched_notional,
            fees,
            available,
            retry_at,
            orders,
            fills,
            refused,
            internal,
        } = self;
        let HedgeSpec { composite, mode, ratio_pct, threshold, max_slippage_cbps, retry_ns, venues: _, internal: _ } = spec;
        o.u16(*composite);
        o.u8(mode_code(*mode));
        for v in [*ratio_pct, *threshold, *max_slippage_cbps, *retry_ns] {
            o.i64(v);
        }
        for v in [*client_flow, *hedged, *pending, *ref_qty, *retry_at] {
            o.i64(v);
        }
        for v in [*ref_notional, *slippage, *matched_notional, *fees] {
            o.i128(v);
        }
        o.bool(*available);
        o.u64(*orders);
        o.u64(*fills);
        o.count(*refused);
        o.len(venues.len());
        for v in venues {
            v.save(o);
        }
        o.bool(internal.is_some());
        if let Some(i) = internal {
            i.save(o);
        }
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let id = d.u16()?;
        if id != self.spec.composite {
            return Err(mismatch(format!("hedged composite {id}, this core's is {}", self.spec.composite)));
        }
        self.spec.mode = mode_of(d.u8()?).ok_or_else(|| corrupt("hedging mode"))?;
        self.spec.ratio_pct = d.i64()?;
        self.spec.threshold = d.i64()?;
        self.spec.max_slippage_cbps = d.i64()?;
        self.spec.retry_ns = d.i64()?;
        self.client_flow = d.i64()?;
        self.hedged = d.i64()?;
        self.pending = d.i64()?;
        self.ref_qty = d.i64()?;
        self.retry_at = d.i64()?;
        self.ref_notional = d.i128()?;
        self.slippage = d.i128()?;
        self.matched_notional = d.i128()?;
        self.fees = d.i128()?;
        self.available = d.bool()?;
        self.orders = d.u64()?;
        self.fills = d.u64()?;
        self.refused = d.count()?;
        let nv = d.len(64, "hedge venues")?;
        if nv != self.venues.len() {
            return Err(mismatch(format!("composite {id}: {nv} hedge venues, this core has {}", self.venues.len())));
        }
        for v in &mut self.venues {
            v.load(d)?;
        }
        let has = d.bool()?;
        if has != self.internal.is_some() {
            return Err(mismatch(format!("composite {id}: internal crossing book {has}, this core's {}", self.internal.is_some())));
        }
        if let Some(i) = self.internal.as_mut() {
            i.load(d)?;
        }
        Ok(())
    }
}

/// Per composite hedging, then the OMS of hedge orders (its own encoding, `rfq_oms::Oms::encode`,
/// as a length-prefixed section). Refused and duplicate inputs are counters.
impl Persist for Hedging {
    fn save<O: Out>(&self, o: &mut O) {
        let Hedging { states, by_ci: _, oms, last_cl_ord_id, reports, duplicates, refused_inputs, events: _, recon: _ } = self;
        o.len(states.len());
        for s in states {
            s.save(o);
        }
        o.u64(*last_cl_ord_id);
        o.u64(*reports);
        o.count(*duplicates);
        o.count(*refused_inputs);
        let mut bytes = Vec::new();
        oms.encode(&mut bytes);
        o.len(bytes.len());
        o.put(&bytes);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let n = d.len(1 << 16, "hedged composites")?;
        if n != self.states.len() {
            return Err(mismatch(format!("{n} hedged composites, this core has {}", self.states.len())));
        }
        for s in &mut self.states {
            s.load(d)?;
        }
        self.last_cl_ord_id = d.u64()?;
        self.reports = d.u64()?;
        self.duplicates = d.count()?;
        self.refused_inputs = d.count()?;
        let n = d.len(usize::MAX >> 1, "OMS bytes")?;
        let b = d.take(n)?;
        let (oms, used) = Oms::decode(b).map_err(corrupt)?;
        if used != n {
            return Err(corrupt("OMS section longer than its orders"));
        }
        self.oms = oms;
        Ok(())
    }
}
