//! rfq-ring benchmark: Rust→Rust throughput and coordinated-omission-correct one-way latency.
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/ring-target cargo bench -p rfq-ring --bench ring_bench [-- --quick] [-- --json]
//! ```
//!
//! `--latency-only` / `--throughput-only` run one half; `--no-pin` skips CPU pinning. By default
//! the consumer (main thread) is pinned to the first and the producer to the second CPU of the
//! set the process was allowed to use at start; every run reports the CPU each thread was on
//! (`sched_getcpu`, right after the start barrier and at the end).
//! Prints a human-readable report, then one JSON line (starting with `{"bench":"rfq_ring"`)
//! for the Python bench runner. `--json` prints only the JSON line; `--quick` shortens runs.
//!
//! Throughput: two threads, a 64Ki-record anonymous ring, the consumer touches every record
//! (checks its sequence number). Latency: the producer is paced at a fixed offered rate; record
//! `i` has an *intended* send time `t0 + i / rate`, stored in `ts_send`, and latency is
//! `consume time − intended send time`, so producer stalls and back-pressure are charged to
//! the ring instead of being hidden (no coordinated omission). Clock: `Instant`
//! (CLOCK_MONOTONIC).

use std::hint::spin_loop;
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::Instant;

use hdrhistogram::Histogram;
use rfq_ring::{kind, Record};

const CAPACITY: usize = 1 << 16;

/// The CPUs this process may run on, read once, *before* anything is pinned.
///
/// It must not be re-read later: `sched_getaffinity` and `thread::available_parallelism()`
/// report the calling thread's mask, which a new thread inherits from its (by then pinned)
/// parent; re-reading it after the first pin would see one CPU and put both threads there.
fn allowed_cpus() -> &'static [usize] {
    static CPUS: OnceLock<Vec<usize>> = OnceLock::new();
    CPUS.get_or_init(|| {
        // SAFETY: `cpu_set_t` is plain data (all-zero is the empty set); sched_getaffinity(0, ..)
        // writes at most `size_of::<cpu_set_t>()` bytes into it; CPU_ISSET only reads it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Vec::new();
            }
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect()
        }
    })
}

fn pinning() -> bool {
    !std::env::args().any(|a| a == "--no-pin") && allowed_cpus().len() >= 2
}

/// Pins the calling thread to the `slot`-th CPU of the process's allowed set (see
/// [`allowed_cpus`]; slot 0 = consumer, 1 = producer) so producer and consumer really run on
/// different cores; otherwise the scheduler may time-share them on one core, which measures
/// cache-local copying instead of the cross-core ring. Best effort: ignored if it fails, and
/// [`on_cpu`] reports where each thread actually ran.
fn pin(slot: usize) {
    if !pinning() {
        return;
    }
    let cpus = allowed_cpus();
    // SAFETY: as in `allowed_cpus`; CPU_SET writes within `set`; sched_setaffinity(0, ..) only
    // affects the calling thread and reads `set` by pointer.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpus[slot % cpus.len()], &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The CPU the calling thread is running on now (-1 if unknown).
fn on_cpu() -> i32 {
    // SAFETY: sched_getcpu takes no arguments and only returns a number.
    unsafe { libc::sched_getcpu() }
}

/// Where the two threads ran: sampled right after the start barrier and again at the end of
/// the run (a thread that migrated shows two different CPUs).
#[derive(Clone, Copy)]
struct Cpus {
    consumer: [i32; 2],
    producer: [i32; 2],
}

impl Cpus {
    /// The two threads were on different CPUs at both samples.
    fn separate(&self) -> bool {
        self.consumer[0] != self.producer[0] && self.consumer[1] != self.producer[1]
    }
    fn json(&self) -> String {
        format!(
            "{{\"consumer\":[{},{}],\"producer\":[{},{}]}}",
            self.consumer[0], self.consumer[1], self.producer[0], self.producer[1]
        )
    }
    fn text(&self) -> String {
        let f = |c: [i32; 2]| {
            if c[0] == c[1] {
                format!("{}", c[0])
            } else {
                format!("{}->{}", c[0], c[1])
            }
        };
        format!(
            "consumer CPU {}, producer CPU {}",
            f(self.consumer),
            f(self.producer)
        )
    }
}

struct Throughput {
    mode: &'static str,
    records: u64,
    runs: Vec<f64>,  // records/s per run
    cpus: Vec<Cpus>, // per run
}

impl Throughput {
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.runs.clone();
        v.sort_by(f64::total_cmp);
        v
    }
    fn median(&self) -> f64 {
        let v = self.sorted();
        v[v.len() / 2]
    }
    fn best(&self) -> f64 {
        *self.sorted().last().unwrap()
    }
}

struct Latency {
    rate: u64,
    records: u64,
    achieved_rate: f64,
    hist: Histogram<u64>,
    cpus: Cpus,
}

fn template() -> Record {
    Record {
        kind: kind::BOOK_LEVEL,
        instrument: 1,
        price: 6_500_000,
        qty: 10,
        ..Record::ZERO
    }
}

/// One throughput run; `batch == 1` uses `try_push`/`try_pop`, else claim/commit + read_batch.
fn throughput_run(n: u64, batch: usize) -> (f64, Cpus) {
    let (mut p, mut c) = rfq_ring::channel(CAPACITY).unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let b2 = Arc::clone(&barrier);
    let producer = thread::spawn(move || {
        pin(1);
        let t = template();
        b2.wait();
        let cpu0 = on_cpu();
        let mut s = 0u64;
        if batch == 1 {
            while s < n {
                if p.try_push(&Record { seq: s, ..t }).is_ok() {
                    s += 1;
                } else {
                    spin_loop();
                }
            }
        } else {
            while s < n {
                let mut claim = p.claim_up_to(batch.min((n - s) as usize));
                let k = claim.len();
                if k == 0 {
                    spin_loop();
                    continue;
                }
                let (a, b) = claim.as_mut_slices();
                for (i, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                    *slot = Record {
                        seq: s + i as u64,
                        ..t
                    };
                }
                claim.commit();
                s += k as u64;
            }
        }
        [cpu0, on_cpu()]
    });
    pin(0);
    barrier.wait();
    let cpu0 = on_cpu();
    let start = Instant::now();
    let mut expected = 0u64;
    let mut bad = 0u64;
    if batch == 1 {
        while expected < n {
            match c.try_pop() {
                Some(r) => {
                    bad += u64::from(r.seq != expected);
                    expected += 1;
                }
                None => spin_loop(),
            }
        }
    } else {
        while expected < n {
            let k = c.read_batch(batch, |r| {
                bad += u64::from(r.seq != expected);
                expected += 1;
            });
            if k == 0 {
                spin_loop();
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let consumer = [cpu0, on_cpu()];
    let producer = producer.join().unwrap();
    assert_eq!(bad, 0, "sequence errors");
    (n as f64 / secs, Cpus { consumer, producer })
}

/// Fixed-rate latency run (coordinated-omission-correct, see the file docs).
fn latency_run(rate: u64, n: u64, warmup: u64) -> Latency {
    let (mut p, mut c) = rfq_ring::channel(CAPACITY).unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let b2 = Arc::clone(&barrier);
    let epoch = Instant::now();
    let period_ns = 1e9 / rate as f64;
    let producer = thread::spawn(move || {
        pin(1);
        let t = template();
        b2.wait();
        let cpu0 = on_cpu();
        let t0 = epoch.elapsed().as_nanos() as f64 + 20_000.0;
        let intended = |i: u64| (t0 + i as f64 * period_ns) as i64;
        let mut s = 0u64;
        while s < n {
            let now = epoch.elapsed().as_nanos() as i64;
            if now < intended(s) {
                spin_loop();
                continue;
            }
            // Every record whose intended time has passed goes now (catch-up batch).
            let mut due = 1u64;
            while s + due < n && due < 256 && intended(s + due) <= now {
                due += 1;
            }
            let mut claim = p.claim_up_to(due as usize);
            let k = claim.len();
            for i in 0..k {
                let seq = s + i as u64;
                claim.write(
                    i,
                    Record {
                        seq,
                        ts_send: intended(seq),
                        ..t
                    },
                );
            }
            claim.commit();
            s += k as u64;
        }
        let sent_ns = epoch.elapsed().as_nanos() as f64 - t0;
        (n as f64 / (sent_ns / 1e9), [cpu0, on_cpu()])
    });
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    pin(0);
    barrier.wait();
    let cpu0 = on_cpu();
    let mut expected = 0u64;
    while expected < n {
        let chunk = c.peek(256);
        if chunk.is_empty() {
            spin_loop();
            continue;
        }
        // Read the records first (their cache lines must arrive), then take the consume time.
        let mut sent = [0i64; 256];
        let k = chunk.len();
        for (slot, r) in sent.iter_mut().zip(chunk.iter()) {
            assert_eq!(r.seq, expected);
            *slot = r.ts_send;
            expected += 1;
        }
        let now = epoch.elapsed().as_nanos() as i64;
        let first = expected - k as u64;
        for (i, &ts) in sent[..k].iter().enumerate() {
            if first + i as u64 >= warmup {
                hist.saturating_record((now - ts).max(1) as u64);
            }
        }
        chunk.commit();
    }
    let consumer = [cpu0, on_cpu()];
    let (achieved_rate, producer) = producer.join().unwrap();
    Latency {
        rate,
        records: n - warmup,
        achieved_rate,
        hist,
        cpus: Cpus { consumer, producer },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json_only = args.iter().any(|a| a == "--json");
    let skip_tput = args.iter().any(|a| a == "--latency-only");
    let skip_lat = args.iter().any(|a| a == "--throughput-only");
    let say = |s: String| {
        if !json_only {
            println!("{s}");
        }
    };

    let scale = if quick { 10 } else { 1 };
    let runs = if quick { 1 } else { 5 };
    // Before anything is pinned (see `allowed_cpus`).
    let cpus = allowed_cpus();
    let pinned = pinning();
    let mut tput = Vec::new();
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load1 = loadavg.split_whitespace().next().unwrap_or("0").to_owned();
    say(format!(
        "rfq-ring bench: ring capacity {CAPACITY} records x 64 B, allowed CPUs {cpus:?}, {}, load avg {}",
        if pinned {
            format!("consumer pinned to CPU {}, producer to CPU {}", cpus[0], cpus[1])
        } else {
            "not pinned".to_owned()
        },
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    say("throughput (two threads, consumer checks every seq):".into());
    let modes: &[(&str, usize, u64)] = if skip_tput {
        &[]
    } else {
        &[
            ("single", 1, 50_000_000u64),
            ("batch64", 64, 200_000_000),
            ("batch256", 256, 200_000_000),
        ]
    };
    for &(mode, batch, n) in modes {
        let n = n / scale;
        let _ = throughput_run(n / 10, batch); // warm up
        let (runs_, cpus_): (Vec<f64>, Vec<Cpus>) =
            (0..runs).map(|_| throughput_run(n, batch)).unzip();
        let t = Throughput {
            mode,
            records: n,
            runs: runs_,
            cpus: cpus_,
        };
        say(format!(
            "  {mode:<9} {:>8.1} M rec/s median  {:>8.1} M rec/s best  ({runs} runs x {n} records, {:.2} GB/s median); {}",
            t.median() / 1e6,
            t.best() / 1e6,
            t.median() * 64.0 / 1e9,
            t.cpus.iter().map(Cpus::text).collect::<Vec<_>>().join("; ")
        ));
        tput.push(t);
    }

    say(
        "one-way latency at fixed offered rate (latency = consume time - intended send time):"
            .into(),
    );
    let mut lats = Vec::new();
    let rates: &[(u64, u64)] = if skip_lat {
        &[]
    } else {
        &[(1_000_000, 1), (10_000_000, 1)]
    };
    for &(rate, secs) in rates {
        let n = rate * secs / scale;
        for run in 0..runs {
            let l = latency_run(rate, n, n / 10);
            let h = &l.hist;
            say(format!(
            "  run {run}: {:>5.1} M rec/s offered ({:.2} M/s achieved, {} samples): p50 {} ns  p90 {} ns  p99 {} ns  p99.9 {} ns  max {} ns  mean {:.0} ns; {}",
            rate as f64 / 1e6,
            l.achieved_rate / 1e6,
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
            h.mean(),
            l.cpus.text()
        ));
            lats.push((run, l));
        }
    }

    let tput_json: Vec<String> = tput
        .iter()
        .map(|t| {
            format!(
                "{{\"mode\":\"{}\",\"records\":{},\"runs\":{},\"rec_per_s_median\":{:.0},\"rec_per_s_best\":{:.0},\"rec_per_s_runs\":[{}],\"cpus\":[{}]}}",
                t.mode,
                t.records,
                t.runs.len(),
                t.median(),
                t.best(),
                t.runs.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(","),
                t.cpus.iter().map(Cpus::json).collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    let lat_json: Vec<String> = lats
        .iter()
        .map(|(run, l)| {
            let h = &l.hist;
            format!(
                "{{\"run\":{run},\"offered_rate\":{},\"achieved_rate\":{:.0},\"samples\":{},\"p50_ns\":{},\"p90_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"max_ns\":{},\"mean_ns\":{:.1},\"cpus\":{}}}",
                l.rate,
                l.achieved_rate,
                l.records,
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
                h.mean(),
                l.cpus.json()
            )
        })
        .collect();
    let all_cpus: Vec<&Cpus> = tput
        .iter()
        .flat_map(|t| t.cpus.iter())
        .chain(lats.iter().map(|(_, l)| &l.cpus))
        .collect();
    let shared = all_cpus.iter().filter(|c| !c.separate()).count();
    if pinned && shared > 0 {
        say(format!(
            "WARNING: pinned, yet in {shared} of {} runs both threads were seen on the same CPU",
            all_cpus.len()
        ));
    }
    println!(
        "{{\"bench\":\"rfq_ring\",\"capacity\":{CAPACITY},\"record_size\":64,\"quick\":{quick},\"loadavg_1m\":{load1},\"pinned\":{pinned},\"allowed_cpus\":{cpus:?},\"runs_threads_on_same_cpu\":{shared},\"throughput\":[{}],\"latency\":[{}]}}",
        tput_json.join(","),
        lat_json.join(",")
    );
}
