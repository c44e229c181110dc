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

use common::*;
use rfq_engine::{check_snapshot, Core, CoreConfig, SnapshotAnchor, SnapshotHeader};
use rfq_model::{HedgeMode, HedgeSpec, HedgeVenue};
use rfq_ring::record::{flags, kind, venue_report};
use rfq_ring::Record;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/snapshot-v2.rfqs");

fn cfg() -> CoreConfig {
    let mut cfg = config();
    cfg.instruments.push(inst(3, "okx"));
    cfg.composites[0].members = vec![1, 3];
    cfg.rfq.hedging = vec![HedgeSpec {
        composite: 1,
        mode: HedgeMode::Full,
        ratio_pct: 100,
        threshold: 0,
        max_slippage_cbps: 50,
        retry_ns: SEC / 10,
        venues: vec![
            HedgeVenue { venue: 1, name: "binance".into(), instrument: 1, taker_cbps: 0, max_order_qty: 0, max_position: 0 },
            HedgeVenue { venue: 2, name: "okx".into(), instrument: 3, taker_cbps: 10, max_order_qty: 0, max_position: 0 },
        ],
        internal: None,
    }];
    cfg
}

fn book3(ts: i64) -> Vec<Record> {
    let mut v = vec![rec(kind::BOOK_CLEAR, 3, 255, flags::SNAPSHOT, ts, 0, 0)];
    for i in 0..LEVELS {
        v.push(rec(kind::BOOK_LEVEL, 3, 0, flags::SNAPSHOT, ts, BID0 - 20 - i * 100, 50_000));
        v.push(rec(kind::BOOK_LEVEL, 3, 1, flags::SNAPSHOT, ts, ASK0 - 20 + i * 100, 50_000));
    }
    v.last_mut().unwrap().flags |= flags::END;
    v
}

/// The frozen scenario (deterministic).
fn scenario() -> Core {
    let mut h = H::with(cfg());
    h.feed(&book3(T0));
    for venue in [1, 2] {
        h.send(Record { kind: kind::VENUE_STATUS, side: 1, flags: flags::END, source: venue, seq: 1, ts_recv: h.t, ..Record::ZERO });
    }
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
