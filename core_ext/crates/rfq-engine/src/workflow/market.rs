//! The composite market the desk prices from: the mid, the usable member books, and the
//! volatility estimate fed by repricing.

use crate::core::{best_of, is_crossed, CompositeState, Core};
use crate::rfq::RfqState;
use rfq_book::composite::{Conversion, MAX_MEMBERS};
use rfq_book::L2Book;

impl RfqState {
    /// A composite was repriced with this mid: update the volatility estimate.
    pub(crate) fn on_mid(&mut self, ci: usize, mid: i64) {
        let st = &mut self.inst[ci];
        if st.last_mid > 0 {
            let mv = i128::from((mid - st.last_mid).abs()) * 1_000_000_000 / i128::from(st.last_mid);
            let mv = mv.min(i128::from(i64::MAX / 4)) as i64; // milli-cbps
            st.vol_m += (mv - st.vol_m) >> st.pricing.vol_ema_shift;
        }
        st.last_mid = mid;
    }
}

impl Core {
    /// Composite mid `(best bid + best ask) / 2` (floor) over the usable, basis-adjusted member
    /// books; `None` without a two-sided usable market or when crossed beyond tolerance.
    pub fn composite_mid(&self, composite: u16) -> Option<i64> {
        let ci = self.composite_index(composite)?;
        self.mid_of(ci)
    }

    pub(crate) fn mid_of(&self, ci: usize) -> Option<i64> {
        let c = &self.composites[ci];
        let (b, a) = match self.cached_market(ci) {
            Some(m) => m.best,
            None => {
                let mut books: [(&L2Book, Conversion); MAX_MEMBERS] = [(&self.instruments[0].book, c.members[0].conv); MAX_MEMBERS];
                let n = self.books_of(c, &mut books);
                best_of(&books[..n])
            }
        };
        if is_crossed(b, a, c.spec.cross_tolerance_cbps) {
            return None;
        }
        Some((b? + a?).div_euclid(2))
    }

    /// The books of the members in `mask` (a usable set) with their conversions in
    /// `buf[..n]`, as [`Core::usable_books`] gives them; returns `n`.
    #[inline]
    pub(super) fn books_in<'a>(&'a self, c: &CompositeState, mask: u32, buf: &mut [(&'a L2Book, Conversion); MAX_MEMBERS]) -> usize {
        let mut n = 0;
        for (i, m) in c.members.iter().enumerate() {
            if mask & (1 << i) != 0 {
                buf[n] = (&self.instruments[m.inst].book, self.member_conv(c, m));
                n += 1;
            }
        }
        n
    }

    /// The usable books of a composite with their conversions in `buf[..n]`; returns `n`.
    #[inline]
    pub(super) fn books_of<'a>(&'a self, c: &CompositeState, buf: &mut [(&'a L2Book, Conversion); MAX_MEMBERS]) -> usize {
        let mut n = 0;
        for (i, m) in c.members.iter().enumerate() {
            if self.usable(c, i) {
                buf[n] = (&self.instruments[m.inst].book, self.member_conv(c, m));
                n += 1;
            }
        }
        n
    }
}
