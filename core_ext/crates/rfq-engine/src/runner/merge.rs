//! The round-robin merge of the input rings, whole venue messages at a time (see the module
//! doc of [`crate::Runner`]): back-pressure from the out/tap rings, and the journaled variant
//! that stages outputs and journals every consumed record before committing the batch.

use super::sink::RingSink;
use super::durability::MAX_JOURNAL_BACKLOG;
use super::{Runner, MAX_LATENCY_NS};
use rfq_journal::OutputHash;
use rfq_ring::clock::monotonic_ns;
use rfq_ring::record::{flags, kind};
use rfq_ring::{Producer, Record};

impl Runner {
    /// Consume what the input rings hold now, up to `budget` records. Returns the number of
    /// records processed (0 = nothing to do, or the output ring is full).
    pub fn run_once(&mut self, budget: usize) -> usize {
        if !self.drain_republish() {
            self.out_waits += 1;
            return 0;
        }
        let n = self.inputs.len();
        if n == 0 {
            return 0;
        }
        let mut done = 0;
        let mut idle_rings = 0;
        while done < budget && idle_rings < n {
            let (processed, out_full) = self.drain_current(budget - done);
            done += processed;
            if out_full {
                self.out_waits += 1;
                break;
            }
            if self.in_message {
                if processed == 0 {
                    break; // the producer has not published the rest of the message yet
                }
                continue;
            }
            self.current = (self.current + 1) % n;
            idle_rings = if processed == 0 { idle_rings + 1 } else { 0 };
        }
        done
    }

    /// Process records of the current ring: up to `batch` (or `budget`), extended to the end
    /// of the current message. Returns `(processed, output ring too full)`.
    #[inline]
    fn drain_current(&mut self, budget: usize) -> (usize, bool) {
        if self.journal.is_some() {
            return self.drain_current_journaled(budget);
        }
        let room = self.room();
        if room == 0 {
            return (0, true);
        }
        let want = room.min(budget.max(1));
        let Runner { core, inputs, out, current, in_message, batch, tick_to_quote, rfq_to_quote, gateway_in, tap, .. } = self;
        let chunk = inputs[*current].peek(want);
        let mut sink = RingSink::<false> { out, hash: OutputHash::new(), tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
        let mut used = 0;
        let (a, b) = chunk.as_slices();
        for rec in a.iter().chain(b.iter()) {
            sink.rfq = (rec.kind == kind::RFQ).then_some((rec.source, rec.seq));
            if let Some(ns) = gateway_in_ns(rec) {
                gateway_in.saturating_record(ns);
            }
            core.process(rec, &mut sink);
            if sink.quotes != 0 {
                sink.quotes = 0;
                if rec.ts_send > 0 {
                    let ns = (monotonic_ns() - rec.ts_send).clamp(1, MAX_LATENCY_NS as i64) as u64;
                    tick_to_quote.saturating_record(ns);
                }
            }
            if sink.answered {
                sink.answered = false;
                if rec.ts_send > 0 {
                    let ns = (monotonic_ns() - rec.ts_send).clamp(1, MAX_LATENCY_NS as i64) as u64;
                    rfq_to_quote.saturating_record(ns);
                }
            }
            used += 1;
            *in_message = rec.flags & flags::END == 0;
            if used >= *batch && !*in_message {
                break;
            }
        }
        chunk.commit_n(used);
        (used, false)
    }

    /// [`Runner::drain_current`] with a journal: outputs staged, records journaled and
    /// committed, outputs published once durable.
    fn drain_current_journaled(&mut self, budget: usize) -> (usize, bool) {
        if self.journal.as_ref().is_some_and(|j| j.error.is_some()) {
            return (0, true); // fail-stop: nothing more is consumed or published
        }
        let mut room = self.room();
        if room == 0 && self.out.staged() + self.tap.as_ref().map_or(0, Producer::staged) > 0 {
            // the staged outputs fill the ring: group commit syncs now
            if self.journal.as_ref().is_some_and(|j| j.writer.has_sync_thread()) {
                // ask the sync thread, publish what is durable already, wait in the loop
                self.journal.as_ref().expect("journaled").writer.request_sync();
                self.poll_journal_published();
            } else {
                self.flush_journal();
            }
            room = self.room();
        }
        if room == 0 {
            return (0, true);
        }
        if self.journal.as_ref().is_some_and(|j| j.writer.queued_bytes() > MAX_JOURNAL_BACKLOG) {
            // the sync thread's write(2) stalls: hold the input (its memory is bounded)
            return (0, true);
        }
        // replicated: room for a whole block in the block ring, and no more than one block
        let block_room = self.journal.as_ref().and_then(|j| j.block_room());
        if block_room == Some(0) {
            return (0, true);
        }
        let want = room.min(budget.max(1)).min(block_room.unwrap_or(usize::MAX));
        let Runner { core, inputs, out, current, in_message, batch, tap, journal, gateway_in, .. } = self;
        let j = journal.as_deref_mut().expect("journaled");
        let chunk = inputs[*current].peek(want);
        let mut sink = RingSink::<true> { out, hash: j.hash, tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
        let mut used = 0;
        let (a, b) = chunk.as_slices();
        for rec in a.iter().chain(b.iter()) {
            sink.rfq = (rec.kind == kind::RFQ).then_some((rec.source, rec.seq));
            if let Some(ns) = gateway_in_ns(rec) {
                gateway_in.saturating_record(ns);
            }
            core.process(rec, &mut sink);
            let seq = j.writer.next_seq();
            if let Err(e) = j.append(rec, sink.hash.value()) {
                j.error.get_or_insert(e);
            }
            if sink.quotes != 0 {
                sink.quotes = 0;
                if rec.ts_send > 0 && j.lat.len() < j.lat.capacity() {
                    j.lat.push_back((rec.ts_send, 0, seq));
                }
            }
            if sink.answered {
                sink.answered = false;
                if rec.ts_send > 0 && j.lat.len() < j.lat.capacity() {
                    j.lat.push_back((rec.ts_send, 1, seq));
                }
            }
            used += 1;
            *in_message = rec.flags & flags::END == 0;
            if used >= *batch && !*in_message {
                break;
            }
        }
        j.hash = sink.hash;
        chunk.commit_n(used);
        self.journal_commit();
        (used, false)
    }

    /// Input records the output (and tap) rings have room for now.
    #[inline]
    pub(super) fn room(&self) -> usize {
        let max_out = self.core.max_out_per_record().max(1);
        let mut free = self.out.free_slots();
        if let Some(t) = &self.tap {
            free = free.min(t.free_slots());
        }
        free / max_out
    }
}

/// The gateway-in stage of an RFQ record (see [`Runner::gateway_in`]): `ts_recv − ts_event`
/// when its sender stamped an earlier send time, else `None`.
#[inline]
fn gateway_in_ns(rec: &Record) -> Option<u64> {
    (rec.kind == kind::RFQ && rec.ts_event > 0 && rec.ts_recv > rec.ts_event)
        .then(|| (rec.ts_recv - rec.ts_event).clamp(1, MAX_LATENCY_NS as i64) as u64)
}
