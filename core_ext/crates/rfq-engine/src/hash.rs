//! A tiny, stable 64-bit FNV-1a hasher for state hashes (stable across Rust versions, unlike
//! `DefaultHasher`).

/// FNV-1a accumulator.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    /// A fresh hash.
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    /// Mix in eight little-endian bytes of `v`.
    #[inline]
    pub fn u64(&mut self, v: u64) {
        for b in v.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mix in a signed value.
    #[inline]
    pub fn i64(&mut self, v: i64) {
        self.u64(v as u64);
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}
