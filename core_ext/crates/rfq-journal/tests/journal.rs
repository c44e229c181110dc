//! Journal format, writer, reader and recovery: round trips, rollover, every kind of damage.

use proptest::prelude::*;
use rfq_journal::format::{segment_path, COMMIT_FRAME, FRAME_HEADER, HEADER_SIZE, RECORD_FRAME};
use rfq_journal::{verify, Durability, JournalConfig, JournalError, JournalReader, JournalWriter};
use rfq_ring::{kind, Record};
use std::path::Path;

const FP: u64 = 0x5EED_F00D;

fn rec(i: u64) -> Record {
    Record {
        kind: kind::BOOK_LEVEL,
        instrument: (i % 7) as u16 + 1,
        side: (i % 2) as u8,
        flags: 1,
        source: 3,
        seq: i * 3,
        ts_event: i as i64 * 1000,
        ts_recv: i as i64 * 1001,
        price: 6_500_000 + i as i64,
        qty: i as i64,
        aux: -(i as i64),
        ts_send: 42 + i as i64,
    }
}

fn cfg(dir: &Path, seg: u64) -> JournalConfig {
    JournalConfig { dir: dir.to_path_buf(), fingerprint: FP, segment_bytes: seg, durability: Durability::None, key: None }
}

fn read_all(dir: &Path) -> Result<Vec<(u64, Record, Option<u64>)>, JournalError> {
    let mut v = Vec::new();
    JournalReader::open(dir, FP)?.for_each_from(1, |s, r, h| v.push((s, *r, h)))?;
    Ok(v)
}

/// Writes `blocks` commits of `per` records each (record i has out hash i*7 when `marked`).
fn write_blocks(dir: &Path, seg: u64, blocks: u64, per: u64) -> JournalWriter {
    let mut w = JournalWriter::open(cfg(dir, seg)).unwrap();
    for _ in 0..blocks {
        for _ in 0..per {
            let s = w.next_seq();
            w.append_marked(&rec(s), s * 7).unwrap();
        }
        w.commit().unwrap();
    }
    w
}

fn seg0(dir: &Path) -> std::path::PathBuf {
    segment_path(dir, 0)
}

#[test]
fn round_trip_marked_and_plain() {
    let d = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(d.path(), 1 << 20)).unwrap();
    assert_eq!(w.next_seq(), 1);
    w.append(&[rec(1), rec(2)]).unwrap();
    assert_eq!(w.pending(), 2);
    assert_eq!(w.commit().unwrap(), 2);
    w.append_marked(&rec(3), 99).unwrap();
    assert_eq!(w.commit().unwrap(), 3);
    assert_eq!(w.commit().unwrap(), 3, "empty commit is a no-op");
    w.append(&[rec(4)]).unwrap(); // never committed: lost on drop, never acknowledged
    drop(w);
    let v = read_all(d.path()).unwrap();
    assert_eq!(v, vec![(1, rec(1), None), (2, rec(2), None), (3, rec(3), Some(99))]);
    // from a sequence number
    let mut seqs = Vec::new();
    let sum = JournalReader::open(d.path(), FP).unwrap().for_each_from(3, |s, _, _| seqs.push(s)).unwrap();
    assert_eq!(seqs, [3]);
    assert_eq!((sum.delivered, sum.last_seq, sum.torn), (1, 3, None));
}

#[test]
fn reopen_continues_sequence_and_chain() {
    let d = tempfile::tempdir().unwrap();
    let w = write_blocks(d.path(), 1 << 20, 3, 5);
    let anchor = (w.committed_seq(), w.chain());
    drop(w);
    let mut w = JournalWriter::open(cfg(d.path(), 1 << 20)).unwrap();
    assert_eq!(w.recovery().last_seq, 15);
    assert_eq!(w.next_seq(), 16);
    assert_eq!(w.chain(), anchor.1);
    w.append(&[rec(16)]).unwrap();
    w.commit().unwrap();
    drop(w);
    let v = read_all(d.path()).unwrap();
    assert_eq!(v.len(), 16);
    assert!(v.iter().enumerate().all(|(i, (s, r, _))| *s == i as u64 + 1 && *r == rec(*s)));
    verify(d.path(), FP, None, Some(anchor)).unwrap();
    verify(d.path(), FP, None, Some((0, rfq_journal::format::genesis(FP)))).unwrap();
}

#[test]
fn rollover_links_segments() {
    let d = tempfile::tempdir().unwrap();
    let w = write_blocks(d.path(), 4096, 40, 7); // 40 × (7 × 88 + 56) bytes ≈ 27 KB
    let st = w.stats();
    drop(w);
    let r = JournalReader::open(d.path(), FP).unwrap();
    assert!(r.segments().len() >= 6, "{:?}", r.segments());
    assert_eq!(st.segments_created as usize, r.segments().len());
    let v = read_all(d.path()).unwrap();
    assert_eq!(v.len(), 280);
    assert!(v.iter().all(|(s, r, h)| *r == rec(*s) && *h == Some(s * 7)));
    // a block never spans segments: every segment ends in a commit
    for &i in r.segments() {
        let len = std::fs::metadata(segment_path(d.path(), i)).unwrap().len();
        assert_eq!((len - HEADER_SIZE as u64) % (7 * RECORD_FRAME + COMMIT_FRAME) as u64, 0);
    }
    // reopening a full segment rolls over at the next commit
    let mut w = JournalWriter::open(cfg(d.path(), 4096)).unwrap();
    w.append(&[rec(281)]).unwrap();
    w.commit().unwrap();
    drop(w);
    assert_eq!(read_all(d.path()).unwrap().len(), 281);
}

#[test]
fn torn_last_record_at_every_byte_offset() {
    let src = tempfile::tempdir().unwrap();
    drop(write_blocks(src.path(), 1 << 20, 3, 4));
    let good_len = std::fs::metadata(seg0(src.path())).unwrap().len() as usize;
    let mut w = JournalWriter::open(cfg(src.path(), 1 << 20)).unwrap();
    w.append(&[rec(13)]).unwrap();
    w.commit().unwrap();
    drop(w);
    let full = std::fs::read(seg0(src.path())).unwrap();
    assert_eq!(full.len(), good_len + RECORD_FRAME + COMMIT_FRAME);
    for cut in good_len..full.len() {
        for garbage in [None, Some(0_u8), Some(0xA5)] {
            let d = tempfile::tempdir().unwrap();
            let mut bytes = full[..cut].to_vec();
            if let Some(g) = garbage {
                bytes.resize(full.len(), g); // the rest of the write landed as garbage
            }
            std::fs::write(seg0(d.path()), &bytes).unwrap();
            let v = read_all(d.path()).unwrap();
            assert_eq!(v.len(), 12, "cut {cut} {garbage:?}");
            let sum = JournalReader::open(d.path(), FP).unwrap().for_each_from(1, |_, _, _| {}).unwrap();
            let torn = sum.torn.clone();
            assert_eq!(torn.is_some(), bytes.len() > good_len, "cut {cut}");
            let mut w = JournalWriter::open(cfg(d.path(), 1 << 20)).unwrap();
            assert_eq!(w.recovery().torn, torn);
            assert_eq!(w.recovery().last_seq, 12);
            assert_eq!(std::fs::metadata(seg0(d.path())).unwrap().len() as usize, good_len);
            w.append(&[rec(13), rec(14)]).unwrap();
            assert_eq!(w.commit().unwrap(), 14);
            drop(w);
            let v = read_all(d.path()).unwrap();
            assert_eq!(v.len(), 14);
            assert!(v.iter().all(|(s, r, _)| *r == rec(*s)));
        }
    }
}

#[test]
fn bad_crc_mid_segment_is_refused_with_file_and_offset() {
    let d = tempfile::tempdir().unwrap();
    drop(write_blocks(d.path(), 1 << 20, 3, 4));
    let path = seg0(d.path());
    let mut b = std::fs::read(&path).unwrap();
    let frame = HEADER_SIZE + 4 * RECORD_FRAME + COMMIT_FRAME + RECORD_FRAME; // block 2, record 2
    b[frame + FRAME_HEADER + 33] ^= 0x10;
    std::fs::write(&path, &b).unwrap();
    for e in [read_all(d.path()).unwrap_err(), JournalWriter::open(cfg(d.path(), 1 << 20)).unwrap_err()] {
        match e {
            JournalError::BadCrc { path: p, offset } => {
                assert_eq!(p, path);
                assert_eq!(offset, frame as u64);
            }
            e => panic!("{e}"),
        }
    }
    // the file was not touched by the refused open
    assert_eq!(std::fs::read(&path).unwrap(), b);
    let msg = read_all(d.path()).unwrap_err().to_string();
    assert!(msg.contains("seg-0000000000.rfqj") && msg.contains(&format!("offset {frame}")), "{msg}");
}

#[test]
fn bad_crc_in_an_earlier_segment_and_damaged_commit() {
    let d = tempfile::tempdir().unwrap();
    drop(write_blocks(d.path(), 4096, 30, 5));
    // a damaged commit frame mid-segment
    let p0 = segment_path(d.path(), 0);
    let mut b = std::fs::read(&p0).unwrap();
    let commit = HEADER_SIZE + 5 * RECORD_FRAME;
    b[commit + FRAME_HEADER] ^= 1;
    std::fs::write(&p0, &b).unwrap();
    assert!(matches!(read_all(d.path()), Err(JournalError::BadCrc { offset, .. }) if offset == commit as u64));
    // the tail of a segment that is not the last cannot be torn
    b[commit + FRAME_HEADER] ^= 1;
    let last = b.len() - 1;
    b[last] ^= 1;
    std::fs::write(&p0, &b).unwrap();
    assert!(matches!(read_all(d.path()), Err(JournalError::BadCrc { path, .. }) if path == p0));
    b.truncate(last - 3);
    std::fs::write(&p0, &b).unwrap();
    assert!(matches!(read_all(d.path()), Err(JournalError::BadFrame { path, .. }) if path == p0));
}

#[test]
fn chain_detects_edits_with_fixed_crc() {
    let d = tempfile::tempdir().unwrap();
    drop(write_blocks(d.path(), 1 << 20, 3, 4));
    let path = seg0(d.path());
    let orig = std::fs::read(&path).unwrap();
    let block = 4 * RECORD_FRAME + COMMIT_FRAME;
    // edit the price of record 6 (block 2) and fix the frame CRC
    let mut b = orig.clone();
    let frame = HEADER_SIZE + block + RECORD_FRAME;
    b[frame + FRAME_HEADER + 32] ^= 0x01;
    let crc = crc32c::crc32c(&b[frame + 4..frame + RECORD_FRAME]);
    b[frame..frame + 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    let commit = HEADER_SIZE + block + 4 * RECORD_FRAME;
    for e in [read_all(d.path()).unwrap_err(), JournalWriter::open(cfg(d.path(), 1 << 20)).unwrap_err()] {
        assert!(matches!(&e, JournalError::ChainBroken { path: p, offset } if *p == path && *offset == commit as u64), "{e}");
    }
    // swap two whole record frames of a block and fix their sequence numbers and CRCs
    let mut b = orig.clone();
    let (f1, f2) = (HEADER_SIZE, HEADER_SIZE + RECORD_FRAME);
    let (x, y) = (b[f1..f2].to_vec(), b[f2..f2 + RECORD_FRAME].to_vec());
    b[f1..f2].copy_from_slice(&y);
    b[f2..f2 + RECORD_FRAME].copy_from_slice(&x);
    for (f, s) in [(f1, 1_u64), (f2, 2)] {
        b[f + 8..f + 16].copy_from_slice(&s.to_le_bytes());
        let crc = crc32c::crc32c(&b[f + 4..f + RECORD_FRAME]);
        b[f..f + 4].copy_from_slice(&crc.to_le_bytes());
    }
    std::fs::write(&path, &b).unwrap();
    assert!(matches!(read_all(d.path()), Err(JournalError::ChainBroken { offset, .. }) if offset == (HEADER_SIZE + 4 * RECORD_FRAME) as u64));
    // remove a whole block from the middle
    let mut b = orig.clone();
    b.drain(HEADER_SIZE + block..HEADER_SIZE + 2 * block);
    std::fs::write(&path, &b).unwrap();
    assert!(matches!(read_all(d.path()), Err(JournalError::SequenceGap { expected: 5, found: 9, .. })));
}

#[test]
fn missing_renamed_and_cut_segments() {
    let d = tempfile::tempdir().unwrap();
    let w = write_blocks(d.path(), 4096, 30, 5);
    let anchor = (w.committed_seq(), w.chain());
    drop(w);
    let n = JournalReader::open(d.path(), FP).unwrap().segments().len() as u64;
    assert!(n >= 4);
    let (p1, p2) = (segment_path(d.path(), 1), segment_path(d.path(), 2));
    let saved = std::fs::read(&p1).unwrap();
    std::fs::remove_file(&p1).unwrap();
    assert!(matches!(JournalReader::open(d.path(), FP), Err(JournalError::MissingSegment { index: 1, .. })));
    assert!(matches!(JournalWriter::open(cfg(d.path(), 4096)), Err(JournalError::MissingSegment { index: 1, .. })));
    // segment 2 renamed into the hole: its header says 2
    std::fs::rename(&p2, &p1).unwrap();
    std::fs::write(&p2, std::fs::read(segment_path(d.path(), 3)).unwrap()).unwrap(); // and 3 copied into 2
    assert!(matches!(read_all(d.path()), Err(JournalError::BadHeader { path, why }) if path == p1 && why.contains("renamed")));
    std::fs::rename(&p1, &p2).unwrap();
    std::fs::write(&p1, saved).unwrap();
    verify(d.path(), FP, None, Some(anchor)).unwrap();
    // the last segment deleted: consistent on its own, caught only by the anchor
    std::fs::remove_file(segment_path(d.path(), n - 1)).unwrap();
    verify(d.path(), FP, None, None).unwrap();
    assert!(matches!(verify(d.path(), FP, None, Some(anchor)), Err(JournalError::AnchorMismatch { .. })));
    // a segment from another journal (same fingerprint) spliced in: the carried chain differs
    let other = tempfile::tempdir().unwrap();
    drop(write_blocks(other.path(), 4096, 30, 4));
    std::fs::copy(segment_path(other.path(), 1), segment_path(d.path(), 1)).unwrap();
    assert!(matches!(read_all(d.path()), Err(JournalError::SequenceGap { offset: 0, .. } | JournalError::ChainBroken { offset: 0, .. })));
}

#[test]
fn fingerprint_mismatch_is_refused() {
    let d = tempfile::tempdir().unwrap();
    drop(write_blocks(d.path(), 1 << 20, 1, 1));
    let e = JournalReader::open(d.path(), FP + 1).unwrap().for_each_from(1, |_, _, _| {}).unwrap_err();
    assert!(matches!(e, JournalError::FingerprintMismatch { expected, found, .. } if expected == FP + 1 && found == FP));
    let mut c = cfg(d.path(), 1 << 20);
    c.fingerprint = 7;
    assert!(matches!(JournalWriter::open(c), Err(JournalError::FingerprintMismatch { .. })));
}

#[test]
fn empty_and_half_created_segments() {
    let d = tempfile::tempdir().unwrap();
    assert!(matches!(JournalReader::open(d.path(), FP), Err(JournalError::Empty { .. })));
    drop(write_blocks(d.path(), 4096, 10, 5));
    let n = JournalReader::open(d.path(), FP).unwrap().segments().len() as u64;
    // a crash while creating the next segment left a header-less file
    let half = segment_path(d.path(), n);
    std::fs::write(&half, [0_u8; 40]).unwrap();
    let mut w = JournalWriter::open(cfg(d.path(), 4096)).unwrap();
    assert_eq!(w.recovery().removed_segment.as_deref(), Some(half.as_path()));
    assert_eq!(w.recovery().last_seq, 50);
    w.append(&[rec(51)]).unwrap();
    w.commit().unwrap();
    drop(w);
    assert_eq!(read_all(d.path()).unwrap().len(), 51);
    // a bad header in the last segment that is not all zeros is refused
    std::fs::write(segment_path(d.path(), n + 5), [0x5A_u8; 200]).unwrap();
    assert!(matches!(JournalWriter::open(cfg(d.path(), 4096)), Err(JournalError::MissingSegment { .. })));
    std::fs::remove_file(segment_path(d.path(), n + 5)).unwrap();
    std::fs::write(&half, [0x5A_u8; 200]).unwrap();
    assert!(matches!(JournalWriter::open(cfg(d.path(), 4096)), Err(JournalError::BadHeader { .. })));
}

#[test]
fn durability_policies() {
    for (pol, syncs) in [
        (Durability::None, 0),
        (Durability::FsyncEach, 4),
        (Durability::GroupCommit { max_records: 3, max_ns: u64::MAX }, 1),
    ] {
        let d = tempfile::tempdir().unwrap();
        let mut c = cfg(d.path(), 1 << 20);
        c.durability = pol;
        let mut w = JournalWriter::open(c).unwrap();
        let mut durable = Vec::new();
        for i in 1..=4 {
            w.append(&[rec(i)]).unwrap();
            durable.push(w.commit().unwrap());
        }
        assert_eq!(w.committed_seq(), 4);
        match pol {
            Durability::GroupCommit { .. } => {
                assert_eq!(durable, [0, 0, 3, 3]);
                assert!(w.sync_pending());
                assert_eq!(w.sync_if_due().unwrap(), 3);
                assert_eq!(w.sync().unwrap(), 4);
            }
            _ => assert_eq!(durable, [1, 2, 3, 4]),
        }
        assert_eq!(w.stats().syncs, syncs + u64::from(matches!(pol, Durability::GroupCommit { .. })), "{pol:?}");
        assert!(!w.sync_pending());
    }
    // the group timer
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path(), 1 << 20);
    c.durability = Durability::GroupCommit { max_records: 1000, max_ns: 2_000_000 };
    let mut w = JournalWriter::open(c).unwrap();
    w.append(&[rec(1)]).unwrap();
    assert_eq!(w.commit().unwrap(), 0);
    std::thread::sleep(std::time::Duration::from_millis(3));
    assert_eq!(w.sync_if_due().unwrap(), 1);
}

#[test]
fn big_block_written_in_pieces() {
    // more than the 1 MiB buffer in one block: the early pieces are a torn tail until committed
    let d = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(d.path(), 64 << 20)).unwrap();
    let n = 30_000_u64;
    for i in 1..=n {
        w.append(&[rec(i)]).unwrap();
    }
    let pieces = std::fs::metadata(seg0(d.path())).unwrap().len();
    assert!(pieces > HEADER_SIZE as u64);
    let sum = JournalReader::open(d.path(), FP).unwrap().for_each_from(1, |_, _, _| {}).unwrap();
    assert_eq!(sum.last_seq, 0);
    assert_eq!(sum.torn.map(|t| t.offset), Some(HEADER_SIZE as u64));
    w.commit().unwrap();
    drop(w);
    let v = read_all(d.path()).unwrap();
    assert_eq!(v.len() as u64, n);
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    Commit,
    Reopen,
    /// Drop the writer with its pending records, then garbage the tail as a torn write would.
    Crash(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1_u8..20).prop_map(Op::Append),
        3 => Just(Op::Commit),
        1 => Just(Op::Reopen),
        1 => (0_u8..100, any::<u8>()).prop_map(|(n, g)| Op::Crash(n, g)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_append_commit_reopen(ops in proptest::collection::vec(op(), 1..60)) {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path(), 4096);
        let mut w = JournalWriter::open(c.clone()).unwrap();
        let mut committed: Vec<Record> = Vec::new();
        let mut pending: Vec<Record> = Vec::new();
        let mut counter = 0_u64;
        for o in ops {
            match o {
                Op::Append(n) => for _ in 0..n {
                    counter += 1;
                    let r = rec(counter);
                    w.append(&[r]).unwrap();
                    pending.push(r);
                },
                Op::Commit => {
                    let seq = w.commit().unwrap();
                    committed.append(&mut pending);
                    prop_assert_eq!(seq, committed.len() as u64);
                }
                Op::Reopen => {
                    drop(w);
                    pending.clear();
                    w = JournalWriter::open(c.clone()).unwrap();
                    prop_assert_eq!(w.recovery().torn.clone(), None);
                }
                Op::Crash(n, g) => {
                    drop(w);
                    pending.clear();
                    let last = *JournalReader::open(d.path(), FP).unwrap().segments().last().unwrap();
                    let p = segment_path(d.path(), last);
                    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
                    std::io::Write::write_all(&mut f, &vec![g; n as usize]).unwrap();
                    drop(f);
                    w = JournalWriter::open(c.clone()).unwrap();
                    prop_assert_eq!(w.recovery().torn.is_some(), n > 0);
                }
            }
            prop_assert_eq!(w.next_seq(), committed.len() as u64 + pending.len() as u64 + 1);
        }
        drop(w);
        let v = read_all(d.path()).unwrap();
        prop_assert_eq!(v.len(), committed.len());
        for ((s, r, _), want) in v.iter().zip(&committed) {
            prop_assert_eq!(r, want, "seq {}", s);
        }
    }
}

/// Anchors taken at every commit while writing (the `(seq, chain)` a snapshot records).
fn write_anchored(dir: &Path, seg: u64, blocks: u64, per: u64) -> (JournalWriter, Vec<(u64, rfq_journal::Chain)>) {
    let mut w = JournalWriter::open(cfg(dir, seg)).unwrap();
    let mut anchors = vec![(0, w.chain())];
    for _ in 0..blocks {
        for _ in 0..per {
            let s = w.next_seq();
            w.append_marked(&rec(s), s * 7).unwrap();
        }
        w.commit().unwrap();
        anchors.push((w.committed_seq(), w.chain()));
    }
    (w, anchors)
}

#[test]
fn read_after_anchor_across_segments_and_after_pruning() {
    let d = tempfile::tempdir().unwrap();
    // 4096-byte segments of 10-record blocks (~936 bytes): 4 blocks per segment
    let (w, anchors) = write_anchored(d.path(), 4096, 30, 10);
    drop(w);
    let all = read_all(d.path()).unwrap();
    assert!(JournalReader::open(d.path(), FP).unwrap().segments().len() > 5);
    for &(seq, chain) in &anchors {
        let mut got = Vec::new();
        let sum = JournalReader::open_pruned(d.path(), FP).unwrap().for_each_after((seq, chain), |s, r, h| got.push((s, *r, h))).unwrap();
        assert_eq!(got, all[seq as usize..].to_vec(), "anchor {seq}");
        assert_eq!(sum.last_seq, 300);
    }
    // not a commit boundary, wrong chain, beyond the end
    let (s5, c5) = anchors[5];
    for bad in [(s5 + 1, c5), (s5, anchors[4].1), (400, c5)] {
        let e = JournalReader::open_pruned(d.path(), FP).unwrap().for_each_after(bad, |_, _, _| {}).unwrap_err();
        assert!(matches!(e, JournalError::AnchorMismatch { .. }), "{bad:?}: {e}");
    }
    // prune everything before the commit at 150: reading after it still works, from 0 not
    let (s15, c15) = anchors[15];
    let removed = rfq_journal::prune_before(d.path(), FP, s15).unwrap();
    assert!(!removed.is_empty());
    let r = JournalReader::open_pruned(d.path(), FP).unwrap();
    assert!(r.first_seq().unwrap() <= s15 + 1 && r.first_seq().unwrap() > 1);
    let mut got = Vec::new();
    JournalReader::open_pruned(d.path(), FP).unwrap().for_each_after((s15, c15), |s, r, h| got.push((s, *r, h))).unwrap();
    assert_eq!(got, all[s15 as usize..].to_vec());
    assert!(matches!(JournalReader::open(d.path(), FP).unwrap_err(), JournalError::MissingSegment { index: 0, .. }));
    let e = JournalReader::open_pruned(d.path(), FP).unwrap().for_each_after(anchors[2], |_, _, _| {}).unwrap_err();
    assert!(e.to_string().contains("pruned"), "{e}");
    // the writer reopens a pruned journal and continues it
    let mut w = JournalWriter::open(cfg(d.path(), 4096)).unwrap();
    assert_eq!(w.next_seq(), 301);
    w.append(&[rec(301)]).unwrap();
    w.commit().unwrap();
    let mut n = 0;
    JournalReader::open_pruned(d.path(), FP).unwrap().for_each_after((s15, c15), |_, _, _| n += 1).unwrap();
    assert_eq!(n, 301 - s15);
}

#[test]
fn open_after_continues_another_journal_like_a_pruned_one() {
    // the original: 10 blocks of 10; a second journal takes over after the 6th commit
    let a = tempfile::tempdir().unwrap();
    let mut w = write_blocks(a.path(), 1 << 20, 6, 10);
    let (seq, chain) = (w.committed_seq(), w.chain());
    assert_eq!(seq, 60);
    for _ in 0..4 {
        for _ in 0..10 {
            let s = w.next_seq();
            w.append_marked(&rec(s), s * 7).unwrap();
        }
        w.commit().unwrap();
    }
    drop(w);
    let all = read_all(a.path()).unwrap();
    let b = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open_after(cfg(b.path(), 1 << 20), seq, chain).unwrap();
    assert_eq!(w.next_seq(), 61);
    for blk in all[60..].chunks(10) {
        for (_, r, h) in blk {
            w.append_marked(r, h.unwrap()).unwrap();
        }
        w.commit().unwrap();
    }
    drop(w);
    // the tail reads back after the anchor; from segment 0 it is refused; a wrong anchor too
    let mut got = Vec::new();
    JournalReader::open_pruned(b.path(), FP).unwrap().for_each_after((seq, chain), |s, r, h| got.push((s, *r, h))).unwrap();
    assert_eq!(got, all[60..].to_vec());
    assert!(matches!(JournalReader::open(b.path(), FP).unwrap_err(), JournalError::MissingSegment { index: 0, .. }));
    let e = JournalReader::open_pruned(b.path(), FP).unwrap().for_each_after((seq, [7; 32]), |_, _, _| {}).unwrap_err();
    assert!(matches!(e, JournalError::AnchorMismatch { .. }), "{e}");
    // reopened, it continues; a directory that holds a journal is refused
    let mut w = JournalWriter::open(cfg(b.path(), 1 << 20)).unwrap();
    assert_eq!(w.next_seq(), 101);
    w.append(&[rec(101)]).unwrap();
    w.commit().unwrap();
    drop(w);
    let e = JournalWriter::open_after(cfg(b.path(), 1 << 20), seq, chain).unwrap_err();
    assert!(matches!(e, JournalError::Config(_)), "{e}");
}
