//! Order management for rfqcore: the state machine of the desk's orders at external venues.
//!
//! - [`Oms`] tracks every order the desk sends to a venue, from [`OrderState::New`] through
//!   `PendingNew` (sent), `Acknowledged`, `PartiallyFilled` (and `PendingCancel`) to exactly one
//!   terminal state: `Filled`, `Cancelled`, `Rejected` or `Expired`.
//! - Client order ids are idempotent: a second new-order request with a known id is refused
//!   ([`OmsError::DuplicateClOrdId`]) and changes nothing. Venue order ids are mapped once the
//!   venue reports one.
//! - Venue reports ([`VenueReport`]) are inputs keyed by a venue exec id: a duplicate is
//!   ignored ([`Outcome::Duplicate`]), reports may arrive in any order (a fill implies the ack;
//!   a cancel ack after the full fill is ignored; fills after a cancel ack are still booked),
//!   and an overfill is refused ([`OmsError::Overfill`]). Every refusal is a specific
//!   [`OmsError`] and **a refused input changes no state**.
//! - Positions per (venue, instrument) from the distinct fills: net quantity, bought/sold
//!   quantity, exact `i128` notionals and fees ([`Position`]).
//! - [`Oms::disconnect`] (cancel-on-disconnect) and [`Oms::reconcile`] (after a reconnect,
//!   against the venue's snapshot of open orders and fills) give deterministic actions.
//!
//! Everything is deterministic: ordered maps only, actions sorted by id. Prices, quantities
//! and fees are fixed-point `i64` in the instrument's scales; a fill's notional is
//! `price × qty` as `i128` (no rounding anywhere except the reported averages).
//!
//! Storage is bounded and reserved at construction ([`Oms::with_capacity`], default
//! [`DEFAULT_MAX_ORDERS`]): the OMS does not allocate afterwards. A full order table prunes
//! its oldest terminal orders; with none to prune, the input is refused with
//! [`OmsError::Full`] (docs/oms.md, "Bounds and pruning").
//!
//! ```
//! use rfq_oms::*;
//! let mut oms = Oms::new();
//! oms.new_order(&NewOrder { cl_ord_id: 1, venue: 2, instrument: 7, side: Side::Bid,
//!     price: 1_000, qty: 10 }).unwrap();
//! assert_eq!(oms.new_order(&NewOrder { cl_ord_id: 1, venue: 2, instrument: 7,
//!     side: Side::Bid, price: 1_000, qty: 10 }), Err(OmsError::DuplicateClOrdId));
//! oms.mark_sent(1).unwrap();
//! let fill = |exec_id, qty| VenueReport { venue: 2, cl_ord_id: 1, venue_order_id: 99, exec_id,
//!     kind: ReportKind::Fill { qty, price: 1_000, fee: 1 } };
//! // a fill before the ack implies the ack
//! assert_eq!(oms.apply(&fill(1, 4)), Ok(Outcome::Applied(OrderState::PartiallyFilled)));
//! assert_eq!(oms.apply(&fill(1, 4)), Ok(Outcome::Duplicate));
//! assert_eq!(oms.apply(&fill(2, 7)), Err(OmsError::Overfill));
//! assert_eq!(oms.apply(&fill(3, 6)), Ok(Outcome::Applied(OrderState::Filled)));
//! assert_eq!(oms.position(2, 7).net, 10);
//! ```
#![deny(missing_docs, unsafe_code)]

mod apply;
mod codec;
mod error;
mod oms;
mod order;
mod position;
mod reconcile;
mod report;
mod state;
mod store;

pub use crate::error::OmsError;
pub use crate::oms::{Oms, DEFAULT_MAX_ORDERS, EXEC_IDS_PER_ORDER, MAX_POSITIONS};
pub use crate::order::{NewOrder, Order};
pub use crate::position::Position;
pub use crate::reconcile::{ReconAction, VenueFill, VenueOpenOrder, VenueSnapshot};
pub use crate::report::{Outcome, ReportKind, VenueReport};
pub use crate::state::OrderState;
pub use rfq_model::Side;

/// A venue (exchange) id.
pub type VenueId = u16;
/// An instrument id (the venue's instrument as configured by the desk).
pub type InstrumentId = u32;
/// The desk's client order id (`clOrdId`); ≠ 0, unique forever within one [`Oms`].
pub type ClOrdId = u64;
/// The venue's order id (0 in a report = not given).
pub type VenueOrderId = u64;
/// The venue's execution / report id; ≠ 0, unique per venue.
pub type ExecId = u64;
