//! Hedging fixtures (hedging.rs, no_alloc.rs, state_hash.rs): composite 1 over venue 1's
//! instrument 1 and venue 2's instrument 3, records of venue status, venue reports and desk
//! orders.

use super::*;
use rfq_engine::CoreConfig;
use rfq_model::{HedgeMode, HedgeSpec, HedgeVenue, InternalBookSpec};
use rfq_ring::record::{flags, kind};
use rfq_ring::Record;

/// Venue 2's book (instrument 3): asks 60000.80 + i, bids 59999.80 − i, 0.5 BTC each.
pub fn snapshot3(ts: i64) -> Vec<Record> {
    let mut v = vec![rec(kind::BOOK_CLEAR, 3, 255, flags::SNAPSHOT, ts, 0, 0)];
    for i in 0..LEVELS {
        v.push(rec(kind::BOOK_LEVEL, 3, 0, flags::SNAPSHOT, ts, BID0 - 20 - i * 100, 50_000));
        v.push(rec(kind::BOOK_LEVEL, 3, 1, flags::SNAPSHOT, ts, ASK0 - 20 + i * 100, 50_000));
    }
    v.last_mut().unwrap().flags |= flags::END;
    v
}

pub const ONE: i64 = 100_000; // 1 BTC in member units (5 decimals)

pub fn hedge_cfg(mode: HedgeMode, ratio_pct: i64, threshold: i64) -> CoreConfig {
    let mut cfg = config();
    cfg.instruments.push(inst(3, "okx"));
    cfg.composites[0].members = vec![1, 3];
    cfg.rfq.hedging = vec![HedgeSpec {
        composite: 1,
        mode,
        ratio_pct,
        threshold,
        max_slippage_cbps: 50,
        retry_ns: SEC / 10,
        venues: vec![
            HedgeVenue { venue: 1, name: "binance".into(), instrument: 1, taker_cbps: 0, max_order_qty: 0, max_position: 0 },
            HedgeVenue { venue: 2, name: "okx".into(), instrument: 3, taker_cbps: 10, max_order_qty: 0, max_position: 0 },
        ],
        internal: None,
    }];
    cfg
}

pub fn status(venue: u16, up: bool, ts: i64) -> Record {
    Record { kind: kind::VENUE_STATUS, side: u8::from(up), flags: flags::END, source: venue, seq: 1, ts_recv: ts, ..Record::ZERO }
}

#[allow(clippy::too_many_arguments)]
pub fn report(venue: u16, instrument: u16, cl: u64, what: u8, exec: i64, price: i64, qty: i64, aux: i64, ts: i64) -> Record {
    Record { kind: kind::VENUE_REPORT, instrument, side: what, flags: flags::END, source: venue, seq: cl, ts_event: exec, ts_recv: ts, price, qty, aux, ..Record::ZERO }
}

pub fn crossing_cfg() -> CoreConfig {
    let mut cfg = hedge_cfg(HedgeMode::Full, 0, 0);
    cfg.rfq.hedging[0].internal = Some(InternalBookSpec { tick: 1, min_price: 5_000_000, max_price: 7_000_000, max_orders: 64 });
    cfg
}

pub fn desk_order(id: u64, side: u8, price: i64, qty: i64, op: i64, ts: i64) -> Record {
    Record { kind: kind::DESK_ORDER, instrument: 1, side, flags: flags::END, source: 5, seq: id, ts_recv: ts, price, qty, aux: op, ..Record::ZERO }
}

pub fn harness(mode: HedgeMode, ratio: i64, threshold: i64) -> H {
    let mut h = H::with(hedge_cfg(mode, ratio, threshold));
    h.feed(&snapshot3(T0));
    h
}

pub fn up_both(h: &mut H) -> Vec<Record> {
    let mut out = h.send(status(1, true, h.t));
    out.extend(h.send(status(2, true, h.t)));
    out
}

/// Client buys `qty` (composite units): RFQ, accept; returns the accept's outputs.
pub fn client_buys(h: &mut H, qty: i64, id: u64) -> Vec<Record> {
    let (q, recs) = h.quote(1, 0, qty, id);
    let px = recs.iter().find(|r| r.side == 0).unwrap().price;
    h.accept(1, q, 0, px, qty)
}

pub fn orders(out: &[Record]) -> Vec<Record> {
    only(out, kind::HEDGE_ORDER)
}

pub fn crossing() -> H {
    let mut h = H::with(crossing_cfg());
    h.feed(&snapshot3(T0));
    up_both(&mut h);
    h
}
