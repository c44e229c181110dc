//! The writer with its journal sync thread: the same bytes on disk as inline (rollovers and
//! blocks larger than the buffer included), durability held back by a slow sync and advancing
//! per policy, errors of the sync thread returned to the owner, back to inline.

use rfq_journal::{verify, Durability, JournalConfig, JournalError, JournalReader, JournalWriter, SyncHook};
use rfq_ring::{kind, Record};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rec(i: u64) -> Record {
    Record { kind: kind::BOOK_LEVEL, seq: i, price: i as i64 * 3, qty: 7, ts_recv: i as i64, ..Record::ZERO }
}

fn cfg(dir: &Path, durability: Durability) -> JournalConfig {
    JournalConfig { dir: dir.to_path_buf(), fingerprint: 9, segment_bytes: 8192, durability, key: None }
}

/// Batches of 1..=40 records, one of 13,000 (larger than the 1 MiB frame buffer).
fn write_all(w: &mut JournalWriter) -> u64 {
    let mut n = 0_u64;
    for b in 0..120_u64 {
        let size = if b == 60 { 13_000 } else { 1 + (b * 7) % 40 };
        for _ in 0..size {
            n += 1;
            w.append_marked(&rec(n), n ^ 0x55).unwrap();
        }
        w.commit().unwrap();
    }
    n
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()).map(|e| (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap())).collect();
    v.sort();
    v
}

#[test]
fn the_sync_thread_writes_the_same_journal_as_inline() {
    for pol in [Durability::None, Durability::FsyncEach, Durability::GroupCommit { max_records: 50, max_ns: 200_000 }] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open(cfg(a.path(), pol)).unwrap();
        let n = write_all(&mut w);
        w.sync().unwrap();
        let inline_stats = w.stats();
        drop(w);
        let mut w = JournalWriter::open(cfg(b.path(), pol)).unwrap();
        w.start_sync_thread().unwrap();
        assert!(w.has_sync_thread());
        assert_eq!(write_all(&mut w), n);
        assert_eq!(w.committed_seq(), n);
        assert_eq!(w.sync().unwrap(), n);
        assert_eq!(w.durable_seq(), n);
        let st = w.stats();
        assert_eq!((st.commits, st.bytes, st.segments_created), (inline_stats.commits, inline_stats.bytes, inline_stats.segments_created), "{pol:?}");
        assert!(st.segments_created > 10, "rolled over on the sync thread");
        // back to inline, and on
        w.stop_sync_thread().unwrap();
        assert!(!w.has_sync_thread());
        w.append(&[rec(n + 1)]).unwrap();
        assert!(w.commit().unwrap() >= n);
        assert_eq!(w.sync().unwrap(), n + 1);
        drop(w);
        let mut w = JournalWriter::open(cfg(a.path(), pol)).unwrap();
        w.append(&[rec(n + 1)]).unwrap();
        w.commit().unwrap();
        w.sync().unwrap();
        drop(w);
        assert_eq!(files(a.path()), files(b.path()), "{pol:?}: byte-identical journals");
        let s = verify(b.path(), 9, None, None).unwrap();
        assert_eq!(s.last_seq, n + 1);
    }
}

/// A hook that blocks while `hold` is set and counts its calls.
fn holding_hook(hold: &Arc<AtomicBool>, calls: &Arc<AtomicU64>) -> SyncHook {
    let (hold, calls) = (Arc::clone(hold), Arc::clone(calls));
    Arc::new(move |_| {
        calls.fetch_add(1, Ordering::SeqCst);
        while hold.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_micros(100));
        }
        Ok(())
    })
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(100));
    }
}

#[test]
fn commits_return_at_once_and_durability_follows_the_sync_thread() {
    let d = tempfile::tempdir().unwrap();
    let hold = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicU64::new(0));
    let mut w = JournalWriter::open(cfg(d.path(), Durability::FsyncEach)).unwrap();
    w.set_sync_hook(Some(holding_hook(&hold, &calls)));
    w.start_sync_thread().unwrap();
    let t = Instant::now();
    for i in 1..=500 {
        w.append(&[rec(i)]).unwrap();
        assert_eq!(w.commit().unwrap(), 0, "nothing durable while the sync is held");
    }
    assert!(t.elapsed() < Duration::from_secs(5), "commits do not wait for the disk");
    wait_for("the first sync", || calls.load(Ordering::SeqCst) >= 1);
    assert_eq!(w.durable_seq(), 0);
    assert!(w.sync_pending());
    hold.store(false, Ordering::SeqCst);
    wait_for("durability", || w.durable_seq() == 500);
    assert!(w.stats().syncs < 500, "blocks waiting together share an fdatasync ({})", w.stats().syncs);
    let mut n = 0;
    JournalReader::open(d.path(), 9).unwrap().for_each_from(1, |_, _, _| n += 1).unwrap();
    assert_eq!(n, 500);
}

#[test]
fn group_commit_bounds_on_the_sync_thread() {
    // max_records: the third record forces the sync; the age bound never does
    let d = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(d.path(), Durability::GroupCommit { max_records: 3, max_ns: u64::MAX })).unwrap();
    w.start_sync_thread().unwrap();
    for i in 1..=2 {
        w.append(&[rec(i)]).unwrap();
        w.commit().unwrap();
    }
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(w.durable_seq(), 0, "two records: below the bound");
    w.append(&[rec(3)]).unwrap();
    w.commit().unwrap();
    wait_for("the record bound", || w.durable_seq() == 3);
    w.append(&[rec(4)]).unwrap();
    w.commit().unwrap();
    w.request_sync();
    wait_for("a requested sync", || w.durable_seq() == 4);
    // max_ns: a lone record becomes durable once it is that old
    let d = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(d.path(), Durability::GroupCommit { max_records: 1 << 20, max_ns: 5_000_000 })).unwrap();
    w.start_sync_thread().unwrap();
    w.append(&[rec(1)]).unwrap();
    let t = Instant::now();
    w.commit().unwrap();
    wait_for("the age bound", || w.durable_seq() == 1);
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(4), "synced after {waited:?}, before the group's age bound");
    assert_eq!(w.stats().syncs, 1);
}

#[test]
fn an_error_of_the_sync_thread_is_returned_and_stops_the_writer() {
    let d = tempfile::tempdir().unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let c2 = Arc::clone(&calls);
    let mut w = JournalWriter::open(cfg(d.path(), Durability::FsyncEach)).unwrap();
    w.set_sync_hook(Some(Arc::new(move |_| {
        if c2.fetch_add(1, Ordering::SeqCst) == 1 {
            Err(std::io::Error::other("disk on fire"))
        } else {
            Ok(())
        }
    })));
    w.start_sync_thread().unwrap();
    w.append(&[rec(1)]).unwrap();
    w.commit().unwrap();
    assert_eq!(w.sync().unwrap(), 1);
    w.append(&[rec(2)]).unwrap();
    w.commit().unwrap();
    let e = w.sync().unwrap_err();
    assert!(matches!(&e, JournalError::Io { op: "fdatasync", .. }) && e.to_string().contains("disk on fire"), "{e}");
    assert_eq!(w.durable_seq(), 1, "durability stops at the failure");
    assert!(w.append(&[rec(3)]).is_err(), "the writer refuses everything after it");
    assert!(w.commit().is_err());
    assert!(w.stop_sync_thread().is_err());
    // inline, the hook fails the same way
    let d = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(d.path(), Durability::None)).unwrap();
    w.set_sync_hook(Some(Arc::new(|_| Err(std::io::Error::other("no")))));
    w.append(&[rec(1)]).unwrap();
    assert!(w.commit().is_err());
    assert_eq!(w.durable_seq(), 0);
}
