//! Recovery = newest valid snapshot + journal tail: same state as a full replay from every
//! snapshot; damaged snapshots fall back (reported); a snapshot newer than the journal is
//! refused; pruned segments work with a snapshot and fail clearly without; outputs journaled
//! but not published at a crash are published again.

mod common;

use common::*;
use rfq_engine::{list_snapshots, read_published_marker, replay_into, Core, RecoveryError, Runner, SnapshotError};
use rfq_journal::{Durability, JournalConfig, OutputHash};
use rfq_ring::record::kind;
use rfq_ring::{Consumer, Producer, Record, RingFile};
use std::path::Path;

fn jcfg(dir: &Path, durability: Durability) -> JournalConfig {
    common::jcfg(dir, durability, 1 << 14)
}

fn stream() -> Vec<Record> {
    journal_stream(300, None)
}

fn rings() -> (Runner, Producer, Consumer, Consumer) {
    let (out_p, out_c) = RingFile::anonymous(1 << 14).unwrap().split();
    let (in_p, in_c) = RingFile::anonymous(1 << 12).unwrap().split();
    let (tap_p, tap_c) = RingFile::anonymous(1 << 12).unwrap().split();
    let mut runner = Runner::new(Core::new(config()).unwrap(), out_p);
    runner.add_input(in_c);
    runner.add_tap(tap_p);
    (runner, in_p, out_c, tap_c)
}

fn run(runner: &mut Runner, in_p: &mut Producer, recs: &[Record]) {
    for chunk in recs.chunks(50) {
        assert_eq!(in_p.push_slice(chunk), chunk.len());
        while runner.run_once(usize::MAX) > 0 {}
        runner.wait_snapshots();
    }
}

/// A journaled run of the whole stream with a snapshot every `every` records; returns the
/// final state hash and output hash.
fn journaled(dir: &Path, every: u64, keep: usize, prune: bool) -> (u64, u64) {
    let (mut r, mut in_p, mut out_c, _tap) = rings();
    r.recover_journal(jcfg(dir, Durability::None)).unwrap();
    r.set_snapshots(every, keep, prune);
    run(&mut r, &mut in_p, &stream());
    drain(&mut out_c);
    let st = r.snapshot_stats().unwrap();
    assert!(st.failed == 0, "{st:?}");
    let h = (r.core().state_hash(), r.output_hash().unwrap());
    drop(r.take_journal());
    h
}

fn recover(dir: &Path) -> Result<(Runner, rfq_engine::RecoveryReport, Consumer), RecoveryError> {
    let (mut r, _in_p, out_c, _tap) = rings();
    let rep = r.recover_journal(jcfg(dir, Durability::None))?;
    Ok((r, rep, out_c))
}

#[test]
fn every_snapshot_recovers_the_same_state_as_a_full_replay() {
    let d = tempfile::tempdir().unwrap();
    let (state, out) = journaled(d.path(), 97, 100, false);
    let snaps = list_snapshots(d.path()).unwrap();
    assert!(snaps.len() >= 4, "{snaps:?}");
    let full = replay_into(&mut Core::new(config()).unwrap(), d.path(), FP, OutputHash::new()).unwrap();
    assert_eq!((full.state_hash, full.output_hash), (state, out));
    // recover from each snapshot in turn (the newer ones moved away)
    let aside = tempfile::tempdir().unwrap();
    for (k, (seq, path)) in snaps.iter().enumerate() {
        let (r, rep, _) = recover(d.path()).unwrap();
        assert_eq!(rep.snapshot.as_deref(), Some(path.as_path()), "snapshot {k}");
        assert_eq!(rep.snapshot_seq, *seq);
        assert_eq!(rep.replay.records, full.last_seq - seq, "only the tail is replayed");
        assert_eq!(r.core().state_hash(), state);
        assert_eq!(r.output_hash(), Some(out));
        assert_eq!(rep.first_divergence, None);
        assert!(rep.marks_checked > 0 || rep.replay.records == 0);
        assert!(rep.rejected_snapshots.is_empty());
        // everything was published before the stop: nothing to publish again
        assert_eq!(rep.published_seq, Some(full.last_seq));
        assert_eq!(rep.republished_outputs, 0);
        std::fs::rename(path, aside.path().join(path.file_name().unwrap())).unwrap();
    }
    let (r, rep, _) = recover(d.path()).unwrap();
    assert_eq!((rep.snapshot.as_ref(), rep.replay.records), (None, full.last_seq));
    assert_eq!(r.core().state_hash(), state);
}

#[test]
fn damaged_snapshot_falls_back_and_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let (state, _) = journaled(d.path(), 150, 3, false);
    let snaps = list_snapshots(d.path()).unwrap();
    assert_eq!(snaps.len(), 3);
    // newest: a flipped body byte; second: truncated
    let mut b = std::fs::read(&snaps[0].1).unwrap();
    let n = b.len();
    b[n / 2] ^= 1;
    std::fs::write(&snaps[0].1, &b).unwrap();
    let b = std::fs::read(&snaps[1].1).unwrap();
    std::fs::write(&snaps[1].1, &b[..b.len() - 100]).unwrap();
    let (r, rep, _) = recover(d.path()).unwrap();
    assert_eq!(rep.snapshot.as_deref(), Some(snaps[2].1.as_path()));
    assert_eq!(rep.rejected_snapshots.len(), 2);
    assert!(rep.rejected_snapshots[0].1.contains("BLAKE3"), "{:?}", rep.rejected_snapshots);
    assert!(rep.rejected_snapshots[1].1.contains("truncated"), "{:?}", rep.rejected_snapshots);
    assert_eq!(r.core().state_hash(), state);
    // the last one damaged too: full replay
    std::fs::write(&snaps[2].1, b"not a snapshot at all").unwrap();
    let (r, rep, _) = recover(d.path()).unwrap();
    assert_eq!((rep.snapshot.as_ref(), rep.rejected_snapshots.len()), (None, 3));
    assert_eq!(r.core().state_hash(), state);
}

#[test]
fn snapshot_newer_than_the_journal_is_refused() {
    let d = tempfile::tempdir().unwrap();
    journaled(d.path(), 200, 2, false);
    // the journal loses its tail (e.g. restored from an older backup): cut the last segments
    let mut segs: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "rfqj")).collect();
    segs.sort();
    for p in &segs[segs.len() / 2..] {
        std::fs::remove_file(p).unwrap();
    }
    let Err(e) = recover(d.path()) else { panic!("recovered") };
    assert!(matches!(e, RecoveryError::Snapshot(SnapshotError::NewerThanJournal { .. })), "{e}");
    assert!(e.to_string().contains("newer than the journal"), "{e}");
}

#[test]
fn pruned_segments_need_a_snapshot() {
    let d = tempfile::tempdir().unwrap();
    let (state, out) = journaled(d.path(), 120, 2, true);
    assert!(!d.path().join("seg-0000000000.rfqj").exists(), "segment 0 was pruned");
    let (r, rep, _) = recover(d.path()).unwrap();
    assert!(rep.snapshot.is_some());
    assert_eq!((r.core().state_hash(), r.output_hash()), (state, Some(out)));
    // without a usable snapshot: a clear error naming the missing segment and the refusals
    for (_, p) in list_snapshots(d.path()).unwrap() {
        std::fs::write(&p, b"junk").unwrap();
    }
    let Err(e) = recover(d.path()) else { panic!("recovered") };
    assert!(matches!(e, RecoveryError::NoUsableStart { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("segment 0 is missing") && msg.contains("refused"), "{msg}");
}

#[test]
fn outputs_journaled_but_not_published_at_a_crash_are_published_again() {
    let recs = stream();
    // reference outputs of an uninterrupted run
    let (mut plain, mut in_p, mut out_c, mut tap_c) = rings();
    run(&mut plain, &mut in_p, &recs);
    let all = drain(&mut out_c);
    let all_tap = drain(&mut tap_c);
    let d = tempfile::tempdir().unwrap();
    let cut = recs.len() / 2;
    let (published_before, tap_before);
    {
        let (mut r, mut in_p, mut out_c, mut tap_c) = rings();
        r.recover_journal(jcfg(d.path(), Durability::None)).unwrap();
        r.set_snapshots(100, 2, false);
        run(&mut r, &mut in_p, &recs[..cut]);
        published_before = drain(&mut out_c);
        tap_before = drain(&mut tap_c);
        drop(r.take_journal());
        // the next part under group commit that never syncs: committed (written), not
        // published; then the process dies between commit and publication
        let (mut r, mut in_p, mut out_c, mut tap_c) = rings();
        let rep = r.recover_journal(jcfg(d.path(), Durability::GroupCommit { max_records: u64::MAX, max_ns: u64::MAX })).unwrap();
        assert_eq!(rep.republished_outputs, 0);
        run(&mut r, &mut in_p, &recs[cut..cut + 40]);
        assert!(drain(&mut out_c).is_empty(), "nothing published before the sync");
        assert!(drain(&mut tap_c).is_empty(), "nothing on the tap before the sync");
        assert_eq!(r.journal().unwrap().committed_seq(), cut as u64 + 40);
        std::mem::forget(r); // crash: no flush, no publication
    }
    assert_eq!(read_published_marker(d.path()), Some(cut as u64));
    let (mut r, mut in_p, mut out_c, mut tap_c) = rings();
    let rep = r.recover_journal(jcfg(d.path(), Durability::None)).unwrap();
    assert_eq!(rep.published_seq, Some(cut as u64));
    assert_eq!(rep.republished_records, 40);
    let again = drain(&mut out_c);
    assert_eq!(again.len() as u64, rep.republished_outputs);
    // what was published before the crash + what is published again = the uninterrupted
    // run's outputs up to the crash, in order, nothing missing
    assert_eq!([published_before.clone(), again.clone()].concat(), all[..published_before.len() + again.len()].to_vec());
    let tap_again = drain(&mut tap_c);
    assert!(!tap_again.is_empty() && tap_again.iter().all(|x| (kind::RFQ_QUOTE..=kind::CONTROL_ACK).contains(&x.kind)));
    // the tap before the crash + what it gets again = the uninterrupted run's tap up to there
    assert_eq!([tap_before.clone(), tap_again.clone()].concat(), all_tap[..tap_before.len() + tap_again.len()].to_vec());
    assert_eq!(read_published_marker(d.path()), Some(cut as u64 + 40), "marker moved once re-published");
    // and the run continues exactly
    run(&mut r, &mut in_p, &recs[cut + 40..]);
    let rest = drain(&mut out_c);
    assert_eq!([published_before, again, rest].concat(), all);
    let tap_rest = drain(&mut tap_c);
    assert_eq!([tap_before, tap_again, tap_rest].concat(), all_tap, "the recovered run's tap = the uninterrupted run's");
    // the tap is exactly the RFQ-workflow part of the outputs
    let workflow: Vec<Record> = all.iter().filter(|x| (kind::RFQ_QUOTE..=kind::CONTROL_ACK).contains(&x.kind)).copied().collect();
    assert!(!all_tap.is_empty());
    assert_eq!(all_tap, workflow);
    assert_eq!(r.core().state_hash(), plain.core().state_hash());
}
