//! CONTROL: operator commands, each acknowledged by a `CONTROL_ACK` carrying the previous
//! value or the reason it was refused. The commands that change a setting are in
//! `settings.rs`, APPROVE and DECLINE in `approval.rs`, CANCEL_QUOTE in `cancel.rs`.

use crate::Desk;
use rfq_kernel::views::DeskInputs;
use rfq_kernel::Sink;
use rfq_ring::record::{control, flags, kind, rfq_reject};
use rfq_ring::Record;

/// The reason of every malformed command.
pub(super) const BAD: i64 = rfq_reject::BAD_COMMAND;

/// A CONTROL record that can be applied: a whole record with a command id (otherwise it is
/// refused `MALFORMED`).
#[inline]
pub fn control_well_formed(r: &Record) -> bool {
    r.flags & flags::END != 0 && r.seq != 0
}

/// A CONTROL on/off value: 0 or 1.
#[inline]
pub(super) fn flag(v: i64) -> Result<bool, i64> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(BAD),
    }
}

impl Desk {
    /// A CONTROL record of the desk: applied (or refused) and acknowledged by `CONTROL_ACK`.
    /// (The engine applies the commands on the market and on hedging itself and has the desk
    /// acknowledge them with [`Desk::ack_control`].)
    pub fn on_control(&mut self, m: &impl DeskInputs, r: &Record, out: &mut impl Sink) {
        let outcome = if control_well_formed(r) { self.control(m, r, out) } else { Err(rfq_reject::MALFORMED) };
        self.ack_control(r, outcome, out);
    }

    /// Acknowledge CONTROL `r` by `CONTROL_ACK`: `Ok(previous value)` applied, `Err(reason)`
    /// refused.
    pub fn ack_control(&mut self, r: &Record, outcome: Result<i64, i64>, out: &mut impl Sink) {
        self.rfq.stats.controls += 1;
        let (aux, prev) = match outcome {
            Ok(prev) => (0, prev),
            Err(reason) => (reason, 0),
        };
        if aux != 0 {
            self.rfq.count_reject(aux);
        }
        out.emit(&Record {
            kind: kind::CONTROL_ACK,
            instrument: r.instrument,
            side: r.side,
            flags: flags::END,
            source: r.source,
            seq: r.seq,
            ts_event: prev,
            ts_recv: self.now,
            price: r.price,
            qty: r.qty,
            aux,
            ts_send: r.ts_send,
        });
    }

    /// Validate and apply one operator command. `Ok(previous value)`; `Err(reason)` changes
    /// nothing.
    pub(super) fn control(&mut self, m: &impl DeskInputs, r: &Record, out: &mut impl Sink) -> Result<i64, i64> {
        match r.side {
            control::KILL => self.control_kill(r),
            control::REENABLE => self.control_reenable(r),
            control::RESTRICT => self.control_restrict(r),
            control::SET_CLIENT => self.control_set_client(r),
            control::SET_INSTRUMENT => self.control_set_instrument(r),
            control::SET_TIER => self.control_set_tier(r),
            control::SET_PRICING => self.control_set_pricing(r),
            control::SET_DESK => self.control_set_desk(r),
            control::APPROVE => self.approve(m, r, out),
            control::DECLINE => self.decline(r, out),
            control::CANCEL_QUOTE => self.control_cancel_quote(r, out),
            _ => Err(BAD),
        }
    }

    /// KILL: turn a kill switch (desk, client or composite) on or off; turning one on starts
    /// cancelling the live quotes it covers, a bounded step per record.
    pub(super) fn control_kill(&mut self, r: &Record) -> Result<i64, i64> {
        let on = flag(r.qty)?;
        let sw = self.kill_switch(r)?;
        let prev = std::mem::replace(sw, on);
        if on && !prev {
            // cancel the live quotes now covered, a bounded step per record
            self.rfq.kill_scan = Some((0, self.rfq.quotes.len()));
        }
        Ok(i64::from(prev))
    }

    /// REENABLE: lift the repeated-execution halt of a client or composite.
    pub(super) fn control_reenable(&mut self, r: &Record) -> Result<i64, i64> {
        if r.price != 0 {
            let k = self.control_client(r.price)?;
            let c = &mut self.rfq.clients[k];
            let prev = std::mem::replace(&mut c.halted, false);
            c.exec.reset();
            Ok(i64::from(prev))
        } else if r.instrument != 0 {
            let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
            let st = &mut self.rfq.inst[ci];
            let prev = std::mem::replace(&mut st.halted, false);
            st.exec.reset();
            Ok(i64::from(prev))
        } else {
            Err(BAD)
        }
    }

    /// RESTRICT: restrict a composite (RFQs and accepts refused) or lift it.
    pub(super) fn control_restrict(&mut self, r: &Record) -> Result<i64, i64> {
        let on = flag(r.qty)?;
        let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
        let risk = self.rfq.inst[ci].risk.as_mut().ok_or(BAD)?;
        Ok(i64::from(std::mem::replace(&mut risk.restricted, on)))
    }

    /// A client named by a CONTROL's `price`.
    pub(super) fn control_client(&self, price: i64) -> Result<usize, i64> {
        let id = u16::try_from(price).map_err(|_| rfq_reject::BAD_COMMAND)?;
        if id == 0 {
            return Err(rfq_reject::BAD_COMMAND);
        }
        self.rfq.client_index(id).ok_or(rfq_reject::UNKNOWN_CLIENT)
    }

    /// The kill switch a KILL command names.
    pub(super) fn kill_switch(&mut self, r: &Record) -> Result<&mut bool, i64> {
        if r.price != 0 {
            let k = self.control_client(r.price)?;
            Ok(&mut self.rfq.clients[k].killed)
        } else if r.instrument != 0 {
            let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
            Ok(&mut self.rfq.inst[ci].killed)
        } else {
            Ok(&mut self.rfq.desk_killed)
        }
    }
}
