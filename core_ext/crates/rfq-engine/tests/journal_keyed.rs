//! Crash recovery with a keyed journal (docs/journal.md, "Keyed chain"): from snapshots and
//! from a journal begun unkeyed, the run goes on exactly as an uninterrupted one; without the
//! key, replay and recovery are refused in one line naming the variable to set.

mod common;

use common::*;
use rfq_engine::{replay_into, replay_into_keyed, Core, Runner};
use rfq_journal::{Durability, JournalConfig, JournalError, JournalKey, OutputHash};
use rfq_ring::{Consumer, Producer, Record, RingFile};
use std::path::Path;

fn key() -> JournalKey {
    JournalKey::from_secret("engine test desk passphrase").unwrap()
}

fn jcfg(dir: &Path, key: Option<JournalKey>) -> JournalConfig {
    JournalConfig { key, ..common::jcfg(dir, Durability::None, 1 << 14) }
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

/// Recovers the journal of `dir` with `key`, snapshots every 97 records, runs `recs`; returns
/// (state hash, output hash) and whether recovery started from a snapshot.
fn session(dir: &Path, key: Option<JournalKey>, recs: &[Record]) -> ((u64, u64), bool) {
    let (mut r, mut in_p, mut out_c, _tap) = rings();
    let rep = r.recover_journal(jcfg(dir, key)).unwrap();
    r.set_snapshots(97, 100, false);
    for chunk in recs.chunks(50) {
        assert_eq!(in_p.push_slice(chunk), chunk.len());
        while r.run_once(usize::MAX) > 0 {}
        r.wait_snapshots();
    }
    drain(&mut out_c);
    let h = (r.core().state_hash(), r.output_hash().unwrap());
    drop(r.take_journal());
    (h, rep.snapshot.is_some())
}

#[test]
fn keyed_recovery_continues_exactly_and_needs_the_key() {
    let recs = journal_stream(300, None);
    let half = recs.len() / 2;
    let d = tempfile::tempdir().unwrap();
    let (want, _) = session(d.path(), Some(key()), &recs);
    let full = replay_into_keyed(&mut Core::new(config()).unwrap(), d.path(), FP, Some(&key()), OutputHash::new()).unwrap();
    assert_eq!((full.state_hash, full.output_hash, full.first_divergence), (want.0, want.1, None));
    // without the key
    assert!(matches!(replay_into(&mut Core::new(config()).unwrap(), d.path(), FP, OutputHash::new()), Err(JournalError::KeyMissing { .. })));
    let (mut r, ..) = rings();
    let e = r.recover_journal(jcfg(d.path(), None)).unwrap_err().to_string();
    assert!(e.ends_with("but RFQCORE_JOURNAL_KEY is not set: set RFQCORE_JOURNAL_KEY to the desk key it was written with"), "{e}");

    // a crash half way (nothing flushed beyond the journal), recovered keyed from a snapshot
    let d = tempfile::tempdir().unwrap();
    session(d.path(), Some(key()), &recs[..half]);
    let (got, from_snapshot) = session(d.path(), Some(key()), &recs[half..]);
    assert!(from_snapshot);
    assert_eq!(got, want);

    // a journal begun unkeyed, the desk key set at the restart: same run, keyed from there on
    let d = tempfile::tempdir().unwrap();
    session(d.path(), None, &recs[..half]);
    let (got, _) = session(d.path(), Some(key()), &recs[half..]);
    assert_eq!(got, want);
    let sum = rfq_journal::verify(d.path(), FP, Some(&key()), None).unwrap();
    assert_eq!(sum.key_id, Some(key().id()));
    assert!(sum.unkeyed_segments >= 1);
    assert_eq!(sum.last_seq, full.last_seq);
}
