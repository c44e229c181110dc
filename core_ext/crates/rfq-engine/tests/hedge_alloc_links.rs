//! No allocation on the hedging paths of the internal book and of venue links going down and up:
//! - crossing client flow against the internal book (an accept crossing desk orders, and
//!   `DESK_ORDER` records): the matching events go to a scratch vector reserved once;
//! - a venue's link going down and up (`VENUE_STATUS`): its (composite, venue) pairs are walked
//!   without collecting them, and the OMS is disconnected and reconciled with its
//!   allocation-free forms (`disconnect_each`, `reconcile_into` into a reserved vector).

mod common;

use common::hedge::*;
use common::*;
use rfq_ring::record::kind;
use rfq_ring::Record;

#[global_allocator]
static A: rfq_testkit::CountingAlloc = rfq_testkit::CountingAlloc;

#[test]
fn internal_crossing_does_not_allocate() {
    let mut h = crossing();
    let mut out: Vec<Record> = Vec::with_capacity(4096);
    let mut kinds = Kinds::new();
    let step = |h: &mut H, i: u64, out: &mut Vec<Record>, kinds: &mut Kinds| {
        h.t += SEC;
        out.clear();
        // a desk sell order better than the venues, then a client buy that crosses it
        h.core.process(&desk_order(1_000 + i, 1, 6_000_050, 10_000_000, 0, h.t), out);
        kinds.add(out);
        out.clear();
        h.core.process(&rfq(1, 0, BTC / 10, 10_000 + i, h.t), out);
        let q = *out.iter().find(|r| r.kind == kind::RFQ_QUOTE).expect("quoted");
        out.clear();
        h.core.process(&accept(1, q.seq, 0, q.price, q.qty, h.t), out);
        kinds.add(out);
    };
    for i in 0..4 {
        step(&mut h, i, &mut out, &mut kinds);
    }
    let mut kinds = Kinds::new();
    let ((), allocs) = rfq_testkit::count_allocs(|| {
        for i in 4..24 {
            step(&mut h, i, &mut out, &mut kinds);
        }
    });
    assert_eq!(kinds.of(kind::DESK_ORDER_EVENT), 40, "accepted and crossed");
    assert_eq!(allocs, 0, "allocations crossing the internal book");
}

#[test]
fn venue_down_and_up_do_not_allocate() {
    let mut h = harness(rfq_model::HedgeMode::Full, 0, 0);
    up_both(&mut h);
    let mut out: Vec<Record> = Vec::with_capacity(4096);
    let flip = |h: &mut H, out: &mut Vec<Record>| {
        h.t += SEC;
        for (venue, up) in [(2, false), (2, true)] {
            out.clear();
            h.core.process(&status(venue, up, h.t), out);
        }
    };
    flip(&mut h, &mut out);
    let ((), allocs) = rfq_testkit::count_allocs(|| {
        for _ in 0..20 {
            flip(&mut h, &mut out);
        }
    });
    assert_eq!(allocs, 0, "allocations on VENUE_STATUS");
}
