//! A composite of the most members allowed (8: spot and linear at five different price/qty
//! scales and tick sizes, two inverse at different contract sizes) prices exactly as a core that
//! walks every sweep: random book traffic (whole and partial messages, resyncs, stale marks,
//! silences) interleaved with RFQs and accepts gives the same outputs and the same state hash
//! after every record, with the depth search really in use. A ninth member is refused.

mod common;

use common::members::{member, Scale};
use common::{BTC, SEC};
use rfq_engine::{Core, CoreConfig};
use rfq_model::{InstrumentKind, Side};
use rfq_ring::record::{flags, kind};
use rfq_ring::Record;

/// The scales of members 1..=9.
const MEMBERS: [Scale; 9] = [
    (InstrumentKind::Spot, 2, 6, 1, 0),
    (InstrumentKind::Linear, 1, 3, 1, 0),
    (InstrumentKind::Inverse, 1, 0, 1, 100),
    (InstrumentKind::Linear, 2, 4, 10, 0),
    (InstrumentKind::Spot, 3, 8, 10, 0),
    (InstrumentKind::Inverse, 2, 0, 5, 10),
    (InstrumentKind::Linear, 0, 2, 1, 0),
    (InstrumentKind::Spot, 2, 5, 1, 0),
    (InstrumentKind::Linear, 2, 3, 1, 0),
];

fn config(members: u16, basis: u32) -> CoreConfig {
    let instruments = (1..=members).map(|id| member(id, "BTCUSD", MEMBERS[id as usize - 1])).collect();
    common::members::config(instruments, &format!("BTC{members}"), 3, vec![BTC / 10, BTC, 10 * BTC, 40 * BTC], basis)
}

/// Member `m`'s price `k` levels from its touch, `shift` levels moved, in its own units: the
/// mids sit 10 cents apart around 60,000 USD and each member steps by 10, 20 or 30 cents (or
/// its tick, if coarser), so the merged ladder interleaves all eight.
fn px(m: u16, bid: bool, k: i64, shift: i64) -> i64 {
    let (_, pd, _, tick, _) = MEMBERS[m as usize - 1];
    let unit = 10_i64.pow(pd);
    let step = ((unit * (1 + i64::from(m) % 3) / 10).max(tick) + tick - 1) / tick * tick;
    let mid = (60_000 * unit + i64::from(m) * unit / 10) / tick * tick;
    let touch = if bid { mid - step } else { mid + step };
    let off = (k + shift) * step;
    if bid {
        touch - off
    } else {
        touch + off
    }
}

/// `centi` hundredths of a BTC in member `m`'s quantity units (contracts for inverse members).
fn qty(m: u16, centi: i64) -> i64 {
    let (kind, _, qd, _, cs) = MEMBERS[m as usize - 1];
    match kind {
        InstrumentKind::Inverse => centi * 600 / cs,
        _ => centi * 10_i64.pow(qd - 2),
    }
}

fn level(m: u16, bid: bool, price: i64, q: i64, fl: u8, t: i64) -> Record {
    Record { kind: kind::BOOK_LEVEL, instrument: m, side: u8::from(!bid), flags: fl, ts_recv: t, price, qty: q, ..Record::ZERO }
}

fn snapshot(m: u16, shift: i64, levels: i64, t: i64, seed: i64) -> Vec<Record> {
    let mut v = vec![Record { kind: kind::BOOK_CLEAR, instrument: m, side: 255, flags: flags::SNAPSHOT, ts_recv: t, ..Record::ZERO }];
    for k in 0..levels {
        v.push(level(m, true, px(m, true, k, shift), qty(m, 5 + (k * 7 + seed) % 90), flags::SNAPSHOT, t));
        v.push(level(m, false, px(m, false, k, shift), qty(m, 5 + (k * 11 + seed) % 90), flags::SNAPSHOT, t));
    }
    v.last_mut().unwrap().flags |= flags::END;
    v
}

/// xorshift64*: the test's traffic is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

/// Feed `recs` to the searching and the walking core: same outputs, same quote ladder, same
/// state hash at the end of every message.
fn feed(recs: &[Record], s: &mut Core, w: &mut Core, quotes: &mut usize) -> Vec<Record> {
    let mut all = Vec::new();
    for r in recs {
        let (mut os, mut ow) = (Vec::new(), Vec::new());
        s.process(r, &mut os);
        w.process(r, &mut ow);
        assert_eq!(os, ow, "walking core differs after {r:?}");
        if r.flags & flags::END != 0 {
            assert_eq!(s.state_hash(), w.state_hash(), "state differs after {r:?}");
        }
        assert_eq!(s.quotes(1), w.quotes(1));
        *quotes += os.iter().filter(|o| o.kind == kind::QUOTE).count();
        all.extend(os);
    }
    all
}

fn run(seed: u64, basis: u32, ops: usize) {
    let mut s = Core::new(config(8, basis)).unwrap();
    let mut w = Core::new(config(8, basis)).unwrap();
    w.set_depth_search(false);
    let mut rng = Rng(seed);
    let mut t = 1_000 * SEC;
    let mut shift = [0_i64; 9];
    let (mut quotes, mut searched, mut fills, mut id) = (0, 0, 0, 0);
    for m in 1..=8 {
        feed(&snapshot(m, 0, 40, t, i64::from(m)), &mut s, &mut w, &mut quotes);
    }
    assert_eq!(s.depth_searchable(1), Some(true), "all eight members live and searchable");
    for _ in 0..ops {
        t += 1_000;
        searched += usize::from(s.depth_searchable(1) == Some(true));
        match rng.below(20) {
            0..=11 => {
                let m = 1 + rng.below(8) as u16;
                let bid = rng.below(2) == 0;
                let q = if rng.below(5) == 0 { 0 } else { qty(m, 1 + rng.below(300)) };
                let k = rng.below(45) - 2;
                let end = if rng.below(5) == 0 { 0 } else { flags::END };
                feed(&[level(m, bid, px(m, bid, k, shift[m as usize]), q, end, t)], &mut s, &mut w, &mut quotes);
            }
            12 => {
                let m = 1 + rng.below(8) as u16;
                shift[m as usize] = rng.below(30) - 15;
                let n = 1 + rng.below(60);
                feed(&snapshot(m, shift[m as usize], n, t, rng.below(90)), &mut s, &mut w, &mut quotes);
            }
            13 if rng.below(4) == 0 => {
                let m = 1 + rng.below(8) as u16;
                let r = Record { kind: kind::BOOK_STALE, instrument: m, side: 255, flags: flags::END, ts_recv: t, ..Record::ZERO };
                feed(&[r], &mut s, &mut w, &mut quotes);
            }
            14 if rng.below(8) == 0 => t += (900 + rng.below(300)) * 1_000_000,
            _ => {
                id += 1;
                let side = [0_u8, 1, 255][rng.below(3) as usize];
                let q = [BTC / 10, BTC, 10 * BTC, 1 + rng.below(60 * BTC as u64)][rng.below(4) as usize];
                let r = Record { kind: kind::RFQ, instrument: 1, side, flags: flags::END, source: 1, seq: id, ts_recv: t, qty: q, ..Record::ZERO };
                let out = feed(&[r], &mut s, &mut w, &mut quotes);
                if let (true, Some(q)) = (rng.below(3) == 0, out.iter().find(|r| r.kind == kind::RFQ_QUOTE)) {
                    let acc = Record { kind: kind::ACCEPT, instrument: 1, side: q.side, flags: flags::END, source: 1, seq: q.seq, ts_recv: t, price: q.price, qty: q.qty, aux: 1, ..Record::ZERO };
                    feed(&[acc], &mut s, &mut w, &mut quotes);
                    fills += 1;
                }
            }
        }
    }
    // the comparison had something to compare: most repricings searched all live members,
    // quote ladders were published and RFQs were filled
    assert!(searched > ops / 2, "searched {searched} of {ops}");
    assert!(quotes > ops / 4, "{quotes} quotes in {ops} operations");
    assert!(s.rfq_stats().fills > 0 && fills > 0, "no fill");
}

#[test]
fn eight_members_price_as_a_walk_of_every_level() {
    run(0x9E37_79B9_7F4A_7C15, 3, 2_500);
    run(0xD1B5_4A32_D192_ED03, 0, 2_500);
}

#[test]
fn every_one_of_eight_members_contributes_depth() {
    let mut c = Core::new(config(8, 0)).unwrap();
    let mut out = Vec::new();
    for m in 1..=8 {
        for r in snapshot(m, 0, 40, SEC, i64::from(m)) {
            c.process(&r, &mut out);
        }
    }
    // 40 BTC reaches well into every member's book: leaving any one out changes the sweep
    for side in [Side::Bid, Side::Ask] {
        let all = c.composite_sweep(1, side, 40 * BTC).expect("8 books hold 40 BTC");
        for m in 1..=8 {
            c.set_member(1, m, false).unwrap();
            let without = c.composite_sweep(1, side, 40 * BTC);
            assert_ne!(without, Some(all), "member {m} on {side:?} adds nothing");
            c.set_member(1, m, true).unwrap();
        }
        assert_eq!(c.composite_sweep(1, side, 40 * BTC), Some(all));
    }
}

#[test]
fn a_ninth_member_is_refused() {
    let err = Core::new(config(9, 0)).unwrap_err();
    assert_eq!(err.to_string(), "composite BTC9: needs 1..=8 members, has 9");
    assert!(Core::new(config(8, 0)).is_ok());
}
