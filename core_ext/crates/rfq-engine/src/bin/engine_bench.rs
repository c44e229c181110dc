//! rfq-engine benchmark: the core replaying the real Binance BTC streams (spot, USD-M, COIN-M
//! merged by receive time) and pricing the BTC composite, with the shipped quote ladder and with
//! a shallow one, so that tick-to-quote can be split into pricing depth and transport.
//!
//! ```text
//! .venv/bin/python bench/bench_data.py     # once: parses ../shared/data into /tmp/rfqcore-bench
//! CARGO_TARGET_DIR=/tmp/bench-target cargo run --release -p rfq-engine --features bench --bin engine_bench [-- --quick] [-- --json]
//! ```
//!
//! Per scenario (composite members × quote ladder × input, see [`SCENARIOS`]):
//!
//! 1. **Inline replay** (`Core::process`, one thread, no rings): ns per input record and per
//!    venue message, and a histogram of the time from a message's first record to its END record
//!    processed (book updated, composite repriced, quote ladder emitted): the core's share of
//!    tick-to-quote, by message type, and for the messages that changed the published ladder
//!    (the ones tick-to-quote samples). Every record must be accepted (0 rejects).
//! 2. **Rust tick-to-quote through rings** (`Runner` on its own busy-spinning core thread, input
//!    ring → core → output ring): one harness thread offers whole venue messages at a FIXED rate
//!    and polls the output ring between sends. Each message's records carry its *intended* send
//!    time in `ts_send` and the time the harness actually pushed it in `ts_event` (the core copies
//!    both onto the quotes it causes and reads neither). Three histograms per run, one sample per
//!    message that changed the published ladder, taken at its first QUOTE (the core emits a
//!    message's whole ladder together, after pricing it):
//!    - `tick_to_quote`: harness reads the QUOTE − intended send time (coordinated-omission
//!      correct: a late send counts against us). The headline figure.
//!    - `tick_to_quote_from_send`: harness reads the QUOTE − actual push (without pacing lateness).
//!    - `core_published`: the `Runner`'s own histogram, intended send time → the core thread has
//!      published the quotes on the output ring (input hop + processing, no output hop).
//!
//!    All clocks are `CLOCK_MONOTONIC` (`rfq_ring::clock::monotonic_ns`). Two threads on two
//!    cores, no Python.
//! 3. **Saturated throughput through rings**: the whole stream offered as fast as the input ring
//!    takes it, the harness draining the output ring meanwhile; messages/s and records/s from the
//!    first push until the core has consumed the last record.
//!
//! The instrument/composite configuration mirrors `src/rfqcore/defaults/instruments.toml` (ids 1,
//! 3, 5; composite BTC). Prints a human report, then one JSON line `{"bench":"rfq_engine",...}`.

use std::hint::{black_box, spin_loop};
use std::time::Instant;

use hdrhistogram::Histogram;
use rfq_engine::{Core, CoreConfig, Runner};
use rfq_model::{CompositeSpec, Instrument, InstrumentKind, PricingParams};
use rfq_ring::clock::monotonic_ns;
use rfq_ring::record::{flags, kind};
use rfq_ring::{IdleKind, Record, RingFile};

/// The shipped BTC ladder (`instruments.toml`): 0.1, 1, 10, 100 BTC at 8 dp.
const SHIPPED: &[i64] = &[10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000];
/// A shallow ladder: 0.1 and 1 BTC only (sweeps stay within the first few levels).
const SHALLOW: &[i64] = &[10_000_000, 100_000_000];

#[allow(
    clippy::too_many_arguments,
    reason = "one row of the instrument table per call"
)]
fn inst(
    id: u16,
    venue: &str,
    symbol: &str,
    kind: InstrumentKind,
    pd: u32,
    qd: u32,
    tick: i64,
    cs: i64,
    max_qty: i64,
) -> Instrument {
    Instrument {
        id,
        symbol: symbol.into(),
        venue: venue.into(),
        kind,
        price_decimals: pd,
        qty_decimals: qd,
        tick,
        lot: 1,
        contract_size: cs,
        book_window: rfq_model::DEFAULT_BOOK_WINDOW,
        max_qty,
    }
}

/// The BTC part of `src/rfqcore/defaults/instruments.toml`; with `members` and `sizes` overriding
/// the composite's members (the default is all three venues) and ladder (default [`SHIPPED`]).
fn config(members: &[u16], sizes: &[i64]) -> CoreConfig {
    CoreConfig {
        instruments: vec![
            // tick "0.01", lot "0.000001", max_qty "100000"
            inst(
                1,
                "binance-spot",
                "BTCUSDT",
                InstrumentKind::Spot,
                2,
                6,
                1,
                0,
                100_000_000_000,
            ),
            // tick "0.10", lot "0.001", max_qty "100000"
            inst(
                3,
                "binance-usdm",
                "BTCUSDT",
                InstrumentKind::Linear,
                2,
                3,
                10,
                0,
                100_000_000,
            ),
            // tick "0.1", lot "1", contract_size "100", max_qty "100000000"
            inst(
                5,
                "binance-coinm",
                "BTCUSD_PERP",
                InstrumentKind::Inverse,
                1,
                0,
                1,
                100,
                100_000_000,
            ),
        ],
        composites: vec![CompositeSpec {
            id: 1,
            name: "BTC".into(),
            price_decimals: 2,
            qty_decimals: 8,
            members: members.to_vec(),
            stale_after_ns: 5_000_000_000,
            // basis_ema_shift = 3, cross_tolerance_bps = "2.0" (200 cbps)
            basis_ema_shift: 3,
            cross_tolerance_cbps: 200,
            pricing: PricingParams {
                sizes: sizes.to_vec(),
                base_cbps: 100,
                size_cbps_per_unit: 5,
            },
        }],
        book_capacity: 65_536,
        rfq: rfq_model::RfqConfig::default(),
    }
}

use rfq_engine::benchdata::{load, messages, quantile as q};

fn msg_type(r: &Record) -> usize {
    match r.kind {
        _ if r.flags & flags::SNAPSHOT != 0 => 3,
        kind::BOOK_LEVEL => 0,
        kind::TRADE => 1,
        _ => 2,
    }
}
const MSG_TYPES: [&str; 4] = ["depth", "trade", "bbo", "snapshot"];

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap()
}


fn hist_json(h: &Histogram<u64>) -> String {
    format!(
        "{{\"count\":{},\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{},\"mean\":{:.1}}}",
        h.len(),
        q(h, 0.5),
        q(h, 0.9),
        q(h, 0.99),
        q(h, 0.999),
        if h.is_empty() { 0 } else { h.max() },
        if h.is_empty() { 0.0 } else { h.mean() }
    )
}

/// Writes `h`'s recorded buckets as `[[value_ns, count], ...]` to `$RFQCORE_HGRM_DIR/<name>.counts.json`
/// when that variable is set (`make bench` sets it; `bench/run_all.py` turns each file into an
/// HdrHistogram `.hgrm` percentile distribution and a PNG plot). Off the measured path.
fn export_counts(name: &str, h: &Histogram<u64>) {
    let Some(dir) = std::env::var_os("RFQCORE_HGRM_DIR") else { return };
    let pairs: Vec<String> =
        h.iter_recorded().map(|v| format!("[{},{}]", v.value_iterated_to(), v.count_at_value())).collect();
    let path = std::path::Path::new(&dir).join(format!("{name}.counts.json"));
    if let Err(e) = std::fs::write(&path, format!("[{}]", pairs.join(","))) {
        eprintln!("engine_bench: cannot write {}: {e}", path.display());
    }
}

fn hist_line(h: &Histogram<u64>) -> String {
    format!(
        "p50 {} ns  p90 {} ns  p99 {} ns  p99.9 {} ns  max {} ns  ({} samples)",
        q(h, 0.5),
        q(h, 0.9),
        q(h, 0.99),
        q(h, 0.999),
        if h.is_empty() { 0 } else { h.max() },
        h.len()
    )
}

struct Inline {
    records: usize,
    messages: usize,
    runs_ns: Vec<f64>,
    quotes: u64,
    rejects: u64,
    by_type: Vec<Histogram<u64>>,
    /// QUOTE records emitted, by withdrawal reason (0 = quoting, 1 no market, 2 stale, 3 crossed, 4 too thin).
    quotes_by_reason: [u64; 5],
    /// Venue messages that changed the published ladder (emitted at least one QUOTE).
    quoting_messages: u64,
    /// Time per message, for the messages that changed the ladder only (the ones tick-to-quote
    /// samples): the core's share of tick-to-quote.
    quoting: Histogram<u64>,
}

/// `Core::process` over `msgs[skip..]` on one thread, no rings; `msgs[..skip]` are processed
/// first, untimed (a warm-up prefix).
fn inline_replay(
    recs: &[Record],
    msgs: &[(usize, usize)],
    skip: usize,
    runs: usize,
    cfg: &CoreConfig,
) -> Inline {
    let mut runs_ns = Vec::new();
    let mut quotes = 0;
    let mut rejects = 0;
    let mut out: Vec<Record> = Vec::with_capacity(1024);
    let first = if skip == 0 { 0 } else { msgs[skip - 1].1 };
    let last = msgs.last().map_or(0, |m| m.1);
    for _ in 0..runs {
        let mut core = new_core(cfg);
        for r in &recs[..first] {
            core.process(r, &mut out);
            out.clear();
        }
        let (q0, rj0) = (core.stats().quotes, core.stats().rejects);
        let t = Instant::now();
        for r in &recs[first..last] {
            core.process(r, &mut out);
            if r.flags & flags::END != 0 {
                out.clear();
            }
        }
        runs_ns.push(t.elapsed().as_nanos() as f64);
        black_box(core.state_hash());
        quotes = core.stats().quotes - q0;
        rejects = core.stats().rejects - rj0;
        if core.stats().rejects != 0 {
            eprintln!("rejects by reason: {:?}", core.stats().rejects_by_reason);
        }
    }
    let mut by_type: Vec<Histogram<u64>> = (0..MSG_TYPES.len()).map(|_| hist()).collect();
    let mut quotes_by_reason = [0u64; 5];
    let mut quoting_messages = 0;
    let mut quoting = hist();
    let mut core = new_core(cfg);
    for &(a, b) in &msgs[..skip] {
        for r in &recs[a..b] {
            core.process(r, &mut out);
        }
        out.clear();
    }
    for &(a, b) in &msgs[skip..] {
        let t = Instant::now();
        for r in &recs[a..b] {
            core.process(r, &mut out);
        }
        let ns = t.elapsed().as_nanos() as u64;
        by_type[msg_type(&recs[b - 1])].saturating_record(ns.max(1));
        let mut quoted = false;
        for o in out.iter().filter(|o| o.kind == kind::QUOTE) {
            quotes_by_reason[usize::from(o.side).min(4)] += 1;
            quoted = true;
        }
        quoting_messages += u64::from(quoted);
        if quoted {
            quoting.saturating_record(ns.max(1));
        }
        out.clear();
    }
    Inline {
        quoting,
        records: last - first,
        messages: msgs.len() - skip,
        runs_ns,
        quotes,
        rejects,
        by_type,
        quotes_by_reason,
        quoting_messages,
    }
}

struct Paced {
    rate: u64,
    messages: usize,
    warm: usize,
    achieved: f64,
    /// Harness reads the message's first QUOTE − intended send time.
    hist: Histogram<u64>,
    /// Harness reads the message's first QUOTE − actual push.
    from_send: Histogram<u64>,
    /// The runner's own histogram: intended send time → quotes published by the core thread.
    core_published: Histogram<u64>,
    quotes_seen: u64,
    rejects_seen: u64,
}

/// Fixed offered message rate through input ring → `Runner` thread → output ring. The first
/// `warm` messages are sent at the same rate but not measured.
fn paced_replay(
    recs: &[Record],
    msgs: &[(usize, usize)],
    rate: u64,
    n_msgs: usize,
    warm: usize,
    cfg: &CoreConfig,
) -> Paced {
    let n_msgs = n_msgs.min(msgs.len());
    let (mut tx, rx_in) = RingFile::anonymous(1 << 16).unwrap().split();
    let (out_tx, mut out_rx) = RingFile::anonymous(1 << 16).unwrap().split();
    let mut runner = Runner::new(new_core(cfg), out_tx);
    runner.add_input(rx_in);
    let handle = runner.spawn(IdleKind::Spin).unwrap();
    let period = 1e9 / rate as f64;
    let t0 = monotonic_ns() as f64 + 1e6;
    let mut last_trigger = i64::MIN;
    let mut h = hist();
    let mut hs = hist();
    let (mut quotes_seen, mut rejects_seen) = (0u64, 0u64);
    let mut poll = |h: &mut Histogram<u64>,
                    hs: &mut Histogram<u64>,
                    quotes_seen: &mut u64,
                    rejects_seen: &mut u64| {
        let chunk = out_rx.peek(4096);
        if chunk.is_empty() {
            return;
        }
        let now = monotonic_ns();
        for r in chunk.iter() {
            match r.kind {
                // One sample per triggering message: its first QUOTE (ts_send = intended send
                // time, ts_event = actual push).
                kind::QUOTE if r.ts_send != last_trigger => {
                    last_trigger = r.ts_send;
                    *quotes_seen += 1;
                    if r.ts_send > 0 {
                        h.saturating_record((now - r.ts_send).max(1) as u64);
                        hs.saturating_record((now - r.ts_event).max(1) as u64);
                    }
                }
                kind::REJECT => *rejects_seen += 1,
                _ => {}
            }
        }
        chunk.commit();
    };
    let mut sent = 0;
    while sent < n_msgs {
        let intended = (t0 + sent as f64 * period) as i64;
        if monotonic_ns() < intended {
            poll(&mut h, &mut hs, &mut quotes_seen, &mut rejects_seen);
            spin_loop();
            continue;
        }
        let (a, b) = msgs[sent];
        // Warm-up messages carry a negative ts_send so their quotes are not recorded (by the
        // harness nor by the runner), and distinct ones so each counts as its own trigger.
        let ts = if sent < warm {
            -1 - sent as i64
        } else {
            intended
        };
        let pushed = monotonic_ns();
        let mut i = a;
        while i < b {
            let mut claim = tx.claim_up_to(b - i);
            let k = claim.len();
            for j in 0..k {
                claim.write(
                    j,
                    Record {
                        ts_send: ts,
                        ts_event: pushed,
                        ..recs[i + j]
                    },
                );
            }
            claim.commit();
            i += k;
            if k == 0 {
                poll(&mut h, &mut hs, &mut quotes_seen, &mut rejects_seen);
            }
        }
        sent += 1;
    }
    let achieved = n_msgs as f64 / ((monotonic_ns() as f64 - t0) / 1e9);
    // Drain what is still in flight.
    let deadline = monotonic_ns() + 2_000_000_000;
    while !tx.is_drained() && monotonic_ns() < deadline {
        poll(&mut h, &mut hs, &mut quotes_seen, &mut rejects_seen);
    }
    let end = monotonic_ns() + 50_000_000;
    while monotonic_ns() < end {
        poll(&mut h, &mut hs, &mut quotes_seen, &mut rejects_seen);
    }
    let runner = handle.stop().expect("core thread panicked");
    Paced {
        rate,
        messages: n_msgs,
        warm,
        achieved,
        hist: h,
        from_send: hs,
        core_published: runner.tick_to_quote().clone(),
        quotes_seen,
        rejects_seen,
    }
}

struct Saturated {
    messages: usize,
    records: usize,
    secs: f64,
    quotes: u64,
}

/// The whole stream through input ring → `Runner` thread → output ring as fast as the input ring
/// takes it; the harness drains the output ring whenever the input ring is full.
fn saturated_replay(recs: &[Record], msgs: &[(usize, usize)], cfg: &CoreConfig) -> Saturated {
    let (mut tx, rx_in) = RingFile::anonymous(1 << 16).unwrap().split();
    let (out_tx, mut out_rx) = RingFile::anonymous(1 << 16).unwrap().split();
    let mut runner = Runner::new(new_core(cfg), out_tx);
    runner.add_input(rx_in);
    let handle = runner.spawn(IdleKind::Spin).unwrap();
    let mut quotes = 0u64;
    let mut poll = |quotes: &mut u64| {
        let chunk = out_rx.peek(4096);
        let k = chunk.len();
        *quotes += chunk.iter().filter(|r| r.kind == kind::QUOTE).count() as u64;
        chunk.commit();
        k
    };
    let records = msgs.last().map_or(0, |m| m.1);
    let t = Instant::now();
    let mut i = 0;
    while i < records {
        let mut claim = tx.claim_up_to((records - i).min(4096));
        let k = claim.len();
        for j in 0..k {
            claim.write(j, recs[i + j]);
        }
        claim.commit();
        i += k;
        if k == 0 {
            poll(&mut quotes);
            spin_loop();
        }
    }
    while !tx.is_drained() {
        if poll(&mut quotes) == 0 {
            spin_loop();
        }
    }
    let secs = t.elapsed().as_secs_f64();
    drop(handle.stop());
    while poll(&mut quotes) > 0 {}
    Saturated {
        messages: msgs.len(),
        records,
        secs,
        quotes,
    }
}

/// Scenarios with `walk` set build cores that walk every sweep (`Core::set_depth_search`):
/// the pricing before depth search, measured in the same run for the ratio.
static WALK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn new_core(cfg: &CoreConfig) -> Core {
    let mut core = Core::new(cfg.clone()).expect("valid config");
    core.set_depth_search(!WALK.load(std::sync::atomic::Ordering::Relaxed));
    core
}

/// What a scenario feeds the core.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    /// The merged real stream.
    Real,
    /// Synthetic floor: the real stream until the spot book is live and quoting (warm-up, not
    /// measured), then one-record messages that alternately shrink the spot best bid to one lot
    /// and restore it (at least 1 BTC), so that every message moves the 0.1 and 1 BTC bids.
    /// The least work a quote can cost: one level update, a sweep of a few levels, the rings.
    Touch,
}

struct Scenario {
    name: &'static str,
    members: &'static [u16],
    sizes: &'static [i64],
    input: Input,
    /// Walk every sweep instead of searching depth (see [`WALK`]).
    walk: bool,
    /// Every book's dense window, ticks per side (`Instrument::book_window`).
    window: u32,
}

/// `btc3` is what ships (`instruments.toml`); the others take one part of its cost away.
const SCENARIOS: [Scenario; 6] = [
    // The configured BTC composite: spot + USD-M + COIN-M, shipped ladder 0.1/1/10/100 BTC.
    Scenario {
        name: "btc3",
        members: &[1, 3, 5],
        sizes: SHIPPED,
        input: Input::Real,
        walk: false,
        window: rfq_model::DEFAULT_BOOK_WINDOW,
    },
    // The same, every sweep walking the merged levels (pricing before depth search).
    Scenario {
        name: "btc3_walk",
        members: &[1, 3, 5],
        sizes: SHIPPED,
        input: Input::Real,
        walk: true,
        window: rfq_model::DEFAULT_BOOK_WINDOW,
    },
    // The shipped composite and ladder with every book's dense window halved to 2^16 ticks a
    // side (half the memory): what sweeps and updates cost when more levels live in the overflow.
    Scenario {
        name: "btc3_w16",
        members: &[1, 3, 5],
        sizes: SHIPPED,
        input: Input::Real,
        walk: false,
        window: 1 << 16,
    },
    // Same composite, same real stream, ladder 0.1/1 BTC: no deep sweeps.
    Scenario {
        name: "btc3_shallow",
        members: &[1, 3, 5],
        sizes: SHALLOW,
        input: Input::Real,
        walk: false,
        window: rfq_model::DEFAULT_BOOK_WINDOW,
    },
    // Same records, composite of the spot book only (quotes change on most spot messages).
    Scenario {
        name: "spot1",
        members: &[1],
        sizes: SHIPPED,
        input: Input::Real,
        walk: false,
        window: rfq_model::DEFAULT_BOOK_WINDOW,
    },
    // Synthetic floor (see `Input::Touch`): spot-only composite, ladder 0.1/1 BTC.
    Scenario {
        name: "touch1",
        members: &[1],
        sizes: SHALLOW,
        input: Input::Touch,
        walk: false,
        window: rfq_model::DEFAULT_BOOK_WINDOW,
    },
];

/// Synthetic one-level messages after a real warm-up prefix (see [`Input::Touch`]). Returns the
/// records, their messages and the number of warm-up (real) messages.
fn touch_stream(
    recs: &[Record],
    msgs: &[(usize, usize)],
    cfg: &CoreConfig,
    n_synthetic: usize,
) -> (Vec<Record>, Vec<(usize, usize)>, usize) {
    let mut core = new_core(cfg);
    let mut out: Vec<Record> = Vec::new();
    let mut prefix = 0;
    // At least 1,000 real messages, and until the spot book is live and has a bid.
    for (n, &(a, b)) in msgs.iter().enumerate() {
        for r in &recs[a..b] {
            core.process(r, &mut out);
        }
        out.clear();
        prefix = n + 1;
        let live = core.status_code(1) == Some(0);
        if prefix >= 1000
            && live
            && core
                .instrument(1)
                .is_some_and(|s| s.book.best_bid().is_some())
        {
            break;
        }
    }
    let st = core.instrument(1).expect("spot instrument");
    let (bid, qty) = st.book.best_bid().expect("spot book has a bid");
    let template = recs[..msgs[prefix - 1].1]
        .iter()
        .rev()
        .find(|r| r.instrument == 1 && r.kind == kind::BOOK_LEVEL)
        .copied()
        .expect("a spot book record in the prefix");
    let one_btc = 10_i64.pow(st.spec.qty_decimals);
    let mut out_recs = recs[..msgs[prefix - 1].1].to_vec();
    let mut out_msgs = msgs[..prefix].to_vec();
    for k in 0..n_synthetic {
        let seq = st.last_seq + 1 + k as u64;
        let start = out_recs.len();
        out_recs.push(Record {
            kind: kind::BOOK_LEVEL,
            instrument: 1,
            side: 0,
            flags: flags::END,
            seq,
            price: bid,
            qty: if k % 2 == 0 {
                st.spec.lot
            } else {
                qty.max(one_btc)
            },
            ts_send: 0,
            ..template
        });
        out_msgs.push((start, start + 1));
    }
    (out_recs, out_msgs, prefix)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json_only = args.iter().any(|a| a == "--json");
    let say = |s: String| {
        if !json_only {
            println!("{s}");
        }
    };
    let recs = match load("btc_merged") {
        Ok(r) => r,
        Err(e) => {
            let msg = format!(
                "cached bench data missing ({e}); run `.venv/bin/python bench/bench_data.py` first"
            );
            say(format!("SKIP: {msg}"));
            println!("{{\"bench\":\"rfq_engine\",\"skipped\":{msg:?}}}");
            return;
        }
    };
    let msgs = messages(&recs);
    let runs = if quick { 1 } else { 5 };
    let paced_runs: [(u64, usize); 2] = [(10_000, 50_000), (100_000, 290_000)];
    say(format!(
        "rfq-engine bench: {} records / {} venue messages (Binance BTC spot + USD-M + COIN-M merged), load avg {}",
        recs.len(),
        msgs.len(),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    ));
    let mut scen_json = Vec::new();
    // `--only a,b`: just those scenarios
    let only: Option<Vec<String>> = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).map(|v| v.split(',').map(str::to_owned).collect());
    for sc in SCENARIOS.iter().filter(|sc| only.as_ref().is_none_or(|o| o.iter().any(|n| n == sc.name))) {
        let mut cfg = config(sc.members, sc.sizes);
        for i in &mut cfg.instruments {
            i.book_window = sc.window;
        }
        WALK.store(sc.walk, std::sync::atomic::Ordering::Relaxed);
        let (srecs, smsgs, prefix) = match sc.input {
            Input::Real => (recs.clone(), msgs.clone(), 0),
            Input::Touch => {
                let most = paced_runs.iter().map(|p| p.1).max().unwrap_or(0);
                touch_stream(&recs, &msgs, &cfg, most)
            }
        };
        let input = match sc.input {
            Input::Real => "real",
            Input::Touch => "synthetic_touch",
        };
        say(format!(
            "scenario {}: composite members {:?}, ladder {:?} (8 dp), input {input}{}",
            sc.name,
            sc.members,
            sc.sizes,
            if prefix > 0 {
                format!(" ({prefix} real warm-up messages, then 1-record messages)")
            } else {
                String::new()
            }
        ));
        // Inline: for the synthetic input only the synthetic messages are timed.
        let il = inline_replay(&srecs, &smsgs, prefix, runs, &cfg);
        let mut sorted = il.runs_ns.clone();
        sorted.sort_by(f64::total_cmp);
        let med = sorted[sorted.len() / 2];
        say(format!(
            "  inline Core::process: {:.1} ns/record, {:.0} ns/message median of {runs} runs ({:.1} M records/s); {} rejects",
            med / il.records as f64,
            med / il.messages as f64,
            il.records as f64 / med * 1e3,
            il.rejects
        ));
        say(format!(
            "  {} QUOTE records from {} of {} messages; by reason [quoting, no market, stale, crossed, too thin] = {:?}",
            il.quotes, il.quoting_messages, il.messages, il.quotes_by_reason
        ));
        for (name, h) in MSG_TYPES.iter().zip(&il.by_type) {
            say(format!(
                "    per {name:<8} message (first record -> END processed, quotes emitted): {}",
                hist_line(h)
            ));
        }
        say(format!(
            "    per message that changed the ladder (what tick-to-quote samples):  {}",
            hist_line(&il.quoting)
        ));
        if args.iter().any(|a| a == "--inline-only") {
            continue;
        }
        let sat = saturated_replay(&srecs, &smsgs, &cfg);
        say(format!(
            "  rings + Runner thread, saturated: {} msgs / {} records in {:.3} s = {:.0} msgs/s, {:.2} M records/s ({} QUOTE records)",
            sat.messages,
            sat.records,
            sat.secs,
            sat.messages as f64 / sat.secs,
            sat.records as f64 / sat.secs / 1e6,
            sat.quotes
        ));
        let mut paced = Vec::new();
        for (rate, n) in paced_runs {
            let n = if quick { n / 10 } else { n };
            let (n, warm) = if prefix > 0 {
                (n + prefix, prefix)
            } else {
                (n, n / 10)
            };
            let p = paced_replay(&srecs, &smsgs, rate, n, warm, &cfg);
            say(format!(
                "  rings + Runner thread, {:>7} msg/s offered ({:.0}/s achieved, {} msgs of which {} warm-up, {} quoting msgs seen, {} rejects):",
                p.rate, p.achieved, p.messages, p.warm, p.quotes_seen, p.rejects_seen,
            ));
            say(format!(
                "      tick-to-quote from intended send: {}",
                hist_line(&p.hist)
            ));
            say(format!(
                "      from actual push:                 {}",
                hist_line(&p.from_send)
            ));
            say(format!(
                "      core published (Runner's own):    {}",
                hist_line(&p.core_published)
            ));
            export_counts(&format!("tick_to_quote_{}_{}k", sc.name, p.rate / 1000), &p.hist);
            paced.push(p);
        }
        let types: Vec<String> = MSG_TYPES
            .iter()
            .zip(&il.by_type)
            .map(|(n, h)| format!("\"{n}\":{}", hist_json(h)))
            .collect();
        let pj: Vec<String> = paced
            .iter()
            .map(|p| {
                format!(
                    "{{\"offered_msg_rate\":{},\"achieved_msg_rate\":{:.0},\"messages\":{},\"warmup_messages\":{},\"quoting_msgs_seen\":{},\"rejects\":{},\"tick_to_quote\":{},\"tick_to_quote_from_send\":{},\"core_published\":{}}}",
                    p.rate,
                    p.achieved,
                    p.messages,
                    p.warm,
                    p.quotes_seen,
                    p.rejects_seen,
                    hist_json(&p.hist),
                    hist_json(&p.from_send),
                    hist_json(&p.core_published)
                )
            })
            .collect();
        let window = sc.window;
        scen_json.push(format!(
            "{{\"scenario\":\"{}\",\"members\":{:?},\"sizes\":{:?},\"input\":\"{input}\",\"book_window\":{window},\"warmup_prefix_messages\":{prefix},\"records\":{},\"messages\":{},\"runs\":{runs},\"ns_per_record_median\":{:.2},\"ns_per_message_median\":{:.1},\"quotes\":{},\"quoting_messages\":{},\"quotes_by_reason\":{:?},\"rejects\":{},\"per_message\":{{{}}},\"per_quoting_message\":{},\"saturated\":{{\"messages\":{},\"records\":{},\"s\":{:.4},\"msg_per_s\":{:.0},\"rec_per_s\":{:.0},\"quotes\":{}}},\"paced\":[{}]}}",
            sc.name,
            sc.members,
            sc.sizes,
            il.records,
            il.messages,
            med / il.records as f64,
            med / il.messages as f64,
            il.quotes,
            il.quoting_messages,
            il.quotes_by_reason,
            il.rejects,
            types.join(","),
            hist_json(&il.quoting),
            sat.messages,
            sat.records,
            sat.secs,
            sat.messages as f64 / sat.secs,
            sat.records as f64 / sat.secs,
            sat.quotes,
            pj.join(",")
        ));
    }
    println!(
        "{{\"bench\":\"rfq_engine\",\"quick\":{quick},\"scenarios\":[{}]}}",
        scen_json.join(",")
    );
}
