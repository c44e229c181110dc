//! The sink the core writes its outputs into: the out ring (published at once, or staged for
//! the journal), a copy of RFQ-workflow outputs to the tap ring, and the markers the runner's
//! latency sampling needs (a quote was emitted, the RFQ being processed got its answer).

use crate::core::Sink;
use rfq_journal::OutputHash;
use rfq_ring::record::kind;
use rfq_ring::{Producer, Record};

/// Where [`Core::process`](crate::Core::process) writes while the runner drives it: `STAGED`
/// writes unpublished (journaled runs, published once durable) and hashes the output stream.
pub(super) struct RingSink<'a, const STAGED: bool> {
    pub(super) out: &'a mut Producer,
    /// Running hash of the outputs (journaled runs only).
    pub(super) hash: OutputHash,
    pub(super) tap: Option<&'a mut Producer>,
    pub(super) quotes: u32,
    /// `(client, client RFQ id)` of the RFQ being processed.
    pub(super) rfq: Option<(u16, u64)>,
    /// The RFQ got its answer (RFQ_QUOTE, RFQ_REJECT or APPROVAL_PENDING).
    pub(super) answered: bool,
}

impl<const STAGED: bool> Sink for RingSink<'_, STAGED> {
    #[inline]
    fn emit(&mut self, rec: &Record) {
        self.quotes += u32::from(rec.kind == kind::QUOTE);
        let pushed = if STAGED {
            self.hash.push(rec);
            self.out.write_unpublished(rec)
        } else {
            self.out.try_push(rec)
        };
        if pushed.is_err() {
            // Room for every possible output was reserved before the input was consumed.
            unreachable!("output ring full despite reserved room");
        }
        if (kind::RFQ_QUOTE..=kind::CONTROL_ACK).contains(&rec.kind) {
            if let Some(tap) = self.tap.as_deref_mut() {
                let pushed = if STAGED { tap.write_unpublished(rec) } else { tap.try_push(rec) };
                if pushed.is_err() {
                    unreachable!("tap ring full despite reserved room");
                }
            }
            // the client RFQ id is `aux` of RFQ_QUOTE, `seq` of RFQ_REJECT / APPROVAL_PENDING
            let answer = match rec.kind {
                kind::RFQ_QUOTE => Some((rec.source, rec.aux as u64)),
                kind::RFQ_REJECT | kind::APPROVAL_PENDING => Some((rec.source, rec.seq)),
                _ => None,
            };
            if answer.is_some() && answer == self.rfq {
                self.answered = true;
            }
        }
    }
}
