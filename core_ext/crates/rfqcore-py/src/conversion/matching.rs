//! Matching events → the plain tuples `MatchingBook.submit/cancel/replace` return (first item
//! the event name; documented as `MatchingEvent` in the `.pyi`).
use super::Wrap;
use crate::matching::codes::{CANCEL_NAMES, REJECT_NAMES, REQUEST_NAMES};
use crate::matching::rows::{EventRow, EV_ACCEPTED, EV_CANCELLED, EV_EXPIRED, EV_REJECTED, EV_REPLACED, EV_TRADE};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

impl<'py> IntoPyObject<'py> for Wrap<EventRow> {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let e = self.0;
        match e.kind {
            EV_ACCEPTED => ("accepted", e.id, e.account, e.side, e.price, e.qty, e.flag != 0).into_pyobject(py),
            EV_REJECTED => {
                ("rejected", e.id, REQUEST_NAMES[usize::from(e.flag)], REJECT_NAMES[usize::from(e.reason)]).into_pyobject(py)
            }
            EV_TRADE => trade_tuple(py, &e),
            EV_CANCELLED => ("cancelled", e.id, CANCEL_NAMES[usize::from(e.reason)], e.remaining).into_pyobject(py),
            EV_EXPIRED => ("expired", e.id, e.remaining).into_pyobject(py),
            EV_REPLACED => ("replaced", e.id, e.old_price, e.old_qty, e.price, e.qty, e.flag != 0).into_pyobject(py),
            other => unreachable!("EventRow::of makes no event kind {other}"),
        }
    }
}

/// `("trade", maker_id, taker_id, maker_account, taker_account, taker_side, price, qty,
/// maker_fee, taker_fee, maker_remaining, taker_remaining)`.
fn trade_tuple<'py>(py: Python<'py>, e: &EventRow) -> PyResult<Bound<'py, PyTuple>> {
    let head = ("trade", e.id, e.taker_id, e.account, e.taker_account, e.side).into_pyobject(py)?;
    let tail = (e.price, e.qty, e.maker_fee, e.taker_fee, e.remaining, e.taker_remaining).into_pyobject(py)?;
    PyTuple::new(py, head.iter().chain(tail.iter()).collect::<Vec<_>>())
}
