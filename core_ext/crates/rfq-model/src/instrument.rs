//! Instruments: what the core knows about each tradable book.

use crate::error::ModelError;
use crate::fixed::MAX_DECIMALS;

/// Book side. `Bid` = buyers, `Ask` = sellers. Encoded as 0/1 in ring records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    /// Buy side of the book.
    Bid = 0,
    /// Sell side of the book.
    Ask = 1,
}

impl Side {
    /// Decode the ring encoding (0 bid, 1 ask).
    #[inline]
    pub fn from_u8(v: u8) -> Option<Side> {
        match v {
            0 => Some(Side::Bid),
            1 => Some(Side::Ask),
            _ => None,
        }
    }
}

/// How an instrument's quantity relates to the base asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstrumentKind {
    /// Quantity is in base units (spot).
    Spot,
    /// Linear derivative: quantity in base units, settled in quote (USD-M perps).
    Linear,
    /// Inverse derivative: quantity in contracts worth `contract_size` quote units each (COIN-M).
    Inverse,
}

impl InstrumentKind {
    /// Parse `"spot" | "linear" | "inverse"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "spot" => Some(Self::Spot),
            "linear" => Some(Self::Linear),
            "inverse" => Some(Self::Inverse),
            _ => None,
        }
    }
}

/// Default dense window of a book side, in ticks (1 MiB of `i64` quantities per side).
pub const DEFAULT_BOOK_WINDOW: u32 = 1 << 17;
/// Smallest and largest dense window a configuration may ask for, in ticks.
pub const BOOK_WINDOW_RANGE: (u32, u32) = (1 << 10, 1 << 20);

/// One instrument of the registry. All values are fixed-point integers in the instrument's
/// own scales (`price_decimals`, `qty_decimals`).
#[derive(Clone, PartialEq, Eq)]
pub struct Instrument {
    /// Registry id, 1-based; the `instrument` field of ring records.
    pub id: u16,
    /// Venue symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Venue name, e.g. `binance-spot`.
    pub venue: String,
    /// Spot, linear or inverse.
    pub kind: InstrumentKind,
    /// Decimals of the price scale.
    pub price_decimals: u32,
    /// Decimals of the quantity scale.
    pub qty_decimals: u32,
    /// Tick size in price units (every price is a multiple).
    pub tick: i64,
    /// Lot size in quantity units (every quantity is a multiple).
    pub lot: i64,
    /// Inverse only: quote-currency value of one contract, whole units. Zero otherwise.
    pub contract_size: i64,
    /// Largest quantity accepted in one level or trade, quantity units.
    pub max_qty: i64,
    /// Ticks per side of the book's dense window (a power of two in [`BOOK_WINDOW_RANGE`];
    /// [`DEFAULT_BOOK_WINDOW`] unless configured). Levels beyond it are kept exactly in the
    /// overflow, so it changes memory and speed, never a price; 8 bytes a tick a side are
    /// reserved, and resident once the book has written a level there.
    pub book_window: u32,
}

/// Every field; `book_window` only when it is not the default, so that the configuration
/// fingerprint (the hash of this text, rfqcore-py `build.rs`) of a core with default windows is
/// the one journals recorded before the field existed carry.
impl std::fmt::Debug for Instrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Instrument { id, symbol, venue, kind, price_decimals, qty_decimals, tick, lot, contract_size, max_qty, book_window } = self;
        let mut d = f.debug_struct("Instrument");
        d.field("id", id)
            .field("symbol", symbol)
            .field("venue", venue)
            .field("kind", kind)
            .field("price_decimals", price_decimals)
            .field("qty_decimals", qty_decimals)
            .field("tick", tick)
            .field("lot", lot)
            .field("contract_size", contract_size)
            .field("max_qty", max_qty);
        if *book_window != DEFAULT_BOOK_WINDOW {
            d.field("book_window", book_window);
        }
        d.finish()
    }
}

impl Instrument {
    /// `venue:symbol`, the registry key.
    pub fn key(&self) -> String {
        format!("{}:{}", self.venue, self.symbol)
    }

    /// Check internal consistency.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |why: String| Err(ModelError::BadInstrument { instrument: self.key(), why });
        if self.id == 0 {
            return bad("id 0 is reserved".into());
        }
        if self.price_decimals > MAX_DECIMALS || self.qty_decimals > MAX_DECIMALS {
            return bad("scale above 18 decimals".into());
        }
        if self.tick <= 0 || self.lot <= 0 {
            return bad(format!("tick {} and lot {} must be positive", self.tick, self.lot));
        }
        if self.max_qty <= 0 || self.max_qty % self.lot != 0 {
            return bad(format!("max_qty {} must be a positive multiple of lot {}", self.max_qty, self.lot));
        }
        let (lo, hi) = BOOK_WINDOW_RANGE;
        if !self.book_window.is_power_of_two() || self.book_window < lo || self.book_window > hi {
            return bad(format!("book_window {} must be a power of two from {lo} to {hi} ticks", self.book_window));
        }
        match (self.kind, self.contract_size) {
            (InstrumentKind::Inverse, cs) if cs <= 0 => bad("inverse needs a positive contract_size".into()),
            (InstrumentKind::Spot | InstrumentKind::Linear, cs) if cs != 0 => {
                bad("contract_size applies to inverse instruments only".into())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    fn btc(book_window: u32) -> Instrument {
        Instrument {
            id: 1,
            symbol: "BTCUSDT".into(),
            venue: "binance-spot".into(),
            kind: InstrumentKind::Spot,
            price_decimals: 2,
            qty_decimals: 8,
            tick: 1,
            lot: 1,
            contract_size: 0,
            max_qty: 1 << 40,
            book_window,
        }
    }

    #[test]
    fn book_window_is_a_power_of_two_in_range() {
        for ok in [1 << 10, 1 << 15, DEFAULT_BOOK_WINDOW, 1 << 20] {
            assert!(btc(ok).validate().is_ok(), "{ok}");
        }
        for bad in [0, 1 << 9, (1 << 16) + 1, 3 << 14, 1 << 21] {
            let e = btc(bad).validate().unwrap_err().to_string();
            assert!(e.contains(&format!("book_window {bad} must be a power of two from 1024 to 1048576 ticks")), "{e}");
        }
    }

    #[test]
    fn the_default_window_leaves_the_configuration_text_as_before_the_field() {
        let text = format!("{:?}", btc(DEFAULT_BOOK_WINDOW));
        assert_eq!(
            text,
            "Instrument { id: 1, symbol: \"BTCUSDT\", venue: \"binance-spot\", kind: Spot, price_decimals: 2, \
             qty_decimals: 8, tick: 1, lot: 1, contract_size: 0, max_qty: 1099511627776 }"
        );
        assert!(format!("{:?}", btc(1 << 16)).ends_with("max_qty: 1099511627776, book_window: 65536 }"));
    }
}
