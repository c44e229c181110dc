//! Snapshots written by an earlier format version still restore.
//!
//! `tests/data/snapshot-v2.rfqs` was written by the format-2 code (before the state hash was
//! defined as the hash of the state's one encoding, docs/journal.md "Snapshots") from the
//! scenario below: books on two venues, RFQs, fills, a hedge order and a venue fill, quotes
//! still live, and a journal-like stream of market data, RFQs and accepts. Restoring it into a
//! core of today must give the state that replaying the same scenario gives today (the same
//! state hash), and both must go on identically (same outputs and hash after every record).
//!
//! Regenerate (only with the code of the version being frozen):
//! `RFQCORE_WRITE_SNAPSHOT_FIXTURE=1 cargo test -p rfq-engine --test snapshot_compat`.

mod common;

use common::hedge::*;
use common::*;
use rfq_engine::{check_snapshot, Core, CoreConfig, SnapshotAnchor, SnapshotHeader};
use rfq_model::HedgeMode;
use rfq_ring::record::{flags, kind, venue_report};
use rfq_ring::Record;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/snapshot-v2.rfqs");

fn cfg() -> CoreConfig {
    hedge_cfg(HedgeMode::Full, 100, 0)
}

/// The frozen scenario (deterministic).
fn scenario() -> Core {
    let mut h = harness(HedgeMode::Full, 100, 0);
    up_both(&mut h);
    // a client fill and its hedge order, filled in part by the venue
    let (q, recs) = h.quote(1, 0, BTC / 2, 1);
    let px = recs.iter().find(|r| r.side == 0).unwrap().price;
    let out = h.accept(1, q, 0, px, BTC / 2);
    let order = *out.iter().find(|r| r.kind == kind::HEDGE_ORDER).expect("a hedge order");
    let fill = Record {
        kind: kind::VENUE_REPORT,
        instrument: order.instrument,
        side: venue_report::PARTIAL_FILL,
        flags: flags::END,
        source: order.source,
        seq: order.seq,
        ts_event: 1,
        ts_recv: h.t,
        price: order.price,
        qty: order.qty / 2,
        aux: 0,
        ..Record::ZERO
    };
    h.send(fill);
    // quotes left live, a two-way one among them
    h.tick(SEC / 10);
    h.quote(2, 255, BTC / 4, 7);
    h.quote(1, 1, BTC / 10, 8);
    // the journal tests' stream: market data, RFQs, accepts, heartbeats
    for r in journal_stream(120, None).into_iter().skip(2 * LEVELS as usize + 1) {
        let mut r = r;
        r.ts_recv += h.t - T0;
        if r.kind == kind::RFQ {
            r.seq += 100;
        }
        if r.kind == kind::ACCEPT {
            r.seq += 3; // the scenario's three quotes came first
        }
        h.send(r);
    }
    h.core
}

/// The records after the scenario: a client buy and its hedge order's fill, time passing (quotes
/// expire), another RFQ.
fn continuation(core: &mut Core, out: &mut Vec<Record>) -> Vec<(Vec<Record>, u64)> {
    let mut steps = Vec::new();
    let mut t = core.now() + SEC;
    let mut feed = |core: &mut Core, r: Record, steps: &mut Vec<(Vec<Record>, u64)>| {
        out.clear();
        core.process(&r, out);
        steps.push((out.clone(), core.state_hash()));
        out.clone()
    };
    let q = feed(core, rfq(1, 0, BTC / 4, 900, t), &mut steps);
    let quote = *q.iter().find(|r| r.kind == kind::RFQ_QUOTE).expect("quoted");
    let done = feed(core, accept(1, quote.seq, 0, quote.price, quote.qty, t), &mut steps);
    if let Some(o) = done.iter().find(|r| r.kind == kind::HEDGE_ORDER) {
        let fill = Record {
            kind: kind::VENUE_REPORT,
            instrument: o.instrument,
            side: venue_report::FILL,
            flags: flags::END,
            source: o.source,
            seq: o.seq,
            ts_event: 2,
            ts_recv: t,
            price: o.price,
            qty: o.qty,
            ..Record::ZERO
        };
        feed(core, fill, &mut steps);
    }
    for _ in 0..3 {
        t += SEC;
        feed(core, hb(t), &mut steps);
    }
    feed(core, rfq(2, 255, BTC / 10, 901, t), &mut steps);
    steps
}

#[test]
fn format_2_snapshot_restores_to_the_same_state() {
    let mut live = scenario();
    if std::env::var_os("RFQCORE_WRITE_SNAPSHOT_FIXTURE").is_some() {
        std::fs::write(FIXTURE, live.snapshot_bytes(&SnapshotAnchor::detached(FP))).unwrap();
    }
    let bytes = std::fs::read(FIXTURE).expect("tests/data/snapshot-v2.rfqs");
    let (header, _) = check_snapshot(&bytes).expect("a valid format-2 file");
    assert_eq!(header.version, 2);
    let (mut restored, h) = Core::restore(cfg(), &mut bytes.as_slice()).expect("format 2 restores");
    assert_eq!(h.version, 2);
    // the state of today's replay of the scenario, by its hash (format 2's OMS section has no
    // owners of applied exec ids, which the hash leaves out: rfq_oms::Oms::encode_with)
    assert_eq!(restored.state_hash(), live.state_hash());
    let st = restored.rfq_stats();
    assert!(st.fills >= 1 && st.quotes >= 10, "the fixture holds quotes and fills: {st:?}");
    // and it goes on exactly like it: same outputs and state hash after every record
    let mut out = Vec::new();
    let a = continuation(&mut live, &mut out);
    let b = continuation(&mut restored, &mut out);
    assert!(a.len() >= 6, "the continuation ran: {} records", a.len());
    assert!(a.iter().any(|(o, _)| o.iter().any(|r| r.kind == kind::EXEC)), "a fill in the continuation");
    assert_eq!(a, b);
    // a restored core's own snapshot (format 3) restores byte for byte
    let again = restored.snapshot_bytes(&SnapshotAnchor::detached(FP));
    let (back, h3) = Core::restore(cfg(), &mut again.as_slice()).expect("format 3 restores");
    assert_eq!((h3.version, back.state_hash()), (3, restored.state_hash()));
    let _: SnapshotHeader = h;
}
