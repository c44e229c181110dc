//! Ring files: header validation, reopening, two mappings of one /dev/shm file, two processes.

mod common;

use common::{check, rec, ShmPath};
use rfq_ring::layout::{
    OFF_CAPACITY, OFF_MAGIC, OFF_MASK, OFF_READ_POS, OFF_RECORD_SIZE, OFF_VERSION, OFF_WRITE_POS,
};
use rfq_ring::{open_consumer, open_producer, RingError, RingFile};
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

fn patch(path: &Path, offset: usize, bytes: &[u8]) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset as u64)).unwrap();
    f.write_all(bytes).unwrap();
}

fn fresh(tag: &str, cap: usize) -> ShmPath {
    let p = ShmPath::new(tag);
    drop(RingFile::create(&p.0, cap).unwrap());
    p
}

#[test]
fn create_writes_doc_header() {
    let p = fresh("hdr", 8);
    let bytes = std::fs::read(&p.0).unwrap();
    assert_eq!(bytes.len(), 384 + 64 * 8);
    assert_eq!(&bytes[0..8], b"RFQRING1");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1);
    assert_eq!(u32::from_le_bytes(bytes[12..16].try_into().unwrap()), 64);
    assert_eq!(u64::from_le_bytes(bytes[16..24].try_into().unwrap()), 8);
    assert_eq!(u64::from_le_bytes(bytes[24..32].try_into().unwrap()), 7);
    assert!(bytes[32..].iter().all(|&b| b == 0));
}

#[test]
fn records_land_at_documented_offsets() {
    let p = ShmPath::new("offsets");
    let (mut tx, _rx) = rfq_ring::channel_file(&p.0, 4).unwrap();
    for s in 0..6 {
        tx.try_push(&rec(s)).ok(); // 4 fit
    }
    drop(tx);
    let bytes = std::fs::read(&p.0).unwrap();
    assert_eq!(
        u64::from_le_bytes(bytes[128..136].try_into().unwrap()),
        4,
        "write_pos"
    );
    assert_eq!(
        u64::from_le_bytes(bytes[256..264].try_into().unwrap()),
        0,
        "read_pos"
    );
    for s in 0..4u64 {
        let off = 384 + (s as usize & 3) * 64;
        assert_eq!(
            u16::from_le_bytes(bytes[off..off + 2].try_into().unwrap()),
            rec(s).kind
        );
        assert_eq!(
            u64::from_le_bytes(bytes[off + 8..off + 16].try_into().unwrap()),
            s,
            "seq"
        );
        assert_eq!(
            i64::from_le_bytes(bytes[off + 56..off + 64].try_into().unwrap()),
            rec(s).ts_send
        );
    }
}

#[test]
fn reopen_preserves_positions() {
    let p = fresh("reopen", 8);
    let mut tx = open_producer(&p.0).unwrap();
    for s in 0..5 {
        tx.try_push(&rec(s)).unwrap();
    }
    drop(tx);
    let mut rx = open_consumer(&p.0).unwrap();
    check(&rx.try_pop().unwrap(), 0);
    check(&rx.try_pop().unwrap(), 1);
    drop(rx);
    let mut tx = open_producer(&p.0).unwrap();
    assert_eq!(tx.write_pos(), 5);
    assert_eq!(tx.free_slots(), 5);
    tx.try_push(&rec(5)).unwrap();
    let mut rx = open_consumer(&p.0).unwrap();
    assert_eq!(rx.read_pos(), 2);
    for s in 2..6 {
        check(&rx.try_pop().unwrap(), s);
    }
    assert!(rx.try_pop().is_none());
}

#[test]
fn missing_file_is_io_error() {
    let p = ShmPath::new("missing");
    let err = RingFile::open(&p.0).unwrap_err();
    assert!(matches!(err, RingError::Io { op: "open", .. }), "{err:?}");
    assert!(err.to_string().contains(&*p.0.to_string_lossy()));
}

#[test]
fn create_rejects_non_power_of_two() {
    let p = ShmPath::new("npot");
    for cap in [0usize, 1, 3, 100] {
        let err = RingFile::create(&p.0, cap).unwrap_err();
        assert!(matches!(err, RingError::InvalidCapacity { capacity } if capacity == cap as u64));
        assert!(err.to_string().contains("capacity"), "{err}");
    }
}

#[test]
fn truncated_file() {
    let p = ShmPath::new("trunc");
    std::fs::write(&p.0, [0u8; 100]).unwrap();
    let err = RingFile::open(&p.0).unwrap_err();
    assert!(matches!(err, RingError::Truncated { len: 100 }), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // A valid header whose record area was cut short.
    let p = fresh("trunc2", 8);
    OpenOptions::new()
        .write(true)
        .open(&p.0)
        .unwrap()
        .set_len(384 + 64 * 7)
        .unwrap();
    let err = RingFile::open(&p.0).unwrap_err();
    assert!(
        matches!(
            err,
            RingError::BadFileLength {
                len: 832,
                expected: 896
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("length"), "{err}");
}

#[test]
fn bad_header_fields() {
    type Case = (&'static str, usize, Vec<u8>, fn(&RingError) -> bool);
    let cases: Vec<Case> = vec![
        (
            "magic",
            OFF_MAGIC,
            b"RFQRING2".to_vec(),
            |e| matches!(e, RingError::BadMagic { found } if found.to_le_bytes() == *b"RFQRING2"),
        ),
        ("version", OFF_VERSION, 2u32.to_le_bytes().to_vec(), |e| {
            matches!(e, RingError::BadVersion { found: 2 })
        }),
        (
            "record_size",
            OFF_RECORD_SIZE,
            32u32.to_le_bytes().to_vec(),
            |e| matches!(e, RingError::BadRecordSize { found: 32 }),
        ),
        ("capacity", OFF_CAPACITY, 6u64.to_le_bytes().to_vec(), |e| {
            matches!(e, RingError::InvalidCapacity { capacity: 6 })
        }),
        ("mask", OFF_MASK, 8u64.to_le_bytes().to_vec(), |e| {
            matches!(
                e,
                RingError::BadMask {
                    found: 8,
                    expected: 7
                }
            )
        }),
        (
            "capacity",
            OFF_CAPACITY,
            16u64.to_le_bytes().to_vec(),
            |e| {
                // mask is now wrong for capacity 16
                matches!(
                    e,
                    RingError::BadMask {
                        found: 7,
                        expected: 15
                    }
                )
            },
        ),
        (
            "write_pos",
            OFF_WRITE_POS,
            9u64.to_le_bytes().to_vec(),
            |e| {
                matches!(
                    e,
                    RingError::BadPositions {
                        write_pos: 9,
                        read_pos: 0,
                        capacity: 8
                    }
                )
            },
        ),
        ("read_pos", OFF_READ_POS, 1u64.to_le_bytes().to_vec(), |e| {
            matches!(
                e,
                RingError::BadPositions {
                    write_pos: 0,
                    read_pos: 1,
                    capacity: 8
                }
            )
        }),
    ];
    for (field, off, bytes, ok) in cases {
        let p = fresh(field, 8);
        patch(&p.0, off, &bytes);
        let err = RingFile::open(&p.0).unwrap_err();
        assert!(ok(&err), "{field}: unexpected {err:?}");
        assert!(err.to_string().contains(field), "{field}: message {err}");
    }
}

#[test]
fn too_long_file() {
    let p = fresh("long", 8);
    OpenOptions::new()
        .write(true)
        .open(&p.0)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let err = RingFile::open(&p.0).unwrap_err();
    assert!(
        matches!(
            err,
            RingError::BadFileLength {
                len: 4096,
                expected: 896
            }
        ),
        "{err:?}"
    );
}

#[test]
fn two_mappings_cross_thread() {
    const N: u64 = 2_000_000;
    let p = fresh("twomap", 1024);
    // Two independent mmaps of the same /dev/shm file, one per thread.
    let tx = open_producer(&p.0).unwrap();
    let rx = open_consumer(&p.0).unwrap();
    let t = std::thread::spawn(move || {
        let mut tx = tx;
        let mut s = 0;
        while s < N {
            if tx.try_push(&rec(s)).is_ok() {
                s += 1;
            } else {
                std::hint::spin_loop();
            }
        }
    });
    let mut rx = rx;
    let mut expected = 0;
    while expected < N {
        let n = rx.read_batch(256, |r| {
            check(r, expected);
            expected += 1;
        });
        if n == 0 {
            std::hint::spin_loop();
        }
    }
    t.join().unwrap();
    assert!(rx.try_pop().is_none());
}

const CHILD_ENV: &str = "RFQ_RING_TEST_CHILD_PATH";
const CHILD_N: u64 = 1_000_000;

/// Entry point for the producer child process of `two_processes`; a no-op otherwise.
#[test]
fn child_producer_entry() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut tx = open_producer(&path).unwrap();
    let mut batch = [rfq_ring::Record::ZERO; 32];
    let mut s = 0;
    while s < CHILD_N {
        let k = (CHILD_N - s).min(32) as usize;
        for (i, slot) in batch[..k].iter_mut().enumerate() {
            *slot = rec(s + i as u64);
        }
        let pushed = tx.push_slice(&batch[..k]);
        if pushed == 0 {
            std::thread::yield_now();
        }
        s += pushed as u64;
    }
}

#[test]
fn two_processes() {
    let p = fresh("twoproc", 256);
    let mut rx = open_consumer(&p.0).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_producer_entry",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, &p.0)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut expected = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while expected < CHILD_N {
        let n = rx.read_batch(64, |r| {
            check(r, expected);
            expected += 1;
        });
        if n == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "child stalled at {expected}"
            );
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "child failed: {status}");
            }
            std::thread::yield_now();
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(rx.try_pop().is_none());
}
