//! The desk's risk predicates: kill switches, position limits, client credit.

use crate::state::RfqState;

impl RfqState {
    /// A kill switch covers this client or composite.
    #[inline]
    pub(crate) fn killed(&self, k: usize, ci: usize) -> bool {
        self.desk_killed || self.clients[k].killed || self.inst[ci].killed
    }

    /// The desk position after `dq` stays within `[−short, long]`.
    #[inline]
    pub(crate) fn position_ok(&self, ci: usize, dq: i64) -> bool {
        let st = &self.inst[ci];
        let Some(r) = &st.risk else { return false };
        let after = i128::from(st.desk.qty) + i128::from(dq);
        after >= -i128::from(r.short_limit) && after <= i128::from(r.long_limit)
    }

    /// The client's credit use after trading `client_dq` at `price` stays within its limit, or
    /// does not grow.
    #[inline]
    pub(crate) fn credit_ok(&self, k: usize, ci: usize, client_dq: i64, price: i64) -> bool {
        let c = &self.clients[k];
        let p = &c.positions[ci];
        let after = p.after(client_dq, price);
        let to = self.inst[ci].to_credit;
        let util = c.util + (after.cost.abs() - p.cost.abs()) * to;
        util <= self.cents_to_credit(c.spec.credit_limit) || util <= c.util
    }
}
