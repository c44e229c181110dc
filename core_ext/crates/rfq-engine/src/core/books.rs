//! One input record into the core: dispatch by kind, then a venue book record validated and
//! applied (or refused with its reason, changing nothing).

use super::*;

impl Core {
    /// Process one input record; outputs go to `out`.
    pub fn process(&mut self, r: &Record, out: &mut impl Sink) {
        self.stats.records += 1;
        let mut budget = HOUSEKEEPING_PER_RECORD;
        if matches!(r.kind, kind::RFQ | kind::ACCEPT | kind::CANCEL | kind::CONTROL | kind::VENUE_REPORT | kind::VENUE_STATUS | kind::DESK_ORDER) {
            self.rfq_record(r, &mut budget, out);
            return;
        }
        if r.kind == kind::HEARTBEAT {
            self.advance(r.ts_recv);
        }
        self.housekeep(r, &mut budget, out);
        match r.kind {
            kind::HEARTBEAT => {
                if r.flags & flags::END != 0 {
                    self.stats.messages += 1;
                    self.on_tick(None, r, out);
                    if !self.hedging.states.is_empty() {
                        self.hedge_timers(r, out);
                    }
                }
            }
            kind::BOOK_CLEAR | kind::BOOK_LEVEL | kind::BOOK_STALE | kind::TRADE | kind::BBO => {
                let Some(idx) = self.index(r.instrument) else {
                    return self.reject(r, reject::UNKNOWN_INSTRUMENT, out);
                };
                if matches!(r.kind, kind::BOOK_CLEAR | kind::BOOK_LEVEL | kind::BOOK_STALE) {
                    self.instruments[idx].epoch += 1;
                }
                if let Err(code) = self.apply(idx, r) {
                    self.reject(r, code, out);
                } else {
                    self.advance(r.ts_recv);
                    self.instruments[idx].last_seen_ns = self.now;
                }
                if r.flags & flags::END != 0 {
                    self.stats.messages += 1;
                    let st = &mut self.instruments[idx];
                    if st.sync == BookStatus::Building && r.flags & flags::SNAPSHOT != 0 && r.kind != kind::BOOK_STALE {
                        st.sync = BookStatus::Live;
                        st.dirty = true;
                    }
                    self.on_tick(Some(idx), r, out);
                }
            }
            _ => self.reject(r, reject::UNKNOWN_KIND, out),
        }
    }

    #[inline]
    pub(crate) fn advance(&mut self, ts: i64) {
        if ts > self.now {
            self.now = ts;
        }
    }

    /// Validate and apply one instrument record. `Err(reason)` means nothing changed, except
    /// for a full ladder, which also marks the book stale (it no longer mirrors the venue).
    #[inline]
    pub(super) fn apply(&mut self, idx: usize, r: &Record) -> Result<(), i64> {
        let st = &mut self.instruments[idx];
        let spec = &st.spec;
        match r.kind {
            kind::BOOK_CLEAR => {
                st.book.clear();
                st.dirty = true;
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

    pub(super) fn reject(&mut self, r: &Record, code: i64, out: &mut impl Sink) {
        self.stats.rejects += 1;
        self.stats.rejects_by_reason[(code as usize).min(15)] += 1;
        out.emit(&Record { flags: 0, ..echo(r, kind::REJECT, r.side, code, r.ts_recv) });
    }
}
