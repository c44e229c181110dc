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

/// One instrument of the registry. All values are fixed-point integers in the instrument's
/// own scales (`price_decimals`, `qty_decimals`).
#[derive(Debug, Clone, PartialEq, Eq)]
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
        match (self.kind, self.contract_size) {
            (InstrumentKind::Inverse, cs) if cs <= 0 => bad("inverse needs a positive contract_size".into()),
            (InstrumentKind::Spot | InstrumentKind::Linear, cs) if cs != 0 => {
                bad("contract_size applies to inverse instruments only".into())
            }
            _ => Ok(()),
        }
    }
}
