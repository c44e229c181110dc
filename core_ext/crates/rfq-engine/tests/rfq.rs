//! The RFQ workflow (docs/rfq-protocol.md): every transition and every reject reason, limits
//! at / just below / just above their thresholds, races, approvals, kill switches, throttles,
//! and "a rejected input changes no state" by state hash.

mod common;

use common::*;
use rfq_engine::{Core, QuoteState};
use rfq_model::{PricingV2, Throttle};
use rfq_ring::record::{control, flags, kind, quote_end, rfq_reject as rr};
use rfq_ring::Record;

trait Refuse {
    /// Send `r` (at the current core time, so the clock does not move) and check it is
    /// refused with `reason` by a record of kind `k`, changing no state.
    fn refused(&mut self, r: Record, k: u16, reason: i64);
    fn rfq_refused(&mut self, r: Record, reason: i64) {
        self.refused(r, kind::RFQ_REJECT, reason);
    }
}

impl Refuse for H {
    fn refused(&mut self, r: Record, k: u16, reason: i64) {
        let before = self.core.state_hash();
        let out = self.send(r);
        assert_eq!(out.len(), 1, "{r:?} -> {out:?}");
        assert_eq!(out[0].kind, k, "{out:?}");
        assert_eq!(out[0].aux, reason, "{r:?} -> {out:?}");
        assert_eq!(self.core.state_hash(), before, "state changed by {r:?}");
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}

#[test]
fn two_way_quote_then_fill_updates_positions_and_fees() {
    let mut h = H::new();
    let (qid, q) = h.quote(1, 255, BTC, 11);
    assert_eq!(q.len(), 2);
    assert_eq!((q[0].side, q[0].price, q[0].qty, q[0].flags & flags::END), (0, ASK_1BTC, BTC, 0));
    assert_eq!((q[1].side, q[1].price, q[1].qty, q[1].flags & flags::END), (1, BID_1BTC, BTC, flags::END));
    assert_eq!((q[0].source, q[0].aux, q[0].ts_event, q[0].ts_recv), (1, 11, T0 + TTL, T0));
    assert_eq!(qid, 1);
    let v = h.core.quote_view(qid).unwrap();
    assert_eq!((v.ask, v.bid, v.state, v.client_rfq_id), (Some((ASK_1BTC, BTC)), Some((BID_1BTC, BTC)), QuoteState::Live, 11));
    assert_eq!(h.core.client_view(1).unwrap().open_quotes, 1);

    let out = h.accept(1, qid, 0, ASK_1BTC, BTC);
    let kinds: Vec<u16> = out.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec![kind::EXEC, kind::EXEC_FEES, kind::QUOTE_END]);
    let (e, f, end) = (out[0], out[1], out[2]);
    assert_eq!((e.seq, e.price, e.qty, e.aux, e.ts_event, e.side, e.source), (1, ASK_1BTC, BTC, 1, 777, 0, 1));
    let notional = i128::from(ASK_1BTC) * i128::from(BTC);
    let fee = ceil_div(notional * 100, 1_000_000);
    assert_eq!((f.qty as i128, f.price as i128, f.aux, f.flags), (notional, fee, 11, flags::END));
    assert_eq!((end.aux, end.seq, end.ts_event), (quote_end::FILLED, qid, 11));
    let desk = h.core.position(1).unwrap();
    assert_eq!((desk.qty, desk.cost, desk.fees, desk.trades), (-BTC, -notional, fee, 1));
    // desk short 1 BTC sold at 60007.01; marked at the mid 60000.50
    assert_eq!(desk.unrealised, Some(-i128::from(BTC) * i128::from(MID) + notional));
    let cl = h.core.client_position(1, 1).unwrap();
    assert_eq!((cl.qty, cl.cost, cl.fees), (BTC, notional, fee));
    let cv = h.core.client_view(1).unwrap();
    assert_eq!(cv.utilised, 6_000_701); // cents, exact here
    assert_eq!(cv.open_quotes, 0);
    assert_eq!(h.core.quote_view(qid).unwrap().state, QuoteState::Filled);
    let st = h.core.rfq_stats();
    assert_eq!((st.rfqs, st.quotes, st.fills), (1, 1, 1));
    // the other side of a filled quote is gone too
    h.refused(accept(1, qid, 1, BID_1BTC, BTC, h.t), kind::ACCEPT_REJECT, rr::QUOTE_NOT_LIVE);
}

#[test]
fn one_sided_quotes_and_sell_fill() {
    let mut h = H::new();
    let (qid, q) = h.quote(1, 1, BTC, 5);
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].side, q[0].price, q[0].flags), (1, BID_1BTC, flags::END));
    h.refused(accept(1, qid, 0, ASK_1BTC, BTC, h.t), kind::ACCEPT_REJECT, rr::BAD_SIDE);
    let out = h.accept(1, qid, 1, BID_1BTC, BTC);
    assert_eq!(out[0].kind, kind::EXEC);
    assert_eq!(h.core.position(1).unwrap().qty, BTC);
    assert_eq!(h.core.client_position(1, 1).unwrap().qty, -BTC);
}

#[test]
fn every_rfq_request_reject_changes_no_state() {
    let mut h = H::new();
    h.quote(1, 0, BTC, 1); // a live quote, so a reject has state to disturb
    let t = h.t;
    let mut no_end = rfq(1, 0, BTC, 2, t);
    no_end.flags = 0;
    h.rfq_refused(no_end, rr::MALFORMED);
    h.rfq_refused(rfq(1, 0, BTC, 0, t), rr::MALFORMED);
    h.rfq_refused(rfq(99, 0, BTC, 2, t), rr::UNKNOWN_CLIENT);
    h.rfq_refused(rfq(0, 0, BTC, 2, t), rr::UNKNOWN_CLIENT);
    h.rfq_refused(rfq(3, 0, BTC, 2, t), rr::NOT_AUTHORISED);
    h.rfq_refused(Record { instrument: 9, ..rfq(1, 0, BTC, 2, t) }, rr::UNKNOWN_INSTRUMENT);
    h.rfq_refused(Record { instrument: 2, ..rfq(1, 0, BTC, 2, t) }, rr::RESTRICTED); // no risk entry
    h.rfq_refused(rfq(1, 0, BTC, 1, t), rr::DUPLICATE_ID);
    h.rfq_refused(rfq(1, 2, BTC, 2, t), rr::BAD_SIDE);
    h.rfq_refused(rfq(1, 0, 0, 2, t), rr::BAD_SIZE);
    h.rfq_refused(rfq(1, 0, -5, 2, t), rr::BAD_SIZE);
    h.rfq_refused(Record { price: -1, ..rfq(1, 0, BTC, 2, t) }, rr::BAD_LIMIT);
    h.rfq_refused(Record { aux: -1, ..rfq(1, 0, BTC, 2, t) }, rr::BAD_TTL);
    h.rfq_refused(Record { aux: 10 * SEC + 1, ..rfq(1, 0, BTC, 2, t) }, rr::BAD_TTL);
    // sizes: just below the minimum / just above the maximum
    h.rfq_refused(rfq(1, 0, BTC / 100 - 1, 2, t), rr::BELOW_MIN_SIZE);
    h.rfq_refused(rfq(1, 0, 10 * BTC + 1, 2, t), rr::ABOVE_MAX_SIZE);
    h.rfq_refused(Record { price: ASK_1BTC - 1, ..rfq(1, 0, BTC, 2, t) }, rr::EXCEEDS_LIMIT);
    h.rfq_refused(Record { price: BID_1BTC + 1, ..rfq(1, 1, BTC, 2, t) }, rr::EXCEEDS_LIMIT);
    // a rejected id is not consumed: the same id is quoted now
    let (_, q) = h.quote(1, 0, BTC, 2);
    assert_eq!(q[0].aux, 2);
    // at the limits: min size, max TTL, limit price equal to the quote
    h.quote(1, 0, BTC / 100, 3);
    let out = h.send(Record { aux: 10 * SEC, ..rfq(1, 0, BTC, 4, h.t) });
    assert_eq!(one(&out, kind::RFQ_QUOTE).ts_event, h.t + 10 * SEC);
    let out = h.send(Record { price: ASK_1BTC, ..rfq(1, 0, BTC, 5, h.t) });
    assert_eq!(one(&out, kind::RFQ_QUOTE).price, ASK_1BTC);
    let out = h.send(Record { price: BID_1BTC, ..rfq(1, 1, BTC, 6, h.t) });
    assert_eq!(one(&out, kind::RFQ_QUOTE).price, BID_1BTC);
}

#[test]
fn max_size_at_threshold_is_quoted() {
    let mut cfg = config();
    cfg.rfq.risk[0].max_notional = 100_000_000_000;
    let mut h = H::with(cfg);
    let (_, q) = h.quote(1, 0, 10 * BTC, 1);
    assert_eq!(q[0].qty, 10 * BTC);
}

#[test]
fn market_rejects() {
    // no book at all
    let mut h = H { core: Core::new(config()).unwrap(), t: T0 };
    h.send(hb(T0));
    h.rfq_refused(rfq(1, 0, BTC, 1, T0), rr::NO_MARKET);
    // stale member
    let mut h = H::new();
    h.send(rec(kind::BOOK_STALE, 1, 255, flags::END, h.t, 0, 0));
    h.rfq_refused(rfq(1, 0, BTC, 1, h.t), rr::STALE_MARKET);
    // silent for longer than stale_after
    let mut cfg = config();
    cfg.composites[0].stale_after_ns = SEC;
    let mut h = H::with(cfg);
    h.tick(SEC + 1);
    h.rfq_refused(rfq(1, 0, BTC, 1, h.t), rr::STALE_MARKET);
    // too thin: 50 BTC of depth, 60 BTC asked (within max size and notional)
    let mut cfg = config();
    cfg.rfq.risk[0].max_qty = 100 * BTC;
    cfg.rfq.risk[0].max_notional = 100_000_000_000;
    cfg.rfq.risk[0].long_limit = 100 * BTC;
    cfg.rfq.risk[0].short_limit = 100 * BTC;
    let mut h = H::with(cfg);
    h.rfq_refused(rfq(1, 0, 60 * BTC, 1, h.t), rr::NO_MARKET);
    let (_, q) = h.quote(1, 0, 50 * BTC, 2);
    assert_eq!(q[0].qty, 50 * BTC);
    // crossed composite: a second member bidding above the first one's ask
    let mut cfg = config();
    cfg.composites[0].members = vec![1, 2];
    let mut h = H::with(cfg);
    let mut snap = snapshot(2, h.t);
    for r in snap.iter_mut().filter(|r| r.kind == kind::BOOK_LEVEL) {
        r.price += 1_000;
    }
    h.feed(&snap);
    h.rfq_refused(rfq(1, 0, BTC, 1, h.t), rr::CROSSED_MARKET);
}

#[test]
fn notional_limit_at_below_and_above() {
    let mut cfg = config();
    // max notional = exactly 2 BTC at the mid (60000.50 × 2 = 120001.00 = 12_000_100 cents)
    cfg.rfq.risk[0].max_notional = 12_000_100;
    let mut h = H::with(cfg);
    h.quote(1, 0, 2 * BTC, 1);
    h.quote(1, 0, 2 * BTC - 1, 2);
    h.rfq_refused(rfq(1, 0, 2 * BTC + 1, 3, h.t), rr::ABOVE_MAX_NOTIONAL);
}

#[test]
fn collar_at_below_and_above() {
    // 1 BTC ask 6_000_701 is 651 above the mid 6_000_050: 651/6_000_050 = 108.499 cbps
    let mut cfg = config();
    cfg.rfq.risk[0].collar_cbps = 109;
    let mut h = H::with(cfg);
    h.quote(1, 0, BTC, 1);
    h.set(control::SET_INSTRUMENT, 6, 1, 0, 108);
    h.rfq_refused(rfq(1, 0, BTC, 2, h.t), rr::PRICE_COLLAR);
    // two-way: the ask side is dropped by the collar, the bid (650 below, 108.33 cbps... also out) too
    h.rfq_refused(rfq(1, 255, BTC, 2, h.t), rr::PRICE_COLLAR);
    // bid: 650 below the mid = 108.332 cbps → inside a 109 collar... and outside 108
    h.rfq_refused(rfq(1, 1, BTC, 2, h.t), rr::PRICE_COLLAR);
    h.set(control::SET_INSTRUMENT, 6, 1, 0, 109);
    h.quote(1, 1, BTC, 2);
}

#[test]
fn two_way_keeps_the_side_that_passes() {
    let mut h = H::new();
    // limit 59_990.00: the bid (59994.00) passes, the ask (60007.01) is above it
    let out = h.send(Record { price: 5_999_000, ..rfq(1, 255, BTC, 1, h.t) });
    let q = one(&out, kind::RFQ_QUOTE);
    assert_eq!((q.side, q.price, q.flags & flags::END), (1, BID_1BTC, flags::END));
    // both sides fail: the first side's (the ask's) reason
    let mut cfg = config();
    cfg.rfq.risk[0].long_limit = 0; // the bid (desk buys) breaks the long limit
    let mut h = H::with(cfg);
    let out = h.send(Record { price: 5_999_000, ..rfq(1, 255, BTC, 1, h.t) });
    assert_eq!(one(&out, kind::RFQ_REJECT).aux, rr::EXCEEDS_LIMIT);
    let out = h.send(rfq(1, 255, BTC, 1, h.t));
    let q = one(&out, kind::RFQ_QUOTE);
    assert_eq!(q.side, 0, "only the ask survives the long limit");
}

#[test]
fn position_limits_at_below_and_above() {
    let mut cfg = config();
    cfg.rfq.risk[0].long_limit = 2 * BTC;
    cfg.rfq.risk[0].short_limit = 3 * BTC;
    let mut h = H::with(cfg);
    // desk buys (client side 1): exactly to the long limit is fine, one unit more is not
    h.rfq_refused(rfq(1, 1, 2 * BTC + 1, 1, h.t), rr::POSITION_LIMIT);
    h.quote(1, 1, 2 * BTC, 1);
    h.rfq_refused(rfq(1, 0, 3 * BTC + 1, 2, h.t), rr::POSITION_LIMIT);
    let (qid, q) = h.quote(1, 0, 3 * BTC, 2);
    h.accept(1, qid, 0, q[0].price, 3 * BTC);
    assert_eq!(h.core.position(1).unwrap().qty, -3 * BTC);
    // at the short limit now: the desk may only buy
    h.rfq_refused(rfq(1, 0, BTC / 100, 3, h.t), rr::POSITION_LIMIT);
    h.quote(1, 1, 5 * BTC, 3);
    h.rfq_refused(rfq(1, 1, 5 * BTC + 1, 4, h.t), rr::POSITION_LIMIT);
}

#[test]
fn position_limit_rechecked_at_the_hit() {
    let mut cfg = config();
    cfg.rfq.risk[0].short_limit = BTC;
    let mut h = H::with(cfg);
    let (a, qa) = h.quote(1, 0, BTC, 1);
    let (b, qb) = h.quote(2, 0, BTC, 1);
    h.accept(1, a, 0, qa[0].price, BTC);
    // the second quote was fine when made; the desk is now at its short limit
    let before = h.core.state_hash();
    let out = h.accept(2, b, 0, qb[0].price, BTC);
    assert_eq!(out.iter().map(|r| (r.kind, r.aux)).collect::<Vec<_>>(), vec![(kind::ACCEPT_REJECT, rr::POSITION_LIMIT), (kind::QUOTE_END, quote_end::REJECTED)]);
    assert_eq!(out[1].side as i64, rr::POSITION_LIMIT);
    assert_ne!(h.core.state_hash(), before, "the documented exception: the quote ended");
    assert_eq!(h.core.quote_view(b).unwrap().state, QuoteState::Rejected);
    assert_eq!(h.core.position(1).unwrap().qty, -BTC);
    h.refused(accept(2, b, 0, qb[0].price, BTC, h.t), kind::ACCEPT_REJECT, rr::QUOTE_NOT_LIVE);
}

#[test]
fn credit_limit_at_below_and_above() {
    let mut cfg = config();
    // 1 BTC at 60007.01 = 6_000_701 cents exactly
    cfg.rfq.clients[0].credit_limit = 6_000_701;
    let mut h = H::with(cfg);
    let (qid, _) = h.quote(1, 0, BTC, 1);
    h.set(control::SET_CLIENT, 1, 0, 1, 6_000_700);
    h.rfq_refused(rfq(1, 0, BTC, 2, h.t), rr::INSUFFICIENT_CREDIT);
    // at the hit: one cent short of the notional
    let out = h.accept(1, qid, 0, ASK_1BTC, BTC);
    assert_eq!(one(&out, kind::ACCEPT_REJECT).aux, rr::INSUFFICIENT_CREDIT);
    assert_eq!(one(&out, kind::QUOTE_END).aux, quote_end::REJECTED);
    h.set(control::SET_CLIENT, 1, 0, 1, 6_000_701);
    let (qid, _) = h.quote(1, 0, BTC, 2);
    let out = h.accept(1, qid, 0, ASK_1BTC, BTC);
    assert_eq!(out[0].kind, kind::EXEC);
    assert_eq!(h.core.client_view(1).unwrap().utilised, 6_000_701);
    // full: no more buying, but selling (reducing exposure) is fine
    h.rfq_refused(rfq(1, 0, BTC / 100, 3, h.t), rr::INSUFFICIENT_CREDIT);
    let (qid, q) = h.quote(1, 1, BTC / 2, 3);
    h.accept(1, qid, 1, q[0].price, BTC / 2);
    assert!(h.core.client_view(1).unwrap().utilised < 6_000_701);
}

#[test]
fn max_open_quotes_at_below_and_above() {
    let mut h = H::new();
    h.set(control::SET_CLIENT, 2, 0, 1, 2);
    h.quote(1, 0, BTC, 1);
    let (q2, _) = h.quote(1, 0, BTC, 2);
    h.rfq_refused(rfq(1, 0, BTC, 3, h.t), rr::MAX_OPEN_QUOTES);
    // another client is not affected
    h.quote(2, 0, BTC, 3);
    // a quote ending frees a place
    h.send(cancel(1, q2, h.t));
    h.quote(1, 0, BTC, 3);
    assert_eq!(h.core.client_view(1).unwrap().open_quotes, 2);
}

#[test]
fn quote_table_full_is_other() {
    let mut cfg = config();
    cfg.rfq.desk.quote_table = 16;
    cfg.rfq.clients[0].max_open_quotes = 100;
    let mut h = H::with(cfg);
    // ids 1..=15 fill slots 1..=15; id 16 takes slot 0
    for id in 1..=16 {
        h.quote(1, 0, BTC, id);
    }
    // id 17 needs slot 1, still live
    h.rfq_refused(rfq(1, 0, BTC, 17, h.t), rr::OTHER);
    h.send(cancel(1, 1, h.t));
    let (qid, _) = h.quote(1, 0, BTC, 17);
    assert_eq!(qid, 17);
    // quote 1 fell out of the table
    h.refused(accept(1, 1, 0, ASK_1BTC, BTC, h.t), kind::ACCEPT_REJECT, rr::UNKNOWN_QUOTE);
    h.refused(cancel(1, 1, h.t), kind::CANCEL_REJECT, rr::UNKNOWN_QUOTE);
    assert!(h.core.quote_view(1).is_none());
}

#[test]
fn every_accept_reject_changes_no_state() {
    let mut h = H::new();
    let (a, _) = h.quote(1, 0, BTC, 1); // tier 1: no partial fills
    let (p, _) = h.quote(2, 255, BTC, 1); // tier 2: partial fills
    let t = h.t;
    let ar = kind::ACCEPT_REJECT;
    let mut no_end = accept(1, a, 0, ASK_1BTC, BTC, t);
    no_end.flags = 0;
    h.refused(no_end, ar, rr::MALFORMED);
    h.refused(accept(1, 0, 0, ASK_1BTC, BTC, t), ar, rr::MALFORMED);
    h.refused(accept(99, a, 0, ASK_1BTC, BTC, t), ar, rr::UNKNOWN_CLIENT);
    h.refused(accept(1, 99, 0, ASK_1BTC, BTC, t), ar, rr::UNKNOWN_QUOTE);
    h.refused(Record { instrument: 2, ..accept(1, a, 0, ASK_1BTC, BTC, t) }, ar, rr::UNKNOWN_QUOTE);
    h.refused(accept(2, a, 0, ASK_1BTC, BTC, t), ar, rr::UNKNOWN_QUOTE); // another client's quote
    h.refused(accept(1, a, 1, BID_1BTC, BTC, t), ar, rr::BAD_SIDE);
    h.refused(accept(1, a, 7, ASK_1BTC, BTC, t), ar, rr::BAD_SIDE);
    h.refused(accept(1, a, 0, ASK_1BTC - 1, BTC, t), ar, rr::PRICE_MISMATCH);
    h.refused(accept(1, a, 0, ASK_1BTC, BTC - 1, t), ar, rr::SIZE_MISMATCH);
    h.refused(accept(1, a, 0, ASK_1BTC, BTC + 1, t), ar, rr::SIZE_MISMATCH);
    h.refused(accept(2, p, 1, BID_1BTC, BTC + 1, t), ar, rr::SIZE_MISMATCH);
    h.refused(accept(2, p, 1, BID_1BTC, 0, t), ar, rr::SIZE_MISMATCH);
    // partial fill of a partial quote
    let out = h.accept(2, p, 1, BID_1BTC, BTC / 4);
    assert_eq!(one(&out, kind::EXEC).qty, BTC / 4);
    assert_eq!(one(&out, kind::QUOTE_END).aux, quote_end::FILLED);
    h.refused(accept(2, p, 0, ASK_1BTC, BTC, h.t), ar, rr::QUOTE_NOT_LIVE);
    h.refused(accept(2, p, 1, BID_1BTC, BTC / 4, h.t), ar, rr::QUOTE_NOT_LIVE);
}

/// The records answering `r`, with the echoed quote id blanked (the one field that may differ).
fn answer_without_id(h: &mut H, r: Record) -> Vec<Record> {
    let before = h.core.state_hash();
    let out = h.send(r);
    assert_eq!(h.core.state_hash(), before, "state changed by {r:?}");
    out.into_iter().map(|o| Record { seq: 0, ..o }).collect()
}

#[test]
fn another_clients_quote_is_answered_as_an_unknown_id() {
    // no oracle: whatever state another client's quote is in, an accept or cancel naming it
    // gets the very answer an id never issued gets (UNKNOWN_QUOTE, same record but the id)
    let mut h = H::new();
    let (live, _) = h.quote(1, 0, BTC, 1);
    let (filled, _) = h.quote(1, 0, BTC, 2);
    assert_eq!(h.accept(1, filled, 0, ASK_1BTC, BTC)[0].kind, kind::EXEC);
    let (cancelled, _) = h.quote(1, 0, BTC, 3);
    h.send(cancel(1, cancelled, h.t));
    let (expired, _) = h.quote(1, 0, BTC, 4);
    let (own, _) = h.quote(2, 0, BTC, 1);
    let never = own + 1000;
    let t = h.t;
    for client in [2, 3] {
        // client 3 is disabled: an id it does not own is still just unknown to it
        let unknown_accept = answer_without_id(&mut h, accept(client, never, 0, ASK_1BTC, BTC, t));
        let unknown_cancel = answer_without_id(&mut h, cancel(client, never, t));
        assert_eq!(unknown_accept[0].aux, rr::UNKNOWN_QUOTE);
        assert_eq!(unknown_cancel[0].aux, rr::UNKNOWN_QUOTE);
        for q in [live, filled, cancelled, expired] {
            assert_eq!(answer_without_id(&mut h, accept(client, q, 0, ASK_1BTC, BTC, t)), unknown_accept, "accept {q} by {client}");
            assert_eq!(answer_without_id(&mut h, cancel(client, q, t)), unknown_cancel, "cancel {q} by {client}");
        }
    }
    // after expiry too (the foreign expired quote is not TOO_LATE / QUOTE_NOT_LIVE to client 2)
    h.tick(TTL);
    let t = h.t;
    let unknown = answer_without_id(&mut h, accept(2, never, 0, ASK_1BTC, BTC, t));
    assert_eq!(answer_without_id(&mut h, accept(2, expired, 0, ASK_1BTC, BTC, t)), unknown);
    assert_eq!(h.core.quote_view(expired).unwrap().state, QuoteState::Expired);
    // the owner's own refusals are unchanged, and the desk still cancels any quote
    h.refused(accept(2, own, 0, ASK_1BTC, BTC, t), kind::ACCEPT_REJECT, rr::TOO_LATE);
    let (mine, _) = h.quote(1, 0, BTC, 5);
    assert_eq!(h.core.quote_view(mine).unwrap().client, 1); // operators see the owner
    h.set(control::SET_CLIENT, 8, 0, 1, 0); // disable client 1
    h.refused(accept(1, mine, 0, ASK_1BTC, BTC, h.t), kind::ACCEPT_REJECT, rr::NOT_AUTHORISED);
    h.refused(accept(2, mine, 0, ASK_1BTC, BTC, h.t), kind::ACCEPT_REJECT, rr::UNKNOWN_QUOTE);
    assert_eq!(one(&h.send(cancel(0, mine, h.t)), kind::QUOTE_END).aux, quote_end::CANCELLED);
}

#[test]
fn accept_one_ns_before_valid_until_fills_and_at_it_is_too_late() {
    let mut h = H::new();
    let (a, _) = h.quote(1, 0, BTC, 1);
    let (b, _) = h.quote(1, 0, BTC, 2);
    let vu = h.core.quote_view(a).unwrap().valid_until;
    assert_eq!(vu, T0 + TTL);
    let out = h.send(accept(1, a, 0, ASK_1BTC, BTC, vu - 1));
    assert_eq!(out[0].kind, kind::EXEC, "{out:?}");
    // at valid_until: the clock moves to vu, quote b expires first, the accept is too late
    let out = h.send(accept(1, b, 0, ASK_1BTC, BTC, vu));
    assert_eq!(out.iter().map(|r| (r.kind, r.aux)).collect::<Vec<_>>(), vec![(kind::QUOTE_END, quote_end::EXPIRED), (kind::ACCEPT_REJECT, rr::TOO_LATE)]);
    assert_eq!(h.core.quote_view(b).unwrap().state, QuoteState::Expired);
}

#[test]
fn accept_after_expiry_heartbeat_is_too_late() {
    let mut h = H::new();
    let (a, _) = h.quote(1, 255, BTC, 1);
    let out = h.tick(TTL);
    let end = one(&out, kind::QUOTE_END);
    assert_eq!((end.seq, end.aux, end.ts_event), (a, quote_end::EXPIRED, 1));
    assert_eq!(h.core.client_view(1).unwrap().open_quotes, 0);
    // even stamped before valid_until (a late, reordered accept): the quote has expired
    h.refused(accept(1, a, 0, ASK_1BTC, BTC, T0), kind::ACCEPT_REJECT, rr::TOO_LATE);
    h.refused(cancel(1, a, h.t), kind::CANCEL_REJECT, rr::QUOTE_NOT_LIVE);
    assert_eq!(h.core.rfq_stats().expiries, 1);
}

#[test]
fn cancel_then_accept_and_accept_then_cancel() {
    let mut h = H::new();
    let (a, _) = h.quote(1, 0, BTC, 1);
    let out = h.send(cancel(1, a, h.t));
    assert_eq!((one(&out, kind::QUOTE_END).aux, out.len()), (quote_end::CANCELLED, 1));
    h.refused(accept(1, a, 0, ASK_1BTC, BTC, h.t), kind::ACCEPT_REJECT, rr::QUOTE_NOT_LIVE);
    let (b, _) = h.quote(1, 0, BTC, 2);
    assert_eq!(h.accept(1, b, 0, ASK_1BTC, BTC)[0].kind, kind::EXEC);
    h.refused(cancel(1, b, h.t), kind::CANCEL_REJECT, rr::QUOTE_NOT_LIVE);
    // cancel rejects
    let (c, _) = h.quote(1, 0, BTC, 3);
    h.refused(cancel(2, c, h.t), kind::CANCEL_REJECT, rr::UNKNOWN_QUOTE); // another client's quote
    h.refused(cancel(99, c, h.t), kind::CANCEL_REJECT, rr::UNKNOWN_CLIENT);
    h.refused(cancel(1, 999, h.t), kind::CANCEL_REJECT, rr::UNKNOWN_QUOTE);
    h.refused(cancel(1, 0, h.t), kind::CANCEL_REJECT, rr::MALFORMED);
    // the desk may cancel any quote, by CANCEL from source 0 or by CONTROL CANCEL_QUOTE
    let out = h.send(cancel(0, c, h.t));
    assert_eq!(one(&out, kind::QUOTE_END).aux, quote_end::CANCELLED);
    let (d, _) = h.quote(1, 0, BTC, 4);
    let out = h.send(ctl(control::CANCEL_QUOTE, 0, 0, d as i64, 0, 0, h.t));
    assert_eq!(one(&out, kind::QUOTE_END).aux, quote_end::CANCELLED);
    assert_eq!(one(&out, kind::CONTROL_ACK).aux, 0);
    let ack = h.ctl(control::CANCEL_QUOTE, 0, 0, d as i64, 0, 0);
    assert_eq!(ack.aux, rr::QUOTE_NOT_LIVE);
    assert_eq!(h.core.rfq_stats().cancels, 3);
}

#[test]
fn ttl_from_request_or_tier() {
    let mut h = H::new();
    let out = h.send(Record { aux: 250_000_000, ..rfq(1, 0, BTC, 1, h.t) });
    assert_eq!(one(&out, kind::RFQ_QUOTE).ts_event, h.t + 250_000_000);
    h.set(control::SET_TIER, 3, 0, 1, 2 * SEC);
    let out = h.rfq(1, 0, BTC, 2);
    assert_eq!(one(&out, kind::RFQ_QUOTE).ts_event, h.t + 2 * SEC);
}

#[test]
fn approval_approve_decline_timeout() {
    let mut cfg = config();
    cfg.rfq.risk[0].approval_qty = 2 * BTC;
    let mut h = H::with(cfg);
    // at the threshold: quoted directly
    h.quote(1, 0, 2 * BTC, 1);
    // above: pending
    let out = h.rfq(1, 0, 2 * BTC + 1, 2);
    let p = one(&out, kind::APPROVAL_PENDING);
    assert_eq!((p.aux, p.seq, p.qty, p.ts_event, p.side), (1, 2, 2 * BTC + 1, h.t + 5 * SEC, 0));
    assert!(p.price > ASK0);
    assert_eq!(h.core.pending().len(), 1);
    assert_eq!(h.core.pending()[0].request_id, 1);
    // the id is consumed
    h.rfq_refused(rfq(1, 0, BTC, 2, h.t), rr::DUPLICATE_ID);
    // approve with +100 cbps: priced again, wider
    let out = h.send(ctl(control::APPROVE, 0, 0, 1, 0, 100, h.t));
    let q = one(&out, kind::RFQ_QUOTE);
    assert_eq!((q.aux, q.qty), (2, 2 * BTC + 1));
    assert!(q.price > p.price, "{q:?} vs {p:?}");
    assert_eq!(one(&out, kind::CONTROL_ACK).aux, 0);
    assert_eq!(one(&out, kind::CONTROL_ACK).ts_event, q.seq as i64);
    assert!(h.core.pending().is_empty());
    let ack = h.ctl(control::APPROVE, 0, 0, 1, 0, 0);
    assert_eq!(ack.aux, rr::UNKNOWN_REQUEST);

    // decline
    let out = h.rfq(1, 1, 3 * BTC, 3);
    let req = one(&out, kind::APPROVAL_PENDING).aux;
    let out = h.send(ctl(control::DECLINE, 0, 0, req, 0, 0, h.t));
    let rej = one(&out, kind::RFQ_REJECT);
    assert_eq!((rej.aux, rej.seq, rej.source), (rr::APPROVAL_DECLINED, 3, 1));
    assert_eq!(h.ctl(control::DECLINE, 0, 0, req, 0, 0).aux, rr::UNKNOWN_REQUEST);

    // timeout, exactly at the deadline
    let out = h.rfq(1, 1, 3 * BTC, 4);
    let deadline = one(&out, kind::APPROVAL_PENDING).ts_event;
    assert!(only(&h.tick(5 * SEC - 1), kind::RFQ_REJECT).is_empty());
    assert_eq!(h.t + 1, deadline);
    let out = h.tick(1);
    assert_eq!(one(&out, kind::RFQ_REJECT).aux, rr::APPROVAL_TIMEOUT);
    assert!(h.core.pending().is_empty());
    let st = h.core.rfq_stats();
    assert_eq!((st.approvals, st.approved, st.declined, st.timeouts), (3, 1, 1, 1));
}

#[test]
fn approval_by_notional_override_and_recheck() {
    let mut cfg = config();
    cfg.rfq.risk[0].approval_notional = 12_000_100; // 2 BTC at the mid
    let mut h = H::with(cfg);
    h.quote(1, 1, 2 * BTC, 1);
    let out = h.rfq(1, 1, 2 * BTC + 1, 2);
    let req = one(&out, kind::APPROVAL_PENDING).aux;
    let before = h.core.state_hash();
    // bad approve commands change nothing
    assert_eq!(h.ctl(control::APPROVE, 0, 0, req, -5, 0).aux, rr::BAD_COMMAND);
    assert_eq!(h.ctl(control::APPROVE, 0, 0, req, 0, 1_000_000).aux, rr::BAD_COMMAND);
    assert_eq!(h.ctl(control::APPROVE, 0, 0, 99, 0, 0).aux, rr::UNKNOWN_REQUEST);
    assert_eq!(h.core.state_hash(), before);
    // an absolute price override
    let out = h.send(ctl(control::APPROVE, 0, 0, req, 5_990_000, 0, h.t));
    let q = one(&out, kind::RFQ_QUOTE);
    assert_eq!((q.price, q.side), (5_990_000, 1));
    // override outside the collar: the RFQ is rejected at approval
    let out = h.rfq(1, 1, 3 * BTC, 3);
    let req = one(&out, kind::APPROVAL_PENDING).aux;
    let out = h.send(ctl(control::APPROVE, 0, 0, req, 5_000_000, 0, h.t));
    assert_eq!(one(&out, kind::RFQ_REJECT).aux, rr::PRICE_COLLAR);
    assert_eq!(one(&out, kind::CONTROL_ACK).aux, 0);
    // two-way with an override is a bad command
    let out = h.rfq(1, 255, 3 * BTC, 4);
    let req = one(&out, kind::APPROVAL_PENDING).aux;
    assert_eq!(h.ctl(control::APPROVE, 0, 0, req, 6_000_000, 0).aux, rr::BAD_COMMAND);
    // restricted in the meantime: rejected at approval
    h.set(control::RESTRICT, 0, 1, 0, 1);
    let out = h.send(ctl(control::APPROVE, 0, 0, req, 0, 0, h.t));
    assert_eq!(one(&out, kind::RFQ_REJECT).aux, rr::RESTRICTED);
}

#[test]
fn pending_table_full_is_other() {
    let mut cfg = config();
    cfg.rfq.risk[0].approval_qty = BTC;
    let mut h = H::with(cfg);
    for id in 1..=4 {
        one(&h.rfq(1, 0, 2 * BTC, id), kind::APPROVAL_PENDING);
    }
    h.rfq_refused(rfq(1, 0, 2 * BTC, 5, h.t), rr::OTHER);
}

#[test]
fn kill_switch_desk_scope_allows_risk_reducing_trades() {
    let mut h = H::new();
    // desk long 2 BTC
    let (q, _) = h.quote(1, 1, 2 * BTC, 1);
    h.accept(1, q, 1, h.core.quote_view(q).unwrap().bid.unwrap().0, 2 * BTC);
    assert_eq!(h.core.position(1).unwrap().qty, 2 * BTC);
    // live quotes: one the desk sells on (reducing), one it buys on (increasing), one two-way
    let (sell, _) = h.quote(1, 0, BTC, 2);
    let (buy, _) = h.quote(2, 1, BTC, 1);
    let (both, _) = h.quote(2, 255, BTC, 2);
    let out = h.send(kill(0, 0, true, h.t));
    assert_eq!(one(&out, kind::CONTROL_ACK).aux, 0);
    let ends: Vec<u64> = only(&out, kind::QUOTE_END).iter().map(|r| r.seq).collect();
    assert_eq!(ends, vec![buy, both], "quotes with an increasing side are cancelled");
    assert!(h.core.desk_killed());
    assert_eq!(h.core.quote_view(sell).unwrap().state, QuoteState::Live);
    // new RFQs: the increasing side is refused, the reducing side is quoted
    h.rfq_refused(rfq(1, 1, BTC, 3, h.t), rr::KILL_SWITCH);
    let out = h.rfq(1, 255, BTC, 3);
    assert_eq!(one(&out, kind::RFQ_QUOTE).side, 0);
    // reducing but flipping beyond flat to a larger position: not reducing
    h.rfq_refused(rfq(1, 0, 4 * BTC, 4, h.t), rr::KILL_SWITCH);
    // a reduction to 2·pos−1 still reduces
    h.quote(1, 0, 4 * BTC - 1, 4);
    // fill the reducing quote
    assert_eq!(h.accept(1, sell, 0, ASK_1BTC, BTC)[0].kind, kind::EXEC);
    // off again
    assert_eq!(h.ctl(control::KILL, 0, 0, 0, 0, 0).ts_event, 1);
    h.quote(1, 1, BTC, 5);
}

#[test]
fn kill_switch_client_and_instrument_scopes() {
    let mut h = H::new();
    let (a, _) = h.quote(1, 0, BTC, 1);
    let (b, _) = h.quote(2, 0, BTC, 1);
    let out = h.send(kill(1, 0, true, h.t));
    assert_eq!(one(&out, kind::QUOTE_END).seq, a);
    assert!(h.core.client_view(1).unwrap().killed);
    h.rfq_refused(rfq(1, 0, BTC, 2, h.t), rr::KILL_SWITCH);
    h.quote(2, 0, BTC, 2);
    h.set(control::KILL, 0, 0, 1, 0);
    let out = h.send(kill(0, 1, true, h.t));
    assert_eq!(only(&out, kind::QUOTE_END).len(), 2); // b and client 2's second quote
    assert!(h.core.instrument_view(1).unwrap().killed);
    assert_eq!(h.core.quote_view(b).unwrap().state, QuoteState::Cancelled);
    h.rfq_refused(rfq(2, 0, BTC, 3, h.t), rr::KILL_SWITCH);
    // bad scopes change nothing
    let before = h.core.state_hash();
    assert_eq!(h.ctl(control::KILL, 0, 0, 99, 1, 0).aux, rr::UNKNOWN_CLIENT);
    assert_eq!(h.ctl(control::KILL, 0, 9, 0, 1, 0).aux, rr::UNKNOWN_INSTRUMENT);
    assert_eq!(h.ctl(control::KILL, 0, 0, 0, 2, 0).aux, rr::BAD_COMMAND);
    assert_eq!(h.core.state_hash(), before);
}

#[test]
fn kill_switch_rechecked_at_the_hit() {
    let mut h = H::new();
    h.set(control::SET_CLIENT, 2, 0, 1, 100);
    let (a, _) = h.quote(1, 0, BTC, 1);
    // the kill cancels it; an accept racing the cancel finds it not live
    h.send(kill(0, 0, true, h.t));
    h.refused(accept(1, a, 0, ASK_1BTC, BTC, h.t), kind::ACCEPT_REJECT, rr::QUOTE_NOT_LIVE);
}

#[test]
fn kill_cancellations_are_bounded_per_record() {
    let mut cfg = config();
    cfg.rfq.desk.quote_table = 256;
    cfg.rfq.clients[0].max_open_quotes = 1000;
    cfg.rfq.clients[0].credit_limit = i64::MAX / 1_000_000;
    let mut h = H::with(cfg);
    for id in 1..=200 {
        h.quote(1, 0, BTC / 100, id);
    }
    let out = h.send(kill(0, 0, true, h.t));
    assert_eq!(only(&out, kind::QUOTE_END).len(), 64);
    assert!(out.len() <= h.core.max_out_per_record());
    // the quotes not cancelled yet cannot be filled: the hit is re-checked; the scan goes on
    let q = h.core.quote_view(200).unwrap();
    assert_eq!(q.state, QuoteState::Live);
    let out = h.accept(1, 200, 0, q.ask.unwrap().0, BTC / 100);
    assert!(out.len() <= h.core.max_out_per_record());
    let ends = only(&out, kind::QUOTE_END);
    assert_eq!(ends.len(), 64 + 1);
    assert_eq!((ends[64].seq, ends[64].aux, ends[64].side as i64), (200, quote_end::REJECTED, rr::KILL_SWITCH));
    assert_eq!(one(&out, kind::ACCEPT_REJECT).aux, rr::KILL_SWITCH);
    assert_eq!(only(&h.tick(1), kind::QUOTE_END).len(), 64);
    assert_eq!(only(&h.tick(1), kind::QUOTE_END).len(), 7);
    assert_eq!(h.core.client_view(1).unwrap().open_quotes, 0);
}

#[test]
fn expiries_are_bounded_per_record() {
    let mut cfg = config();
    cfg.rfq.desk.quote_table = 256;
    cfg.rfq.clients[0].max_open_quotes = 1000;
    let mut h = H::with(cfg);
    for id in 1..=100 {
        h.quote(1, 0, BTC / 100, id);
    }
    let out = h.tick(TTL);
    assert_eq!(only(&out, kind::QUOTE_END).len(), 64);
    let ids: Vec<u64> = only(&out, kind::QUOTE_END).iter().map(|r| r.seq).collect();
    assert_eq!(ids, (1..=64).collect::<Vec<_>>(), "earliest deadline (then id) first");
    let out = h.tick(0);
    assert_eq!(only(&out, kind::QUOTE_END).len(), 36);
    assert_eq!(h.core.rfq_stats().expiries, 100);
}

#[test]
fn rfq_throttle_at_below_and_above() {
    let mut cfg = config();
    cfg.rfq.clients[0].rfq_rate = Throttle { per_sec: 2, burst: 3 };
    let mut h = H::with(cfg);
    for id in 1..=3 {
        h.quote(1, 0, BTC, id);
    }
    h.rfq_refused(rfq(1, 0, BTC, 4, h.t), rr::THROTTLED);
    // a refused RFQ does not use a token
    h.tick(SEC / 2 - 1);
    h.rfq_refused(rfq(1, 0, BTC, 4, h.t), rr::THROTTLED);
    h.tick(1);
    h.rfq_refused(rfq(1, 0, 0, 4, h.t), rr::BAD_SIZE);
    h.quote(1, 0, BTC, 4);
    h.rfq_refused(rfq(1, 0, BTC, 5, h.t), rr::THROTTLED);
    // other clients are not throttled
    h.quote(2, 0, BTC, 5);
}

#[test]
fn accept_throttle_at_the_hit() {
    let mut cfg = config();
    cfg.rfq.clients[0].accept_rate = Throttle { per_sec: 1, burst: 1 };
    let mut h = H::with(cfg);
    let (a, _) = h.quote(1, 0, BTC / 10, 1);
    let (b, _) = h.quote(1, 0, BTC / 10, 2);
    let (c, _) = h.quote(1, 0, BTC / 10, 3);
    let pa = h.core.quote_view(a).unwrap().ask.unwrap().0;
    assert_eq!(h.accept(1, a, 0, pa, BTC / 10)[0].kind, kind::EXEC);
    let out = h.accept(1, b, 0, pa, BTC / 10);
    assert_eq!(one(&out, kind::ACCEPT_REJECT).aux, rr::THROTTLED);
    assert_eq!(one(&out, kind::QUOTE_END).aux, quote_end::REJECTED);
    h.tick(SEC / 2);
    h.t += SEC / 2;
    let out = h.send(accept(1, c, 0, pa, BTC / 10, h.t - 1));
    assert_eq!(one(&out, kind::ACCEPT_REJECT).aux, rr::THROTTLED, "1 ns short of the next token");
}

#[test]
fn repeated_execution_throttle_halts_and_reenable_clears() {
    let mut cfg = config();
    cfg.rfq.desk.exec_count = 3;
    cfg.rfq.desk.exec_window_ns = SEC;
    let mut h = H::with(cfg);
    let fill = |h: &mut H, client: u16, id: u64| {
        let (q, r) = h.quote(client, 0, BTC / 10, id);
        h.accept(client, q, 0, r[0].price, BTC / 10)
    };
    // two fills, then the window passes: no halt at 3 fills spread over more than the window
    fill(&mut h, 1, 1);
    fill(&mut h, 1, 2);
    h.tick(SEC);
    let out = fill(&mut h, 1, 3);
    assert!(only(&out, kind::RISK_EVENT).is_empty());
    assert!(!h.core.client_view(1).unwrap().halted);
    // 3 within the window: the third halts client 1 and the instrument
    fill(&mut h, 1, 4);
    let out = fill(&mut h, 1, 5);
    let ev = only(&out, kind::RISK_EVENT);
    assert_eq!(ev.iter().map(|r| (r.side, r.price, r.qty)).collect::<Vec<_>>(), vec![(1, 1, 3), (2, 1, 3)]);
    assert!(h.core.client_view(1).unwrap().halted);
    assert!(h.core.instrument_view(1).unwrap().halted);
    h.rfq_refused(rfq(1, 0, BTC, 6, h.t), rr::HALTED);
    h.rfq_refused(rfq(2, 0, BTC, 6, h.t), rr::HALTED);
    h.set(control::REENABLE, 0, 1, 0, 0);
    h.rfq_refused(rfq(1, 0, BTC, 6, h.t), rr::HALTED);
    let (q, _) = h.quote(2, 0, BTC, 6);
    assert_eq!(h.ctl(control::REENABLE, 0, 0, 1, 0, 0).ts_event, 1);
    h.quote(1, 0, BTC, 7);
    assert_eq!(h.ctl(control::REENABLE, 0, 0, 0, 0, 0).aux, rr::BAD_COMMAND);
    // halted at the hit
    let mut cfg = config();
    cfg.rfq.desk.exec_count = 1;
    let mut h = H::with(cfg);
    let (a, _) = h.quote(1, 0, BTC, 1);
    let (b, _) = h.quote(1, 0, BTC, 2);
    assert_eq!(only(&h.accept(1, a, 0, ASK_1BTC, BTC), kind::RISK_EVENT).len(), 2);
    let out = h.accept(1, b, 0, ASK_1BTC, BTC);
    assert_eq!(one(&out, kind::ACCEPT_REJECT).aux, rr::HALTED);
    let _ = q;
}

#[test]
fn quote_currency_sizes() {
    let mut h = H::new();
    // 30_000.00 USDT: q0 = 3e6·1e8/6_000_050 = 0.49999583 BTC, priced, then q1 = A / price
    let amount = 3_000_000;
    let out = h.send(Record { flags: flags::END | flags::QTY_IN_QUOTE, ..rfq(1, 255, amount, 1, h.t) });
    let q = only(&out, kind::RFQ_QUOTE);
    assert_eq!(q.len(), 2);
    for r in &q {
        let notional = i128::from(r.price) * i128::from(r.qty);
        assert!(notional <= i128::from(amount) * i128::from(BTC), "{r:?}");
        // one more unit would exceed the amount
        assert!(i128::from(r.price) * i128::from(r.qty + 1) > i128::from(amount) * i128::from(BTC), "{r:?}");
    }
    assert_eq!(q[0].qty, (i128::from(amount) * i128::from(BTC) / i128::from(q[0].price)) as i64);
    assert!(q[1].qty > q[0].qty, "the bid side buys more base for the same amount");
    // below the minimum after conversion
    let tiny = Record { flags: flags::END | flags::QTY_IN_QUOTE, ..rfq(1, 0, 59_000, 2, h.t) }; // 590 USDT < 0.01 BTC
    h.rfq_refused(tiny, rr::BELOW_MIN_SIZE);
    // above the maximum after conversion (10 BTC max: 700,000 USDT ≈ 11.7 BTC)
    let huge = Record { flags: flags::END | flags::QTY_IN_QUOTE, ..rfq(1, 0, 70_000_000, 2, h.t) };
    h.rfq_refused(huge, rr::ABOVE_MAX_SIZE);
    let absurd = Record { flags: flags::END | flags::QTY_IN_QUOTE, ..rfq(1, 0, i64::MAX, 2, h.t) };
    h.rfq_refused(absurd, rr::ABOVE_MAX_SIZE);
    // with a limit price
    let out = h.send(Record { flags: flags::END | flags::QTY_IN_QUOTE, price: q[0].price, ..rfq(1, 0, amount, 2, h.t) });
    assert_eq!(one(&out, kind::RFQ_QUOTE).price, q[0].price);
}

#[test]
fn pricing_v2_markup_hedge_vol_and_skew() {
    let mut cfg = config();
    cfg.rfq.tiers[0].markup_cbps = 50;
    cfg.rfq.pricing = vec![PricingV2 { composite: 1, skew_cbps_per_unit: 0, max_skew_cbps: 0, vol_mult_pct: 0, vol_ema_shift: 0, hedge_fee_cbps: 25 }];
    let mut h = H::with(cfg);
    // half-spread 100 + 50 + 25 = 175 cbps
    let (_, q) = h.quote(1, 255, BTC, 1);
    assert_eq!(q[0].price, ceil_div(6_000_100_i128 * 1_000_175, 1_000_000) as i64);
    assert_eq!(q[1].price, (6_000_000_i128 * (1_000_000 - 175) / 1_000_000) as i64);
    // skew: 10 cbps per BTC of desk position, max 30
    h.set(control::SET_PRICING, 1, 1, 0, 10);
    h.set(control::SET_PRICING, 2, 1, 0, 30);
    let (qid, r) = h.quote(1, 1, 2 * BTC, 2);
    h.accept(1, qid, 1, r[0].price, 2 * BTC); // desk long 2 BTC → skew 20
    let (_, q) = h.quote(1, 255, BTC, 3);
    assert_eq!(q[0].price, ceil_div(6_000_100_i128 * (1_000_000 + 155), 1_000_000) as i64);
    assert_eq!(q[1].price, (6_000_000_i128 * (1_000_000 - 195) / 1_000_000) as i64);
    // ladder base spread via SET_PRICING field 6
    assert_eq!(h.ctl(control::SET_PRICING, 6, 1, 0, 200, 0).ts_event, 100);
    let (_, q) = h.quote(1, 0, BTC, 4);
    assert_eq!(q[0].price, ceil_div(6_000_100_i128 * (1_000_000 + 255), 1_000_000) as i64);
    // the v1 ladder is repriced at the next tick
    let out = h.tick(1);
    let lq = one(&out, kind::QUOTE);
    assert_eq!(lq.aux, ceil_div(6_000_100_i128 * 1_000_200, 1_000_000) as i64);
    // volatility: mid moves feed the EMA at each repricing
    h.set(control::SET_PRICING, 3, 1, 0, 100);
    let mut moved = snapshot(1, h.t);
    for r in moved.iter_mut().filter(|r| r.kind == kind::BOOK_LEVEL) {
        r.price += 600; // +6.00: 1 cbps of the mid
    }
    h.feed(&moved);
    let v = h.core.instrument_view(1).unwrap();
    assert_eq!(v.vol_cbps, 99); // 600 / 6_000_050 = 99.999 cbps
}

#[test]
fn controls_validate_apply_and_ack_previous_values() {
    let mut h = H::new();
    let before = h.core.state_hash();
    let bad = [
        ctl(42, 0, 0, 0, 0, 0, h.t),
        ctl(control::SET_CLIENT, 9, 0, 1, 1, 0, h.t),
        ctl(control::SET_CLIENT, 1, 0, 1, -1, 0, h.t),
        ctl(control::SET_CLIENT, 7, 0, 1, 9, 0, h.t),
        ctl(control::SET_CLIENT, 8, 0, 1, 2, 0, h.t),
        ctl(control::SET_CLIENT, 3, 0, 1, 5, 0, h.t), // a rate with burst 0
        ctl(control::SET_CLIENT, 1, 0, 0, 5, 0, h.t),
        ctl(control::SET_INSTRUMENT, 1, 1, 0, 0, 0, h.t),
        ctl(control::SET_INSTRUMENT, 1, 1, 0, 11 * BTC, 0, h.t), // min above max
        ctl(control::SET_INSTRUMENT, 6, 1, 0, 1_000_000, 0, h.t),
        ctl(control::SET_INSTRUMENT, 10, 1, 0, 1, 0, h.t),
        ctl(control::SET_INSTRUMENT, 1, 2, 0, 1, 0, h.t), // no risk entry
        ctl(control::SET_TIER, 1, 0, 1, -1, 0, h.t),
        ctl(control::SET_TIER, 3, 0, 1, 11 * SEC, 0, h.t), // ttl above max_ttl
        ctl(control::SET_TIER, 1, 0, 7, 1, 0, h.t),
        ctl(control::SET_PRICING, 4, 1, 0, 21, 0, h.t),
        ctl(control::SET_PRICING, 6, 1, 0, 1_000_000, 0, h.t),
        ctl(control::SET_PRICING, 8, 1, 0, 1, 0, h.t),
        ctl(control::SET_DESK, 1, 0, 0, 65, 0, h.t),
        ctl(control::SET_DESK, 2, 0, 0, 0, 0, h.t),
        ctl(control::RESTRICT, 0, 1, 0, 2, 0, h.t),
        ctl(control::RESTRICT, 0, 2, 0, 1, 0, h.t),
    ];
    for r in bad {
        let out = h.send(r);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].kind, out[0].aux), (kind::CONTROL_ACK, rr::BAD_COMMAND), "{r:?}");
        assert_eq!(h.core.state_hash(), before, "{r:?}");
    }
    let mut no_end = ctl(control::KILL, 0, 0, 0, 1, 0, h.t);
    no_end.flags = 0;
    h.refused(no_end, kind::CONTROL_ACK, rr::MALFORMED);
    h.refused(Record { seq: 0, ..ctl(control::KILL, 0, 0, 0, 1, 0, h.t) }, kind::CONTROL_ACK, rr::MALFORMED);
    h.refused(ctl(control::SET_PRICING, 1, 9, 0, 1, 0, h.t), kind::CONTROL_ACK, rr::UNKNOWN_INSTRUMENT);
    h.refused(ctl(control::SET_CLIENT, 1, 0, 77, 1, 0, h.t), kind::CONTROL_ACK, rr::UNKNOWN_CLIENT);

    // every field, with its previous value echoed
    let ack = h.send(ctl(control::SET_CLIENT, 1, 0, 1, 5, 0, h.t));
    assert_eq!((ack[0].aux, ack[0].ts_event, ack[0].seq, ack[0].source, ack[0].price, ack[0].qty), (0, 10_000_000_000, 1, 1, 1, 5));
    for (field, value, prev) in [(2, 3, 10), (4, 2, 0), (3, 1, 0), (6, 1, 0), (5, 1, 0), (7, 2, 1), (8, 0, 1)] {
        let ack = h.ctl(control::SET_CLIENT, field, 0, 1, value, 0);
        assert_eq!((ack.aux, ack.ts_event), (0, prev), "client field {field}");
    }
    let cv = h.core.client_view(1).unwrap();
    assert_eq!((cv.credit_limit, cv.max_open_quotes, cv.tier, cv.enabled), (5, 3, 2, false));
    assert_eq!((cv.rfq_rate, cv.accept_rate), (Throttle { per_sec: 1, burst: 2 }, Throttle { per_sec: 1, burst: 1 }));
    let r = common::risk(1);
    for (field, value, prev) in [
        (2, 20 * BTC, r.max_qty),
        (1, BTC, r.min_qty),
        (3, 5, r.max_notional),
        (4, 1, r.long_limit),
        (5, 2, r.short_limit),
        (6, 3, r.collar_cbps),
        (7, 4, r.approval_qty),
        (8, 5, r.approval_notional),
        (9, 6, r.approval_timeout_ns),
    ] {
        let ack = h.ctl(control::SET_INSTRUMENT, field, 1, 0, value, 0);
        assert_eq!((ack.aux, ack.ts_event), (0, prev), "instrument field {field}");
    }
    let iv = h.core.instrument_view(1).unwrap().risk.unwrap();
    assert_eq!(
        (iv.min_qty, iv.max_qty, iv.max_notional, iv.long_limit, iv.short_limit, iv.collar_cbps, iv.approval_qty, iv.approval_notional, iv.approval_timeout_ns),
        (BTC, 20 * BTC, 5, 1, 2, 3, 4, 5, 6)
    );
    for (field, value, prev) in [(1, 7, 0), (2, 8, 100), (4, 20 * SEC, 10 * SEC), (3, 3 * SEC, TTL), (5, 1, 0)] {
        let ack = h.ctl(control::SET_TIER, field, 0, 1, value, 0);
        assert_eq!((ack.aux, ack.ts_event), (0, prev), "tier field {field}");
    }
    // the tier view reads back what was set (the console shows it before a change)
    let tv = h.core.tier_view(1).unwrap();
    assert_eq!((tv.markup_cbps, tv.fee_cbps, tv.ttl_ns, tv.max_ttl_ns, tv.allow_partial), (7, 8, 3 * SEC, 20 * SEC, true));
    assert!(h.core.tier_view(0).is_none() && h.core.tier_view(7).is_none());
    for (field, value, prev) in [(1, 1, 0), (2, 2, 0), (3, 3, 0), (4, 4, 0), (5, 5, 0), (6, 6, 100), (7, 7, 0)] {
        let ack = h.ctl(control::SET_PRICING, field, 1, 0, value, 0);
        assert_eq!((ack.aux, ack.ts_event), (0, prev), "pricing field {field}");
    }
    let iv = h.core.instrument_view(1).unwrap();
    assert_eq!(iv.pricing, PricingV2 { composite: 1, skew_cbps_per_unit: 1, max_skew_cbps: 2, vol_mult_pct: 3, vol_ema_shift: 4, hedge_fee_cbps: 5 });
    assert_eq!((iv.base_cbps, iv.size_cbps_per_unit), (6, 7));
    assert_eq!(h.ctl(control::SET_DESK, 1, 0, 0, 5, 0).ts_event, 0);
    assert_eq!(h.ctl(control::SET_DESK, 2, 0, 0, 7, 0).ts_event, SEC);
    assert_eq!((h.core.desk_settings().exec_count, h.core.desk_settings().exec_window_ns), (5, 7));
    assert_eq!(h.ctl(control::RESTRICT, 0, 1, 0, 1, 0).ts_event, 0);
    assert!(h.core.instrument_view(1).unwrap().restricted);
    h.rfq_refused(rfq(2, 0, BTC, 1, h.t), rr::RESTRICTED);
    assert_eq!(h.ctl(control::RESTRICT, 0, 1, 0, 0, 0).ts_event, 1);
    // disabled client
    h.rfq_refused(rfq(1, 0, BTC, 1, h.t), rr::NOT_AUTHORISED);
    assert!(h.core.rfq_stats().controls > 40);
}

#[test]
fn clock_moves_even_when_the_request_is_refused() {
    // a refused RFQ moves the clock exactly as a heartbeat with its ts_recv would
    let mut a = H::new();
    let mut b = H::new();
    a.quote(1, 0, BTC, 1);
    b.quote(1, 0, BTC, 1);
    let oa = a.send(rfq(99, 0, BTC, 2, T0 + TTL));
    let ob = b.send(hb(T0 + TTL));
    assert_eq!(one(&oa, kind::QUOTE_END).aux, quote_end::EXPIRED);
    assert_eq!(one(&ob, kind::QUOTE_END).aux, quote_end::EXPIRED);
    assert_eq!(a.core.state_hash(), b.core.state_hash());
}

#[test]
fn same_inputs_same_outputs_and_hash() {
    let run = || {
        let mut h = H::new();
        let mut outs = Vec::new();
        for i in 0..200_u64 {
            let c = (i % 2 + 1) as u16;
            let out = h.rfq(c, (i % 3) as u8 % 2, BTC / 10 * (i as i64 % 5 + 1), i + 1);
            if let Some(q) = out.iter().find(|r| r.kind == kind::RFQ_QUOTE) {
                if i % 3 == 0 {
                    outs.extend(h.accept(c, q.seq, q.side, q.price, q.qty));
                }
            }
            outs.extend(out);
            outs.extend(h.tick(SEC / 7));
        }
        (outs, h.core.state_hash())
    };
    let (o1, h1) = run();
    let (o2, h2) = run();
    assert_eq!(o1, o2);
    assert_eq!(h1, h2);
    assert!(o1.iter().any(|r| r.kind == kind::EXEC));
}

#[test]
fn config_errors() {
    let mut cfg = config();
    cfg.rfq.risk[0].composite = 9;
    assert!(matches!(Core::new(cfg), Err(rfq_model::ModelError::BadRfq { .. })));
    let mut cfg = config();
    cfg.rfq.pricing[0].composite = 9;
    assert!(matches!(Core::new(cfg), Err(rfq_model::ModelError::BadRfq { .. })));
    let mut cfg = config();
    cfg.rfq.desk.exec_count = 65;
    assert!(matches!(Core::new(cfg), Err(rfq_model::ModelError::BadRfq { .. })));
    let mut cfg = config();
    cfg.rfq.clients[0].tier = 9;
    assert!(matches!(Core::new(cfg), Err(rfq_model::ModelError::BadRfq { .. })));
}

#[test]
fn collar_and_market_rechecked_at_the_hit() {
    let mut cfg = config();
    cfg.rfq.risk[0].collar_cbps = 200; // 2 bp
    let mut h = H::with(cfg);
    let (a, _) = h.quote(1, 0, BTC, 1);
    let (b, _) = h.quote(1, 0, BTC, 2);
    // the market moves down 10.00: the ask quoted at 60007.01 is now 17 above a mid of 59990.50
    let mut moved = snapshot(1, h.t);
    for r in moved.iter_mut().filter(|r| r.kind == kind::BOOK_LEVEL) {
        r.price -= 1_000;
    }
    h.feed(&moved);
    let out = h.accept(1, a, 0, ASK_1BTC, BTC);
    assert_eq!(one(&out, kind::ACCEPT_REJECT).aux, rr::PRICE_COLLAR);
    assert_eq!(one(&out, kind::QUOTE_END).aux, quote_end::REJECTED);
    // no usable market at the hit: the collar cannot be checked
    h.send(rec(kind::BOOK_STALE, 1, 255, flags::END, h.t, 0, 0));
    let out = h.accept(1, b, 0, ASK_1BTC, BTC);
    assert_eq!(one(&out, kind::ACCEPT_REJECT).aux, rr::NO_MARKET);
    assert_eq!(h.core.rfq_stats().hit_rejects, 2);
    assert_eq!(h.core.position(1).unwrap().trades, 0);
}
