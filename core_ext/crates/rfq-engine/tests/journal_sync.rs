//! The journaled runner with its journal I/O on a sync thread: outputs never visible before
//! every input record preceding them is durable, published in order, the core going on
//! consuming input and staging outputs while a sync is stalled, errors of the sync thread
//! stopping the runner.

mod common;

use common::*;
use rfq_engine::{replay_into, Core, Runner};
use rfq_journal::{Durability, JournalConfig, JournalWriter, OutputHash, SyncHook};
use rfq_ring::{Consumer, Producer, Record, RingFile};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

fn jcfg(dir: &Path, durability: Durability) -> JournalConfig {
    common::jcfg(dir, durability, 1 << 14)
}

fn stream() -> Vec<Record> {
    journal_stream(300, None)
}

/// A gate the sync hook waits at: each durability step needs a permit (or the gate open).
#[derive(Default)]
struct Gate {
    st: Mutex<(bool, u64)>, // (open, permits)
    cv: Condvar,
    /// Sequence numbers the hook was called with.
    calls: Mutex<Vec<u64>>,
    /// Fail the durability step with this index (1-based; 0 = never).
    fail_at: AtomicU64,
}

impl Gate {
    fn hook(self: &Arc<Self>) -> SyncHook {
        let g = Arc::clone(self);
        Arc::new(move |seq| {
            let n = {
                let mut c = g.calls.lock().unwrap();
                c.push(seq);
                c.len() as u64
            };
            if g.fail_at.load(Ordering::SeqCst) == n {
                return Err(std::io::Error::other("injected fdatasync failure"));
            }
            let mut st = g.st.lock().unwrap();
            while !st.0 && st.1 == 0 {
                st = g.cv.wait(st).unwrap();
            }
            if !st.0 {
                st.1 -= 1;
            }
            Ok(())
        })
    }
    fn open(&self) {
        self.st.lock().unwrap().0 = true;
        self.cv.notify_all();
    }
    fn permit(&self) {
        self.st.lock().unwrap().1 += 1;
        self.cv.notify_all();
    }
    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

/// Opens the gate when dropped (declared after the runner, so a failing assertion does not
/// leave the sync thread blocked in the hook while the runner's drop joins it).
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

struct Rig {
    runner: Runner,
    in_p: Producer,
    out_c: Consumer,
    tap_c: Consumer,
}

fn rig(out_cap: usize) -> Rig {
    let (out_p, out_c) = RingFile::anonymous(out_cap).unwrap().split();
    let (in_p, in_c) = RingFile::anonymous(1 << 12).unwrap().split();
    let (tap_p, tap_c) = RingFile::anonymous(out_cap).unwrap().split();
    let mut runner = Runner::new(Core::new(config()).unwrap(), out_p);
    runner.add_input(in_c);
    runner.add_tap(tap_p);
    Rig { runner, in_p, out_c, tap_c }
}

/// Reference run without a journal, record by record: all outputs, tap outputs, and the
/// number of outputs after each record (`cum[k]` = outputs of records 1..=k).
fn reference(recs: &[Record]) -> (Vec<Record>, Vec<Record>, Vec<usize>) {
    let mut r = rig(1 << 14);
    let mut out = Vec::new();
    let mut cum = vec![0];
    for x in recs {
        assert_eq!(r.in_p.push_slice(std::slice::from_ref(x)), 1);
        while r.runner.run_once(usize::MAX) > 0 {}
        out.extend(drain(&mut r.out_c));
        cum.push(out.len());
    }
    (out, drain(&mut r.tap_c), cum)
}

fn journaled(r: &mut Rig, dir: &Path, pol: Durability, gate: &Arc<Gate>) {
    let mut w = JournalWriter::open(jcfg(dir, pol)).unwrap();
    w.set_sync_hook(Some(gate.hook()));
    r.runner.set_journal_sync_thread(true).unwrap();
    r.runner.set_journal(w);
    assert!(r.runner.journal().unwrap().has_sync_thread());
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn outputs_are_never_visible_before_their_inputs_are_durable() {
    let recs = stream();
    let (all, all_tap, cum) = reference(&recs);
    for pol in [Durability::FsyncEach, Durability::GroupCommit { max_records: 16, max_ns: 300_000 }, Durability::None] {
        let d = tempfile::tempdir().unwrap();
        let gate = Arc::new(Gate::default());
        let mut r = rig(1 << 14);
        journaled(&mut r, d.path(), pol, &gate);
        let _open = OpenOnDrop(Arc::clone(&gate));
        let mut seen = Vec::new();
        let mut fed = 0;
        let mut permits = 0;
        while seen.len() < all.len() {
            // feed a few records at a time, let one durability step through now and then
            if fed < recs.len() {
                let n = (recs.len() - fed).min(7);
                fed += r.in_p.push_slice(&recs[fed..fed + n]);
            }
            let before = r.runner.journal().unwrap().durable_seq();
            r.runner.run_once(usize::MAX);
            r.runner.poll_journal();
            seen.extend(drain(&mut r.out_c));
            let after = r.runner.journal().unwrap().durable_seq();
            // every visible output belongs to a durable record; everything durable is visible
            assert!(seen.len() <= cum[after as usize], "{pol:?}: {} outputs visible, only {} belong to the {after} durable records", seen.len(), cum[after as usize]);
            assert!(seen.len() >= cum[before as usize], "{pol:?}: durable {before} but only {} of its {} outputs published", seen.len(), cum[before as usize]);
            assert_eq!(seen[..], all[..seen.len()], "{pol:?}: in order");
            if gate.calls() as u64 >= permits && fed % 3 == 0 {
                gate.permit();
                permits += 1;
            }
            if fed == recs.len() {
                gate.open();
            }
        }
        r.runner.flush_journal();
        assert_eq!(seen, all, "{pol:?}");
        assert_eq!(drain(&mut r.tap_c), all_tap, "{pol:?}: tap");
        assert_eq!(r.runner.journal().unwrap().durable_seq(), recs.len() as u64);
        let hash = r.runner.output_hash();
        drop(r.runner.take_journal());
        let rep = replay_into(&mut Core::new(config()).unwrap(), d.path(), FP, OutputHash::new()).unwrap();
        assert_eq!((rep.records, Some(rep.output_hash), rep.first_divergence), (recs.len() as u64, hash, None));
    }
}

#[test]
fn the_core_keeps_consuming_while_a_sync_is_stalled() {
    let recs = stream();
    let (all, _, cum) = reference(&recs);
    let d = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    // an out ring of 128: room for the outputs of one record (70 at most) plus a few dozen
    let mut r = rig(1 << 7);
    journaled(&mut r, d.path(), Durability::FsyncEach, &gate);
    let _open = OpenOnDrop(Arc::clone(&gate));
    let mut fed = 0;
    let t = Instant::now();
    // the first sync never completes: the core consumes until the staged outputs fill the ring
    loop {
        fed += r.in_p.push_slice(&recs[fed..]);
        let n = r.runner.run_once(usize::MAX);
        r.runner.poll_journal();
        if n == 0 && (r.runner.out_waits() > 0 || fed == recs.len()) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20));
    }
    assert!(r.runner.out_waits() > 0, "the staged outputs filled the ring ({} outputs in all, {} max per record)", all.len(), Core::new(config()).unwrap().max_out_per_record());
    wait_until("the sync thread to be stuck in its first sync", || gate.calls() >= 1);
    let w = r.runner.journal().unwrap();
    let committed = w.committed_seq();
    assert_eq!(w.durable_seq(), 0);
    assert!(committed > 50, "the core went on consuming and journaling while the disk was stalled ({committed} records)");
    let max_out = Core::new(config()).unwrap().max_out_per_record();
    assert!(cum[committed as usize] + 2 * max_out > 1 << 7, "the ring filled with staged outputs ({} staged, {max_out} max per record)", cum[committed as usize]);
    assert!(drain(&mut r.out_c).is_empty(), "nothing published while the sync is stalled");
    // no input is consumed beyond what the ring can take, and none is lost
    assert!(r.runner.run_once(usize::MAX) == 0);
    gate.open();
    let mut seen = Vec::new();
    while seen.len() < all.len() {
        fed += r.in_p.push_slice(&recs[fed..]);
        r.runner.run_once(usize::MAX);
        r.runner.poll_journal();
        seen.extend(drain(&mut r.out_c));
        drain(&mut r.tap_c);
        assert!(t.elapsed() < Duration::from_secs(20));
    }
    assert_eq!(seen, all);
}

#[test]
fn the_threaded_core_keeps_consuming_while_a_sync_is_stalled() {
    let recs = stream();
    let (all, _, _) = reference(&recs);
    let d = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let Rig { mut runner, mut in_p, mut out_c, tap_c: _tap } = rig(1 << 14);
    let mut w = JournalWriter::open(jcfg(d.path(), Durability::GroupCommit { max_records: 64, max_ns: 100_000 })).unwrap();
    w.set_sync_hook(Some(gate.hook()));
    runner.set_journal(w);
    let h = runner.spawn(rfq_ring::IdleKind::Park).unwrap();
    let _open = OpenOnDrop(Arc::clone(&gate));
    let cap = in_p.capacity();
    let mut fed = 0;
    while fed < recs.len() {
        fed += in_p.push_slice(&recs[fed..]);
    }
    // all input consumed (priced, staged, handed to the sync thread) while the sync is held
    wait_until("the core to consume its input", || in_p.free_slots() == cap);
    wait_until("the sync thread to start syncing", || gate.calls() >= 1);
    assert!(drain(&mut out_c).is_empty(), "nothing published while the sync is stalled");
    gate.open();
    let mut seen = Vec::new();
    wait_until("the outputs", || {
        seen.extend(drain(&mut out_c));
        seen.len() == all.len()
    });
    assert_eq!(seen, all);
    let runner = h.stop().unwrap();
    assert!(!runner.journal().unwrap().has_sync_thread(), "inline again after the thread stops");
    assert_eq!(runner.journal().unwrap().durable_seq(), recs.len() as u64);
}

#[test]
fn an_error_of_the_sync_thread_stops_the_runner() {
    let recs = stream();
    let (all, _, cum) = reference(&recs);
    let d = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    gate.fail_at.store(3, Ordering::SeqCst);
    gate.open();
    let mut r = rig(1 << 14);
    journaled(&mut r, d.path(), Durability::FsyncEach, &gate);
    let _open = OpenOnDrop(Arc::clone(&gate));
    let mut fed = 0;
    let mut seen = Vec::new();
    let t = Instant::now();
    while r.runner.journal_error().is_none() {
        if fed < recs.len() {
            fed += r.in_p.push_slice(&recs[fed..(fed + 10).min(recs.len())]);
        }
        r.runner.run_once(usize::MAX);
        r.runner.poll_journal();
        seen.extend(drain(&mut r.out_c));
        assert!(t.elapsed() < Duration::from_secs(20), "the error never surfaced");
    }
    let err = r.runner.journal_error().unwrap().to_string();
    assert!(err.contains("injected fdatasync failure"), "{err}");
    let durable = r.runner.journal().unwrap().durable_seq();
    assert!(seen.len() <= cum[durable as usize], "only outputs of durable records were published");
    assert_eq!(seen[..], all[..seen.len()]);
    // fail-stop: no more input consumed, nothing more published, also after a flush
    let free = r.in_p.free_slots();
    let more = r.in_p.push_slice(&recs[fed..]);
    assert_eq!(r.runner.run_once(usize::MAX), 0);
    r.runner.flush_journal();
    r.runner.poll_journal();
    assert!(drain(&mut r.out_c).is_empty());
    assert_eq!(r.in_p.free_slots(), free - more, "the input stays in its ring");
    assert_eq!(r.runner.journal().unwrap().durable_seq(), durable);
}
