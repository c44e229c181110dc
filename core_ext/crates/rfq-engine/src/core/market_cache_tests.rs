//! The market cache and the depth search never change a result: random market traffic on
//! three members (two linear at different scales, one inverse; whole and partial messages,
//! stale marks, resyncs, silences long enough to go stale) interleaved with RFQs of every
//! size and side and accepts, fed to a core with the cache and depth search, one without the
//! cache, and one that walks every sweep instead of searching: same outputs, same state hash
//! after every record.
use super::*;
use rfq_model::InstrumentKind;
use rfq_ring::record::{flags, kind};
use rfq_ring::Record;
use proptest::prelude::*;

/// The config builder shared with `tests/composite_members.rs`.
#[path = "../../tests/common/members.rs"]
mod members;

const BTC: i64 = 100_000_000;
const SEC: i64 = 1_000_000_000;

fn config(basis: u32) -> CoreConfig {
    let instruments = vec![
        members::member(1, "BTCUSDT", (InstrumentKind::Spot, 2, 6, 1, 0)),
        members::member(2, "BTCUSDT", (InstrumentKind::Linear, 1, 3, 1, 0)),
        members::member(3, "BTCUSDT", (InstrumentKind::Inverse, 1, 0, 1, 100)),
    ];
    members::config(instruments, "BTC", 2, vec![BTC / 10, BTC], basis)
}

#[derive(Debug, Clone)]
enum Op {
    /// A level on member `m` (price offset from the touch in ticks; qty 0 deletes);
    /// `end` = last record of its message.
    Level { m: u16, bid: bool, off: i64, qty: i64, end: bool },
    /// Snapshot of member `m` around `mid_off`.
    Snapshot { m: u16, mid_off: i64, levels: i64 },
    Stale { m: u16 },
    /// Time passes (may make members stale).
    Wait { ms: i64 },
    /// RFQ of `qty` sat (0..=255 side), then accept the first quoted side if `hit`.
    Rfq { side: u8, qty: i64, hit: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1_u16..=3, any::<bool>(), 0_i64..40, 0_i64..500, prop::bool::weighted(0.8)).prop_map(|(m, bid, off, qty, end)| Op::Level { m, bid, off, qty, end }),
        1 => (1_u16..=3, -20_i64..20, 1_i64..60).prop_map(|(m, mid_off, levels)| Op::Snapshot { m, mid_off, levels }),
        1 => (1_u16..=3).prop_map(|m| Op::Stale { m }),
        2 => prop_oneof![0_i64..50, 900_i64..1200].prop_map(|ms| Op::Wait { ms }),
        6 => (prop_oneof![Just(0_u8), Just(1), Just(255)], prop_oneof![1_i64..BTC / 5, Just(BTC / 10), Just(BTC), 1_i64..3 * BTC, 3 * BTC..200 * BTC], any::<bool>())
            .prop_map(|(side, qty, hit)| Op::Rfq { side, qty, hit }),
    ]
}

/// Member `m` at tick `k` from its touch: (price, qty scale) in its own units.
fn px(m: u16, bid: bool, k: i64, shift: i64) -> i64 {
    let (b, a) = match m {
        1 => (6_000_000 + shift * 100, 6_000_100 + shift * 100), // 2 dp
        2 => (599_990 + shift * 10, 600_010 + shift * 10),       // 1 dp, 20 $ below
        _ => (600_020 + shift * 10, 600_040 + shift * 10),       // 1 dp inverse
    };
    if bid {
        b - k * if m == 1 { 100 } else { 10 }
    } else {
        a + k * if m == 1 { 100 } else { 10 }
    }
}

fn lvl(m: u16, bid: bool, price: i64, qty: i64, fl: u8, t: i64) -> Record {
    let q = match m {
        1 => qty * 10_000,  // 6 dp: 0.01 BTC units
        2 => qty * 10,      // 3 dp
        _ => qty,           // contracts of 100 USD
    };
    Record { kind: kind::BOOK_LEVEL, instrument: m, side: if bid { 0 } else { 1 }, flags: fl, ts_recv: t, price, qty: q, ..Record::ZERO }
}

fn run(ops: &[Op], basis: u32) -> Result<(), TestCaseError> {
    let mut a = Core::new(config(basis)).unwrap();
    let mut b = Core::new(config(basis)).unwrap();
    b.market.set_market_cache(false);
    let mut w = Core::new(config(basis)).unwrap();
    w.set_depth_search(false);
    // Books with the smallest dense window (1,024 ticks a side): most of these levels live in
    // the overflow and every snapshot shift recentres. The window is memory, never a price:
    // the same outputs (the state hash differs: it covers where each window sits).
    let mut narrow_cfg = config(basis);
    for i in &mut narrow_cfg.instruments {
        i.book_window = rfq_model::BOOK_WINDOW_RANGE.0;
    }
    let mut n = Core::new(narrow_cfg).unwrap();
    let mut t = 1_000 * SEC;
    let mut id = 0;
    let mut shift = [0_i64; 4];
    let mut hits = 0;
    let mut bracketed = 0;
    let mut feed = |recs: &[Record], a: &mut Core, b: &mut Core| -> Result<Vec<Record>, TestCaseError> {
        let (mut oa, mut ob, mut ow, mut on) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in recs {
            a.process(r, &mut oa);
            b.process(r, &mut ob);
            w.process(r, &mut ow);
            n.process(r, &mut on);
            prop_assert_eq!(&oa, &ob, "after {:?}", r);
            prop_assert_eq!(&oa, &ow, "walking core, after {:?}", r);
            prop_assert_eq!(&oa, &on, "narrow-window core, after {:?}", r);
            prop_assert_eq!(a.state_hash(), b.state_hash());
            prop_assert_eq!(a.state_hash(), w.state_hash());
        }
        Ok(oa)
    };
    // all three live to start with
    for m in 1..=3 {
        let mut v = vec![Record { kind: kind::BOOK_CLEAR, instrument: m, side: 255, flags: flags::SNAPSHOT, ts_recv: t, ..Record::ZERO }];
        for k in 0..30 {
            v.push(lvl(m, true, px(m, true, k, 0), 50 + k, flags::SNAPSHOT, t));
            v.push(lvl(m, false, px(m, false, k, 0), 50 + k, flags::SNAPSHOT, t));
        }
        v.last_mut().unwrap().flags |= flags::END;
        feed(&v, &mut a, &mut b)?;
    }
    for op in ops {
        t += 1_000;
        match *op {
            Op::Level { m, bid, off, qty, end } => {
                let r = lvl(m, bid, px(m, bid, off, shift[m as usize]), qty, if end { flags::END } else { 0 }, t);
                feed(&[r], &mut a, &mut b)?;
            }
            Op::Snapshot { m, mid_off, levels } => {
                shift[m as usize] = mid_off;
                let mut v = vec![Record { kind: kind::BOOK_CLEAR, instrument: m, side: 255, flags: flags::SNAPSHOT, ts_recv: t, ..Record::ZERO }];
                for k in 0..levels {
                    v.push(lvl(m, true, px(m, true, k, mid_off), 1 + k * 7 % 90, flags::SNAPSHOT, t));
                    v.push(lvl(m, false, px(m, false, k, mid_off), 1 + k * 11 % 90, flags::SNAPSHOT, t));
                }
                v.last_mut().unwrap().flags |= flags::END;
                feed(&v, &mut a, &mut b)?;
            }
            Op::Stale { m } => {
                feed(&[Record { kind: kind::BOOK_STALE, instrument: m, side: 255, flags: flags::END, ts_recv: t, ..Record::ZERO }], &mut a, &mut b)?;
            }
            Op::Wait { ms } => t += ms * 1_000_000,
            Op::Rfq { side, qty, hit } => {
                id += 1;
                hits += usize::from(a.market.market_cache_hit(0, a.now));
                bracketed += usize::from(a.market.request_bracket(0, qty, a.now) != [0, 0]);
                let r = Record { kind: kind::RFQ, instrument: 1, side, flags: flags::END, source: 1, seq: id, ts_recv: t, qty, ..Record::ZERO };
                let out = feed(&[r], &mut a, &mut b)?;
                if let (true, Some(q)) = (hit, out.iter().find(|r| r.kind == kind::RFQ_QUOTE)) {
                    let acc = Record { kind: kind::ACCEPT, instrument: 1, side: q.side, flags: flags::END, source: 1, seq: q.seq, ts_recv: t, price: q.price, qty: q.qty, aux: 1, ..Record::ZERO };
                    feed(&[acc], &mut a, &mut b)?;
                }
            }
        }
    }
    if std::env::var_os("CACHE_TEST_STATS").is_some() {
        eprintln!("rfqs {id} cache valid before {hits} bracketed {bracketed} quotes {} fills {}", a.rfq_stats().quotes, a.rfq_stats().fills);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn cache_never_changes_a_result(ops in proptest::collection::vec(op(), 1..120), basis in prop_oneof![Just(0_u32), Just(3)]) {
        run(&ops, basis)?;
    }
}

#[test]
fn cache_is_used_between_repricings() {
    let mut c = Core::new(config(0)).unwrap();
    let mut out = Vec::new();
    for m in 1..=3 {
        c.process(&Record { kind: kind::BOOK_CLEAR, instrument: m, side: 255, flags: flags::SNAPSHOT, ts_recv: SEC, ..Record::ZERO }, &mut out);
        for k in 0..30 {
            c.process(&lvl(m, true, px(m, true, k, 0), 50, flags::SNAPSHOT, SEC), &mut out);
            c.process(&lvl(m, false, px(m, false, k, 0), 50, flags::SNAPSHOT | if k == 29 { flags::END } else { 0 }, SEC), &mut out);
        }
    }
    assert!(c.market.market_cache_hit(0, c.now));
    // a record of a message not yet ended changes a book: not valid until its END reprices
    c.process(&lvl(2, true, px(2, true, 0, 0), 7, 0, SEC), &mut out);
    assert!(!c.market.market_cache_hit(0, c.now));
    c.process(&lvl(2, true, px(2, true, 1, 0), 7, flags::END, SEC), &mut out);
    assert!(c.market.market_cache_hit(0, c.now));
    // an RFQ for a ladder size (1 BTC: beyond the cached levels of the smallest, 0.1 BTC) takes
    // the repricing's own sweep of that size; any other size beyond them reads the books
    assert!(!c.market.request_reads_books(0, BTC, c.now));
    assert!(!c.market.request_reads_books(0, BTC / 10, c.now));
    assert!(c.market.request_reads_books(0, BTC / 2, c.now));
    // a size between two rungs is bracketed by both run-outs, one beyond the last by its run-out
    assert_eq!(c.market.request_bracket(0, BTC / 2, c.now), [2, 2]);
    assert_eq!(c.market.request_bracket(0, 3 * BTC, c.now), [1, 1]);
    assert_eq!(c.market.request_bracket(0, BTC / 20, c.now), [1, 1]);
        // a BBO or trade message changes no book and keeps the cache
    let epoch = c.market.market_cache_epoch(0);
    c.process(&Record { kind: kind::BBO, instrument: 1, side: 0, flags: flags::END, ts_recv: SEC + 5, price: px(1, true, 0, 0), qty: 1, ..Record::ZERO }, &mut out);
    assert!(c.market.market_cache_hit(0, c.now));
    assert_eq!(c.market.market_cache_epoch(0), epoch);
    // silence: members go stale by the clock alone, before any repricing notices
    c.advance(3 * SEC);
    assert!(!c.market.market_cache_hit(0, c.now));
    assert!(c.market.request_reads_books(0, BTC, c.now));
    assert_eq!(c.market.request_bracket(0, BTC / 2, c.now), [0, 0]);
    let mut c2 = Core::new(config(0)).unwrap();
    c2.market.set_market_cache(false);
    assert!(!c2.market.market_cache_hit(0, c2.now));
}
