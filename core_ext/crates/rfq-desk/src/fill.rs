//! A client's hit executes: positions, fees and credit move, `EXEC` and `EXEC_FEES` are
//! published, the quote ends, hedging is told (by the engine), and the repeated-execution
//! throttle may halt.

use super::desk_delta;
use crate::Desk;
use rfq_kernel::Sink;
use rfq_kernel::pricing::PPM;
use crate::state::QuoteState;
use rfq_ring::record::{flags, kind};
use rfq_ring::Record;

/// A client fill as the desk booked it. The engine hands `ci`, `desk_qty` and `price` to
/// hedging, then gives it back to [`Desk::finish_fill`].
#[derive(Debug, Clone, Copy)]
pub struct ClientFill {
    /// Composite index.
    pub ci: usize,
    /// The desk position's change (composite units, + = the desk bought).
    pub desk_qty: i64,
    /// The fill price (composite units).
    pub price: i64,
    /// Client index.
    k: usize,
    fill: Fill,
}

/// A client fill as booked: what the records about it carry.
#[derive(Debug, Clone, Copy)]
struct Fill {
    trade: u64,
    /// Client side (0 = the client bought).
    side: usize,
    price: i64,
    qty: i64,
    notional: i128,
    fee: i128,
    /// Client id and composite id.
    client_id: u16,
    instrument: u16,
}

impl Desk {
    /// A hit of `q` on side `s` of the quote in `slot`, every check passed: book it, publish
    /// `EXEC` and `EXEC_FEES` and end the quote. The engine then hedges the fill and calls
    /// [`Desk::finish_fill`].
    pub(crate) fn fill(&mut self, slot: usize, s: usize, q: i64, r: &Record, out: &mut impl Sink) -> ClientFill {
        let quote = self.rfq.quotes[slot];
        let (k, ci) = (quote.client as usize, quote.ci as usize);
        let f = self.book_fill(slot, s, q);
        let now = self.now;
        out.emit(&Record {
            kind: kind::EXEC,
            instrument: f.instrument,
            side: f.side as u8,
            flags: 0,
            source: f.client_id,
            seq: f.trade,
            ts_event: r.aux,
            ts_recv: now,
            price: f.price,
            qty: f.qty,
            aux: quote.id as i64,
            ts_send: r.ts_send,
        });
        out.emit(&Record {
            kind: kind::EXEC_FEES,
            instrument: f.instrument,
            side: f.side as u8,
            flags: flags::END,
            source: f.client_id,
            seq: f.trade,
            ts_event: r.aux,
            ts_recv: now,
            price: f.fee as i64,
            qty: f.notional as i64,
            aux: quote.rfq_id as i64,
            ts_send: r.ts_send,
        });
        self.end_quote(slot, QuoteState::Filled, 0, r, out);
        ClientFill { ci, desk_qty: desk_delta(f.side as u8, f.qty), price: f.price, k, fill: f }
    }

    /// The end of a client fill, after hedging saw it: the repeated-execution throttle.
    pub fn finish_fill(&mut self, cf: &ClientFill, r: &Record, out: &mut impl Sink) {
        self.exec_throttle(cf.k, cf.ci, &cf.fill, r, out);
    }

    /// Moves the desk's and the client's positions, fees and credit use, takes an accept
    /// token and numbers the trade.
    #[inline]
    fn book_fill(&mut self, slot: usize, s: usize, q: i64) -> Fill {
        let now = self.now;
        let rfq = &mut self.rfq;
        let quote = rfq.quotes[slot];
        let (k, ci) = (quote.client as usize, quote.ci as usize);
        let price = quote.sides[s].0;
        let notional = i128::from(price) * i128::from(q);
        let fee = rfq_model::fixed::div_ceil_i128(notional * i128::from(quote.fee_cbps), PPM);
        let dq = desk_delta(s as u8, q);
        rfq.last_trade += 1;
        let trade = rfq.last_trade;
        let to_credit = rfq.inst[ci].to_credit;
        let st = &mut rfq.inst[ci];
        st.desk.apply(dq, price);
        st.desk.fees += fee;
        let c = &mut rfq.clients[k];
        let before = c.positions[ci].cost.abs();
        c.positions[ci].apply(-dq, price);
        c.positions[ci].fees += fee;
        c.util += (c.positions[ci].cost.abs() - before) * to_credit;
        c.accept_bucket.take(&c.spec.accept_rate, now);
        rfq.stats.fills += 1;
        let client_id = c.spec.id;
        Fill { trade, side: s, price, qty: q, notional, fee, client_id, instrument: self.ids[ci] }
    }

    /// The repeated-execution throttle: a client or composite with `exec_count` fills within
    /// the window is halted (one `RISK_EVENT` each, when it newly halts).
    #[inline]
    fn exec_throttle(&mut self, k: usize, ci: usize, f: &Fill, r: &Record, out: &mut impl Sink) {
        let now = self.now;
        let rfq = &mut self.rfq;
        let (count, window) = (rfq.desk.exec_count, rfq.desk.exec_window_ns);
        let c = &mut rfq.clients[k];
        let n = c.exec.record(now, count, window);
        let client_halt = count > 0 && n >= count && !c.halted;
        c.halted |= client_halt;
        let st = &mut rfq.inst[ci];
        let m = st.exec.record(now, count, window);
        let inst_halt = count > 0 && m >= count && !st.halted;
        st.halted |= inst_halt;
        for (halt, code, cnt) in [(client_halt, 1_u8, n), (inst_halt, 2, m)] {
            if halt {
                rfq.stats.risk_events += 1;
                out.emit(&Record {
                    kind: kind::RISK_EVENT,
                    instrument: f.instrument,
                    side: code,
                    flags: flags::END,
                    source: 0,
                    seq: f.trade,
                    ts_event: 0,
                    ts_recv: now,
                    price: i64::from(f.client_id),
                    qty: i64::from(cnt),
                    aux: 0,
                    ts_send: r.ts_send,
                });
            }
        }
    }
}
