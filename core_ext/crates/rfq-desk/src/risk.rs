//! Risk helpers on core time: token-bucket throttles, the repeated-execution window, and an
//! indexed min-heap of deadlines (quote expiries, approval timeouts) that supports removal.
//! None of them allocates after construction.

use rfq_kernel::codec::{corrupt, Dec, Decode, Encode, Out, Persist, R};
use rfq_model::Throttle;

/// Most fills the repeated-execution throttle can count (`DeskSpec::exec_count` ≤ this).
pub const MAX_EXEC_COUNT: usize = 64;

/// Nano-tokens per token.
const TOKEN: i128 = 1_000_000_000;

/// A token bucket on core time. The level is kept in nano-tokens so `per_sec` tokens per
/// second is exactly `per_sec` nano-tokens per ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Nano-tokens available at `last`.
    pub(crate) level: i128,
    /// Core time of `level` (`None` = never used: full).
    pub(crate) last: Option<i64>,
}

impl Bucket {
    /// Level at core time `now` for the throttle `t`.
    #[inline]
    fn level_at(&self, t: &Throttle, now: i64) -> i128 {
        let cap = i128::from(t.burst) * TOKEN;
        match self.last {
            None => cap,
            Some(last) => {
                let dt = i128::from(now.saturating_sub(last).max(0));
                (self.level + dt * i128::from(t.per_sec)).min(cap)
            }
        }
    }

    /// Would one more event pass at `now`? (`per_sec = 0` disables the throttle.)
    #[inline]
    pub fn allows(&self, t: &Throttle, now: i64) -> bool {
        t.per_sec == 0 || self.level_at(t, now) >= TOKEN
    }

    /// Take one token (call only after [`Self::allows`]).
    #[inline]
    pub fn take(&mut self, t: &Throttle, now: i64) {
        if t.per_sec == 0 {
            return;
        }
        self.level = self.level_at(t, now) - TOKEN;
        self.last = Some(now);
    }

    /// The throttle's parameters changed: keep the saved tokens, capped to the new burst.
    pub fn rescale(&mut self, t: &Throttle) {
        if self.last.is_some() {
            self.level = self.level.min(i128::from(t.burst) * TOKEN);
        }
    }

}

impl Encode for Bucket {
    fn encode<O: Out>(&self, o: &mut O) {
        let Bucket { level, last } = *self;
        o.i128(level);
        o.opt_i64(last);
    }
}

impl Decode for Bucket {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        Ok(Bucket { level: d.i128()?, last: d.opt_i64()? })
    }
}

/// The times of the last [`MAX_EXEC_COUNT`] fills of one client or one instrument.
#[derive(Debug, Clone, Copy)]
pub struct ExecWindow {
    pub(crate) times: [i64; MAX_EXEC_COUNT],
    /// Fills recorded since the last reset (saturating).
    pub(crate) n: u32,
    /// Next write index.
    pub(crate) head: u8,
}

impl Default for ExecWindow {
    fn default() -> Self {
        ExecWindow { times: [0; MAX_EXEC_COUNT], n: 0, head: 0 }
    }
}

impl ExecWindow {
    /// Record a fill at `now`; returns the number of fills in `(now − window, now]` counted up
    /// to `count` (so the caller compares with `count`).
    #[inline]
    pub fn record(&mut self, now: i64, count: u32, window: i64) -> u32 {
        self.times[self.head as usize] = now;
        self.head = ((self.head as usize + 1) % MAX_EXEC_COUNT) as u8;
        self.n = self.n.saturating_add(1);
        self.count(now, count, window)
    }

    /// Fills within `(now − window, now]`, looking back at most `count` fills.
    #[inline]
    pub fn count(&self, now: i64, count: u32, window: i64) -> u32 {
        let look = (count as usize).min(MAX_EXEC_COUNT).min(self.n as usize);
        let mut c = 0;
        for k in 1..=look {
            let t = self.times[(self.head as usize + MAX_EXEC_COUNT - k) % MAX_EXEC_COUNT];
            if now.saturating_sub(t) < window {
                c += 1;
            } else {
                break;
            }
        }
        c
    }

    /// Forget every fill (operator re-enable).
    pub fn reset(&mut self) {
        *self = ExecWindow::default();
    }

}

impl Encode for ExecWindow {
    fn encode<O: Out>(&self, o: &mut O) {
        let ExecWindow { times, n, head } = self;
        for &t in times {
            o.i64(t);
        }
        o.u32(*n);
        o.u8(*head);
    }
}

impl Decode for ExecWindow {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        let mut w = ExecWindow::default();
        for t in &mut w.times {
            *t = d.i64()?;
        }
        w.n = d.u32()?;
        w.head = d.u8()?;
        if w.head as usize >= MAX_EXEC_COUNT {
            return Err(corrupt("execution window head"));
        }
        Ok(w)
    }
}

/// `(slot, deadline, id)` of every entry in heap-array order; `pos` follows from it.
impl Persist for DeadlineHeap {
    fn save<O: Out>(&self, o: &mut O) {
        let DeadlineHeap { heap: _, keys: _, pos: _ } = self;
        o.len(self.len());
        for (s, d, id) in self.entries() {
            o.u32(s as u32);
            o.i64(d);
            o.u64(id);
        }
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let n = d.len(self.slots(), "deadline heap")?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            entries.push((d.u32()? as usize, d.i64()?, d.u64()?));
        }
        DeadlineHeap::load(self, &entries).map_err(corrupt)
    }
}

/// Absent from the heap.
pub const NOT_IN_HEAP: u32 = u32::MAX;

/// A binary min-heap of slot indices keyed by `(deadline, id)`, with each slot's position kept
/// so a slot can be removed in O(log n) when it ends early. Capacity fixed at construction.
#[derive(Debug, Clone)]
pub struct DeadlineHeap {
    heap: Vec<u32>,
    keys: Vec<(i64, u64)>,
    pos: Vec<u32>,
}

impl DeadlineHeap {
    /// A heap for slots `0..slots`.
    pub fn new(slots: usize) -> Self {
        DeadlineHeap { heap: Vec::with_capacity(slots), keys: vec![(0, 0); slots], pos: vec![NOT_IN_HEAP; slots] }
    }

    /// Write every page of the heap's arrays once (no change of content), so the first
    /// insertions do not take page faults.
    pub fn prefault(&mut self) {
        let n = self.keys.len();
        let len = self.heap.len();
        self.heap.resize(n, 0);
        self.heap.truncate(len);
        for i in 0..n {
            self.keys[i] = std::hint::black_box(self.keys[i]);
            self.pos[i] = std::hint::black_box(self.pos[i]);
        }
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Slots it can hold.
    pub fn slots(&self) -> usize {
        self.keys.len()
    }

    /// `(slot, deadline, id)` in heap-array order (what a snapshot keeps).
    pub fn entries(&self) -> impl Iterator<Item = (usize, i64, u64)> + '_ {
        self.heap.iter().map(|&s| {
            let (d, id) = self.keys[s as usize];
            (s as usize, d, id)
        })
    }

    /// Replaces the content by `entries` in heap-array order (as [`DeadlineHeap::entries`]
    /// gave them). `Err` (heap unchanged) for a slot out of range or listed twice, or an array
    /// that is not a heap.
    pub fn load(&mut self, entries: &[(usize, i64, u64)]) -> Result<(), String> {
        let n = self.keys.len();
        let mut seen = vec![false; n];
        for (i, &(s, d, id)) in entries.iter().enumerate() {
            if s >= n || std::mem::replace(&mut seen[s], true) {
                return Err(format!("heap slot {s} out of range or repeated"));
            }
            if i > 0 && (d, id) < (entries[(i - 1) / 2].1, entries[(i - 1) / 2].2) {
                return Err("deadline heap order violated".into());
            }
        }
        self.heap.clear();
        self.pos.iter_mut().for_each(|p| *p = NOT_IN_HEAP);
        for (i, &(s, d, id)) in entries.iter().enumerate() {
            self.keys[s] = (d, id);
            self.heap.push(s as u32);
            self.pos[s] = i as u32;
        }
        Ok(())
    }

    /// Earliest `(deadline, id, slot)`.
    #[inline]
    pub fn peek(&self) -> Option<(i64, u64, usize)> {
        self.heap.first().map(|&s| {
            let (d, id) = self.keys[s as usize];
            (d, id, s as usize)
        })
    }

    /// Insert `slot` (not already present).
    pub fn push(&mut self, slot: usize, deadline: i64, id: u64) {
        debug_assert_eq!(self.pos[slot], NOT_IN_HEAP);
        debug_assert!(self.heap.len() < self.keys.len());
        self.keys[slot] = (deadline, id);
        self.heap.push(slot as u32);
        let i = self.heap.len() - 1;
        self.pos[slot] = i as u32;
        self.up(i);
    }

    /// Remove `slot` if present.
    pub fn remove(&mut self, slot: usize) {
        let i = self.pos[slot];
        if i == NOT_IN_HEAP {
            return;
        }
        let i = i as usize;
        let last = self.heap.len() - 1;
        self.swap(i, last);
        self.heap.pop();
        self.pos[slot] = NOT_IN_HEAP;
        if i < self.heap.len() {
            self.down(i);
            self.up(i);
        }
    }

    #[inline]
    fn key(&self, i: usize) -> (i64, u64) {
        self.keys[self.heap[i] as usize]
    }

    #[inline]
    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a] as usize] = a as u32;
        self.pos[self.heap[b] as usize] = b as u32;
    }

    fn up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if self.key(i) < self.key(p) {
                self.swap(i, p);
                i = p;
            } else {
                break;
            }
        }
    }

    fn down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && self.key(l) < self.key(m) {
                m = l;
            }
            if r < n && self.key(r) < self.key(m) {
                m = r;
            }
            if m == i {
                return;
            }
            self.swap(i, m);
            i = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t = Throttle { per_sec: 2, burst: 3 };
        let mut b = Bucket::default();
        for _ in 0..3 {
            assert!(b.allows(&t, 0));
            b.take(&t, 0);
        }
        assert!(!b.allows(&t, 0));
        assert!(!b.allows(&t, 499_999_999));
        assert!(b.allows(&t, 500_000_000)); // 2 per s: one token after 0.5 s
        b.take(&t, 500_000_000);
        assert!(!b.allows(&t, 500_000_000));
        assert!(b.allows(&t, 10_000_000_000)); // refilled, capped at the burst
        let off = Throttle::default();
        assert!(b.allows(&off, 0));
    }

    #[test]
    fn exec_window_counts_recent_fills() {
        let mut w = ExecWindow::default();
        assert_eq!(w.record(0, 3, 100), 1);
        assert_eq!(w.record(50, 3, 100), 2);
        assert_eq!(w.record(100, 3, 100), 2); // the fill at 0 is 100 ns old: outside
        assert_eq!(w.record(120, 3, 100), 3);
        w.reset();
        assert_eq!(w.count(120, 3, 100), 0);
    }

    #[test]
    fn heap_orders_and_removes() {
        let mut h = DeadlineHeap::new(8);
        for (s, d) in [(0, 50), (1, 10), (2, 30), (3, 20), (4, 40)] {
            h.push(s, d, s as u64 + 1);
        }
        h.remove(3);
        h.remove(3);
        let mut got = vec![];
        while let Some((d, _, s)) = h.peek() {
            got.push(d);
            h.remove(s);
        }
        assert_eq!(got, vec![10, 30, 40, 50]);
        assert_eq!(h.len(), 0);
    }
}
