//! Keyed chain (docs/journal.md, "Keyed chain"): an edit re-chained without the key is caught,
//! a keyed journal is refused in one line without its key or with another, unkeyed journals
//! written before the chain could be keyed still read (fixture), and recovery works keyed.

use rfq_journal::format::{segment_path, COMMIT_FRAME, FRAME_HEADER, HEADER_SIZE, RECORD_FRAME, T_COMMIT};
use rfq_journal::{key_id_hex, verify, Durability, JournalConfig, JournalError, JournalKey, JournalReader, JournalWriter, ReadSummary};
use rfq_ring::{kind, Record};
use std::path::{Path, PathBuf};

const FP: u64 = 0x5EED_F00D;
const DESK: &str = "00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f";

fn desk() -> JournalKey {
    JournalKey::from_secret(DESK).unwrap()
}

fn other() -> JournalKey {
    JournalKey::from_secret("not the desk key, a passphrase").unwrap()
}

/// The records of tests/journal.rs (and of the fixture).
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

fn cfg(dir: &Path, seg: u64, key: Option<JournalKey>) -> JournalConfig {
    JournalConfig { dir: dir.to_path_buf(), fingerprint: FP, segment_bytes: seg, durability: Durability::None, key }
}

/// `blocks` commits of `per` records (record s marked with s * 7).
fn write_blocks(w: &mut JournalWriter, blocks: u64, per: u64) {
    for _ in 0..blocks {
        for _ in 0..per {
            let s = w.next_seq();
            w.append_marked(&rec(s), s * 7).unwrap();
        }
        w.commit().unwrap();
    }
}

fn read_all(dir: &Path, key: Option<JournalKey>) -> Result<(Vec<(u64, Record, Option<u64>)>, ReadSummary), JournalError> {
    let mut v = Vec::new();
    let sum = JournalReader::open(dir, FP)?.with_key(key).for_each_from(1, |s, r, h| v.push((s, *r, h)))?;
    Ok((v, sum))
}

/// What someone with write access but without the key can do after an edit: recompute every
/// frame CRC and every block's chain value with `hasher` (plain BLAKE3 unless they guess a
/// key) for the blocks from the one holding offset `from` on (those before keep their genuine
/// chain values). Returns the chain after the last block.
fn rechain_from(b: &mut [u8], from: usize, hasher: impl Fn() -> blake3::Hasher) -> [u8; 32] {
    let mut chain: [u8; 32] = b[48..80].try_into().unwrap();
    let (mut block_start, mut off) = (HEADER_SIZE, HEADER_SIZE);
    while off < b.len() {
        let len = u16::from_le_bytes([b[off + 6], b[off + 7]]) as usize;
        if b[off + 4] == T_COMMIT && off < from {
            chain = b[off + FRAME_HEADER..off + COMMIT_FRAME].try_into().unwrap();
            block_start = off + COMMIT_FRAME;
        } else if b[off + 4] == T_COMMIT {
            let mut h = hasher();
            h.update(&chain);
            h.update(&b[block_start..off]);
            h.update(&b[off + 4..off + FRAME_HEADER]);
            chain = *h.finalize().as_bytes();
            b[off + FRAME_HEADER..off + COMMIT_FRAME].copy_from_slice(&chain);
            block_start = off + COMMIT_FRAME;
        }
        let crc = crc32c::crc32c(&b[off + 4..off + FRAME_HEADER + len]);
        b[off..off + 4].copy_from_slice(&crc.to_le_bytes());
        off += FRAME_HEADER + len;
    }
    chain
}

/// [`rechain_from`] the whole segment, from its header's `chain_in`.
fn rechain(b: &mut [u8], hasher: impl Fn() -> blake3::Hasher) -> [u8; 32] {
    rechain_from(b, 0, hasher)
}

/// Flips a bit of the price of the record frame at `frame`.
fn edit_price(b: &mut [u8], frame: usize) {
    b[frame + FRAME_HEADER + 32] ^= 0x01;
}

/// Rewrites a segment header as an unkeyed (version 1) one, CRC fixed.
fn strip_key(b: &mut [u8]) {
    b[8..12].copy_from_slice(&1_u32.to_le_bytes());
    b[80..88].fill(0);
    let crc = crc32c::crc32c(&b[..124]);
    b[124..128].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn an_edit_rechained_without_the_key_is_caught_when_keyed() {
    let block = 4 * RECORD_FRAME + COMMIT_FRAME;
    let frame = HEADER_SIZE + block + RECORD_FRAME; // record 6, in block 2
    let commit = (HEADER_SIZE + 2 * block - COMMIT_FRAME) as u64;

    // unkeyed: the edit re-chained with plain BLAKE3 passes — the weakness keying removes
    let d = tempfile::tempdir().unwrap();
    write_blocks(&mut JournalWriter::open(cfg(d.path(), 1 << 20, None)).unwrap(), 3, 4);
    let path = segment_path(d.path(), 0);
    let mut b = std::fs::read(&path).unwrap();
    edit_price(&mut b, frame);
    rechain(&mut b, blake3::Hasher::new);
    std::fs::write(&path, &b).unwrap();
    let (v, _) = read_all(d.path(), None).unwrap();
    assert_ne!(v[5].1, rec(6), "the forged record reads back as genuine");

    // keyed: the same edit, re-chained with plain BLAKE3 or with a guessed key, is refused
    let d = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(d.path(), 1 << 20, Some(desk()))).unwrap();
    write_blocks(&mut w, 3, 4);
    let anchor = (w.committed_seq(), w.chain());
    drop(w);
    let path = segment_path(d.path(), 0);
    let orig = std::fs::read(&path).unwrap();
    assert_eq!(&orig[8..12], &2_u32.to_le_bytes(), "keyed segments are version 2");
    assert_eq!(orig[80..88], desk().id(), "the header carries the key id");
    let raw: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&DESK[2 * i..2 * i + 2], 16).unwrap()).collect();
    assert!(!orig.windows(32).any(|w| w == raw), "never the key");
    let sum = verify(d.path(), FP, Some(&desk()), Some(anchor)).unwrap();
    assert_eq!((sum.last_seq, sum.key_id, sum.unkeyed_segments), (12, Some(desk().id()), 0));
    let guessed = other();
    for forge in [&blake3::Hasher::new as &dyn Fn() -> blake3::Hasher, &|| blake3::Hasher::new_keyed(&[7; 32])] {
        let mut b = orig.clone();
        edit_price(&mut b, frame);
        rechain_from(&mut b, frame, forge);
        std::fs::write(&path, &b).unwrap();
        for e in [
            verify(d.path(), FP, Some(&desk()), None).unwrap_err(),
            read_all(d.path(), Some(desk())).unwrap_err(),
            JournalWriter::open(cfg(d.path(), 1 << 20, Some(desk()))).unwrap_err(),
        ] {
            assert!(matches!(&e, JournalError::ChainBroken { path: p, offset } if *p == path && *offset == commit), "{e}");
        }
    }
    // a forger who also claims their own key id is refused as a wrong key, not believed
    let mut b = orig.clone();
    edit_price(&mut b, frame);
    b[80..88].copy_from_slice(&guessed.id());
    let crc = crc32c::crc32c(&b[..124]);
    b[124..128].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    assert!(matches!(verify(d.path(), FP, Some(&desk()), None), Err(JournalError::WrongKey { .. })));
}

#[test]
fn a_keyed_journal_cannot_be_partly_downgraded_and_a_whole_downgrade_shows() {
    let d = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(d.path(), 4096, Some(desk()))).unwrap();
    write_blocks(&mut w, 30, 3); // several segments
    drop(w);
    let segs = JournalReader::open(d.path(), FP).unwrap().segments().to_vec();
    assert!(segs.len() >= 3, "{segs:?}");
    let orig: Vec<Vec<u8>> = segs.iter().map(|&i| std::fs::read(segment_path(d.path(), i)).unwrap()).collect();
    // the last segment rewritten unkeyed (edit, plain chain from its chain_in): refused
    let last = segment_path(d.path(), *segs.last().unwrap());
    let mut b = orig.last().unwrap().clone();
    edit_price(&mut b, HEADER_SIZE);
    strip_key(&mut b);
    rechain(&mut b, blake3::Hasher::new);
    std::fs::write(&last, &b).unwrap();
    for e in [read_all(d.path(), Some(desk())).unwrap_err(), JournalWriter::open(cfg(d.path(), 4096, Some(desk()))).unwrap_err()] {
        assert!(matches!(&e, JournalError::BadHeader { path, why } if *path == last && why.contains("unkeyed segment after a keyed one")), "{e}");
    }
    // every segment rewritten unkeyed reads as an unkeyed journal: not detectable from the
    // journal alone, but reported (key_id None), and `rfqcore replay-journal --require-keyed`
    // refuses it
    let mut chain = rfq_journal::format::genesis(FP);
    for (k, &i) in segs.iter().enumerate() {
        let mut b = orig[k].clone();
        if k == 0 {
            edit_price(&mut b, HEADER_SIZE);
        }
        strip_key(&mut b);
        b[48..80].copy_from_slice(&chain);
        let crc = crc32c::crc32c(&b[..124]);
        b[124..128].copy_from_slice(&crc.to_le_bytes());
        chain = rechain(&mut b, blake3::Hasher::new);
        std::fs::write(segment_path(d.path(), i), &b).unwrap();
    }
    let sum = verify(d.path(), FP, Some(&desk()), None).unwrap();
    assert_eq!((sum.key_id, sum.unkeyed_segments), (None, segs.len() as u64));
}

#[test]
fn missing_or_wrong_key_is_refused_in_one_line() {
    let d = tempfile::tempdir().unwrap();
    write_blocks(&mut JournalWriter::open(cfg(d.path(), 1 << 20, Some(desk()))).unwrap(), 2, 2);
    let seg = segment_path(d.path(), 0);
    let id = key_id_hex(&desk().id());
    let missing = format!(
        "{}: journal keyed with key id {id}, but RFQCORE_JOURNAL_KEY is not set: set RFQCORE_JOURNAL_KEY to the desk key it was written with",
        seg.display()
    );
    let wrong = format!(
        "{}: journal keyed with key id {id}, but RFQCORE_JOURNAL_KEY is key id {}: set RFQCORE_JOURNAL_KEY to the desk key it was written with",
        seg.display(),
        key_id_hex(&other().id())
    );
    for (key, want) in [(None, &missing), (Some(other()), &wrong)] {
        for e in [
            verify(d.path(), FP, key.as_ref(), None).unwrap_err(),
            read_all(d.path(), key.clone()).unwrap_err(),
            JournalWriter::open(cfg(d.path(), 1 << 20, key.clone())).unwrap_err(),
        ] {
            assert_eq!(&e.to_string(), want);
        }
    }
    assert!(!missing.contains('\n') && !wrong.contains('\n'));
    // a key too short to be one
    let e = JournalKey::from_secret("hunter2").unwrap_err();
    assert_eq!(
        e.to_string(),
        "RFQCORE_JOURNAL_KEY holds 7 bytes: set it to 64 hex digits (32 random bytes, e.g. `openssl rand -hex 32`) or a passphrase of at least 16 characters"
    );
    // the right key, given as hex or as the same bytes, reads it
    assert_eq!(read_all(d.path(), Some(desk())).unwrap().0.len(), 4);
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/unkeyed-v1")
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// The fixture's contents: 20 commits of 1..=5 records (b % 5 + 1), 4096-byte segments.
fn write_fixture_records(w: &mut JournalWriter) {
    for b in 0..20_u64 {
        write_blocks(w, 1, b % 5 + 1);
    }
}

#[test]
fn unkeyed_journals_written_before_keying_still_verify_and_go_on_keyed() {
    // tests/data/unkeyed-v1: written by the writer before the chain could be keyed (2b9b279)
    const CHAIN: &str = "05ad5a90f87e916e1a355f0efab7937de33743e657e6461e383f4d0ea88658a2";
    let hex = |c: &[u8; 32]| c.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for key in [None, Some(desk())] {
        let sum = verify(fixture(), FP, key.as_ref(), None).unwrap();
        assert_eq!((sum.segments, sum.last_seq, sum.key_id, sum.unkeyed_segments), (2, 60, None, 2));
        assert_eq!(hex(&sum.chain), CHAIN);
        let (v, _) = read_all(&fixture(), key).unwrap();
        assert!(v.iter().enumerate().all(|(i, (s, r, h))| *s == i as u64 + 1 && *r == rec(*s) && *h == Some(s * 7)));
    }
    // today's unkeyed writer still writes exactly that format, byte for byte
    let d = tempfile::tempdir().unwrap();
    write_fixture_records(&mut JournalWriter::open(cfg(d.path(), 4096, None)).unwrap());
    for i in 0..2 {
        assert_eq!(std::fs::read(segment_path(d.path(), i)).unwrap(), std::fs::read(segment_path(&fixture(), i)).unwrap(), "segment {i}");
    }
    assert!(!segment_path(d.path(), 2).exists());

    // opened with a key, it goes on in a new, keyed segment
    let d = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), d.path());
    let mut w = JournalWriter::open(cfg(d.path(), 4096, Some(desk()))).unwrap();
    assert_eq!(w.recovery().last_seq, 60);
    write_blocks(&mut w, 2, 3);
    assert_eq!(w.segment_path(), segment_path(d.path(), 2));
    drop(w);
    let sum = verify(d.path(), FP, Some(&desk()), None).unwrap();
    assert_eq!((sum.segments, sum.last_seq, sum.key_id, sum.unkeyed_segments), (3, 66, Some(desk().id()), 2));
    assert!(matches!(verify(d.path(), FP, None, None), Err(JournalError::KeyMissing { path, .. }) if path == segment_path(d.path(), 2)));
    // ... whose keyed chain pins the unkeyed segments before it: an edit of segment 1
    // re-chained with plain BLAKE3 no longer links
    let s1 = segment_path(d.path(), 1);
    let mut b = std::fs::read(&s1).unwrap();
    edit_price(&mut b, HEADER_SIZE);
    rechain(&mut b, blake3::Hasher::new);
    std::fs::write(&s1, &b).unwrap();
    assert!(matches!(
        verify(d.path(), FP, Some(&desk()), None),
        Err(JournalError::ChainBroken { path, offset: 0 }) if path == segment_path(d.path(), 2)
    ));
}

#[test]
fn keyed_recovery_truncates_a_torn_tail_and_continues_the_keyed_chain() {
    let d = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(cfg(d.path(), 1 << 20, Some(desk()))).unwrap();
    write_blocks(&mut w, 3, 4);
    let anchor = (w.committed_seq(), w.chain());
    drop(w);
    let path = segment_path(d.path(), 0);
    let good = std::fs::metadata(&path).unwrap().len();
    // a crash mid-write: one record frame and half a commit frame
    let mut w = JournalWriter::open(cfg(d.path(), 1 << 20, Some(desk()))).unwrap();
    write_blocks(&mut w, 1, 1);
    drop(w);
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - COMMIT_FRAME / 2]).unwrap();
    assert!(matches!(JournalWriter::open(cfg(d.path(), 1 << 20, None)), Err(JournalError::KeyMissing { .. })));
    let mut w = JournalWriter::open(cfg(d.path(), 1 << 20, Some(desk()))).unwrap();
    let torn = w.recovery().torn.clone().unwrap();
    assert_eq!((torn.offset, w.recovery().last_seq), (good, 12));
    assert_eq!(w.chain(), anchor.1);
    write_blocks(&mut w, 2, 5);
    drop(w);
    let (v, sum) = read_all(d.path(), Some(desk())).unwrap();
    assert_eq!(v.len(), 22);
    assert!(v.iter().all(|(s, r, _)| *r == rec(*s)));
    assert_eq!(sum.torn, None);
    verify(d.path(), FP, Some(&desk()), Some(anchor)).unwrap();
}

#[test]
fn the_sync_thread_writes_the_same_keyed_journal() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut inline = JournalWriter::open(cfg(a.path(), 4096, Some(desk()))).unwrap();
    write_blocks(&mut inline, 40, 3);
    let mut bg = JournalWriter::open(cfg(b.path(), 4096, Some(desk()))).unwrap();
    bg.start_sync_thread().unwrap();
    write_blocks(&mut bg, 40, 3);
    bg.stop_sync_thread().unwrap();
    assert_eq!(inline.chain(), bg.chain());
    drop((inline, bg));
    let segs = JournalReader::open(a.path(), FP).unwrap().segments().to_vec();
    assert!(segs.len() >= 3);
    for i in segs {
        assert_eq!(std::fs::read(segment_path(a.path(), i)).unwrap(), std::fs::read(segment_path(b.path(), i)).unwrap());
    }
    assert_eq!(verify(b.path(), FP, Some(&desk()), None).unwrap().last_seq, 120);
}
