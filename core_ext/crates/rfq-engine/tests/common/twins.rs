//! Twin cores for the state-hash tests (state_hash.rs): two cores built alike, fed inputs
//! that differ in one part of the state.

use super::hedge::*;
use super::*;
use rfq_model::HedgeMode;
use rfq_ring::record::kind;
use rfq_ring::Record;

/// Feed `a` to one core and `b` to another, both from `base`: same clock, same output
/// sequence, same number of outputs, different state hash.
pub fn differ(part: &str, base: impl Fn() -> H, a: &[Record], b: &[Record]) -> (H, H) {
    differ_by(part, base, a, b, true)
}

/// [`differ`], optionally without requiring as many outputs (RFQ-workflow outputs do not
/// move the output sequence).
pub fn differ_by(part: &str, base: impl Fn() -> H, a: &[Record], b: &[Record], same_count: bool) -> (H, H) {
    let (mut x, mut y) = (base(), base());
    assert_eq!(x.core.state_hash(), y.core.state_hash(), "{part}: the base is deterministic");
    let (oa, ob) = (x.feed(a), y.feed(b));
    assert_eq!(x.core.now(), y.core.now(), "{part}: twins end at the same time");
    assert_eq!(x.core.out_seq(), y.core.out_seq(), "{part}: twins publish the same sequence");
    if same_count {
        assert_eq!(oa.len(), ob.len(), "{part}: twins give as many outputs\n{oa:?}\n{ob:?}");
    }
    for o in oa.iter().chain(&ob).filter(|o| o.kind == kind::CONTROL_ACK) {
        assert_eq!(o.aux, 0, "{part}: a twin's control was refused: {o:?}");
    }
    assert_ne!(x.core.state_hash(), y.core.state_hash(), "{part} is not covered by state_hash");
    (x, y)
}

/// A control twin: the same command with value `a` or `b` (field `field`, scope `inst`/`price`).
pub fn ctl_twin(part: &str, base: impl Fn() -> H, cmd: u8, field: u16, inst: u16, price: i64, a: i64, b: i64) -> (H, H) {
    let t = base().t;
    differ(part, base, &[ctl(cmd, field, inst, price, a, 0, t)], &[ctl(cmd, field, inst, price, b, 0, t)])
}

/// Composites 1 (instrument 1) and 2 (instrument 2), both books loaded.
pub fn two_books() -> H {
    let mut h = H::new();
    h.feed(&snapshot(2, T0));
    h
}

pub fn hedged() -> H {
    let mut h = harness(HedgeMode::Full, 0, 0);
    up_both(&mut h);
    h
}

/// A client fill routed to both venues: the two hedge orders.
pub fn routed() -> (H, Record, Record) {
    let mut h = hedged();
    let out = client_buys(&mut h, 150_000_000, 1);
    let o = orders(&out);
    assert_eq!(o.len(), 2);
    (h, o[0], o[1])
}
