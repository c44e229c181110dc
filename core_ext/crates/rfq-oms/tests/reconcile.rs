//! Cancel-on-disconnect and reconciliation after a reconnect.
use rfq_oms::*;
use OrderState as S;

const V: VenueId = 3;
const I: InstrumentId = 11;

fn req(cl: ClOrdId, venue: VenueId, qty: i64) -> NewOrder {
    NewOrder { cl_ord_id: cl, venue, instrument: I, side: Side::Bid, price: 100, qty }
}

fn rep(cl: ClOrdId, exec_id: ExecId, kind: ReportKind) -> VenueReport {
    VenueReport { venue: V, cl_ord_id: cl, venue_order_id: 500 + cl, exec_id, kind }
}

fn vfill(cl: ClOrdId, exec_id: ExecId, qty: i64) -> VenueFill {
    VenueFill { cl_ord_id: cl, venue_order_id: 500 + cl, exec_id, qty, price: 100, fee: 1 }
}

fn open(cl: ClOrdId, cum_qty: i64) -> VenueOpenOrder {
    VenueOpenOrder { cl_ord_id: cl, venue_order_id: 500 + cl, cum_qty }
}

/// 1 New, 2 PendingNew, 3 acked + 4 filled, 4 Filled, 5 open at another venue.
fn book() -> Oms {
    let mut o = Oms::new();
    for cl in 1..=4 {
        o.new_order(&req(cl, V, 10)).unwrap();
    }
    o.new_order(&req(5, V + 1, 10)).unwrap();
    for cl in 2..=5 {
        o.mark_sent(cl).unwrap();
    }
    o.apply(&rep(3, 10, ReportKind::Ack)).unwrap();
    o.apply(&rep(3, 11, ReportKind::PartialFill { qty: 4, price: 100, fee: 1 })).unwrap();
    o.apply(&rep(4, 12, ReportKind::Fill { qty: 10, price: 100, fee: 1 })).unwrap();
    o
}

#[test]
fn cancel_on_disconnect_then_reconcile() {
    let mut o = book();
    assert_eq!(o.disconnect(V), vec![1, 2, 3]);
    assert!(o.is_disconnected(V) && !o.is_disconnected(V + 1));
    assert_eq!(o.order(1).unwrap().state, S::Cancelled); // never sent
    for cl in [2, 3] {
        let ord = o.order(cl).unwrap();
        assert_eq!((ord.state, ord.disconnected), (S::PendingCancel, true));
    }
    assert_eq!(o.order(4).unwrap().state, S::Filled);
    assert_eq!(o.order(5).unwrap().state, S::PendingNew); // other venue untouched
    // no new order goes out while disconnected
    o.new_order(&req(6, V, 1)).unwrap();
    let before = o.clone();
    assert_eq!(o.mark_sent(6), Err(OmsError::VenueDisconnected));
    assert_eq!(o, before);
    // reports still apply while disconnected
    assert_eq!(
        o.apply(&rep(3, 13, ReportKind::PartialFill { qty: 1, price: 100, fee: 0 })),
        Ok(Outcome::Applied(S::PendingCancel))
    );

    // reconnect: the venue did not cancel 3 (it has 8 filled, we have 5 + a missed fill of 2),
    // does not know 2, reports a fill we have (11), one we missed (14), one of an unknown order
    let snap = VenueSnapshot {
        open: vec![open(3, 8)],
        fills: vec![vfill(99, 15, 1), vfill(3, 14, 2), vfill(3, 11, 4)],
    };
    let actions = o.reconcile(V, &snap);
    assert_eq!(
        actions,
        vec![
            ReconAction::FillApplied { cl_ord_id: 3, exec_id: 14, state: S::PendingCancel },
            ReconAction::UnknownFill { cl_ord_id: 99, exec_id: 15 },
            ReconAction::CancelAtVenue { cl_ord_id: 3, venue_order_id: 503 },
            ReconAction::FillGap { cl_ord_id: 3, venue_cum: 8, ours: 7 },
            ReconAction::ClosedNotAtVenue { cl_ord_id: 2, filled: 0 },
        ]
    );
    assert!(!o.is_disconnected(V));
    assert_eq!(o.order(2).unwrap().state, S::Cancelled);
    assert_eq!(o.order(3).unwrap().state, S::PendingCancel);
    assert!(o.orders().all(|x| !x.disconnected || x.req.venue != V));
    assert_eq!(o.order(3).unwrap().filled, 7);
    assert_eq!(o.position(V, I).net, 17);
    // the order can be sent now; the venue's cancel ack then closes 3
    assert_eq!(o.mark_sent(6), Ok(()));
    assert_eq!(o.apply(&rep(3, 16, ReportKind::CancelAck)), Ok(Outcome::Applied(S::Cancelled)));
}

#[test]
fn reconcile_without_disconnect() {
    let mut o = book();
    o.new_order(&req(7, V, 3)).unwrap();
    o.mark_sent(7).unwrap();
    let snap = VenueSnapshot {
        // 2 is open at the venue (its ack was lost); 3 is not (cancelled at the venue, its
        // cancel ack lost); 42 is not ours; 5 is ours but at another venue
        open: vec![open(42, 0), open(2, 0), open(5, 0), open(2, 0)],
        // 7 filled completely while we were away; 4 gets a fill it has no room for
        fills: vec![vfill(7, 21, 3), vfill(4, 20, 1)],
    };
    let actions = o.reconcile(V, &snap);
    assert_eq!(
        actions,
        vec![
            ReconAction::FillRefused { cl_ord_id: 4, exec_id: 20, reason: OmsError::Overfill },
            ReconAction::FillApplied { cl_ord_id: 7, exec_id: 21, state: S::Filled },
            ReconAction::Acknowledged { cl_ord_id: 2, venue_order_id: 502 },
            ReconAction::UnknownVenueOrder { cl_ord_id: 5, venue_order_id: 505 },
            ReconAction::UnknownVenueOrder { cl_ord_id: 42, venue_order_id: 542 },
            ReconAction::ClosedNotAtVenue { cl_ord_id: 3, filled: 4 },
        ]
    );
    assert_eq!(o.order(2).unwrap().state, S::Acknowledged);
    assert_eq!(o.by_venue_order_id(V, 502), Some(2));
    assert_eq!(o.order(3).unwrap().state, S::Cancelled);
    assert_eq!(o.order(4).unwrap().filled, 10);
    assert_eq!(o.order(5).unwrap().state, S::PendingNew);
    assert_eq!(o.position(V, I).net, 4 + 10 + 3);
    // reconciling the same snapshot again is idempotent: only the flags repeat
    let after = o.clone();
    let again = o.reconcile(V, &snap);
    assert_eq!(o, after);
    assert!(again.iter().all(|a| matches!(
        a,
        ReconAction::FillRefused { .. } | ReconAction::UnknownVenueOrder { .. }
    )));
}

#[test]
fn reconcile_is_deterministic_in_snapshot_order() {
    let snap = VenueSnapshot {
        open: vec![open(3, 4), open(42, 0), open(2, 0)],
        fills: vec![vfill(3, 30, 1), vfill(99, 31, 1), vfill(3, 32, 2), vfill(2, 33, 1)],
    };
    let mut a = book();
    let ra = a.reconcile(V, &snap);
    let mut rev = snap.clone();
    rev.open.reverse();
    rev.fills.reverse();
    let mut b = book();
    let rb = b.reconcile(V, &rev);
    assert_eq!(ra, rb);
    assert_eq!(a, b);
}
