//! The read-only views the dispatcher passes down: the desk's view of the market and
//! hedging, and hedging's view of the market and the desk (`rfq_kernel::views`). Each is
//! built for one call over borrowed domains; none can change what it views.

use rfq_desk::Desk;
use rfq_hedge::Hedging;
use rfq_kernel::views::{DeskInputs, HedgeInputs, HedgeLimits};
use rfq_market::{Depth, Market};
use rfq_book::L2Book;

/// What the desk reads: the market and whether a composite can be hedged, at `now`.
pub(crate) struct ForDesk<'a> {
    pub(crate) market: &'a Market,
    pub(crate) hedging: &'a Hedging,
    pub(crate) now: i64,
}

impl DeskInputs for ForDesk<'_> {
    type Depth<'b>
        = Depth<'b>
    where
        Self: 'b;

    #[inline]
    fn depth(&self, ci: usize, amount: i64) -> Depth<'_> {
        self.market.depth(ci, amount, self.now)
    }

    #[inline]
    fn mid(&self, ci: usize) -> Option<i64> {
        self.market.mid_of(ci, self.now)
    }

    #[inline]
    fn hedge_ok(&self, ci: usize) -> bool {
        self.hedging.hedge_ok(ci, |ci, m| self.market.member_usable(ci, m, self.now))
    }
}

/// What hedging reads: the market and the desk's limits, at `now`.
pub(crate) struct ForHedge<'a> {
    pub(crate) market: &'a Market,
    pub(crate) desk: &'a Desk,
    pub(crate) now: i64,
}

impl HedgeInputs for ForHedge<'_> {
    #[inline]
    fn now(&self) -> i64 {
        self.now
    }

    #[inline]
    fn mid(&self, ci: usize) -> Option<i64> {
        self.market.mid_of(ci, self.now)
    }

    #[inline]
    fn usable(&self, ci: usize, member: usize) -> bool {
        self.market.member_usable(ci, member, self.now)
    }

    #[inline]
    fn book(&self, inst: usize) -> &L2Book {
        self.market.book(inst)
    }

    #[inline]
    fn limits(&self, ci: usize) -> HedgeLimits {
        self.desk.hedge_limits(ci)
    }
}
