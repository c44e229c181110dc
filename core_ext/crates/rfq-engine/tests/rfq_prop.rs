//! Property test of the RFQ workflow: random sequences of RFQs, accepts, cancels, operator
//! commands (limit changes, kill switches, approvals), market moves and heartbeats over a small
//! synthetic book. After every step:
//! - at each fill, the desk position is within `[−short, long]` as configured then, and the
//!   client's credit use is within its limit (or went down);
//! - each quote id gets at most one `QUOTE_END`;
//! - a refused input (a single reject record) changed no state;
//! - P&L conservation: desk + clients net to zero in quantity, cash and fees, and the desk's
//!   cash is exactly the sum of the fills' notionals.
//!
//! At the end, time is moved past every TTL and deadline: every quote has exactly one
//! `QUOTE_END`, no quote is open, no approval pending. The same sequence run twice gives the
//! same outputs and state hash.
//!
//! The property cannot pass vacuously: over all cases the sequences must reach floors of
//! quotes, fills (partial ones too), checked refusals, approvals and expiries, and at least 80%
//! of the sequences of 40+ steps must both quote and fill. (RFQ ids are fresh except for an
//! occasional reused one, kill switches are mostly off, so most RFQs reach pricing.)

mod common;

use common::*;
use proptest::prelude::*;
use rfq_engine::Core;
use rfq_ring::record::{control, flags, kind};
use rfq_ring::Record;
use proptest::test_runner::TestRunner;
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    /// `reuse`: the client's RFQ id is one already used (a duplicate, refused), else a fresh one.
    Rfq { client: u16, side: u8, tenths: i64, in_quote: bool, reuse: Option<u64> },
    Accept { pick: usize, mode: u8, fraction: u8 },
    Cancel { pick: usize, source: u16 },
    Limit { field: u16, value: i64 },
    Credit { client: u16, dollars: i64 },
    Kill { scope: u8, on: bool },
    Reenable { client: bool },
    ExecCount { n: i64 },
    Approve { pick: usize, adj: i64 },
    Decline { pick: usize },
    Move { ticks: i64 },
    Tick { ms: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1_u16..=2, prop_oneof![Just(0_u8), Just(1), Just(255)], 1_i64..=24, prop::bool::weighted(0.2), prop::option::weighted(0.1, 1_u64..=60))
            .prop_map(|(client, side, tenths, in_quote, reuse)| Op::Rfq { client, side, tenths, in_quote, reuse }),
        5 => (any::<usize>(), 0_u8..6, 1_u8..=4).prop_map(|(pick, mode, fraction)| Op::Accept { pick, mode, fraction }),
        1 => (any::<usize>(), 0_u16..=2).prop_map(|(pick, source)| Op::Cancel { pick, source }),
        1 => (prop_oneof![Just(4_u16), Just(5)], 0_i64..=6).prop_map(|(field, value)| Op::Limit { field, value }),
        1 => (1_u16..=2, 0_i64..=600_000).prop_map(|(client, dollars)| Op::Credit { client, dollars }),
        1 => (0_u8..3, prop::bool::weighted(0.15)).prop_map(|(scope, on)| Op::Kill { scope, on }),
        2 => any::<bool>().prop_map(|client| Op::Reenable { client }),
        1 => prop_oneof![Just(0_i64), 0_i64..=8].prop_map(|n| Op::ExecCount { n }),
        1 => (any::<usize>(), -50_i64..=200).prop_map(|(pick, adj)| Op::Approve { pick, adj }),
        1 => any::<usize>().prop_map(|pick| Op::Decline { pick }),
        1 => (-30_i64..=30).prop_map(|ticks| Op::Move { ticks }),
        3 => (0_i64..=400).prop_map(|ms| Op::Tick { ms }),
    ]
}

fn cfg() -> rfq_engine::CoreConfig {
    let mut c = config();
    c.rfq.clients[0].credit_limit = 30_000_000; // $300k
    c.rfq.clients[1].credit_limit = 30_000_000;
    c.rfq.risk[0].long_limit = 5 * BTC;
    c.rfq.risk[0].short_limit = 5 * BTC;
    c.rfq.risk[0].approval_qty = 2 * BTC;
    c.rfq.risk[0].approval_timeout_ns = 2 * SEC;
    c.rfq.desk.exec_count = 0;
    c.rfq.desk.exec_window_ns = SEC;
    c
}

/// What one run did: the floors below check that the generated sequences exercise the
/// workflow (a property that holds because nothing happened proves nothing).
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    quotes: u64,
    fills: u64,
    partial_fills: u64,
    refusals_checked: u64,
    approvals: u64,
    expiries: u64,
}

#[derive(Default)]
struct World {
    quotes: Vec<Record>,
    pending: Vec<i64>,
    ends: HashMap<u64, u32>,
    quoted: Vec<u64>,
    /// Σ signed desk cash of the fills: + price × qty when the desk sells.
    desk_cash: i128,
    fees: i128,
    /// The next fresh client RFQ id.
    next_rfq_id: u64,
    n: Counts,
}

fn record(op: &Op, w: &World, t: i64, shift: &mut i64) -> Vec<Record> {
    let ctl_rec = |cmd: u8, field: u16, inst: u16, price: i64, qty: i64, aux: i64| vec![ctl(cmd, field, inst, price, qty, aux, t)];
    match *op {
        Op::Rfq { client, side, tenths, in_quote, reuse } => {
            let id = reuse.map_or(w.next_rfq_id, |i| 1 + (i - 1) % w.next_rfq_id);
            let mut r = rfq(client, side, tenths * BTC / 10, id, t);
            if in_quote {
                r.flags |= flags::QTY_IN_QUOTE;
                r.qty = tenths * 600_000; // $6000 per tenth
            }
            vec![r]
        }
        Op::Accept { pick, mode, fraction } => {
            // mostly the latest quotes (older ones have often expired)
            let n = w.quotes.len();
            let Some(q) = (n > 0).then(|| w.quotes[n - 1 - pick % n.min(6)]) else { return vec![] };
            let mut a = accept(q.source, q.seq, q.side, q.price, q.qty, t);
            match mode {
                1 => a.price += 1,
                2 => a.qty = q.qty * i64::from(fraction) / 4,
                3 => a.source = 3 - q.source,
                _ => {}
            }
            vec![a]
        }
        Op::Cancel { pick, source } => {
            let Some(q) = (!w.quotes.is_empty()).then(|| w.quotes[pick % w.quotes.len()]) else { return vec![] };
            vec![cancel(source, q.seq, t)]
        }
        Op::Limit { field, value } => ctl_rec(control::SET_INSTRUMENT, field, 1, 0, value * BTC, 0),
        Op::Credit { client, dollars } => ctl_rec(control::SET_CLIENT, 1, 0, i64::from(client), dollars * 100, 0),
        Op::Kill { scope, on } => match scope {
            0 => vec![kill(0, 0, on, t)],
            1 => vec![kill(1, 0, on, t)],
            _ => vec![kill(0, 1, on, t)],
        },
        Op::Reenable { client } => {
            if client {
                ctl_rec(control::REENABLE, 0, 0, 1, 0, 0)
            } else {
                ctl_rec(control::REENABLE, 0, 1, 0, 0, 0)
            }
        }
        Op::ExecCount { n } => ctl_rec(control::SET_DESK, 1, 0, 0, n, 0),
        Op::Approve { pick, adj } => {
            let id = if w.pending.is_empty() { 1 } else { w.pending[pick % w.pending.len()] };
            ctl_rec(control::APPROVE, 0, 0, id, 0, adj)
        }
        Op::Decline { pick } => {
            let id = if w.pending.is_empty() { 1 } else { w.pending[pick % w.pending.len()] };
            ctl_rec(control::DECLINE, 0, 0, id, 0, 0)
        }
        Op::Move { ticks } => {
            *shift = ticks * 100;
            let mut snap = snapshot(1, t);
            for r in snap.iter_mut().filter(|r| r.kind == kind::BOOK_LEVEL) {
                r.price += *shift;
            }
            snap
        }
        Op::Tick { ms } => vec![hb(t + ms * 1_000_000)],
    }
}

fn conservation(core: &Core, w: &World) -> Result<(), TestCaseError> {
    let desk = core.position(1).unwrap();
    let clients: Vec<_> = (1..=3).map(|c| core.client_position(c, 1).unwrap()).collect();
    let qty: i64 = clients.iter().map(|p| p.qty).sum();
    prop_assert_eq!(desk.qty + qty, 0);
    let cash = |p: &rfq_engine::PositionView| p.realised - p.cost;
    prop_assert_eq!(cash(&desk) + clients.iter().map(cash).sum::<i128>(), 0);
    prop_assert_eq!(cash(&desk), w.desk_cash);
    prop_assert_eq!(desk.fees, clients.iter().map(|p| p.fees).sum::<i128>());
    prop_assert_eq!(desk.fees, w.fees);
    Ok(())
}

fn run(ops: &[Op]) -> Result<(Vec<Record>, u64, Counts), TestCaseError> {
    let mut h = H::with(cfg());
    let mut w = World { next_rfq_id: 1, ..World::default() };
    let mut all = Vec::new();
    let mut shift = 0;
    for op in ops {
        let recs = record(op, &w, h.t, &mut shift);
        if matches!(op, Op::Rfq { reuse: None, .. }) {
            w.next_rfq_id += 1;
        }
        if let Some(last) = recs.last() {
            h.t = h.t.max(last.ts_recv);
        }
        let util_before: Vec<i128> = (1..=2).map(|c| h.core.client_view(c).unwrap().utilised).collect();
        let hash_before = h.core.state_hash();
        let out = h.feed(&recs);
        // a refused input changed no state
        if recs.len() == 1 && out.len() == 1 && !matches!(recs[0].kind, kind::HEARTBEAT) {
            let o = out[0];
            let refused = matches!(o.kind, kind::RFQ_REJECT | kind::ACCEPT_REJECT | kind::CANCEL_REJECT) || (o.kind == kind::CONTROL_ACK && o.aux != 0);
            if refused {
                prop_assert_eq!(h.core.state_hash(), hash_before, "{:?} -> {:?}", recs[0], o);
                w.n.refusals_checked += 1;
            }
        }
        let view = h.core.instrument_view(1).unwrap();
        let risk = view.risk.unwrap();
        for r in &out {
            match r.kind {
                kind::RFQ_QUOTE => {
                    w.quotes.push(*r);
                    if !w.quoted.contains(&r.seq) {
                        w.quoted.push(r.seq);
                    }
                    if w.quotes.len() > 40 {
                        w.quotes.remove(0);
                    }
                }
                kind::APPROVAL_PENDING => {
                    w.pending.push(r.aux);
                    w.n.approvals += 1;
                }
                kind::QUOTE_END => {
                    let n = w.ends.entry(r.seq).or_default();
                    *n += 1;
                    prop_assert_eq!(*n, 1, "quote {} ended twice", r.seq);
                }
                kind::EXEC => {
                    let pos = h.core.position(1).unwrap().qty;
                    prop_assert!(pos >= -risk.short_limit && pos <= risk.long_limit, "desk {} outside [-{}, {}]", pos, risk.short_limit, risk.long_limit);
                    let cv = h.core.client_view(r.source).unwrap();
                    let before = util_before[r.source as usize - 1];
                    prop_assert!(cv.utilised <= i128::from(cv.credit_limit) || cv.utilised <= before, "client {} credit {} > {}", r.source, cv.utilised, cv.credit_limit);
                    let q = w.quotes.iter().find(|q| q.seq == r.aux as u64 && q.side == r.side);
                    if let Some(q) = q {
                        prop_assert_eq!(q.price, r.price);
                        prop_assert!(r.qty <= q.qty && r.qty > 0);
                    }
                    w.n.fills += 1;
                    if q.is_some_and(|q| r.qty < q.qty) {
                        w.n.partial_fills += 1;
                    }
                    let n = i128::from(r.price) * i128::from(r.qty);
                    w.desk_cash += if r.side == 0 { n } else { -n };
                }
                kind::EXEC_FEES => w.fees += i128::from(r.price),
                _ => {}
            }
        }
        w.pending.retain(|&id| h.core.pending().iter().any(|p| p.request_id as i64 == id));
        conservation(&h.core, &w)?;
        all.extend(out);
    }
    // past every TTL and deadline
    h.t += 100 * SEC;
    for _ in 0..10 {
        let out = h.send(hb(h.t));
        for r in out.iter().filter(|r| r.kind == kind::QUOTE_END) {
            *w.ends.entry(r.seq).or_default() += 1;
        }
        all.extend(out);
    }
    for id in &w.quoted {
        prop_assert_eq!(w.ends.get(id).copied(), Some(1), "quote {} ended {:?} times", id, w.ends.get(id));
    }
    prop_assert!(h.core.pending().is_empty());
    for c in 1..=3 {
        prop_assert_eq!(h.core.client_view(c).unwrap().open_quotes, 0);
    }
    prop_assert_eq!(w.quoted.len() as u64, h.core.rfq_stats().quotes);
    conservation(&h.core, &w)?;
    w.n.quotes = w.quoted.len() as u64;
    w.n.expiries = h.core.rfq_stats().expiries;
    Ok((all, h.core.state_hash(), w.n))
}

const CASES: u32 = 128;

#[test]
fn rfq_workflow_invariants() {
    let mut runner = TestRunner::new(ProptestConfig { cases: CASES, ..ProptestConfig::default() });
    let runs: RefCell<Vec<(usize, Counts)>> = RefCell::new(Vec::new());
    let result = runner.run(&prop::collection::vec(op(), 1..160), |ops| {
        let (o1, h1, n) = run(&ops)?;
        let (o2, h2, _) = run(&ops)?;
        prop_assert_eq!(o1, o2);
        prop_assert_eq!(h1, h2);
        runs.borrow_mut().push((ops.len(), n));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // floors: the sequences must have quoted, filled (fully and partly), refused, asked for
    // approvals and expired quotes — in total and in most of the longer sequences
    let runs = runs.into_inner();
    assert_eq!(runs.len(), CASES as usize);
    let total = runs.iter().fold(Counts::default(), |a, (_, n)| Counts {
        quotes: a.quotes + n.quotes,
        fills: a.fills + n.fills,
        partial_fills: a.partial_fills + n.partial_fills,
        refusals_checked: a.refusals_checked + n.refusals_checked,
        approvals: a.approvals + n.approvals,
        expiries: a.expiries + n.expiries,
    });
    let cases = u64::from(CASES);
    eprintln!("rfq_prop totals over {cases} cases: {total:?}");
    // (typical totals per case: 12 quotes, 4 fills, 0.3 partial fills, 13 refusals checked,
    // 1.8 approvals, 6 expiries; the floors are about half of that)
    assert!(total.quotes >= 6 * cases, "too few quotes: {total:?}");
    assert!(total.fills >= 2 * cases, "too few fills: {total:?}");
    assert!(total.partial_fills >= cases / 8, "too few partial fills: {total:?}");
    assert!(total.refusals_checked >= 6 * cases, "too few refusals checked: {total:?}");
    assert!(total.approvals >= cases / 2, "too few approvals: {total:?}");
    assert!(total.expiries >= 3 * cases, "too few expiries: {total:?}");
    let long: Vec<&Counts> = runs.iter().filter(|(len, _)| *len >= 40).map(|(_, n)| n).collect();
    let filled = long.iter().filter(|n| n.quotes > 0 && n.fills > 0).count();
    eprintln!("rfq_prop: {filled} of {} sequences of 40+ steps quoted and filled", long.len());
    assert!(!long.is_empty() && filled * 10 >= long.len() * 8, "only {filled} of {} sequences of 40+ steps quoted and filled", long.len());
}
