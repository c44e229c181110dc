//! The RFQ hot path does not allocate: RFQs (one- and two-way, quote-currency sizes, rejects,
//! approvals), accepts (fills and rejects), cancels and expiries, counted by a global allocator
//! on this thread.

mod common;

use common::*;
use rfq_ring::record::kind;
use rfq_ring::Record;
#[global_allocator]
static A: rfq_testkit::CountingAlloc = rfq_testkit::CountingAlloc;

#[test]
fn rfq_accept_cancel_expiry_do_not_allocate() {
    let mut cfg = config();
    cfg.rfq.risk[0].approval_qty = 5 * BTC;
    cfg.rfq.clients[0].max_open_quotes = 1000;
    cfg.rfq.desk.quote_table = 1 << 12;
    let mut h = H::with(cfg);
    let mut out: Vec<Record> = Vec::with_capacity(4096);
    let mut id = 0_u64;
    let mut step = |h: &mut H, out: &mut Vec<Record>| {
        for _ in 0..50 {
            id += 1;
            out.clear();
            h.core.process(&rfq(1, 255, BTC, id, h.t), out);
            let q = out.iter().find(|r| r.kind == kind::RFQ_QUOTE).copied().unwrap();
            out.clear();
            h.core.process(&accept(1, q.seq, q.side, q.price, q.qty, h.t), out);
            assert_eq!(out[0].kind, kind::EXEC);
            id += 1;
            out.clear();
            h.core.process(&rfq(1, 1, BTC, id, h.t), out);
            let q = out.iter().find(|r| r.kind == kind::RFQ_QUOTE).copied().unwrap();
            out.clear();
            h.core.process(&accept(1, q.seq, q.side, q.price + 1, q.qty, h.t), out); // PRICE_MISMATCH
            h.core.process(&cancel(1, q.seq, h.t), out);
            id += 1;
            let mut r = rfq(1, 0, 6_000_000, id, h.t);
            r.flags |= rfq_ring::record::flags::QTY_IN_QUOTE;
            h.core.process(&r, out);
            h.core.process(&rfq(99, 0, BTC, id, h.t), out);
            id += 1;
            h.core.process(&rfq(1, 0, 6 * BTC, id, h.t), out); // approval pending
            h.t += TTL / 10;
            out.clear();
            h.core.process(&hb(h.t), out);
        }
    };
    step(&mut h, &mut out); // warm up
    let ((), allocs) = rfq_testkit::count_allocs(|| step(&mut h, &mut out));
    assert_eq!(allocs, 0, "allocations on the RFQ path");
    assert!(h.core.rfq_stats().expiries > 0 && h.core.rfq_stats().timeouts > 0);
}
