//! rfq-book benchmark: real Binance BTCUSDT depth diffs applied to an [`L2Book`], and VWAP on
//! the resulting book.
//!
//! ```text
//! .venv/bin/python bench/bench_data.py     # once: parses ../shared/data into /tmp/rfqcore-bench
//! CARGO_TARGET_DIR=/tmp/bench-target cargo run --release -p rfq-book --bin book_bench [-- --quick] [-- --json]
//! ```
//!
//! The book is built as the core builds its venue books: `L2Book::new(capacity, instrument tick,
//! DEFAULT_WINDOW)`.
//!
//! Input: the cached record files written by `bench/bench_data.py` (raw 64-byte ring records,
//! `docs/ring-layout.md`), directory `$RFQCORE_BENCH_CACHE` or `/tmp/rfqcore-bench`. Only the
//! `BOOK_LEVEL` records are used: the REST snapshot levels build the starting book (not
//! timed), then every diff level of the stream, in recorded order, is timed.
//!
//! Reported per stream: ns per update over the whole diff sequence (median and best of N runs,
//! each run starting from a fresh clone of the snapshot book), a histogram of the time per venue
//! message (one `Instant` pair per message, so it includes ~2 clock reads), and VWAP ns/call for
//! 1, 10 and 100 BTC on both sides of the final book. Prints a human report, then one JSON line
//! starting with `{"bench":"rfq_book"` for `bench/run_all.py` (`--json` prints only that line).
//! Exits 0 with a `"skipped"` JSON line when the cache is missing.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use hdrhistogram::Histogram;
use rfq_book::{L2Book, DEFAULT_WINDOW};
use rfq_model::Side;

const BOOK_LEVEL: u16 = 2;
const FLAG_END: u8 = 1;
const FLAG_SNAPSHOT: u8 = 2;
const CAPACITY: usize = 16_384;

#[derive(Clone, Copy)]
struct Delta {
    side: Side,
    price: i64,
    qty: i64,
}

struct StreamData {
    name: &'static str,
    qty_decimals: u32,
    /// Price tick in price units (the instrument's `tick`), as the core builds its books.
    tick: i64,
    snapshot: Vec<Delta>,
    diffs: Vec<Delta>,
    /// End index (exclusive) of each venue message in `diffs`.
    msg_ends: Vec<usize>,
}

fn cache_dir() -> PathBuf {
    std::env::var_os("RFQCORE_BENCH_CACHE")
        .map_or_else(|| PathBuf::from("/tmp/rfqcore-bench"), PathBuf::from)
}

fn le_u16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le_i64(b: &[u8], o: usize) -> i64 {
    i64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// Reads the BOOK_LEVEL records of one cached stream (record layout: docs/ring-layout.md).
fn load(name: &'static str, qty_decimals: u32, tick: i64) -> Result<StreamData, String> {
    let path = cache_dir().join(format!("{name}.rec"));
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 64 != 0 {
        return Err(format!(
            "{}: length {} is not a multiple of 64",
            path.display(),
            bytes.len()
        ));
    }
    let mut s = StreamData {
        name,
        qty_decimals,
        tick,
        snapshot: Vec::new(),
        diffs: Vec::new(),
        msg_ends: Vec::new(),
    };
    for r in bytes.chunks_exact(64) {
        if le_u16(r, 0) != BOOK_LEVEL {
            continue;
        }
        let side = match r[4] {
            0 => Side::Bid,
            1 => Side::Ask,
            x => return Err(format!("{name}: bad side {x}")),
        };
        let d = Delta {
            side,
            price: le_i64(r, 32),
            qty: le_i64(r, 40),
        };
        let fl = r[5];
        if fl & FLAG_SNAPSHOT != 0 {
            s.snapshot.push(d);
        } else {
            s.diffs.push(d);
            if fl & FLAG_END != 0 {
                s.msg_ends.push(s.diffs.len());
            }
        }
    }
    Ok(s)
}

fn apply_all(book: &mut L2Book, ds: &[Delta]) -> usize {
    let mut errors = 0;
    for d in ds {
        errors += usize::from(book.set(d.side, d.price, d.qty).is_err());
    }
    errors
}

struct StreamResult {
    name: &'static str,
    updates: usize,
    messages: usize,
    runs: Vec<f64>, // ns/update per run
    msg_hist: Histogram<u64>,
    final_levels: (usize, usize),
    vwap: Vec<(u8, i64, usize, f64)>, // (side, whole units, levels swept, ns/call)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}
fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn bench_stream(s: &StreamData, runs: usize) -> StreamResult {
    let mut base = L2Book::new(CAPACITY, s.tick, DEFAULT_WINDOW);
    assert_eq!(
        apply_all(&mut base, &s.snapshot),
        0,
        "{}: snapshot rejected",
        s.name
    );

    // Warm-up run (also the correctness check: no update may fail).
    let mut warm = base.clone();
    assert_eq!(
        apply_all(&mut warm, &s.diffs),
        0,
        "{}: a diff was rejected",
        s.name
    );

    let mut per_run = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut book = base.clone();
        let t = Instant::now();
        let errs = apply_all(&mut book, black_box(&s.diffs));
        let ns = t.elapsed().as_nanos() as f64;
        black_box(&book);
        assert_eq!(errs, 0);
        per_run.push(ns / s.diffs.len() as f64);
    }

    // Per venue message (includes the cost of two clock reads per message).
    let mut msg_hist = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    let mut book = base.clone();
    let mut start = 0;
    for &end in &s.msg_ends {
        let t = Instant::now();
        apply_all(&mut book, &s.diffs[start..end]);
        msg_hist.saturating_record(t.elapsed().as_nanos().max(1) as u64);
        start = end;
    }

    // VWAP on the final book: 1, 10, 100 whole units, both sides.
    let unit = 10_i64.pow(s.qty_decimals);
    let mut vwap = Vec::new();
    for side in [Side::Ask, Side::Bid] {
        for units in [1_i64, 10, 100] {
            let q = units * unit;
            let levels = {
                let mut left = q;
                let mut n = 0;
                for (_, lq) in book.ladder(side).iter() {
                    n += 1;
                    left -= lq.min(left);
                    if left == 0 {
                        break;
                    }
                }
                n
            };
            let iters = 200_000 / (units as usize).max(1) + 20_000;
            let mut acc = 0_i64;
            let t = Instant::now();
            for _ in 0..iters {
                acc = acc.wrapping_add(black_box(&book).vwap(side, black_box(q)).unwrap_or(0));
            }
            let ns = t.elapsed().as_nanos() as f64 / iters as f64;
            black_box(acc);
            vwap.push((side as u8, units, levels, ns));
        }
    }
    StreamResult {
        name: s.name,
        updates: s.diffs.len(),
        messages: s.msg_ends.len(),
        runs: per_run,
        msg_hist,
        final_levels: (book.bids.len(), book.asks.len()),
        vwap,
    }
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
    let runs = if quick { 5 } else { 30 };

    let mut streams = Vec::new();
    // (stream, qty decimals, tick in price units) as in src/rfqcore/defaults/instruments.toml
    for (name, qd, tick) in [("spot_btcusdt", 6, 1), ("usdm_btcusdt", 3, 10)] {
        match load(name, qd, tick) {
            Ok(s) => streams.push(s),
            Err(e) => {
                let msg = format!("cached bench data missing ({e}); run `.venv/bin/python bench/bench_data.py` first");
                say(format!("SKIP: {msg}"));
                println!("{{\"bench\":\"rfq_book\",\"skipped\":{:?}}}", msg);
                return;
            }
        }
    }
    say(format!(
        "rfq-book bench: L2Book capacity {CAPACITY}/side, instrument tick, window {DEFAULT_WINDOW} ticks, {runs} runs per stream, load avg {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let mut results = Vec::new();
    for s in &streams {
        let r = bench_stream(s, runs);
        let h = &r.msg_hist;
        say(format!(
            "  {:<14} {} diff updates in {} messages (snapshot {} levels; final book {} bids / {} asks)",
            r.name,
            r.updates,
            r.messages,
            s.snapshot.len(),
            r.final_levels.0,
            r.final_levels.1
        ));
        say(format!(
            "    update: {:.2} ns/update median, {:.2} best  ({:.1} M updates/s median)",
            median(&r.runs),
            best(&r.runs),
            1e3 / median(&r.runs)
        ));
        say(format!(
            "    per message ({:.1} levels avg): p50 {} ns  p99 {} ns  p99.9 {} ns  max {} ns",
            r.updates as f64 / r.messages as f64,
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        ));
        for &(side, units, levels, ns) in &r.vwap {
            say(format!(
                "    vwap {:>3} BTC from {}: {:>3} levels  {:>8.1} ns/call",
                units,
                if side == 1 { "asks" } else { "bids" },
                levels,
                ns
            ));
        }
        results.push(r);
    }
    let js: Vec<String> = results
        .iter()
        .map(|r| {
            let h = &r.msg_hist;
            let vw: Vec<String> = r
                .vwap
                .iter()
                .map(|&(side, units, levels, ns)| {
                    format!("{{\"side\":{side},\"units\":{units},\"levels\":{levels},\"ns_per_call\":{ns:.2}}}")
                })
                .collect();
            format!(
                "{{\"stream\":\"{}\",\"updates\":{},\"messages\":{},\"runs\":{},\"ns_per_update_median\":{:.3},\"ns_per_update_best\":{:.3},\"msg_p50_ns\":{},\"msg_p99_ns\":{},\"msg_p999_ns\":{},\"msg_max_ns\":{},\"final_bids\":{},\"final_asks\":{},\"vwap\":[{}]}}",
                r.name,
                r.updates,
                r.messages,
                r.runs.len(),
                median(&r.runs),
                best(&r.runs),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
                r.final_levels.0,
                r.final_levels.1,
                vw.join(",")
            )
        })
        .collect();
    println!(
        "{{\"bench\":\"rfq_book\",\"quick\":{quick},\"streams\":[{}]}}",
        js.join(",")
    );
}
