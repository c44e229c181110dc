//! RFQ benchmark: the time the core spends on one RFQ (validation, composite sweep, pricing v2,
//! every risk check, the quote records emitted) and on one accept (re-checks at the hit, fill,
//! positions, execution report), timed around `Core::process` on one thread, no rings.
//!
//! ```text
//! .venv/bin/python bench/bench_data.py     # once: parses ../shared/data into /tmp/rfqcore-bench
//! CARGO_TARGET_DIR=/tmp/bench-target cargo run --release -p rfq-engine --features bench --bin rfq_bench [-- --quick] [-- --json] [-- --floor-rounds N --floor-max-sat Q]
//! cargo run --release -p rfq-engine --features bench --bin rfq_bench -- --journal DIR [--durability none|group|fsync] [--io thread|core] [--rate MSG/S] [--rfq-every N] [--seconds S] [--idle spin|yield|park]
//! ```
//! (`--journal`: RFQ→answer through a journaled core thread at a fixed offered rate, see
//! `journal_mode`.)
//!
//! With the cached real data (`btc_merged.rec`: Binance BTC spot + USD-M + COIN-M merged by
//! receive time) the core replays the market and, every few venue messages, is asked for
//! quotes: sizes 0.1 / 1 / 5 / 10 / 50 / 100 BTC, one-sided and two-way, each RFQ against the live
//! books at that moment (the market moves between samples, so caches are as warm as they are
//! in production, no warmer). One-sided quotes are then accepted (timed: accept → EXEC,
//! EXEC_FEES and QUOTE_END emitted), two-way ones cancelled (not timed). Without the data a
//! synthetic 3-member book (5,000 levels a side each, random sizes, moving touch) is used
//! instead, and the report says so. 0.1 / 1 / 10 / 100 BTC are the shipped quote ladder's
//! sizes, which an RFQ takes from the last repricing's sweep while no book changed since;
//! 5 and 50 BTC are not, so they always search the books: both kinds are reported.
//!
//! Clock: `CLOCK_MONOTONIC` (`rfq_ring::clock::monotonic_ns`, vDSO) read before and after
//! `Core::process`; its own cost (~20-30 ns) is included and reported. Percentiles from
//! HdrHistogram. Prints a human report, then one JSON line `{"bench":"rfq_core",...}`.

use std::path::PathBuf;

use hdrhistogram::Histogram;
use rfq_engine::{Core, CoreConfig};
use rfq_model::InstrumentKind;
use rfq_ring::clock::monotonic_ns;
use rfq_ring::record::{flags, kind};
use rfq_ring::Record;

/// `--before-ladder`: this bench as it was before it priced against the shipped ladder (the
/// bench desk's 0.1 / 1 BTC ladder, these four sizes), for A/B runs against older revisions
/// (`bench/engine_ab.py` passes it to both; older binaries ignore it).
const SIZES_BEFORE: [(i64, &str); 4] = [(BTC / 10, "0.1"), (BTC, "1"), (10 * BTC, "10"), (100 * BTC, "100")];
const SIZES: [(i64, &str); 6] =
    [(BTC / 10, "0.1"), (BTC, "1"), (5 * BTC, "5"), (10 * BTC, "10"), (50 * BTC, "50"), (100 * BTC, "100")];
const MODES: [(u8, &str); 2] = [(0, "one-sided"), (255, "two-way")];

use rfq_engine::benchdata::{config, inst, load, messages, quantile as q, real_config, BTC};

/// A synthetic market: three spot-like members (2 dp / 6 dp) with 5,000 levels a side each,
/// pseudo-random sizes, then 200,000 one-level diff messages moving near the touch.
fn synthetic() -> (CoreConfig, Vec<Record>) {
    let cfg = config(
        vec![
            inst(1, "syn-a", "BTCUSDT", InstrumentKind::Spot, 2, 6, 1, 0, 100_000_000_000),
            inst(3, "syn-b", "BTCUSDT", InstrumentKind::Spot, 2, 6, 1, 0, 100_000_000_000),
            inst(5, "syn-c", "BTCUSDT", InstrumentKind::Spot, 2, 6, 1, 0, 100_000_000_000),
        ],
        vec![1, 3, 5],
    );
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut recs = Vec::new();
    let level = |inst: u16, side: u8, price: i64, qty: i64, fl: u8| Record {
        kind: kind::BOOK_LEVEL,
        instrument: inst,
        side,
        flags: fl,
        ts_recv: 1,
        price,
        qty,
        ..Record::ZERO
    };
    for inst in [1_u16, 3, 5] {
        recs.push(Record { kind: kind::BOOK_CLEAR, instrument: inst, side: 255, flags: flags::SNAPSHOT, ts_recv: 1, ..Record::ZERO });
        for i in 0..5_000 {
            recs.push(level(inst, 0, 6_000_000 - i * 2 - i64::from(inst % 2), 1_000 + (rnd() % 300_000) as i64, flags::SNAPSHOT));
            recs.push(level(inst, 1, 6_000_100 + i * 2 + i64::from(inst % 2), 1_000 + (rnd() % 300_000) as i64, flags::SNAPSHOT));
        }
        recs.last_mut().unwrap().flags |= flags::END;
    }
    for i in 0..200_000_i64 {
        let inst = [1_u16, 3, 5][(i % 3) as usize];
        let side = (rnd() % 2) as u8;
        let off = (rnd() % 200) as i64;
        let price = if side == 0 { 6_000_000 - off } else { 6_000_100 + off };
        let mut r = level(inst, side, price, (rnd() % 300_000) as i64, flags::END);
        r.ts_recv = 1 + i * 1_000;
        recs.push(r);
    }
    (cfg, recs)
}


fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap()
}


fn line(h: &Histogram<u64>) -> String {
    format!(
        "p50 {:>6} ns  p99 {:>6} ns  p99.9 {:>6} ns  max {:>7} ns  ({} samples)",
        q(h, 0.5),
        q(h, 0.99),
        q(h, 0.999),
        if h.is_empty() { 0 } else { h.max() },
        h.len()
    )
}

fn json(h: &Histogram<u64>) -> String {
    format!(
        "{{\"count\":{},\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{}}}",
        h.len(),
        q(h, 0.5),
        q(h, 0.99),
        q(h, 0.999),
        if h.is_empty() { 0 } else { h.max() }
    )
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

/// `--journal DIR`: RFQ→answer latency through a journaled core thread at a fixed offered rate.
/// Market messages are offered at `--rate` messages/s (default 20,000) with an RFQ (1 BTC,
/// one-sided, alternating sides) after every `--rfq-every` messages (default 20), for
/// `--seconds` (default 10) after a warm-up (the first 5 % of the messages, unpaced), into a
/// `Runner` on its own thread (`--idle spin|yield|park`, default yield) journaling into DIR
/// under `--durability none|group|fsync` (group: 256 records / 1 ms), with the journal I/O on the
/// journal sync thread (`--io thread`, the default) or on the core thread (`--io core`: the
/// previous design). RFQ→answer = the harness reads the RFQ_QUOTE / RFQ_REJECT from the out ring
/// − the RFQ's intended send time (coordinated-omission correct); the runner's own
/// `rfq_to_quote` (intended send → published) is printed too.
fn journal_mode(args: &[String]) {
    use rfq_engine::Runner;
    use rfq_journal::{Durability, JournalConfig, JournalWriter};
    use rfq_ring::{IdleKind, RingFile};
    let dir = PathBuf::from(arg::<String>(args, "--journal").expect("--journal DIR"));
    let durability = match arg::<String>(args, "--durability").as_deref().unwrap_or("group") {
        "none" => Durability::None,
        "group" => Durability::GroupCommit { max_records: 256, max_ns: 1_000_000 },
        "fsync" | "fsync_each" => Durability::FsyncEach,
        o => panic!("--durability {o}: none, group or fsync"),
    };
    let io_thread = arg::<String>(args, "--io").as_deref().unwrap_or("thread") != "core";
    let idle: IdleKind = arg::<String>(args, "--idle").unwrap_or_else(|| "yield".into()).parse().expect("--idle spin|yield|park");
    let rate: u64 = arg(args, "--rate").unwrap_or(20_000);
    let rfq_every: usize = arg(args, "--rfq-every").unwrap_or(20);
    let seconds: f64 = arg(args, "--seconds").unwrap_or(10.0);
    let (cfg, recs) = match load("btc_merged") {
        Ok(r) => (real_config(), r),
        Err(_) => synthetic(),
    };
    let msgs = messages(&recs);
    let _ = std::fs::remove_dir_all(&dir);
    let w = JournalWriter::open(JournalConfig { dir: dir.clone(), fingerprint: 0xBE7C, segment_bytes: 64 << 20, durability, key: None }).expect("open journal");
    let (mut tx, rx_in) = RingFile::anonymous(1 << 16).unwrap().split();
    let (out_tx, mut out_rx) = RingFile::anonymous(1 << 16).unwrap().split();
    let mut runner = Runner::new(Core::new(cfg).unwrap(), out_tx);
    runner.add_input(rx_in);
    runner.set_journal(w);
    if !io_thread {
        runner.set_journal_sync_thread(false).unwrap();
    }
    let h = runner.spawn(idle).unwrap();
    let push_all = |tx: &mut rfq_ring::Producer, out_rx: &mut rfq_ring::Consumer, rs: &[Record]| {
        let mut i = 0;
        while i < rs.len() {
            i += tx.push_slice(&rs[i..]);
            while out_rx.try_pop().is_some() {}
        }
    };
    let warm = msgs.len() / 20;
    for &(a, b) in &msgs[..warm] {
        push_all(&mut tx, &mut out_rx, &recs[a..b]);
    }
    while !tx.is_drained() {
        while out_rx.try_pop().is_some() {}
    }
    let n = ((seconds * rate as f64) as usize).min(msgs.len() - warm);
    let period = 1e9 / rate as f64;
    let mut sent: Vec<i64> = Vec::with_capacity(n / rfq_every + 2);
    let mut lat = hist();
    let mut answered = 0_u64;
    let mut buf: Vec<Record> = Vec::with_capacity(1 << 12);
    let t0 = monotonic_ns() as f64 + 1e6;
    let poll = |out_rx: &mut rfq_ring::Consumer, sent: &[i64], lat: &mut Histogram<u64>, answered: &mut u64| {
        while let Some(r) = out_rx.try_pop() {
            let id = match r.kind {
                kind::RFQ_QUOTE => r.aux as u64,
                kind::RFQ_REJECT | kind::APPROVAL_PENDING => r.seq,
                _ => continue,
            };
            if r.source == 1 && id >= 1 && (id as usize) <= sent.len() {
                lat.saturating_record((monotonic_ns() - sent[id as usize - 1]).max(1) as u64);
                *answered += 1;
            }
        }
    };
    let mut last_recv = 0;
    for (k, &(a, b)) in msgs[warm..warm + n].iter().enumerate() {
        let due = (t0 + k as f64 * period) as i64;
        while monotonic_ns() < due {
            poll(&mut out_rx, &sent, &mut lat, &mut answered);
            spin_loop_hint();
        }
        buf.clear();
        buf.extend_from_slice(&recs[a..b]);
        for r in &mut buf {
            r.ts_send = due;
            last_recv = r.ts_recv;
        }
        if k % rfq_every == rfq_every - 1 {
            let id = sent.len() as u64 + 1;
            let side = (id & 1) as u8;
            buf.push(Record { kind: kind::RFQ, instrument: 1, side, flags: flags::END, source: 1, seq: id, ts_recv: last_recv, ts_send: due, qty: BTC, ..Record::ZERO });
            sent.push(due);
        }
        let mut i = 0;
        while i < buf.len() {
            i += tx.push_slice(&buf[i..]);
            poll(&mut out_rx, &sent, &mut lat, &mut answered);
        }
    }
    let achieved = n as f64 / ((monotonic_ns() as f64 - t0) * 1e-9);
    let t_end = monotonic_ns();
    while answered < sent.len() as u64 && monotonic_ns() - t_end < 5_000_000_000 {
        poll(&mut out_rx, &sent, &mut lat, &mut answered);
    }
    let runner = h.stop().unwrap();
    let st = runner.journal().unwrap().stats();
    println!(
        "journaled core: {} ({:?}), journal I/O on the {}, idle {idle}; {n} messages at {rate}/s offered ({achieved:.0}/s achieved), {} RFQs, {answered} answered; journal {} commits {} syncs; load avg {}",
        dir.display(),
        durability,
        if io_thread { "journal sync thread" } else { "core thread" },
        sent.len(),
        st.commits,
        st.syncs,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!("  RFQ->answer (harness, from intended send): {}", line(&lat));
    println!("  runner rfq_to_quote (intended send -> published): {}", line(runner.rfq_to_quote()));
    println!("  runner tick_to_quote (intended send -> published): {}", line(runner.tick_to_quote()));
    println!(
        "{{\"bench\":\"rfq_journal_latency\",\"dir\":\"{}\",\"durability\":\"{:?}\",\"io\":\"{}\",\"rate\":{rate},\"rfq_to_answer\":{},\"runner_rfq_to_quote\":{}}}",
        dir.display(),
        durability,
        if io_thread { "thread" } else { "core" },
        json(&lat),
        json(runner.rfq_to_quote())
    );
    drop(runner);
    let _ = std::fs::remove_dir_all(&dir);
}

#[inline]
fn spin_loop_hint() {
    std::hint::spin_loop();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--journal") {
        journal_mode(&args);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let json_only = args.iter().any(|a| a == "--json");
    // `--floor-rounds N`: back-to-back rounds of the floor loop (default samples / 4); large N
    // makes the loop long enough to profile (`perf record`) on its own
    let floor_rounds: Option<usize> = args.iter().position(|a| a == "--floor-rounds").and_then(|i| args.get(i + 1)).and_then(|n| n.parse().ok());
    // `--floor-max-sat Q`: the floor loop skips sizes above Q (to profile small RFQs alone)
    let floor_max: i64 = args.iter().position(|a| a == "--floor-max-sat").and_then(|i| args.get(i + 1)).and_then(|n| n.parse().ok()).unwrap_or(i64::MAX);
    let say = |s: String| {
        if !json_only {
            println!("{s}");
        }
    };
    let (mut cfg, recs, input) = match load("btc_merged") {
        Ok(r) => (real_config(), r, "real Binance BTC spot + USD-M + COIN-M (btc_merged.rec)"),
        Err(e) => {
            say(format!("cached bench data missing ({e}); using a synthetic 3 x 5,000-level book"));
            let (c, r) = synthetic();
            (c, r, "synthetic 3-member book, 5,000 levels a side each")
        }
    };
    let before_ladder = args.iter().any(|a| a == "--before-ladder");
    let sizes_sampled: &[(i64, &str)] = if before_ladder { &SIZES_BEFORE } else { &SIZES };
    if !before_ladder {
        // the quote ladder that ships (defaults/instruments.toml): 0.1 / 1 / 10 / 100 BTC
        cfg.composites[0].pricing.sizes = vec![BTC / 10, BTC, 10 * BTC, 100 * BTC];
    }
    let msgs = messages(&recs);
    let samples_wanted: usize = if quick { 2_000 } else { 20_000 };
    let warm = msgs.len() / 10;
    let every = ((msgs.len() - warm) / samples_wanted).max(1);
    say(format!(
        "rfq-core bench: {} records / {} messages ({input}); an RFQ sample set every {every} messages after {warm} warm-up messages; load avg {}",
        recs.len(),
        msgs.len(),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    ));

    let mut core = Core::new(cfg).expect("valid bench config");
    let t0 = std::time::Instant::now();
    core.prefault();
    say(format!("  prefault (as the core thread does at start): {:.1} ms", t0.elapsed().as_secs_f64() * 1e3));
    let mut out: Vec<Record> = Vec::with_capacity(1 << 16);
    let mut rfq_h: Vec<Vec<Histogram<u64>>> = sizes_sampled.iter().map(|_| MODES.iter().map(|_| hist()).collect()).collect();
    let mut acc_h: Vec<Histogram<u64>> = sizes_sampled.iter().map(|_| hist()).collect();
    let mut rejects = [[0_u64; 64]; 2];
    let mut clock = hist();
    let mut id: u64 = 0;
    let mut sets: usize = 0;
    for (m, &(a, b)) in msgs.iter().enumerate() {
        out.clear();
        for r in &recs[a..b] {
            core.process(r, &mut out);
        }
        if m < warm || !(m - warm).is_multiple_of(every) {
            continue;
        }
        sets += 1;
        let now = core.now();
        let t0 = monotonic_ns();
        let t1 = monotonic_ns();
        clock.saturating_record((t1 - t0).max(1) as u64);
        for (si, &(size, _)) in sizes_sampled.iter().enumerate() {
            for (mi, &(mode, _)) in MODES.iter().enumerate() {
                id += 1;
                // one-sided RFQs of each size alternate sides from set to set: the desk stays near flat
                let side = if mode == 255 { 255 } else { ((sets + si) & 1) as u8 };
                let rfq = Record {
                    kind: kind::RFQ,
                    instrument: 1,
                    side,
                    flags: flags::END,
                    source: 1,
                    seq: id,
                    ts_recv: now,
                    qty: size,
                    ..Record::ZERO
                };
                out.clear();
                let t0 = monotonic_ns();
                core.process(&rfq, &mut out);
                let t1 = monotonic_ns();
                let Some(quote) = out.iter().find(|r| r.kind == kind::RFQ_QUOTE).copied() else {
                    let reason = out.iter().find(|r| r.kind == kind::RFQ_REJECT).map_or(63, |r| r.aux as usize);
                    rejects[mi][reason.min(63)] += 1;
                    continue;
                };
                rfq_h[si][mi].saturating_record((t1 - t0).max(1) as u64);
                let follow = if mode == 255 {
                    Record { kind: kind::CANCEL, instrument: 1, flags: flags::END, source: 1, seq: quote.seq, ts_recv: now, ..Record::ZERO }
                } else {
                    Record {
                        kind: kind::ACCEPT,
                        instrument: 1,
                        side: quote.side,
                        flags: flags::END,
                        source: 1,
                        seq: quote.seq,
                        ts_recv: now,
                        price: quote.price,
                        qty: quote.qty,
                        aux: id as i64,
                        ..Record::ZERO
                    }
                };
                out.clear();
                let t0 = monotonic_ns();
                core.process(&follow, &mut out);
                let t1 = monotonic_ns();
                if mode != 255 {
                    assert_eq!(out.first().map(|r| r.kind), Some(kind::EXEC), "accept refused: {out:?}");
                    acc_h[si].saturating_record((t1 - t0).max(1) as u64);
                }
            }
        }
    }
    // floor: back-to-back RFQs on the final book, nothing in between (caches as warm as they get)
    let mut floor: Vec<Histogram<u64>> = sizes_sampled.iter().map(|_| hist()).collect();
    let now = core.now();
    for round in 0..floor_rounds.unwrap_or(samples_wanted / 4) {
        for (si, &(size, _)) in sizes_sampled.iter().enumerate() {
            if size > floor_max {
                continue;
            }
            id += 1;
            let rfq = Record { kind: kind::RFQ, instrument: 1, side: 255, flags: flags::END, source: 1, seq: id, ts_recv: now, qty: size, ..Record::ZERO };
            out.clear();
            let t0 = monotonic_ns();
            core.process(&rfq, &mut out);
            let t1 = monotonic_ns();
            if let Some(q) = out.iter().find(|r| r.kind == kind::RFQ_QUOTE) {
                if round > 0 {
                    floor[si].saturating_record((t1 - t0).max(1) as u64);
                }
                let c = Record { kind: kind::CANCEL, instrument: 1, flags: flags::END, source: 1, seq: q.seq, ts_recv: now, ..Record::ZERO };
                core.process(&c, &mut out);
            }
        }
    }
    let st = core.rfq_stats();
    say(format!(
        "  {} RFQs, {} quotes, {} fills; desk position {} sat; clock read cost: {}",
        st.rfqs,
        st.quotes,
        st.fills,
        core.position(1).map_or(0, |p| p.qty),
        line(&clock)
    ));
    let mut rows = Vec::new();
    for (si, &(_, sname)) in sizes_sampled.iter().enumerate() {
        for (mi, &(_, mname)) in MODES.iter().enumerate() {
            say(format!("  RFQ {sname:>5} BTC {mname:<9}: {}", line(&rfq_h[si][mi])));
            rows.push(format!("\"rfq_{sname}_{}\":{}", if mi == 0 { "one" } else { "two" }, json(&rfq_h[si][mi])));
        }
        say(format!("  accept {sname:>3} BTC -> EXEC  : {}", line(&acc_h[si])));
        rows.push(format!("\"accept_{sname}\":{}", json(&acc_h[si])));
    }
    for (si, &(_, sname)) in sizes_sampled.iter().enumerate() {
        say(format!("  floor: RFQ {sname:>5} BTC two-way, back to back on one book: {}", line(&floor[si])));
        rows.push(format!("\"floor_{sname}_two\":{}", json(&floor[si])));
    }
    for (mi, &(_, mname)) in MODES.iter().enumerate() {
        let r: Vec<String> = rejects[mi].iter().enumerate().filter(|x| *x.1 > 0).map(|(c, n)| format!("{c}:{n}")).collect();
        if !r.is_empty() {
            say(format!("  {mname} RFQs refused (reason:count): {}", r.join(" ")));
        }
    }
    println!("{{\"bench\":\"rfq_core\",\"input\":{input:?},\"clock\":{},{}}}", json(&clock), rows.join(","));
}
