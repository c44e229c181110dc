//! The clock every side of a ring stamps `ts_send` with: `CLOCK_MONOTONIC` in nanoseconds.
//!
//! Cython reads the same clock (`clock_gettime(CLOCK_MONOTONIC)` in `rfq_ring.h`), so a
//! timestamp taken in one process can be subtracted from one taken in another on the same host.

/// `CLOCK_MONOTONIC` now, in nanoseconds.
#[inline]
pub fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux, and
    // clock_gettime only writes the struct it is given (a vDSO call, no syscall in practice).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}
