//! Shared fixtures of the RFQ workflow tests: a one-venue BTC composite with a synthetic deep
//! book, three clients, two tiers, and helpers to build input records (the configuration, the
//! record builders and the journal tests' stream are rfq-testkit's `fixtures`, re-exported here
//! and shared with rfq-cluster's tests).
#![allow(dead_code)]

pub mod hedge;
pub mod members;
pub mod twins;

use rfq_engine::{Core, CoreConfig};
use rfq_ring::record::kind;
use rfq_ring::Record;

pub use rfq_testkit::fixtures::*;

/// A core with the book of composite 1 loaded at T0.
pub struct H {
    pub core: Core,
    pub t: i64,
}

impl H {
    pub fn new() -> H {
        H::with(config())
    }

    pub fn with(cfg: CoreConfig) -> H {
        let mut h = H { core: Core::new(cfg).unwrap(), t: T0 };
        h.feed(&snapshot(1, T0));
        h
    }

    pub fn feed(&mut self, recs: &[Record]) -> Vec<Record> {
        let mut out = Vec::new();
        for r in recs {
            self.core.process(r, &mut out);
        }
        out
    }

    pub fn send(&mut self, r: Record) -> Vec<Record> {
        self.feed(&[r])
    }

    /// Move core time by `dt` with a heartbeat.
    pub fn tick(&mut self, dt: i64) -> Vec<Record> {
        self.t += dt;
        self.send(hb(self.t))
    }

    pub fn rfq(&mut self, client: u16, side: u8, qty: i64, id: u64) -> Vec<Record> {
        self.send(rfq(client, side, qty, id, self.t))
    }

    /// RFQ that must be quoted: returns the quote id and the quote records.
    pub fn quote(&mut self, client: u16, side: u8, qty: i64, id: u64) -> (u64, Vec<Record>) {
        let out = self.rfq(client, side, qty, id);
        let q: Vec<Record> = out.iter().filter(|r| r.kind == kind::RFQ_QUOTE).copied().collect();
        assert!(!q.is_empty(), "not quoted: {out:?}");
        (q[0].seq, q)
    }

    pub fn accept(&mut self, client: u16, quote: u64, side: u8, price: i64, qty: i64) -> Vec<Record> {
        self.send(accept(client, quote, side, price, qty, self.t))
    }

    pub fn ctl(&mut self, cmd: u8, field: u16, instrument: u16, price: i64, qty: i64, aux: i64) -> Record {
        let out = self.send(ctl(cmd, field, instrument, price, qty, aux, self.t));
        *out.iter().find(|r| r.kind == kind::CONTROL_ACK).expect("one ack")
    }

    /// A control that must be applied.
    pub fn set(&mut self, cmd: u8, field: u16, instrument: u16, price: i64, qty: i64) {
        let ack = self.ctl(cmd, field, instrument, price, qty, 0);
        assert_eq!(ack.aux, 0, "control refused: {ack:?}");
    }
}

pub fn only(out: &[Record], k: u16) -> Vec<Record> {
    out.iter().filter(|r| r.kind == k).copied().collect()
}

pub fn one(out: &[Record], k: u16) -> Record {
    let v = only(out, k);
    assert_eq!(v.len(), 1, "expected one record of kind {k}: {out:?}");
    v[0]
}


// -- journal tests (journal.rs, journal_sync.rs, recovery.rs) ---------------------------------

/// Everything the consumer holds now.
pub fn drain(c: &mut rfq_ring::Consumer) -> Vec<Record> {
    std::iter::from_fn(|| c.try_pop()).collect()
}

// -- allocation tests (no_alloc.rs, hedge_alloc.rs) ------------------------------------------

/// Output records seen, by kind.
pub struct Kinds([u64; 1024]);

impl Kinds {
    pub fn new() -> Kinds {
        Kinds([0; 1024])
    }
    pub fn add(&mut self, out: &[Record]) {
        for r in out {
            self.0[usize::from(r.kind) % 1024] += 1;
        }
    }
    pub fn of(&self, k: u16) -> u64 {
        self.0[usize::from(k)]
    }
}

