//! The 64-byte [`Record`] carried by every ring, and the constants giving its fields meaning.
//!
//! The layout is the binary contract of `docs/ring-layout.md`; it is checked at compile time
//! below (size, alignment and every field offset) and exported by [`record_layout`] so the
//! Python/Cython copies can be compared against it byte for byte.

use core::mem::{align_of, offset_of, size_of};

/// One ring record: exactly one 64-byte cache line, little-endian, `#[repr(C)]`.
///
/// Every bit pattern is a valid `Record` (all fields are plain integers), which is what lets the
/// ring hand out `&[Record]`/`&mut [Record]` views of shared memory directly.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Record {
    /// Record kind, see [`kind`].
    pub kind: u16,
    /// Instrument id from the registry (1-based; 0 = none).
    pub instrument: u16,
    /// 0 = bid/buy, 1 = ask/sell, 255 = none (see [`side`]); for `QUOTE`: a [`withdraw`] reason.
    pub side: u8,
    /// Bit flags, see [`flags`].
    pub flags: u8,
    /// Producer/ring id (inputs); ladder level index (quotes).
    pub source: u16,
    /// Venue sequence (final update id, trade id); output sequence on outbound records.
    pub seq: u64,
    /// Venue event time, ns since the epoch.
    pub ts_event: i64,
    /// Local receive time, ns since the epoch: the only clock the core sees.
    pub ts_recv: i64,
    /// Fixed-point price in the instrument's price scale.
    pub price: i64,
    /// Fixed-point quantity in the instrument's quantity scale.
    pub qty: i64,
    /// Kind-specific field.
    pub aux: i64,
    /// Producer's monotonic clock (ns) when pushed; only for latency measurement.
    pub ts_send: i64,
}

impl Record {
    /// The all-zero record (also [`Record::default()`], usable in `const` contexts).
    pub const ZERO: Record = Record {
        kind: 0,
        instrument: 0,
        side: 0,
        flags: 0,
        source: 0,
        seq: 0,
        ts_event: 0,
        ts_recv: 0,
        price: 0,
        qty: 0,
        aux: 0,
        ts_send: 0,
    };

    /// An all-zero record of the given kind.
    #[must_use]
    pub const fn new(kind: u16) -> Record {
        Record {
            kind,
            ..Record::ZERO
        }
    }

    /// Whether every bit of `flag` is set in `self.flags`.
    #[must_use]
    pub const fn has_flag(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }
}

const _: () = assert!(size_of::<Record>() == 64);
const _: () = assert!(align_of::<Record>() == 64);
const _: () = assert!(size_of::<Record>() == crate::layout::RECORD_SIZE);
const _: () = assert!(offset_of!(Record, kind) == 0);
const _: () = assert!(offset_of!(Record, instrument) == 2);
const _: () = assert!(offset_of!(Record, side) == 4);
const _: () = assert!(offset_of!(Record, flags) == 5);
const _: () = assert!(offset_of!(Record, source) == 6);
const _: () = assert!(offset_of!(Record, seq) == 8);
const _: () = assert!(offset_of!(Record, ts_event) == 16);
const _: () = assert!(offset_of!(Record, ts_recv) == 24);
const _: () = assert!(offset_of!(Record, price) == 32);
const _: () = assert!(offset_of!(Record, qty) == 40);
const _: () = assert!(offset_of!(Record, aux) == 48);
const _: () = assert!(offset_of!(Record, ts_send) == 56);

/// `(name, offset, size)` of every [`Record`] field in offset order, taken from `offset_of!`.
#[must_use]
pub fn record_layout() -> [(&'static str, usize, usize); 12] {
    macro_rules! field {
        ($name:ident, $ty:ty) => {
            (
                stringify!($name),
                offset_of!(Record, $name),
                size_of::<$ty>(),
            )
        };
    }
    [
        field!(kind, u16),
        field!(instrument, u16),
        field!(side, u8),
        field!(flags, u8),
        field!(source, u16),
        field!(seq, u64),
        field!(ts_event, i64),
        field!(ts_recv, i64),
        field!(price, i64),
        field!(qty, i64),
        field!(aux, i64),
        field!(ts_send, i64),
    ]
}

// The wire codes live in `codes.rs`, `control.rs` and `rfq_reject.rs` (the one source the
// generator `tools/wire_codes.py` reads); they are re-exported here, where they always were.
pub use crate::codes::{
    book_status, client_side, desk_event, flags, hedge_reject, kind, quote_end, reject, risk_event, side,
    stale_reason, venue_report, withdraw,
};
pub use crate::control::control;
pub use crate::rfq_reject::rfq_reject;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_contiguous_and_64_bytes() {
        let l = record_layout();
        let mut end = 0;
        for (name, off, size) in l {
            assert_eq!(off, end, "field {name} not contiguous");
            end = off + size;
        }
        assert_eq!(end, 64);
    }

    #[test]
    fn zero_is_default() {
        assert_eq!(Record::ZERO, Record::default());
        assert_eq!(Record::new(kind::TRADE).kind, 4);
    }

    #[test]
    fn codes_keep_their_paths_and_aliases() {
        assert_eq!(control::KILL, control::command::KILL);
        assert_eq!(control::field::client::ENABLED, 8);
        assert_eq!(reject::OFF_TICK_PRICE, 6);
        assert_eq!(rfq_reject::OMS_BASE, rfq_reject::OMS_BAD_CL_ORD_ID);
        assert_eq!(side::TWO_WAY, side::NONE);
    }

    #[test]
    fn flags_helper() {
        let r = Record {
            flags: flags::END | flags::BID_VALID,
            ..Record::ZERO
        };
        assert!(r.has_flag(flags::END));
        assert!(r.has_flag(flags::END | flags::BID_VALID));
        assert!(!r.has_flag(flags::ASK_VALID));
    }
}
