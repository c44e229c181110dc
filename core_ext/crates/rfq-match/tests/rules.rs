//! Each matching rule spelled out on a small book, with the exact expected events. The
//! differential test compares the book with a reference written from the same reading of the
//! rules; these pin the reading itself.

use rfq_match::*;
use rfq_model::Side::{self, Ask, Bid};

fn book() -> OrderBook {
    let mut b = OrderBook::new(BookConfig {
        tick: 10,
        lot: 5,
        max_qty: 1_000,
        min_price: 100,
        max_price: 1_000,
        max_orders: 64,
        max_accounts: 8,
        default_account: AccountConfig::default(),
    })
    .unwrap();
    b.set_account(1, AccountConfig { stp: StpMode::CancelOldest, maker_cbps: -25, taker_cbps: 333 }).unwrap();
    b.set_account(2, AccountConfig { stp: StpMode::CancelBoth, maker_cbps: 0, taker_cbps: 0 }).unwrap();
    b.set_account(3, AccountConfig { stp: StpMode::Off, maker_cbps: 0, taker_cbps: 0 }).unwrap();
    b
}

fn limit(id: u64, account: u32, side: Side, price: i64, qty: i64) -> NewOrder {
    NewOrder { id, account, side, kind: OrderType::Limit, tif: TimeInForce::Gtc, post_only: PostOnly::Off, price, qty }
}

fn submit(b: &mut OrderBook, o: NewOrder) -> Vec<Event> {
    let mut v = Vec::new();
    b.submit(&o, &mut v);
    v
}

fn acc(id: u64, account: u32, side: Side, price: i64, qty: i64) -> Event {
    Event::Accepted { id, account, side, price, qty, repriced: false }
}

fn trade(maker: (u64, u32), taker: (u64, u32, Side), price: i64, qty: i64, left: (i64, i64)) -> Event {
    Event::Trade {
        maker_id: maker.0,
        taker_id: taker.0,
        maker_account: maker.1,
        taker_account: taker.1,
        taker_side: taker.2,
        price,
        qty,
        maker_fee: 0,
        taker_fee: 0,
        maker_remaining: left.0,
        taker_remaining: left.1,
    }
}

#[test]
fn price_then_time_priority_at_the_makers_price() {
    let mut b = book();
    submit(&mut b, limit(1, 4, Ask, 510, 10));
    submit(&mut b, limit(2, 5, Ask, 500, 10));
    submit(&mut b, limit(3, 6, Ask, 500, 10));
    let ev = submit(&mut b, limit(9, 7, Bid, 520, 25));
    assert_eq!(
        ev,
        vec![
            acc(9, 7, Bid, 520, 25),
            trade((2, 5), (9, 7, Bid), 500, 10, (0, 15)),
            trade((3, 6), (9, 7, Bid), 500, 10, (0, 5)),
            trade((1, 4), (9, 7, Bid), 510, 5, (5, 0)),
        ]
    );
    assert_eq!(b.best_ask(), Some((510, 5)));
    assert_eq!(b.best_bid(), None);
}

#[test]
fn ioc_remainder_expires_and_market_without_liquidity_is_rejected() {
    let mut b = book();
    let mut ioc = limit(1, 4, Bid, 500, 10);
    ioc.tif = TimeInForce::Ioc;
    assert_eq!(submit(&mut b, ioc), vec![acc(1, 4, Bid, 500, 10), Event::Expired { id: 1, remaining: 10 }]);
    let mut mkt = limit(2, 4, Bid, 0, 10);
    mkt.kind = OrderType::Market;
    assert_eq!(
        submit(&mut b, mkt),
        vec![Event::Rejected { id: 2, request: Request::New, reason: RejectReason::NoLiquidity }]
    );
    submit(&mut b, limit(3, 5, Ask, 900, 5));
    let ev = submit(&mut b, mkt);
    assert_eq!(ev[0], acc(2, 4, Bid, 0, 10));
    assert_eq!(ev[1], trade((3, 5), (2, 4, Bid), 900, 5, (0, 5)));
    assert_eq!(ev[2], Event::Expired { id: 2, remaining: 5 }); // a market order never rests
    assert!(b.is_empty());
}

#[test]
fn fok_is_all_or_nothing_and_counts_stp() {
    let mut b = book();
    submit(&mut b, limit(1, 5, Ask, 500, 10));
    submit(&mut b, limit(2, 0, Ask, 500, 10)); // account 0: cancel newest
    submit(&mut b, limit(3, 5, Ask, 510, 10));
    let mut fok = limit(9, 0, Bid, 510, 20);
    fok.tif = TimeInForce::Fok;
    // 30 rest at ≤ 510 but account 0's own order stops it after 10: not fillable, nothing moves
    let h = b.state_hash();
    assert_eq!(
        submit(&mut b, fok),
        vec![Event::Rejected { id: 9, request: Request::New, reason: RejectReason::FokNotFillable }]
    );
    assert_eq!(b.state_hash(), h);
    // account 1 (cancel oldest) skips its own order: 10 + 10 of others fill it
    b.cancel(2, &mut Vec::new());
    submit(&mut b, limit(4, 1, Ask, 500, 10));
    fok.account = 1;
    let ev = submit(&mut b, fok);
    assert!(matches!(ev[2], Event::Cancelled { id: 4, reason: CancelReason::SelfTrade, remaining: 10 }));
    assert!(matches!(ev.last(), Some(Event::Trade { maker_id: 3, taker_remaining: 0, .. })));
}

#[test]
fn post_only_reject_and_slide() {
    let mut b = book();
    submit(&mut b, limit(1, 5, Ask, 500, 10));
    let mut po = limit(2, 4, Bid, 520, 10);
    po.post_only = PostOnly::Reject;
    assert_eq!(
        submit(&mut b, po),
        vec![Event::Rejected { id: 2, request: Request::New, reason: RejectReason::PostOnlyWouldTake }]
    );
    po.post_only = PostOnly::Slide;
    assert_eq!(
        submit(&mut b, po),
        vec![Event::Accepted { id: 2, account: 4, side: Bid, price: 490, qty: 10, repriced: true }]
    );
    assert_eq!(b.best_bid(), Some((490, 10)));
    // the mode stays with the order: a replace that would take slides again
    let mut ev = Vec::new();
    b.replace(2, 600, 10, &mut ev);
    assert_eq!(
        ev,
        vec![Event::Replaced { id: 2, old_price: 490, old_qty: 10, new_price: 490, new_qty: 10, priority_kept: false }]
    );
    // post-only with IOC is a contradiction
    po.tif = TimeInForce::Ioc;
    po.id = 3;
    assert!(matches!(submit(&mut b, po)[0], Event::Rejected { reason: RejectReason::InvalidCombination, .. }));
}

#[test]
fn replace_keeps_priority_only_for_a_same_price_decrease() {
    let mut b = book();
    submit(&mut b, limit(1, 4, Bid, 500, 20));
    submit(&mut b, limit(2, 5, Bid, 500, 20));
    let mut ev = Vec::new();
    b.replace(1, 500, 10, &mut ev); // decrease: keeps its place
    assert!(matches!(ev[0], Event::Replaced { priority_kept: true, .. }));
    assert_eq!(b.orders(Bid).map(|o| o.id).collect::<Vec<_>>(), vec![1, 2]);
    ev.clear();
    b.replace(1, 500, 15, &mut ev); // increase: back of the queue
    assert!(matches!(ev[0], Event::Replaced { priority_kept: false, .. }));
    assert_eq!(b.orders(Bid).map(|o| o.id).collect::<Vec<_>>(), vec![2, 1]);
    // a replace that crosses trades as a new aggressive order, then rests
    submit(&mut b, limit(3, 6, Ask, 520, 5));
    ev.clear();
    b.replace(2, 530, 20, &mut ev);
    assert_eq!(
        ev,
        vec![
            Event::Replaced { id: 2, old_price: 500, old_qty: 20, new_price: 530, new_qty: 20, priority_kept: false },
            trade((3, 6), (2, 5, Bid), 520, 5, (0, 15)),
        ]
    );
    assert_eq!(b.best_bid(), Some((530, 15)));
}

#[test]
fn self_trade_prevention_modes() {
    for (account, mode) in [(0, "newest"), (1, "oldest"), (2, "both"), (3, "off")] {
        let mut b = book();
        submit(&mut b, limit(1, account, Ask, 500, 10));
        submit(&mut b, limit(2, 6, Ask, 500, 10));
        let ev = submit(&mut b, limit(9, account, Bid, 500, 10));
        let kinds: Vec<String> = ev
            .iter()
            .map(|e| match e {
                Event::Accepted { .. } => "acc".to_string(),
                Event::Trade { maker_id, .. } => format!("trade {maker_id}"),
                Event::Cancelled { id, reason: CancelReason::SelfTrade, .. } => format!("stp {id}"),
                other => format!("{other:?}"),
            })
            .collect();
        let want: &[&str] = match mode {
            "newest" => &["acc", "stp 9"],
            "oldest" => &["acc", "stp 1", "trade 2"],
            "both" => &["acc", "stp 1", "stp 9"],
            _ => &["acc", "trade 1"],
        };
        assert_eq!(kinds, want, "STP {mode}");
    }
}

#[test]
fn fees_round_up_exactly() {
    assert_eq!(fee(100, 3, 333), 1); // 0.0999 → 1
    assert_eq!(fee(1_000_000, 1_000, 250), 250_000); // exact
    assert_eq!(fee(100, 3, -25), 0); // rebate −0.0075 rounds up to 0
    assert_eq!(fee(1_000_000, 1_000, -25), -25_000);
    // (maker account, taker account, qty) → (maker fee, taker fee); account 1: maker −25, taker 333
    for (maker, taker, qty, want) in [
        (1, 5, 10, (0, 0)),         // 10,000 × −25e-6 = −0.25 → rounds up to 0
        (1, 5, 1_000, (-25, 0)),    // 1e6 × −25e-6 exactly
        (5, 1, 10, (0, 4)),         // 10,000 × 333e-6 = 3.33 → 4
        (5, 1, 1_000, (0, 333)),
    ] {
        let mut b = book();
        submit(&mut b, limit(1, maker, Ask, 1_000, qty));
        let ev = submit(&mut b, limit(2, taker, Bid, 1_000, qty));
        match ev[1] {
            Event::Trade { maker_fee, taker_fee, .. } => assert_eq!((maker_fee, taker_fee), want, "{maker}→{taker} {qty}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn bad_inputs_are_rejected_specifically_and_change_nothing() {
    let mut b = book();
    submit(&mut b, limit(1, 4, Bid, 500, 10));
    let h = b.state_hash();
    let cases: Vec<(NewOrder, RejectReason)> = vec![
        (limit(1, 4, Bid, 500, 10), RejectReason::DuplicateId),
        (limit(2, 8, Bid, 500, 10), RejectReason::UnknownAccount),
        (limit(2, 4, Bid, 500, 0), RejectReason::BadQty),
        (limit(2, 4, Bid, 500, 1_005), RejectReason::BadQty),
        (limit(2, 4, Bid, 500, 7), RejectReason::OffLot),
        (limit(2, 4, Bid, 0, 10), RejectReason::BadPrice),
        (limit(2, 4, Bid, 505, 10), RejectReason::OffTick),
        (limit(2, 4, Bid, 90, 10), RejectReason::PriceOutOfBand),
        (limit(2, 4, Bid, 1_010, 10), RejectReason::PriceOutOfBand),
    ];
    for (o, reason) in cases {
        assert_eq!(submit(&mut b, o), vec![Event::Rejected { id: o.id, request: Request::New, reason }]);
        assert_eq!(b.state_hash(), h);
    }
    let mut ev = Vec::new();
    b.cancel(7, &mut ev);
    b.replace(7, 500, 10, &mut ev);
    b.replace(1, 505, 10, &mut ev);
    b.replace(1, 500, 3, &mut ev);
    let reasons: Vec<RejectReason> =
        ev.iter().map(|e| if let Event::Rejected { reason, .. } = e { *reason } else { panic!("{e:?}") }).collect();
    assert_eq!(reasons, [RejectReason::UnknownOrder, RejectReason::UnknownOrder, RejectReason::OffTick, RejectReason::OffLot]);
    assert_eq!(b.state_hash(), h);
}

#[test]
fn a_full_arena_rejects_resting_orders_only() {
    let mut b = OrderBook::new(BookConfig { max_orders: 2, ..book().config().clone() }).unwrap();
    submit(&mut b, limit(1, 4, Bid, 500, 10));
    submit(&mut b, limit(2, 4, Bid, 490, 10));
    assert!(matches!(submit(&mut b, limit(3, 5, Bid, 480, 10))[0], Event::Rejected { reason: RejectReason::BookFull, .. }));
    let mut ioc = limit(3, 5, Ask, 500, 10);
    ioc.tif = TimeInForce::Ioc;
    assert!(matches!(submit(&mut b, ioc)[1], Event::Trade { maker_id: 1, .. }));
}
