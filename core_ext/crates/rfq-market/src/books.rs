//! A venue book record validated and applied (or refused with its reason, changing nothing).

use crate::{BookStatus, Market};
use rfq_book::BookError;
use rfq_kernel::{echo, Sink};
use rfq_model::Side;
use rfq_ring::record::{flags, kind, reject};
use rfq_ring::Record;

impl Market {
    /// A book record (`BOOK_CLEAR`, `BOOK_LEVEL`, `BOOK_STALE`, `TRADE`, `BBO`) for
    /// instrument `idx`, validated and applied. `Err(reason)` means nothing changed, except
    /// for a full ladder, which also marks the book stale (it no longer mirrors the venue).
    /// The engine moves the clock on success and then calls [`Market::seen`].
    #[inline]
    pub fn apply_record(&mut self, idx: usize, r: &Record) -> Result<(), i64> {
        if matches!(r.kind, kind::BOOK_CLEAR | kind::BOOK_LEVEL | kind::BOOK_STALE) {
            self.instruments[idx].epoch += 1;
        }
        self.apply(idx, r)
    }

    /// Instrument `idx` was heard from at core time `now`.
    #[inline]
    pub fn seen(&mut self, idx: usize, now: i64) {
        self.instruments[idx].last_seen_ns = now;
    }

    /// The end of a venue message for instrument `idx`: a whole snapshot makes a building
    /// book live.
    #[inline]
    pub fn end_message(&mut self, idx: usize, r: &Record) {
        let st = &mut self.instruments[idx];
        if st.sync == BookStatus::Building && r.flags & flags::SNAPSHOT != 0 && r.kind != kind::BOOK_STALE {
            st.sync = BookStatus::Live;
            st.dirty = true;
        }
    }

    /// Validate and apply one instrument record. `Err(reason)` means nothing changed, except
    /// for a full ladder, which also marks the book stale (it no longer mirrors the venue).
    #[inline]
    fn apply(&mut self, idx: usize, r: &Record) -> Result<(), i64> {
        let st = &mut self.instruments[idx];
        let spec = &st.spec;
        match r.kind {
            kind::BOOK_CLEAR => {
                st.book.clear();
                st.dirty = true;
                st.touched = crate::instrument::ALL_TOUCHED;
                st.sync = BookStatus::Building;
                st.last_seq = r.seq;
                Ok(())
            }
            kind::BOOK_STALE => {
                st.sync = BookStatus::Stale;
                st.dirty = true;
                Ok(())
            }
            _ => {
                let side = Side::from_u8(r.side).ok_or(reject::BAD_SIDE)?;
                if r.price <= 0 {
                    return Err(reject::PRICE_NOT_POSITIVE);
                }
                if r.qty < 0 {
                    return Err(reject::NEGATIVE_QUANTITY);
                }
                if r.price % spec.tick != 0 {
                    return Err(reject::OFF_TICK_PRICE);
                }
                if r.qty % spec.lot != 0 {
                    return Err(reject::OFF_LOT_QUANTITY);
                }
                if r.qty > spec.max_qty {
                    return Err(reject::QUANTITY_ABOVE_MAX);
                }
                match r.kind {
                    kind::BOOK_LEVEL => {
                        let snapshot = r.flags & flags::SNAPSHOT != 0;
                        let ok = if snapshot { st.sync == BookStatus::Building } else { st.sync == BookStatus::Live };
                        if !ok {
                            return Err(reject::BOOK_NOT_SYNCED);
                        }
                        match st.book.set(side, r.price, r.qty) {
                            Ok(()) => {}
                            Err(BookError::CapacityExceeded(_)) => {
                                st.sync = BookStatus::Stale;
                                return Err(reject::BOOK_CAPACITY_EXCEEDED);
                            }
                            Err(BookError::NonPositivePrice(_)) => return Err(reject::PRICE_NOT_POSITIVE),
                            Err(BookError::NegativeQuantity(_)) => return Err(reject::NEGATIVE_QUANTITY),
                            Err(BookError::OffTick(_)) => return Err(reject::OFF_TICK_PRICE),
                        }
                        st.last_seq = r.seq;
                        st.dirty = true;
                        let t = &mut st.touched[side as usize];
                        *t = if side == Side::Bid { (*t).max(r.price) } else { (*t).min(r.price) };
                        self.stats.level_updates += 1;
                        Ok(())
                    }
                    kind::TRADE => {
                        if r.qty == 0 {
                            return Err(reject::NEGATIVE_QUANTITY);
                        }
                        st.last_trade = (r.price, r.qty, r.seq);
                        st.trades += 1;
                        Ok(())
                    }
                    _ => {
                        st.bbo[side as usize] = (r.price, r.qty);
                        Ok(())
                    }
                }
            }
        }
    }

    /// Refuse input record `r` with market reject `code` (counted; a `REJECT` echoing it).
    pub fn reject(&mut self, r: &Record, code: i64, out: &mut impl Sink) {
        self.stats.rejects += 1;
        self.stats.rejects_by_reason[(code as usize).min(15)] += 1;
        out.emit(&Record { flags: 0, ..echo(r, kind::REJECT, r.side, code, r.ts_recv) });
    }
}
