//! Journal benchmark: append throughput and added commit latency per durability policy, and
//! replay (read + verify) speed, on one or more directories (file systems).
//!
//! ```text
//! cargo run --release -p rfq-journal --features bench --bin journal_bench -- [--quick] DIR...
//! ```
//! Defaults to `$CARGO_TARGET_DIR/journal-bench` (the repo's disk) and `/dev/shm/rfq-journal-bench`.
//! Each DIR is emptied first. Prints a human report, then one JSON line per directory.
//!
//! Each policy runs twice: journal I/O inline (the caller's thread does `write(2)` and
//! fdatasync) and on the journal sync thread (`JournalWriter::start_sync_thread`: the caller
//! only frames and copies). Besides the caller's append+commit latency (what blocks the core
//! thread), a paced run (1-record commits at 5,000/s, as a core thread answering RFQs would
//! commit) reports the commit → durable latency (what delays a publication).
//!
//! The keyed chain (a desk key, docs/journal.md "Keyed chain") is compared with the unkeyed one
//! in the same run: BLAKE3 keyed vs plain per block, append+commit (policy none, inline) and
//! replay, each pair measured back to back.

use rfq_journal::{Durability, JournalConfig, JournalKey, JournalReader, JournalWriter, OutputHash};
use rfq_ring::{kind, Record};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn rec(i: u64) -> Record {
    Record {
        kind: kind::BOOK_LEVEL,
        instrument: 1,
        side: (i & 1) as u8,
        flags: 1,
        source: 2,
        seq: i,
        ts_event: i as i64,
        ts_recv: i as i64,
        price: 6_500_000 + (i % 1000) as i64,
        qty: (i % 77) as i64,
        aux: 0,
        ts_send: i as i64,
    }
}

fn pct(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

struct Run {
    policy: &'static str,
    thread: bool,
    batch: usize,
    records: u64,
    secs: f64,
    syncs: u64,
    lat: Vec<u64>,
}

fn clean(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("create bench dir");
}

/// The bench's desk key for the keyed rows.
fn bench_key() -> JournalKey {
    JournalKey::from_bytes([0x42; 32])
}

/// Appends `batch` records and commits, repeatedly, for at most `budget` or `max_records`;
/// commit latency = append + commit (what the runner adds per batch before publishing).
fn append_run(dir: &Path, policy: Durability, name: &'static str, thread: bool, batch: usize, budget: Duration, max_records: u64) -> Run {
    append_run_keyed(dir, policy, None, name, thread, batch, budget, max_records)
}

/// [`append_run`] with the chain keyed by `key`.
#[allow(clippy::too_many_arguments, reason = "bench parameters")]
fn append_run_keyed(dir: &Path, policy: Durability, key: Option<JournalKey>, name: &'static str, thread: bool, batch: usize, budget: Duration, max_records: u64) -> Run {
    clean(dir);
    let mut cfg = JournalConfig::new(dir, 1);
    cfg.durability = policy;
    cfg.key = key;
    let mut w = JournalWriter::open(cfg).expect("open");
    if thread {
        w.start_sync_thread().expect("sync thread");
    }
    let mut lat = Vec::with_capacity(1 << 20);
    let recs: Vec<Record> = (0..batch as u64).map(rec).collect();
    let t0 = Instant::now();
    let mut n = 0;
    while n < max_records && t0.elapsed() < budget {
        let t = Instant::now();
        for r in &recs {
            w.append_marked(r, n).expect("append");
        }
        w.commit().expect("commit");
        lat.push(t.elapsed().as_nanos() as u64);
        n += batch as u64;
    }
    w.sync().expect("sync");
    let secs = t0.elapsed().as_secs_f64();
    Run { policy: name, thread, batch, records: n, secs, syncs: w.stats().syncs, lat }
}

/// 1-record commits at `rate`/s for `budget`: the caller's commit latency and the commit →
/// durable latency (inline the caller polls `sync_if_due` between commits, as the runner did).
fn paced_run(dir: &Path, policy: Durability, thread: bool, rate: u64, budget: Duration) -> (Vec<u64>, Vec<u64>, u64) {
    clean(dir);
    let mut cfg = JournalConfig::new(dir, 1);
    cfg.durability = policy;
    let mut w = JournalWriter::open(cfg).expect("open");
    if thread {
        w.start_sync_thread().expect("sync thread");
    }
    let period = Duration::from_nanos(1_000_000_000 / rate);
    let mut commit_lat = Vec::with_capacity(1 << 20);
    let mut durable_lat = Vec::with_capacity(1 << 20);
    let mut waiting: std::collections::VecDeque<(u64, Instant)> = std::collections::VecDeque::new();
    let t0 = Instant::now();
    let mut k = 0_u64;
    let reap = |w: &JournalWriter, waiting: &mut std::collections::VecDeque<(u64, Instant)>, out: &mut Vec<u64>| {
        let d = w.durable_seq();
        while waiting.front().is_some_and(|&(s, _)| s <= d) {
            let (_, t) = waiting.pop_front().expect("checked");
            out.push(t.elapsed().as_nanos() as u64);
        }
    };
    while t0.elapsed() < budget {
        let due = t0 + period * k as u32;
        while Instant::now() < due {
            if !thread {
                w.sync_if_due().expect("sync");
            }
            reap(&w, &mut waiting, &mut durable_lat);
            std::hint::spin_loop();
        }
        k += 1;
        // the intended time: a commit that starts late (the caller was blocked) counts from it
        w.append_marked(&rec(k), k).expect("append");
        w.commit().expect("commit");
        commit_lat.push(due.elapsed().as_nanos() as u64);
        waiting.push_back((w.committed_seq(), due));
        reap(&w, &mut waiting, &mut durable_lat);
    }
    w.sync().expect("sync");
    reap(&w, &mut waiting, &mut durable_lat);
    (commit_lat, durable_lat, w.stats().syncs)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut dirs: Vec<PathBuf> = args.iter().filter(|a| !a.starts_with("--")).map(PathBuf::from).collect();
    if dirs.is_empty() {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        dirs.push(Path::new(&target).join("journal-bench"));
        dirs.push(PathBuf::from("/dev/shm/rfq-journal-bench"));
    }
    let budget = Duration::from_millis(if quick { 500 } else { 2000 });
    let replay_n: u64 = if quick { 1_000_000 } else { 5_000_000 };

    // CPU cost of framing alone (no I/O): encode + CRC32C per record, BLAKE3 chain per block.
    let mut buf = [0_u8; 88];
    let t = Instant::now();
    let mut acc = 0_u32;
    for i in 0..5_000_000 {
        rfq_journal::format::encode_record(&rec(i), &mut buf[24..]);
        acc ^= crc32c::crc32c(&buf[4..]);
    }
    let crc_ns = t.elapsed().as_nanos() as f64 / 5e6;
    let block = vec![0x5A_u8; 256 * 88];
    let t = Instant::now();
    for _ in 0..20_000 {
        let mut h = blake3::Hasher::new();
        h.update(&block);
        acc ^= h.finalize().as_bytes()[0] as u32;
    }
    let chain_ns_rec = t.elapsed().as_nanos() as f64 / (20_000.0 * 256.0);
    let t = Instant::now();
    for _ in 0..20_000 {
        let mut h = blake3::Hasher::new_keyed(&[0x42; 32]);
        h.update(&block);
        acc ^= h.finalize().as_bytes()[0] as u32;
    }
    let chain_keyed_ns_rec = t.elapsed().as_nanos() as f64 / (20_000.0 * 256.0);
    let t = Instant::now();
    for i in 0..5_000_000_u64 {
        let mut h = blake3::Hasher::new();
        h.update(&block[(i as usize % 200) * 88..][..88]);
        acc ^= h.finalize().as_bytes()[0] as u32;
    }
    let chain_each_ns = t.elapsed().as_nanos() as f64 / 5e6;
    let mut oh = OutputHash::new();
    let t = Instant::now();
    for i in 0..5_000_000 {
        oh.push(&rec(i));
    }
    let outhash_ns = t.elapsed().as_nanos() as f64 / 5e6;
    println!("framing cost (CPU only): encode+CRC32C {crc_ns:.1} ns/record; BLAKE3 chain per 256-record block {chain_ns_rec:.1} ns/record;");
    println!("  keyed BLAKE3 chain (desk key) per 256-record block {chain_keyed_ns_rec:.1} ns/record;");
    println!("  a BLAKE3 chain per record instead would cost {chain_each_ns:.1} ns/record; output hash {outhash_ns:.1} ns/output record  [{acc}{}]", oh.value() & 1);

    for dir in &dirs {
        println!("\n== {} ==", dir.display());
        let policies: [(&'static str, Durability); 3] = [
            ("none", Durability::None),
            ("group(256 rec, 1 ms)", Durability::GroupCommit { max_records: 256, max_ns: 1_000_000 }),
            ("fsync_each", Durability::FsyncEach),
        ];
        let mut json = Vec::new();
        for thread in [false, true] {
            println!("  -- journal I/O {} --", if thread { "on the journal sync thread" } else { "inline (caller's thread)" });
            for (name, pol) in policies {
                for batch in [1_usize, 64] {
                    let mut r = append_run(dir, pol, name, thread, batch, budget, 20_000_000);
                    let rps = r.records as f64 / r.secs;
                    let (p50, p99, p999, max) = (pct(&mut r.lat, 0.5), pct(&mut r.lat, 0.99), pct(&mut r.lat, 0.999), pct(&mut r.lat, 1.0));
                    println!(
                        "  {:<22} batch {:>3}: {:>10.0} records/s {:>7.1} MB/s, {:>6} syncs; append+commit latency p50 {p50} ns p99 {p99} ns p99.9 {p999} ns max {max} ns",
                        r.policy, r.batch, rps, rps * 88.0 / 1e6, r.syncs
                    );
                    json.push(format!(
                        "{{\"policy\":\"{}\",\"thread\":{},\"batch\":{},\"records_per_s\":{:.0},\"syncs\":{},\"p50_ns\":{p50},\"p99_ns\":{p99},\"p999_ns\":{p999},\"max_ns\":{max}}}",
                        r.policy, r.thread, r.batch, rps, r.syncs
                    ));
                }
            }
        }
        println!("  -- keyed chain vs unkeyed, back to back: policy none, inline --");
        for batch in [1_usize, 64] {
            for key in [None, Some(bench_key())] {
                let keyed = key.is_some();
                let mut r = append_run_keyed(dir, Durability::None, key, "none", false, batch, budget, 20_000_000);
                let rps = r.records as f64 / r.secs;
                let (p50, p99, p999, max) = (pct(&mut r.lat, 0.5), pct(&mut r.lat, 0.99), pct(&mut r.lat, 0.999), pct(&mut r.lat, 1.0));
                let name = if keyed { "none, keyed" } else { "none, unkeyed" };
                println!("  {name:<22} batch {batch:>3}: {rps:>10.0} records/s; append+commit latency p50 {p50} ns p99 {p99} ns p99.9 {p999} ns max {max} ns");
                json.push(format!(
                    "{{\"policy\":\"{name}\",\"keyed\":{keyed},\"thread\":false,\"batch\":{batch},\"records_per_s\":{rps:.0},\"syncs\":{},\"p50_ns\":{p50},\"p99_ns\":{p99},\"p999_ns\":{p999},\"max_ns\":{max}}}",
                    r.syncs
                ));
            }
        }
        let rate = 5_000;
        println!("  -- paced: 1-record commits at {rate}/s; commit = caller blocked (from the intended time), durable = commit -> durable_seq covers it --");
        for (name, pol) in &policies[1..] {
            for thread in [false, true] {
                let (mut c, mut d, syncs) = paced_run(dir, *pol, thread, rate, budget);
                println!(
                    "  {:<22} {:<11}: commit p50 {} p99 {} p99.9 {} max {} ns; durable p50 {} p99 {} p99.9 {} max {} ns; {syncs} syncs",
                    name,
                    if thread { "sync thread" } else { "inline" },
                    pct(&mut c, 0.5),
                    pct(&mut c, 0.99),
                    pct(&mut c, 0.999),
                    pct(&mut c, 1.0),
                    pct(&mut d, 0.5),
                    pct(&mut d, 0.99),
                    pct(&mut d, 0.999),
                    pct(&mut d, 1.0)
                );
                json.push(format!(
                    "{{\"policy\":\"{name}\",\"thread\":{thread},\"paced_rate\":{rate},\"commit_p50_ns\":{},\"commit_p99_ns\":{},\"commit_p999_ns\":{},\"durable_p50_ns\":{},\"durable_p99_ns\":{},\"durable_p999_ns\":{}}}",
                    pct(&mut c, 0.5),
                    pct(&mut c, 0.99),
                    pct(&mut c, 0.999),
                    pct(&mut d, 0.5),
                    pct(&mut d, 0.99),
                    pct(&mut d, 0.999)
                ));
            }
        }
        // replay: write replay_n records (policy none, 256 per commit), read + verify them back;
        // then the same keyed
        let (rps, segments) = replay_run(dir, replay_n, None);
        println!("  replay (read + CRC + chain verify + decode, page cache warm): {replay_n} records in {segments} segments, {:.0} records/s ({:.0} MB/s), best of 3", rps, rps * 88.0 / 1e6);
        let (rps_keyed, _) = replay_run(dir, replay_n, Some(bench_key()));
        println!("  replay, keyed chain: {:.0} records/s ({:.0} MB/s), best of 3", rps_keyed, rps_keyed * 88.0 / 1e6);
        println!(
            "{{\"bench\":\"rfq_journal\",\"dir\":\"{}\",\"crc_ns\":{crc_ns:.1},\"chain_block_ns\":{chain_ns_rec:.1},\"chain_keyed_block_ns\":{chain_keyed_ns_rec:.1},\"chain_each_ns\":{chain_each_ns:.1},\"append\":[{}],\"replay_records_per_s\":{rps:.0},\"replay_keyed_records_per_s\":{rps_keyed:.0}}}",
            dir.display(),
            json.join(",")
        );
        clean(dir);
    }
}

/// Writes `n` records (policy none, 256 per commit) and reads + verifies them back, best of 3:
/// (records/s, segments).
fn replay_run(dir: &Path, n: u64, key: Option<JournalKey>) -> (f64, u64) {
    clean(dir);
    let mut cfg = JournalConfig::new(dir, 1);
    cfg.durability = Durability::None;
    cfg.key = key.clone();
    let mut w = JournalWriter::open(cfg).expect("open");
    for i in 0..n {
        w.append_marked(&rec(i), i).expect("append");
        if i % 256 == 255 {
            w.commit().expect("commit");
        }
    }
    w.commit().expect("commit");
    w.sync().expect("sync");
    drop(w);
    let mut best = f64::MAX;
    let mut segments = 0;
    for _ in 0..3 {
        let mut sum = 0_i64;
        let t = Instant::now();
        let s = JournalReader::open(dir, 1).expect("open").with_key(key.clone()).for_each_from(1, |_, r, _| sum = sum.wrapping_add(r.price)).expect("read");
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(s.delivered, n);
        segments = s.segments;
        std::hint::black_box(sum);
    }
    (n as f64 / best, segments)
}
