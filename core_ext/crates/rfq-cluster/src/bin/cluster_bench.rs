//! Replication cost on loopback: the real BTC input stream (`btc_merged.rec`, prepared by
//! `bench/bench_data.py`) cut into journal-sized blocks at message boundaries and replicated by
//! 3 in-process nodes on TCP loopback, against 1 node (the same code without the network and
//! the majority), for each Raft log policy:
//!
//! - throughput: `--inflight` proposals outstanding, as many blocks as commit in `--seconds`;
//! - latency: blocks offered at a fixed `--rate` (blocks/s), propose → committed and applied on
//!   the leader, measured from each block's intended send time (HdrHistogram);
//! - failover (group policy, 3 nodes): the leader shut down, time until a block commits on a new
//!   leader, `--kills` times.
//!
//! ```text
//! cargo run --release -p rfq-cluster --features bench --bin cluster_bench [-- --quick] [-- --seconds S --rate R --block N --inflight K --kills N --dir DIR]
//! (default: the repository's disk, `$RFQCORE_BENCH_CACHE/cluster-bench`, then `/dev/shm`)
//! ```
//!
//! Every node, its network and the load generator share one process and the machine's CPUs:
//! on a 2-CPU VM the figures are a floor of what separate hosts would see, not a measurement of
//! the network.

use hdrhistogram::Histogram;
use rfq_cluster::{Block, ClusterError, ClusterNode, LogSync, NetSwitch, NodeConfig, NodeId};
use rfq_engine::benchdata::{load, messages, quantile, real_config};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FP: u64 = 0xC1C1_0057;

struct Args {
    seconds: f64,
    rate: u64,
    block: usize,
    inflight: usize,
    kills: usize,
    dirs: Vec<PathBuf>,
}

fn args() -> Args {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let quick = v.iter().any(|a| a == "--quick");
    let get = |name: &str| {
        v.iter()
            .position(|a| a == name)
            .and_then(|i| v.get(i + 1))
            .cloned()
    };
    let num = |name: &str, d: f64| {
        get(name).map_or(d, |s| {
            s.parse()
                .unwrap_or_else(|_| panic!("{name}: not a number: {s}"))
        })
    };
    Args {
        seconds: num("--seconds", if quick { 0.3 } else { 3.0 }),
        rate: num("--rate", 1000.0) as u64,
        block: num("--block", 64.0) as usize,
        inflight: num("--inflight", 32.0) as usize,
        kills: num("--kills", if quick { 1.0 } else { 10.0 }) as usize,
        dirs: get("--dir").map_or_else(
            || {
                vec![
                    rfq_engine::benchdata::cache_dir().join("cluster-bench"),
                    PathBuf::from("/dev/shm/rfqcore-cluster-bench"),
                ]
            },
            |d| vec![PathBuf::from(d)],
        ),
    }
}

/// The stream cut into blocks of at least `size` records, ending at message boundaries.
fn blocks(size: usize) -> Vec<Block> {
    let recs = load("btc_merged").unwrap_or_else(|e| {
        eprintln!("cluster_bench: {e}: run `PY bench/bench_data.py` first (make bench does)");
        std::process::exit(2)
    });
    let mut out = Vec::new();
    let mut start = 0;
    for (_, end) in messages(&recs) {
        if end - start >= size {
            out.push(Block::from_records(&recs[start..end]));
            start = end;
        }
    }
    out
}

struct Cluster {
    nodes: BTreeMap<NodeId, Option<Arc<ClusterNode>>>,
    cfgs: BTreeMap<NodeId, NodeConfig>,
}

impl Cluster {
    async fn start(n: u64, sync: LogSync, dir: &Path) -> Cluster {
        let _ = std::fs::remove_dir_all(dir);
        let switch = NetSwitch::new();
        let mut nodes = BTreeMap::new();
        let mut cfgs = BTreeMap::new();
        for id in 1..=n {
            let mut c = NodeConfig::new(id, dir.join(format!("node{id}")), real_config(), FP);
            c.log_sync = sync;
            c.switch = switch.clone();
            c.snapshot_every = 100_000;
            let node = ClusterNode::start(c.clone()).await.expect("start node");
            c.listen = node.addr().to_string();
            cfgs.insert(id, c);
            nodes.insert(id, Some(Arc::new(node)));
        }
        let members = cfgs.iter().map(|(&id, c)| (id, c.listen.clone())).collect();
        nodes[&1]
            .as_ref()
            .unwrap()
            .initialize(&members)
            .await
            .expect("initialize");
        let c = Cluster { nodes, cfgs };
        c.leader().await;
        c
    }

    async fn leader(&self) -> Arc<ClusterNode> {
        let t0 = Instant::now();
        loop {
            if let Some(n) = self.nodes.values().flatten().find(|n| n.is_leader()) {
                return Arc::clone(n);
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no leader within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn stop(&self) {
        for n in self.nodes.values().flatten() {
            n.shutdown().await;
        }
    }
}

fn sync_name(s: LogSync) -> &'static str {
    match s {
        LogSync::None => "none",
        LogSync::Each => "each",
        LogSync::Group { .. } => "group",
    }
}

/// Records/s committed with `inflight` proposals outstanding for `seconds`.
async fn throughput(c: &Cluster, bl: &Arc<Vec<Block>>, a: &Args) -> (f64, u64, u64) {
    let leader = c.leader().await;
    let next = Arc::new(AtomicU64::new(0));
    let records = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs_f64(a.seconds);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.inflight {
        let (leader, bl, next, records, failed) = (
            Arc::clone(&leader),
            Arc::clone(bl),
            Arc::clone(&next),
            Arc::clone(&records),
            Arc::clone(&failed),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize % bl.len();
                let b = bl[i].clone();
                let n = b.len() as u64;
                match leader.propose_block(b).await {
                    Ok(_) => records.fetch_add(n, Ordering::Relaxed),
                    // the leader lost its term (an election under load): counted, not retried
                    Err(_) => return failed.fetch_add(1, Ordering::Relaxed),
                };
            }
            0
        }));
    }
    for t in tasks {
        t.await.expect("proposer");
    }
    let n = records.load(Ordering::Relaxed);
    (
        n as f64 / t0.elapsed().as_secs_f64(),
        n,
        failed.load(Ordering::Relaxed),
    )
}

/// Propose → committed at `rate` blocks/s, from each block's intended send time.
async fn latency(c: &Cluster, bl: &Arc<Vec<Block>>, a: &Args) -> (Histogram<u64>, f64, u64) {
    let leader = c.leader().await;
    let total = ((a.seconds * a.rate as f64) as usize).max(10);
    let period = Duration::from_secs_f64(1.0 / a.rate as f64);
    let t0 = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<u64>>();
    for i in 0..total {
        let intended = t0 + period * i as u32;
        tokio::time::sleep_until(intended.into()).await;
        let (leader, b, tx) = (Arc::clone(&leader), bl[i % bl.len()].clone(), tx.clone());
        tokio::spawn(async move {
            let ok = leader.propose_block(b).await.is_ok();
            let _ = tx.send(ok.then(|| intended.elapsed().as_nanos() as u64));
        });
    }
    drop(tx);
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    let mut failed = 0;
    while let Some(r) = rx.recv().await {
        match r {
            Some(ns) => h.saturating_record(ns.max(1)),
            None => failed += 1,
        }
    }
    let achieved = h.len() as f64 / t0.elapsed().as_secs_f64();
    (h, achieved, failed)
}

/// Leader shut down → first block committed by a new leader, `kills` times (the old leader
/// restarts from its disk in between).
async fn failover(c: &mut Cluster, bl: &Arc<Vec<Block>>, kills: usize) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
    for k in 0..kills {
        let old = c.leader().await;
        let id = old.id();
        old.propose_block(bl[k % bl.len()].clone())
            .await
            .expect("commit before the kill");
        let t0 = Instant::now();
        old.shutdown().await;
        c.nodes.insert(id, None);
        drop(old);
        loop {
            let l = c.leader().await;
            match l.propose_block(bl[(k + 1) % bl.len()].clone()).await {
                Ok(_) => break,
                Err(ClusterError::NotLeader { .. } | ClusterError::NotCommitted(_)) => {
                    tokio::time::sleep(Duration::from_millis(1)).await
                }
                Err(e) => panic!("{e}"),
            }
        }
        h.saturating_record(t0.elapsed().as_nanos() as u64);
        let n = ClusterNode::start(c.cfgs[&id].clone())
            .await
            .expect("restart");
        c.nodes.insert(id, Some(Arc::new(n)));
        // let the restarted node catch up before the next kill
        let target = c.leader().await.applied();
        let t1 = Instant::now();
        while c.nodes.values().flatten().any(|n| n.applied() < target)
            && t1.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    h
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let bl = Arc::new(blocks(a.block));
    let avg = bl.iter().map(Block::len).sum::<usize>() as f64 / bl.len() as f64;
    println!(
        "cluster_bench: {} blocks of ≥ {} records (mean {avg:.1}) from btc_merged; {} s per measurement, {} blocks/s offered, {} in flight",
        bl.len(),
        a.block,
        a.seconds,
        a.rate,
        a.inflight,
    );
    let policies = [
        LogSync::None,
        LogSync::Group {
            max_entries: 64,
            max_delay: Duration::from_millis(1),
        },
        LogSync::Each,
    ];
    for dir in &a.dirs {
        println!("data in {}", dir.display());
        for sync in policies {
            let mut p50 = [0; 2];
            for (k, n) in [1_u64, 3].into_iter().enumerate() {
                let c = Cluster::start(n, sync, dir).await;
                let (rps, recs, lost_t) = throughput(&c, &bl, &a).await;
                let (h, achieved, lost_l) = latency(&c, &bl, &a).await;
                c.stop().await;
                p50[k] = quantile(&h, 0.5);
                println!(
                    "  log {:<5} {n} node{}: {:>10.0} records/s ({recs} records); at {} blocks/s offered ({achieved:.0} committed/s) propose→committed p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs; not committed (leader lost its term): {}",
                    sync_name(sync),
                    if n == 1 { " " } else { "s" },
                    rps,
                    a.rate,
                    us(quantile(&h, 0.5)),
                    us(quantile(&h, 0.99)),
                    us(quantile(&h, 0.999)),
                    us(h.max()),
                    lost_t + lost_l
                );
                println!(
                    "{{\"bench\": \"rfq_cluster\", \"dir\": \"{}\", \"policy\": \"{}\", \"nodes\": {n}, \"block_records_mean\": {avg:.1}, \"records_per_s\": {rps:.0}, \"offered_blocks_per_s\": {}, \"committed_blocks_per_s\": {achieved:.0}, \"p50_ns\": {}, \"p99_ns\": {}, \"p999_ns\": {}, \"max_ns\": {}, \"not_committed\": {}}}",
                    dir.display(),
                    sync_name(sync),
                    a.rate,
                    quantile(&h, 0.5),
                    quantile(&h, 0.99),
                    quantile(&h, 0.999),
                    h.max(),
                    lost_t + lost_l
                );
            }
            println!(
                "  log {:<5} replication adds {:.1} µs at p50 (3 nodes − 1 node, same run)",
                sync_name(sync),
                us(p50[1]) - us(p50[0])
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    if a.kills > 0 {
        let dir = &a.dirs[a.dirs.len() - 1];
        let mut c = Cluster::start(3, policies[1], dir).await;
        let h = failover(&mut c, &bl, a.kills).await;
        c.stop().await;
        let _ = std::fs::remove_dir_all(dir);
        println!(
            "  failover (group log in {}, election timeout 400–800 ms): leader shut down → first block committed by the next leader, {} kills: p50 {:.0} ms, max {:.0} ms",
            dir.display(),
            h.len(),
            quantile(&h, 0.5) as f64 / 1e6,
            h.max() as f64 / 1e6
        );
        println!("{{\"bench\": \"rfq_cluster_failover\", \"kills\": {}, \"p50_ns\": {}, \"max_ns\": {}}}", h.len(), quantile(&h, 0.5), h.max());
    }
}
