//! Snapshot benchmark: size and time of a snapshot of a loaded core, restore time, and crash
//! recovery speed (newest snapshot + journal tail) against a full journal replay.
//!
//! ```text
//! .venv/bin/python bench/bench_data.py     # once: parses ../shared/data into /tmp/rfqcore-bench
//! CARGO_TARGET_DIR=/tmp/bench-target cargo run --release -p rfq-engine --features bench --bin snapshot_bench [-- --clients N --quotes N --dir DIR]
//! ```
//!
//! The loaded state: the real Binance BTC spot + USD-M + COIN-M books (`btc_merged.rec`, as
//! `rfq_bench` loads it) replayed to 90 % of the file through a journaled [`Runner`]
//! (durability `none`), then `--quotes` (default 10,000) RFQs spread over `--clients` (default
//! 1,000) clients, each answered by a live quote (60 s TTL), every tenth one accepted — so
//! positions, throttle buckets, execution windows, the quote table, the expiry heap and the
//! duplicate-id table are all populated. A snapshot is taken there (`snapshot_now`), the rest
//! of the market data is journaled as the tail, then recovery is timed on a fresh core.

use std::path::PathBuf;
use std::time::Instant;

use rfq_engine::{Core, Runner};
use rfq_journal::{Durability, JournalConfig, OutputHash};
use rfq_model::ClientSpec;
use rfq_ring::record::{flags, kind};
use rfq_ring::{Consumer, Producer, Record, RingFile};


use rfq_engine::benchdata::{load, real_config, BTC};


fn feed(r: &mut Runner, inp: &mut Producer, out: &mut Consumer, recs: &[Record]) -> Vec<Record> {
    let mut got = Vec::new();
    let mut at = 0;
    while at < recs.len() {
        at += inp.push_slice(&recs[at..]);
        while r.run_once(usize::MAX) > 0 {
            got.extend(std::iter::from_fn(|| out.try_pop()));
        }
        got.extend(std::iter::from_fn(|| out.try_pop()));
    }
    got
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nclients: u16 = arg(&args, "--clients").and_then(|v| v.parse().ok()).unwrap_or(1000);
    let nquotes: u64 = arg(&args, "--quotes").and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let base = arg(&args, "--dir").map_or_else(|| std::env::temp_dir().join("rfq-snapshot-bench"), PathBuf::from);
    let recs = load("btc_merged").expect("cached bench data (run bench/bench_data.py once)");
    let mut cfg = real_config();
    let proto = cfg.rfq.clients[0].clone();
    cfg.rfq.clients = (1..=nclients).map(|id| ClientSpec { id, name: format!("c{id}"), ..proto.clone() }).collect();
    let _ = std::fs::remove_dir_all(&base);
    let jc = JournalConfig { dir: base.clone(), fingerprint: 0xBE7C, segment_bytes: 64 << 20, durability: Durability::None, key: None };
    let rings = || {
        let (out_p, out_c) = RingFile::anonymous(1 << 16).unwrap().split();
        let (in_p, in_c) = RingFile::anonymous(1 << 16).unwrap().split();
        (out_p, out_c, in_p, in_c)
    };
    // whole messages: cut at an END record near 90 %
    let mut cut = recs.len() * 9 / 10;
    while recs[cut - 1].flags & flags::END == 0 {
        cut += 1;
    }
    let (out_p, mut out_c, mut in_p, in_c) = rings();
    let mut r = Runner::new(Core::new(cfg.clone()).unwrap(), out_p);
    r.add_input(in_c);
    r.recover_journal(jc.clone()).unwrap();
    let t0 = Instant::now();
    feed(&mut r, &mut in_p, &mut out_c, &recs[..cut]);
    let md_s = t0.elapsed().as_secs_f64();
    // RFQs: each client asks in turn; every tenth quote is hit
    let now = r.core().now();
    let mut rfqs = Vec::new();
    for i in 0..nquotes {
        let client = (i % u64::from(nclients)) as u16 + 1;
        let size = [BTC / 10, BTC / 2, BTC][(i % 3) as usize];
        rfqs.push(Record { kind: kind::RFQ, instrument: 1, side: (i % 2) as u8, flags: flags::END, source: client, seq: i + 1, ts_recv: now, qty: size, ..Record::ZERO });
    }
    let out = feed(&mut r, &mut in_p, &mut out_c, &rfqs);
    let quotes: Vec<Record> = out.iter().filter(|o| o.kind == kind::RFQ_QUOTE).copied().collect();
    let accepts: Vec<Record> = quotes
        .iter()
        .step_by(10)
        .map(|q| Record { kind: kind::ACCEPT, instrument: 1, side: q.side, flags: flags::END, source: q.source, seq: q.seq, ts_recv: now, price: q.price, qty: q.qty, aux: 1, ..Record::ZERO })
        .collect();
    let fills = feed(&mut r, &mut in_p, &mut out_c, &accepts).iter().filter(|o| o.kind == kind::EXEC).count();
    let st = r.core().rfq_stats();
    let levels: usize = r.core().instruments().iter().map(|s| s.book.len()).sum();
    println!(
        "snapshot bench: {} market records journaled in {md_s:.2} s; then {} RFQs from {nclients} clients -> {} quotes ({} live), {fills} fills; {levels} book levels in 3 books",
        cut,
        rfqs.len(),
        st.quotes,
        st.quotes - st.fills
    );
    // the snapshot (synchronous: encode on this thread, write + fsync + rename)
    let t0 = Instant::now();
    let (path, w, enc_ns) = r.snapshot_now().unwrap();
    let total_s = t0.elapsed().as_secs_f64();
    println!(
        "  snapshot at seq {}: {} bytes ({:.2} MiB); encode {:.2} ms (core thread), encode + write + fsync + rename {:.2} ms -> {}",
        w.header.anchor.seq,
        w.bytes,
        w.bytes as f64 / 1048576.0,
        enc_ns as f64 / 1e6,
        total_s * 1e3,
        path.display()
    );
    let bytes = std::fs::read(&path).unwrap();
    let mut times = Vec::new();
    for _ in 0..5 {
        let mut c = Core::new(cfg.clone()).unwrap();
        let t0 = Instant::now();
        c.restore_snapshot(&mut bytes.as_slice()).unwrap();
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        assert_eq!(c.state_hash(), r.core().state_hash());
    }
    times.sort_by(f64::total_cmp);
    println!("  restore (read from memory, BLAKE3 check, decode, state hash check): median {:.2} ms, min {:.2} ms of 5", times[2], times[0]);
    let t0 = Instant::now();
    let mut c = Core::new(cfg.clone()).unwrap();
    println!("  (building an empty core of this config: {:.2} ms)", t0.elapsed().as_secs_f64() * 1e3);
    c.prefault();
    // the tail
    feed(&mut r, &mut in_p, &mut out_c, &recs[cut..]);
    let state = r.core().state_hash();
    let last = r.journal().unwrap().committed_seq();
    drop(r.take_journal());
    println!("  tail: {} records journaled after the snapshot (journal ends at {last})", last - w.header.anchor.seq);
    // recovery: snapshot + tail, on a fresh core, page cache warm
    let (out_p, _out_c, _in_p, _in_c) = rings();
    let mut r2 = Runner::new(Core::new(cfg.clone()).unwrap(), out_p);
    let t0 = Instant::now();
    let rep = r2.recover_journal(jc.clone()).unwrap();
    let s = t0.elapsed().as_secs_f64();
    assert_eq!(r2.core().state_hash(), state);
    println!(
        "  recovery = snapshot + tail: {:.3} s in all ({} tail records, {:.2} M records/s of tail replay alone: {:.3} s)",
        s,
        rep.replay.records,
        rep.replay.records as f64 / rep.replay.elapsed.as_secs_f64() / 1e6,
        rep.replay.elapsed.as_secs_f64()
    );
    drop(r2);
    // full replay for comparison
    let mut c = Core::new(cfg).unwrap();
    let t0 = Instant::now();
    let full = rfq_engine::replay_into(&mut c, &base, jc.fingerprint, OutputHash::new()).unwrap();
    let s = t0.elapsed().as_secs_f64();
    assert_eq!(full.state_hash, state);
    println!("  full replay of the journal: {} records in {s:.3} s ({:.2} M records/s)", full.records, full.records as f64 / s / 1e6);
    let _ = std::fs::remove_dir_all(&base);
}
