//! rfq-engine benchmark: 20 instruments × 5 venues live at once — memory and per-message time.
//!
//! ```text
//! .venv/bin/python bench/bench_data.py     # once: parses ../shared/data into /tmp/rfqcore-bench
//! cargo run --release -p rfq-engine --features bench --bin scale_bench [-- --quick] [-- --capacity LEVELS] [-- --window TICKS]
//! ```
//!
//! One [`Core`] with 100 venue books: 20 underlyings, each with 5 venues of different styles —
//! spot (2 dp price, 6 dp qty), linear (2 dp, 3 dp, tick 10), inverse (1 dp, contracts of 100),
//! spot at finer scales (3 dp, 8 dp, tick 10) and inverse at other scales (2 dp, tick 10,
//! contracts of 10) — and 20 composites of 5 members each (3 dp price, 8 dp qty, the shipped
//! ladder 0.1 / 1 / 10 / 100), plus an RFQ desk (one client, risk and pricing v2 per composite,
//! the bench quote table) as the runner would have it (prefaulted).
//!
//! Every book is the real Binance BTC book shape: the venue's REST snapshot (1,000 levels per
//! side) then its diff stream, from the cached records of `bench/bench_data.py` (spot feeds the
//! two spot styles, USD-M the linear one, COIN-M the two inverse ones). Underlying `u` is the
//! same shape shifted by `7u` ticks and with quantities × (1 + u mod 4); all 20 replay in
//! lockstep, interleaved message by message in the recorded receive order of the three venues
//! (so 100 books take turns), on a synthetic clock (1 µs per message: nothing goes stale).
//! Book records only (no trades, no BBO): the book is what costs memory.
//!
//! Reports RSS (`VmRSS`, and the high-water mark `VmHWM`, of `/proc/self/status`) at start,
//! with the input loaded, after building the core, with every book live (snapshots applied)
//! and after the stream; the core's time per venue message (first record to END processed:
//! book updated, composite repriced, ladder emitted; HdrHistogram); the level counts; and an
//! account of where the memory goes, computed from the sizes of each book's arrays (allocated)
//! and from the pages its levels occupy now (a lower bound of what is resident: a page of the
//! window stays resident once a level has been written to it, and reserved-but-never-written
//! capacity is not resident at all). Then the 100 books alone (`rfq_book::L2Book`, no core)
//! with the default dense window and two smaller ones, each in a child process of its own
//! (`--books-only WINDOW`): their RSS and time per message, the measured case for a smaller
//! window. `--window TICKS` configures every book of the core with that dense window
//! (`Instrument::book_window`; default the default window). Prints a human report, then one JSON line `{"bench":"rfq_scale",...}`.

use std::collections::BTreeSet;

use hdrhistogram::Histogram;
use rfq_book::composite::{Conversion, QtyConversion};
use rfq_book::{L2Book, Ladder, DEFAULT_WINDOW};
use rfq_engine::benchdata;
use rfq_engine::{Core, CoreConfig};
use rfq_model::{Instrument, InstrumentKind, Side};
use rfq_ring::clock::monotonic_ns;
use rfq_ring::record::kind;
use rfq_ring::Record;

const UNDERLYINGS: u16 = 20;
const VENUES: u16 = 5;
const PAGE: usize = 4096;
/// The shipped quote ladder (0.1, 1, 10, 100 at 8 dp).
const SIZES: &[i64] = &[10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000];

/// A venue style: the source stream, instrument scales, and how a source record maps to it.
struct Style {
    name: &'static str,
    /// Index into [`STREAMS`].
    stream: usize,
    kind: InstrumentKind,
    pd: u32,
    qd: u32,
    tick: i64,
    cs: i64,
    /// price × px_mult, qty × qty_mult (on top of the per-underlying shift and factor).
    px_mult: i64,
    qty_mult: i64,
}

/// The cached streams of `bench/bench_data.py` and their ticks (source units).
const STREAMS: [(&str, i64); 3] = [("spot_btcusdt", 1), ("usdm_btcusdt", 10), ("coinm_btcusd_perp", 1)];

const STYLES: [Style; VENUES as usize] = [
    Style { name: "spot 2dp/6dp", stream: 0, kind: InstrumentKind::Spot, pd: 2, qd: 6, tick: 1, cs: 0, px_mult: 1, qty_mult: 1 },
    Style { name: "linear 2dp/3dp t10", stream: 1, kind: InstrumentKind::Linear, pd: 2, qd: 3, tick: 10, cs: 0, px_mult: 1, qty_mult: 1 },
    Style { name: "inverse 1dp cs100", stream: 2, kind: InstrumentKind::Inverse, pd: 1, qd: 0, tick: 1, cs: 100, px_mult: 1, qty_mult: 1 },
    Style { name: "spot 3dp/8dp t10", stream: 0, kind: InstrumentKind::Spot, pd: 3, qd: 8, tick: 10, cs: 0, px_mult: 10, qty_mult: 100 },
    Style { name: "inverse 2dp t10 cs10", stream: 2, kind: InstrumentKind::Inverse, pd: 2, qd: 0, tick: 10, cs: 10, px_mult: 10, qty_mult: 10 },
];

/// One book record of a source stream, compacted (the input is the bench's memory, not the core's).
#[derive(Clone, Copy)]
struct Lvl {
    price: i64,
    qty: i64,
    seq: u64,
    kind: u16,
    side: u8,
    flags: u8,
}

/// A source stream's book messages: records and `(start, end)` ranges; the first message is the
/// snapshot.
struct Stream {
    recs: Vec<Lvl>,
    msgs: Vec<(usize, usize)>,
    /// Receive time of each message (for the merged order).
    ts: Vec<i64>,
}

fn load_stream(name: &str, max_msgs: usize) -> Result<Stream, String> {
    // Read record by record into vectors reserved once and never freed: freeing a large input
    // buffer first (as `benchdata::load` does) raises glibc's dynamic mmap threshold to its
    // size, and the core's 1 MiB window arrays then come from the heap (zeroed by memset:
    // resident at once) instead of fresh mmap pages (resident only once written).
    use std::io::Read;
    let path = benchdata::cache_dir().join(format!("{name}.rec"));
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let n = file.metadata().map_err(|e| format!("{}: {e}", path.display()))?.len() as usize / 64;
    let mut rd = std::io::BufReader::with_capacity(1 << 16, file);
    let mut s = Stream { recs: Vec::with_capacity(n), msgs: Vec::with_capacity(n / 4), ts: Vec::with_capacity(n / 4) };
    let mut buf = [0u8; 64];
    let (mut start, mut first_ts, mut book) = (0usize, 0i64, false);
    let u16_at = |r: &[u8], o: usize| u16::from_le_bytes([r[o], r[o + 1]]);
    let i64_at = |r: &[u8], o: usize| i64::from_le_bytes(r[o..o + 8].try_into().unwrap());
    while s.msgs.len() <= max_msgs && rd.read_exact(&mut buf).is_ok() {
        let (k, fl) = (u16_at(&buf, 0), buf[5]);
        if start == s.recs.len() && !book {
            book = matches!(k, kind::BOOK_CLEAR | kind::BOOK_LEVEL | kind::BOOK_STALE);
            first_ts = i64_at(&buf, 24);
        }
        if book {
            s.recs.push(Lvl { price: i64_at(&buf, 32), qty: i64_at(&buf, 40), seq: i64_at(&buf, 8) as u64, kind: k, side: buf[4], flags: fl });
        }
        if fl & rfq_ring::record::flags::END != 0 {
            if book {
                s.msgs.push((start, s.recs.len()));
                s.ts.push(first_ts);
            }
            start = s.recs.len();
            book = false;
        }
    }
    if s.msgs.first().is_none_or(|&(a, _)| s.recs[a].kind != kind::BOOK_CLEAR) {
        return Err(format!("{name}: the stream does not start with a snapshot; re-run bench/bench_data.py"));
    }
    Ok(s)
}

/// `(VmRSS, VmHWM)` in KiB.
fn rss() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        s.lines().find(|l| l.starts_with(k)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn instrument_id(u: u16, v: u16) -> u16 {
    u * VENUES + v + 1
}

fn config(capacity: usize, window: u32) -> CoreConfig {
    let mut instruments = Vec::new();
    let mut composites = Vec::new();
    for u in 0..UNDERLYINGS {
        for (v, st) in STYLES.iter().enumerate() {
            instruments.push(Instrument {
                id: instrument_id(u, v as u16),
                symbol: format!("U{u:02}"),
                venue: format!("venue{v}"),
                kind: st.kind,
                price_decimals: st.pd,
                qty_decimals: st.qd,
                tick: st.tick,
                lot: 1,
                contract_size: st.cs,
                book_window: window,
                max_qty: 1 << 60,
            });
        }
        let members = (0..VENUES).map(|v| instrument_id(u, v)).collect();
        composites.push(benchdata::composite(u + 1, &format!("U{u:02}"), 3, members, SIZES.to_vec()));
    }
    // the desk of benchdata::config (limits that never bind), for every composite
    let ids: Vec<u16> = (1..=UNDERLYINGS).collect();
    CoreConfig { instruments, composites, book_capacity: capacity, rfq: benchdata::desk(&ids) }
}

/// Source record → the record of underlying `u`'s venue of style `st`.
fn map(l: &Lvl, u: u16, v: u16, st: &Style, src_tick: i64, t: i64) -> Record {
    let shifted = if l.kind == kind::BOOK_LEVEL { l.price + i64::from(u) * 7 * src_tick } else { 0 };
    Record {
        kind: l.kind,
        instrument: instrument_id(u, v),
        side: l.side,
        flags: l.flags,
        seq: l.seq,
        ts_recv: t,
        price: shifted * st.px_mult,
        qty: l.qty * st.qty_mult * (1 + i64::from(u % 4)),
        ..Record::ZERO
    }
}

/// Allocated and (lower-bound) resident bytes of one ladder, from its sizes and its levels now.
#[derive(Default, Clone, Copy)]
struct LadderBytes {
    window: usize,
    index: usize,
    fenwick: usize,
    reserve: usize,
    /// Pages of the window arrays that hold a level now.
    window_resident: usize,
    /// Overflow levels now (× 16 B resident).
    far: usize,
    dense: usize,
}

/// Levels of `l` that a window of `w` ticks (placed as this one is: its front `w/4` ticks
/// ahead of the best level) would hold in the overflow now.
fn behind_window(l: &Ladder, w: i64) -> usize {
    let Some((best, _)) = l.best() else { return 0 };
    let best = l.tick_index(best).unwrap_or(0);
    l.iter().filter(|&(p, _)| l.tick_index(p).is_some_and(|i| i < best - 3 * w / 4)).count()
}

/// Bytes of one Fenwick tree node.
const AGG: usize = std::mem::size_of::<rfq_book::fenwick::Agg>();

fn fenwick_bytes(words: usize, elem: usize) -> usize {
    (words.max(1).next_power_of_two() + 1) * elem
}

fn ladder_bytes(l: &Ladder) -> LadderBytes {
    let w = l.window().max(4096).div_ceil(4096) * 4096;
    let words = w / 64;
    let inverse = l.inverse_num().is_some();
    let arrays = if inverse { 2 } else { 1 };
    let mut b = LadderBytes {
        window: arrays * w * 8,
        index: words * 8 + (w / 4096) * 8,
        // one tree of (Σ qty, Σ index × qty) nodes, and one more of converted units for inverse
        fenwick: fenwick_bytes(words, AGG) + fenwick_bytes(if inverse { words } else { 1 }, AGG),
        reserve: 2 * l.capacity() * 16,
        ..LadderBytes::default()
    };
    let mut pages = BTreeSet::new();
    if let Some(base) = l.window_base() {
        for (price, _) in l.iter() {
            let idx = l.tick_index(price).unwrap_or(base);
            if idx < base {
                b.far += 1;
            } else {
                b.dense += 1;
                pages.insert((idx - base) as usize * 8 / PAGE);
            }
        }
    }
    b.window_resident = pages.len() * PAGE * arrays;
    b
}

fn arg<'a>(args: &'a [String], k: &str) -> Option<&'a str> {
    args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// The 100 books alone (`rfq_book::L2Book`, no core) with a dense window of `window` ticks,
/// fed the same records: RSS and time per venue message. Run in a child process per window
/// (see `main`), so that no freed allocation of another run changes what is resident.
fn books_only(streams: &[Stream], order: &[(i64, usize, usize)], capacity: usize, window: usize, rss_input: (u64, u64)) {
    let cfg = config(capacity, rfq_model::DEFAULT_BOOK_WINDOW);
    let mut books: Vec<L2Book> = cfg
        .instruments
        .iter()
        .map(|inst| {
            let mut b = L2Book::new(capacity, inst.tick, window);
            if let Some(Conversion { qty: QtyConversion::Inverse(num), .. }) = Conversion::new(inst, 3, 8) {
                b.bids.set_inverse(num);
                b.asks.set_inverse(num);
            }
            b
        })
        .collect();
    let rss_built = rss();
    let mut errors = 0u64;
    let mut apply = |b: &mut L2Book, l: &Lvl, u: u16, st: &Style, src_tick: i64| {
        let r = map(l, u, 0, st, src_tick, 0);
        match l.kind {
            kind::BOOK_CLEAR => b.clear(),
            kind::BOOK_LEVEL => {
                let side = if l.side == 0 { Side::Bid } else { Side::Ask };
                errors += u64::from(b.set(side, r.price, r.qty).is_err());
            }
            _ => {}
        }
    };
    for u in 0..UNDERLYINGS {
        for (si, s) in streams.iter().enumerate() {
            let (a, e) = s.msgs[0];
            for (v, st) in STYLES.iter().enumerate().filter(|(_, st)| st.stream == si) {
                let b = &mut books[usize::from(instrument_id(u, v as u16)) - 1];
                for l in &s.recs[a..e] {
                    apply(b, l, u, st, STREAMS[si].1);
                }
            }
        }
    }
    let rss_live = rss();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    for &(_, si, m) in order {
        let s = &streams[si];
        let (a, e) = s.msgs[m];
        for u in 0..UNDERLYINGS {
            for (v, st) in STYLES.iter().enumerate().filter(|(_, st)| st.stream == si) {
                let b = &mut books[usize::from(instrument_id(u, v as u16)) - 1];
                let t0 = monotonic_ns();
                for l in &s.recs[a..e] {
                    apply(b, l, u, st, STREAMS[si].1);
                }
                hist.saturating_record((monotonic_ns() - t0).max(1) as u64);
            }
        }
    }
    let rss_end = rss();
    let far: usize = books
        .iter()
        .flat_map(|b| [&b.bids, &b.asks])
        .map(|l| l.window_base().map_or(0, |base| l.iter().filter(|&(p, _)| l.tick_index(p).is_some_and(|i| i < base)).count()))
        .sum();
    let levels: usize = books.iter().map(L2Book::len).sum();
    println!(
        "{{\"bench\":\"rfq_scale_books\",\"window\":{window},\"rss_kib\":{{\"input\":{},\"built\":{},\"live\":{},\"end\":{}}},\"levels\":{levels},\"far_levels\":{far},\"errors\":{errors},\"per_message\":{{\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{},\"count\":{}}}}}",
        rss_input.0, rss_built.0, rss_live.0, rss_end.0,
        benchdata::quantile(&hist, 0.5), benchdata::quantile(&hist, 0.99), benchdata::quantile(&hist, 0.999), hist.max(), hist.len()
    );
}

/// `key":N` of a flat JSON line.
fn json_num(line: &str, key: &str) -> u64 {
    let k = format!("\"{key}\":");
    line.find(&k).and_then(|i| line[i + k.len()..].split(|c: char| !c.is_ascii_digit()).next()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let capacity: usize = arg(&args, "--capacity").map_or(65_536, |v| v.parse().expect("--capacity: a number of levels per side"));
    let window: u32 = arg(&args, "--window").map_or(rfq_model::DEFAULT_BOOK_WINDOW, |v| v.parse().expect("--window: ticks per side, a power of two"));
    let max_msgs = if quick { 400 } else { usize::MAX };

    let rss_start = rss();
    let mut streams = Vec::new();
    for (name, _) in STREAMS {
        match load_stream(name, max_msgs) {
            Ok(s) => streams.push(s),
            Err(e) => {
                eprintln!("scale_bench: {e}\n(run `.venv/bin/python bench/bench_data.py` first: it prepares the cached streams from ../shared/data)");
                std::process::exit(2);
            }
        }
    }
    // the diff messages of the three streams in recorded receive order: (stream, message)
    let mut order: Vec<(i64, usize, usize)> = Vec::with_capacity(streams.iter().map(|s| s.msgs.len()).sum());
    for (si, s) in streams.iter().enumerate() {
        order.extend((1..s.msgs.len()).map(|m| (s.ts[m], si, m)));
    }
    order.sort_unstable_by_key(|&(t, si, m)| (t, si, m)); // in place: no buffer freed before the core is built

    let rss_input = rss();
    if let Some(w) = arg(&args, "--books-only") {
        books_only(&streams, &order, capacity, w.parse().expect("--books-only: a window in ticks"), rss_input);
        return;
    }

    let cfg = config(capacity, window);
    let mut core = Core::new(cfg).unwrap_or_else(|e| {
        eprintln!("scale_bench: {e}");
        std::process::exit(2)
    });
    let rss_new = rss();
    core.prefault();
    let rss_built = rss();

    let mut out: Vec<Record> = Vec::with_capacity(4096);
    let mut t: i64 = 1_000_000_000_000;
    for u in 0..UNDERLYINGS {
        for (si, s) in streams.iter().enumerate() {
            t += 1_000;
            let (a, b) = s.msgs[0];
            for (v, st) in STYLES.iter().enumerate().filter(|(_, st)| st.stream == si) {
                for l in &s.recs[a..b] {
                    core.process(&map(l, u, v as u16, st, STREAMS[si].1, t), &mut out);
                }
                out.clear();
            }
        }
    }
    let live = (1..=UNDERLYINGS * VENUES).filter(|&id| core.status_code(id) == Some(0)).count();
    let levels_live: usize = core.instruments().iter().map(|i| i.book.len()).sum();
    let rss_live = rss();

    // the stream: every diff message, for all 20 underlyings in turn; one sample per venue
    // message (a message of a stream that feeds two styles is one sample per book)
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut per_style: Vec<Histogram<u64>> = (0..STYLES.len()).map(|_| hist.clone()).collect();
    let (rec0, q0) = (core.stats().records, core.stats().quotes);
    let wall0 = monotonic_ns();
    let mut messages = 0u64;
    for &(_, si, m) in &order {
        for u in 0..UNDERLYINGS {
            t += 1_000;
            let s = &streams[si];
            let (a, b) = s.msgs[m];
            for (v, st) in STYLES.iter().enumerate().filter(|(_, st)| st.stream == si) {
                let t0 = monotonic_ns();
                for l in &s.recs[a..b] {
                    core.process(&map(l, u, v as u16, st, STREAMS[si].1, t), &mut out);
                }
                let ns = (monotonic_ns() - t0).max(1) as u64;
                out.clear();
                hist.saturating_record(ns);
                per_style[v].saturating_record(ns);
                messages += 1;
            }
        }
    }
    let wall_s = (monotonic_ns() - wall0) as f64 / 1e9;
    let records = core.stats().records - rec0;
    let quotes = core.stats().quotes - q0;
    let rss_end = rss();
    let rejects = core.stats().rejects;
    let live_end = (1..=UNDERLYINGS * VENUES).filter(|&id| core.status_code(id) == Some(0)).count();

    // where the memory goes
    const SMALLER: [i64; 3] = [1 << 14, 1 << 15, 1 << 16];
    let mut behind = [0usize; 3];
    let mut arrays_per_side = 0usize;
    let mut tot = [LadderBytes::default(); 2]; // [linear, inverse]
    let mut books = [0usize; 2];
    let (mut levels, mut far, mut max_side) = (0usize, 0usize, 0usize);
    for st in core.instruments() {
        let inv = usize::from(st.book.bids.inverse_num().is_some());
        books[inv] += 1;
        for l in [&st.book.bids, &st.book.asks] {
            let b = ladder_bytes(l);
            let t = &mut tot[inv];
            t.window += b.window;
            t.index += b.index;
            t.fenwick += b.fenwick;
            t.reserve += b.reserve;
            t.window_resident += b.window_resident;
            t.far += b.far;
            t.dense += b.dense;
            levels += l.len();
            far += b.far;
            max_side = max_side.max(l.len());
            arrays_per_side += 1 + inv;
            for (k, &w) in SMALLER.iter().enumerate() {
                behind[k] += behind_window(l, w);
            }
        }
    }
    let sum = |f: fn(&LadderBytes) -> usize| f(&tot[0]) + f(&tot[1]);
    let alloc_books = sum(|b| b.window + b.index + b.fenwick + b.reserve);
    let resident_floor = sum(|b| b.window_resident + b.index + b.fenwick) + far * 16;
    let m = |b: usize| b as f64 / (1024.0 * 1024.0);

    // the desk alone (same RFQ settings, one book), after the big core is gone: its tables
    // are a fixed cost of a core, whatever the number of instruments
    drop(core);
    let desk = {
        let mut c = config(capacity, window);
        c.instruments.truncate(1);
        c.composites.truncate(1);
        c.composites[0].members.truncate(1);
        c.rfq.risk.truncate(1);
        c.rfq.pricing.truncate(1);
        let before = rss().0;
        let mut one = Core::new(c).expect("one-book core");
        let built = rss().0;
        one.prefault();
        let prefaulted = rss().0;
        drop(one);
        (built.saturating_sub(before), prefaulted.saturating_sub(before))
    };
    println!("scale_bench: {UNDERLYINGS} underlyings × {VENUES} venues = {} books, {} composites of {VENUES}; book_capacity {capacity}, window {window} ticks{}",
        UNDERLYINGS * VENUES, UNDERLYINGS, if quick { " (--quick: first 400 messages per stream)" } else { "" });
    for (v, st) in STYLES.iter().enumerate() {
        println!("  venue {v}: {} from {}", st.name, STREAMS[st.stream].0);
    }
    let row = |what: &str, r: (u64, u64)| println!("  RSS {what:<34} {:8.1} MiB   (high-water {:8.1} MiB)", mib(r.0), mib(r.1));
    row("at start", rss_start);
    row("input loaded (bench's own)", rss_input);
    row("core built", rss_new);
    row("core built + prefaulted", rss_built);
    row("all books live (snapshots)", rss_live);
    row("after the stream", rss_end);
    let core_kib = rss_end.0.saturating_sub(rss_input.0);
    println!("  core's share (RSS after the stream − input loaded): {:.1} MiB  [target ≤ 256 MB = 244.1 MiB]", mib(core_kib));
    println!("  books live {live}/100 after snapshots ({levels_live} levels), {live_end}/100 after the stream; {levels} levels ({far} behind the window), largest side {max_side}; rejects {rejects}");
    println!("  stream: {messages} venue messages, {records} records, {quotes} quotes in {wall_s:.1} s");
    println!("  core time per venue message: p50 {} ns  p99 {} ns  p99.9 {} ns  max {} ns",
        benchdata::quantile(&hist, 0.5), benchdata::quantile(&hist, 0.99), benchdata::quantile(&hist, 0.999), hist.max());
    for (v, h) in per_style.iter().enumerate() {
        println!("    {:<22} {:>9} msgs  p50 {:>6} ns  p99 {:>7} ns  p99.9 {:>8} ns  max {:>9} ns", STYLES[v].name, h.len(),
            benchdata::quantile(h, 0.5), benchdata::quantile(h, 0.99), benchdata::quantile(h, 0.999), h.max());
    }
    println!("  where the memory goes (100 books, 200 ladders; allocated = from the array sizes):");
    for (i, what) in ["linear/spot", "inverse"].iter().enumerate() {
        let b = &tot[i];
        println!("    {:<12} {:>3} books: window qty arrays {:7.1} MiB, bitmaps {:5.2} MiB, Fenwick trees {:5.2} MiB, far+scratch reserve {:7.1} MiB",
            what, books[i], m(b.window), m(b.index), m(b.fenwick), m(b.reserve));
    }
    println!("    allocated for books: {:.1} MiB (virtual: only written pages become resident)", m(alloc_books));
    println!("    resident lower bound now: window pages holding a level {:.1} MiB + bitmaps and Fenwick trees {:.1} MiB + overflow levels {:.2} MiB = {:.1} MiB",
        m(sum(|b| b.window_resident)), m(sum(|b| b.index + b.fenwick)), m(far * 16), m(resident_floor));
    println!("    measured: building + prefault {:.1} MiB (desk tables, bitmaps, Fenwick trees), snapshots {:.1} MiB, stream {:.1} MiB",
        mib(rss_built.0.saturating_sub(rss_input.0)), mib(rss_live.0.saturating_sub(rss_built.0)), mib(rss_end.0.saturating_sub(rss_live.0)));
    println!("    desk (a one-book core, same RFQ settings): {:.1} MiB built, {:.1} MiB prefaulted (dedup set, quote table, deadline heaps)",
        mib(desk.0), mib(desk.1));
    println!("    a smaller window (model, not measured): bytes per window array = ticks × 8 and at most all of it resident");
    for (k, &w) in SMALLER.iter().enumerate() {
        println!("      {w:>6} ticks: window arrays {:6.1} MiB at most (now {:.1} MiB allocated); {} of {levels} levels would sit in the overflow now (now {far})",
            m(arrays_per_side * w as usize * 8), m(sum(|b| b.window)), behind[k]);
    }
    // the books alone at the default window and two smaller ones, each in a fresh process
    let mut windows = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        println!("  the 100 books alone (rfq_book::L2Book, no core, same records), per dense window (a child process each):");
        for w in [DEFAULT_WINDOW, DEFAULT_WINDOW / 2, DEFAULT_WINDOW / 4] {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args(["--books-only", &w.to_string(), "--capacity", &capacity.to_string()]);
            if quick {
                cmd.arg("--quick");
            }
            let Ok(o) = cmd.output() else { continue };
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            let Some(line) = text.lines().find(|l| l.starts_with("{\"bench\":\"rfq_scale_books\"")) else {
                println!("    window {w}: no result ({})", String::from_utf8_lossy(&o.stderr).trim());
                continue;
            };
            let (input, end) = (json_num(line, "input"), json_num(line, "end"));
            println!(
                "    {w:>6} ticks: books' RSS {:6.1} MiB after the stream ({:.1} MiB built, {:.1} MiB live); {} levels behind the window; per message p50 {} ns p99 {} ns p99.9 {} ns; {} errors",
                mib(end - input), mib(json_num(line, "built") - input), mib(json_num(line, "live") - input), json_num(line, "far_levels"),
                json_num(line, "p50"), json_num(line, "p99"), json_num(line, "p999"), json_num(line, "errors")
            );
            windows.push(line.to_string());
        }
    }
    let style_json: Vec<String> = per_style
        .iter()
        .enumerate()
        .map(|(v, h)| format!("{{\"style\":\"{}\",\"count\":{},\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{}}}", STYLES[v].name, h.len(),
            benchdata::quantile(h, 0.5), benchdata::quantile(h, 0.99), benchdata::quantile(h, 0.999), h.max()))
        .collect();
    println!(
        "{{\"bench\":\"rfq_scale\",\"quick\":{quick},\"books\":{},\"composites\":{},\"book_capacity\":{capacity},\"window\":{window},\
\"rss_kib\":{{\"start\":{},\"input\":{},\"new\":{},\"built\":{},\"live\":{},\"end\":{},\"hwm\":{}}},\"core_rss_kib\":{core_kib},\
\"books_live\":{live},\"books_live_end\":{live_end},\"levels\":{levels},\"far_levels\":{far},\"rejects\":{rejects},\"messages\":{messages},\"records\":{records},\"wall_s\":{wall_s:.2},\
\"per_message\":{{\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{},\"count\":{}}},\"by_style\":[{}],\
\"desk_rss_kib\":{{\"built\":{},\"prefaulted\":{}}},\"behind_smaller_window\":{{\"16384\":{},\"32768\":{},\"65536\":{}}},\"books_allocated_bytes\":{alloc_books},\"books_resident_floor_bytes\":{resident_floor},\"window_resident_floor_bytes\":{},\"books_only\":[{}]}}",
        UNDERLYINGS * VENUES, UNDERLYINGS, rss_start.0, rss_input.0, rss_new.0, rss_built.0, rss_live.0, rss_end.0, rss_end.1,
        benchdata::quantile(&hist, 0.5), benchdata::quantile(&hist, 0.99), benchdata::quantile(&hist, 0.999), hist.max(), hist.len(),
        style_json.join(","), desk.0, desk.1, behind[0], behind[1], behind[2], sum(|b| b.window_resident), windows.join(",")
    );
}
