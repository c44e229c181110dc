//! The internal crossing book: client flow crossed against desk orders, and `DESK_ORDER`
//! records.

use super::*;

impl Hedging {
    /// Cross `qty` of client flow against the internal book's desk orders (an IOC taker order
    /// limited at `limit`): each fill is booked like a venue fill (venue 0) and reported to the
    /// desk order's owner.
    pub(super) fn cross_internal(&mut self, cx: &impl HedgeInputs, hi: usize, buy: bool, qty: i64, limit: i64, trigger: &Record, out: &mut impl Sink) {
        let s = &mut self.states[hi];
        let composite = s.spec.composite;
        let Some(int) = s.internal.as_mut() else { return };
        int.next_taker += 1;
        let taker = TAKER_ID_BASE | int.next_taker;
        let order = rfq_match::NewOrder {
            id: taker,
            account: FLOW_ACCOUNT,
            side: if buy { Side::Bid } else { Side::Ask },
            kind: OrderType::Limit,
            tif: TimeInForce::Ioc,
            post_only: PostOnly::Off,
            price: limit,
            qty,
        };
        // the reserved scratch vector, moved out while the loop below borrows the core
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        int.book.submit(&order, &mut events);
        let now = cx.now();
        for e in events.drain(..) {
            let MatchEvent::Trade { maker_id, price, qty, maker_remaining, .. } = e else { continue };
            let sign = if buy { 1 } else { -1 };
            if let Some(int) = self.states[hi].internal.as_mut() {
                int.position.apply(-sign * qty, price);
                int.fills += 1;
            }
            let slip = self.book_hedge_fill(hi, buy, qty, price, 0);
            out.emit(&Record {
                kind: kind::HEDGE_REPORT,
                instrument: composite,
                side: rfq_oms::OrderState::Filled.code(),
                flags: flags::END,
                source: 0,
                seq: taker,
                ts_event: 0,
                ts_recv: now,
                price,
                qty,
                aux: slip,
                ts_send: trigger.ts_send,
            });
            out.emit(&Record {
                kind: kind::DESK_ORDER_EVENT,
                instrument: composite,
                side: desk_event::FILL,
                flags: flags::END,
                source: 0,
                seq: maker_id,
                ts_event: 0,
                ts_recv: now,
                price,
                qty,
                aux: maker_remaining,
                ts_send: trigger.ts_send,
            });
        }
        self.events = events;
    }

    /// `DESK_ORDER`: a desk order for the internal crossing book (`aux` 0 = new GTC limit,
    /// post-only; 1 = cancel), or a cancel. Answered by `DESK_ORDER_EVENT`s.
    pub fn on_desk_order(&mut self, cx: &impl HedgeInputs, r: &Record, out: &mut impl Sink) {
        let now = cx.now();
        let ev = |side: u8, price: i64, qty: i64, aux: i64| Record { price, qty, ..echo(r, kind::DESK_ORDER_EVENT, side, aux, now) };
        if r.flags & flags::END == 0 || r.seq == 0 || r.seq >= TAKER_ID_BASE {
            return out.emit(&ev(desk_event::REJECTED, r.price, r.qty, rfq_reject::MALFORMED));
        }
        let hi = self.states.iter().position(|s| s.spec.composite == r.instrument && s.internal.is_some());
        let Some(hi) = hi else {
            return out.emit(&ev(desk_event::REJECTED, r.price, r.qty, rfq_reject::NO_INTERNAL_BOOK));
        };
        if r.aux != 0 && r.aux != 1 {
            return out.emit(&ev(desk_event::REJECTED, r.price, r.qty, rfq_reject::BAD_COMMAND));
        }
        if r.aux == 0 && r.side > 1 {
            return out.emit(&ev(desk_event::REJECTED, r.price, r.qty, rfq_reject::BAD_SIDE));
        }
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        let int = self.states[hi].internal.as_mut().expect("filtered");
        match r.aux {
            0 => {
                let order = rfq_match::NewOrder {
                    id: r.seq,
                    account: DESK_ACCOUNT,
                    side: if r.side == 0 { Side::Bid } else { Side::Ask },
                    kind: OrderType::Limit,
                    tif: TimeInForce::Gtc,
                    post_only: PostOnly::Reject,
                    price: r.price,
                    qty: r.qty,
                };
                int.book.submit(&order, &mut events);
            }
            _ => int.book.cancel(r.seq, &mut events),
        }
        for e in events.drain(..) {
            match e {
                MatchEvent::Accepted { price, qty, .. } => out.emit(&ev(desk_event::ACCEPTED, price, qty, 0)),
                MatchEvent::Rejected { reason, .. } => {
                    out.emit(&ev(desk_event::REJECTED, r.price, r.qty, rfq_reject::MATCH_BASE + reason as i64));
                }
                MatchEvent::Cancelled { remaining, .. } => out.emit(&ev(desk_event::CANCELLED, r.price, 0, remaining)),
                _ => {}
            }
        }
        self.events = events;
    }
}
