//! The hedging path does not allocate: client fills of alternating sides (accept → hedge
//! orders routed to two venues) and every hedge order's venue reports (ack, partial fill,
//! fill), counted by a global allocator on this thread after a warm-up.
//!
//! The internal crossing book and venue link changes are not covered yet (the engine builds
//! a small event vector per internal cross and a target list per `VENUE_STATUS`).

mod common;

use common::hedge::*;
use common::*;
use rfq_model::HedgeMode;
use rfq_ring::record::{kind, venue_report};
use rfq_ring::Record;

#[global_allocator]
static A: rfq_testkit::CountingAlloc = rfq_testkit::CountingAlloc;

/// Client fills of alternating sides and the full venue-report cycle of every hedge order.
struct Hedger {
    h: H,
    rfq_id: u64,
    exec_id: i64,
    orders: [Record; 8],
}

impl Hedger {
    fn new() -> Hedger {
        let mut h = harness(HedgeMode::Full, 0, 0);
        up_both(&mut h);
        Hedger { h, rfq_id: 0, exec_id: 0, orders: [Record::ZERO; 8] }
    }

    /// One client fill (side 0: the client buys) and every hedge order acked, part-filled
    /// and filled by its venue. Returns the hedge orders sent.
    fn round(&mut self, side: u8, out: &mut Vec<Record>, kinds: &mut Kinds) -> usize {
        let h = &mut self.h;
        h.t += SEC;
        self.rfq_id += 1;
        out.clear();
        h.core.process(&rfq(1, side, BTC, self.rfq_id, h.t), out);
        kinds.add(out);
        let q = *out.iter().find(|r| r.kind == kind::RFQ_QUOTE && r.side == side).expect("quoted");
        out.clear();
        h.core.process(&accept(1, q.seq, side, q.price, q.qty, h.t), out);
        kinds.add(out);
        let mut n = 0;
        for r in out.iter().filter(|r| r.kind == kind::HEDGE_ORDER) {
            self.orders[n] = *r;
            n += 1;
        }
        let orders = self.orders;
        for o in &orders[..n] {
            for (what, px, qty) in [(venue_report::ACK, 0, 0), (venue_report::PARTIAL_FILL, o.price, o.qty / 2), (venue_report::FILL, o.price, o.qty - o.qty / 2)] {
                self.exec_id += 1;
                out.clear();
                h.core.process(&report(o.source, o.instrument, o.seq, what, self.exec_id, px, qty, 0, h.t), out);
                kinds.add(out);
            }
        }
        n
    }
}

#[test]
fn hedging_client_fills_and_venue_reports_do_not_allocate() {
    let mut hd = Hedger::new();
    let mut out: Vec<Record> = Vec::with_capacity(4096);
    let mut kinds = Kinds::new();
    for i in 0..4 {
        hd.round((i % 2) as u8, &mut out, &mut kinds);
    }
    let mut kinds = Kinds::new();
    let (sent, allocs) = rfq_testkit::count_allocs(|| (0..40).map(|i| hd.round((i % 2) as u8, &mut out, &mut kinds)).sum::<usize>());
    assert!(sent >= 40 && kinds.of(kind::EXEC) == 40, "hedged: {sent} orders, {} fills", kinds.of(kind::EXEC));
    assert_eq!(kinds.of(kind::HEDGE_REPORT) as usize, 3 * sent, "every report applied");
    assert_eq!(kinds.of(kind::HEDGE_REJECT), 0);
    assert_eq!(hd.h.core.hedge_views()[0].pending, 0, "every hedge order filled");
    assert_eq!(allocs, 0, "allocations on the hedging path");
}

