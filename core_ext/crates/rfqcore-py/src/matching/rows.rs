//! The numpy row layouts of `MatchingBook.process`, and [`EventRow`]: an event flattened once.
//!
//! [`EventRow::of`] is the one place a matching [`Event`] is destructured; the array form
//! writes the row as bytes ([`EventRow::to_bytes`]) and the per-call form turns it into a tuple
//! (`conversion::matching`).
use super::codes::{cancel_code, kind_of, post_only_of, reject_code, request_code, side_of, tif_of};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rfq_match::{Event, EventSink, NewOrder};

/// Request row: (name, numpy format, offset). 40 bytes, little-endian, no padding fields.
pub(crate) const REQUEST_FIELDS: [(&str, &str, usize); 9] = [
    ("id", "<u8", 0),
    ("price", "<i8", 8),
    ("qty", "<i8", 16),
    ("account", "<u4", 24),
    ("op", "u1", 28),
    ("side", "u1", 29),
    ("kind", "u1", 30),
    ("tif", "u1", 31),
    ("post_only", "u1", 32),
];
pub(crate) const REQUEST_SIZE: usize = 40;

/// Event row: (name, numpy format, offset). 96 bytes.
pub(crate) const EVENT_FIELDS: [(&str, &str, usize); 17] = [
    ("id", "<u8", 0),
    ("taker_id", "<u8", 8),
    ("price", "<i8", 16),
    ("qty", "<i8", 24),
    ("remaining", "<i8", 32),
    ("taker_remaining", "<i8", 40),
    ("maker_fee", "<i8", 48),
    ("taker_fee", "<i8", 56),
    ("old_price", "<i8", 64),
    ("old_qty", "<i8", 72),
    ("account", "<u4", 80),
    ("taker_account", "<u4", 84),
    ("req", "<u4", 88),
    ("kind", "u1", 92),
    ("side", "u1", 93),
    ("flag", "u1", 94),
    ("reason", "u1", 95),
];
pub(crate) const EVENT_SIZE: usize = 96;

pub(crate) const EV_ACCEPTED: u8 = 0;
pub(crate) const EV_REJECTED: u8 = 1;
pub(crate) const EV_TRADE: u8 = 2;
pub(crate) const EV_CANCELLED: u8 = 3;
pub(crate) const EV_EXPIRED: u8 = 4;
pub(crate) const EV_REPLACED: u8 = 5;

pub(crate) fn spec_dict<'py>(py: Python<'py>, fields: &[(&str, &str, usize)], size: usize) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("names", fields.iter().map(|f| f.0).collect::<Vec<_>>())?;
    d.set_item("formats", fields.iter().map(|f| f.1).collect::<Vec<_>>())?;
    d.set_item("offsets", fields.iter().map(|f| f.2).collect::<Vec<_>>())?;
    d.set_item("itemsize", size)?;
    Ok(d)
}


#[inline]
fn rd_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}
#[inline]
fn rd_i64(b: &[u8], off: usize) -> i64 {
    i64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}
#[inline]
fn rd_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// One event with every field of the event row (`EVENT_FIELDS`; unused fields 0). Per kind:
/// - accepted: `id account side price qty`, `flag` = repriced;
/// - rejected: `id`, `flag` = request code, `reason` = reject code;
/// - trade: `id` = maker id, `taker_id`, `account` = maker account, `taker_account`, `side` = taker
///   side, `price qty maker_fee taker_fee`, `remaining` = maker remaining, `taker_remaining`;
/// - cancelled: `id remaining`, `reason` = cancel code; expired: `id remaining`;
/// - replaced: `id`, `price qty` = new, `old_price old_qty`, `flag` = priority kept.
#[derive(Clone, Copy, Default)]
pub(crate) struct EventRow {
    pub id: u64,
    pub taker_id: u64,
    pub price: i64,
    pub qty: i64,
    pub remaining: i64,
    pub taker_remaining: i64,
    pub maker_fee: i64,
    pub taker_fee: i64,
    pub old_price: i64,
    pub old_qty: i64,
    pub account: u32,
    pub taker_account: u32,
    pub kind: u8,
    pub side: u8,
    pub flag: u8,
    pub reason: u8,
}

impl EventRow {
    /// The event, flattened.
    #[inline]
    pub fn of(e: &Event) -> EventRow {
        match *e {
            Event::Accepted { id, account, side, price, qty, repriced } => {
                EventRow { kind: EV_ACCEPTED, id, account, side: side as u8, price, qty, flag: repriced as u8, ..Default::default() }
            }
            Event::Rejected { id, request, reason } => {
                EventRow { kind: EV_REJECTED, id, flag: request_code(request), reason: reject_code(reason), ..Default::default() }
            }
            Event::Trade {
                maker_id,
                taker_id,
                maker_account,
                taker_account,
                taker_side,
                price,
                qty,
                maker_fee,
                taker_fee,
                maker_remaining,
                taker_remaining,
            } => EventRow {
                kind: EV_TRADE,
                id: maker_id,
                taker_id,
                account: maker_account,
                taker_account,
                side: taker_side as u8,
                price,
                qty,
                maker_fee,
                taker_fee,
                remaining: maker_remaining,
                taker_remaining,
                ..Default::default()
            },
            Event::Cancelled { id, reason, remaining } => {
                EventRow { kind: EV_CANCELLED, id, reason: cancel_code(reason), remaining, ..Default::default() }
            }
            Event::Expired { id, remaining } => EventRow { kind: EV_EXPIRED, id, remaining, ..Default::default() },
            Event::Replaced { id, old_price, old_qty, new_price, new_qty, priority_kept } => EventRow {
                kind: EV_REPLACED,
                id,
                price: new_price,
                qty: new_qty,
                old_price,
                old_qty,
                flag: priority_kept as u8,
                ..Default::default()
            },
        }
    }

    /// The `EVENT_SIZE`-byte row (little-endian, offsets of `EVENT_FIELDS`) of the batch's request `req`.
    #[inline]
    pub fn to_bytes(&self, req: u32) -> [u8; EVENT_SIZE] {
        let mut r = [0_u8; EVENT_SIZE];
        let i64s = [self.price, self.qty, self.remaining, self.taker_remaining, self.maker_fee, self.taker_fee, self.old_price, self.old_qty];
        r[0..8].copy_from_slice(&self.id.to_le_bytes());
        r[8..16].copy_from_slice(&self.taker_id.to_le_bytes());
        for (k, v) in i64s.iter().enumerate() {
            r[16 + 8 * k..24 + 8 * k].copy_from_slice(&v.to_le_bytes());
        }
        r[80..84].copy_from_slice(&self.account.to_le_bytes());
        r[84..88].copy_from_slice(&self.taker_account.to_le_bytes());
        r[88..92].copy_from_slice(&req.to_le_bytes());
        r[92..96].copy_from_slice(&[self.kind, self.side, self.flag, self.reason]);
        r
    }
}

/// Appends one `EVENT_SIZE`-byte row per event, tagged with the request's index in the batch.
pub(crate) struct RowSink<'a> {
    pub out: &'a mut Vec<u8>,
    pub req: u32,
}

impl EventSink for RowSink<'_> {
    #[inline]
    fn event(&mut self, e: Event) {
        self.out.extend_from_slice(&EventRow::of(&e).to_bytes(self.req));
    }
}

/// Why request row `i` (op, side, kind, tif, post_only at offsets 28..33) cannot be applied.
pub(crate) fn check_request(i: usize, r: &[u8]) -> Result<(), String> {
    let (op, s, k, t, p) = (r[28], r[29], r[30], r[31], r[32]);
    if op > 2 || (op == 0 && (s > 1 || k > 1 || t > 2 || p > 2)) {
        return Err(format!(
            "row {i}: op {op} side {s} kind {k} tif {t} post_only {p} (need op 0-2, side 0-1, kind 0-1, tif 0-2, post_only 0-2); nothing applied"
        ));
    }
    Ok(())
}

/// Applies one request row (already checked by [`check_request`]) to the book.
#[inline]
pub(crate) fn apply_request(book: &mut rfq_match::OrderBook, r: &[u8], sink: &mut RowSink<'_>) {
    let (id, price, qty) = (rd_u64(r, 0), rd_i64(r, 8), rd_i64(r, 16));
    match r[28] {
        0 => {
            let o = NewOrder {
                id,
                account: rd_u32(r, 24),
                side: side_of(r[29]).expect("checked"),
                kind: kind_of(r[30]).expect("checked"),
                tif: tif_of(r[31]).expect("checked"),
                post_only: post_only_of(r[32]).expect("checked"),
                price,
                qty,
            };
            book.submit(&o, sink);
        }
        1 => book.cancel(id, sink),
        _ => book.replace(id, price, qty, sink),
    }
}
