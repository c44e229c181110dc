//! The order book: arena of order nodes, id map, two sides of levels, and the matching rules.

use crate::idmap::IdMap;
use crate::levels::{SideLevels, NIL};
use crate::types::*;
use rfq_model::fixed::div_ceil_i128;
use rfq_model::Side;

/// One order in the arena. Free nodes are chained through `next`.
#[derive(Debug, Clone, Copy)]
struct Node {
    id: OrderId,
    qty: i64,
    prev: u32,
    next: u32,
    account: AccountId,
    tick: u32,
    side: Side,
    post_only: PostOnly,
}

const FREE_NODE: Node = Node {
    id: 0,
    qty: 0,
    prev: NIL,
    next: NIL,
    account: 0,
    tick: 0,
    side: Side::Bid,
    post_only: PostOnly::Off,
};

/// The aggressor while it matches.
struct Taker {
    id: OrderId,
    account: AccountId,
    side: Side,
    /// Worst tick index it may trade at (a market order: the far end of the band).
    limit: u32,
    remaining: i64,
}

/// How matching ended for the aggressor.
#[derive(PartialEq, Eq)]
enum Outcome {
    /// Filled, or nothing more crosses: `remaining` says which.
    Done,
    /// Self-trade prevention cancelled the aggressor's remainder (event already emitted).
    StpCancelled,
}

/// Fee in units of price × quantity, rounded up (against the account; a rebate rounds down in
/// size). Exact: the product is formed in `i128` and fits by construction (see `BookConfig`
/// validation).
#[inline]
pub fn fee(price: i64, qty: i64, cbps: i32) -> i64 {
    div_ceil_i128(i128::from(price) * i128::from(qty) * i128::from(cbps), 1_000_000) as i64
}

/// A central limit order book for one instrument with price-time priority.
///
/// Single-threaded and deterministic: the same requests give the same events and the same
/// [`OrderBook::state_hash`]. Nothing allocates after [`OrderBook::new`].
#[derive(Debug, Clone)]
pub struct OrderBook {
    cfg: BookConfig,
    nodes: Box<[Node]>,
    free: u32,
    live: usize,
    ids: IdMap,
    bids: SideLevels,
    asks: SideLevels,
    /// Number of ticks in the price band.
    band_ticks: u32,
    accounts: Box<[AccountConfig]>,
}

impl OrderBook {
    /// A book with `cfg`'s band, arena and accounts allocated up front.
    pub fn new(cfg: BookConfig) -> Result<Self, ConfigError> {
        let bad = |s: String| Err(ConfigError(s));
        if cfg.tick <= 0 || cfg.lot <= 0 {
            return bad(format!("tick {} and lot {} must be positive", cfg.tick, cfg.lot));
        }
        if cfg.max_qty <= 0 || cfg.max_qty % cfg.lot != 0 {
            return bad(format!("max_qty {} must be a positive multiple of lot {}", cfg.max_qty, cfg.lot));
        }
        if cfg.min_price <= 0 || cfg.min_price % cfg.tick != 0 || cfg.max_price % cfg.tick != 0 {
            return bad("min_price must be > 0 and both band ends multiples of the tick".into());
        }
        if cfg.max_price < cfg.min_price || (cfg.max_price - cfg.min_price) / cfg.tick >= MAX_BAND_TICKS {
            return bad(format!("band [{}, {}] empty or wider than {MAX_BAND_TICKS} ticks", cfg.min_price, cfg.max_price));
        }
        if i128::from(cfg.max_price) * i128::from(cfg.max_qty) > i128::from(i64::MAX) {
            return bad("max_price × max_qty (notional) must fit in an i64".into());
        }
        if cfg.max_orders == 0 || cfg.max_orders >= NIL as usize || cfg.max_accounts == 0 || cfg.max_accounts > u32::MAX as usize {
            return bad("max_orders and max_accounts must be in 1..2^32-1".into());
        }
        check_fees(&cfg.default_account)?;
        let ticks = ((cfg.max_price - cfg.min_price) / cfg.tick + 1) as usize;
        let mut nodes = vec![FREE_NODE; cfg.max_orders].into_boxed_slice();
        for (i, n) in nodes.iter_mut().enumerate() {
            n.next = if i + 1 < cfg.max_orders { (i + 1) as u32 } else { NIL };
        }
        Ok(OrderBook {
            nodes,
            free: 0,
            live: 0,
            ids: IdMap::new(cfg.max_orders),
            bids: SideLevels::new(ticks, cfg.max_orders, true),
            asks: SideLevels::new(ticks, cfg.max_orders, false),
            band_ticks: ticks as u32,
            accounts: vec![cfg.default_account; cfg.max_accounts].into_boxed_slice(),
            cfg,
        })
    }

    /// Configure one account (STP mode, fees). Takes effect for the next request.
    pub fn set_account(&mut self, account: AccountId, cfg: AccountConfig) -> Result<(), ConfigError> {
        check_fees(&cfg)?;
        match self.accounts.get_mut(account as usize) {
            Some(a) => {
                *a = cfg;
                Ok(())
            }
            None => Err(ConfigError(format!("account {account} ≥ max_accounts {}", self.cfg.max_accounts))),
        }
    }

    /// The book's configuration.
    pub fn config(&self) -> &BookConfig {
        &self.cfg
    }

    /// An account's settings.
    pub fn account(&self, account: AccountId) -> Option<&AccountConfig> {
        self.accounts.get(account as usize)
    }

    /// Number of resting orders.
    #[inline]
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no order rests.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Number of non-empty price levels on `side`.
    pub fn level_count(&self, side: Side) -> usize {
        self.side(side).count as usize
    }

    /// Best bid `(price, total qty)`.
    pub fn best_bid(&self) -> Option<(i64, i64)> {
        self.best(Side::Bid)
    }

    /// Best ask `(price, total qty)`.
    pub fn best_ask(&self) -> Option<(i64, i64)> {
        self.best(Side::Ask)
    }

    /// Best level of `side`, `(price, total qty)`.
    pub fn best(&self, side: Side) -> Option<(i64, i64)> {
        let s = self.side(side);
        (s.best != NIL).then(|| (self.price_of(s.best), s.get(s.best).qty))
    }

    /// A resting order by id.
    pub fn order(&self, id: OrderId) -> Option<RestingOrder> {
        self.ids.get(id).map(|slot| self.view(slot))
    }

    /// Resting orders of `side` in priority order (best price first, then time).
    pub fn orders(&self, side: Side) -> Orders<'_> {
        let s = self.side(side);
        let node = if s.best == NIL { NIL } else { s.get(s.best).head };
        Orders { book: self, side, tick: s.best, node }
    }

    /// A hash of everything that decides future events: every resting order in priority order
    /// (price, id, account, quantity, post-only mode) and the account settings.
    pub fn state_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |x: u64| {
            h = (h ^ x).wrapping_mul(0x0000_0100_0000_01b3);
            h ^= h >> 29;
        };
        for side in [Side::Bid, Side::Ask] {
            mix(self.level_count(side) as u64);
            for o in self.orders(side) {
                mix(o.price as u64);
                mix(o.id);
                mix(u64::from(o.account));
                mix(o.qty as u64);
                mix(o.post_only as u64);
            }
        }
        mix(self.live as u64);
        for a in self.accounts.iter() {
            mix(a.stp as u64);
            mix(a.maker_cbps as u64);
            mix(a.taker_cbps as u64);
        }
        h
    }

    // ----- requests -------------------------------------------------------------------------

    /// Submit a new order. Events: `Rejected`; or `Accepted`, then trades / STP cancels in
    /// priority order, then `Expired` (IOC/market remainder) or nothing (filled, or rests).
    pub fn submit<S: EventSink>(&mut self, o: &NewOrder, sink: &mut S) {
        let reject = |sink: &mut S, reason| sink.event(Event::Rejected { id: o.id, request: Request::New, reason });
        if self.ids.get(o.id).is_some() {
            return reject(sink, RejectReason::DuplicateId);
        }
        if o.account as usize >= self.accounts.len() {
            return reject(sink, RejectReason::UnknownAccount);
        }
        if let Err(r) = self.check_qty(o.qty) {
            return reject(sink, r);
        }
        let market = o.kind == OrderType::Market;
        if o.post_only != PostOnly::Off && (market || o.tif != TimeInForce::Gtc) {
            return reject(sink, RejectReason::InvalidCombination);
        }
        let opp_best = self.side(opposite(o.side)).best;
        let mut limit = if market {
            if opp_best == NIL {
                return reject(sink, RejectReason::NoLiquidity);
            }
            match o.side {
                Side::Bid => self.band_ticks - 1,
                Side::Ask => 0,
            }
        } else {
            match self.tick_of(o.price) {
                Ok(t) => t,
                Err(r) => return reject(sink, r),
            }
        };
        if !market && o.tif == TimeInForce::Gtc && self.live == self.cfg.max_orders {
            return reject(sink, RejectReason::BookFull);
        }
        let crosses = opp_best != NIL && crosses(o.side, limit, opp_best);
        if o.tif == TimeInForce::Fok && !self.fok_fillable(o.account, o.side, limit, o.qty) {
            return reject(sink, RejectReason::FokNotFillable);
        }
        let mut repriced = false;
        if crosses {
            match o.post_only {
                PostOnly::Off => {}
                PostOnly::Reject => return reject(sink, RejectReason::PostOnlyWouldTake),
                PostOnly::Slide => match self.slide(o.side, opp_best) {
                    Some(t) => {
                        limit = t;
                        repriced = true;
                    }
                    None => return reject(sink, RejectReason::PriceOutOfBand),
                },
            }
        }
        sink.event(Event::Accepted {
            id: o.id,
            account: o.account,
            side: o.side,
            price: if market { 0 } else { self.price_of(limit) },
            qty: o.qty,
            repriced,
        });
        let mut taker = Taker { id: o.id, account: o.account, side: o.side, limit, remaining: o.qty };
        let outcome = if crosses && !repriced { self.match_taker(&mut taker, sink) } else { Outcome::Done };
        if outcome == Outcome::Done && taker.remaining > 0 {
            if market || o.tif != TimeInForce::Gtc {
                sink.event(Event::Expired { id: o.id, remaining: taker.remaining });
            } else {
                self.rest(o.id, o.account, o.side, limit, taker.remaining, o.post_only);
            }
        }
    }

    /// Cancel a resting order. Events: `Cancelled { reason: User }` or `Rejected(UnknownOrder)`.
    pub fn cancel<S: EventSink>(&mut self, id: OrderId, sink: &mut S) {
        match self.ids.get(id) {
            Some(slot) => {
                let remaining = self.nodes[slot as usize].qty;
                self.remove(slot);
                sink.event(Event::Cancelled { id, reason: CancelReason::User, remaining });
            }
            None => sink.event(Event::Rejected { id, request: Request::Cancel, reason: RejectReason::UnknownOrder }),
        }
    }

    /// Cancel/replace a resting order to `new_price` with `new_qty` open.
    ///
    /// Same price and a size not increased: the order keeps its queue position. Otherwise it
    /// leaves the queue and re-enters as an aggressive limit GTC order with the same id, account
    /// and post-only mode (a post-only order that would take is rejected — and left unchanged —
    /// or slid). Events: `Rejected`; or `Replaced`, then (losing priority) trades / STP cancels.
    pub fn replace<S: EventSink>(&mut self, id: OrderId, new_price: i64, new_qty: i64, sink: &mut S) {
        let reject = |sink: &mut S, reason| sink.event(Event::Rejected { id, request: Request::Replace, reason });
        let Some(slot) = self.ids.get(id) else {
            return reject(sink, RejectReason::UnknownOrder);
        };
        if let Err(r) = self.check_qty(new_qty) {
            return reject(sink, r);
        }
        let mut t = match self.tick_of(new_price) {
            Ok(t) => t,
            Err(r) => return reject(sink, r),
        };
        let node = self.nodes[slot as usize];
        let old_price = self.price_of(node.tick);
        if t == node.tick && new_qty <= node.qty {
            self.nodes[slot as usize].qty = new_qty;
            self.side_mut(node.side).get_mut(t).qty -= node.qty - new_qty;
            return sink.event(Event::Replaced {
                id,
                old_price,
                old_qty: node.qty,
                new_price,
                new_qty,
                priority_kept: true,
            });
        }
        let opp_best = self.side(opposite(node.side)).best;
        let mut crossing = opp_best != NIL && crosses(node.side, t, opp_best);
        if crossing {
            match node.post_only {
                PostOnly::Off => {}
                PostOnly::Reject => return reject(sink, RejectReason::PostOnlyWouldTake),
                PostOnly::Slide => match self.slide(node.side, opp_best) {
                    Some(s) => {
                        t = s;
                        crossing = false;
                    }
                    None => return reject(sink, RejectReason::PriceOutOfBand),
                },
            }
        }
        self.remove(slot);
        sink.event(Event::Replaced {
            id,
            old_price,
            old_qty: node.qty,
            new_price: self.price_of(t),
            new_qty,
            priority_kept: false,
        });
        let mut taker = Taker { id, account: node.account, side: node.side, limit: t, remaining: new_qty };
        let outcome = if crossing { self.match_taker(&mut taker, sink) } else { Outcome::Done };
        if outcome == Outcome::Done && taker.remaining > 0 {
            self.rest(id, node.account, node.side, t, taker.remaining, node.post_only);
        }
    }

    // ----- matching -------------------------------------------------------------------------

    /// Match `taker` against the opposite side in priority order while prices cross.
    #[inline]
    fn match_taker<S: EventSink>(&mut self, taker: &mut Taker, sink: &mut S) -> Outcome {
        let acct = self.accounts[taker.account as usize];
        let opp_side = opposite(taker.side);
        while taker.remaining > 0 {
            let opp = self.side(opp_side);
            let t = opp.best;
            if t == NIL || !crosses(taker.side, taker.limit, t) {
                break;
            }
            let slot = opp.get(t).head;
            let maker = self.nodes[slot as usize];
            if maker.account == taker.account && acct.stp != StpMode::Off {
                if acct.stp != StpMode::CancelNewest {
                    self.remove(slot);
                    sink.event(Event::Cancelled { id: maker.id, reason: CancelReason::SelfTrade, remaining: maker.qty });
                }
                if acct.stp != StpMode::CancelOldest {
                    sink.event(Event::Cancelled {
                        id: taker.id,
                        reason: CancelReason::SelfTrade,
                        remaining: taker.remaining,
                    });
                    return Outcome::StpCancelled;
                }
                continue;
            }
            let q = maker.qty.min(taker.remaining);
            let price = self.price_of(t);
            taker.remaining -= q;
            let maker_left = maker.qty - q;
            if maker_left == 0 {
                self.remove(slot);
            } else {
                self.nodes[slot as usize].qty = maker_left;
                self.side_mut(opp_side).get_mut(t).qty -= q;
            }
            let maker_cbps = self.accounts[maker.account as usize].maker_cbps;
            sink.event(Event::Trade {
                maker_id: maker.id,
                taker_id: taker.id,
                maker_account: maker.account,
                taker_account: taker.account,
                taker_side: taker.side,
                price,
                qty: q,
                maker_fee: fee(price, q, maker_cbps),
                taker_fee: fee(price, q, acct.taker_cbps),
                maker_remaining: maker_left,
                taker_remaining: taker.remaining,
            });
        }
        Outcome::Done
    }

    /// Would a FOK order fill completely now? Walks the crossing makers in priority order the
    /// way matching would: the account's own orders are skipped under cancel-oldest STP and end
    /// the walk under cancel-newest / cancel-both (the aggressor would be cancelled there).
    fn fok_fillable(&self, account: AccountId, side: Side, limit: u32, qty: i64) -> bool {
        let stp = self.accounts[account as usize].stp;
        let opp = self.side(opposite(side));
        let mut t = opp.best;
        let mut sum = 0_i64;
        while t != NIL && crosses(side, limit, t) {
            let level = opp.get(t);
            if stp == StpMode::Off {
                sum += level.qty;
            } else {
                let mut n = level.head;
                while n != NIL {
                    let node = &self.nodes[n as usize];
                    if node.account == account {
                        if stp != StpMode::CancelOldest {
                            return sum >= qty;
                        }
                    } else {
                        sum += node.qty;
                        if sum >= qty {
                            return true;
                        }
                    }
                    n = node.next;
                }
            }
            if sum >= qty {
                return true;
            }
            t = opp.next_worse(t);
        }
        sum >= qty
    }

    /// Post-only slide: one tick behind the opposite best, if that is inside the band.
    fn slide(&self, side: Side, opp_best: u32) -> Option<u32> {
        match side {
            Side::Bid => opp_best.checked_sub(1),
            Side::Ask => (opp_best + 1 < self.band_ticks).then_some(opp_best + 1),
        }
    }

    // ----- arena and queues -----------------------------------------------------------------

    /// Append an order at the tail of its level.
    fn rest(&mut self, id: OrderId, account: AccountId, side: Side, t: u32, qty: i64, post_only: PostOnly) {
        let slot = self.free;
        debug_assert!(slot != NIL, "rest() with a full arena");
        self.free = self.nodes[slot as usize].next;
        self.live += 1;
        self.ids.insert(id, slot);
        let levels = match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        };
        let level = levels.entry(t);
        let tail = level.tail;
        level.tail = slot;
        level.qty += qty;
        if tail == NIL {
            level.head = slot;
        } else {
            self.nodes[tail as usize].next = slot;
        }
        self.nodes[slot as usize] = Node { id, qty, prev: tail, next: NIL, account, tick: t, side, post_only };
    }

    /// Unlink an order from its level, free its slot and its id: O(1).
    fn remove(&mut self, slot: u32) {
        let node = self.nodes[slot as usize];
        let levels = match node.side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        };
        let level = levels.get_mut(node.tick);
        level.qty -= node.qty;
        if node.prev == NIL {
            level.head = node.next;
        } else {
            self.nodes[node.prev as usize].next = node.next;
        }
        if node.next == NIL {
            level.tail = node.prev;
        } else {
            self.nodes[node.next as usize].prev = node.prev;
        }
        if level.head == NIL {
            levels.vacate(node.tick);
        }
        self.ids.remove(node.id);
        self.nodes[slot as usize].next = self.free;
        self.free = slot;
        self.live -= 1;
    }

    // ----- helpers --------------------------------------------------------------------------

    fn check_qty(&self, qty: i64) -> Result<(), RejectReason> {
        if qty <= 0 || qty > self.cfg.max_qty {
            Err(RejectReason::BadQty)
        } else if qty % self.cfg.lot != 0 {
            Err(RejectReason::OffLot)
        } else {
            Ok(())
        }
    }

    /// Tick index of a limit price, or the reject reason.
    #[inline]
    fn tick_of(&self, price: i64) -> Result<u32, RejectReason> {
        if price <= 0 {
            Err(RejectReason::BadPrice)
        } else if price % self.cfg.tick != 0 {
            Err(RejectReason::OffTick)
        } else if price < self.cfg.min_price || price > self.cfg.max_price {
            Err(RejectReason::PriceOutOfBand)
        } else {
            Ok(((price - self.cfg.min_price) / self.cfg.tick) as u32)
        }
    }

    #[inline]
    fn price_of(&self, t: u32) -> i64 {
        self.cfg.min_price + i64::from(t) * self.cfg.tick
    }

    #[inline]
    fn side(&self, side: Side) -> &SideLevels {
        match side {
            Side::Bid => &self.bids,
            Side::Ask => &self.asks,
        }
    }

    #[inline]
    fn side_mut(&mut self, side: Side) -> &mut SideLevels {
        match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        }
    }

    fn view(&self, slot: u32) -> RestingOrder {
        let n = &self.nodes[slot as usize];
        RestingOrder {
            id: n.id,
            account: n.account,
            side: n.side,
            price: self.price_of(n.tick),
            qty: n.qty,
            post_only: n.post_only,
        }
    }
}

fn check_fees(a: &AccountConfig) -> Result<(), ConfigError> {
    if a.maker_cbps.abs() > MAX_FEE_CBPS || a.taker_cbps.abs() > MAX_FEE_CBPS {
        return Err(ConfigError(format!("fee rates must be within ±{MAX_FEE_CBPS} cbps")));
    }
    Ok(())
}

/// The other side.
#[inline]
pub fn opposite(side: Side) -> Side {
    match side {
        Side::Bid => Side::Ask,
        Side::Ask => Side::Bid,
    }
}

/// Does an aggressor on `side` with limit tick `limit` cross a resting level at tick `t`?
#[inline]
fn crosses(side: Side, limit: u32, t: u32) -> bool {
    match side {
        Side::Bid => t <= limit,
        Side::Ask => t >= limit,
    }
}

/// Resting orders of one side in priority order; see [`OrderBook::orders`].
#[derive(Debug, Clone)]
pub struct Orders<'a> {
    book: &'a OrderBook,
    side: Side,
    tick: u32,
    node: u32,
}

impl Iterator for Orders<'_> {
    type Item = RestingOrder;

    fn next(&mut self) -> Option<RestingOrder> {
        while self.node == NIL {
            if self.tick == NIL {
                return None;
            }
            let s = self.book.side(self.side);
            self.tick = s.next_worse(self.tick);
            if self.tick == NIL {
                return None;
            }
            self.node = s.get(self.tick).head;
        }
        let v = self.book.view(self.node);
        self.node = self.book.nodes[self.node as usize].next;
        Some(v)
    }
}
