//! The replicated runner (docs/cluster.md), without a cluster: the test plays the cluster, taking
//! the blocks off the block ring and moving the commit gate. Back-pressure from a full block
//! ring, publication bounded by the gate, the gate's mover waking the core thread, and the
//! runner's stop on a loss of leadership.

mod common;

use common::*;
use rfq_engine::{block_ring, BlockConsumer, CommitGate, Core, Runner};
use rfq_journal::Durability;
use rfq_ring::{Consumer, Producer, Record};
use std::sync::Arc;

struct Rig {
    runner: Runner,
    in_p: Producer,
    out_c: Consumer,
    gate: Arc<CommitGate>,
    blocks: BlockConsumer,
    _dir: tempfile::TempDir,
}

fn rig(nblocks: usize, max_block: usize) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let (mut runner, in_p, out_c) = journaled_runner(dir.path(), Durability::None, 1 << 20);
    let gate = Arc::new(CommitGate::new(0));
    let (bp, blocks) = block_ring(nblocks, max_block).unwrap();
    runner.set_replication(Some(Arc::clone(&gate)), Some(bp));
    Rig { runner, in_p, out_c, gate, blocks, _dir: dir }
}

fn drain(c: &mut Consumer) -> Vec<Record> {
    std::iter::from_fn(|| c.try_pop()).collect()
}

/// Outputs of a fresh core fed `recs`.
fn outputs_of(recs: &[Record]) -> Vec<Record> {
    let mut core = Core::new(config()).unwrap();
    let mut out = Vec::new();
    recs.iter().for_each(|r| core.process(r, &mut out));
    out
}

/// Every block waiting, as one list of records (and the number of blocks).
fn take_blocks(b: &mut BlockConsumer) -> (Vec<Record>, usize) {
    let (mut all, mut buf, mut n) = (Vec::new(), Vec::new(), 0);
    while b.pop_into(&mut buf) {
        all.extend_from_slice(&buf);
        n += 1;
    }
    (all, n)
}

#[test]
fn a_full_block_ring_holds_the_input_back_until_blocks_are_taken() {
    let mut r = rig(2, 16);
    let recs = journal_stream(60, None);
    assert!(recs.len() > 100 && recs.len() < 4000);
    assert_eq!(r.in_p.push_slice(&recs), recs.len());
    while r.runner.run_once(usize::MAX) > 0 {}
    let journaled = r.runner.journal().unwrap().committed_seq();
    assert!(journaled > 0 && journaled <= 32, "two blocks of at most 16 records, then back-pressure: {journaled}");
    assert!(r.runner.out_waits() > 0, "the wait is counted");
    assert_eq!(r.blocks.blocks(), 2);
    // durable locally, but the gate has not moved: nothing published
    r.runner.flush_journal();
    assert!(drain(&mut r.out_c).is_empty(), "nothing published before the cluster commits");
    // the cluster takes the blocks as they come and commits them
    let mut replicated = Vec::new();
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let (got, n) = take_blocks(&mut r.blocks);
        assert!(n <= 2);
        replicated.extend(got);
        r.gate.advance(replicated.len() as u64);
        r.runner.poll_journal();
        out.extend(drain(&mut r.out_c));
        if r.runner.run_once(usize::MAX) == 0 && replicated.len() == recs.len() {
            break;
        }
    }
    assert_eq!(replicated, recs, "every record replicated once, in order, in blocks");
    assert_eq!(r.runner.journal().unwrap().committed_seq(), recs.len() as u64);
    r.runner.poll_journal();
    out.extend(drain(&mut r.out_c));
    assert_eq!(out, outputs_of(&recs), "every output published, once the gate covered its input");
}

#[test]
fn outputs_are_published_up_to_the_gate_only() {
    let mut r = rig(64, 16);
    let recs = journal_stream(100, None);
    assert_eq!(r.in_p.push_slice(&recs), recs.len());
    while r.runner.run_once(usize::MAX) > 0 {}
    let (replicated, _) = take_blocks(&mut r.blocks);
    assert_eq!(replicated, recs);
    let half = recs.len() / 2;
    r.gate.advance(half as u64);
    r.runner.poll_journal();
    let first = drain(&mut r.out_c);
    // the outputs of committed batches only: a prefix of the outputs of the first half
    let upto_half = outputs_of(&recs[..half]);
    assert!(!first.is_empty() && first.len() <= upto_half.len());
    assert_eq!(first[..], upto_half[..first.len()]);
    r.gate.advance(recs.len() as u64);
    r.runner.poll_journal();
    let mut all = first;
    all.extend(drain(&mut r.out_c));
    assert_eq!(all, outputs_of(&recs));
}

#[test]
fn on_loss_of_leadership_nothing_beyond_the_gate_is_published_and_the_runner_stops() {
    let mut r = rig(64, 16);
    let recs = journal_stream(200, None);
    let (part1, part2) = recs.split_at(recs.len() / 2);
    // part 1 committed by the cluster and published
    assert_eq!(r.in_p.push_slice(part1), part1.len());
    while r.runner.run_once(usize::MAX) > 0 {}
    let (rep, _) = take_blocks(&mut r.blocks);
    assert_eq!(rep, part1);
    r.gate.advance(part1.len() as u64);
    r.runner.poll_journal();
    let mut got = drain(&mut r.out_c);
    assert_eq!(got, outputs_of(part1));
    // part 2 processed ahead (speculatively); the cluster commits only its first records
    assert_eq!(r.in_p.push_slice(part2), part2.len());
    while r.runner.run_once(usize::MAX) > 0 {}
    let mut first = Vec::new();
    assert!(r.blocks.pop_into(&mut first));
    let (rest, nrest) = take_blocks(&mut r.blocks);
    assert!(nrest >= 1, "part 2 in several blocks");
    first.extend_from_slice(&rest);
    assert_eq!(first, part2);
    // the cluster committed part 2's first block only
    let first_block = (part1.len() + part2.len() - rest.len()) as u64;
    r.gate.advance(first_block);
    // the proposal of the rest fails: this node lost leadership
    r.gate.lose_leadership();
    r.runner.poll_journal();
    assert!(r.runner.leadership_lost(), "the loss is reported");
    got.extend(drain(&mut r.out_c));
    let committed = &recs[..first_block as usize];
    let allowed = outputs_of(committed);
    assert!(got.len() <= allowed.len(), "nothing beyond the gate published: {} > {}", got.len(), allowed.len());
    assert_eq!(got[..], allowed[..got.len()], "what was published is the committed input's outputs");
    // the gate moving on later publishes nothing: the staged outputs were dropped
    r.gate.advance(recs.len() as u64);
    r.runner.poll_journal();
    r.runner.flush_journal();
    assert!(drain(&mut r.out_c).is_empty(), "the dropped outputs are never published");
    // it consumes no more input, injects no heartbeat, and refuses to snapshot its state
    let more = journal_stream(3, None);
    assert_eq!(r.in_p.push_slice(&more[..5]), 5);
    assert_eq!(r.runner.run_once(usize::MAX), 0, "no input consumed after the loss");
    assert!(!r.runner.inject_heartbeat(T0), "no heartbeat after the loss");
    assert_eq!(r.blocks.blocks(), 0, "no block replicated after the loss");
    let e = r.runner.snapshot_now().unwrap_err().to_string();
    assert!(e.contains("lost leadership"), "{e}");
}

#[test]
fn the_gate_wakes_the_core_thread() {
    let r = rig(8, 256);
    let gate = Arc::clone(&r.gate);
    assert_eq!(gate.wake_thread(), None);
    let h = r.runner.spawn(rfq_ring::IdleKind::Park).unwrap();
    let core_thread = h.with_runner(|_| std::thread::current().id()).unwrap();
    assert_eq!(gate.wake_thread(), Some(core_thread), "the running core thread is the one the gate's mover unparks");
    assert_eq!(r.blocks.wake_thread(), Some(core_thread), "and the one the proposer unparks as it frees block space");
    let runner = h.stop().unwrap();
    assert_eq!(gate.wake_thread(), None, "no longer once it stopped");
    assert_eq!(r.blocks.wake_thread(), None);
    drop(runner);
}

#[test]
fn only_a_loss_after_attaching_stops_a_runner() {
    let mut r = rig(8, 64);
    // a loss reported before this runner was attached (an earlier term) does not concern it
    let gate = Arc::new(CommitGate::new(0));
    gate.lose_leadership();
    let (bp, _blocks) = block_ring(8, 64).unwrap();
    r.runner.set_replication(Some(Arc::clone(&gate)), Some(bp));
    let recs = journal_stream(5, None);
    assert_eq!(r.in_p.push_slice(&recs), recs.len());
    assert!(r.runner.run_once(usize::MAX) > 0, "it leads: it consumes input");
    r.runner.poll_journal();
    assert!(!r.runner.leadership_lost());
    gate.lose_leadership();
    r.runner.poll_journal();
    assert!(r.runner.leadership_lost(), "a loss after attaching stops it");
}

#[test]
fn on_the_core_thread_a_small_block_ring_carries_the_whole_stream() {
    let mut r = rig(2, 16);
    let recs = journal_stream(100, None);
    let h = r.runner.spawn(rfq_ring::IdleKind::Park).unwrap();
    assert_eq!(r.in_p.push_slice(&recs), recs.len());
    let (mut replicated, mut out, mut buf) = (Vec::new(), Vec::new(), Vec::new());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let want = outputs_of(&recs).len();
    while (replicated.len() < recs.len() || out.len() < want) && std::time::Instant::now() < deadline {
        if r.blocks.pop_into(&mut buf) {
            assert!(buf.len() <= 16);
            replicated.extend_from_slice(&buf);
            r.gate.advance(replicated.len() as u64);
        } else {
            std::thread::yield_now();
        }
        out.extend(drain(&mut r.out_c));
    }
    assert_eq!(replicated, recs, "every record replicated once, in order");
    let runner = h.stop().unwrap();
    out.extend(drain(&mut r.out_c));
    assert_eq!(out, outputs_of(&recs), "every output published once the gate covered it");
    assert!(runner.out_waits() > 0, "the two-block ring held the input back");
}
