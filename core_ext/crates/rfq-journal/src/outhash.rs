//! [`OutputHash`]: a running hash of an output record stream, the same on the live runner and
//! in replay, so the first diverging input record can be named.

use rfq_ring::Record;

/// Running 64-bit hash of a stream of output records (all 64 bytes of each, in order).
///
/// Not cryptographic: it detects accidental divergence (a replay that computes something else),
/// which is its only job; tampering is the journal chain's job. Cost: eight multiply–xorshift
/// steps per record, a few ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputHash(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Default for OutputHash {
    fn default() -> Self {
        OutputHash::new()
    }
}

impl OutputHash {
    /// The hash of the empty stream.
    #[must_use]
    pub const fn new() -> OutputHash {
        OutputHash(0x6a09_e667_f3bc_c908)
    }

    #[inline(always)]
    fn mix(h: u64, w: u64) -> u64 {
        let x = (h ^ w).wrapping_mul(K);
        x ^ (x >> 29)
    }

    /// Continues from a value returned by [`OutputHash::value`].
    #[must_use]
    pub const fn from_value(v: u64) -> OutputHash {
        OutputHash(v)
    }

    /// Adds one output record.
    #[inline]
    pub fn push(&mut self, r: &Record) {
        let head = u64::from(r.kind)
            | u64::from(r.instrument) << 16
            | u64::from(r.side) << 32
            | u64::from(r.flags) << 40
            | u64::from(r.source) << 48;
        let mut h = self.0;
        for w in [head, r.seq, r.ts_event as u64, r.ts_recv as u64, r.price as u64, r.qty as u64, r.aux as u64, r.ts_send as u64] {
            h = Self::mix(h, w);
        }
        self.0 = h;
    }

    /// The hash so far.
    #[must_use]
    pub const fn value(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_fields_matter() {
        let a = Record { kind: 100, price: 1, ..Record::ZERO };
        let b = Record { kind: 100, price: 2, ..Record::ZERO };
        let (mut x, mut y) = (OutputHash::new(), OutputHash::new());
        x.push(&a);
        x.push(&b);
        y.push(&b);
        y.push(&a);
        assert_ne!(x, y);
        let mut z = OutputHash::new();
        z.push(&Record { ts_send: 1, ..a });
        let mut w = OutputHash::new();
        w.push(&a);
        assert_ne!(z, w);
    }
}
