//! Snapshots written by an earlier format version still restore.
//!
//! `tests/data/snapshot-v2.rfqs` was written by the format-2 code (before the state hash was
//! defined as the hash of the state's one encoding, docs/journal.md "Snapshots") from the
//! scenario below: books on two venues, RFQs, fills, a hedge order and a venue fill, quotes
//! still live, and a journal-like stream of market data, RFQs and accepts. Restoring it into a
//! core of today must give exactly the state that replaying the same scenario gives today:
//! the same snapshot body, byte for byte, and the same state hash.
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

#[test]
fn format_2_snapshot_restores_to_the_same_state() {
    let live = scenario();
    if std::env::var_os("RFQCORE_WRITE_SNAPSHOT_FIXTURE").is_some() {
        std::fs::write(FIXTURE, live.snapshot_bytes(&SnapshotAnchor::detached(FP))).unwrap();
    }
    let bytes = std::fs::read(FIXTURE).expect("tests/data/snapshot-v2.rfqs");
    let (header, old_body) = check_snapshot(&bytes).expect("a valid format-2 file");
    assert_eq!(header.version, 2);
    let (restored, h) = Core::restore(cfg(), &mut bytes.as_slice()).expect("format 2 restores");
    assert_eq!(h.version, 2);
    // the same state as today's replay of the scenario, by its one encoding and its hash
    let now = restored.snapshot_bytes(&SnapshotAnchor::detached(FP));
    let (_, new_body) = check_snapshot(&now).unwrap();
    assert_eq!(new_body, old_body, "format 2 and today's body encoding are the same layout");
    assert_eq!(restored.state_hash(), live.state_hash());
    assert_eq!(now, live.snapshot_bytes(&SnapshotAnchor::detached(FP)));
    let st = restored.rfq_stats();
    assert!(st.fills >= 1 && st.quotes >= 10, "the fixture holds quotes and fills: {st:?}");
    let _: SnapshotHeader = h;
}
