//! CONTROL SET_LADDER and SET_MEMBER: the pricing v1 ladder sizes and composite membership change
//! through journaled records (docs/rfq-protocol.md), not only through `Core::set_pricing` /
//! `set_member` calls that bypass the input stream.

mod common;

use common::*;
use rfq_engine::{Core, SnapshotAnchor};
use rfq_ring::record::{control, kind, rfq_reject};

fn quotes_per_tick(h: &mut H) -> usize {
    let out = h.tick(1);
    only(&out, kind::QUOTE).len()
}

#[test]
fn ladder_sizes_change_through_control_records() {
    let mut h = H::new();
    assert_eq!(h.core.quotes(1).unwrap().len(), 1);
    // append 2 BTC and 5 BTC, then change the first size to 0.5 BTC
    assert_eq!(h.ctl(control::SET_LADDER, 1, 1, 0, 2 * BTC, 1).aux, 0);
    assert_eq!(h.ctl(control::SET_LADDER, 1, 1, 0, 5 * BTC, 2).aux, 0);
    let ack = h.ctl(control::SET_LADDER, 1, 1, 0, BTC / 2, 0);
    assert_eq!((ack.aux, ack.ts_event), (0, BTC));
    assert_eq!(h.core.quotes(1).unwrap().len(), 3);
    assert_eq!(quotes_per_tick(&mut h), 3, "the ladder is repriced with the new sizes");
    // refused: not increasing, a gap in the indices, size 0, keep 0, unknown field/composite
    let before = h.core.quotes(1).unwrap().to_vec();
    for (field, inst, qty, aux, why) in [
        (1, 1, BTC, 2, "not increasing"),
        (1, 1, 9 * BTC, 5, "index gap"),
        (1, 1, 0, 0, "size 0"),
        (2, 1, 0, 0, "keep none"),
        (7, 1, 1, 0, "unknown field"),
    ] {
        assert_eq!(h.ctl(control::SET_LADDER, field, inst, 0, qty, aux).aux, rfq_reject::BAD_COMMAND, "{why}");
    }
    assert_eq!(h.ctl(control::SET_LADDER, 1, 9, 0, BTC, 0).aux, rfq_reject::UNKNOWN_INSTRUMENT);
    assert_eq!(h.core.quotes(1).unwrap(), &before[..]);
    // keep the first size only
    let ack = h.ctl(control::SET_LADDER, 2, 1, 0, 1, 0);
    assert_eq!((ack.aux, ack.ts_event), (0, 3));
    assert_eq!(quotes_per_tick(&mut h), 1);
    // the changed ladder is in snapshots
    let bytes = h.core.snapshot_bytes(&SnapshotAnchor::detached(1));
    let (back, _) = Core::restore(config(), &mut bytes.as_slice()).unwrap();
    assert_eq!(back.state_hash(), h.core.state_hash());
}

#[test]
fn members_are_excluded_and_included_through_control_records() {
    let two = || {
        let mut c = config();
        c.composites[0].members = vec![1, 2];
        let mut h = H::with(c);
        h.feed(&snapshot(2, h.t));
        h.tick(1);
        h
    };
    let (mut h, mut a) = (two(), two());
    let deep = |h: &H| h.core.composite_sweep(1, rfq_model::Side::Ask, 60 * BTC);
    assert!(deep(&h).is_some(), "two members: 100 levels of depth");
    // excluded by a record here, by a call there: the same composite
    let ack = h.ctl(control::SET_MEMBER, 0, 1, 2, 0, 0);
    assert_eq!((ack.aux, ack.ts_event), (0, 1)); // applied; was included
    a.core.set_member(1, 2, false).unwrap();
    h.tick(1);
    a.tick(1);
    assert_eq!(deep(&h), None, "one member: 50 levels, too thin for 60 BTC");
    assert_eq!(deep(&h), deep(&a));
    assert_eq!(h.core.quotes(1), a.core.quotes(1));
    // refused: not a member, bad value, unknown composite
    assert_eq!(h.ctl(control::SET_MEMBER, 0, 1, 9, 0, 0).aux, rfq_reject::BAD_COMMAND);
    assert_eq!(h.ctl(control::SET_MEMBER, 0, 1, 2, 2, 0).aux, rfq_reject::BAD_COMMAND);
    assert_eq!(h.ctl(control::SET_MEMBER, 0, 7, 2, 1, 0).aux, rfq_reject::UNKNOWN_INSTRUMENT);
    // included again
    let ack = h.ctl(control::SET_MEMBER, 0, 1, 2, 1, 0);
    assert_eq!((ack.aux, ack.ts_event), (0, 0));
    h.tick(1);
    assert!(deep(&h).is_some());
}
