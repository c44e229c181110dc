//! One definition of every piece of core state, for snapshots and for the state hash.
//!
//! Each state type implements [`Persist`] beside its fields: `save` writes every field in a
//! fixed order to an [`Out`], `load` reads them back. The snapshot body is `save` into a byte
//! buffer ([`Body`]); [`crate::Core::state_hash`] is `save` into an FNV-1a hasher ([`Fnv`]).
//! So the hash covers exactly what a snapshot keeps and the two cannot drift apart: a field
//! left out of `save` is lost by snapshots *and* invisible to the hash, and every `save`
//! destructures its type without `..`, so adding a field does not compile until `save`
//! places it (or names it as coming from the configuration).
//!
//! Two kinds of fields are written to snapshots but not hashed, each marked where it is saved:
//! - counters ([`Out::count`]): statistics that a refused input bumps while changing no
//!   trading state (the "refused input changes nothing" checks compare hashes);
//! - caches ([`Out::cache`]): values derived from the rest of the state that never change a
//!   result (the RFQ fast path's market cache, book epochs, dirty flags).

use crate::hash::Fnv;

/// Why saved state does not load (the engine's `SnapshotError` has the same two cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The saved state does not fit this core's configuration (instruments, composites,
    /// clients, tiers, table sizes...).
    Mismatch {
        /// What differs.
        why: String,
    },
    /// The bytes do not decode (a bug or a forged file).
    Corrupt {
        /// Where.
        why: String,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Mismatch { why } => write!(f, "saved state does not fit this configuration: {why}"),
            DecodeError::Corrupt { why } => write!(f, "saved state does not decode: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Result of decoding.
pub type R<T> = Result<T, DecodeError>;

/// A body that does not decode.
pub fn corrupt(why: impl Into<String>) -> DecodeError {
    DecodeError::Corrupt { why: why.into() }
}

/// `Corrupt` errors of `what`'s decoding prefixed with `what` (others unchanged).
pub fn within(what: impl std::fmt::Display) -> impl FnOnce(DecodeError) -> DecodeError {
    move |e| match e {
        DecodeError::Corrupt { why } => corrupt(format!("{what}: {why}")),
        e => e,
    }
}

/// A body saved from a differently configured core.
pub fn mismatch(why: impl Into<String>) -> DecodeError {
    DecodeError::Mismatch { why: why.into() }
}

/// Where state is saved: a snapshot body or the state hash. Little-endian fixed-width
/// integers, one byte per `bool`, LEB128 for [`Out::var`].
pub trait Out {
    /// Append bytes.
    fn put(&mut self, b: &[u8]);
    /// `true` for a snapshot (everything), `false` for the state hash (no counters, no caches).
    fn keeps_all(&self) -> bool;

    #[inline]
    /// A byte.
    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    #[inline]
    /// A flag (one byte).
    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    #[inline]
    /// A little-endian u16.
    fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    #[inline]
    /// A little-endian u32.
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    #[inline]
    /// A little-endian u64.
    fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
    #[inline]
    /// A little-endian i64.
    fn i64(&mut self, v: i64) {
        self.put(&v.to_le_bytes());
    }
    #[inline]
    /// A little-endian i128.
    fn i128(&mut self, v: i128) {
        self.put(&v.to_le_bytes());
    }
    /// A count of entries.
    #[inline]
    fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    /// An optional i64 (a flag, then the value or 0).
    fn opt_i64(&mut self, v: Option<i64>) {
        self.bool(v.is_some());
        self.i64(v.unwrap_or(0));
    }
    /// LEB128.
    #[inline]
    fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.u8(v as u8);
    }
    /// A statistics counter: in snapshots, not in the state hash.
    #[inline]
    fn count(&mut self, v: u64) {
        if self.keeps_all() {
            self.u64(v);
        }
    }
    /// Derived values (caches): in snapshots, not in the state hash.
    #[inline]
    fn cache(&mut self, f: impl FnOnce(&mut Self)) {
        if self.keeps_all() {
            f(self);
        }
    }
}

/// A snapshot body being written.
pub struct Body(pub Vec<u8>);

impl Out for Body {
    #[inline]
    fn put(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn keeps_all(&self) -> bool {
        true
    }
}

impl Out for Fnv {
    #[inline]
    fn put(&mut self, b: &[u8]) {
        self.bytes(b);
    }
    fn keeps_all(&self) -> bool {
        false
    }
}

/// A snapshot body being read back.
pub struct Dec<'a> {
    /// The bytes.
    pub b: &'a [u8],
    /// The read position.
    pub at: usize,
}

impl<'a> Dec<'a> {
    /// A reader at the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Dec { b, at: 0 }
    }
    #[inline]
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.b.len() - self.at < n {
            return Err(corrupt(format!("body ends at byte {} inside a field", self.b.len())));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    #[inline]
    /// A byte.
    pub fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    /// A flag (one byte).
    pub fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(corrupt(format!("flag byte {v} at {}", self.at - 1))),
        }
    }
    #[inline]
    /// A little-endian u16.
    pub fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    #[inline]
    /// A little-endian u32.
    pub fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    #[inline]
    /// A little-endian u64.
    pub fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    #[inline]
    /// A little-endian i64.
    pub fn i64(&mut self) -> R<i64> {
        Ok(self.u64()? as i64)
    }
    /// A little-endian i128.
    pub fn i128(&mut self) -> R<i128> {
        Ok(i128::from_le_bytes(self.take(16)?.try_into().expect("16")))
    }
    /// A count, bounded so a corrupt length cannot make us allocate absurdly.
    pub fn len(&mut self, max: usize, what: &str) -> R<usize> {
        let n = self.u64()?;
        if n > max as u64 {
            return Err(corrupt(format!("{what}: {n} entries, at most {max}")));
        }
        Ok(n as usize)
    }
    /// A count that must equal this core's (`what` names it in the refusal).
    pub fn same_len(&mut self, expected: usize, what: &str) -> R<()> {
        let n = self.u64()?;
        if n != expected as u64 {
            return Err(mismatch(format!("{n} {what}, this core has {expected}")));
        }
        Ok(())
    }
    /// An optional i64 (a flag, then the value or 0).
    pub fn opt_i64(&mut self) -> R<Option<i64>> {
        let some = self.bool()?;
        let v = self.i64()?;
        Ok(some.then_some(v))
    }
    /// A counter written by [`Out::count`].
    #[inline]
    pub fn count(&mut self) -> R<u64> {
        self.u64()
    }
    #[inline]
    /// A LEB128 varint.
    pub fn var(&mut self) -> R<u64> {
        let mut v = 0_u64;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(corrupt("varint overflow"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(corrupt("varint too long"));
            }
        }
    }
}

/// A piece of core state with its one encoding (see the module docs).
pub trait Persist {
    /// Write every field, in a fixed order.
    fn save<O: Out>(&self, o: &mut O);
    /// Read back what [`Persist::save`] wrote into a value built from the same configuration
    /// (configuration-derived fields are checked, not overwritten).
    fn load(&mut self, d: &mut Dec<'_>) -> R<()>;
}

/// A value that is whole in its encoding (no configuration-derived fields).
pub trait Decode: Sized {
    /// Read one value.
    fn decode(d: &mut Dec<'_>) -> R<Self>;
}

/// The writing half of a [`Decode`] value.
pub trait Encode {
    /// Write every field, in a fixed order.
    fn encode<O: Out>(&self, o: &mut O);
}

// ---------------------------------------------------------------------------------------------
// Configuration types of rfq-model that live settings change (CONTROL records), so they are
// state: saved whole.

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hasher_sees_what_the_body_holds_but_counters_and_caches() {
        fn save<O: Out>(o: &mut O) {
            o.u64(7);
            o.count(9);
            o.cache(|o| o.bool(true));
            o.var(300);
        }
        let mut b = Body(Vec::new());
        save(&mut b);
        let mut h = Fnv::new();
        save(&mut h);
        let mut d = Dec::new(&b.0);
        assert_eq!((d.u64().unwrap(), d.count().unwrap(), d.bool().unwrap(), d.var().unwrap()), (7, 9, true, 300));
        let mut kept = Fnv::new();
        kept.bytes(&b.0[..8]);
        kept.bytes(&b.0[17..]);
        assert_eq!(h.finish(), kept.finish());
    }

    #[test]
    fn varints_round_trip() {
        let mut b = Body(Vec::new());
        for v in [0, 1, 127, 128, 300, u64::MAX >> 1, u64::MAX] {
            b.var(v);
        }
        let mut d = Dec::new(&b.0);
        for v in [0, 1, 127, 128, 300, u64::MAX >> 1, u64::MAX] {
            assert_eq!(d.var().unwrap(), v);
        }
        assert_eq!(d.at, b.0.len());
    }
}
