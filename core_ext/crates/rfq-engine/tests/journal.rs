//! The journaled runner: outputs published only after their input is journaled (and durable
//! under the policy), heartbeats journaled, replay reproducing state and output stream, first
//! divergence, crash recovery continuing the run.

mod common;

use common::*;
use rfq_engine::{replay_into, Core, Runner, HEARTBEAT_SOURCE};
use rfq_journal::{Durability, JournalConfig, JournalReader, JournalWriter, OutputHash};
use rfq_model::PricingParams;
use rfq_ring::record::kind;
use rfq_ring::{Consumer, Producer, Record, RingFile};
use std::path::Path;

fn jcfg(dir: &Path, durability: Durability) -> JournalConfig {
    common::jcfg(dir, durability, 1 << 16)
}

fn stream() -> Vec<Record> {
    journal_stream(200, Some(150))
}

fn rings(core: &Core) -> (Runner, Producer, Consumer) {
    let (out_p, out_c) = RingFile::anonymous(1 << 14).unwrap().split();
    let (in_p, in_c) = RingFile::anonymous(1 << 12).unwrap().split();
    let _ = core;
    let mut runner = Runner::new(Core::new(config()).unwrap(), out_p);
    runner.add_input(in_c);
    (runner, in_p, out_c)
}

fn hash_of(out: &[Record]) -> u64 {
    let mut h = OutputHash::new();
    out.iter().for_each(|r| h.push(r));
    h.value()
}

fn run(runner: &mut Runner, in_p: &mut Producer, recs: &[Record]) {
    for chunk in recs.chunks(64) {
        assert_eq!(in_p.push_slice(chunk), chunk.len());
        while runner.run_once(usize::MAX) > 0 {}
    }
}

#[test]
fn journaled_run_replays_bit_identical_and_equals_unjournaled() {
    let recs = stream();
    // reference: no journal
    let (mut plain, mut in_p, mut out_c) = rings(&Core::new(config()).unwrap());
    run(&mut plain, &mut in_p, &recs);
    let plain_out = drain(&mut out_c);
    assert!(plain.output_hash().is_none());
    for pol in [Durability::None, Durability::FsyncEach, Durability::GroupCommit { max_records: 100, max_ns: u64::MAX }] {
        let d = tempfile::tempdir().unwrap();
        let (mut runner, mut in_p, mut out_c) = rings(&Core::new(config()).unwrap());
        runner.set_journal(JournalWriter::open(jcfg(d.path(), pol)).unwrap());
        run(&mut runner, &mut in_p, &recs);
        runner.flush_journal();
        let out = drain(&mut out_c);
        assert_eq!(out, plain_out, "{pol:?}: a journal changes nothing in the outputs");
        assert_eq!(runner.core().state_hash(), plain.core().state_hash());
        assert!(runner.core().rfq_stats().fills >= 1, "the stream has a fill");
        assert_eq!(runner.output_hash(), Some(hash_of(&out)));
        let w = runner.take_journal().unwrap();
        assert_eq!(w.committed_seq(), recs.len() as u64);
        assert_eq!(w.durable_seq(), recs.len() as u64);
        drop(w);
        let mut fresh = Core::new(config()).unwrap();
        let rep = replay_into(&mut fresh, d.path(), FP, OutputHash::new()).unwrap();
        assert_eq!(rep.records, recs.len() as u64);
        assert_eq!(rep.state_hash, plain.core().state_hash());
        assert_eq!(rep.output_hash, hash_of(&out));
        assert_eq!(rep.outputs, out.len() as u64);
        assert_eq!(rep.marks_checked, recs.len() as u64);
        assert_eq!(rep.first_divergence, None);
        let mut journaled = Vec::new();
        JournalReader::open(d.path(), FP).unwrap().for_each_from(1, |_, r, _| journaled.push(*r)).unwrap();
        assert_eq!(journaled, recs, "the journal is exactly the merged input");
    }
}

#[test]
fn outputs_wait_for_the_group_sync() {
    let d = tempfile::tempdir().unwrap();
    let (mut runner, mut in_p, mut out_c) = rings(&Core::new(config()).unwrap());
    runner.set_journal(JournalWriter::open(jcfg(d.path(), Durability::GroupCommit { max_records: 1 << 30, max_ns: u64::MAX })).unwrap());
    let snap = snapshot(1, T0);
    in_p.push_slice(&snap);
    while runner.run_once(usize::MAX) > 0 {}
    let w = runner.journal().unwrap();
    assert_eq!(w.committed_seq(), snap.len() as u64);
    assert_eq!(w.durable_seq(), 0);
    assert!(drain(&mut out_c).is_empty(), "nothing visible before the journal is durable");
    runner.poll_journal(); // not due
    assert!(drain(&mut out_c).is_empty());
    runner.flush_journal();
    assert!(drain(&mut out_c).iter().any(|r| r.kind == kind::QUOTE));
    assert_eq!(runner.journal().unwrap().durable_seq(), snap.len() as u64);
}

#[test]
fn a_full_out_ring_forces_the_group_sync_instead_of_stalling() {
    let d = tempfile::tempdir().unwrap();
    let core = Core::new(config()).unwrap();
    let cap = (core.max_out_per_record() + 1).next_power_of_two();
    let (out_p, mut out_c) = RingFile::anonymous(cap).unwrap().split();
    let (mut in_p, in_c) = RingFile::anonymous(1 << 12).unwrap().split();
    let mut runner = Runner::new(core, out_p);
    runner.add_input(in_c);
    runner.set_journal(JournalWriter::open(jcfg(d.path(), Durability::GroupCommit { max_records: 1 << 30, max_ns: u64::MAX })).unwrap());
    let recs = stream();
    let mut got = Vec::new();
    let mut fed = 0;
    while fed < recs.len() || runner.run_once(usize::MAX) > 0 {
        fed += in_p.push_slice(&recs[fed..]);
        runner.run_once(usize::MAX);
        got.extend(drain(&mut out_c));
    }
    runner.flush_journal();
    got.extend(drain(&mut out_c));
    let (mut plain, mut in2, mut out2) = rings(&Core::new(config()).unwrap());
    run(&mut plain, &mut in2, &recs);
    assert_eq!(got, drain(&mut out2));
    assert!(runner.journal().unwrap().stats().syncs > 1, "{:?} out_waits {} outputs {} cap {cap}", runner.journal().unwrap().stats(), runner.out_waits(), got.len());
}

#[test]
fn heartbeats_are_journaled() {
    let d = tempfile::tempdir().unwrap();
    let (mut runner, mut in_p, mut out_c) = rings(&Core::new(config()).unwrap());
    runner.set_journal(JournalWriter::open(jcfg(d.path(), Durability::FsyncEach)).unwrap());
    in_p.push_slice(&snapshot(1, T0));
    in_p.push_slice(&[rfq(1, 255, BTC, 5, T0)]);
    while runner.run_once(usize::MAX) > 0 {}
    assert!(runner.inject_heartbeat(T0 + 10 * SEC), "quote expires");
    let out = drain(&mut out_c);
    assert!(out.iter().any(|r| r.kind == kind::QUOTE_END));
    let w = runner.take_journal().unwrap();
    let n = w.committed_seq();
    drop(w);
    let mut last = Record::ZERO;
    JournalReader::open(d.path(), FP).unwrap().for_each_from(n, |_, r, _| last = *r).unwrap();
    assert_eq!((last.kind, last.source, last.ts_recv), (kind::HEARTBEAT, HEARTBEAT_SOURCE, T0 + 10 * SEC));
    let rep = replay_into(&mut Core::new(config()).unwrap(), d.path(), FP, OutputHash::new()).unwrap();
    assert_eq!(rep.state_hash, runner.core().state_hash());
    assert_eq!(rep.output_hash, hash_of(&out));
}

#[test]
fn replay_names_the_first_divergent_record() {
    let d = tempfile::tempdir().unwrap();
    let (mut runner, mut in_p, _out_c) = rings(&Core::new(config()).unwrap());
    runner.set_journal(JournalWriter::open(jcfg(d.path(), Durability::None)).unwrap());
    let recs = stream();
    run(&mut runner, &mut in_p, &recs);
    drop(runner);
    // replay into a core whose pricing differs: the first repricing differs
    let mut other = Core::new(config()).unwrap();
    let mut p = config().composites[0].pricing.clone();
    p.base_cbps += 1;
    other.set_pricing(1, p.clone()).unwrap();
    let rep = replay_into(&mut other, d.path(), FP, OutputHash::new()).unwrap();
    let snap_end = snapshot(1, T0).len() as u64;
    assert_eq!(rep.first_divergence, Some(snap_end), "the snapshot's END record prices the ladder");
    let _: PricingParams = p;
}

#[test]
fn recovery_after_a_crash_continues_the_run() {
    let recs = stream();
    let (mut plain, mut in_p, mut out_c) = rings(&Core::new(config()).unwrap());
    run(&mut plain, &mut in_p, &recs);
    let full_hash = hash_of(&drain(&mut out_c));
    let d = tempfile::tempdir().unwrap();
    let cut = recs.len() / 2;
    {
        let (mut runner, mut in_p, mut out_c) = rings(&Core::new(config()).unwrap());
        runner.set_journal(JournalWriter::open(jcfg(d.path(), Durability::FsyncEach)).unwrap());
        run(&mut runner, &mut in_p, &recs[..cut]);
        drain(&mut out_c);
        // crash: the process dies with a half-written block at the tail
        let seg = runner.journal().unwrap().segment_path().to_path_buf();
        std::mem::forget(runner);
        let mut f = std::fs::OpenOptions::new().append(true).open(seg).unwrap();
        std::io::Write::write_all(&mut f, &[0x77; 50]).unwrap();
    }
    let (mut runner, mut in_p, mut out_c) = rings(&Core::new(config()).unwrap());
    let rep = runner.recover_journal(jcfg(d.path(), Durability::FsyncEach)).unwrap();
    assert_eq!(rep.records, cut as u64);
    assert_eq!(rep.torn.as_ref().map(|t| t.bytes), Some(50));
    assert_eq!(rep.first_divergence, None);
    run(&mut runner, &mut in_p, &recs[cut..]);
    drain(&mut out_c);
    assert_eq!(runner.core().state_hash(), plain.core().state_hash());
    assert_eq!(runner.output_hash(), Some(full_hash), "the output hash continues across the crash");
    // the journal now holds the whole uninterrupted input
    drop(runner.take_journal());
    let rep = replay_into(&mut Core::new(config()).unwrap(), d.path(), FP, OutputHash::new()).unwrap();
    assert_eq!((rep.records, rep.state_hash, rep.output_hash), (recs.len() as u64, plain.core().state_hash(), full_hash));
    // a core that already ran cannot recover
    assert!(runner.recover_journal(jcfg(d.path(), Durability::None)).is_err());
}

#[test]
fn threaded_core_with_journal() {
    let d = tempfile::tempdir().unwrap();
    let recs = stream();
    let (mut runner, mut in_p, mut out_c) = rings(&Core::new(config()).unwrap());
    runner.set_journal(JournalWriter::open(jcfg(d.path(), Durability::GroupCommit { max_records: 64, max_ns: 200_000 })).unwrap());
    let h = runner.spawn(rfq_ring::IdleKind::Yield).unwrap();
    let mut fed = 0;
    let mut out = Vec::new();
    while fed < recs.len() {
        fed += in_p.push_slice(&recs[fed..]);
        out.extend(drain(&mut out_c));
    }
    // a query is answered only after everything the core did is journaled and published
    let st = h.query(|c| c.stats().records).unwrap();
    let runner = h.stop().unwrap();
    out.extend(drain(&mut out_c));
    assert!(st <= recs.len() as u64);
    assert_eq!(runner.journal().unwrap().durable_seq(), recs.len() as u64);
    let rep = replay_into(&mut Core::new(config()).unwrap(), d.path(), FP, OutputHash::new()).unwrap();
    assert_eq!(rep.state_hash, runner.core().state_hash());
    assert_eq!(rep.output_hash, hash_of(&out));
    assert_eq!(rep.first_divergence, None);
}
