//! A two-sided L2 book.

use crate::error::BookError;
use crate::ladder::Ladder;
use rfq_model::fixed::{div_ceil_i128, div_floor_i128};
use rfq_model::Side;

/// Bid and ask ladders of one venue instrument.
#[derive(Debug, Clone)]
pub struct L2Book {
    /// Buy side.
    pub bids: Ladder,
    /// Sell side.
    pub asks: Ladder,
}

impl L2Book {
    /// An empty book holding up to `capacity` levels per side, tick 1, default window.
    pub fn with_capacity(capacity: usize) -> Self {
        L2Book { bids: Ladder::with_capacity(Side::Bid, capacity), asks: Ladder::with_capacity(Side::Ask, capacity) }
    }

    /// An empty book for prices on a `tick` grid (price units), with a dense window of
    /// `window` ticks per side (see [`Ladder`]).
    pub fn new(capacity: usize, tick: i64, window: usize) -> Self {
        L2Book { bids: Ladder::new(Side::Bid, capacity, tick, window), asks: Ladder::new(Side::Ask, capacity, tick, window) }
    }

    /// The ladder of `side`.
    #[inline]
    pub fn ladder(&self, side: Side) -> &Ladder {
        match side {
            Side::Bid => &self.bids,
            Side::Ask => &self.asks,
        }
    }

    /// Set a level (0 deletes). See [`Ladder::set`].
    #[inline]
    pub fn set(&mut self, side: Side, price: i64, qty: i64) -> Result<(), BookError> {
        match side {
            Side::Bid => self.bids.set(price, qty),
            Side::Ask => self.asks.set(price, qty),
        }
    }

    /// Empty both sides.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Best bid `(price, qty)`.
    #[inline]
    pub fn best_bid(&self) -> Option<(i64, i64)> {
        self.bids.best()
    }

    /// Best ask `(price, qty)`.
    #[inline]
    pub fn best_ask(&self) -> Option<(i64, i64)> {
        self.asks.best()
    }

    /// True when the best bid is at or above the best ask.
    #[inline]
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some((b, _)), Some((a, _))) if b >= a)
    }

    /// Up to `levels` levels of `side` from the best.
    pub fn depth(&self, side: Side, levels: usize) -> Vec<(i64, i64)> {
        self.ladder(side).iter().take(levels).collect()
    }

    /// Take `qty` from `side`: `(filled, notional)`, or `None` if too thin.
    #[inline]
    pub fn sweep(&self, side: Side, qty: i64) -> Option<(i64, i128)> {
        self.ladder(side).sweep(qty)
    }

    /// Average price to take `qty` from `side`, rounded against the taker: up when sweeping
    /// asks (buying), down when sweeping bids (selling). `None` if too thin or `qty <= 0`.
    #[inline]
    pub fn vwap(&self, side: Side, qty: i64) -> Option<i64> {
        if qty <= 0 {
            return None;
        }
        let (_, notional) = self.sweep(side, qty)?;
        Some(vwap_from_notional(side, notional, qty))
    }

    /// Total number of levels on both sides.
    pub fn len(&self) -> usize {
        self.bids.len() + self.asks.len()
    }

    /// True when both sides are empty.
    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }
}

/// Average price of `notional / qty`, rounded against the taker of `side`.
#[inline]
pub fn vwap_from_notional(side: Side, notional: i128, qty: i64) -> i64 {
    let q = i128::from(qty);
    let v = match side {
        Side::Ask => div_ceil_i128(notional, q),
        Side::Bid => div_floor_i128(notional, q),
    };
    v as i64
}
