//! Where the domains write their output records, and the shape of every answer that echoes
//! its request.

use rfq_ring::record::flags;
use rfq_ring::Record;

/// Where the core writes its output records.
pub trait Sink {
    /// Publish one record. The runner guarantees room for the core's `max_out_per_record`
    /// records before each input record, so this never fails.
    fn emit(&mut self, rec: &Record);
}

impl Sink for Vec<Record> {
    fn emit(&mut self, rec: &Record) {
        self.push(*rec);
    }
}

/// An answer to input `r`: its fields echoed, with `kind`, `side` and `aux` replaced, flagged
/// `END` and stamped with core time `now` (the shape of every reject and acknowledgement that
/// echoes its request).
#[inline]
pub fn echo(r: &Record, kind: u16, side: u8, aux: i64, now: i64) -> Record {
    Record { kind, side, flags: flags::END, ts_recv: now, aux, ..*r }
}
