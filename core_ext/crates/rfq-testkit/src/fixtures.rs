//! Fixtures of the core's tests (feature `fixtures`): a one-venue BTC composite with a synthetic
//! deep book, three clients, two tiers, helpers to build input records, and the journal tests'
//! stream and configuration. Shared by rfq-engine's tests (`tests/common` re-exports them) and
//! rfq-cluster's, so neither includes the other's test sources.
#![allow(missing_docs, clippy::missing_panics_doc, clippy::must_use_candidate)]

use rfq_engine::CoreConfig;
use rfq_model::{
    ClientSpec, CompositeSpec, DeskSpec, Instrument, InstrumentKind, InstrumentRisk, PricingParams, PricingV2, RfqConfig, Throttle, TierSpec,
};
use rfq_ring::record::{control, flags, kind};
use rfq_ring::Record;

/// One BTC in composite quantity units (8 decimals).
pub const BTC: i64 = 100_000_000;
/// Start of core time in the tests.
pub const T0: i64 = 1_000_000_000_000;
/// One second in ns.
pub const SEC: i64 = 1_000_000_000;
/// Default quote lifetime (tier 1).
pub const TTL: i64 = SEC;
/// Book: bids 60000.00, 59999.00, ... and asks 60001.00, 60002.00, ..., 1 BTC each.
pub const BID0: i64 = 6_000_000;
pub const ASK0: i64 = 6_000_100;
pub const LEVELS: i64 = 50;
/// Composite mid of the book.
pub const MID: i64 = (BID0 + ASK0) / 2;
/// Quoted prices for 1 BTC with the 100 cbps ladder base spread and nothing else.
pub const ASK_1BTC: i64 = 6_000_701; // ⌈6_000_100 × 1.0001⌉
pub const BID_1BTC: i64 = 5_999_400; // ⌊6_000_000 × 0.9999⌋

pub fn inst(id: u16, venue: &str) -> Instrument {
    Instrument {
        id,
        symbol: "BTCUSDT".into(),
        venue: venue.into(),
        kind: InstrumentKind::Spot,
        price_decimals: 2,
        qty_decimals: 5,
        tick: 1,
        lot: 1,
        contract_size: 0,
        book_window: rfq_model::DEFAULT_BOOK_WINDOW,
        max_qty: 1_000_000_000_000,
    }
}

pub fn composite(id: u16, name: &str, members: Vec<u16>) -> CompositeSpec {
    CompositeSpec {
        id,
        name: name.into(),
        price_decimals: 2,
        qty_decimals: 8,
        members,
        stale_after_ns: 1_000_000 * SEC,
        basis_ema_shift: 0,
        cross_tolerance_cbps: 0,
        pricing: PricingParams { sizes: vec![BTC], base_cbps: 100, size_cbps_per_unit: 0 },
    }
}

pub fn tier(id: u8, partial: bool) -> TierSpec {
    TierSpec { id, name: format!("t{id}"), markup_cbps: 0, fee_cbps: 100, ttl_ns: TTL, max_ttl_ns: 10 * SEC, allow_partial: partial }
}

pub fn client(id: u16, tier: u8, enabled: bool) -> ClientSpec {
    ClientSpec {
        id,
        name: format!("c{id}"),
        tier,
        enabled,
        credit_limit: 10_000_000_000, // $100M in cents
        max_open_quotes: 10,
        rfq_rate: Throttle::default(),
        accept_rate: Throttle::default(),
    }
}

pub fn risk(composite: u16) -> InstrumentRisk {
    InstrumentRisk {
        composite,
        min_qty: BTC / 100,
        max_qty: 10 * BTC,
        max_notional: 100_000_000, // $1M in cents
        long_limit: 20 * BTC,
        short_limit: 20 * BTC,
        collar_cbps: 10_000, // 1%
        approval_qty: 0,
        approval_notional: 0,
        approval_timeout_ns: 5 * SEC,
        restricted: false,
    }
}

/// Clients 1 (tier 1), 2 (tier 2, partial fills) and 3 (disabled); composite 1 = BTC over
/// instrument 1, composite 2 = BTC2 over instrument 2 without a risk entry.
pub fn config() -> CoreConfig {
    CoreConfig {
        instruments: vec![inst(1, "spot"), inst(2, "other")],
        composites: vec![composite(1, "BTC", vec![1]), composite(2, "BTC2", vec![2])],
        book_capacity: 1024,
        rfq: RfqConfig {
            tiers: vec![tier(1, false), tier(2, true)],
            clients: vec![client(1, 1, true), client(2, 2, true), client(3, 1, false)],
            risk: vec![risk(1)],
            pricing: vec![PricingV2 { composite: 1, ..PricingV2::default() }],
            desk: DeskSpec { exec_count: 0, exec_window_ns: SEC, quote_table: 64, max_pending: 4 },
            hedging: Vec::new(),
        },
    }
}

pub fn rec(kind: u16, instrument: u16, side: u8, fl: u8, ts: i64, price: i64, qty: i64) -> Record {
    Record { kind, instrument, side, flags: fl, ts_recv: ts, price, qty, ..Record::ZERO }
}

/// Snapshot of a spot instrument: `LEVELS` levels of 1 BTC each side from BID0/ASK0.
pub fn snapshot(instrument: u16, ts: i64) -> Vec<Record> {
    let mut v = vec![rec(kind::BOOK_CLEAR, instrument, 255, flags::SNAPSHOT, ts, 0, 0)];
    for i in 0..LEVELS {
        v.push(rec(kind::BOOK_LEVEL, instrument, 0, flags::SNAPSHOT, ts, BID0 - i * 100, 100_000));
        v.push(rec(kind::BOOK_LEVEL, instrument, 1, flags::SNAPSHOT, ts, ASK0 + i * 100, 100_000));
    }
    v.last_mut().unwrap().flags |= flags::END;
    v
}

pub fn rfq(client: u16, side: u8, qty: i64, id: u64, ts: i64) -> Record {
    Record { kind: kind::RFQ, instrument: 1, side, flags: flags::END, source: client, seq: id, ts_recv: ts, qty, ..Record::ZERO }
}

pub fn accept(client: u16, quote: u64, side: u8, price: i64, qty: i64, ts: i64) -> Record {
    Record { kind: kind::ACCEPT, instrument: 1, side, flags: flags::END, source: client, seq: quote, ts_recv: ts, price, qty, aux: 777, ..Record::ZERO }
}

pub fn cancel(source: u16, quote: u64, ts: i64) -> Record {
    Record { kind: kind::CANCEL, instrument: 1, side: 255, flags: flags::END, source, seq: quote, ts_recv: ts, ..Record::ZERO }
}

/// CONTROL `cmd` with field code `field`, scope `instrument`, `price`, value `qty`, `aux`.
#[allow(clippy::too_many_arguments)]
pub fn ctl(cmd: u8, field: u16, instrument: u16, price: i64, qty: i64, aux: i64, ts: i64) -> Record {
    Record { kind: kind::CONTROL, instrument, side: cmd, flags: flags::END, source: field, seq: 1, ts_recv: ts, price, qty, aux, ..Record::ZERO }
}

pub fn kill(scope_client: i64, scope_inst: u16, on: bool, ts: i64) -> Record {
    ctl(control::KILL, 0, scope_inst, scope_client, i64::from(on), 0, ts)
}

pub fn hb(ts: i64) -> Record {
    rec(kind::HEARTBEAT, 0, 255, flags::END, ts, 0, 0)
}

/// Configuration fingerprint of the journal tests.
pub const FP: u64 = 0xF1;

/// A journal in `dir` with the tests' fingerprint.
pub fn jcfg(dir: &std::path::Path, durability: rfq_journal::Durability, segment_bytes: u64) -> rfq_journal::JournalConfig {
    rfq_journal::JournalConfig { dir: dir.to_path_buf(), fingerprint: FP, segment_bytes, durability, key: None }
}

/// Market data, RFQs and accepts (fills and rejects), heartbeats, one record per message;
/// with `kill_at`, the desk-wide kill switch goes on at that step.
pub fn journal_stream(steps: i64, kill_at: Option<i64>) -> Vec<Record> {

    let mut v = snapshot(1, T0);
    let mut t = T0;
    for i in 0..steps {
        t += 1_000_000;
        let mut r = rec(kind::BOOK_LEVEL, 1, (i % 2) as u8, flags::END, t, if i % 2 == 0 { BID0 - 100 * (i % 7) } else { ASK0 + 100 * (i % 5) }, 100_000 + i * 1000);
        r.seq = i as u64;
        v.push(r);
        if i % 10 == 3 {
            v.push(rfq(1, 255, BTC, i as u64 + 1, t));
        }
        if i % 10 == 4 {
            v.push(accept(1, (i / 10 + 1) as u64, 0, ASK_1BTC, BTC, t));
        }
        if i % 17 == 0 {
            v.push(hb(t + 10));
        }
        if Some(i) == kill_at {
            v.push(kill(0, 0, true, t));
        }
    }
    v
}

/// A runner of [`config`] journaling into `dir` ([`jcfg`]) on anonymous rings: one input ring
/// of 2^12 records, an output ring of 2^14. Returns the runner, the input's producer and the
/// outputs' consumer.
pub fn journaled_runner(
    dir: &std::path::Path,
    durability: rfq_journal::Durability,
    segment_bytes: u64,
) -> (rfq_engine::Runner, rfq_ring::Producer, rfq_ring::Consumer) {
    let (out_p, out_c) = rfq_ring::RingFile::anonymous(1 << 14).unwrap().split();
    let (in_p, in_c) = rfq_ring::RingFile::anonymous(1 << 12).unwrap().split();
    let mut runner = rfq_engine::Runner::new(rfq_engine::Core::new(config()).unwrap(), out_p);
    runner.add_input(in_c);
    runner.set_journal(rfq_journal::JournalWriter::open(jcfg(dir, durability, segment_bytes)).unwrap());
    (runner, in_p, out_c)
}
