//! The core reports an OMS refusal as `rfq_reject::OMS_BASE + OmsError::index()` (hedge.rs);
//! every such code has its own name in rfq-ring (the one source of wire codes, from which the
//! Python, C and docs copies are generated). A new `OmsError` variant does not compile here
//! until it is given its named code.

use rfq_oms::OmsError;
use rfq_ring::record::rfq_reject;

fn named(e: OmsError) -> i64 {
    match e {
        OmsError::BadClOrdId => rfq_reject::OMS_BAD_CL_ORD_ID,
        OmsError::DuplicateClOrdId => rfq_reject::OMS_DUPLICATE_CL_ORD_ID,
        OmsError::BadQty => rfq_reject::OMS_BAD_QTY,
        OmsError::BadPrice => rfq_reject::OMS_BAD_PRICE,
        OmsError::UnknownOrder => rfq_reject::OMS_UNKNOWN_ORDER,
        OmsError::AlreadySent => rfq_reject::OMS_ALREADY_SENT,
        OmsError::OrderClosed => rfq_reject::OMS_ORDER_CLOSED,
        OmsError::CancelPending => rfq_reject::OMS_CANCEL_PENDING,
        OmsError::VenueDisconnected => rfq_reject::OMS_VENUE_DISCONNECTED,
        OmsError::VenueMismatch => rfq_reject::OMS_VENUE_MISMATCH,
        OmsError::BadExecId => rfq_reject::OMS_BAD_EXEC_ID,
        OmsError::VenueOrderIdMismatch => rfq_reject::OMS_VENUE_ORDER_ID_MISMATCH,
        OmsError::VenueOrderIdInUse => rfq_reject::OMS_VENUE_ORDER_ID_IN_USE,
        OmsError::Overfill => rfq_reject::OMS_OVERFILL,
        OmsError::RejectAfterAck => rfq_reject::OMS_REJECT_AFTER_ACK,
        OmsError::FillOnRejected => rfq_reject::OMS_FILL_ON_REJECTED,
        OmsError::Full => rfq_reject::OMS_FULL,
    }
}

#[test]
fn every_oms_refusal_reaches_the_wire_as_its_named_code() {
    use OmsError::*;
    let all = [
        BadClOrdId, DuplicateClOrdId, BadQty, BadPrice, UnknownOrder, AlreadySent, OrderClosed, CancelPending, VenueDisconnected,
        VenueMismatch, BadExecId, VenueOrderIdMismatch, VenueOrderIdInUse, Overfill, RejectAfterAck, FillOnRejected, Full,
    ];
    let mut seen = std::collections::BTreeSet::new();
    for e in all {
        assert_eq!(rfq_reject::OMS_BASE + i64::from(e.index()), named(e), "{e:?}");
        assert!(seen.insert(named(e)), "{e:?} shares its code");
    }
    // index 16 is skipped because that code is another refusal's
    assert_eq!(rfq_reject::OMS_BASE + 16, rfq_reject::NO_INTERNAL_BOOK);
}
