//! Order books of the rfqcore core thread.
//!
//! - [`Ladder`]: one side of an L2 book: a dense tick-indexed window of quantities near the
//!   touch (O(1) updates, a bitmap to find the next level) and a sorted overflow that keeps far
//!   levels exactly (Binance diffs reach 10× the mid). Capacity is fixed at construction: the
//!   update path never allocates, and a full ladder is an error, never a silent drop.
//! - [`L2Book`]: a bid and an ask ladder with sweep / VWAP queries.
//! - [`composite`]: a k-way sweep across several venue books with exact scale conversion
//!   (including inverse contracts), used by pricing.
//!
//! ```
//! use rfq_book::L2Book;
//! use rfq_model::Side;
//! let mut b = L2Book::with_capacity(64);
//! b.set(Side::Ask, 101, 5).unwrap();
//! b.set(Side::Ask, 102, 10).unwrap();
//! b.set(Side::Bid, 99, 7).unwrap();
//! assert_eq!(b.best_ask(), Some((101, 5)));
//! // buying 10 sweeps 5@101 + 5@102 = 1015 → average 101.5, rounded up against the taker
//! assert_eq!(b.sweep(Side::Ask, 10), Some((10, 1015)));
//! assert_eq!(b.vwap(Side::Ask, 10), Some(102));
//! ```
#![deny(missing_docs, unsafe_code)]

mod book;
pub mod composite;
mod error;
pub mod fenwick;
mod ladder;

pub use book::L2Book;
pub use error::BookError;
pub use ladder::{Ladder, Levels, DEFAULT_WINDOW};
