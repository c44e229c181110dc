//! No allocation on the core's paths beyond the RFQ path (rfq_alloc.rs) and hedging
//! (hedge_alloc.rs), counted by a global
//! allocator on this thread after a warm-up:
//! - market data: snapshots, diffs near and far from the touch (the book's overflow), deletes,
//!   stale books and resyncs, BBO and trades, heartbeats — and the repricing of the composites
//!   they trigger (two members, three sizes);
//! - the journaled runner: input ring → core → journal → output ring, `run_once` with a journal;
//! - the replicated runner: the same, each committed block published on the block ring and
//!   read off it, outputs published as the commit gate moves.
//!
//! Every input record is built before counting; outputs go to a vector reserved up front.

mod common;

use common::hedge::snapshot3;
use common::*;
use rfq_engine::{block_ring, CommitGate, Core};
use std::sync::Arc;
use rfq_journal::Durability;
use rfq_ring::record::{flags, kind};
use rfq_ring::Record;

#[global_allocator]
static A: rfq_testkit::CountingAlloc = rfq_testkit::CountingAlloc;

/// Feed `recs` one by one; returns the allocations made and the outputs by kind.
fn feed_counted(core: &mut Core, recs: &[Record], out: &mut Vec<Record>) -> (u64, Kinds) {
    let mut kinds = Kinds::new();
    let ((), allocs) = rfq_testkit::count_allocs(|| {
        for r in recs {
            out.clear();
            core.process(r, out);
            kinds.add(out);
        }
    });
    (allocs, kinds)
}

/// Composite 1 over instruments 1 and 3, priced at three sizes.
fn market_cfg() -> rfq_engine::CoreConfig {
    let mut cfg = config();
    cfg.instruments.push(inst(3, "okx"));
    cfg.composites[0].members = vec![1, 3];
    cfg.composites[0].pricing.sizes = vec![BTC / 10, BTC, 5 * BTC];
    cfg
}

/// Market data of round `k` at time `t`: diffs near the touch, far levels (set, changed,
/// deleted), BBO and trades, a stale book and its resync snapshot, heartbeats.
fn market_round(k: i64, t: i64) -> Vec<Record> {
    // a fresh snapshot of instrument 1 first, then changes to it
    let mut v = snapshot(1, t);
    let lvl = |inst: u16, side: u8, px: i64, qty: i64| {
        let mut r = rec(kind::BOOK_LEVEL, inst, side, flags::END, t, px, qty);
        r.seq = (k * 100) as u64;
        r
    };
    for i in 0..10 {
        v.push(lvl(1, 0, BID0 - 100 * ((k + i) % 7), 100_000 + 1000 * i));
        v.push(lvl(1, 1, ASK0 + 100 * ((k + i) % 5), 100_000 + 1000 * i));
        v.push(lvl(3, (i % 2) as u8, if i % 2 == 0 { BID0 - 20 - 100 * i } else { ASK0 - 20 + 100 * i }, 50_000 + i));
    }
    // far from the touch: into the overflow and out again
    for (px, side) in [(BID0 / 50 + k, 0), (ASK0 * 40 + k, 1), (BID0 / 3, 0), (ASK0 * 3, 1)] {
        v.push(lvl(1, side, px, 7_000));
        v.push(lvl(1, side, px, 9_000));
    }
    v.push(lvl(1, 0, BID0 / 50 + k, 0));
    v.push(lvl(1, 1, ASK0 * 40 + k, 0));
    v.push(rec(kind::BBO, 1, 255, flags::END, t, BID0, ASK0));
    let mut trade = rec(kind::TRADE, 1, 0, flags::END, t, ASK0, 1_000);
    trade.aux = k;
    v.push(trade);
    // instrument 3 goes stale and is resynced by a snapshot
    v.push(rec(kind::BOOK_STALE, 3, 255, flags::END, t, 0, 0));
    v.extend(snapshot3(t));
    v.push(hb(t + SEC / 10));
    v
}

#[test]
fn market_data_and_repricing_do_not_allocate() {
    let mut h = H::with(market_cfg());
    h.feed(&snapshot3(T0));
    let mut out: Vec<Record> = Vec::with_capacity(4096);
    let warm: Vec<Record> = (0..3).flat_map(|k| market_round(k, T0 + k * SEC)).collect();
    feed_counted(&mut h.core, &warm, &mut out);
    let recs: Vec<Record> = (3..40).flat_map(|k| market_round(k, T0 + k * SEC)).collect();
    let (allocs, kinds) = feed_counted(&mut h.core, &recs, &mut out);
    assert_eq!(allocs, 0, "allocations on the market-data path");
    // it did reprice and report: quotes, book status changes, far levels are held
    assert!(kinds.of(kind::QUOTE) > 100, "quotes published: {}", kinds.of(kind::QUOTE));
    assert!(kinds.of(kind::BOOK_STATUS) >= 2 * 37, "status changes: {}", kinds.of(kind::BOOK_STATUS));
    let book = &h.core.instrument(1).unwrap().book;
    assert!(book.bids.len() > LEVELS as usize && book.asks.len() > LEVELS as usize, "far levels held");
}

#[test]
fn journaled_runner_does_not_allocate() {
    let d = tempfile::tempdir().unwrap();
    let (mut runner, mut in_p, mut out_c) = journaled_runner(d.path(), Durability::GroupCommit { max_records: 64, max_ns: u64::MAX }, 1 << 30);
    let recs = journal_stream(2000, None);
    let (warm, rest) = recs.split_at(400);
    let mut drained = 0_u64;
    let mut run = |recs: &[Record], drained: &mut u64| {
        for chunk in recs.chunks(50) {
            assert_eq!(in_p.push_slice(chunk), chunk.len());
            while runner.run_once(usize::MAX) > 0 {}
            while out_c.try_pop().is_some() {
                *drained += 1;
            }
        }
    };
    run(warm, &mut drained);
    let ((), allocs) = rfq_testkit::count_allocs(|| run(rest, &mut drained));
    assert_eq!(allocs, 0, "allocations in the journaled runner");
    runner.flush_journal();
    while out_c.try_pop().is_some() {
        drained += 1;
    }
    assert_eq!(runner.journal().unwrap().committed_seq(), recs.len() as u64, "every input journaled");
    // everything published: as many outputs as the core alone gives for the same inputs
    let mut plain = H::with(config());
    plain.core = Core::new(config()).unwrap();
    assert_eq!(drained, plain.feed(&recs).len() as u64);
    assert_eq!(runner.core().state_hash(), plain.core.state_hash());
}

#[test]
fn replicated_runner_does_not_allocate() {
    let d = tempfile::tempdir().unwrap();
    let (mut runner, mut in_p, mut out_c) = journaled_runner(d.path(), Durability::GroupCommit { max_records: 64, max_ns: u64::MAX }, 1 << 30);
    let gate = Arc::new(CommitGate::new(0));
    // small blocks and few of them: batches are cut at 40 records, and the ring fills
    let (blocks, mut cons) = block_ring(4, 40).unwrap();
    runner.set_replication(Some(Arc::clone(&gate)), Some(blocks));
    let recs = journal_stream(2000, None);
    let (warm, rest) = recs.split_at(400);
    let (mut drained, mut seen, mut nblocks, mut mismatch, mut too_big) = (0_u64, 0_usize, 0_u64, 0_u64, 0_u64);
    // the cluster's side, inline: take each block, check it is the next part of the input,
    // commit it (the gate moves)
    let mut replicate = |seen: &mut usize, nblocks: &mut u64, mismatch: &mut u64, too_big: &mut u64| {
        while cons.pop_with(|a, b| {
            if a.len() + b.len() > 40 {
                *too_big += 1;
            }
            for r in a.iter().chain(b) {
                if recs.get(*seen) != Some(r) {
                    *mismatch += 1;
                }
                *seen += 1;
            }
        }) {
            *nblocks += 1;
        }
        gate.advance(*seen as u64);
    };
    let mut run = |chunk_recs: &[Record], drained: &mut u64, seen: &mut usize, nblocks: &mut u64, mismatch: &mut u64, too_big: &mut u64| {
        for chunk in chunk_recs.chunks(50) {
            assert_eq!(in_p.push_slice(chunk), chunk.len());
            loop {
                let n = runner.run_once(usize::MAX);
                replicate(seen, nblocks, mismatch, too_big);
                runner.flush_journal();
                if n == 0 && in_p.is_drained() {
                    break;
                }
            }
            while out_c.try_pop().is_some() {
                *drained += 1;
            }
        }
    };
    run(warm, &mut drained, &mut seen, &mut nblocks, &mut mismatch, &mut too_big);
    let ((), allocs) = rfq_testkit::count_allocs(|| run(rest, &mut drained, &mut seen, &mut nblocks, &mut mismatch, &mut too_big));
    assert_eq!(allocs, 0, "allocations in the replicated runner");
    assert_eq!(seen, recs.len(), "every journaled record replicated, once");
    assert_eq!(mismatch, 0, "the blocks are the input, in order");
    assert_eq!(too_big, 0, "no block over the ring's block size");
    assert!(nblocks >= (recs.len() / 40) as u64, "{nblocks} blocks");
    assert_eq!(runner.journal().unwrap().committed_seq(), recs.len() as u64, "every input journaled");
    runner.flush_journal();
    while out_c.try_pop().is_some() {
        drained += 1;
    }
    let mut plain = H::with(config());
    plain.core = Core::new(config()).unwrap();
    assert_eq!(drained, plain.feed(&recs).len() as u64, "every output published once the gate covered it");
    assert_eq!(runner.core().state_hash(), plain.core.state_hash());
}
