//! Positions with average-cost accounting, exact in `i128`.
//!
//! Quantities are in the composite's quantity scale; `cost`, `realised` and `fees` in the exact
//! notional scale (composite price decimals + quantity decimals).
//!
//! - Adding to a position (or opening one): `cost += Δq × p`.
//! - Reducing it by `closed` units: `cost_removed = cost × closed / |qty|` (rounded toward
//!   zero), `realised += proceeds − cost_removed` where proceeds = `−Δq × p` of the closing part,
//!   `cost −= cost_removed`. Once flat, `cost` is 0 and `realised` is exact.
//! - A flip is a close of the whole position followed by an open of the rest.
//!
//! So `realised − cost` always equals the cash the position has paid/received
//! (`−Σ Δq × p`): every trade's cash appears once on each side of the desk/client pair.

/// One position (desk or client) in one composite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// Signed quantity (positive = long).
    pub qty: i64,
    /// Cost of the open quantity (same sign as `qty`), exact notional scale.
    pub cost: i128,
    /// Realised P&L, exact notional scale.
    pub realised: i128,
    /// Fees received (desk) or paid (client), exact notional scale.
    pub fees: i128,
    /// Fills.
    pub trades: u64,
}

impl Position {
    /// Apply a fill of signed `dq` at `price` (no fee).
    #[inline]
    pub fn apply(&mut self, dq: i64, price: i64) {
        if dq == 0 {
            return;
        }
        let p = i128::from(price);
        if self.qty == 0 || (self.qty > 0) == (dq > 0) {
            self.cost += i128::from(dq) * p;
            self.qty += dq;
        } else {
            let open = i128::from(self.qty).abs();
            let closing = i128::from(dq).abs().min(open);
            let close_dq = if dq > 0 { closing } else { -closing };
            // Rounded toward zero (i128 division truncates).
            let removed = self.cost * closing / open;
            self.realised += -close_dq * p - removed;
            self.cost -= removed;
            self.qty += close_dq as i64;
            let rest = i128::from(dq) - close_dq;
            if rest != 0 {
                // flip: the position is flat here (cost fully removed), open the remainder
                debug_assert_eq!(self.qty, 0);
                self.cost = rest * p;
                self.qty = rest as i64;
            }
        }
        self.trades += 1;
    }

    /// The position after a hypothetical fill (for limit checks).
    #[inline]
    pub fn after(&self, dq: i64, price: i64) -> Position {
        let mut p = *self;
        p.apply(dq, price);
        p
    }

    /// Cash paid (negative) or received (positive) so far, excluding fees: `realised − cost`.
    pub fn cash(&self) -> i128 {
        self.realised - self.cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_cost_round_trip_is_exact() {
        let mut p = Position::default();
        p.apply(3, 100); // long 3 @ 100
        p.apply(1, 104); // long 4, cost 404
        assert_eq!((p.qty, p.cost), (4, 404));
        p.apply(-1, 110); // removes 404/4 = 101: realised 9
        assert_eq!((p.qty, p.cost, p.realised), (3, 303, 9));
        p.apply(-5, 90); // close 3 (cost 303, proceeds 270: −33), open short 2 @ 90
        assert_eq!((p.qty, p.cost, p.realised), (-2, -180, -24));
        p.apply(2, 80); // buy back at 80: +20
        assert_eq!((p.qty, p.cost, p.realised), (0, 0, -4));
        assert_eq!(p.cash(), -4);
        assert_eq!(p.trades, 5);
    }

    #[test]
    fn rounding_toward_zero_keeps_cash_identity() {
        let mut p = Position::default();
        p.apply(3, 10);
        p.apply(1, 11); // cost 41 over 4
        p.apply(-1, 12); // removed 41/4 = 10 (toward zero)
        assert_eq!((p.cost, p.realised), (31, 2));
        assert_eq!(p.cash(), -30 - 11 + 12);
        let mut s = Position::default();
        s.apply(-3, 10);
        s.apply(-1, 11); // cost −41
        s.apply(1, 9); // removed −41/4 = −10
        assert_eq!((s.cost, s.realised), (-31, 1));
        assert_eq!(s.cash(), 30 + 11 - 9);
    }
}

impl crate::codec::Encode for Position {
    fn encode<O: crate::codec::Out>(&self, o: &mut O) {
        let Position { qty, cost, realised, fees, trades } = *self;
        o.i64(qty);
        o.i128(cost);
        o.i128(realised);
        o.i128(fees);
        o.u64(trades);
    }
}

impl crate::codec::Decode for Position {
    fn decode(d: &mut crate::codec::Dec<'_>) -> crate::codec::R<Self> {
        Ok(Position { qty: d.i64()?, cost: d.i128()?, realised: d.i128()?, fees: d.i128()?, trades: d.u64()? })
    }
}
