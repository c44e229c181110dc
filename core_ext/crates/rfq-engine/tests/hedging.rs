//! Hedging in the core (docs/hedging.md): policy, smart order routing across two venues,
//! venue reports through the OMS, slippage, venue link state, quoting withdrawal, refusals
//! that change nothing, snapshots.

mod common;

use common::hedge::*;
use common::*;
use rfq_engine::{hedge_reject, Core, SnapshotAnchor};
use rfq_model::HedgeMode;
use rfq_ring::record::{flags, kind, rfq_reject, venue_report};
use rfq_ring::Record;

/// A refused input changes nothing but the clock: same hash as a heartbeat at its time.
fn assert_refused(h: &H, r: Record, reason: i64) {
    let mut a = Core::restore(hedge_cfg(HedgeMode::Full, 0, 0), &mut h.core.snapshot_bytes(&SnapshotAnchor::detached(1)).as_slice()).unwrap().0;
    let mut b = Core::restore(hedge_cfg(HedgeMode::Full, 0, 0), &mut h.core.snapshot_bytes(&SnapshotAnchor::detached(1)).as_slice()).unwrap().0;
    let mut out = Vec::new();
    a.process(&r, &mut out);
    let rej = one(&out, kind::HEDGE_REJECT);
    assert_eq!(rej.aux, reason, "{rej:?}");
    let mut hb_out = Vec::new();
    b.process(&Record { kind: kind::HEARTBEAT, side: 255, flags: flags::END, ts_recv: r.ts_recv, ..Record::ZERO }, &mut hb_out);
    if r.flags & flags::END != 0 {
        assert_eq!(a.state_hash(), b.state_hash(), "refused {r:?} changed state");
    } else {
        let c = Core::restore(hedge_cfg(HedgeMode::Full, 0, 0), &mut h.core.snapshot_bytes(&SnapshotAnchor::detached(1)).as_slice()).unwrap().0;
        assert_eq!(a.state_hash(), c.state_hash(), "refused {r:?} changed state");
    }
}

#[test]
fn no_venue_up_means_no_quoting() {
    let mut h = harness(HedgeMode::Full, 0, 0);
    let out = h.rfq(1, 0, ONE * 1000, 1);
    assert_eq!(one(&out, kind::RFQ_REJECT).aux, rfq_reject::HEDGE_UNAVAILABLE);
    let out = h.send(status(2, true, h.t));
    let st = one(&out, kind::HEDGE_STATUS);
    assert_eq!((st.instrument, st.side), (1, 1));
    h.quote(1, 0, ONE * 1000, 2);
}

#[test]
fn router_splits_by_effective_price_and_reports_bring_the_desk_flat() {
    let mut h = harness(HedgeMode::Full, 0, 0);
    up_both(&mut h);
    // client buys 1.5 BTC: the desk is short 1.5 and buys it back
    let out = client_buys(&mut h, 150_000_000, 1);
    let exec = one(&out, kind::EXEC);
    let o = orders(&out);
    assert_eq!(o.len(), 2, "{out:?}");
    // venue 1 (no fee) first: 1 BTC at 60001.00; then venue 2's 60000.80 (+10 cbps fee =
    // 60001.40 effective) before venue 1's 60002.00
    assert_eq!((o[0].source, o[0].instrument, o[0].side, o[0].qty), (1, 1, 0, ONE));
    assert_eq!((o[1].source, o[1].instrument, o[1].side, o[1].qty), (2, 3, 0, ONE / 2));
    // limit = worst level + 50 cbps, on tick
    assert_eq!(o[0].price, 6_000_400);
    assert_eq!(o[1].price, 6_000_380);
    let v = &h.core.hedge_views()[0];
    assert_eq!((v.client_flow, v.pending, v.hedged), (-150_000_000, 150_000_000, 0));
    assert_eq!(h.core.position(1).unwrap().qty, -150_000_000);

    // venue 1: ack, then the fill; venue 2: fill before its ack (out of order), then the ack
    let t = h.t;
    let out = h.send(report(1, 1, o[0].seq, venue_report::ACK, 1_000_001, 0, 0, 0, t));
    assert_eq!(one(&out, kind::HEDGE_REPORT).side, 2); // Acknowledged
    let out = h.send(report(1, 1, o[0].seq, venue_report::FILL, 5, 6_000_100, ONE, 0, t));
    let r = one(&out, kind::HEDGE_REPORT);
    assert_eq!((r.side, r.qty, r.price), (5, ONE, 6_000_100)); // Filled
    // slippage against the quoted price: bought below what the client paid → negative cost
    assert!(r.aux < 0, "{r:?}");
    let out = h.send(report(2, 3, o[1].seq, venue_report::FILL, 9, 6_000_080, ONE / 2, 3, t));
    assert_eq!(one(&out, kind::HEDGE_REPORT).side, 5);
    let before = h.core.state_hash();
    // the late ack and a duplicated fill are ignored: no output, no state change
    assert!(h.send(report(2, 3, o[1].seq, venue_report::ACK, 1_000_002, 0, 0, 0, t)).is_empty());
    assert!(h.send(report(2, 3, o[1].seq, venue_report::FILL, 9, 6_000_080, ONE / 2, 3, t)).is_empty());
    assert_eq!(h.core.state_hash(), before);

    let v = &h.core.hedge_views()[0];
    assert_eq!((v.hedged, v.pending, v.fills), (150_000_000, 0, 2));
    let desk = h.core.position(1).unwrap();
    assert_eq!(desk.qty, 0, "flat after hedging");
    // slippage = paid − quoted, exactly
    let paid = 6_000_100_i128 * 100_000_000 + 6_000_080_i128 * 50_000_000;
    let quoted = i128::from(exec.price) * 150_000_000;
    assert_eq!(v.slippage, paid - quoted);
    assert_eq!(v.matched_notional, quoted);
    // fee 3 (member notional scale: 7 decimals) → composite notional scale (10 decimals)
    assert_eq!(v.fees, 3_000);
    assert_eq!(v.venues, vec![(1, true, ONE, 0), (2, true, ONE / 2, 0)]);
}

#[test]
fn partial_and_threshold_policies() {
    let mut h = harness(HedgeMode::Partial, 50, 0);
    up_both(&mut h);
    let o = orders(&client_buys(&mut h, 100_000_000, 1));
    assert_eq!(o.iter().map(|r| r.qty).sum::<i64>(), ONE / 2, "half of 1 BTC");

    let mut h = harness(HedgeMode::Threshold, 0, 150_000_000);
    up_both(&mut h);
    assert!(orders(&client_buys(&mut h, 100_000_000, 1)).is_empty(), "below the threshold");
    h.t += 1;
    let o = orders(&client_buys(&mut h, 100_000_000, 2));
    assert_eq!(o.iter().map(|r| r.qty).sum::<i64>(), 2 * ONE, "the whole position once above it");
}

#[test]
fn ioc_remainder_is_routed_again_after_the_retry_delay() {
    let mut h = harness(HedgeMode::Full, 0, 0);
    h.send(status(1, true, h.t));
    let o = orders(&client_buys(&mut h, 50_000_000, 1));
    assert_eq!(o.len(), 1);
    let t = h.t;
    h.send(report(1, 1, o[0].seq, venue_report::PARTIAL_FILL, 11, 6_000_100, 20_000, 0, t));
    let out = h.send(report(1, 1, o[0].seq, venue_report::CANCEL_ACK, 1_000_011, 0, 0, 0, t));
    assert_eq!(one(&out, kind::HEDGE_REPORT).side, 6); // Cancelled
    assert!(orders(&out).is_empty(), "not before the retry delay");
    let out = h.tick(SEC / 10);
    let again = orders(&out);
    assert_eq!(again.len(), 1, "{out:?}");
    assert_eq!(again[0].qty, 30_000);
    assert!(again[0].seq > o[0].seq);
}

#[test]
fn venue_down_withdraws_quoting_and_up_reconciles() {
    let mut h = harness(HedgeMode::Full, 0, 0);
    h.send(status(1, true, h.t));
    let (q, recs) = h.quote(1, 0, 100_000_000, 1);
    let px = recs[0].price;
    let o = orders(&h.accept(1, q, 0, px, 100_000_000));
    assert_eq!(o.len(), 1);
    // a second quote, then the only venue goes down
    let (q2, recs2) = h.quote(1, 0, 100_000_000, 2);
    let (q3, recs3) = h.quote(1, 1, 50_000_000, 3);
    let out = h.send(status(1, false, h.t));
    assert_eq!(one(&out, kind::HEDGE_STATUS).side, 0);
    assert_eq!(one(&h.rfq(1, 0, 100_000_000, 4), kind::RFQ_REJECT).aux, rfq_reject::HEDGE_UNAVAILABLE);
    // risk-increasing accept refused (the quote ends rejected); risk-reducing allowed
    let out = h.accept(1, q2, 0, recs2[0].price, 100_000_000);
    assert_eq!(one(&out, kind::ACCEPT_REJECT).aux, rfq_reject::HEDGE_UNAVAILABLE);
    let out = h.accept(1, q3, 1, recs3[0].price, 50_000_000);
    one(&out, kind::EXEC);
    // while down, the fill of the in-flight order still arrives (the gateway reconciled it)
    let t = h.t;
    h.send(report(1, 1, o[0].seq, venue_report::PARTIAL_FILL, 21, 6_000_100, 40_000, 0, t));
    // up: what the venue did not report is closed, the rest is routed again
    let out = h.send(status(1, true, t));
    assert_eq!(one(&out, kind::HEDGE_STATUS).side, 1);
    let again = orders(&out);
    assert_eq!(again.len(), 1, "{out:?}");
    // desk: short 1 (client 1), long 0.5 (client sold), hedged 0.4 → buy 0.1 BTC
    assert_eq!((again[0].side, again[0].qty), (0, 10_000));
    let v = &h.core.hedge_views()[0];
    assert_eq!(v.pending, 10_000_000);
    assert!(h.core.hedge_orders().iter().any(|x| x.cl_ord_id == o[0].seq && x.state == 6));
}

#[test]
fn venue_position_limit_caps_orders() {
    let mut cfg = hedge_cfg(HedgeMode::Full, 0, 0);
    cfg.rfq.hedging[0].venues[0].max_position = ONE / 4;
    cfg.rfq.hedging[0].venues.truncate(1);
    let mut h = H::with(cfg);
    h.feed(&snapshot3(T0));
    h.send(status(1, true, h.t));
    let o = orders(&client_buys(&mut h, 100_000_000, 1));
    assert_eq!(o[0].qty, ONE / 4);
    let t = h.t;
    h.send(report(1, 1, o[0].seq, venue_report::FILL, 1, 6_000_100, ONE / 4, 0, t));
    let out = h.tick(SEC);
    let rej = one(&out, kind::HEDGE_REJECT);
    assert_eq!((rej.side, rej.aux), (hedge_reject::ORDER, rfq_reject::HEDGE_VENUE_LIMIT));
}

#[test]
fn bad_venue_inputs_are_refused_and_change_nothing() {
    let mut h = harness(HedgeMode::Full, 0, 0);
    up_both(&mut h);
    let o = orders(&client_buys(&mut h, 100_000_000, 1));
    let (id, t) = (o[0].seq, h.t + 5);
    let mut no_end = report(1, 1, id, venue_report::ACK, 1, 0, 0, 0, t);
    no_end.flags = 0;
    assert_refused(&h, no_end, rfq_reject::MALFORMED);
    assert_refused(&h, report(1, 1, 0, venue_report::ACK, 1, 0, 0, 0, t), rfq_reject::MALFORMED);
    assert_refused(&h, report(9, 1, id, venue_report::ACK, 1, 0, 0, 0, t), rfq_reject::UNKNOWN_VENUE);
    assert_refused(&h, report(1, 3, id, venue_report::ACK, 1, 0, 0, 0, t), rfq_reject::UNKNOWN_VENUE);
    assert_refused(&h, report(1, 1, id, 99, 1, 0, 0, 0, t), rfq_reject::BAD_REPORT);
    assert_refused(&h, report(1, 1, id, venue_report::FILL, 1, 6_000_100, 0, 0, t), rfq_reject::BAD_REPORT);
    assert_refused(&h, report(1, 1, id, venue_report::FILL, 1, -5, 10, 0, t), rfq_reject::BAD_REPORT);
    // OMS refusals: unknown order, exec id 0, overfill
    assert_refused(&h, report(1, 1, 4242, venue_report::ACK, 1, 0, 0, 0, t), rfq_reject::OMS_BASE + 4);
    assert_refused(&h, report(1, 1, id, venue_report::ACK, 0, 0, 0, 0, t), rfq_reject::OMS_BASE + 10);
    assert_refused(&h, report(1, 1, id, venue_report::FILL, 3, 6_000_100, 10 * ONE, 0, t), rfq_reject::OMS_BASE + 13);
    assert_refused(&h, status(7, true, t), rfq_reject::UNKNOWN_VENUE);
    let mut bad = status(1, true, t);
    bad.side = 4;
    assert_refused(&h, bad, rfq_reject::MALFORMED);
}

#[test]
fn snapshot_keeps_hedging_state_and_continues_identically() {
    let mut h = harness(HedgeMode::Full, 0, 0);
    up_both(&mut h);
    let o = orders(&client_buys(&mut h, 150_000_000, 1));
    let t = h.t;
    h.send(report(1, 1, o[0].seq, venue_report::PARTIAL_FILL, 3, 6_000_100, 60_000, 0, t));
    let bytes = h.core.snapshot_bytes(&SnapshotAnchor::detached(1));
    let (mut back, _) = Core::restore(hedge_cfg(HedgeMode::Full, 0, 0), &mut bytes.as_slice()).unwrap();
    assert_eq!(back.state_hash(), h.core.state_hash());
    assert_eq!(back.hedge_views(), h.core.hedge_views());
    assert_eq!(back.hedge_orders(), h.core.hedge_orders());
    let more = [
        report(1, 1, o[0].seq, venue_report::CANCEL_ACK, 1_000_003, 0, 0, 0, t + 1),
        report(2, 3, o[1].seq, venue_report::FILL, 4, 6_000_080, ONE / 2, 0, t + 2),
        hb(t + SEC),
    ];
    let a = h.feed(&more);
    let mut b = Vec::new();
    for r in &more {
        back.process(r, &mut b);
    }
    assert_eq!(a, b);
    assert_eq!(back.state_hash(), h.core.state_hash());
    assert_eq!(orders(&a).len(), 1, "the cancelled remainder is routed again");
}

// ---- the internal crossing book -----------------------------------------------------------

use rfq_engine::desk_event;

#[test]
fn client_flow_crosses_desk_orders_before_external_venues() {
    let mut h = crossing();
    let t = h.t;
    // a desk sell order at 60000.50: better than every external ask (60000.80 + fee, 60001.00)
    let out = h.send(desk_order(7, 1, 6_000_050, 50_000_000, 0, t));
    assert_eq!(one(&out, kind::DESK_ORDER_EVENT).side, desk_event::ACCEPTED);
    // and one at 60010.00: worse than the external book for the first levels
    h.send(desk_order(8, 1, 6_001_000, 50_000_000, 0, t));
    let out = client_buys(&mut h, 150_000_000, 1);
    let exec = one(&out, kind::EXEC);
    // 0.5 BTC crossed internally at once (venue 0), the other 1.0 BTC routed externally
    let internal: Vec<Record> = only(&out, kind::HEDGE_REPORT).into_iter().filter(|r| r.source == 0).collect();
    assert_eq!(internal.len(), 1);
    assert_eq!((internal[0].price, internal[0].qty, internal[0].side), (6_000_050, 50_000_000, 5));
    let fill = one(&out, kind::DESK_ORDER_EVENT);
    assert_eq!((fill.side, fill.seq, fill.qty, fill.aux), (desk_event::FILL, 7, 50_000_000, 0));
    let ext = orders(&out);
    assert_eq!(ext.iter().map(|o| o.qty * 1_000).sum::<i64>(), 100_000_000, "{ext:?}");
    let v = &h.core.hedge_views()[0];
    assert_eq!((v.hedged, v.pending), (50_000_000, 100_000_000));
    let (pos, cost, _, fills, resting) = v.internal.unwrap();
    assert_eq!((pos, cost, fills, resting), (-50_000_000, -6_000_050_i128 * 50_000_000, 1, 1));
    // the client-flow book got 0.5 BTC back at the desk order's price
    assert_eq!(h.core.position(1).unwrap().qty, -100_000_000);
    assert_eq!(v.slippage, 6_000_050_i128 * 50_000_000 - i128::from(exec.price) * 50_000_000);
}

#[test]
fn desk_order_refusals_change_nothing() {
    let mut h = crossing();
    let t = h.t;
    h.send(desk_order(7, 1, 6_000_050, 50_000_000, 0, t));
    let before = h.core.state_hash();
    let reason = |h: &mut H, r: Record| {
        let out = h.send(r);
        let e = one(&out, kind::DESK_ORDER_EVENT);
        assert_eq!(e.side, desk_event::REJECTED, "{e:?}");
        e.aux
    };
    let mut no_end = desk_order(9, 0, 5_999_000, 1, 0, t);
    no_end.flags = 0;
    assert_eq!(reason(&mut h, no_end), rfq_reject::MALFORMED);
    assert_eq!(reason(&mut h, desk_order(0, 0, 5_999_000, 1, 0, t)), rfq_reject::MALFORMED);
    assert_eq!(reason(&mut h, desk_order(9, 4, 5_999_000, 1, 0, t)), rfq_reject::BAD_SIDE);
    assert_eq!(reason(&mut h, desk_order(9, 0, 5_999_000, 1, 3, t)), rfq_reject::BAD_COMMAND);
    let mut other = desk_order(9, 0, 5_999_000, 1, 0, t);
    other.instrument = 2;
    assert_eq!(reason(&mut h, other), rfq_reject::NO_INTERNAL_BOOK);
    // the matching core's own refusals: duplicate id, bad qty, outside the band, a desk bid
    // that would take the desk's own ask (post-only), unknown order to cancel
    assert_eq!(reason(&mut h, desk_order(7, 0, 5_999_000, 1, 0, t)), rfq_reject::MATCH_BASE + 1);
    assert_eq!(reason(&mut h, desk_order(9, 0, 5_999_000, 0, 0, t)), rfq_reject::MATCH_BASE + 3);
    assert_eq!(reason(&mut h, desk_order(9, 0, 8_000_000, 1, 0, t)), rfq_reject::MATCH_BASE + 7);
    assert_eq!(reason(&mut h, desk_order(9, 0, 6_000_050, 1, 0, t)), rfq_reject::MATCH_BASE + 12);
    assert_eq!(reason(&mut h, desk_order(99, 0, 0, 0, 1, t)), rfq_reject::MATCH_BASE);
    assert_eq!(h.core.state_hash(), before);
    // cancel of a resting desk order
    let out = h.send(desk_order(7, 1, 0, 0, 1, t));
    let e = one(&out, kind::DESK_ORDER_EVENT);
    assert_eq!((e.side, e.aux), (desk_event::CANCELLED, 50_000_000));
    assert_eq!(h.core.hedge_views()[0].internal.unwrap().4, 0);
}

#[test]
fn snapshot_keeps_the_internal_book() {
    let mut h = crossing();
    let t = h.t;
    for (id, side, px) in [(1, 1, 6_000_050), (2, 1, 6_000_050), (3, 0, 5_999_000), (4, 1, 6_000_060)] {
        h.send(desk_order(id, side, px, 20_000_000, 0, t));
    }
    client_buys(&mut h, 30_000_000, 1); // takes order 1 whole and 0.1 of order 2 (time priority)
    let bytes = h.core.snapshot_bytes(&SnapshotAnchor::detached(1));
    let (mut back, _) = Core::restore(crossing_cfg(), &mut bytes.as_slice()).unwrap();
    assert_eq!(back.state_hash(), h.core.state_hash());
    assert_eq!(back.hedge_views(), h.core.hedge_views());
    let t = h.t + 1;
    let more = [desk_order(5, 1, 6_000_050, 10_000_000, 0, t), rfq(1, 0, 30_000_000, 9, t)];
    let a = h.feed(&more);
    let mut b = Vec::new();
    for r in &more {
        back.process(r, &mut b);
    }
    assert_eq!(a, b);
    let (q, px) = { let r = a.iter().find(|r| r.kind == kind::RFQ_QUOTE).unwrap(); (r.seq, r.price) };
    let a = h.feed(&[accept(1, q, 0, px, 30_000_000, t)]);
    let mut b = Vec::new();
    back.process(&accept(1, q, 0, px, 30_000_000, t), &mut b);
    assert_eq!(a, b);
    // price-time priority survived the restore: order 2's rest (0.1) before order 5
    let fills: Vec<(u64, i64)> = only(&a, kind::DESK_ORDER_EVENT).iter().map(|e| (e.seq, e.qty)).collect();
    assert_eq!(fills, vec![(2, 10_000_000), (5, 10_000_000), (4, 10_000_000)]);
    assert_eq!(back.state_hash(), h.core.state_hash());
}

#[test]
fn hedge_orders_respect_the_instruments_max_notional() {
    let cfg = || {
        let mut cfg = hedge_cfg(HedgeMode::Full, 0, 0);
        cfg.rfq.hedging[0].venues.truncate(1);
        cfg.rfq.risk[0].max_notional = 10_000_000; // $100,000 in cents
        cfg
    };
    let mut h = H::with(cfg());
    h.feed(&snapshot3(T0));
    h.send(status(1, true, h.t));
    // a 1.5 BTC fill ($90k) is hedged by one order
    let o1 = orders(&client_buys(&mut h, 150_000_000, 1));
    assert_eq!(o1.len(), 1);
    // nothing filled; a second 1.5 BTC fill meanwhile: after the retry delay 3 BTC ($180k)
    // need hedging, but one order may carry at most $100k at its limit price (< 1.67 BTC)
    let t = h.t;
    h.send(report(1, 1, o1[0].seq, venue_report::CANCEL_ACK, 1_000_001, 0, 0, 0, t));
    h.t += 1;
    assert!(orders(&client_buys(&mut h, 150_000_000, 2)).is_empty(), "waits for the retry delay");
    let o2 = orders(&h.tick(SEC));
    assert_eq!(o2.len(), 1);
    let notional = i128::from(o2[0].price) * i128::from(o2[0].qty); // 2 + 5 decimals
    assert!(notional <= 100_000 * 10_i128.pow(7), "{notional}");
    assert!(o2[0].qty > 160_000 && o2[0].qty < 167_000, "{:?}", o2[0]);
    // the rest goes in the next routing
    let t = h.t;
    h.send(report(1, 1, o2[0].seq, venue_report::FILL, 5, 6_000_100, o2[0].qty, 0, t));
    let o3 = orders(&h.tick(SEC));
    assert_eq!(o3.iter().map(|o| o.qty).sum::<i64>(), 300_000 - o2[0].qty);
}

#[test]
fn set_hedge_control_changes_the_policy_live() {
    use rfq_ring::record::control;
    let mut h = harness(HedgeMode::Full, 0, 0);
    up_both(&mut h);
    // off: a client fill is not hedged, and quoting no longer needs a venue
    let ack = h.ctl(control::SET_HEDGE, 1, 1, 0, 0, 0);
    assert_eq!((ack.aux, ack.ts_event), (0, 1)); // applied; previous mode full
    assert!(orders(&client_buys(&mut h, 100_000_000, 1)).is_empty());
    // refused: partial without a ratio, unknown field, composite without hedging
    assert_eq!(h.ctl(control::SET_HEDGE, 1, 1, 0, 2, 0).aux, rfq_reject::BAD_COMMAND);
    assert_eq!(h.ctl(control::SET_HEDGE, 9, 1, 0, 1, 0).aux, rfq_reject::BAD_COMMAND);
    assert_eq!(h.ctl(control::SET_HEDGE, 1, 2, 0, 1, 0).aux, rfq_reject::BAD_COMMAND);
    assert_eq!(h.core.hedge_views()[0].mode, 0);
    // refused out of range, each changing nothing (the same record time: not even the clock)
    let before = h.core.state_hash();
    for (field, value) in [(2, 0), (2, 101), (3, 0), (4, 1_000_000), (4, -1), (5, -1)] {
        assert_eq!(h.ctl(control::SET_HEDGE, field, 1, 0, value, 0).aux, rfq_reject::BAD_COMMAND, "field {field} = {value}");
        assert_eq!(h.core.state_hash(), before, "field {field} = {value}");
    }
    // each policy field as the view shows it (what the console shows before a change)
    for (field, value) in [(3, 7), (4, 9), (5, 11)] {
        assert_eq!(h.ctl(control::SET_HEDGE, field, 1, 0, value, 0).aux, 0, "field {field}");
    }
    let v = &h.core.hedge_views()[0];
    assert_eq!((v.threshold, v.max_slippage_cbps, v.retry_ns), (7, 9, 11));
    // partial 50 %, then on: the 1 BTC already sold is hedged half at the next record
    assert_eq!(h.ctl(control::SET_HEDGE, 2, 1, 0, 50, 0).aux, 0);
    assert_eq!(h.ctl(control::SET_HEDGE, 1, 1, 0, 2, 0).aux, 0);
    let out = h.tick(1);
    assert_eq!(orders(&out).iter().map(|o| o.qty).sum::<i64>(), ONE / 2, "{out:?}");
    // the live policy survives a snapshot
    let bytes = h.core.snapshot_bytes(&SnapshotAnchor::detached(1));
    let (back, _) = Core::restore(hedge_cfg(HedgeMode::Full, 0, 0), &mut bytes.as_slice()).unwrap();
    assert_eq!((back.hedge_views()[0].mode, back.hedge_views()[0].ratio_pct), (2, 50));
    assert_eq!(back.state_hash(), h.core.state_hash());
}
