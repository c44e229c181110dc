//! What rfqcore's domain crates share, and nothing else.
//!
//! The core thread's state is split into domains that never depend on each other:
//! `rfq-market` (venue books, composites, the quote ladders), `rfq-desk` (RFQs, quotes,
//! accepts, risk, positions, operator commands) and `rfq-hedge` (the hedging policy, the
//! router, the internal crossing book). `rfq-engine` owns one of each and dispatches every
//! input record to them. This crate is the vocabulary they share:
//!
//! - [`Sink`] and [`echo`]: where outputs go and the shape of an answer;
//! - [`codec`]: the one encoding of every piece of state (snapshots and the state hash);
//! - [`pricing`]: the exact integer price arithmetic (sweep VWAP plus spreads);
//! - [`positions`]: average-cost positions (the desk's, the clients', the internal book's);
//! - [`views`]: the read-only views one domain is given of the others, passed down by the
//!   engine (a domain never calls back up into the engine or across into a sibling).
#![deny(missing_docs, unsafe_code)]

pub mod codec;
pub mod hash;
mod ladder;
mod model_codec;
pub mod positions;
pub mod pricing;
mod sink;
pub mod views;

pub use sink::{echo, Sink};
