//! Differential test: the book against a naive reference matcher (a `Vec` of resting orders,
//! every decision a linear scan) on long random request streams, comparing the event streams
//! exactly and the resting orders after every request. Also checked on every stream:
//! quantity conservation, one terminal state per order, an uncrossed book, and that every
//! rejected request leaves the state hash unchanged.

use proptest::prelude::*;
use rfq_match::*;
use rfq_model::Side;
use std::collections::HashMap;

// ----- the reference matcher --------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct RefOrder {
    id: u64,
    account: u32,
    side: Side,
    price: i64,
    qty: i64,
    post: PostOnly,
    /// Time priority: smaller is earlier.
    seq: u64,
}

struct Reference {
    cfg: BookConfig,
    accounts: Vec<AccountConfig>,
    orders: Vec<RefOrder>,
    seq: u64,
}

fn other(s: Side) -> Side {
    if s == Side::Bid {
        Side::Ask
    } else {
        Side::Bid
    }
}

fn ceil_div(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d != 0 && n > 0 {
        q + 1
    } else {
        q
    }
}

fn ref_fee(price: i64, qty: i64, cbps: i32) -> i64 {
    ceil_div(price as i128 * qty as i128 * cbps as i128, 1_000_000) as i64
}

impl Reference {
    fn new(cfg: BookConfig, accounts: Vec<AccountConfig>) -> Self {
        Reference { cfg, accounts, orders: Vec::new(), seq: 0 }
    }

    fn find(&self, id: u64) -> Option<usize> {
        self.orders.iter().position(|o| o.id == id)
    }

    /// Does an aggressor on `side` with limit `limit` (None: market) trade at `price`?
    fn crosses(side: Side, limit: Option<i64>, price: i64) -> bool {
        match (side, limit) {
            (_, None) => true,
            (Side::Bid, Some(l)) => price <= l,
            (Side::Ask, Some(l)) => price >= l,
        }
    }

    /// Index of the best resting order on `side` (best price, then earliest).
    fn best_on(&self, side: Side) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, o) in self.orders.iter().enumerate() {
            if o.side != side {
                continue;
            }
            best = match best {
                None => Some(i),
                Some(b) => {
                    let ob = &self.orders[b];
                    let better = match side {
                        Side::Bid => o.price > ob.price,
                        Side::Ask => o.price < ob.price,
                    };
                    if better || (o.price == ob.price && o.seq < ob.seq) {
                        Some(i)
                    } else {
                        Some(b)
                    }
                }
            };
        }
        best
    }

    fn qty_err(&self, qty: i64) -> Option<RejectReason> {
        if qty <= 0 || qty > self.cfg.max_qty {
            Some(RejectReason::BadQty)
        } else if qty % self.cfg.lot != 0 {
            Some(RejectReason::OffLot)
        } else {
            None
        }
    }

    fn price_err(&self, p: i64) -> Option<RejectReason> {
        if p <= 0 {
            Some(RejectReason::BadPrice)
        } else if p % self.cfg.tick != 0 {
            Some(RejectReason::OffTick)
        } else if p < self.cfg.min_price || p > self.cfg.max_price {
            Some(RejectReason::PriceOutOfBand)
        } else {
            None
        }
    }

    /// Price one tick behind the opposite best for a post-only slide, if inside the band.
    fn slid(&self, side: Side, opp_best: i64) -> Option<i64> {
        let p = if side == Side::Bid { opp_best - self.cfg.tick } else { opp_best + self.cfg.tick };
        (p >= self.cfg.min_price && p <= self.cfg.max_price).then_some(p)
    }

    /// Simulate the fills of a FOK order without changing anything.
    fn fok_ok(&self, account: u32, side: Side, limit: Option<i64>, qty: i64) -> bool {
        let stp = self.accounts[account as usize].stp;
        let mut makers: Vec<&RefOrder> =
            self.orders.iter().filter(|o| o.side == other(side) && Self::crosses(side, limit, o.price)).collect();
        makers.sort_by_key(|o| (if side == Side::Bid { o.price } else { -o.price }, o.seq));
        let mut sum = 0;
        for m in makers {
            if m.account == account && stp != StpMode::Off {
                match stp {
                    StpMode::CancelOldest => continue,
                    _ => break,
                }
            }
            sum += m.qty;
        }
        sum >= qty
    }

    /// Match an aggressor; returns (remaining, cancelled by STP).
    fn take(&mut self, id: u64, account: u32, side: Side, limit: Option<i64>, mut rem: i64, ev: &mut Vec<Event>) -> (i64, bool) {
        let a = self.accounts[account as usize];
        while rem > 0 {
            let Some(i) = self.best_on(other(side)) else { break };
            let m = self.orders[i];
            if !Self::crosses(side, limit, m.price) {
                break;
            }
            if m.account == account && a.stp != StpMode::Off {
                match a.stp {
                    StpMode::CancelNewest => {
                        ev.push(Event::Cancelled { id, reason: CancelReason::SelfTrade, remaining: rem });
                        return (rem, true);
                    }
                    StpMode::CancelOldest => {
                        self.orders.remove(i);
                        ev.push(Event::Cancelled { id: m.id, reason: CancelReason::SelfTrade, remaining: m.qty });
                        continue;
                    }
                    _ => {
                        self.orders.remove(i);
                        ev.push(Event::Cancelled { id: m.id, reason: CancelReason::SelfTrade, remaining: m.qty });
                        ev.push(Event::Cancelled { id, reason: CancelReason::SelfTrade, remaining: rem });
                        return (rem, true);
                    }
                }
            }
            let q = m.qty.min(rem);
            rem -= q;
            self.orders[i].qty -= q;
            if self.orders[i].qty == 0 {
                self.orders.remove(i);
            }
            ev.push(Event::Trade {
                maker_id: m.id,
                taker_id: id,
                maker_account: m.account,
                taker_account: account,
                taker_side: side,
                price: m.price,
                qty: q,
                maker_fee: ref_fee(m.price, q, self.accounts[m.account as usize].maker_cbps),
                taker_fee: ref_fee(m.price, q, a.taker_cbps),
                maker_remaining: m.qty - q,
                taker_remaining: rem,
            });
        }
        (rem, false)
    }

    fn push(&mut self, id: u64, account: u32, side: Side, price: i64, qty: i64, post: PostOnly) {
        self.seq += 1;
        self.orders.push(RefOrder { id, account, side, price, qty, post, seq: self.seq });
    }

    fn opp_best_price(&self, side: Side) -> Option<i64> {
        self.best_on(other(side)).map(|i| self.orders[i].price)
    }

    fn submit(&mut self, o: &NewOrder, ev: &mut Vec<Event>) {
        let rej = |ev: &mut Vec<Event>, reason| ev.push(Event::Rejected { id: o.id, request: Request::New, reason });
        if self.find(o.id).is_some() {
            return rej(ev, RejectReason::DuplicateId);
        }
        if o.account as usize >= self.accounts.len() {
            return rej(ev, RejectReason::UnknownAccount);
        }
        if let Some(r) = self.qty_err(o.qty) {
            return rej(ev, r);
        }
        let market = o.kind == OrderType::Market;
        if o.post_only != PostOnly::Off && (market || o.tif != TimeInForce::Gtc) {
            return rej(ev, RejectReason::InvalidCombination);
        }
        let opp = self.opp_best_price(o.side);
        if market && opp.is_none() {
            return rej(ev, RejectReason::NoLiquidity);
        }
        if !market {
            if let Some(r) = self.price_err(o.price) {
                return rej(ev, r);
            }
        }
        if !market && o.tif == TimeInForce::Gtc && self.orders.len() == self.cfg.max_orders {
            return rej(ev, RejectReason::BookFull);
        }
        let mut limit = if market { None } else { Some(o.price) };
        let crossing = opp.is_some_and(|p| Self::crosses(o.side, limit, p));
        if o.tif == TimeInForce::Fok && !self.fok_ok(o.account, o.side, limit, o.qty) {
            return rej(ev, RejectReason::FokNotFillable);
        }
        let mut repriced = false;
        if crossing && o.post_only != PostOnly::Off {
            if o.post_only == PostOnly::Reject {
                return rej(ev, RejectReason::PostOnlyWouldTake);
            }
            match self.slid(o.side, opp.unwrap()) {
                Some(p) => {
                    limit = Some(p);
                    repriced = true;
                }
                None => return rej(ev, RejectReason::PriceOutOfBand),
            }
        }
        ev.push(Event::Accepted { id: o.id, account: o.account, side: o.side, price: limit.unwrap_or(0), qty: o.qty, repriced });
        let (rem, stp) = self.take(o.id, o.account, o.side, limit, o.qty, ev);
        if rem > 0 && !stp {
            if market || o.tif != TimeInForce::Gtc {
                ev.push(Event::Expired { id: o.id, remaining: rem });
            } else {
                self.push(o.id, o.account, o.side, limit.unwrap(), rem, o.post_only);
            }
        }
    }

    fn cancel(&mut self, id: u64, ev: &mut Vec<Event>) {
        match self.find(id) {
            Some(i) => {
                let o = self.orders.remove(i);
                ev.push(Event::Cancelled { id, reason: CancelReason::User, remaining: o.qty });
            }
            None => ev.push(Event::Rejected { id, request: Request::Cancel, reason: RejectReason::UnknownOrder }),
        }
    }

    fn replace(&mut self, id: u64, price: i64, qty: i64, ev: &mut Vec<Event>) {
        let rej = |ev: &mut Vec<Event>, reason| ev.push(Event::Rejected { id, request: Request::Replace, reason });
        let Some(i) = self.find(id) else { return rej(ev, RejectReason::UnknownOrder) };
        if let Some(r) = self.qty_err(qty) {
            return rej(ev, r);
        }
        if let Some(r) = self.price_err(price) {
            return rej(ev, r);
        }
        let o = self.orders[i];
        if price == o.price && qty <= o.qty {
            self.orders[i].qty = qty;
            ev.push(Event::Replaced { id, old_price: o.price, old_qty: o.qty, new_price: price, new_qty: qty, priority_kept: true });
            return;
        }
        let opp = self.opp_best_price(o.side);
        let mut new_price = price;
        let mut crossing = opp.is_some_and(|p| Self::crosses(o.side, Some(price), p));
        if crossing && o.post != PostOnly::Off {
            if o.post == PostOnly::Reject {
                return rej(ev, RejectReason::PostOnlyWouldTake);
            }
            match self.slid(o.side, opp.unwrap()) {
                Some(p) => {
                    new_price = p;
                    crossing = false;
                }
                None => return rej(ev, RejectReason::PriceOutOfBand),
            }
        }
        self.orders.remove(i);
        ev.push(Event::Replaced { id, old_price: o.price, old_qty: o.qty, new_price, new_qty: qty, priority_kept: false });
        let (rem, stp) = if crossing { self.take(id, o.account, o.side, Some(new_price), qty, ev) } else { (qty, false) };
        if rem > 0 && !stp {
            self.push(id, o.account, o.side, new_price, rem, o.post);
        }
    }

    /// Resting orders of a side in priority order.
    fn snapshot(&self, side: Side) -> Vec<RestingOrder> {
        let mut v: Vec<&RefOrder> = self.orders.iter().filter(|o| o.side == side).collect();
        v.sort_by_key(|o| (if side == Side::Bid { -o.price } else { o.price }, o.seq));
        v.iter()
            .map(|o| RestingOrder { id: o.id, account: o.account, side, price: o.price, qty: o.qty, post_only: o.post })
            .collect()
    }
}

// ----- request streams --------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    New(NewOrder),
    Cancel(u64),
    Replace(u64, i64, i64),
}

const TICK: i64 = 10;
const LOT: i64 = 5;

fn config(max_orders: usize) -> BookConfig {
    BookConfig {
        tick: TICK,
        lot: LOT,
        max_qty: 200,
        min_price: 100,
        max_price: 400,
        max_orders,
        max_accounts: 4,
        default_account: AccountConfig::default(),
    }
}

/// One account per STP mode, with different fees (a maker rebate, odd rates for rounding).
fn accounts() -> Vec<AccountConfig> {
    vec![
        AccountConfig { stp: StpMode::CancelNewest, maker_cbps: 100, taker_cbps: 250 },
        AccountConfig { stp: StpMode::CancelOldest, maker_cbps: -25, taker_cbps: 333 },
        AccountConfig { stp: StpMode::CancelBoth, maker_cbps: 7, taker_cbps: 1_000 },
        AccountConfig { stp: StpMode::Off, maker_cbps: 0, taker_cbps: 45 },
    ]
}

fn price() -> impl Strategy<Value = i64> {
    prop_oneof![
        20 => (10_i64..=40).prop_map(|t| t * TICK),          // the band, 31 ticks, dense crossing
        1 => prop_oneof![Just(0_i64), Just(-10), Just(105), Just(90), Just(410), Just(i64::MIN), Just(i64::MAX)],
    ]
}

fn qty() -> impl Strategy<Value = i64> {
    prop_oneof![
        20 => (1_i64..=12).prop_map(|l| l * LOT),
        1 => prop_oneof![Just(0_i64), Just(-5), Just(3), Just(205), Just(i64::MAX)],
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let side = prop_oneof![Just(Side::Bid), Just(Side::Ask)];
    let kind = prop_oneof![8 => Just(OrderType::Limit), 1 => Just(OrderType::Market)];
    let tif = prop_oneof![6 => Just(TimeInForce::Gtc), 2 => Just(TimeInForce::Ioc), 2 => Just(TimeInForce::Fok)];
    let post = prop_oneof![6 => Just(PostOnly::Off), 1 => Just(PostOnly::Reject), 1 => Just(PostOnly::Slide)];
    let new = (1_u64..48, 0_u32..5, side, kind, tif, post, price(), qty()).prop_map(
        |(id, account, side, kind, tif, post_only, price, qty)| {
            Op::New(NewOrder { id, account, side, kind, tif, post_only, price, qty })
        },
    );
    prop_oneof![
        10 => new,
        2 => (1_u64..48).prop_map(Op::Cancel),
        5 => (1_u64..48, price(), qty()).prop_map(|(id, p, q)| Op::Replace(id, p, q)),
    ]
}

// ----- the checks ---------------------------------------------------------------------------

/// Event-derived ledger: quantity in and out, and each order's open quantity.
#[derive(Default)]
struct Ledger {
    submitted: i128,
    filled: i128,
    cancelled: i128,
    expired: i128,
    open: HashMap<u64, i64>,
}

impl Ledger {
    fn apply(&mut self, e: &Event) {
        match *e {
            Event::Accepted { id, qty, .. } => {
                assert!(self.open.insert(id, qty).is_none(), "order {id} accepted twice while open");
                self.submitted += qty as i128;
            }
            Event::Rejected { .. } => {}
            Event::Trade { maker_id, taker_id, qty, maker_remaining, taker_remaining, .. } => {
                assert!(qty > 0);
                for (id, left) in [(maker_id, maker_remaining), (taker_id, taker_remaining)] {
                    let o = self.open.get_mut(&id).expect("trade on a closed order");
                    *o -= qty;
                    assert_eq!(*o, left, "remaining of {id}");
                    if left == 0 {
                        self.open.remove(&id);
                    }
                }
                self.filled += 2 * qty as i128;
            }
            Event::Cancelled { id, remaining, .. } => {
                assert_eq!(self.open.remove(&id), Some(remaining), "cancel of {id}");
                self.cancelled += remaining as i128;
            }
            Event::Expired { id, remaining } => {
                assert_eq!(self.open.remove(&id), Some(remaining), "expiry of {id}");
                self.expired += remaining as i128;
            }
            Event::Replaced { id, old_qty, new_qty, .. } => {
                let o = self.open.get_mut(&id).expect("replace of a closed order");
                assert_eq!(*o, old_qty);
                *o = new_qty;
                self.submitted += (new_qty - old_qty) as i128;
            }
        }
    }
}

/// Names of the event kinds a stream produced, with counts (to show the streams cover the rules).
type Coverage = std::collections::BTreeMap<String, u64>;

fn classify(e: &Event) -> String {
    match *e {
        Event::Accepted { repriced: true, .. } => "accepted (post-only slide)".into(),
        Event::Accepted { .. } => "accepted".into(),
        Event::Rejected { request, reason, .. } => format!("rejected {request:?} {reason:?}"),
        Event::Trade { maker_account, taker_account, .. } if maker_account == taker_account => "self-trade (STP off)".into(),
        Event::Trade { .. } => "trade".into(),
        Event::Cancelled { reason, .. } => format!("cancelled {reason:?}"),
        Event::Expired { .. } => "expired".into(),
        Event::Replaced { priority_kept, .. } => format!("replaced (priority kept: {priority_kept})"),
    }
}

fn run_stream(ops: &[Op], max_orders: usize) -> Result<Coverage, TestCaseError> {
    let mut coverage = Coverage::new();
    let mut book = OrderBook::new(config(max_orders)).unwrap();
    for (i, a) in accounts().into_iter().enumerate() {
        book.set_account(i as u32, a).unwrap();
    }
    let mut reference = Reference::new(config(max_orders), accounts());
    let mut ledger = Ledger::default();
    let mut got = Vec::new();
    let mut want = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        got.clear();
        want.clear();
        let before = book.state_hash();
        match op {
            Op::New(o) => {
                book.submit(o, &mut got);
                reference.submit(o, &mut want);
            }
            Op::Cancel(id) => {
                book.cancel(*id, &mut got);
                reference.cancel(*id, &mut want);
            }
            Op::Replace(id, p, q) => {
                book.replace(*id, *p, *q, &mut got);
                reference.replace(*id, *p, *q, &mut want);
            }
        }
        prop_assert_eq!(&got, &want, "events of request {} {:?}", n, op);
        prop_assert!(!got.is_empty(), "request {} produced no event", n);
        if let [Event::Rejected { .. }] = got[..] {
            prop_assert_eq!(book.state_hash(), before, "rejected request {} changed the state", n);
        }
        for e in &got {
            *coverage.entry(classify(e)).or_default() += 1;
            ledger.apply(e);
        }
        for side in [Side::Bid, Side::Ask] {
            let orders: Vec<RestingOrder> = book.orders(side).collect();
            prop_assert_eq!(&orders, &reference.snapshot(side), "book after request {}", n);
        }
        if let (Some((b, _)), Some((a, _))) = (book.best_bid(), book.best_ask()) {
            prop_assert!(b < a, "crossed book after request {}: {} >= {}", n, b, a);
        }
        // conservation: everything submitted is filled, cancelled, expired or resting
        let resting: i128 =
            [Side::Bid, Side::Ask].iter().flat_map(|&s| book.orders(s)).map(|o| o.qty as i128).sum();
        prop_assert_eq!(ledger.submitted, ledger.filled + ledger.cancelled + ledger.expired + resting);
        // every open order (by the events) rests, and nothing else does
        prop_assert_eq!(ledger.open.len(), book.len());
        for (&id, &q) in &ledger.open {
            prop_assert_eq!(book.order(id).map(|o| o.qty), Some(q));
        }
    }
    Ok(coverage)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_reference(ops in proptest::collection::vec(op(), 1..1500)) {
        run_stream(&ops, 64)?;
    }

    #[test]
    fn matches_the_reference_with_a_small_arena(ops in proptest::collection::vec(op(), 1..600)) {
        run_stream(&ops, 6)?;
    }
}

/// A long stream from a fixed seed (xorshift), so a regression reproduces without proptest.
#[test]
fn long_fixed_stream() {
    let mut s = 0x2545_F491_4F6C_DD1D_u64;
    let mut rnd = |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    };
    let mut ops = Vec::with_capacity(30_000);
    for _ in 0..30_000 {
        let id = 1 + rnd(80);
        let price = match rnd(100) {
            0 => 410,
            1 => 105,
            2 => 0,
            _ => (10 + rnd(31) as i64) * TICK,
        };
        let qty = match rnd(100) {
            0 => 3,
            1 => 0,
            2 => 205,
            _ => (1 + rnd(12) as i64) * LOT,
        };
        let op = match rnd(17) {
            0..=9 => Op::New(NewOrder {
                id,
                account: if rnd(50) == 0 { 4 } else { rnd(4) as u32 },
                side: if rnd(2) == 0 { Side::Bid } else { Side::Ask },
                kind: if rnd(9) == 0 { OrderType::Market } else { OrderType::Limit },
                tif: [TimeInForce::Gtc, TimeInForce::Gtc, TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok][rnd(5) as usize],
                post_only: [PostOnly::Off, PostOnly::Off, PostOnly::Off, PostOnly::Reject, PostOnly::Slide][rnd(5) as usize],
                price,
                qty,
            }),
            10..=11 => Op::Cancel(id),
            _ => Op::Replace(id, price, qty),
        };
        ops.push(op);
    }
    let coverage = run_stream(&ops, 12).unwrap();
    for (k, n) in &coverage {
        println!("{n:>7}  {k}");
    }
    for must in [
        "accepted (post-only slide)",
        "rejected New DuplicateId",
        "rejected New BookFull",
        "rejected New NoLiquidity",
        "rejected New FokNotFillable",
        "rejected New PostOnlyWouldTake",
        "rejected New InvalidCombination",
        "rejected New UnknownAccount",
        "rejected New PriceOutOfBand",
        "rejected New OffTick",
        "rejected New BadPrice",
        "rejected New OffLot",
        "rejected New BadQty",
        "rejected Replace OffLot",
        "rejected Replace PriceOutOfBand",
        "rejected Replace PostOnlyWouldTake",
        "rejected Replace UnknownOrder",
        "rejected Cancel UnknownOrder",
        "self-trade (STP off)",
        "trade",
        "cancelled SelfTrade",
        "cancelled User",
        "expired",
        "replaced (priority kept: true)",
        "replaced (priority kept: false)",
    ] {
        assert!(coverage.get(must).copied().unwrap_or(0) > 0, "the fixed stream never produced {must:?}");
    }
}
