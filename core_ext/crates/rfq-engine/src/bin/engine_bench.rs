//! rfq-engine benchmark: the core replaying the real Binance BTC streams (spot, USD-M, COIN-M
//! merged by receive time) and pricing the BTC composite.
//!
//! ```text
//! .venv/bin/python bench/bench_data.py     # once: parses ../shared/data into /tmp/rfqcore-bench
//! CARGO_TARGET_DIR=/tmp/bench-target cargo run --release -p rfq-engine --features bench --bin engine_bench [-- --quick] [-- --json]
//! ```
//!
//! 1. **Inline replay** (`Core::process`, one thread, no rings): ns per input record and per
//!    venue message, and a histogram of the time from a message's first record to its END record
//!    processed (book updated, composite repriced, quote ladder emitted): the core's share of
//!    tick-to-quote, by message type. Every record must be accepted (0 rejects).
//! 2. **Rust tick-to-quote through rings** (`Runner` on its own busy-spinning core thread, input
//!    ring → core → output ring): one harness thread offers whole venue messages at a FIXED rate
//!    and polls the output ring between sends. Each message's records carry its *intended* send
//!    time in `ts_send`, which the core copies onto the quotes it causes; latency = time the
//!    harness reads the last ladder level's QUOTE − intended send time (coordinated-omission
//!    correct: a late send counts against us). Two threads on two cores, no Python.
//!
//! The instrument/composite configuration mirrors `src/rfqcore/defaults/instruments.toml` (ids 1,
//! 3, 5; composite BTC). Prints a human report, then one JSON line `{"bench":"rfq_engine",...}`.

use std::hint::{black_box, spin_loop};
use std::path::PathBuf;
use std::time::Instant;

use hdrhistogram::Histogram;
use rfq_engine::{Core, CoreConfig, Runner};
use rfq_model::{CompositeSpec, Instrument, InstrumentKind, PricingParams};
use rfq_ring::record::{flags, kind};
use rfq_ring::{IdleKind, Record, RingFile};

const SIZES: [i64; 4] = [10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000]; // 0.1, 1, 10, 100 BTC at 8 dp

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
        max_qty,
    }
}

/// The BTC part of `src/rfqcore/defaults/instruments.toml`; with `members` overriding the
/// composite's members (the default is all three venues).
fn config(members: &[u16]) -> CoreConfig {
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
                sizes: SIZES.to_vec(),
                base_cbps: 100,
                size_cbps_per_unit: 5,
            },
        }],
        book_capacity: 65_536,
    }
}

fn cache_dir() -> PathBuf {
    std::env::var_os("RFQCORE_BENCH_CACHE")
        .map_or_else(|| PathBuf::from("/tmp/rfqcore-bench"), PathBuf::from)
}

/// Reads raw 64-byte records (docs/ring-layout.md), field by field, little-endian.
fn load(name: &str) -> Result<Vec<Record>, String> {
    let path = cache_dir().join(format!("{name}.rec"));
    let b = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if b.len() % 64 != 0 {
        return Err(format!(
            "{}: length {} is not a multiple of 64",
            path.display(),
            b.len()
        ));
    }
    let u16_at = |r: &[u8], o: usize| u16::from_le_bytes([r[o], r[o + 1]]);
    let u64_at = |r: &[u8], o: usize| u64::from_le_bytes(r[o..o + 8].try_into().unwrap());
    let i64_at = |r: &[u8], o: usize| i64::from_le_bytes(r[o..o + 8].try_into().unwrap());
    Ok(b.chunks_exact(64)
        .map(|r| Record {
            kind: u16_at(r, 0),
            instrument: u16_at(r, 2),
            side: r[4],
            flags: r[5],
            source: u16_at(r, 6),
            seq: u64_at(r, 8),
            ts_event: i64_at(r, 16),
            ts_recv: i64_at(r, 24),
            price: i64_at(r, 32),
            qty: i64_at(r, 40),
            aux: i64_at(r, 48),
            ts_send: i64_at(r, 56),
        })
        .collect())
}

/// `(start, end)` record ranges of the venue messages (each ends with an END record).
fn messages(recs: &[Record]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, r) in recs.iter().enumerate() {
        if r.flags & flags::END != 0 {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    out
}

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

fn q(h: &Histogram<u64>, x: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(x)
    }
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
}

fn inline_replay(recs: &[Record], msgs: &[(usize, usize)], runs: usize, members: &[u16]) -> Inline {
    let mut runs_ns = Vec::new();
    let mut quotes = 0;
    let mut rejects = 0;
    let mut out: Vec<Record> = Vec::with_capacity(1024);
    for _ in 0..runs {
        let mut core = Core::new(config(members)).expect("valid config");
        let t = Instant::now();
        for r in recs {
            core.process(r, &mut out);
            if r.flags & flags::END != 0 {
                out.clear();
            }
        }
        runs_ns.push(t.elapsed().as_nanos() as f64);
        black_box(core.state_hash());
        quotes = core.stats().quotes;
        rejects = core.stats().rejects;
        if rejects != 0 {
            eprintln!("rejects by reason: {:?}", core.stats().rejects_by_reason);
        }
    }
    let mut by_type: Vec<Histogram<u64>> = (0..MSG_TYPES.len()).map(|_| hist()).collect();
    let mut quotes_by_reason = [0u64; 5];
    let mut quoting_messages = 0;
    let mut core = Core::new(config(members)).expect("valid config");
    for &(a, b) in msgs {
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
        out.clear();
    }
    Inline {
        records: recs.len(),
        messages: msgs.len(),
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
    achieved: f64,
    hist: Histogram<u64>,
    quotes_seen: u64,
    rejects_seen: u64,
}

/// Fixed offered message rate through input ring → `Runner` thread → output ring.
fn paced_replay(
    recs: &[Record],
    msgs: &[(usize, usize)],
    rate: u64,
    n_msgs: usize,
    members: &[u16],
) -> Paced {
    let n_msgs = n_msgs.min(msgs.len());
    let (mut tx, rx_in) = RingFile::anonymous(1 << 16).unwrap().split();
    let (out_tx, mut out_rx) = RingFile::anonymous(1 << 16).unwrap().split();
    let mut runner = Runner::new(Core::new(config(members)).unwrap(), out_tx);
    runner.add_input(rx_in);
    let handle = runner.spawn(IdleKind::Spin).unwrap();
    let epoch = Instant::now();
    let now_ns = || epoch.elapsed().as_nanos() as i64;
    let period = 1e9 / rate as f64;
    let t0 = now_ns() as f64 + 1e6;
    let warm = n_msgs / 10;
    let mut last_trigger = i64::MIN;
    let mut h = hist();
    let (mut quotes_seen, mut rejects_seen) = (0u64, 0u64);
    let mut poll = |h: &mut Histogram<u64>, quotes_seen: &mut u64, rejects_seen: &mut u64| {
        let chunk = out_rx.peek(4096);
        if chunk.is_empty() {
            return;
        }
        let now = now_ns();
        for r in chunk.iter() {
            match r.kind {
                // One sample per triggering message: its first QUOTE (ts_send = intended send time).
                kind::QUOTE if r.ts_send != last_trigger => {
                    last_trigger = r.ts_send;
                    *quotes_seen += 1;
                    if r.ts_send > 0 {
                        h.saturating_record((now - r.ts_send).max(1) as u64);
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
        if now_ns() < intended {
            poll(&mut h, &mut quotes_seen, &mut rejects_seen);
            spin_loop();
            continue;
        }
        let (a, b) = msgs[sent];
        // Warm-up messages carry a negative ts_send so their quotes are not recorded.
        let ts = if sent < warm { -1 } else { intended };
        let mut i = a;
        while i < b {
            let mut claim = tx.claim_up_to(b - i);
            let k = claim.len();
            for j in 0..k {
                claim.write(
                    j,
                    Record {
                        ts_send: ts,
                        ..recs[i + j]
                    },
                );
            }
            claim.commit();
            i += k;
            if k == 0 {
                poll(&mut h, &mut quotes_seen, &mut rejects_seen);
            }
        }
        sent += 1;
    }
    let achieved = n_msgs as f64 / ((now_ns() as f64 - t0) / 1e9);
    // Drain what is still in flight.
    let deadline = now_ns() + 2_000_000_000;
    while !tx.is_drained() && now_ns() < deadline {
        poll(&mut h, &mut quotes_seen, &mut rejects_seen);
    }
    let end = now_ns() + 50_000_000;
    while now_ns() < end {
        poll(&mut h, &mut quotes_seen, &mut rejects_seen);
    }
    drop(handle.stop());
    Paced {
        rate,
        messages: n_msgs,
        achieved,
        hist: h,
        quotes_seen,
        rejects_seen,
    }
}

const SCENARIOS: [(&str, &[u16]); 2] = [
    // The configured BTC composite: spot + USD-M + COIN-M.
    ("btc3", &[1, 3, 5]),
    // Same records, composite of the spot book only (quotes change on most spot messages).
    ("spot1", &[1]),
];

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
    say(format!(
        "rfq-engine bench: {} records / {} venue messages (Binance BTC spot + USD-M + COIN-M merged), load avg {}",
        recs.len(),
        msgs.len(),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    ));
    let mut scen_json = Vec::new();
    for (scenario, members) in SCENARIOS {
        say(format!(
            "scenario {scenario}: composite members {members:?}"
        ));
        let il = inline_replay(&recs, &msgs, runs, members);
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
        let mut paced = Vec::new();
        for (rate, n) in [(10_000u64, 50_000usize), (100_000, 290_000)] {
            let n = if quick { n / 10 } else { n };
            let p = paced_replay(&recs, &msgs, rate, n, members);
            say(format!(
                "  rings + Runner thread, {:>7} msg/s offered ({:.0}/s achieved, {} msgs, {} quoting msgs seen, {} rejects): tick-to-quote from intended send: {}",
                p.rate,
                p.achieved,
                p.messages,
                p.quotes_seen,
                p.rejects_seen,
                hist_line(&p.hist)
            ));
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
                    "{{\"offered_msg_rate\":{},\"achieved_msg_rate\":{:.0},\"messages\":{},\"quoting_msgs_seen\":{},\"rejects\":{},\"tick_to_quote\":{}}}",
                    p.rate,
                    p.achieved,
                    p.messages,
                    p.quotes_seen,
                    p.rejects_seen,
                    hist_json(&p.hist)
                )
            })
            .collect();
        scen_json.push(format!(
            "{{\"scenario\":\"{scenario}\",\"members\":{members:?},\"records\":{},\"messages\":{},\"runs\":{runs},\"ns_per_record_median\":{:.2},\"ns_per_message_median\":{:.1},\"quotes\":{},\"quoting_messages\":{},\"quotes_by_reason\":{:?},\"rejects\":{},\"per_message\":{{{}}},\"paced\":[{}]}}",
            il.records,
            il.messages,
            med / il.records as f64,
            med / il.messages as f64,
            il.quotes,
            il.quoting_messages,
            il.quotes_by_reason,
            il.rejects,
            types.join(","),
            pj.join(",")
        ));
    }
    println!(
        "{{\"bench\":\"rfq_engine\",\"quick\":{quick},\"scenarios\":[{}]}}",
        scen_json.join(",")
    );
}
