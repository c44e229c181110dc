//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use rfq_ring::{kind, Record};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A record whose every field is derived from `seq`, so a torn or misplaced record is detected.
pub fn rec(seq: u64) -> Record {
    Record {
        kind: kind::BOOK_LEVEL,
        instrument: (seq % 65_521) as u16,
        side: (seq & 1) as u8,
        flags: (seq % 3) as u8,
        source: (seq >> 16) as u16,
        seq,
        ts_event: seq as i64 * 3,
        ts_recv: !(seq as i64),
        price: seq as i64 ^ 0x5555_5555,
        qty: (seq as i64).wrapping_mul(7),
        aux: seq.rotate_left(17) as i64,
        ts_send: seq as i64 + 1,
    }
}

/// Checks that `r` is exactly `rec(expected)`.
#[track_caller]
pub fn check(r: &Record, expected: u64) {
    assert_eq!(r.seq, expected, "out of order / lost / duplicated record");
    assert_eq!(*r, rec(expected), "torn record at seq {expected}");
}

/// A unique path in /dev/shm (or the temp dir if /dev/shm is missing), removed on drop.
pub struct ShmPath(pub PathBuf);

impl ShmPath {
    pub fn new(tag: &str) -> ShmPath {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let n = N.fetch_add(1, Ordering::Relaxed);
        ShmPath(dir.join(format!("rfq-ring-test-{}-{tag}-{n}", std::process::id())))
    }
}

impl Drop for ShmPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Tiny deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
