//! `ClusterNode`: one node of a replicated desk (`rfqcore serve --cluster`, docs/cluster.md).
//!
//! The node (crate `rfq-cluster`: Raft, the replicated journal, a state-machine core, its status
//! port) runs on its own Tokio runtime from construction to `shutdown`. While the node leads,
//! [`ClusterNode::lead`] turns a stopped [`Engine`] into the leader's runner: its core replaced
//! by the committed core (after a barrier entry that commits everything before it in the
//! leader's log), a journal continuing the committed log, the commit gate and a block ring
//! attached, and a **proposer** thread that takes each journal block off the ring and proposes it
//! (the blocks waiting are proposed together, one Raft entry, so a busy core does not wait one
//! replication round trip per block). The engine then publishes an output only once a majority
//! holds its input. A failed proposal, a block committed anywhere but where it was proposed, or
//! the end of the node's term is a loss of leadership: the runner stops taking input and
//! publishing (`Engine.leadership_lost`), and the Python side stands the desk down and builds a
//! new engine the next time the node leads.
use crate::engine::build::core_config;
use crate::engine::Engine;
use crate::errors::ClusterError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use rfq_cluster::status::{serve_status, StatusReport};
use rfq_cluster::{lock_data_dir, ClusterFile, NodeId};
use rfq_engine::{block_ring, BlockConsumer, CommitGate};
use rfq_journal::format::encode_record;
use rfq_journal::{JournalConfig, JournalWriter, OutputHash};
use rfq_ring::Record;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Blocks the leader's block ring holds (each up to [`MAX_BLOCK`] records): the core waits for
/// room (back-pressure) only when this many journal commits wait for the proposer.
const RING_BLOCKS: usize = 4096;
/// Records per journal block (the runner cuts a longer batch into several commits).
const MAX_BLOCK: usize = 1024;
/// Records proposed as one Raft entry at most (the blocks waiting, back to back).
const MAX_ENTRY: usize = 8192;

fn cluster_err(e: impl std::fmt::Display) -> PyErr {
    ClusterError::new_err(e.to_string())
}

/// The thread proposing a leader's journal blocks.
struct Proposer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Proposer {
    fn finish(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One node of a replicated desk: Raft, the replicated input journal, the node's state-machine
/// core and its status port; the leader's engine through [`ClusterNode::lead`].
#[pyclass(module = "rfqcore_core")]
pub struct ClusterNode {
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    node: Arc<rfq_cluster::ClusterNode>,
    id: NodeId,
    dir: PathBuf,
    fingerprint: u64,
    proposer: Mutex<Option<Proposer>>,
    /// Set by a `hold` request on the status port (drills: quiesce the desk to compare nodes).
    hold: Arc<AtomicBool>,
    /// The data directory's lock, held while the node lives.
    _lock: File,
}

impl ClusterNode {
    fn leader_term_now(&self) -> Option<u64> {
        self.node.leader_term()
    }

    fn stop_proposer(&self) {
        let p = self.proposer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(p) = p {
            p.finish();
        }
    }
}

#[pymethods]
impl ClusterNode {
    /// Node `node` of the cluster described by `config` (cluster.toml), running the core of the
    /// desk configuration given as the engine takes it. Starts Raft, the state machine (from the
    /// node's snapshot and log), the status port; the bootstrap node forms the cluster on its
    /// first start. Errors are one line (`ClusterError`).
    #[new]
    #[pyo3(signature = (config, node, instruments, composites, book_capacity = 65536, rfq = None))]
    fn new(
        py: Python<'_>,
        config: &str,
        node: NodeId,
        instruments: &Bound<'_, PyList>,
        composites: &Bound<'_, PyList>,
        book_capacity: usize,
        rfq: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let (core, exclusions, fingerprint) = core_config(instruments, composites, book_capacity, rfq)?;
        let file = ClusterFile::load(Path::new(config)).map_err(cluster_err)?;
        let entry = file.node(node).map_err(cluster_err)?.clone();
        let lock = lock_data_dir(&entry.dir).map_err(cluster_err)?;
        let mut cfg = file.node_config(node, core, fingerprint).map_err(cluster_err)?;
        cfg.exclusions = exclusions;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("rfqcore-raft-{node}"))
            .enable_all()
            .build()
            .map_err(|e| cluster_err(format!("tokio runtime: {e}")))?;
        let (bootstrap, members) = (file.bootstrap() == node, file.members());
        let status_addr = entry.status.clone();
        let hold = Arc::new(AtomicBool::new(false));
        let hold2 = Arc::clone(&hold);
        let started = py.detach(|| {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&status_addr).await.map_err(|e| {
                    format!("status port {status_addr}: {e}: pick a free address for node {node}'s status in the cluster file")
                })?;
                let n = Arc::new(rfq_cluster::ClusterNode::start(cfg).await.map_err(|e| e.to_string())?);
                if bootstrap && !n.raft().is_initialized().await.map_err(|e| e.to_string())? {
                    n.initialize(&members).await.map_err(|e| e.to_string())?;
                }
                tokio::spawn(serve_status(listener, Arc::clone(&n), hold2));
                Ok::<_, String>(n)
            })
        });
        let n = started.map_err(cluster_err)?;
        Ok(ClusterNode {
            handle: rt.handle().clone(),
            rt: Mutex::new(Some(rt)),
            node: n,
            id: node,
            dir: entry.dir,
            fingerprint,
            proposer: Mutex::new(None),
            hold,
            _lock: lock,
        })
    }

    /// This node's id.
    #[getter]
    fn id(&self) -> NodeId {
        self.id
    }

    /// The node's Raft address.
    #[getter]
    fn addr(&self) -> String {
        self.node.addr().to_owned()
    }

    /// The node's data directory.
    #[getter]
    fn dir(&self) -> String {
        self.dir.display().to_string()
    }

    /// The configuration fingerprint every node's journal carries.
    #[getter]
    fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The term this node leads, or None.
    fn leader_term(&self) -> Option<u64> {
        self.leader_term_now()
    }

    /// The node's status as the status port reports it: one JSON object (text).
    fn status_json(&self) -> PyResult<String> {
        serde_json::to_string(&StatusReport::of(&self.node, self.held())).map_err(cluster_err)
    }

    /// Whether a `hold` request reached the status port (drills: the desk stops its market data
    /// and heartbeats so that the nodes come to rest at one journal position).
    #[getter]
    fn held(&self) -> bool {
        self.hold.load(Ordering::SeqCst)
    }

    /// Make stopped `engine` this node's leader runner (see the module doc); returns
    /// `(term, journal seq it starts after, committed state hash, client answers seeded into its
    /// tap)`. Refused unless the node leads and commits a barrier entry within `timeout` seconds.
    /// The engine's tap (for the gateway) must be registered first: it is seeded with the
    /// committed log's newest client answers (`rfq_cluster::StateMachine::client_history`).
    #[pyo3(signature = (engine, timeout = 5.0))]
    fn lead(&self, py: Python<'_>, engine: PyRef<'_, Engine>, timeout: f64) -> PyResult<(u64, u64, u64, usize)> {
        self.stop_proposer();
        let term = self.leader_term_now().ok_or_else(|| cluster_err(format!("node {} does not lead", self.id)))?;
        let node = Arc::clone(&self.node);
        let wait = Duration::from_secs_f64(timeout.max(0.0));
        // the barrier: committing it commits (and applies) everything before it in this
        // leader's log, so the committed core below is the whole committed state
        py.detach(|| self.handle.block_on(async { tokio::time::timeout(wait, node.propose(&[])).await }))
            .map_err(|_| cluster_err(format!("node {}: the barrier entry of term {term} did not commit within {timeout} s", self.id)))?
            .map_err(|e| cluster_err(format!("node {}: the barrier entry of term {term}: {e}", self.id)))?;
        if self.leader_term_now() != Some(term) {
            return Err(cluster_err(format!("node {} lost leadership of term {term} while taking it", self.id)));
        }
        let (core, anchor) = self.node.committed_core().map_err(cluster_err)?;
        let history = self.node.client_history();
        let state_hash = core.state_hash();
        // the leader's runner journal: a copy of what it proposes (the Raft log is the durable
        // one); a fresh directory each term, continuing the committed log after the anchor
        let jdir = self.dir.join("runner-journal");
        if jdir.exists() {
            std::fs::remove_dir_all(&jdir).map_err(|e| cluster_err(format!("{}: {e}", jdir.display())))?;
        }
        let jcfg = JournalConfig::new(&jdir, self.fingerprint);
        let journal = JournalWriter::open_after(jcfg, anchor.seq, anchor.chain).map_err(cluster_err)?;
        let (blocks, consumer) = block_ring(RING_BLOCKS, MAX_BLOCK).map_err(cluster_err)?;
        let gate = self.node.commit_gate();
        let seeded = engine.with_stopped(py, "lead needs a stopped engine (before start)", |r| {
            *r.core_mut() = core;
            r.set_journal_with_hash(journal, OutputHash::from_value(anchor.out_hash));
            r.set_replication(Some(Arc::clone(&gate)), Some(blocks));
            // the gateway of this term learns the committed client answers first: a client
            // that lost its session in the failover can ask what became of its quotes
            Ok(r.prefill_tap(&history))
        })?;
        engine.journaled.store(true, Ordering::Release);
        let stop = Arc::new(AtomicBool::new(false));
        let (node, handle, stop2, id) = (Arc::clone(&self.node), self.handle.clone(), Arc::clone(&stop), self.id);
        let thread = std::thread::Builder::new()
            .name(format!("rfqcore-proposer-{id}"))
            .spawn(move || propose_blocks(&node, &handle, consumer, &gate, anchor.seq, &stop2))
            .map_err(|e| cluster_err(format!("proposer thread: {e}")))?;
        *self.proposer.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Proposer { stop, thread: Some(thread) });
        Ok((term, anchor.seq, state_hash, seeded))
    }

    /// Stop proposing and fence this term's runner (the commit gate loses leadership: it takes
    /// no more input and publishes nothing more), so its engine stops even without a majority —
    /// a leader cut off from its peers has blocks that will never commit, and a runner waiting
    /// for room in its block ring would otherwise never drain. A later term's runner attaches
    /// after this loss and is not fenced by it.
    fn stand_down(&self, py: Python<'_>) {
        py.detach(|| {
            self.stop_proposer();
            self.node.commit_gate().lose_leadership();
        });
    }

    /// The newest client answers of the committed log this node applied (firm quote sides,
    /// execution reports, quote ends; `rfq_cluster::StateMachine::client_history`), oldest
    /// first, as the 64-byte records of the ring layout (`RECORD_DTYPE`) back to back.
    fn client_history<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let recs = self.node.client_history();
        let mut bytes = vec![0u8; recs.len() * 64];
        for (r, b) in recs.iter().zip(bytes.chunks_exact_mut(64)) {
            encode_record(r, b);
        }
        PyBytes::new(py, &bytes)
    }

    /// Journal sequence number of the last committed record this node applied (the commit gate).
    fn committed_seq(&self) -> u64 {
        self.node.committed_seq()
    }

    /// Stop proposing, shut Raft down, stop the runtime (the status port with it). Idempotent.
    fn shutdown(&self, py: Python<'_>) {
        py.detach(|| {
            self.stop_proposer();
            let rt = self.rt.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some(rt) = rt {
                rt.block_on(self.node.shutdown());
                rt.shutdown_timeout(Duration::from_secs(2));
            }
        });
    }
}

/// The proposer thread: takes the leader runner's journal blocks off `blocks` in order and
/// proposes the waiting ones as one entry, checking that each commits right after the previous
/// one (`next` = the journal seq the next record gets). Ends at `stop` or at the first failure,
/// which it reports to the runner as a loss of leadership.
fn propose_blocks(
    node: &rfq_cluster::ClusterNode,
    rt: &tokio::runtime::Handle,
    mut blocks: BlockConsumer,
    gate: &CommitGate,
    mut next: u64,
    stop: &AtomicBool,
) {
    let mut entry: Vec<Record> = Vec::with_capacity(MAX_ENTRY + MAX_BLOCK);
    let mut idle_since: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        entry.clear();
        while entry.len() < MAX_ENTRY
            && blocks.pop_with(|a, b| {
                entry.extend_from_slice(a);
                entry.extend_from_slice(b);
            })
        {}
        if entry.is_empty() {
            // spin briefly (a block usually follows within microseconds under load), then sleep
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() < Duration::from_micros(200) {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(100));
            }
            continue;
        }
        idle_since = None;
        let want = next + entry.len() as u64;
        // wait for the commit, but not past `stop`: a leader without a majority (its peers
        // stopping too) never commits, and its engine has stopped publishing anyway
        let answer = rt.block_on(async {
            let mut fut = std::pin::pin!(node.propose(&entry));
            loop {
                match tokio::time::timeout(Duration::from_millis(50), &mut fut).await {
                    Ok(r) => return Some(r),
                    Err(_) if stop.load(Ordering::Acquire) => return None,
                    Err(_) => {}
                }
            }
        });
        let Some(answer) = answer else { return };
        match answer {
            Ok(a) if a.last_seq == want => next = want,
            Ok(a) => {
                eprintln!(
                    "rfqcore: node {}: records {}..={want} committed as journal seq ..={}: a gap or a duplicate; standing down",
                    node.id(),
                    next + 1,
                    a.last_seq
                );
                gate.lose_leadership();
                return;
            }
            Err(_) => {
                // not committed by this leader (a later term, cut off, shut down): the runner
                // stops; the next leader's barrier settles where the log is
                gate.lose_leadership();
                return;
            }
        }
    }
}
