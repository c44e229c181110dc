//! `Core::state_hash` covers every part of the state: for each part, two cores built alike
//! are fed twin inputs that leave them at the same clock and output sequence, with the same
//! outputs count, and differ in that part (shown through a public view where there is one);
//! their hashes must differ. Dozens of "a refused input changed nothing" checks rely on this.
//!
//! Twins are chosen so that, as far as the records allow, nothing else differs: a control
//! command setting a value vs the same command setting another value, a far book level of one
//! size vs another, a report for one hedge order vs for the other, and so on.

mod common;

use common::hedge::*;
use common::twins::*;
use common::*;
use rfq_ring::record::{control, flags, kind, venue_report};
use rfq_ring::Record;

// ---- market state ---------------------------------------------------------------------------

#[test]
fn books() {
    let lvl = |qty| rec(kind::BOOK_LEVEL, 1, 0, flags::END, T0, BID0 - 200 * 100, qty);
    let (x, y) = differ("a book level", H::new, &[lvl(5)], &[lvl(6)]);
    let q = |h: &H| h.core.instrument(1).unwrap().book.bids.len();
    assert_eq!(q(&x), q(&y));
}

#[test]
fn bbo_and_last_trade() {
    let bbo = |px| rec(kind::BBO, 1, 0, flags::END, T0, px, 100_000);
    differ("the venue BBO", H::new, &[bbo(BID0)], &[bbo(BID0 - 1)]);
    let trade = |qty| rec(kind::TRADE, 1, 0, flags::END, T0, ASK0, qty);
    differ("the last trade", H::new, &[trade(1)], &[trade(2)]);
}

#[test]
fn sync_status() {
    // instrument 2 gets a crossed one-level snapshot: it ends the snapshot (live, reported
    // crossed) in one core, and is declared stale before the end in the other (reported
    // stale): the same book, one status report each, sync live vs stale
    let s = flags::SNAPSHOT;
    let clear = rec(kind::BOOK_CLEAR, 2, 255, s, T0, 0, 0);
    let bid = rec(kind::BOOK_LEVEL, 2, 0, s, T0, ASK0 + 100, 1_000);
    let ask = |fl| rec(kind::BOOK_LEVEL, 2, 1, fl, T0, ASK0, 1_000);
    let stale = rec(kind::BOOK_STALE, 2, 255, flags::END, T0, 0, 0);
    let (x, y) = differ("a book's sync status", two_books, &[clear, bid, ask(s), stale], &[clear, bid, ask(s | flags::END)]);
    assert_ne!(x.core.status_code(2), y.core.status_code(2));
}

#[test]
fn composite_membership() {
    let base = || {
        let mut h = H::with({
            let mut c = config();
            c.instruments.push(inst(3, "okx"));
            c.composites[0].members = vec![1, 3];
            c
        });
        h.feed(&snapshot3(T0));
        h
    };
    ctl_twin("a composite member's inclusion", base, control::SET_MEMBER, 0, 1, 3, 0, 1);
}

#[test]
fn composite_pricing() {
    ctl_twin("the ladder's base spread", H::new, control::SET_PRICING, 6, 1, 0, 150, 100);
    ctl_twin("the ladder's size spread", H::new, control::SET_PRICING, 7, 1, 0, 5, 0);
}

#[test]
fn quotes_ladder() {
    // reprice at base spreads 150 vs 200, then both back to 100 (not repriced yet): only the
    // published ladder differs
    let t = T0 + 1;
    let seq = |v| [ctl(control::SET_PRICING, 6, 1, 0, v, 0, t), hb(t), ctl(control::SET_PRICING, 6, 1, 0, 100, 0, t)];
    let (x, y) = differ("the composite's quote ladder", H::new, &seq(150), &seq(200));
    assert_ne!(x.core.quotes(1).unwrap(), y.core.quotes(1).unwrap());
}

#[test]
fn rfq_pricing_v2_parameters() {
    ctl_twin("the skew parameter", H::new, control::SET_PRICING, 1, 1, 0, 5, 0);
    ctl_twin("the hedge fee parameter", H::new, control::SET_PRICING, 5, 1, 0, 5, 0);
}

// ---- the desk -------------------------------------------------------------------------------

#[test]
fn rfq_quote_slots() {
    let (x, y) = differ("a quote's size", H::new, &[rfq(1, 0, BTC, 7, T0)], &[rfq(1, 0, 2 * BTC, 7, T0)]);
    assert_ne!(x.core.quote_view(1).unwrap().ask, y.core.quote_view(1).unwrap().ask);
}

#[test]
fn pending_approvals() {
    let base = || {
        let mut c = config();
        c.rfq.risk[0].approval_qty = BTC;
        H::with(c)
    };
    let (x, y) = differ("a pending approval", base, &[rfq(1, 0, 2 * BTC, 7, T0)], &[rfq(1, 0, 3 * BTC, 7, T0)]);
    assert_ne!(x.core.pending()[0].qty, y.core.pending()[0].qty);
}

#[test]
fn clients_credit_throttles_and_settings() {
    ctl_twin("a client's credit limit", H::new, control::SET_CLIENT, 1, 0, 1, 5_000_000, 6_000_000);
    ctl_twin("a client's open-quote limit", H::new, control::SET_CLIENT, 2, 0, 1, 5, 6);
    ctl_twin("a client's RFQ burst", H::new, control::SET_CLIENT, 4, 0, 1, 5, 6);
    ctl_twin("a client's accept burst", H::new, control::SET_CLIENT, 6, 0, 1, 5, 6);
    ctl_twin("a client's tier", H::new, control::SET_CLIENT, 7, 0, 1, 2, 1);
    ctl_twin("a client's enabled flag", H::new, control::SET_CLIENT, 8, 0, 1, 0, 1);
}

#[test]
fn throttle_tokens() {
    // 1 RFQ/s, burst 5, one token taken: the burst set to 2 then 5 keeps 2 tokens; set to 5
    // twice keeps 4 — same throttle, different saved tokens
    let base = || {
        let mut c = config();
        c.rfq.clients[0].rfq_rate = rfq_model::Throttle { per_sec: 1, burst: 5 };
        let mut h = H::with(c);
        h.quote(1, 0, BTC, 7);
        h
    };
    let burst = |v| ctl(control::SET_CLIENT, 4, 0, 1, v, 0, T0);
    differ("a client's throttle tokens", base, &[burst(2), burst(5)], &[burst(5), burst(5)]);
}

#[test]
fn positions_and_pnl() {
    // client 2 (partial fills allowed) takes 1 or 0.5 BTC of the same quote
    let base = || {
        let mut h = H::new();
        h.quote(2, 0, BTC, 7);
        h
    };
    let q = base().core.quote_view(1).unwrap().ask.unwrap();
    let (x, y) = differ("positions and P&L", base, &[accept(2, 1, 0, q.0, BTC, T0)], &[accept(2, 1, 0, q.0, BTC / 2, T0)]);
    assert_ne!(x.core.position(1).unwrap().qty, y.core.position(1).unwrap().qty);
    assert_ne!(x.core.client_view(2).unwrap().utilised, y.core.client_view(2).unwrap().utilised);
}

#[test]
fn realised_pnl_at_equal_position() {
    // buy 1 then sell 1 back: flat in both, at two different sell prices (partial accepts of
    // quotes with different sizes do not change the price, so the ladder decides: two sizes)
    let base = || {
        let mut h = H::new();
        let (q, recs) = h.quote(2, 0, BTC, 7);
        let px = recs.iter().find(|r| r.side == 0).unwrap().price;
        h.accept(2, q, 0, px, BTC);
        h
    };
    let t = T0;
    let a = [rfq(2, 1, BTC, 8, t)];
    let b = [rfq(2, 1, 2 * BTC, 8, t)];
    let (mut x, mut y) = (base(), base());
    let (qa, qb) = (one(&x.feed(&a), kind::RFQ_QUOTE), one(&y.feed(&b), kind::RFQ_QUOTE));
    assert_ne!(qa.price, qb.price, "different prices for 1 and 2 BTC");
    let fa = [accept(2, qa.seq, 1, qa.price, BTC, t)];
    let fb = [accept(2, qb.seq, 1, qb.price, BTC, t)];
    let (ox, oy) = (x.feed(&fa), y.feed(&fb));
    assert_eq!((one(&ox, kind::EXEC).qty, one(&oy, kind::EXEC).qty), (BTC, BTC));
    assert_eq!(x.core.position(1).unwrap().qty, y.core.position(1).unwrap().qty);
    assert_ne!(x.core.position(1).unwrap().realised, y.core.position(1).unwrap().realised);
    assert_ne!(x.core.state_hash(), y.core.state_hash(), "realised P&L is not covered by state_hash");
}

#[test]
fn instrument_limits_and_controls() {
    ctl_twin("a long limit", H::new, control::SET_INSTRUMENT, 4, 1, 0, 6 * BTC, 7 * BTC);
    ctl_twin("a collar", H::new, control::SET_INSTRUMENT, 6, 1, 0, 500, 600);
    ctl_twin("an approval threshold", H::new, control::SET_INSTRUMENT, 7, 1, 0, BTC, 2 * BTC);
    ctl_twin("the restricted list", H::new, control::RESTRICT, 0, 1, 0, 1, 0);
    ctl_twin("the desk's execution count", H::new, control::SET_DESK, 1, 0, 0, 3, 0);
    ctl_twin("the desk's execution window", H::new, control::SET_DESK, 2, 0, 0, 2 * SEC, SEC);
    ctl_twin("a tier's markup", H::new, control::SET_TIER, 1, 0, 1, 10, 0);
    ctl_twin("a tier's TTL", H::new, control::SET_TIER, 3, 0, 1, 2 * SEC, SEC);
}

#[test]
fn kill_switches() {
    // on vs off (already off), then heartbeats until the cancellation scan is done in both
    for (part, client, inst) in [("the desk kill switch", 0, 0), ("a client kill switch", 1, 0), ("an instrument kill switch", 0, 1)] {
        let t = T0;
        let tail = [hb(t), hb(t), hb(t)];
        let a = [&[kill(client, inst, true, t)][..], &tail].concat();
        let b = [&[kill(client, inst, false, t)][..], &tail].concat();
        differ(part, H::new, &a, &b);
    }
}

#[test]
fn halted_by_execution_count() {
    // exec count 1: one fill halts the client and the instrument (two RISK_EVENTs more); the
    // twin's fill leaves the limit at 2 — then the limit is set to 1 in both
    let base = || {
        let mut h = H::new();
        h.quote(1, 0, BTC, 7);
        h
    };
    let q = base().core.quote_view(1).unwrap().ask.unwrap();
    let set = |n| ctl(control::SET_DESK, 1, 0, 0, n, 0, T0);
    let fill = accept(1, 1, 0, q.0, BTC, T0);
    let (x, y) = differ_by("halts", base, &[set(1), fill, set(1)], &[set(2), fill, set(1)], false);
    assert_ne!(x.core.instrument_view(1).unwrap().halted, y.core.instrument_view(1).unwrap().halted);
}

// ---- hedging --------------------------------------------------------------------------------

#[test]
fn hedging_policy() {
    ctl_twin("the hedging mode", hedged, control::SET_HEDGE, 1, 1, 0, 0, 1);
    ctl_twin("the hedging slippage", hedged, control::SET_HEDGE, 4, 1, 0, 60, 50);
    ctl_twin("the hedging retry delay", hedged, control::SET_HEDGE, 5, 1, 0, SEC, SEC / 10);
}

#[test]
fn oms_orders() {
    let (_, o0, o1) = routed();
    let base = || routed().0;
    let t = base().t;
    let ack = |o: Record| report(o.source, o.instrument, o.seq, venue_report::ACK, 1_000, 0, 0, 0, t);
    let (x, y) = differ("an OMS order's state", base, &[ack(o0)], &[ack(o1)]);
    let st = |h: &H, id| h.core.hedge_orders().into_iter().find(|v| v.cl_ord_id == id).unwrap().state;
    assert_ne!(st(&x, o0.seq), st(&y, o0.seq));
}

#[test]
fn hedge_fills_and_venue_positions() {
    let (_, o0, _) = routed();
    let base = || routed().0;
    let t = base().t;
    let fill = |qty| report(o0.source, o0.instrument, o0.seq, venue_report::PARTIAL_FILL, 1_000, o0.price, qty, 0, t);
    let (x, y) = differ("hedge fills", base, &[fill(1)], &[fill(2)]);
    assert_ne!(x.core.hedge_views()[0].hedged, y.core.hedge_views()[0].hedged);
}

#[test]
fn venue_status() {
    // venue 2 goes down vs venue 1 goes down (one still up: hedging stays available)
    let base = hedged;
    let t = base().t;
    let (x, y) = differ("a venue's link status", base, &[status(2, false, t)], &[status(1, false, t)]);
    assert_ne!(x.core.hedge_views()[0].venues, y.core.hedge_views()[0].venues);
}

#[test]
fn internal_crossing_book() {
    let base = crossing;
    let t = base().t;
    let (x, y) = differ("a resting desk order", base, &[desk_order(7, 1, 6_000_050, 1_000, 0, t)], &[desk_order(7, 1, 6_000_050, 2_000, 0, t)]);
    assert_eq!(x.core.hedge_views()[0].internal.unwrap().4, y.core.hedge_views()[0].internal.unwrap().4);
}

// ---- parts the hash once left out (fee_cbps, ladder sizes, dedup contents, OMS exec ids) ----

#[test]
fn ladder_sizes() {
    // set, not yet repriced: only the ladder's sizes differ
    ctl_twin("a ladder size", H::new, control::SET_LADDER, 1, 1, 0, 2 * BTC, 3 * BTC);
}

#[test]
fn rfq_quote_slot_fee() {
    // the tier fee at quoting time, kept in the quote (fees of a later fill): quoted under a
    // fee of 50 vs 100 cbps, the tier then set to 100 in both — same quotes, same tiers
    let set = |v| ctl(control::SET_TIER, 2, 0, 1, v, 0, T0);
    let (x, y) = differ("a quote's fee", H::new, &[set(50), rfq(1, 0, BTC, 7, T0), set(100)], &[set(100), rfq(1, 0, BTC, 7, T0), set(100)]);
    let (qx, qy) = (x.core.quote_view(1).unwrap(), y.core.quote_view(1).unwrap());
    assert_eq!((qx.ask, qx.bid), (qy.ask, qy.bid), "same quoted prices");
}

#[test]
fn duplicate_id_set() {
    // RFQ ids 7 vs 8, then enough quotes to recycle every quote-table slot and time past
    // every TTL: only the set of seen client RFQ ids differs
    let mut a = vec![rfq(1, 0, BTC, 7, T0)];
    let mut b = vec![rfq(1, 0, BTC, 8, T0)];
    let mut t = T0;
    for i in 0..80 {
        t += 2 * TTL;
        for v in [&mut a, &mut b] {
            v.push(hb(t));
            v.push(rfq(1, 0, BTC, 100 + i, t));
        }
    }
    t += 2 * TTL;
    a.push(hb(t));
    b.push(hb(t));
    let (x, y) = differ("the set of seen client RFQ ids", H::new, &a, &b);
    assert!(x.core.quote_view(1).is_none() && y.core.quote_view(1).is_none(), "first quote recycled");
}

#[test]
fn oms_exec_ids() {
    // the same ack under exec id 1000 or 1001: which later report is a duplicate differs
    let (_, o0, _) = routed();
    let base = || routed().0;
    let t = base().t;
    let ack = |exec| report(o0.source, o0.instrument, o0.seq, venue_report::ACK, exec, 0, 0, 0, t);
    let (mut x, mut y) = differ("the OMS's applied exec ids", base, &[ack(1_000)], &[ack(1_001)]);
    let fill = report(o0.source, o0.instrument, o0.seq, venue_report::PARTIAL_FILL, 1_000, o0.price, 1, 0, t);
    assert_ne!(x.feed(&[fill]).len(), y.feed(&[fill]).len(), "a duplicate in one, a fill in the other");
}
