//! Domain model shared by every rfqcore crate.
//!
//! - [`fixed`]: exact fixed-point arithmetic on `i64` values with per-instrument decimal
//!   scales (no floats anywhere).
//! - [`instrument`]: the instrument registry entries the core is configured with.
//! - [`composite`]: composite books (one underlying across venues) and their pricing knobs.
//! - [`rfq`]: the RFQ workflow's clients, tiers, risk limits and pricing v2 knobs.
//!
//! ```
//! use rfq_model::fixed::parse_fixed;
//! assert_eq!(parse_fixed("61737.63000000", 2).unwrap(), 6_173_763);
//! assert!(parse_fixed("61737.635", 2).is_err()); // finer than the scale: refused, not rounded
//! ```
#![deny(missing_docs, unsafe_code)]

pub mod composite;
pub mod error;
pub mod fixed;
pub mod instrument;
pub mod rfq;

pub use composite::{CompositeSpec, PricingParams};
pub use error::ModelError;
pub use instrument::{Instrument, InstrumentKind, Side, BOOK_WINDOW_RANGE, DEFAULT_BOOK_WINDOW};
pub use rfq::{ClientSpec, DeskSpec, HedgeMode, HedgeSpec, HedgeVenue, InstrumentRisk, InternalBookSpec, PricingV2, RfqConfig, Throttle, TierSpec, NOTIONAL_DECIMALS};
