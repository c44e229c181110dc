//! Snapshots of the whole core: for random input streams (two-venue composite with basis,
//! book snapshots and diffs, stale marks, RFQs of every kind, accepts, cancels, approvals,
//! kill switches, halts, limit and pricing changes, throttles, heartbeats), a core restored
//! from a snapshot taken after any record continues exactly like the original: same outputs
//! and same state hash after every following record, and the same state hash (and the same
//! snapshot bytes) right after the restore. Damaged or mismatched snapshots are refused.

mod common;

use common::*;
use proptest::prelude::*;
use rfq_engine::{Core, CoreConfig, SnapshotAnchor, SnapshotError};
use rfq_model::Throttle;
use rfq_ring::record::{control, flags, kind};
use rfq_ring::Record;

fn cfg() -> CoreConfig {
    let mut c = config();
    c.composites[0].members = vec![1, 2];
    c.composites[0].basis_ema_shift = 3;
    c.composites[0].cross_tolerance_cbps = 500;
    c.composites[0].pricing.sizes = vec![BTC / 10, BTC, 3 * BTC];
    c.rfq.clients[0].rfq_rate = Throttle { per_sec: 20, burst: 4 };
    c.rfq.clients[1].accept_rate = Throttle { per_sec: 5, burst: 2 };
    c.rfq.clients[0].credit_limit = 50_000_000;
    c.rfq.risk[0].approval_qty = 2 * BTC;
    c.rfq.risk[0].approval_timeout_ns = 2 * SEC;
    c.rfq.risk[0].long_limit = 6 * BTC;
    c.rfq.risk[0].short_limit = 6 * BTC;
    c.rfq.desk.exec_count = 3;
    c.rfq.desk.exec_window_ns = SEC;
    c.rfq.pricing[0].skew_cbps_per_unit = 20;
    c.rfq.pricing[0].max_skew_cbps = 300;
    c.rfq.pricing[0].vol_mult_pct = 50;
    c.rfq.pricing[0].vol_ema_shift = 2;
    c
}

#[derive(Debug, Clone)]
enum Op {
    Level { m: u16, bid: bool, off: i64, qty: i64, end: bool },
    Book { m: u16, shift: i64 },
    Stale { m: u16 },
    Rfq { client: u16, side: u8, tenths: i64, in_quote: bool, id: u64 },
    Accept { pick: usize, partial: bool },
    Cancel { pick: usize },
    Ctl { cmd: u8, field: u16, scope: u8, value: i64 },
    Approve { pick: usize, decline: bool },
    Tick { ms: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1_u16..=2, any::<bool>(), 0_i64..60, 0_i64..300_000, prop::bool::weighted(0.8)).prop_map(|(m, bid, off, qty, end)| Op::Level { m, bid, off, qty, end }),
        1 => (1_u16..=2, -20_i64..20).prop_map(|(m, shift)| Op::Book { m, shift }),
        1 => (1_u16..=2).prop_map(|m| Op::Stale { m }),
        6 => (1_u16..=3, prop_oneof![Just(0_u8), Just(1), Just(255)], 1_i64..=30, prop::bool::weighted(0.2), 1_u64..=80)
            .prop_map(|(client, side, tenths, in_quote, id)| Op::Rfq { client, side, tenths, in_quote, id }),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(pick, partial)| Op::Accept { pick, partial }),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        2 => (prop_oneof![Just(control::KILL), Just(control::REENABLE), Just(control::RESTRICT), Just(control::SET_CLIENT), Just(control::SET_INSTRUMENT), Just(control::SET_TIER), Just(control::SET_PRICING), Just(control::SET_DESK)], 1_u16..=9, 0_u8..3, 0_i64..=8)
            .prop_map(|(cmd, field, scope, value)| Op::Ctl { cmd, field, scope, value }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, decline)| Op::Approve { pick, decline }),
        3 => prop_oneof![0_i64..50, 300_i64..2500].prop_map(|ms| Op::Tick { ms }),
    ]
}

#[derive(Default)]
struct World {
    quotes: Vec<Record>,
    pending: Vec<i64>,
    shift: [i64; 3],
}

fn px(m: u16, bid: bool, k: i64, shift: i64) -> i64 {
    let (b, a) = if m == 1 { (BID0, ASK0) } else { (BID0 - 2_000, ASK0 - 2_000) };
    if bid {
        b + shift * 100 - k * 100
    } else {
        a + shift * 100 + k * 100
    }
}

fn records(op: &Op, w: &mut World, t: i64) -> Vec<Record> {
    match *op {
        Op::Level { m, bid, off, qty, end } => {
            vec![rec(kind::BOOK_LEVEL, m, u8::from(!bid), if end { flags::END } else { 0 }, t, px(m, bid, off, w.shift[m as usize]), qty)]
        }
        Op::Book { m, shift } => {
            w.shift[m as usize] = shift;
            let mut v = vec![rec(kind::BOOK_CLEAR, m, 255, flags::SNAPSHOT, t, 0, 0)];
            for k in 0..30 {
                v.push(rec(kind::BOOK_LEVEL, m, 0, flags::SNAPSHOT, t, px(m, true, k, shift), 50_000 + k * 1_000));
                v.push(rec(kind::BOOK_LEVEL, m, 1, flags::SNAPSHOT, t, px(m, false, k, shift), 60_000 + k * 700));
            }
            v.last_mut().unwrap().flags |= flags::END;
            v
        }
        Op::Stale { m } => vec![rec(kind::BOOK_STALE, m, 255, flags::END, t, 0, 0)],
        Op::Rfq { client, side, tenths, in_quote, id } => {
            let mut r = rfq(client, side, tenths * BTC / 10, id, t);
            if in_quote {
                r.flags |= flags::QTY_IN_QUOTE;
                r.qty = tenths * 600_000;
            }
            vec![r]
        }
        Op::Accept { pick, partial } => {
            let n = w.quotes.len();
            if n == 0 {
                return vec![];
            }
            let q = w.quotes[n - 1 - pick % n.min(5)];
            let mut a = accept(q.source, q.seq, q.side, q.price, q.qty, t);
            if partial {
                a.qty = (q.qty / 2).max(1);
            }
            vec![a]
        }
        Op::Cancel { pick } => {
            let n = w.quotes.len();
            if n == 0 {
                return vec![];
            }
            let q = w.quotes[pick % n];
            vec![cancel(q.source, q.seq, t)]
        }
        Op::Ctl { cmd, field, scope, value } => {
            let (inst, price) = match (cmd, scope) {
                (control::KILL | control::REENABLE, 0) => (0, 1),
                (control::KILL | control::REENABLE, 1) => (1, 0),
                (control::KILL, _) => (0, 0),
                (control::SET_CLIENT, _) => (0, i64::from(scope) + 1),
                (control::SET_TIER, _) => (0, i64::from(scope % 2) + 1),
                _ => (1, 0),
            };
            let qty = match (cmd, field) {
                (control::KILL | control::RESTRICT, _) => value % 2,
                (control::SET_CLIENT, 1) => value * 5_000_000,
                (control::SET_CLIENT, 7) => value % 2 + 1,
                (control::SET_CLIENT, 8) => i64::from(value != 0),
                (control::SET_INSTRUMENT, 1..=5 | 7) => value * BTC / 2,
                (control::SET_INSTRUMENT, 9) => value * SEC,
                (control::SET_TIER, 3 | 4) => (value + 1) * SEC / 2,
                (control::SET_TIER, 5) => value % 2,
                (control::SET_DESK, 2) => value * SEC / 4,
                _ => value * 10,
            };
            vec![ctl(cmd, field, inst, price, qty, 0, t)]
        }
        Op::Approve { pick, decline } => {
            let id = if w.pending.is_empty() { 1 } else { w.pending[pick % w.pending.len()] };
            vec![ctl(if decline { control::DECLINE } else { control::APPROVE }, 0, 0, id, 0, 0, t)]
        }
        Op::Tick { ms } => vec![hb(t + ms * 1_000_000)],
    }
}

fn observe(w: &mut World, out: &[Record]) {
    for r in out {
        match r.kind {
            kind::RFQ_QUOTE => {
                w.quotes.push(*r);
                if w.quotes.len() > 30 {
                    w.quotes.remove(0);
                }
            }
            kind::APPROVAL_PENDING => w.pending.push(r.aux),
            _ => {}
        }
    }
}

/// Both books loaded at T0.
fn start(core: &mut Core) -> Vec<Record> {
    let mut out = Vec::new();
    for m in 1..=2 {
        let mut w = World::default();
        for r in records(&Op::Book { m, shift: 0 }, &mut w, T0) {
            core.process(&r, &mut out);
        }
    }
    out
}

fn snap(core: &Core, seq: u64) -> Vec<u8> {
    core.snapshot_bytes(&SnapshotAnchor { seq, ..SnapshotAnchor::detached(7) })
}

fn run(ops: &[Op], cut: usize) -> Result<(), TestCaseError> {
    let mut a = Core::new(cfg()).unwrap();
    start(&mut a);
    // a scratch core, restored from a snapshot of `a` every few records (the same snapshot bytes
    // must come back out of it)
    let mut scratch = Core::new(cfg()).unwrap();
    let mut b: Option<Core> = None;
    let mut w = World::default();
    let mut t = T0;
    let mut n = 0_u64;
    for (i, op) in ops.iter().enumerate() {
        t += 1_000_000;
        let recs = records(op, &mut w, t);
        if let Some(l) = recs.last() {
            t = t.max(l.ts_recv);
        }
        for r in &recs {
            n += 1;
            let mut oa = Vec::new();
            a.process(r, &mut oa);
            if let Some(b) = b.as_mut() {
                let mut ob = Vec::new();
                b.process(r, &mut ob);
                prop_assert_eq!(&oa, &ob, "after record {} {:?}", n, r);
                prop_assert_eq!(a.state_hash(), b.state_hash(), "after record {}", n);
                prop_assert_eq!(a.stats(), b.stats());
                prop_assert_eq!(a.rfq_stats(), b.rfq_stats());
            }
            observe(&mut w, &oa);
        }
        if i == cut {
            let bytes = snap(&a, n);
            let (c, h) = Core::restore(cfg(), &mut bytes.as_slice()).unwrap();
            prop_assert_eq!(h.anchor.seq, n);
            prop_assert_eq!(h.state_hash, a.state_hash());
            prop_assert_eq!(c.state_hash(), a.state_hash());
            b = Some(c);
        }
        if i % 16 == 5 {
            let bytes = snap(&a, n);
            scratch.restore_snapshot(&mut bytes.as_slice()).unwrap();
            prop_assert_eq!(scratch.state_hash(), a.state_hash());
            prop_assert!(snap(&scratch, n) == bytes, "re-snapshot differs after record {}", n);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn restored_core_continues_identically(ops in prop::collection::vec(op(), 1..140), cut in 0_usize..140) {
        let cut = cut % ops.len();
        run(&ops, cut)?;
    }
}

/// A stream that exercises every part of the state (used by the damage tests).
fn loaded() -> Core {
    let mut c = Core::new(cfg()).unwrap();
    start(&mut c);
    let mut w = World::default();
    let mut t = T0;
    let ops = [
        Op::Rfq { client: 1, side: 255, tenths: 5, in_quote: false, id: 1 },
        Op::Rfq { client: 2, side: 0, tenths: 25, in_quote: false, id: 1 },
        Op::Accept { pick: 0, partial: false },
        Op::Level { m: 2, bid: true, off: 3, qty: 7_000, end: true },
        Op::Rfq { client: 2, side: 1, tenths: 4, in_quote: true, id: 9 },
        Op::Ctl { cmd: control::KILL, field: 0, scope: 1, value: 1 },
        Op::Tick { ms: 10 },
    ];
    for op in &ops {
        t += 1_000_000;
        for r in records(op, &mut w, t) {
            let mut out = Vec::new();
            c.process(&r, &mut out);
            observe(&mut w, &out);
        }
    }
    assert!(c.rfq_stats().quotes >= 2 && !c.pending().is_empty());
    c
}

#[test]
fn damaged_or_foreign_snapshots_are_refused() {
    let core = loaded();
    let bytes = snap(&core, 42);
    // every single flipped bit in the header or body is caught by the CRC / BLAKE3
    for at in [0, 9, 30, 70, 100, 127, 128, 200, bytes.len() / 2, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        let e = Core::restore(cfg(), &mut b.as_slice()).unwrap_err();
        assert!(matches!(e, SnapshotError::BadHeader { .. } | SnapshotError::Checksum { .. }), "byte {at}: {e}");
    }
    // truncated
    let e = Core::restore(cfg(), &mut &bytes[..bytes.len() - 5]).unwrap_err();
    assert!(matches!(e, SnapshotError::Checksum { .. }), "{e}");
    // another configuration: refused, naming what differs
    let mut other = cfg();
    other.rfq.clients.pop();
    let e = Core::restore(other, &mut bytes.as_slice()).unwrap_err();
    assert!(matches!(e, SnapshotError::Mismatch { .. }), "{e}");
    assert!(e.to_string().contains("clients"), "{e}");
    let mut other = cfg();
    other.book_capacity = 2048;
    assert!(matches!(Core::restore(other, &mut bytes.as_slice()).unwrap_err(), SnapshotError::Mismatch { .. }));
    // the good one restores, fingerprint checked by read_snapshot
    let (c, h) = Core::restore(cfg(), &mut bytes.as_slice()).unwrap();
    assert_eq!(c.state_hash(), core.state_hash());
    assert_eq!((h.anchor.seq, h.anchor.fingerprint), (42, 7));
    let d = tempfile::tempdir().unwrap();
    let p = rfq_engine::write_snapshot_file(d.path(), &bytes).unwrap();
    assert!(p.ends_with("snapshots/snap-00000000000000000042.rfqs"));
    assert!(rfq_engine::read_snapshot(&p, Some(7)).is_ok());
    assert!(matches!(rfq_engine::read_snapshot(&p, Some(8)).unwrap_err(), SnapshotError::Fingerprint { .. }));
}
