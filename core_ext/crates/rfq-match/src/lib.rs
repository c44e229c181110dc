//! The matching core of rfqcore: a central limit order book per instrument with price-time
//! priority, for the simulated external venues and the internal crossing book.
//!
//! - [`OrderBook`]: one instrument. Limit and market orders; GTC, IOC, FOK (all-or-nothing,
//!   checked before any fill); post-only (reject, or slide one tick behind the opposite best);
//!   cancel and cancel/replace (priority kept only for a same-price size decrease); self-trade
//!   prevention per account (cancel newest / oldest / both); per-account maker/taker fees.
//! - Events ([`Event`]) go to a caller-provided [`EventSink`] in one deterministic sequence
//!   per request; nothing allocates after construction.
//! - Prices and quantities are fixed-point `i64` in the instrument's scales, validated against
//!   tick, lot, maximum size and the book's price band.
//!
//! Data structures (see `docs/matching.md`): an arena of order nodes linked into one FIFO per
//! price level (O(1) cancel by id through a pre-sized open-addressing id map), and per side a
//! dense array of levels over the price band with a two-level occupancy bitmap (O(1) level
//! access, the best level cached, the next one found by a bitmap scan).
//!
//! ```
//! use rfq_match::*;
//! use rfq_model::Side;
//! let cfg = BookConfig { tick: 10, lot: 1, max_qty: 1_000, min_price: 10, max_price: 10_000,
//!     max_orders: 1_024, max_accounts: 4, default_account: AccountConfig::default() };
//! let mut book = OrderBook::new(cfg).unwrap();
//! let mut ev: Vec<Event> = Vec::new();
//! let order = |id, account, side, price, qty| NewOrder { id, account, side, kind: OrderType::Limit,
//!     tif: TimeInForce::Gtc, post_only: PostOnly::Off, price, qty };
//! book.submit(&order(1, 0, Side::Ask, 1_000, 5), &mut ev);
//! book.submit(&order(2, 1, Side::Bid, 1_010, 8), &mut ev);   // crosses: 5 @ 1000, 3 rest
//! assert!(matches!(ev[2], Event::Trade { maker_id: 1, taker_id: 2, price: 1_000, qty: 5, .. }));
//! assert_eq!(book.best_bid(), Some((1_010, 3)));
//! book.cancel(2, &mut ev);
//! assert!(book.is_empty());
//! ```
#![deny(missing_docs, unsafe_code)]

mod book;
mod idmap;
mod levels;
mod types;

pub use book::{fee, opposite, OrderBook, Orders};
pub use types::*;
