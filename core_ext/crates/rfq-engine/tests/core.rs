//! Core behaviour: sync states, rejects without state change, quoting, determinism, runner.

use rfq_engine::{Core, CoreConfig, Runner};
use rfq_model::{CompositeSpec, Instrument, InstrumentKind, PricingParams, RfqConfig};
use rfq_ring::record::{flags, kind, reject, withdraw};
use rfq_ring::{Record, RingFile};

const SAT: i64 = 100_000_000;

fn inst(id: u16, venue: &str, kind: InstrumentKind, pd: u32, qd: u32, cs: i64) -> Instrument {
    Instrument {
        id,
        symbol: "BTC".into(),
        venue: venue.into(),
        kind,
        price_decimals: pd,
        qty_decimals: qd,
        tick: 1,
        lot: 1,
        contract_size: cs,
        book_window: rfq_model::DEFAULT_BOOK_WINDOW,
        max_qty: 1_000_000_000_000,
    }
}

fn config() -> CoreConfig {
    CoreConfig {
        instruments: vec![
            inst(1, "spot", InstrumentKind::Spot, 2, 5, 0),
            inst(2, "perp", InstrumentKind::Linear, 1, 3, 0),
        ],
        composites: vec![CompositeSpec {
            id: 1,
            name: "BTC".into(),
            price_decimals: 2,
            qty_decimals: 8,
            members: vec![1, 2],
            stale_after_ns: 5_000_000_000,
            basis_ema_shift: 0,
            cross_tolerance_cbps: 0,
            pricing: PricingParams { sizes: vec![SAT, 10 * SAT], base_cbps: 100, size_cbps_per_unit: 0 },
        }],
        book_capacity: 1024,
        rfq: RfqConfig::default(),
    }
}

fn rec(kind: u16, instrument: u16, side: u8, fl: u8, ts: i64, price: i64, qty: i64) -> Record {
    Record { kind, instrument, side, flags: fl, ts_recv: ts, price, qty, ..Record::ZERO }
}

/// Snapshot of instrument 1 (spot, 2dp/5dp): 2 BTC bid at 60000.00, 2 BTC ask at 60001.00.
fn spot_snapshot(ts: i64) -> Vec<Record> {
    vec![
        rec(kind::BOOK_CLEAR, 1, 255, flags::SNAPSHOT, ts, 0, 0),
        rec(kind::BOOK_LEVEL, 1, 0, flags::SNAPSHOT, ts, 6_000_000, 200_000),
        rec(kind::BOOK_LEVEL, 1, 1, flags::SNAPSHOT | flags::END, ts, 6_000_100, 200_000),
    ]
}

fn feed(core: &mut Core, recs: &[Record]) -> Vec<Record> {
    let mut out = Vec::new();
    for r in recs {
        core.process(r, &mut out);
    }
    out
}

#[test]
fn snapshot_makes_book_live_and_quotes() {
    let mut core = Core::new(config()).unwrap();
    let out = feed(&mut core, &spot_snapshot(1));
    assert_eq!(core.status_code(1), Some(0));
    let quotes: Vec<_> = out.iter().filter(|r| r.kind == kind::QUOTE).collect();
    assert_eq!(quotes.len(), 2);
    // 1 BTC: both sides valid; 60000.00 and 60001.00 with ±1bp (100 cbps), asks up, bids down.
    assert_eq!(quotes[0].flags, flags::BID_VALID | flags::ASK_VALID);
    assert_eq!(quotes[0].price, 5_999_400); // 6_000_000 × 0.9999 = 5_999_400.0
    assert_eq!(quotes[0].aux, 6_000_701); // 6_000_100 × 1.0001 = 6_000_700.01 → up
    // 10 BTC: too thin on both sides.
    assert_eq!(quotes[1].flags, 0);
    assert_eq!(quotes[1].side, withdraw::TOO_THIN);
}

#[test]
fn bad_records_are_rejected_without_state_change() {
    let mut core = Core::new(config()).unwrap();
    feed(&mut core, &spot_snapshot(1));
    let before = core.state_hash();
    let bad = [
        (rec(kind::BOOK_LEVEL, 9, 0, 0, 2, 6_000_000, 1), reject::UNKNOWN_INSTRUMENT),
        (rec(kind::BOOK_LEVEL, 1, 7, 0, 2, 6_000_000, 1), reject::BAD_SIDE),
        (rec(kind::BOOK_LEVEL, 1, 0, 0, 2, 0, 1), reject::PRICE_NOT_POSITIVE),
        (rec(kind::BOOK_LEVEL, 1, 0, 0, 2, 6_000_000, -1), reject::NEGATIVE_QUANTITY),
        (rec(kind::BOOK_LEVEL, 1, 0, 0, 2, 6_000_000, 2_000_000_000_000), reject::QUANTITY_ABOVE_MAX),
        (rec(kind::BOOK_LEVEL, 2, 0, 0, 2, 600_000, 1), reject::BOOK_NOT_SYNCED), // perp not synced
        (rec(77, 1, 0, 0, 2, 1, 1), reject::UNKNOWN_KIND),
    ];
    for (r, code) in bad {
        let out = feed(&mut core, &[r]);
        assert_eq!(out.len(), 1, "{r:?}");
        assert_eq!(out[0].kind, kind::REJECT);
        assert_eq!(out[0].aux, code, "{r:?}");
        assert_eq!(core.state_hash(), before, "state changed by {r:?}");
    }
    assert_eq!(core.stats().rejects, 7);
}

#[test]
fn off_tick_and_off_lot_are_rejected() {
    let mut cfg = config();
    cfg.instruments[0].tick = 10;
    cfg.instruments[0].lot = 100;
    cfg.instruments[0].max_qty = 1_000_000_000_000;
    let mut core = Core::new(cfg).unwrap();
    let out = feed(&mut core, &[rec(kind::BOOK_LEVEL, 1, 0, 0, 1, 6_000_005, 100)]);
    assert_eq!(out[0].aux, reject::OFF_TICK_PRICE);
    let out = feed(&mut core, &[rec(kind::BOOK_LEVEL, 1, 0, 0, 1, 6_000_010, 150)]);
    assert_eq!(out[0].aux, reject::OFF_LOT_QUANTITY);
}

#[test]
fn stale_book_withdraws_quotes_until_resync() {
    let mut core = Core::new(config()).unwrap();
    feed(&mut core, &spot_snapshot(1));
    let out = feed(&mut core, &[rec(kind::BOOK_STALE, 1, 255, flags::END, 2, 0, 0)]);
    assert!(out.iter().any(|r| r.kind == kind::QUOTE && r.flags == 0 && r.side == withdraw::STALE));
    // diffs are refused while stale
    let out = feed(&mut core, &[rec(kind::BOOK_LEVEL, 1, 0, flags::END, 3, 6_000_000, 1)]);
    assert_eq!(out[0].aux, reject::BOOK_NOT_SYNCED);
    let out = feed(&mut core, &spot_snapshot(4));
    assert!(out.iter().any(|r| r.kind == kind::QUOTE && r.flags == flags::BID_VALID | flags::ASK_VALID));
}

#[test]
fn silent_member_goes_stale_by_core_time() {
    let mut core = Core::new(config()).unwrap();
    feed(&mut core, &spot_snapshot(1));
    let out = feed(&mut core, &[rec(kind::HEARTBEAT, 0, 255, flags::END, 6_000_000_002, 0, 0)]);
    assert!(out.iter().any(|r| r.kind == kind::QUOTE && r.side == withdraw::STALE), "{out:?}");
}

#[test]
fn crossed_composite_is_not_quoted() {
    let mut core = Core::new(config()).unwrap();
    feed(&mut core, &spot_snapshot(1));
    // perp (1dp/3dp) bids 60002.0 > spot ask 60001.00: each venue is fine, the composite is crossed
    let out = feed(
        &mut core,
        &[
            rec(kind::BOOK_CLEAR, 2, 255, flags::SNAPSHOT, 2, 0, 0),
            rec(kind::BOOK_LEVEL, 2, 0, flags::SNAPSHOT, 2, 600_020, 5_000),
            rec(kind::BOOK_LEVEL, 2, 1, flags::SNAPSHOT | flags::END, 2, 600_030, 5_000),
        ],
    );
    assert!(out.iter().any(|r| r.kind == kind::QUOTE && r.side == withdraw::CROSSED), "{out:?}");
    // excluding the perp makes the composite quotable again
    core.set_member(1, 2, false).unwrap();
    let out = feed(&mut core, &[rec(kind::HEARTBEAT, 0, 255, flags::END, 3, 0, 0)]);
    assert!(out.iter().any(|r| r.kind == kind::QUOTE && r.flags == flags::BID_VALID | flags::ASK_VALID));
}

#[test]
fn same_input_same_output_and_hash() {
    let mut inputs = spot_snapshot(1);
    for i in 0..500_i64 {
        inputs.push(rec(kind::BOOK_LEVEL, 1, (i % 2) as u8, flags::END, 2 + i, 6_000_000 + (i % 2) * 100 + (i * 7919) % 400 * if i % 2 == 0 { -1 } else { 1 }, (i % 5) * 1000));
    }
    let run = || {
        let mut core = Core::new(config()).unwrap();
        let out = feed(&mut core, &inputs);
        (out, core.state_hash())
    };
    let (o1, h1) = run();
    let (o2, h2) = run();
    assert_eq!(o1, o2);
    assert_eq!(h1, h2);
}

#[test]
fn runner_keeps_messages_whole_and_applies_back_pressure() {
    let core = Core::new(config()).unwrap();
    let max_out = core.max_out_per_record();
    let (out_p, mut out_c) = RingFile::anonymous(64).unwrap().split();
    let (mut in_a, in_a_c) = RingFile::anonymous(1024).unwrap().split();
    let mut runner = Runner::new(core, out_p);
    runner.add_input(in_a_c);
    // publish only the first two records of a three-record snapshot: the runner must wait
    let snap = spot_snapshot(1);
    assert_eq!(in_a.push_slice(&snap[..2]), 2);
    assert_eq!(runner.run_once(usize::MAX), 2);
    assert_eq!(runner.run_once(usize::MAX), 0);
    assert_eq!(in_a.push_slice(&snap[2..]), 1);
    assert_eq!(runner.run_once(usize::MAX), 1);
    // flood with messages while nobody drains the 64-slot output ring: input waits, nothing lost
    let mut sent = 0;
    for i in 0..200_i64 {
        if in_a.try_push(&rec(kind::BOOK_LEVEL, 1, 0, flags::END, 10 + i, 5_000_000 + i, 1_000)).is_ok() {
            sent += 1;
        }
    }
    let mut consumed = 0;
    let mut outputs = Vec::new();
    for _ in 0..10_000 {
        consumed += runner.run_once(usize::MAX);
        while let Some(r) = out_c.try_pop() {
            outputs.push(r);
        }
        if consumed == sent {
            break;
        }
    }
    assert_eq!(consumed, sent);
    assert!(runner.out_waits() > 0 || outputs.len() < 64, "max_out {max_out}");
    // every output sequence number is present exactly once, in order
    let seqs: Vec<u64> = outputs.iter().map(|r| r.seq).filter(|&s| s > 0).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn basis_normalisation_uncrosses_venues_trading_at_a_premium() {
    let mut cfg = config();
    cfg.composites[0].basis_ema_shift = 4;
    let mut core = Core::new(cfg).unwrap();
    feed(&mut core, &spot_snapshot(1));
    // perp 20.00 below spot (60000/60001 vs 59980.0/59981.0): crossed as raw prices
    let out = feed(
        &mut core,
        &[
            rec(kind::BOOK_CLEAR, 2, 255, flags::SNAPSHOT, 2, 0, 0),
            rec(kind::BOOK_LEVEL, 2, 0, flags::SNAPSHOT, 2, 599_800, 5_000),
            rec(kind::BOOK_LEVEL, 2, 1, flags::SNAPSHOT | flags::END, 2, 599_810, 5_000),
        ],
    );
    let basis = core.basis(1).unwrap();
    assert_eq!(basis[1], (2, 2_000, true), "perp basis = +20.00"); // (60000.5 − 59980.5)
    // at spot's terms the perp's levels coincide with spot's: nothing crossed, the 1 BTC quote
    // is unchanged (so not re-published)
    assert!(!out.iter().any(|r| r.kind == kind::QUOTE && r.side == withdraw::CROSSED), "{out:?}");
    // 10 BTC: 2 spot + 5 perp per side = 7 < 10 → thin; 1 BTC: best of both at spot's terms
    let quotes = core.quotes(1).unwrap();
    assert_eq!(quotes[0].flags, flags::BID_VALID | flags::ASK_VALID);
    assert_eq!(quotes[1].reason, withdraw::TOO_THIN);
    // the same books without normalisation: crossed, no quote
    let mut raw = Core::new(config()).unwrap();
    feed(&mut raw, &spot_snapshot(1));
    let out = feed(
        &mut raw,
        &[
            rec(kind::BOOK_CLEAR, 2, 255, flags::SNAPSHOT, 2, 0, 0),
            rec(kind::BOOK_LEVEL, 2, 0, flags::SNAPSHOT, 2, 599_800, 5_000),
            rec(kind::BOOK_LEVEL, 2, 1, flags::SNAPSHOT | flags::END, 2, 599_810, 5_000),
        ],
    );
    assert!(out.iter().any(|r| r.kind == kind::QUOTE && r.side == withdraw::CROSSED));
}
