//! `MatchingBook`: the matching core (`rfq-match`) for Python, one call per request or batched.
//!
//! Per call, events come back as plain tuples (`conversion::matching`); batched, `process` reads a
//! numpy structured array of requests by fixed field offsets (`REQUEST_FIELDS`), runs the whole
//! batch with the GIL released, and returns a numpy structured array of events
//! (`EVENT_FIELDS`). `src/rfqcore/matching.py` defines both dtypes by hand and checks them
//! against `MatchingBook.layouts()` at import. Rejects are events, not exceptions; bad
//! arguments (unknown mode strings, side not 0/1, malformed request arrays) raise
//! `MatchingError`, a bad book/account configuration raises `ConfigError`.
pub(crate) mod codes;
pub(crate) mod rows;

use crate::conversion::Wrap;
use crate::errors::{config_err, matching_err as merr};
use codes::{kind_of, parse, post_only_code, post_only_of, side_of, stp_of, tif_of, POST_ONLY_NAMES};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rfq_match::{AccountConfig, BookConfig, Event, NewOrder, OrderBook, StpMode};
use rows::{apply_request, check_request, spec_dict, EventRow, RowSink, EVENT_FIELDS, EVENT_SIZE, REQUEST_FIELDS, REQUEST_SIZE};

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
            l.append(Wrap(EventRow::of(e)))?;
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
        for (i, r) in buf.chunks_exact(REQUEST_SIZE).enumerate() {
            check_request(i, r).map_err(merr)?;
        }
        let mut rows = std::mem::take(&mut self.rows);
        rows.clear();
        let book = &mut self.inner;
        py.detach(|| {
            let mut sink = RowSink { out: &mut rows, req: 0 };
            for (i, r) in buf.chunks_exact(REQUEST_SIZE).enumerate() {
                sink.req = i as u32;
                apply_request(book, r, &mut sink);
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
