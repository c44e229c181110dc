//! After construction the OMS does not allocate: orders, reports (acks, fills, cancels),
//! duplicates, refusals and the pruning of terminal orders, counted by a global allocator.

use rfq_oms::*;

#[global_allocator]
static A: rfq_testkit::CountingAlloc = rfq_testkit::CountingAlloc;

fn cycle(oms: &mut Oms, id: ClOrdId) {
    let venue = (id % 3) as u16 + 1;
    let instrument = (id % 5) as u32;
    oms.new_order(&NewOrder { cl_ord_id: id, venue, instrument, side: if id.is_multiple_of(2) { Side::Bid } else { Side::Ask }, price: 1_000, qty: 10 }).unwrap();
    oms.mark_sent(id).unwrap();
    let rep = |exec: u64, kind| VenueReport { venue, cl_ord_id: id, venue_order_id: id + 7, exec_id: exec, kind };
    assert!(matches!(oms.apply(&rep(4 * id, ReportKind::Ack)), Ok(Outcome::Applied(_))));
    assert!(matches!(oms.apply(&rep(4 * id + 1, ReportKind::PartialFill { qty: 4, price: 1_000, fee: 1 })), Ok(Outcome::Applied(_))));
    assert_eq!(oms.apply(&rep(4 * id + 1, ReportKind::PartialFill { qty: 4, price: 1_000, fee: 1 })), Ok(Outcome::Duplicate));
    assert_eq!(oms.apply(&rep(4 * id + 2, ReportKind::Fill { qty: 40, price: 1_000, fee: 1 })), Err(OmsError::Overfill));
    if id.is_multiple_of(4) {
        oms.request_cancel(id).unwrap();
        assert!(matches!(oms.apply(&rep(4 * id + 3, ReportKind::CancelAck)), Ok(Outcome::Applied(OrderState::Cancelled))));
    } else {
        assert!(matches!(oms.apply(&rep(4 * id + 3, ReportKind::Fill { qty: 6, price: 1_001, fee: 1 })), Ok(Outcome::Applied(OrderState::Filled))));
    }
}

#[test]
fn orders_reports_and_pruning_do_not_allocate() {
    let mut oms = Oms::with_capacity(64);
    for id in 1..=100 {
        cycle(&mut oms, id);
    }
    let ((), allocs) = rfq_testkit::count_allocs(|| {
        for id in 101..=5_000 {
            cycle(&mut oms, id);
        }
    });
    assert_eq!(allocs, 0, "allocations in the OMS");
    assert!(oms.pruned_through() > 4_900 - 64, "terminal orders were pruned: {}", oms.pruned_through());
    // filled orders: 10 each; cancelled ones (every fourth): the 4 filled before the cancel
    assert_eq!(oms.positions().map(|(_, p)| p.bought + p.sold).sum::<i128>(), 5_000 / 4 * (3 * 10 + 4));
    // a clone keeps its room
    let mut c = oms.clone();
    let ((), allocs) = rfq_testkit::count_allocs(|| cycle(&mut c, 5_001));
    assert_eq!(allocs, 0, "allocations in a cloned OMS");
}

#[test]
fn disconnect_and_empty_reconcile_do_not_allocate() {
    let mut oms = Oms::with_capacity(64);
    let mut actions = Vec::with_capacity(64);
    for id in 1..=10 {
        cycle(&mut oms, id);
    }
    let ((), allocs) = rfq_testkit::count_allocs(|| {
        for round in 0..20_u64 {
            let id = 100 + 2 * round;
            // one open order at venue 1 and one unsent: the link drops, comes back empty
            oms.new_order(&NewOrder { cl_ord_id: id, venue: 1, instrument: 1, side: Side::Bid, price: 1, qty: 1 }).unwrap();
            oms.mark_sent(id).unwrap();
            oms.new_order(&NewOrder { cl_ord_id: id + 1, venue: 1, instrument: 1, side: Side::Bid, price: 1, qty: 1 }).unwrap();
            let mut n = 0;
            oms.disconnect_each(1, |_| n += 1);
            assert_eq!(n, 2);
            actions.clear();
            oms.reconcile_into(1, &VenueSnapshot::default(), &mut actions);
            assert_eq!(actions, [ReconAction::ClosedNotAtVenue { cl_ord_id: id, filled: 0 }]);
        }
    });
    assert_eq!(allocs, 0, "allocations in disconnect / reconcile");
}
