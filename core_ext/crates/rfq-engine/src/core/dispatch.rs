//! One input record through the domains: the clock, the desk's time-driven work, then the
//! record by kind — book records to the market, RFQ-family records to the desk, venue
//! reports and desk orders to hedging — and what one domain's work means for another,
//! handed on as plain values.

use super::views::{ForDesk, ForHedge};
use super::Core;
use rfq_desk::control_well_formed;
use rfq_kernel::Sink;
use rfq_ring::record::control::field::pricing;
use rfq_ring::record::{control, flags, kind, reject};
use rfq_ring::Record;

impl Core {
    /// Process one input record; outputs go to `out`.
    pub fn process(&mut self, r: &Record, out: &mut impl Sink) {
        self.market.count_record();
        let mut budget = rfq_desk::HOUSEKEEPING_PER_RECORD;
        match r.kind {
            kind::RFQ | kind::ACCEPT | kind::CANCEL | kind::CONTROL | kind::VENUE_REPORT | kind::VENUE_STATUS | kind::DESK_ORDER => {
                self.desk_record(r, &mut budget, out)
            }
            kind::HEARTBEAT => {
                self.advance(r.ts_recv);
                self.desk.housekeep(r, &mut budget, out);
                if r.flags & flags::END != 0 {
                    self.market.count_message();
                    self.tick(None, r, out);
                    if !self.hedging.is_empty() {
                        self.hedge_timers(r, out);
                    }
                }
            }
            kind::BOOK_CLEAR | kind::BOOK_LEVEL | kind::BOOK_STALE | kind::TRADE | kind::BBO => {
                self.desk.housekeep(r, &mut budget, out);
                self.book_record(r, out);
            }
            _ => {
                self.desk.housekeep(r, &mut budget, out);
                self.market.reject(r, reject::UNKNOWN_KIND, out);
            }
        }
    }

    /// A venue book record: applied or refused by the market; at the end of a venue message,
    /// the tick.
    #[inline]
    fn book_record(&mut self, r: &Record, out: &mut impl Sink) {
        let Some(idx) = self.market.index(r.instrument) else {
            return self.market.reject(r, reject::UNKNOWN_INSTRUMENT, out);
        };
        if let Err(code) = self.market.apply_record(idx, r) {
            self.market.reject(r, code, out);
        } else {
            self.advance(r.ts_recv);
            self.market.seen(idx, self.now);
        }
        if r.flags & flags::END != 0 {
            self.market.count_message();
            self.market.end_message(idx, r);
            self.tick(Some(idx), r, out);
        }
    }

    /// The end of a venue message (`touched`: its instrument) or a heartbeat: hedging
    /// availability, then book status reports and repricing; the desk learns the new mids.
    #[inline]
    fn tick(&mut self, touched: Option<usize>, trigger: &Record, out: &mut impl Sink) {
        if !self.hedging.is_empty() {
            let cx = ForHedge { market: &self.market, desk: &self.desk, now: self.now };
            self.hedging.hedge_status_all(&cx, trigger, out);
        }
        self.market.on_tick(touched, trigger, self.now, out);
        let mids = self.market.take_mids();
        for &(ci, mid) in &mids {
            self.desk.on_mid(ci, mid);
        }
        self.market.give_back_mids(mids);
    }

    /// RFQ, ACCEPT, CANCEL, CONTROL, VENUE_REPORT, VENUE_STATUS or DESK_ORDER: move the
    /// clock (END-flagged records only), do the time-driven work, then handle the record.
    #[inline]
    fn desk_record(&mut self, r: &Record, budget: &mut usize, out: &mut impl Sink) {
        let well_formed = r.flags & flags::END != 0;
        if well_formed {
            self.advance(r.ts_recv);
        }
        self.desk.housekeep(r, budget, out);
        if well_formed && !self.hedging.is_empty() {
            self.hedge_timers(r, out);
        }
        let now = self.now;
        match r.kind {
            kind::RFQ => {
                let m = ForDesk { market: &self.market, hedging: &self.hedging, now };
                self.desk.on_rfq(&m, r, out);
            }
            kind::ACCEPT => {
                let m = ForDesk { market: &self.market, hedging: &self.hedging, now };
                if let Some(fill) = self.desk.on_accept(&m, r, out) {
                    if !self.hedging.is_empty() {
                        let cx = ForHedge { market: &self.market, desk: &self.desk, now };
                        self.hedging.on_client_fill(&cx, fill.ci, fill.desk_qty, fill.price, r, out);
                        self.apply_hedge_fills();
                    }
                    self.desk.finish_fill(&fill, r, out);
                }
            }
            kind::CANCEL => self.desk.on_cancel(r, out),
            kind::VENUE_REPORT => {
                let cx = ForHedge { market: &self.market, desk: &self.desk, now };
                self.hedging.on_venue_report(&cx, r, out);
                self.apply_hedge_fills();
            }
            kind::VENUE_STATUS => {
                let cx = ForHedge { market: &self.market, desk: &self.desk, now };
                self.hedging.on_venue_status(&cx, r, out);
                self.apply_hedge_fills();
            }
            kind::DESK_ORDER => {
                let cx = ForHedge { market: &self.market, desk: &self.desk, now };
                self.hedging.on_desk_order(&cx, r, out);
                self.apply_hedge_fills();
            }
            _ => {
                self.on_control(r, out);
                // a kill switch turned on starts cancelling in this very record
                self.desk.kill_scan_step(r, budget, out);
            }
        }
    }

    /// A CONTROL record. The commands on the market (ladder spreads and sizes, members) and
    /// on hedging are applied there; the desk applies its own and acknowledges every one.
    fn on_control(&mut self, r: &Record, out: &mut impl Sink) {
        if control_well_formed(r) {
            let routed = match r.side {
                control::SET_LADDER => Some(self.market.control_set_ladder(r)),
                control::SET_MEMBER => Some(self.market.control_set_member(r)),
                control::SET_PRICING if matches!(r.source, pricing::BASE_CBPS | pricing::SIZE_CBPS_PER_UNIT) => Some(self.market.control_set_spread(r)),
                control::SET_HEDGE => Some(self.hedging.control_set_hedge(self.market.composite_index(r.instrument), r, self.now)),
                _ => None,
            };
            if let Some(outcome) = routed {
                self.desk.ack_control(r, outcome, out);
                // a ladder's sizes bound the outputs of a repricing
                self.recompute_max_out();
                return;
            }
        }
        let m = ForDesk { market: &self.market, hedging: &self.hedging, now: self.now };
        self.desk.on_control(&m, r, out);
    }

    /// Hedge retries that fell due.
    #[inline]
    fn hedge_timers(&mut self, r: &Record, out: &mut impl Sink) {
        let cx = ForHedge { market: &self.market, desk: &self.desk, now: self.now };
        self.hedging.hedge_timers(&cx, r, out);
        self.apply_hedge_fills();
    }

    /// The hedge fills hedging just booked move the desk position.
    #[inline]
    fn apply_hedge_fills(&mut self) {
        if !self.hedging.has_desk_moves() {
            return;
        }
        let moves = self.hedging.take_desk_moves();
        for m in &moves {
            self.desk.apply_hedge_fill(m);
        }
        self.hedging.give_back_desk_moves(moves);
    }
}
