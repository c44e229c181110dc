//! Bounded storage: a full table of open orders refuses `Full` and changes nothing; a full
//! table with terminal orders prunes the oldest of them (their ids stay refused, their reports
//! are unknown); a full exec-id or position table refuses `Full`; a snapshot round trip keeps
//! the bounds.

use rfq_oms::*;

fn req(id: ClOrdId, instrument: InstrumentId) -> NewOrder {
    NewOrder { cl_ord_id: id, venue: 1, instrument, side: Side::Bid, price: 100, qty: 10 }
}

fn fill(id: ClOrdId, exec: ExecId, qty: i64) -> VenueReport {
    VenueReport { venue: 1, cl_ord_id: id, venue_order_id: 0, exec_id: exec, kind: ReportKind::PartialFill { qty, price: 100, fee: 0 } }
}

fn open(oms: &mut Oms, id: ClOrdId) {
    oms.new_order(&req(id, 7)).unwrap();
    oms.mark_sent(id).unwrap();
}

#[test]
fn full_of_open_orders_refuses_and_changes_nothing() {
    let mut oms = Oms::with_capacity(4);
    assert_eq!(oms.max_orders(), 4);
    for id in 1..=4 {
        open(&mut oms, id);
    }
    let before = oms.clone();
    assert_eq!(oms.new_order(&req(5, 7)), Err(OmsError::Full));
    assert_eq!(oms, before);
    assert_eq!(OmsError::Full.index(), 17, "60 + 16 is NO_INTERNAL_BOOK on the wire");
    // one order ends: room again (the oldest terminal order is pruned)
    assert_eq!(oms.apply(&fill(3, 1, 10)), Ok(Outcome::Applied(OrderState::Filled)));
    oms.new_order(&req(5, 7)).unwrap();
    assert!(oms.order(3).is_none());
    assert_eq!(oms.pruned_through(), 3);
    assert_eq!(oms.orders().map(|o| o.req.cl_ord_id).collect::<Vec<_>>(), vec![1, 2, 4, 5]);
    // positions keep the pruned order's fill
    assert_eq!(oms.position(1, 7).net, 10);
}

#[test]
fn pruned_orders_ids_and_reports() {
    let mut oms = Oms::with_capacity(8);
    for id in 1..=8 {
        open(&mut oms, id);
        oms.apply(&fill(id, id, 10)).unwrap();
    }
    open(&mut oms, 9 + 100); // prunes a quarter: orders 1 and 2
    assert_eq!(oms.pruned_through(), 2);
    assert!(oms.order(1).is_none() && oms.order(2).is_none() && oms.order(3).is_some());
    // ids up to the newest pruned one stay refused, even one never used
    assert_eq!(oms.new_order(&req(1, 7)), Err(OmsError::DuplicateClOrdId));
    // a late report of a pruned order is refused (unknown), and changes nothing
    let before = oms.clone();
    assert_eq!(oms.apply(&fill(1, 1, 1)), Err(OmsError::UnknownOrder));
    assert_eq!(oms, before);
    // exec ids of live orders are kept: a duplicate is still a duplicate
    assert_eq!(oms.apply(&fill(3, 3, 1)), Ok(Outcome::Duplicate));
    // an id between pruned ones that was never used is refused too (it may have been)
    let mut o2 = Oms::with_capacity(4);
    for id in [10, 20, 30, 40] {
        open(&mut o2, id);
        o2.request_cancel(id).unwrap();
        o2.apply(&VenueReport { venue: 1, cl_ord_id: id, venue_order_id: 0, exec_id: id, kind: ReportKind::CancelAck }).unwrap();
    }
    open(&mut o2, 50);
    assert_eq!(o2.pruned_through(), 10);
    assert_eq!(o2.new_order(&req(5, 7)), Err(OmsError::DuplicateClOrdId));
    o2.new_order(&req(15, 7)).unwrap();
}

#[test]
fn full_exec_id_table_refuses() {
    let mut oms = Oms::with_capacity(1);
    oms.new_order(&NewOrder { qty: 1_000, ..req(1, 7) }).unwrap();
    oms.mark_sent(1).unwrap();
    for exec in 1..=EXEC_IDS_PER_ORDER as u64 {
        oms.apply(&fill(1, exec, 1)).unwrap();
    }
    let before = oms.clone();
    assert_eq!(oms.apply(&fill(1, 999, 1)), Err(OmsError::Full));
    assert_eq!(oms, before);
    // a duplicate needs no room
    assert_eq!(oms.apply(&fill(1, 1, 1)), Ok(Outcome::Duplicate));
}

#[test]
fn full_position_table_refuses_a_new_position() {
    let mut oms = Oms::with_capacity(MAX_POSITIONS + 1);
    for i in 0..=MAX_POSITIONS as u64 {
        oms.new_order(&req(i + 1, i as u32)).unwrap();
        oms.mark_sent(i + 1).unwrap();
    }
    for i in 0..MAX_POSITIONS as u64 {
        oms.apply(&fill(i + 1, i + 1, 10)).unwrap();
    }
    let before = oms.clone();
    let last = MAX_POSITIONS as u64 + 1;
    assert_eq!(oms.apply(&fill(last, last, 10)), Err(OmsError::Full));
    assert_eq!(oms, before);
    assert_eq!(oms.positions().count(), MAX_POSITIONS);
}

#[test]
fn snapshot_round_trip_keeps_room() {
    let mut oms = Oms::new();
    for id in 1..=3 {
        open(&mut oms, id);
        oms.apply(&fill(id, id, 4)).unwrap();
    }
    let mut b = Vec::new();
    oms.encode(&mut b);
    let (mut back, _) = Oms::decode(&b).unwrap();
    assert_eq!(back, oms);
    assert_eq!(back.max_orders(), DEFAULT_MAX_ORDERS);
    // restored exec ids still deduplicate, new ones apply
    assert_eq!(back.apply(&fill(2, 2, 1)), Ok(Outcome::Duplicate));
    assert_eq!(back.apply(&fill(2, 50, 1)), Ok(Outcome::Applied(OrderState::PartiallyFilled)));
    // a snapshot holding more than the default bound gets room for it
    let mut big = Oms::with_capacity(DEFAULT_MAX_ORDERS + 10);
    for id in 1..=DEFAULT_MAX_ORDERS as u64 + 10 {
        open(&mut big, id);
    }
    let mut b = Vec::new();
    big.encode(&mut b);
    let (back, _) = Oms::decode(&b).unwrap();
    assert_eq!(back.orders().count(), DEFAULT_MAX_ORDERS + 10);
}
