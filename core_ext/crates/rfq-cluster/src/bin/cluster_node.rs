//! One node of a replicated core as its own process (docs/cluster.md, "Node process").
//!
//! ```text
//! cluster_node --config cluster.toml --node N          run node N (until killed)
//! cluster_node --status HOST:PORT [--hold]             a node's status (one JSON line); --hold stops its load
//! cluster_node --config cluster.toml --check-journal DIR
//!                                                      a node's journal against the load's stream and a single-node replay (one JSON line)
//! ```
//!
//! A node runs the core of the test configuration (`rfq_testkit::fixtures::config`): this is the
//! drill node of the multi-host tests, the base of `rfqcore serve --cluster`, which is not
//! written yet (it will host the runner and the gateways with the desk's configuration). With a
//! `[load]` section the node, whenever it leads, proposes the records of the deterministic stream
//! `journal_stream(steps)` in blocks from the committed position: after a failover the new
//! leader first commits an empty block (a barrier that commits everything before it in its log),
//! reads the committed journal sequence number from it, and continues from exactly there — no
//! gap, no record twice. A block that commits anywhere else than where it was proposed stops the
//! process with an error (exit 1).
//!
//! Errors are one line on stderr, exit status 2 (1 for a broken log).

use rfq_cluster::status::{request, serve_status};
use rfq_cluster::{lock_data_dir, ClusterError, ClusterFile, ClusterNode};
use rfq_engine::{replay_from_snapshot, Core};
use rfq_journal::{JournalReader, OutputHash};
use rfq_ring::Record;
use rfq_testkit::fixtures::{config, journal_stream, FP};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage: cluster_node --config cluster.toml --node N | --status HOST:PORT [--hold] | --config cluster.toml --check-journal DIR";

struct Args {
    config: Option<PathBuf>,
    node: Option<u64>,
    status: Option<String>,
    hold: bool,
    check: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { config: None, node: None, status: None, hold: false, check: None };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{k} needs a value; {USAGE}"));
        match k.as_str() {
            "--config" => a.config = Some(PathBuf::from(val()?)),
            "--node" => {
                let v = val()?;
                a.node = Some(v.parse().map_err(|_| format!("--node {v}: not a node id (1, 2, 3, …)"))?);
            }
            "--status" => a.status = Some(val()?),
            "--hold" => a.hold = true,
            "--check-journal" => a.check = Some(PathBuf::from(val()?)),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => return fail(&e, 2),
    };
    let r = match (&a.status, &a.config, a.node, &a.check) {
        (Some(addr), None, None, None) => status(addr, a.hold),
        (None, Some(cfg), Some(n), None) => run(cfg, n),
        (None, Some(cfg), None, Some(dir)) => check_journal(cfg, dir),
        _ => Err(USAGE.to_string()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, 2),
    }
}

fn fail(e: &str, code: u8) -> ExitCode {
    eprintln!("cluster_node: {e}");
    ExitCode::from(code)
}

fn status(addr: &str, hold: bool) -> Result<(), String> {
    let r = request(addr, if hold { "hold" } else { "status" }, Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    println!("{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
    Ok(())
}

fn run(cfg_path: &Path, id: u64) -> Result<(), String> {
    let file = ClusterFile::load(cfg_path).map_err(|e| e.to_string())?;
    let entry = file.node(id).map_err(|e| e.to_string())?.clone();
    let _lock = lock_data_dir(&entry.dir).map_err(|e| e.to_string())?;
    let cfg = file.node_config(id, config(), FP).map_err(|e| e.to_string())?;
    let stream = file.load.as_ref().map(|l| Arc::new(journal_stream(l.steps, None)));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async move {
        let node = Arc::new(ClusterNode::start(cfg).await.map_err(|e| e.to_string())?);
        let listener = tokio::net::TcpListener::bind(&entry.status)
            .await
            .map_err(|e| format!("status port {}: {e}: pick a free address for node {id}'s status", entry.status))?;
        if file.bootstrap() == id {
            let done = node.raft().is_initialized().await.map_err(|e| e.to_string())?;
            if !done {
                node.initialize(&file.members()).await.map_err(|e| e.to_string())?;
            }
        }
        let hold = Arc::new(AtomicBool::new(false));
        tokio::spawn(serve_status(listener, Arc::clone(&node), Arc::clone(&hold)));
        eprintln!("cluster_node: node {id} up: raft {}, status {}, data {}", node.addr(), entry.status, entry.dir.display());
        match (stream, &file.load) {
            (Some(s), Some(l)) => {
                if let Err(e) = drive(&node, &s, l.block, Duration::from_millis(l.interval_ms), &hold).await {
                    eprintln!("cluster_node: node {id}: {e}");
                    std::process::exit(1);
                }
                Ok(())
            }
            _ => std::future::pending().await,
        }
    })
}

/// Proposes `stream` in blocks of `block` records whenever this node leads, continuing from the
/// committed position. Returns only on a broken log (a block committed where it was not
/// proposed).
async fn drive(node: &ClusterNode, stream: &[Record], block: usize, pause: Duration, hold: &AtomicBool) -> Result<(), String> {
    let mut at: Option<(u64, usize)> = None; // (term led, committed records)
    loop {
        let term = node.leader_term();
        if hold.load(Ordering::SeqCst) || term.is_none() || at.is_some_and(|(t, _)| Some(t) != term) {
            at = None;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let Some((t, pos)) = at else {
            // the barrier: committing it commits everything before it in this leader's log
            match node.propose(&[]).await {
                Ok(a) => {
                    let pos = usize::try_from(a.last_seq).unwrap_or(usize::MAX);
                    if pos > stream.len() {
                        return Err(format!("the committed log holds {pos} records, more than the load's stream ({}): not this load's log", stream.len()));
                    }
                    at = term.map(|t| (t, pos));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
            continue;
        };
        if pos == stream.len() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let end = (pos + block).min(stream.len());
        match node.propose(&stream[pos..end]).await {
            Ok(a) if a.last_seq == end as u64 => at = Some((t, end)),
            Ok(a) => {
                return Err(format!("records {}..={end} of the stream committed as journal seq ..={}: a gap or a duplicate", pos + 1, a.last_seq));
            }
            Err(ClusterError::BadBlock) => return Err("a block of partial records".into()),
            Err(_) => at = None, // not committed by this leader: the next barrier tells where the log is
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

#[derive(Serialize)]
struct JournalCheck {
    /// Sequence number of the journal's last record: the committed records it covers, those of
    /// its snapshot (if it starts after one) and its own.
    records: u64,
    /// The snapshot the journal starts after (0: it starts at the first record): a generation
    /// begun by installing the leader's snapshot.
    snapshot_seq: u64,
    /// Whether its records are exactly the stream's records `snapshot_seq + 1 ..= records`, in order.
    matches_stream: bool,
    /// Index (from 0) of the first record that differs from the stream, if any.
    first_mismatch: Option<u64>,
    /// The journal replayed into a fresh core (from its snapshot, when it starts after one).
    state_hash: u64,
    output_hash: u64,
    /// Output marks of the journal checked against the replay, and the first divergence.
    marks_checked: u64,
    first_divergence: Option<u64>,
    /// A single-node run: a fresh core fed the first `records` of the stream.
    reference_state_hash: u64,
    reference_output_hash: u64,
}

fn check_journal(cfg_path: &Path, dir: &Path) -> Result<(), String> {
    let file = ClusterFile::load(cfg_path).map_err(|e| e.to_string())?;
    let l = file.load.as_ref().ok_or_else(|| format!("{}: no [load] section: the journal is checked against the load's stream", cfg_path.display()))?;
    let stream = journal_stream(l.steps, None);
    let mut core = Core::new(config()).map_err(|e| e.to_string())?;
    let (snapshot_seq, rep) = replay_from_snapshot(&mut core, dir, FP).map_err(|e| format!("replaying {}: {e}", dir.display()))?;
    let mut recs: Vec<(u64, Record)> = Vec::new();
    JournalReader::open_pruned(dir, FP)
        .and_then(|mut r| {
            let first = r.first_seq()?;
            r.for_each_from(first, |seq, r, _| recs.push((seq, *r)))
        })
        .map_err(|e| format!("journal {}: {e}", dir.display()))?;
    // the records after the snapshot (a pruned generation may keep a few before it too)
    recs.retain(|&(seq, _)| seq > snapshot_seq);
    let first_mismatch = recs
        .iter()
        .enumerate()
        .find(|&(i, &(seq, ref r))| seq != snapshot_seq + 1 + i as u64 || stream.get(seq as usize - 1) != Some(r))
        .map(|(i, _)| snapshot_seq + i as u64);
    let records = snapshot_seq + recs.len() as u64;
    let mut reference = Core::new(config()).map_err(|e| e.to_string())?;
    let mut h = OutputHash::new();
    let mut out = Vec::new();
    for r in stream.iter().take(records as usize) {
        out.clear();
        reference.process(r, &mut out);
        out.iter().for_each(|o| h.push(o));
    }
    let c = JournalCheck {
        records,
        snapshot_seq,
        matches_stream: first_mismatch.is_none(),
        first_mismatch,
        state_hash: rep.state_hash,
        output_hash: rep.output_hash,
        marks_checked: rep.marks_checked,
        first_divergence: rep.first_divergence,
        reference_state_hash: reference.state_hash(),
        reference_output_hash: h.value(),
    };
    println!("{}", serde_json::to_string(&c).map_err(|e| e.to_string())?);
    Ok(())
}
