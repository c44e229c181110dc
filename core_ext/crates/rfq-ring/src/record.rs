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

/// Values of [`Record::kind`].
pub mod kind {
    /// Input: start of a snapshot; the book is emptied and not live until the snapshot's `END`.
    pub const BOOK_CLEAR: u16 = 1;
    /// Input: set level `price` on `side` to `qty` (0 deletes); `seq` = `u`, `aux` = `U`.
    pub const BOOK_LEVEL: u16 = 2;
    /// Input: the handler lost sync; book stale until the next snapshot; `aux` = reason.
    pub const BOOK_STALE: u16 = 3;
    /// Input: a trade; `side` = aggressor side, `seq` = trade id.
    pub const TRADE: u16 = 4;
    /// Input: venue top of book, one record per side.
    pub const BBO: u16 = 5;
    /// Input: advances the core clock (`ts_recv`) with no other effect.
    pub const HEARTBEAT: u16 = 6;
    /// Output: one ladder level of a composite quote (`price` = bid, `aux` = ask).
    pub const QUOTE: u16 = 100;
    /// Output: a venue book changed state; `aux` is a [`super::book_status`] value.
    pub const BOOK_STATUS: u16 = 101;
    /// Output: an input record was refused; `aux` is a [`super::reject`] reason.
    pub const REJECT: u16 = 102;
}

/// Bits of [`Record::flags`].
pub mod flags {
    /// Last record of one venue message: the book is consistent after it.
    pub const END: u8 = 1;
    /// The record is part of a snapshot.
    pub const SNAPSHOT: u8 = 2;
    /// `QUOTE`: bid side present.
    pub const BID_VALID: u8 = 4;
    /// `QUOTE`: ask side present.
    pub const ASK_VALID: u8 = 8;
}

/// Values of [`Record::side`] (for every kind except `QUOTE`).
pub mod side {
    /// Bid side of a book.
    pub const BID: u8 = 0;
    /// Ask side of a book.
    pub const ASK: u8 = 1;
    /// Buy aggressor (same value as [`BID`]).
    pub const BUY: u8 = 0;
    /// Sell aggressor (same value as [`ASK`]).
    pub const SELL: u8 = 1;
    /// No side.
    pub const NONE: u8 = 255;
}

/// `QUOTE` withdrawal reasons, carried in [`Record::side`] of a `QUOTE` record.
pub mod withdraw {
    /// Not withdrawn.
    pub const NONE: u8 = 0;
    /// No market to price from.
    pub const NO_MARKET: u8 = 1;
    /// Inputs are stale.
    pub const STALE: u8 = 2;
    /// Inputs are crossed.
    pub const CROSSED: u8 = 3;
    /// Not enough depth for this ladder size.
    pub const TOO_THIN: u8 = 4;
}

/// `BOOK_STATUS` values, carried in [`Record::aux`].
pub mod book_status {
    /// The book is live.
    pub const LIVE: i64 = 0;
    /// The book is stale (lost sync).
    pub const STALE: i64 = 1;
    /// The book is crossed.
    pub const CROSSED: i64 = 2;
    /// A snapshot is being loaded.
    pub const BUILDING: i64 = 3;
}

/// `REJECT` reasons, carried in [`Record::aux`].
pub mod reject {
    /// Unknown record kind.
    pub const UNKNOWN_KIND: i64 = 1;
    /// Unknown instrument id.
    pub const UNKNOWN_INSTRUMENT: i64 = 2;
    /// Side is neither bid nor ask.
    pub const BAD_SIDE: i64 = 3;
    /// Price ≤ 0.
    pub const NON_POSITIVE_PRICE: i64 = 4;
    /// Negative quantity.
    pub const NEGATIVE_QTY: i64 = 5;
    /// Price not a multiple of the tick.
    pub const OFF_TICK: i64 = 6;
    /// Quantity not a multiple of the lot.
    pub const OFF_LOT: i64 = 7;
    /// Quantity above the instrument maximum.
    pub const QTY_ABOVE_MAX: i64 = 8;
    /// Level outside the book while a snapshot is building.
    pub const LEVEL_OUTSIDE_BOOK: i64 = 9;
    /// Book level capacity exceeded.
    pub const BOOK_CAPACITY: i64 = 10;
}

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
