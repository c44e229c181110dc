//! Orders, account settings, book configuration and events.

use rfq_model::Side;

/// Order id, unique among the orders resting in one book (a finished order's id may be reused).
pub type OrderId = u64;
/// Account id: an index below [`BookConfig::max_accounts`].
pub type AccountId = u32;

/// Limit or market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderType {
    /// Trades at its limit price or better; a GTC remainder rests.
    Limit,
    /// Trades at any price against the resting opposite side; never rests (a remainder expires).
    Market,
}

/// Time in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    /// Good till cancelled: a limit order's remainder rests.
    Gtc,
    /// Immediate or cancel: the remainder expires.
    Ioc,
    /// Fill or kill: fully filled at once, or rejected with no fill at all.
    Fok,
}

/// Post-only handling (limit GTC orders only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostOnly {
    /// Not post-only: the order may take liquidity.
    Off,
    /// Rejected ([`RejectReason::PostOnlyWouldTake`]) if it would take liquidity.
    Reject,
    /// Re-priced one tick behind the opposite best if it would take liquidity ("slide").
    Slide,
}

/// Self-trade prevention mode of an account, applied when that account's order is the
/// aggressor and meets one of the same account's resting orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StpMode {
    /// No prevention: the account may trade with itself.
    Off,
    /// Cancel the aggressor's remainder; the resting order stays.
    CancelNewest,
    /// Cancel the resting order and keep matching.
    CancelOldest,
    /// Cancel both the resting order and the aggressor's remainder.
    CancelBoth,
}

/// Per-account settings: STP mode and fee schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountConfig {
    /// Self-trade prevention mode.
    pub stp: StpMode,
    /// Maker fee in centi-basis-points of notional (1 cbps = 10⁻⁶); negative = rebate.
    pub maker_cbps: i32,
    /// Taker fee in centi-basis-points of notional.
    pub taker_cbps: i32,
}

impl Default for AccountConfig {
    fn default() -> Self {
        AccountConfig { stp: StpMode::CancelNewest, maker_cbps: 0, taker_cbps: 0 }
    }
}

/// Largest fee rate magnitude accepted, cbps (100%).
pub const MAX_FEE_CBPS: i32 = 1_000_000;

/// Static configuration of one book. Prices and quantities are fixed-point integers in the
/// instrument's scales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookConfig {
    /// Tick size (price units); every price is a multiple.
    pub tick: i64,
    /// Lot size (quantity units); every quantity is a multiple.
    pub lot: i64,
    /// Largest order quantity.
    pub max_qty: i64,
    /// Lowest accepted limit price (the price band); a multiple of `tick`, > 0.
    pub min_price: i64,
    /// Highest accepted limit price; the band holds `(max - min) / tick + 1` ticks, one slot each.
    pub max_price: i64,
    /// Most orders resting at once (the order arena is allocated at this size).
    pub max_orders: usize,
    /// Accounts are `0..max_accounts`.
    pub max_accounts: usize,
    /// Settings of accounts not configured with [`crate::OrderBook::set_account`].
    pub default_account: AccountConfig,
}

/// Largest price band, in ticks (16 M slots: 256 MiB of level heads per side at most).
pub const MAX_BAND_TICKS: i64 = 1 << 24;

/// A new order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NewOrder {
    /// Order id (must not be resting already).
    pub id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// `Bid` buys, `Ask` sells.
    pub side: Side,
    /// Limit or market.
    pub kind: OrderType,
    /// Time in force (a market order's remainder always expires, whatever this says).
    pub tif: TimeInForce,
    /// Post-only mode (only with limit GTC).
    pub post_only: PostOnly,
    /// Limit price (ignored for market orders).
    pub price: i64,
    /// Quantity.
    pub qty: i64,
}

/// Why a request was refused. A refused request changes no state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Cancel/replace of an id that is not resting.
    UnknownOrder,
    /// A new order whose id is already resting.
    DuplicateId,
    /// Account id outside `0..max_accounts`.
    UnknownAccount,
    /// Quantity ≤ 0 or above `max_qty`.
    BadQty,
    /// Quantity not a multiple of the lot.
    OffLot,
    /// Limit price ≤ 0.
    BadPrice,
    /// Limit price not a multiple of the tick.
    OffTick,
    /// Limit price outside the book's band (or a slide would leave it).
    PriceOutOfBand,
    /// Post-only with a market order, or with IOC/FOK.
    InvalidCombination,
    /// The order arena is full and the order could rest.
    BookFull,
    /// Market order while the opposite side is empty.
    NoLiquidity,
    /// FOK order that cannot be filled completely now.
    FokNotFillable,
    /// Post-only (reject mode) order that would take liquidity.
    PostOnlyWouldTake,
}

/// Why a live order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// Cancel request.
    User,
    /// Self-trade prevention.
    SelfTrade,
}

/// Which request an event answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// [`crate::OrderBook::submit`].
    New,
    /// [`crate::OrderBook::cancel`].
    Cancel,
    /// [`crate::OrderBook::replace`].
    Replace,
}

/// One output of the book. Every request produces its events in one deterministic sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A new order passed every check. `price` is the effective limit price (after a post-only
    /// slide; 0 for a market order).
    Accepted {
        /// Order id.
        id: OrderId,
        /// Owner.
        account: AccountId,
        /// Side.
        side: Side,
        /// Effective limit price.
        price: i64,
        /// Quantity.
        qty: i64,
        /// True when a post-only slide re-priced the order.
        repriced: bool,
    },
    /// A request was refused; nothing changed.
    Rejected {
        /// Order id of the request.
        id: OrderId,
        /// Which request.
        request: Request,
        /// Why.
        reason: RejectReason,
    },
    /// A fill. The price is the maker's; a side whose remaining is 0 is filled (terminal).
    Trade {
        /// Resting order.
        maker_id: OrderId,
        /// Aggressor.
        taker_id: OrderId,
        /// Resting order's account.
        maker_account: AccountId,
        /// Aggressor's account.
        taker_account: AccountId,
        /// Aggressor's side.
        taker_side: Side,
        /// Price (the maker's).
        price: i64,
        /// Quantity.
        qty: i64,
        /// Maker fee, units of price × qty, rounded up.
        maker_fee: i64,
        /// Taker fee, units of price × qty, rounded up.
        taker_fee: i64,
        /// Maker quantity left after this fill.
        maker_remaining: i64,
        /// Taker quantity left after this fill.
        taker_remaining: i64,
    },
    /// A live order was cancelled (terminal).
    Cancelled {
        /// Order id.
        id: OrderId,
        /// Why.
        reason: CancelReason,
        /// Quantity that was still open.
        remaining: i64,
    },
    /// An IOC or market remainder expired (terminal).
    Expired {
        /// Order id.
        id: OrderId,
        /// Quantity that was still open.
        remaining: i64,
    },
    /// A resting order was replaced. Unless `priority_kept`, it then behaves as a new aggressive
    /// order at `new_price` (trades, STP, then rests), with the same id.
    Replaced {
        /// Order id.
        id: OrderId,
        /// Price before.
        old_price: i64,
        /// Open quantity before.
        old_qty: i64,
        /// Effective new price (after a post-only slide).
        new_price: i64,
        /// New open quantity.
        new_qty: i64,
        /// True when the order kept its queue position (same price, size not increased).
        priority_kept: bool,
    },
}

/// Where events go. Called once per event, in order; the book never allocates for them.
pub trait EventSink {
    /// Take one event.
    fn event(&mut self, e: Event);
}

impl EventSink for Vec<Event> {
    #[inline]
    fn event(&mut self, e: Event) {
        self.push(e);
    }
}

/// An [`EventSink`] that only counts events.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingSink {
    /// Events seen.
    pub events: u64,
    /// Trades seen.
    pub trades: u64,
}

impl EventSink for CountingSink {
    #[inline]
    fn event(&mut self, e: Event) {
        self.events += 1;
        if let Event::Trade { .. } = e {
            self.trades += 1;
        }
    }
}

/// A resting order as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RestingOrder {
    /// Order id.
    pub id: OrderId,
    /// Owner.
    pub account: AccountId,
    /// Side.
    pub side: Side,
    /// Price.
    pub price: i64,
    /// Open quantity.
    pub qty: i64,
    /// Post-only mode (applies again on a replace that loses priority).
    pub post_only: PostOnly,
}

/// A configuration the book refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad book configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}
