//! `MatchingBook`: the matching core (`rfq-match`) for Python, one call per request or batched.
//!
//! Per call, events come back as plain tuples (see `event_tuple`); batched, `process` reads a
//! numpy structured array of requests by fixed field offsets (`REQUEST_FIELDS`), runs the whole
//! batch with the GIL released, and returns a numpy structured array of events
//! (`EVENT_FIELDS`). `src/rfqcore/matching.py` defines both dtypes by hand and checks them
//! against `MatchingBook.layouts()` at import. Rejects are events, not exceptions; bad
//! arguments (unknown mode strings, side not 0/1, malformed request arrays) raise
//! `MatchingError`, a bad book/account configuration raises `ConfigError`.
use crate::errors::{config_err, matching_err as merr};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rfq_match::{
    AccountConfig, BookConfig, CancelReason, Event, EventSink, NewOrder, OrderBook, OrderType, PostOnly, RejectReason,
    Request, StpMode, TimeInForce,
};
use rfq_model::Side;

// ---- codes shared by the tuple and the array forms -----------------------------------------

const REJECT_NAMES: [&str; 13] = [
    "unknown_order",
    "duplicate_id",
    "unknown_account",
    "bad_qty",
    "off_lot",
    "bad_price",
    "off_tick",
    "price_out_of_band",
    "invalid_combination",
    "book_full",
    "no_liquidity",
    "fok_not_fillable",
    "post_only_would_take",
];

fn reject_code(r: RejectReason) -> u8 {
    match r {
        RejectReason::UnknownOrder => 0,
        RejectReason::DuplicateId => 1,
        RejectReason::UnknownAccount => 2,
        RejectReason::BadQty => 3,
        RejectReason::OffLot => 4,
        RejectReason::BadPrice => 5,
        RejectReason::OffTick => 6,
        RejectReason::PriceOutOfBand => 7,
        RejectReason::InvalidCombination => 8,
        RejectReason::BookFull => 9,
        RejectReason::NoLiquidity => 10,
        RejectReason::FokNotFillable => 11,
        RejectReason::PostOnlyWouldTake => 12,
    }
}

const REQUEST_NAMES: [&str; 3] = ["new", "cancel", "replace"];
fn request_code(r: Request) -> u8 {
    match r {
        Request::New => 0,
        Request::Cancel => 1,
        Request::Replace => 2,
    }
}

const CANCEL_NAMES: [&str; 2] = ["user", "self_trade"];
fn cancel_code(r: CancelReason) -> u8 {
    match r {
        CancelReason::User => 0,
        CancelReason::SelfTrade => 1,
    }
}

const POST_ONLY_NAMES: [&str; 3] = ["off", "reject", "slide"];
fn post_only_code(p: PostOnly) -> u8 {
    match p {
        PostOnly::Off => 0,
        PostOnly::Reject => 1,
        PostOnly::Slide => 2,
    }
}

fn side_of(v: u8) -> Option<Side> {
    Side::from_u8(v)
}
fn kind_of(v: u8) -> Option<OrderType> {
    match v {
        0 => Some(OrderType::Limit),
        1 => Some(OrderType::Market),
        _ => None,
    }
}
fn tif_of(v: u8) -> Option<TimeInForce> {
    match v {
        0 => Some(TimeInForce::Gtc),
        1 => Some(TimeInForce::Ioc),
        2 => Some(TimeInForce::Fok),
        _ => None,
    }
}
fn post_only_of(v: u8) -> Option<PostOnly> {
    match v {
        0 => Some(PostOnly::Off),
        1 => Some(PostOnly::Reject),
        2 => Some(PostOnly::Slide),
        _ => None,
    }
}

fn parse<T>(what: &str, s: &str, names: &[&str], of: impl Fn(u8) -> Option<T>) -> PyResult<T> {
    names
        .iter()
        .position(|n| *n == s)
        .and_then(|i| of(i as u8))
        .ok_or_else(|| merr(format!("{what} must be one of {names:?}, got {s:?}")))
}

fn stp_of(s: &str) -> PyResult<StpMode> {
    Ok(match s {
        "none" => StpMode::Off,
        "cancel_newest" => StpMode::CancelNewest,
        "cancel_oldest" => StpMode::CancelOldest,
        "cancel_both" => StpMode::CancelBoth,
        _ => {
            return Err(merr(format!(
                "stp must be one of [\"none\", \"cancel_newest\", \"cancel_oldest\", \"cancel_both\"], got {s:?}"
            )))
        }
    })
}

// ---- array layouts ---------------------------------------------------------------------------

/// Request row: (name, numpy format, offset). 40 bytes, little-endian, no padding fields.
const REQUEST_FIELDS: [(&str, &str, usize); 9] = [
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
const REQUEST_SIZE: usize = 40;

/// Event row: (name, numpy format, offset). 96 bytes.
const EVENT_FIELDS: [(&str, &str, usize); 17] = [
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
const EVENT_SIZE: usize = 96;

const EV_ACCEPTED: u8 = 0;
const EV_REJECTED: u8 = 1;
const EV_TRADE: u8 = 2;
const EV_CANCELLED: u8 = 3;
const EV_EXPIRED: u8 = 4;
const EV_REPLACED: u8 = 5;

fn spec_dict<'py>(py: Python<'py>, fields: &[(&str, &str, usize)], size: usize) -> PyResult<Bound<'py, PyDict>> {
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

/// Appends one `EVENT_SIZE`-byte row per event, tagged with the request's index in the batch.
struct RowSink<'a> {
    out: &'a mut Vec<u8>,
    req: u32,
}

impl EventSink for RowSink<'_> {
    #[inline]
    fn event(&mut self, e: Event) {
        let mut r = [0_u8; EVENT_SIZE];
        let mut put8 = |off: usize, v: [u8; 8]| r[off..off + 8].copy_from_slice(&v);
        let (kind, side, flag, reason, acc, tacc);
        match e {
            Event::Accepted { id, account, side: s, price, qty, repriced } => {
                put8(0, id.to_le_bytes());
                put8(16, price.to_le_bytes());
                put8(24, qty.to_le_bytes());
                (kind, side, flag, reason, acc, tacc) = (EV_ACCEPTED, s as u8, repriced as u8, 0, account, 0);
            }
            Event::Rejected { id, request, reason: why } => {
                put8(0, id.to_le_bytes());
                (kind, side, flag, reason, acc, tacc) = (EV_REJECTED, 0, request_code(request), reject_code(why), 0, 0);
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
            } => {
                put8(0, maker_id.to_le_bytes());
                put8(8, taker_id.to_le_bytes());
                put8(16, price.to_le_bytes());
                put8(24, qty.to_le_bytes());
                put8(32, maker_remaining.to_le_bytes());
                put8(40, taker_remaining.to_le_bytes());
                put8(48, maker_fee.to_le_bytes());
                put8(56, taker_fee.to_le_bytes());
                (kind, side, flag, reason, acc, tacc) = (EV_TRADE, taker_side as u8, 0, 0, maker_account, taker_account);
            }
            Event::Cancelled { id, reason: why, remaining } => {
                put8(0, id.to_le_bytes());
                put8(32, remaining.to_le_bytes());
                (kind, side, flag, reason, acc, tacc) = (EV_CANCELLED, 0, 0, cancel_code(why), 0, 0);
            }
            Event::Expired { id, remaining } => {
                put8(0, id.to_le_bytes());
                put8(32, remaining.to_le_bytes());
                (kind, side, flag, reason, acc, tacc) = (EV_EXPIRED, 0, 0, 0, 0, 0);
            }
            Event::Replaced { id, old_price, old_qty, new_price, new_qty, priority_kept } => {
                put8(0, id.to_le_bytes());
                put8(16, new_price.to_le_bytes());
                put8(24, new_qty.to_le_bytes());
                put8(64, old_price.to_le_bytes());
                put8(72, old_qty.to_le_bytes());
                (kind, side, flag, reason, acc, tacc) = (EV_REPLACED, 0, priority_kept as u8, 0, 0, 0);
            }
        }
        r[80..84].copy_from_slice(&acc.to_le_bytes());
        r[84..88].copy_from_slice(&tacc.to_le_bytes());
        r[88..92].copy_from_slice(&self.req.to_le_bytes());
        r[92] = kind;
        r[93] = side;
        r[94] = flag;
        r[95] = reason;
        self.out.extend_from_slice(&r);
    }
}

/// One event as a plain tuple (first item the event name); documented in the `.pyi`.
fn event_tuple<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyTuple>> {
    match *e {
        Event::Accepted { id, account, side, price, qty, repriced } => {
            ("accepted", id, account, side as u8, price, qty, repriced).into_pyobject(py)
        }
        Event::Rejected { id, request, reason } => (
            "rejected",
            id,
            REQUEST_NAMES[request_code(request) as usize],
            REJECT_NAMES[reject_code(reason) as usize],
        )
            .into_pyobject(py),
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
        } => PyTuple::new(
            py,
            [
                "trade".into_pyobject(py)?.into_any(),
                maker_id.into_pyobject(py)?.into_any(),
                taker_id.into_pyobject(py)?.into_any(),
                maker_account.into_pyobject(py)?.into_any(),
                taker_account.into_pyobject(py)?.into_any(),
                (taker_side as u8).into_pyobject(py)?.into_any(),
                price.into_pyobject(py)?.into_any(),
                qty.into_pyobject(py)?.into_any(),
                maker_fee.into_pyobject(py)?.into_any(),
                taker_fee.into_pyobject(py)?.into_any(),
                maker_remaining.into_pyobject(py)?.into_any(),
                taker_remaining.into_pyobject(py)?.into_any(),
            ],
        ),
        Event::Cancelled { id, reason, remaining } => {
            ("cancelled", id, CANCEL_NAMES[cancel_code(reason) as usize], remaining).into_pyobject(py)
        }
        Event::Expired { id, remaining } => ("expired", id, remaining).into_pyobject(py),
        Event::Replaced { id, old_price, old_qty, new_price, new_qty, priority_kept } => {
            ("replaced", id, old_price, old_qty, new_price, new_qty, priority_kept).into_pyobject(py)
        }
    }
}

/// `(id, account, price, qty, post_only)` of a resting order.
type OrderRow = (u64, u32, i64, i64, &'static str);

/// A central limit order book with price-time priority (the `rfq-match` core).
#[pyclass(module = "rfqcore_core")]
pub struct MatchingBook {
    inner: OrderBook,
    scratch: Vec<Event>,
    rows: Vec<u8>,
    request_dtype: Py<PyAny>,
    event_dtype: Py<PyAny>,
}

impl MatchingBook {
    fn events<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let l = PyList::empty(py);
        for e in &self.scratch {
            l.append(event_tuple(py, e)?)?;
        }
        self.scratch.clear();
        Ok(l)
    }
}

#[pymethods]
impl MatchingBook {
    #[new]
    #[pyo3(signature = (tick, lot, max_qty, min_price, max_price, max_orders = 1_048_576, max_accounts = 1024))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        tick: i64,
        lot: i64,
        max_qty: i64,
        min_price: i64,
        max_price: i64,
        max_orders: usize,
        max_accounts: usize,
    ) -> PyResult<Self> {
        let cfg = BookConfig {
            tick,
            lot,
            max_qty,
            min_price,
            max_price,
            max_orders,
            max_accounts,
            default_account: AccountConfig { stp: StpMode::Off, maker_cbps: 0, taker_cbps: 0 },
        };
        let inner = py.detach(|| OrderBook::new(cfg)).map_err(config_err)?;
        let np = py.import("numpy")?;
        let request_dtype = np.call_method1("dtype", (spec_dict(py, &REQUEST_FIELDS, REQUEST_SIZE)?,))?.unbind();
        let event_dtype = np.call_method1("dtype", (spec_dict(py, &EVENT_FIELDS, EVENT_SIZE)?,))?.unbind();
        Ok(MatchingBook { inner, scratch: Vec::with_capacity(64), rows: Vec::new(), request_dtype, event_dtype })
    }

    /// `(request_spec, event_spec)`: numpy dtype specs (names/formats/offsets/itemsize) of the
    /// `process` arrays, as the Rust side reads and writes them.
    #[staticmethod]
    fn layouts(py: Python<'_>) -> PyResult<(Bound<'_, PyDict>, Bound<'_, PyDict>)> {
        Ok((spec_dict(py, &REQUEST_FIELDS, REQUEST_SIZE)?, spec_dict(py, &EVENT_FIELDS, EVENT_SIZE)?))
    }

    /// Configure an account's self-trade prevention and maker/taker fees (centi-basis-points).
    /// Accounts not configured trade with STP "none" and no fees.
    #[pyo3(signature = (account, stp = "none", maker_cbps = 0, taker_cbps = 0))]
    fn set_account(&mut self, account: u32, stp: &str, maker_cbps: i32, taker_cbps: i32) -> PyResult<()> {
        let cfg = AccountConfig { stp: stp_of(stp)?, maker_cbps, taker_cbps };
        self.inner.set_account(account, cfg).map_err(config_err)
    }

    /// Submit a new order; returns its events as tuples (a reject is an event).
    #[pyo3(signature = (id, account, side, price, qty, kind = "limit", tif = "gtc", post_only = "off"))]
    #[allow(clippy::too_many_arguments)]
    fn submit<'py>(
        &mut self,
        py: Python<'py>,
        id: u64,
        account: u32,
        side: u8,
        price: i64,
        qty: i64,
        kind: &str,
        tif: &str,
        post_only: &str,
    ) -> PyResult<Bound<'py, PyList>> {
        let side = side_of(side).ok_or_else(|| merr(format!("side must be 0 (bid) or 1 (ask), got {side}")))?;
        let o = NewOrder {
            id,
            account,
            side,
            kind: parse("kind", kind, &["limit", "market"], kind_of)?,
            tif: parse("tif", tif, &["gtc", "ioc", "fok"], tif_of)?,
            post_only: parse("post_only", post_only, &POST_ONLY_NAMES, post_only_of)?,
            price,
            qty,
        };
        self.scratch.clear();
        self.inner.submit(&o, &mut self.scratch);
        self.events(py)
    }

    /// Cancel a resting order; returns its events as tuples.
    fn cancel<'py>(&mut self, py: Python<'py>, id: u64) -> PyResult<Bound<'py, PyList>> {
        self.scratch.clear();
        self.inner.cancel(id, &mut self.scratch);
        self.events(py)
    }

    /// Cancel/replace a resting order to `price` with open quantity `qty`; returns events.
    fn replace<'py>(&mut self, py: Python<'py>, id: u64, price: i64, qty: i64) -> PyResult<Bound<'py, PyList>> {
        self.scratch.clear();
        self.inner.replace(id, price, qty, &mut self.scratch);
        self.events(py)
    }

    /// Run a batch of requests (a 1-D C-contiguous array of the request dtype) with the GIL
    /// released; returns the events as an array of the event dtype (`req` = row index). Every
    /// row's codes are checked before any is applied (a bad row raises, nothing applied).
    fn process<'py>(&mut self, py: Python<'py>, requests: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let dt = requests.getattr("dtype").map_err(|_| merr("requests must be a numpy array".into()))?;
        if !dt.eq(self.request_dtype.bind(py))? {
            return Err(merr(format!("requests must have the request dtype (rfqcore.matching.REQUEST_DTYPE), got {dt}")));
        }
        let ndim: usize = requests.getattr("ndim")?.extract()?;
        if ndim != 1 {
            return Err(merr(format!("requests must be 1-D, got {ndim} dimensions")));
        }
        let bytes = requests.call_method1("view", ("u1",)).map_err(|e| merr(format!("requests must be C-contiguous: {e}")))?;
        let arr: PyReadonlyArray1<'_, u8> = bytes.extract()?;
        let buf = arr.as_slice().map_err(|_| merr("requests must be C-contiguous".into()))?;
        let n = buf.len() / REQUEST_SIZE;
        if n > u32::MAX as usize {
            return Err(merr(format!("at most {} requests per batch", u32::MAX)));
        }
        for i in 0..n {
            let r = &buf[i * REQUEST_SIZE..(i + 1) * REQUEST_SIZE];
            let (op, s, k, t, p) = (r[28], r[29], r[30], r[31], r[32]);
            if op > 2 || (op == 0 && (s > 1 || k > 1 || t > 2 || p > 2)) {
                return Err(merr(format!(
                    "row {i}: op {op} side {s} kind {k} tif {t} post_only {p} (need op 0-2, side 0-1, kind 0-1, tif 0-2, post_only 0-2); nothing applied"
                )));
            }
        }
        let mut rows = std::mem::take(&mut self.rows);
        rows.clear();
        let book = &mut self.inner;
        py.detach(|| {
            let mut sink = RowSink { out: &mut rows, req: 0 };
            for i in 0..n {
                let r = &buf[i * REQUEST_SIZE..(i + 1) * REQUEST_SIZE];
                sink.req = i as u32;
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
                        book.submit(&o, &mut sink);
                    }
                    1 => book.cancel(id, &mut sink),
                    _ => book.replace(id, price, qty, &mut sink),
                }
            }
        });
        let out = PyArray1::<u8>::from_slice(py, &rows).into_any().call_method1("view", (self.event_dtype.bind(py),));
        self.rows = rows;
        out
    }

    /// `(price, total qty)` of the best bid, or None.
    fn best_bid(&self) -> Option<(i64, i64)> {
        self.inner.best_bid()
    }

    /// `(price, total qty)` of the best ask, or None.
    fn best_ask(&self) -> Option<(i64, i64)> {
        self.inner.best_ask()
    }

    /// Deterministic hash of the whole book state (same requests → same hash).
    fn state_hash(&self) -> u64 {
        self.inner.state_hash()
    }

    /// Resting orders of `side` (0 bid, 1 ask) in priority order:
    /// `(id, account, price, qty, post_only)`.
    fn orders(&self, side: u8) -> PyResult<Vec<OrderRow>> {
        let s = side_of(side).ok_or_else(|| merr(format!("side must be 0 (bid) or 1 (ask), got {side}")))?;
        Ok(self
            .inner
            .orders(s)
            .map(|o| (o.id, o.account, o.price, o.qty, POST_ONLY_NAMES[post_only_code(o.post_only) as usize]))
            .collect())
    }

    /// Number of resting orders.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "MatchingBook(orders={}, best_bid={:?}, best_ask={:?})",
            self.inner.len(),
            self.inner.best_bid(),
            self.inner.best_ask()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MatchingBook>()?;
    Ok(())
}
