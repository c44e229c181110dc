//! Heartbeats: the synthetic `HEARTBEAT` the core thread processes after an idle interval, so
//! that time (quote expiries, approval timeouts, hedge retries) moves in an idle system.

use super::sink::RingSink;
use super::Runner;
use rfq_journal::OutputHash;
use rfq_ring::clock::monotonic_ns;
use rfq_ring::record::{flags, kind};
use rfq_ring::Record;
use std::time::{SystemTime, UNIX_EPOCH};

/// Source id of the heartbeats the runner injects.
pub const HEARTBEAT_SOURCE: u16 = 0xFFFF;

/// `CLOCK_REALTIME` in ns (the heartbeat's `ts_recv`).
pub(super) fn realtime_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

impl Runner {
    /// Inject a `HEARTBEAT` on the core thread after `interval_ns` of wall time without input
    /// (`None` = never, the default).
    pub fn set_heartbeat(&mut self, interval_ns: Option<u64>) {
        self.heartbeat_ns = interval_ns.filter(|&n| n > 0);
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Option<u64> {
        self.heartbeat_ns
    }

    /// Heartbeats injected so far.
    pub fn heartbeats(&self) -> u64 {
        self.heartbeats
    }

    /// Process one synthetic `HEARTBEAT` with this `ts_recv` now (what the core thread does
    /// when idle). Returns `false`, doing nothing, in the middle of an input message or when
    /// the output (or tap) ring lacks room for its outputs.
    pub fn inject_heartbeat(&mut self, ts_recv: i64) -> bool {
        if self.in_message || self.room() == 0 || !self.drain_republish() {
            return false;
        }
        let rec = Record {
            kind: kind::HEARTBEAT,
            flags: flags::END,
            source: HEARTBEAT_SOURCE,
            instrument: 0,
            side: 255,
            ts_recv,
            ts_send: monotonic_ns(),
            ..Record::ZERO
        };
        if let Some(j) = self.journal.as_deref_mut() {
            if j.error.is_some() || j.block_room() == Some(0) {
                return false;
            }
            let Runner { core, out, tap, .. } = self;
            let mut sink = RingSink::<true> { out, hash: j.hash, tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
            core.process(&rec, &mut sink);
            j.hash = sink.hash;
            if let Err(e) = j.append(&rec, j.hash.value()) {
                j.error = Some(e);
            }
            self.heartbeats += 1;
            self.journal_commit();
            return true;
        }
        let Runner { core, out, tap, .. } = self;
        let mut sink = RingSink::<false> { out, hash: OutputHash::new(), tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
        core.process(&rec, &mut sink);
        self.heartbeats += 1;
        true
    }
}
