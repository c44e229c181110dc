//! Table-driven state transitions, idempotency, out-of-order reports, overfills.
use rfq_oms::*;
use OrderState as S;

const V: VenueId = 3;
const I: InstrumentId = 11;

fn req(cl: ClOrdId, side: Side, qty: i64) -> NewOrder {
    NewOrder { cl_ord_id: cl, venue: V, instrument: I, side, price: 100, qty }
}

fn rep(cl: ClOrdId, exec_id: ExecId, kind: ReportKind) -> VenueReport {
    VenueReport { venue: V, cl_ord_id: cl, venue_order_id: 500 + cl, exec_id, kind }
}

fn fill(qty: i64) -> ReportKind {
    ReportKind::PartialFill { qty, price: 100, fee: 1 }
}

#[derive(Clone, Copy, Debug)]
enum Start {
    New,
    PendingNew,
    Acked,
    Partial,
    PendingCancel,
    PendingCancelUnacked,
    PendingCancelPartial,
    Filled,
    Cancelled,
    Rejected,
    Expired,
}

/// One order (cl 1, qty 10) brought to a start state with exec ids 100…
fn at(start: Start) -> Oms {
    let mut o = Oms::new();
    o.new_order(&req(1, Side::Bid, 10)).unwrap();
    let mut ex = 100;
    let mut r = |o: &mut Oms, k| {
        ex += 1;
        o.apply(&rep(1, ex, k)).unwrap();
    };
    use Start::*;
    if !matches!(start, New) {
        o.mark_sent(1).unwrap();
    }
    match start {
        New | PendingNew => {}
        PendingCancelUnacked => {
            o.request_cancel(1).unwrap();
        }
        Acked => r(&mut o, ReportKind::Ack),
        Partial => r(&mut o, fill(4)),
        PendingCancel => {
            r(&mut o, ReportKind::Ack);
            o.request_cancel(1).unwrap();
        }
        PendingCancelPartial => {
            r(&mut o, fill(4));
            o.request_cancel(1).unwrap();
        }
        Filled => r(&mut o, fill(10)),
        Cancelled => {
            r(&mut o, ReportKind::Ack);
            r(&mut o, ReportKind::CancelAck)
        }
        Rejected => r(&mut o, ReportKind::Reject { reason: 9 }),
        Expired => {
            r(&mut o, ReportKind::Ack);
            r(&mut o, ReportKind::Expired)
        }
    }
    o
}

#[derive(Clone, Copy, Debug)]
enum In {
    Ack,
    Rej,
    P3,
    /// a fill of exactly the remaining quantity (1 when nothing remains)
    Rest,
    /// one more than the remaining quantity
    Over,
    CxlAck,
    CxlRej,
    Exp,
    Cancel,
    Send,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    /// accepted, the order's new state
    To(S),
    /// ignored as stale / refused: nothing changes
    Same,
    Err(OmsError),
}

fn run(start: Start, input: In) -> (Result<Option<S>, OmsError>, Oms, Oms) {
    let mut o = at(start);
    let before = o.clone();
    let ord = o.order(1).unwrap().clone();
    let rest = (ord.req.qty - ord.filled).max(1);
    let k = match input {
        In::Ack => Some(ReportKind::Ack),
        In::Rej => Some(ReportKind::Reject { reason: 7 }),
        In::P3 => Some(fill(3)),
        In::Rest => Some(ReportKind::Fill { qty: rest, price: 100, fee: 1 }),
        In::Over => Some(fill(ord.req.qty - ord.filled + 1)),
        In::CxlAck => Some(ReportKind::CancelAck),
        In::CxlRej => Some(ReportKind::CancelReject { reason: 5 }),
        In::Exp => Some(ReportKind::Expired),
        _ => None,
    };
    let res = match (k, input) {
        (Some(k), _) => o.apply(&rep(1, 1, k)).map(|out| match out {
            Outcome::Applied(s) => Some(s),
            Outcome::Ignored(_) | Outcome::Duplicate => None,
        }),
        (None, In::Cancel) => o.request_cancel(1).map(Some),
        (None, _) => o.mark_sent(1).map(|_| Some(o.order(1).unwrap().state)),
    };
    (res, before, o)
}

#[test]
fn transition_table() {
    use In::*;
    use Start as T;
    let e = Want::Err;
    let table: &[(Start, In, Want)] = &[
        (T::New, Ack, Want::To(S::Acknowledged)),
        (T::New, Rej, Want::To(S::Rejected)),
        (T::New, P3, Want::To(S::PartiallyFilled)),
        (T::New, Rest, Want::To(S::Filled)),
        (T::New, Over, e(OmsError::Overfill)),
        (T::New, CxlAck, Want::Same),
        (T::New, CxlRej, Want::Same),
        (T::New, In::Exp, Want::Same),
        (T::New, Cancel, Want::To(S::Cancelled)),
        (T::New, Send, Want::To(S::PendingNew)),
        (T::PendingNew, Ack, Want::To(S::Acknowledged)),
        (T::PendingNew, Rej, Want::To(S::Rejected)),
        (T::PendingNew, P3, Want::To(S::PartiallyFilled)),
        (T::PendingNew, Rest, Want::To(S::Filled)),
        (T::PendingNew, Over, e(OmsError::Overfill)),
        (T::PendingNew, CxlAck, Want::To(S::Cancelled)),
        (T::PendingNew, CxlRej, Want::Same),
        (T::PendingNew, In::Exp, Want::To(S::Expired)),
        (T::PendingNew, Cancel, Want::To(S::PendingCancel)),
        (T::PendingNew, Send, e(OmsError::AlreadySent)),
        (T::Acked, Ack, Want::Same),
        (T::Acked, Rej, e(OmsError::RejectAfterAck)),
        (T::Acked, P3, Want::To(S::PartiallyFilled)),
        (T::Acked, Rest, Want::To(S::Filled)),
        (T::Acked, Over, e(OmsError::Overfill)),
        (T::Acked, CxlAck, Want::To(S::Cancelled)),
        (T::Acked, CxlRej, Want::Same),
        (T::Acked, In::Exp, Want::To(S::Expired)),
        (T::Acked, Cancel, Want::To(S::PendingCancel)),
        (T::Acked, Send, e(OmsError::AlreadySent)),
        (T::Partial, Ack, Want::Same),
        (T::Partial, Rej, e(OmsError::RejectAfterAck)),
        (T::Partial, P3, Want::To(S::PartiallyFilled)),
        (T::Partial, Rest, Want::To(S::Filled)),
        (T::Partial, Over, e(OmsError::Overfill)),
        (T::Partial, CxlAck, Want::To(S::Cancelled)),
        (T::Partial, CxlRej, Want::Same),
        (T::Partial, In::Exp, Want::To(S::Expired)),
        (T::Partial, Cancel, Want::To(S::PendingCancel)),
        (T::Partial, Send, e(OmsError::AlreadySent)),
        (T::PendingCancel, Ack, Want::Same),
        (T::PendingCancel, Rej, e(OmsError::RejectAfterAck)),
        (T::PendingCancel, P3, Want::To(S::PendingCancel)),
        (T::PendingCancel, Rest, Want::To(S::Filled)),
        (T::PendingCancel, Over, e(OmsError::Overfill)),
        (T::PendingCancel, CxlAck, Want::To(S::Cancelled)),
        (T::PendingCancel, CxlRej, Want::To(S::Acknowledged)),
        (T::PendingCancel, In::Exp, Want::To(S::Expired)),
        (T::PendingCancel, Cancel, e(OmsError::CancelPending)),
        (T::PendingCancel, Send, e(OmsError::AlreadySent)),
        (T::PendingCancelUnacked, Ack, Want::To(S::PendingCancel)),
        (T::PendingCancelUnacked, Rej, Want::To(S::Rejected)),
        (T::PendingCancelUnacked, CxlRej, Want::To(S::PendingNew)),
        (T::PendingCancelUnacked, CxlAck, Want::To(S::Cancelled)),
        (T::PendingCancelPartial, P3, Want::To(S::PendingCancel)),
        (T::PendingCancelPartial, Rest, Want::To(S::Filled)),
        (T::PendingCancelPartial, CxlRej, Want::To(S::PartiallyFilled)),
        (T::PendingCancelPartial, Rej, e(OmsError::RejectAfterAck)),
        (T::Filled, Ack, Want::Same),
        (T::Filled, Rej, Want::Same),
        (T::Filled, P3, e(OmsError::Overfill)),
        (T::Filled, Rest, e(OmsError::Overfill)),
        (T::Filled, CxlAck, Want::Same),
        (T::Filled, CxlRej, Want::Same),
        (T::Filled, In::Exp, Want::Same),
        (T::Filled, Cancel, e(OmsError::OrderClosed)),
        (T::Filled, Send, e(OmsError::AlreadySent)),
        (T::Cancelled, Ack, Want::Same),
        (T::Cancelled, Rej, Want::Same),
        // a fill that happened before the cancel and was reported after it is booked
        (T::Cancelled, P3, Want::To(S::Cancelled)),
        (T::Cancelled, Rest, Want::To(S::Filled)),
        (T::Cancelled, Over, e(OmsError::Overfill)),
        (T::Cancelled, CxlAck, Want::Same),
        (T::Cancelled, CxlRej, Want::Same),
        (T::Cancelled, In::Exp, Want::Same),
        (T::Cancelled, Cancel, e(OmsError::OrderClosed)),
        (T::Rejected, Ack, Want::Same),
        (T::Rejected, Rej, Want::Same),
        (T::Rejected, P3, e(OmsError::FillOnRejected)),
        (T::Rejected, Over, e(OmsError::FillOnRejected)),
        (T::Rejected, CxlAck, Want::Same),
        (T::Rejected, In::Exp, Want::Same),
        (T::Rejected, Cancel, e(OmsError::OrderClosed)),
        (T::Expired, Ack, Want::Same),
        (T::Expired, P3, Want::To(S::Expired)),
        (T::Expired, Rest, Want::To(S::Filled)),
        (T::Expired, CxlAck, Want::Same),
        (T::Expired, Cancel, e(OmsError::OrderClosed)),
        (T::Expired, Rej, Want::Same),
        (T::Expired, Over, e(OmsError::Overfill)),
        (T::Expired, CxlRej, Want::Same),
        (T::Expired, In::Exp, Want::Same),
        (T::Expired, Send, e(OmsError::AlreadySent)),
        (T::Cancelled, Send, e(OmsError::AlreadySent)),
        (T::Rejected, Rest, e(OmsError::FillOnRejected)),
        (T::Rejected, CxlRej, Want::Same),
        (T::Rejected, Send, e(OmsError::AlreadySent)),
        (T::PendingCancelUnacked, P3, Want::To(S::PendingCancel)),
        (T::PendingCancelUnacked, Rest, Want::To(S::Filled)),
        (T::PendingCancelUnacked, In::Exp, Want::To(S::Expired)),
        (T::PendingCancelUnacked, Cancel, e(OmsError::CancelPending)),
        (T::Filled, Over, e(OmsError::Overfill)),
    ];
    for &(start, input, exp) in table {
        let (res, before, after) = run(start, input);
        let ctx = format!("{start:?} + {input:?}");
        match exp {
            Want::To(s) => {
                assert_eq!(res, Ok(Some(s)), "{ctx}");
                assert_eq!(after.order(1).unwrap().state, s, "{ctx}");
            }
            Want::Same => {
                assert_eq!(res, Ok(None), "{ctx}");
                assert_eq!(before, after, "{ctx}: ignored input changed state");
            }
            Want::Err(err) => {
                assert_eq!(res, Err(err), "{ctx}");
                assert_eq!(before, after, "{ctx}: refused input changed state");
            }
        }
        // invariants
        let o = after.order(1).unwrap();
        assert!(o.filled >= before.order(1).unwrap().filled && o.filled <= o.req.qty, "{ctx}");
        assert_eq!(after.position(V, I).net, i128::from(o.filled), "{ctx}");
    }
}

#[test]
fn duplicate_client_order_id_refused_in_every_state() {
    for start in [Start::New, Start::Acked, Start::Filled, Start::Rejected, Start::Cancelled] {
        let mut o = at(start);
        let before = o.clone();
        assert_eq!(o.new_order(&req(1, Side::Ask, 3)), Err(OmsError::DuplicateClOrdId));
        assert_eq!(o, before);
    }
    let mut o = Oms::new();
    assert_eq!(o.new_order(&req(0, Side::Bid, 1)), Err(OmsError::BadClOrdId));
    assert_eq!(o.new_order(&req(2, Side::Bid, 0)), Err(OmsError::BadQty));
    let mut r = req(2, Side::Bid, 1);
    r.price = -1;
    assert_eq!(o.new_order(&r), Err(OmsError::BadPrice));
    assert_eq!(o, Oms::new());
}

#[test]
fn bad_reports_refused_without_change() {
    let mut o = at(Start::Acked);
    o.new_order(&req(2, Side::Bid, 5)).unwrap();
    let before = o.clone();
    let cases = [
        (rep(1, 0, ReportKind::Ack), OmsError::BadExecId),
        (rep(9, 1, ReportKind::Ack), OmsError::UnknownOrder),
        (VenueReport { venue: V + 1, ..rep(1, 1, ReportKind::Ack) }, OmsError::VenueMismatch),
        (VenueReport { venue_order_id: 1, ..rep(1, 1, fill(1)) }, OmsError::VenueOrderIdMismatch),
        (VenueReport { venue_order_id: 501, ..rep(2, 1, ReportKind::Ack) }, OmsError::VenueOrderIdInUse),
        (rep(1, 1, fill(0)), OmsError::BadQty),
        (rep(1, 1, ReportKind::Fill { qty: 1, price: 0, fee: 0 }), OmsError::BadPrice),
        (rep(1, 1, fill(11)), OmsError::Overfill),
    ];
    for (r, err) in cases {
        assert_eq!(o.apply(&r), Err(err), "{r:?}");
        assert_eq!(o, before, "{r:?}");
    }
    assert_eq!(o.by_venue_order_id(V, 501), Some(1));
}

#[test]
fn duplicated_reports_are_ignored() {
    let mut o = at(Start::PendingNew);
    let f = rep(1, 1, fill(4));
    assert_eq!(o.apply(&f), Ok(Outcome::Applied(S::PartiallyFilled)));
    let snap = o.clone();
    assert_eq!(o.apply(&f), Ok(Outcome::Duplicate));
    // same exec id, different content: still a duplicate (the exec id is the key)
    assert_eq!(o.apply(&rep(1, 1, fill(6))), Ok(Outcome::Duplicate));
    assert_eq!(o, snap);
    assert_eq!(o.order(1).unwrap().filled, 4);
    assert_eq!(o.position(V, I).net, 4);
}

#[test]
fn out_of_order_reports() {
    // fill before ack: implies the ack; the late ack is ignored
    let mut o = at(Start::PendingNew);
    assert_eq!(o.apply(&rep(1, 2, fill(3))), Ok(Outcome::Applied(S::PartiallyFilled)));
    assert!(o.order(1).unwrap().acked);
    assert_eq!(o.order(1).unwrap().venue_order_id, Some(501));
    assert_eq!(o.apply(&rep(1, 1, ReportKind::Ack)), Ok(Outcome::Ignored(S::PartiallyFilled)));
    // the "last" fill arrives before a partial: state follows the cumulative quantity
    assert_eq!(
        o.apply(&rep(1, 4, ReportKind::Fill { qty: 5, price: 102, fee: 2 })),
        Ok(Outcome::Applied(S::PartiallyFilled))
    );
    assert_eq!(o.apply(&rep(1, 3, fill(2))), Ok(Outcome::Applied(S::Filled)));
    // a cancel ack after the full fill is ignored
    assert_eq!(o.apply(&rep(1, 5, ReportKind::CancelAck)), Ok(Outcome::Ignored(S::Filled)));
    let ord = o.order(1).unwrap();
    assert_eq!((ord.filled, ord.notional, ord.fees), (10, 3 * 100 + 5 * 102 + 2 * 100, 4));
    assert_eq!(ord.avg_price(), Some(101));
    let p = o.position(V, I);
    assert_eq!((p.net, p.bought, p.buy_notional, p.fees), (10, 10, 1010, 4));
    assert_eq!(p.avg_buy_price(), Some(101));

    // cancel ack before an earlier fill: stays cancelled, the fill is booked
    let mut o = at(Start::PendingCancel);
    assert_eq!(o.apply(&rep(1, 7, ReportKind::CancelAck)), Ok(Outcome::Applied(S::Cancelled)));
    assert_eq!(o.apply(&rep(1, 6, fill(2))), Ok(Outcome::Applied(S::Cancelled)));
    assert_eq!(o.order(1).unwrap().leaves(), 0);
    assert_eq!(o.position(V, I).net, 2);
}

#[test]
fn sells_and_positions_per_venue_instrument() {
    let mut o = Oms::new();
    o.new_order(&req(1, Side::Bid, 10)).unwrap();
    o.new_order(&req(2, Side::Ask, 4)).unwrap();
    o.new_order(&NewOrder { venue: 4, ..req(3, Side::Ask, 4) }).unwrap();
    o.apply(&rep(1, 1, ReportKind::Fill { qty: 10, price: 200, fee: -3 })).unwrap();
    o.apply(&rep(2, 2, ReportKind::Fill { qty: 4, price: 210, fee: 5 })).unwrap();
    o.apply(&VenueReport { venue: 4, ..rep(3, 2, fill(1)) }).unwrap(); // exec ids are per venue
    let p = o.position(V, I);
    assert_eq!((p.net, p.bought, p.sold, p.fees), (6, 10, 4, 2));
    assert_eq!((p.avg_buy_price(), p.avg_sell_price()), (Some(200), Some(210)));
    assert_eq!(o.position(4, I).net, -1);
    // exact i128 notional beyond i64
    let mut o = Oms::new();
    o.new_order(&NewOrder { price: i64::MAX, ..req(1, Side::Bid, i64::MAX) }).unwrap();
    o.apply(&rep(1, 1, ReportKind::Fill { qty: i64::MAX, price: i64::MAX, fee: 0 })).unwrap();
    assert_eq!(o.position(V, I).buy_notional, i128::from(i64::MAX) * i128::from(i64::MAX));
    assert_eq!(o.order(1).unwrap().avg_price(), Some(i64::MAX));
}
