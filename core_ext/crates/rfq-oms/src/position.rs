//! [`Position`]: the desk's position at one (venue, instrument), from the distinct fills.

use crate::Side;

/// Position of the desk at one (venue, instrument), from the distinct fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Net quantity: bought − sold (`i128`: a day of fills can exceed `i64`).
    pub net: i128,
    /// Σ bought quantity.
    pub bought: i128,
    /// Σ sold quantity.
    pub sold: i128,
    /// Σ price × qty of buys.
    pub buy_notional: i128,
    /// Σ price × qty of sells.
    pub sell_notional: i128,
    /// Σ fees.
    pub fees: i128,
}

impl Position {
    /// Average buy price (truncated); `None` before the first buy.
    pub fn avg_buy_price(&self) -> Option<i64> {
        (self.bought > 0).then(|| (self.buy_notional / self.bought) as i64)
    }

    /// Average sell price (truncated); `None` before the first sell.
    pub fn avg_sell_price(&self) -> Option<i64> {
        (self.sold > 0).then(|| (self.sell_notional / self.sold) as i64)
    }

    pub(crate) fn add(&mut self, side: Side, qty: i64, price: i64, fee: i64) {
        let n = i128::from(price) * i128::from(qty);
        let qty = i128::from(qty);
        match side {
            Side::Bid => {
                self.net += qty;
                self.bought += qty;
                self.buy_notional += n;
            }
            Side::Ask => {
                self.net -= qty;
                self.sold += qty;
                self.sell_notional += n;
            }
        }
        self.fees += i128::from(fee);
    }
}
