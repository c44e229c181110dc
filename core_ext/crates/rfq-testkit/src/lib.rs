//! Test helpers shared by rfqcore's crates (a dev-dependency, never linked into the library).
//!
//! [`CountingAlloc`] counts the allocations made on the current thread while counting is on, so
//! a test can show that a hot path does not allocate. A test binary installs it and measures a
//! closure:
//!
//! ```ignore
//! #[global_allocator]
//! static A: rfq_testkit::CountingAlloc = rfq_testkit::CountingAlloc;
//!
//! let (_, allocs) = rfq_testkit::count_allocs(|| hot_path());
//! assert_eq!(allocs, 0);
//! ```
//!
//! With feature `fixtures`, [`fixtures`] holds the core's test configuration and input streams
//! (rfq-engine's and rfq-cluster's tests).
#![deny(missing_docs)]

#[cfg(feature = "fixtures")]
pub mod fixtures;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting `alloc`/`realloc` calls on the current thread while
/// [`count_allocs`] runs a closure there.
pub struct CountingAlloc;

#[inline]
fn note() {
    if COUNTING.with(Cell::get) {
        ALLOCS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: forwards every call to the system allocator; only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}

/// Run `f` and return its result with the number of allocations it made on this thread
/// (0 unless the test binary's `#[global_allocator]` is [`CountingAlloc`]).
pub fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCS.with(Cell::get) - before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static A: CountingAlloc = CountingAlloc;

    #[test]
    fn counts_only_inside() {
        let (v, n) = count_allocs(|| vec![1_u8; 16]);
        assert_eq!((v.len(), n), (16, 1));
        let (_, n) = count_allocs(|| 1 + 1);
        assert_eq!(n, 0);
    }
}
