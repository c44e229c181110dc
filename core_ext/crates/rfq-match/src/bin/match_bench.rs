//! rfq-match benchmark: the exchange-core workload mix on one [`OrderBook`], one thread.
//!
//! ```text
//! cargo run --release -p rfq-match --features bench --bin match_bench [-- --quick] [-- --json]
//! cargo run --release -p rfq-match --features bench,sorted-levels --bin match_bench   # the alternative level layout
//! ```
//!
//! Workload (exchange-core's "single symbol" test mix): ≈9% new GTC limit orders, 3% IOC, 6%
//! cancels, 82% moves (cancel/replace to a nearby price, same size), ~1,000 resting orders
//! spread over ~750 price levels, 1,000 accounts (self-trade prevention on: cancel newest).
//! The request stream is generated once by running it against a book (not timed), so every
//! cancel/move names a live order; every timed run replays it from a clone of the same
//! pre-filled book, so all runs do exactly the same work.
//!
//! Reported:
//! - service time per request (requests back to back, one clock pair each);
//! - throughput: requests per second over the whole stream (best and median of N runs);
//! - latency at fixed offered rates (125 K, 1 M, 5 M requests/s): request `i` is due at
//!   `t0 + i / rate`; the loop spins until then and records `completion − due time`, so a
//!   stall delays every later request and shows up in their latency (no coordinated omission).
//!   One clock read per request after it completes (plus the reads of the wait loop).
//!
//! Prints a human report, then one JSON line starting with `{"bench":"rfq_match"`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use hdrhistogram::Histogram;
use rfq_match::*;
use rfq_model::Side;

const MID: i64 = 500_000;
const RESTING: usize = 1_000;
const ACCOUNTS: u32 = 1_000;

#[derive(Clone, Copy)]
enum Op {
    New(NewOrder),
    Cancel(OrderId),
    Move(OrderId, i64, i64),
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn config() -> BookConfig {
    BookConfig {
        tick: 1,
        lot: 1,
        max_qty: 1_000_000,
        min_price: 1,
        max_price: 1 << 20,
        max_orders: 1 << 16,
        max_accounts: ACCOUNTS as usize,
        default_account: AccountConfig { stp: StpMode::CancelNewest, maker_cbps: -10, taker_cbps: 40 },
    }
}

/// Live ids with O(1) random pick and removal.
#[derive(Default)]
struct Live {
    ids: Vec<OrderId>,
    pos: HashMap<OrderId, usize>,
}
impl Live {
    fn sync(&mut self, id: OrderId, resting: bool) {
        match (self.pos.get(&id).copied(), resting) {
            (None, true) => {
                self.pos.insert(id, self.ids.len());
                self.ids.push(id);
            }
            (Some(i), false) => {
                self.pos.remove(&id);
                self.ids.swap_remove(i);
                if i < self.ids.len() {
                    self.pos.insert(self.ids[i], i);
                }
            }
            _ => {}
        }
    }
}

struct Workload {
    prefill: OrderBook,
    ops: Vec<Op>,
    mix: [u64; 4],
    end_orders: usize,
    end_levels: usize,
    avg_orders: f64,
    avg_levels: f64,
}

fn generate(n: usize) -> Workload {
    let mut book = OrderBook::new(config()).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut live = Live::default();
    let mut next_id: OrderId = 1;
    let mut ev: Vec<Event> = Vec::with_capacity(64);
    let apply = |book: &mut OrderBook, live: &mut Live, op: &Op, ev: &mut Vec<Event>| {
        ev.clear();
        match *op {
            Op::New(o) => book.submit(&o, ev),
            Op::Cancel(id) => book.cancel(id, ev),
            Op::Move(id, p, q) => book.replace(id, p, q, ev),
        }
        for e in ev.iter() {
            let ids = match *e {
                Event::Trade { maker_id, taker_id, .. } => [maker_id, taker_id],
                Event::Accepted { id, .. } | Event::Cancelled { id, .. } | Event::Replaced { id, .. } => [id, id],
                _ => continue,
            };
            for id in ids {
                live.sync(id, book.order(id).is_some());
            }
        }
    };
    let passive = |rng: &mut Rng, side: Side, mid: i64| match side {
        Side::Bid => mid - 1 - rng.below(750) as i64,
        Side::Ask => mid + 1 + rng.below(750) as i64,
    };
    let new = |rng: &mut Rng, id, side, tif, price| {
        Op::New(NewOrder {
            id,
            account: rng.below(u64::from(ACCOUNTS)) as u32,
            side,
            kind: OrderType::Limit,
            tif,
            post_only: PostOnly::Off,
            price,
            qty: 1 + rng.below(100) as i64,
        })
    };
    let side_of = |rng: &mut Rng| if rng.below(2) == 0 { Side::Bid } else { Side::Ask };
    while book.len() < RESTING {
        let side = side_of(&mut rng);
        let price = passive(&mut rng, side, MID);
        let op = new(&mut rng, next_id, side, TimeInForce::Gtc, price);
        next_id += 1;
        apply(&mut book, &mut live, &op, &mut ev);
    }
    let prefill = book.clone();
    let mut ops = Vec::with_capacity(n);
    let mut mix = [0_u64; 4];
    let (mut sum_orders, mut sum_levels) = (0_u64, 0_u64);
    for _ in 0..n {
        let mid = match (book.best_bid(), book.best_ask()) {
            (Some((b, _)), Some((a, _))) => (a + b) / 2,
            _ => MID,
        };
        let r = rng.below(100);
        // keep the book near its target size the way exchange-core's generator does: the mix
        // stays fixed, only where new orders land depends on the size
        let op = if r < 9 || live.ids.is_empty() {
            mix[0] += 1;
            let side = side_of(&mut rng);
            let aggressive = rng.below(10) == 0 || book.len() > RESTING + 200;
            let price = if aggressive {
                match side {
                    Side::Bid => mid + rng.below(4) as i64,
                    Side::Ask => mid - rng.below(4) as i64,
                }
            } else {
                passive(&mut rng, side, mid)
            };
            next_id += 1;
            new(&mut rng, next_id, side, TimeInForce::Gtc, price)
        } else if r < 12 {
            mix[1] += 1;
            let side = side_of(&mut rng);
            let price = match side {
                Side::Bid => mid + 1 + rng.below(3) as i64,
                Side::Ask => mid - 1 - rng.below(3) as i64,
            };
            next_id += 1;
            new(&mut rng, next_id, side, TimeInForce::Ioc, price)
        } else if r < 18 && book.len() > RESTING - 200 {
            mix[2] += 1;
            Op::Cancel(live.ids[rng.below(live.ids.len() as u64) as usize])
        } else {
            mix[3] += 1;
            let id = live.ids[rng.below(live.ids.len() as u64) as usize];
            let o = book.order(id).unwrap();
            let delta = rng.below(17) as i64 - 8;
            Op::Move(id, (o.price + delta).max(1), o.qty)
        };
        apply(&mut book, &mut live, &op, &mut ev);
        sum_orders += book.len() as u64;
        sum_levels += (book.level_count(Side::Bid) + book.level_count(Side::Ask)) as u64;
        ops.push(op);
    }
    Workload {
        prefill,
        ops,
        mix,
        end_orders: book.len(),
        end_levels: book.level_count(Side::Bid) + book.level_count(Side::Ask),
        avg_orders: sum_orders as f64 / n as f64,
        avg_levels: sum_levels as f64 / n as f64,
    }
}

#[inline(always)]
fn run_op(book: &mut OrderBook, op: &Op, sink: &mut CountingSink) {
    match *op {
        Op::New(ref o) => book.submit(o, sink),
        Op::Cancel(id) => book.cancel(id, sink),
        Op::Move(id, p, q) => book.replace(id, p, q, sink),
    }
}

/// Seconds for the whole stream, and the sink's counts.
fn throughput_run(w: &Workload) -> (f64, CountingSink) {
    let mut book = w.prefill.clone();
    let mut sink = CountingSink::default();
    let t = Instant::now();
    for op in &w.ops {
        run_op(&mut book, op, &mut sink);
    }
    let s = t.elapsed().as_secs_f64();
    black_box(&book);
    (s, sink)
}

/// Per-request service time (one `Instant` pair per request, so ~20–40 ns of clock included),
/// requests back to back: the matcher's own tail, without queueing behind earlier requests.
fn service_run(w: &Workload) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    let mut book = w.prefill.clone();
    let mut sink = CountingSink::default();
    for op in &w.ops {
        let t = Instant::now();
        run_op(&mut book, op, &mut sink);
        h.record((t.elapsed().as_nanos() as u64).max(1)).unwrap();
    }
    black_box(&sink);
    h
}

/// Involuntary context switches of this process so far (Linux `/proc/self/status`; 0 elsewhere):
/// how often the scheduler took the CPU away during a paced run.
fn involuntary_switches() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn latency_run(w: &Workload, rate: u64, n: usize) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    let mut book = w.prefill.clone();
    let mut sink = CountingSink::default();
    let n = n.min(w.ops.len());
    let t0 = Instant::now();
    for (i, op) in w.ops[..n].iter().enumerate() {
        let due = (i as u128 * 1_000_000_000 / u128::from(rate)) as u64;
        while (t0.elapsed().as_nanos() as u64) < due {
            std::hint::spin_loop();
        }
        run_op(&mut book, op, &mut sink);
        let done = t0.elapsed().as_nanos() as u64;
        h.record(done.saturating_sub(due).max(1)).unwrap();
    }
    black_box(&sink);
    h
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json_only = args.iter().any(|a| a == "--json");
    let n = if quick { 300_000 } else { 3_000_000 };
    let runs = if quick { 3 } else { 7 };
    let t = Instant::now();
    let w = generate(n);
    let gen_s = t.elapsed().as_secs_f64();
    let total: u64 = w.mix.iter().sum();
    let pct = |k: usize| 100.0 * w.mix[k] as f64 / total as f64;
    let mut rates: Vec<f64> = Vec::new();
    let mut counts = CountingSink::default();
    for _ in 0..runs {
        let (s, c) = throughput_run(&w);
        rates.push(w.ops.len() as f64 / s);
        counts = c;
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let best = rates[rates.len() - 1];
    let median = rates[rates.len() / 2];
    let service = service_run(&w);
    let mut lat = Vec::new();
    for (rate, ops) in [(125_000_u64, if quick { 125_000 } else { 500_000 }), (1_000_000, n), (5_000_000, n)] {
        let before = involuntary_switches();
        let h = latency_run(&w, rate, ops);
        lat.push((rate, ops.min(n), h, involuntary_switches() - before));
    }
    if !json_only {
        println!("rfq-match: exchange-core mix, {} requests (generated in {gen_s:.2} s)", w.ops.len());
        println!(
            "  mix: GTC {:.1}%  IOC {:.1}%  cancel {:.1}%  move {:.1}%",
            pct(0),
            pct(1),
            pct(2),
            pct(3)
        );
        println!(
            "  book: {:.0} resting orders on {:.0} levels on average ({} on {} at the end)",
            w.avg_orders, w.avg_levels, w.end_orders, w.end_levels
        );
        println!("  events per run: {} ({} trades)", counts.events, counts.trades);
        println!(
            "  throughput, one thread: best {:.2} M req/s ({:.1} ns/req), median {:.2} M req/s over {runs} runs",
            best / 1e6,
            1e9 / best,
            median / 1e6
        );
        println!(
            "  service time per request, back to back (ns, incl. one clock pair): p50 {}  p90 {}  p99 {}  p99.9 {}  p99.99 {}  max {}",
            service.value_at_quantile(0.5),
            service.value_at_quantile(0.9),
            service.value_at_quantile(0.99),
            service.value_at_quantile(0.999),
            service.value_at_quantile(0.9999),
            service.max()
        );
        println!("  latency from each request's intended time (ns):");
        println!("    offered rate    requests      p50      p90      p99    p99.9   p99.99      max  preempted");
        for (rate, ops, h, switches) in &lat {
            println!(
                "    {:>8} /s  {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {:>9}",
                rate,
                ops,
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.value_at_quantile(0.9999),
                h.max(),
                switches
            );
        }
        println!("    (preempted = involuntary context switches during the run: each one stalls every request due meanwhile)");
    }
    let lat_json: Vec<String> = lat
        .iter()
        .map(|(rate, ops, h, switches)| {
            format!(
                "{{\"rate\":{rate},\"requests\":{ops},\"p50_ns\":{},\"p90_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"max_ns\":{},\"preempted\":{switches}}}",
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max()
            )
        })
        .collect();
    println!(
        "{{\"bench\":\"rfq_match\",\"requests\":{},\"avg_orders\":{:.0},\"avg_levels\":{:.0},\"throughput_best\":{best:.0},\"throughput_median\":{median:.0},\"service_p50_ns\":{},\"service_p99_ns\":{},\"service_p999_ns\":{},\"latency\":[{}]}}",
        w.ops.len(),
        w.avg_orders,
        w.avg_levels,
        service.value_at_quantile(0.5),
        service.value_at_quantile(0.99),
        service.value_at_quantile(0.999),
        lat_json.join(",")
    );
}
