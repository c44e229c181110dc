//! `Book`: a standalone L2 book for Python (the same code as the core's venue books).
use crate::conversion::to_side;
use crate::errors::{book_err, BookError};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use rfq_book::L2Book;
use rfq_model::Side;

// The Python default for `window` is written as a literal so the signature shows it.
const _: () = assert!(rfq_book::DEFAULT_WINDOW == 131_072);

/// A standalone L2 book. Prices and quantities are fixed-point ints; prices must be multiples of
/// `tick`; `window` is the dense window in ticks (far levels are kept in a sorted overflow).
#[pyclass(module = "rfqcore_core")]
pub struct Book {
    inner: L2Book,
}

#[pymethods]
impl Book {
    #[new]
    #[pyo3(signature = (capacity = 16384, tick = 1, window = 131_072))]
    fn new(capacity: usize, tick: i64, window: usize) -> PyResult<Self> {
        if tick <= 0 {
            return Err(BookError::new_err(format!("tick must be positive, got {tick}")));
        }
        Ok(Book { inner: L2Book::new(capacity.max(1), tick, window) })
    }

    /// Set the level at `price` on `side` (0 bid, 1 ask) to `qty` (0 deletes).
    fn update(&mut self, side: u8, price: i64, qty: i64) -> PyResult<()> {
        let s = match side {
            0 => Side::Bid,
            1 => Side::Ask,
            _ => return Err(BookError::new_err(format!("side must be 0 or 1, got {side}"))),
        };
        self.inner.set(s, price, qty).map_err(book_err)
    }

    /// Apply many updates from three equally long numpy arrays. Every row is validated before
    /// any is applied (a bad side/price/qty changes nothing); a full ladder stops the batch and
    /// raises, naming how many rows were applied. Returns the number applied.
    fn update_batch(
        &mut self,
        sides: PyReadonlyArray1<'_, u8>,
        prices: PyReadonlyArray1<'_, i64>,
        qtys: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<usize> {
        let (s, p, q) = (sides.as_slice()?, prices.as_slice()?, qtys.as_slice()?);
        if s.len() != p.len() || s.len() != q.len() {
            return Err(BookError::new_err(format!(
                "arrays differ in length: sides {}, prices {}, qtys {}",
                s.len(),
                p.len(),
                q.len()
            )));
        }
        for i in 0..s.len() {
            if s[i] > 1 || p[i] <= 0 || q[i] < 0 {
                return Err(BookError::new_err(format!(
                    "row {i}: side {} price {} qty {} (need side 0/1, price > 0, qty >= 0); nothing applied",
                    s[i], p[i], q[i]
                )));
            }
        }
        for i in 0..s.len() {
            let sd = if s[i] == 0 { Side::Bid } else { Side::Ask };
            if let Err(e) = self.inner.set(sd, p[i], q[i]) {
                return Err(BookError::new_err(format!("row {i}: {e}; rows 0..{i} applied")));
            }
        }
        Ok(s.len())
    }

    /// Remove every level.
    fn clear(&mut self) {
        self.inner.clear();
    }

    /// `(price, qty)` of the best bid, or None.
    fn best_bid(&self) -> Option<(i64, i64)> {
        self.inner.best_bid()
    }

    /// `(price, qty)` of the best ask, or None.
    fn best_ask(&self) -> Option<(i64, i64)> {
        self.inner.best_ask()
    }

    /// Up to `levels` levels of `side` from the best.
    fn depth(&self, side: u8, levels: usize) -> PyResult<Vec<(i64, i64)>> {
        Ok(self.inner.depth(to_side(side)?, levels))
    }

    /// Average price to take `qty` from `side`, rounded against the taker; None if too thin.
    fn vwap(&self, side: u8, qty: i64) -> PyResult<Option<i64>> {
        Ok(self.inner.vwap(to_side(side)?, qty))
    }

    /// `(filled, notional)` to take `qty` from `side`; None if too thin.
    fn sweep(&self, side: u8, qty: i64) -> PyResult<Option<(i64, i128)>> {
        Ok(self.inner.sweep(to_side(side)?, qty))
    }

    /// Quantity resting at `price` on `side` (0 if no level).
    fn qty_at(&self, side: u8, price: i64) -> PyResult<i64> {
        Ok(self.inner.ladder(to_side(side)?).qty_at(price))
    }

    /// Number of levels on `side`.
    fn levels(&self, side: u8) -> PyResult<usize> {
        Ok(self.inner.ladder(to_side(side)?).len())
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Book(bids={}, asks={}, best_bid={:?}, best_ask={:?})",
            self.inner.bids.len(),
            self.inner.asks.len(),
            self.inner.best_bid(),
            self.inner.best_ask()
        )
    }
}
