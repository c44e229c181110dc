//! A cluster node: Raft + its log store + its state machine + its TCP server.

use crate::network::{serve, NetSwitch, TcpNetwork};
use crate::{
    Applied, Block, ClusterError, LogId, LogStore, LogSync, Node, NodeId, Raft, StateMachine,
    StateView,
};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{Config, ServerState, SnapshotPolicy};
use rfq_engine::{CommitGate, CoreConfig};
use rfq_journal::Durability;
use rfq_ring::Record;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How to run one node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's id (unique in the cluster, ≥ 1).
    pub id: NodeId,
    /// Address the node listens on for its peers (`127.0.0.1:0`: any free port; see
    /// [`ClusterNode::addr`]).
    pub listen: String,
    /// The node's data directory: Raft log, vote, snapshot, journal generations.
    pub dir: PathBuf,
    /// The core's configuration — the same on every node (the journal fingerprint pins it).
    pub core: CoreConfig,
    /// Composite members excluded from pricing at start, `(composite id, instrument id)`: part of
    /// the desk's configuration that is applied to a fresh core (`Core::set_member`), not held in
    /// [`CoreConfig`]; the same on every node (and in the fingerprint).
    pub exclusions: Vec<(u16, u16)>,
    /// The journal's configuration fingerprint.
    pub fingerprint: u64,
    /// When Raft log appends count as durable.
    pub log_sync: LogSync,
    /// Least growth of `raft-log` since its last compaction before a purge compacts it
    /// ([`LogStore::with_compact_min`]; default [`crate::log_store::COMPACT_MIN_BYTES`], 1 MiB).
    pub log_compact_min: u64,
    /// Durability policy of the node's own journal (the Raft log is what makes an entry
    /// committed; the journal is the node's copy for `replay-journal` and recovery).
    pub journal: Durability,
    /// Leader heartbeat interval.
    pub heartbeat: Duration,
    /// A follower that hears no leader for a random time in `election_timeout` starts an
    /// election.
    pub election_timeout: (Duration, Duration),
    /// A snapshot is built after this many entries since the last one (0: never).
    pub snapshot_every: u64,
    /// Entries kept in the log after a snapshot (a follower further behind gets the snapshot).
    pub keep_after_snapshot: u64,
    /// Network fault injection shared with the test or drill.
    pub switch: NetSwitch,
}

impl NodeConfig {
    /// A node with the default timings: heartbeat 50 ms, election timeout 400–800 ms (a dead
    /// leader is replaced within about 1 s), fdatasync of the Raft log before an append counts
    /// ([`LogSync::Each`]: appends that arrive during a sync share the next one), journal written
    /// without fdatasync (the Raft log carries durability), a snapshot every 10,000 entries
    /// keeping 1,000.
    #[must_use]
    pub fn new(
        id: NodeId,
        dir: impl Into<PathBuf>,
        core: CoreConfig,
        fingerprint: u64,
    ) -> NodeConfig {
        NodeConfig {
            id,
            listen: "127.0.0.1:0".into(),
            dir: dir.into(),
            core,
            exclusions: Vec::new(),
            fingerprint,
            log_sync: LogSync::Group {
                max_entries: 64,
                max_delay: Duration::from_millis(1),
            },
            log_compact_min: crate::log_store::COMPACT_MIN_BYTES,
            journal: Durability::None,
            heartbeat: Duration::from_millis(50),
            election_timeout: (Duration::from_millis(400), Duration::from_millis(800)),
            snapshot_every: 10_000,
            keep_after_snapshot: 1_000,
            switch: NetSwitch::new(),
        }
    }

    fn raft_config(&self) -> Result<Config, ClusterError> {
        let ms = |d: Duration| d.as_millis().max(1) as u64;
        let c = Config {
            cluster_name: "rfqcore".into(),
            heartbeat_interval: ms(self.heartbeat),
            election_timeout_min: ms(self.election_timeout.0),
            election_timeout_max: ms(self.election_timeout.1),
            snapshot_policy: if self.snapshot_every == 0 {
                SnapshotPolicy::Never
            } else {
                SnapshotPolicy::LogsSinceLast(self.snapshot_every)
            },
            max_in_snapshot_log_to_keep: self.keep_after_snapshot,
            ..Config::default()
        };
        c.validate()
            .map_err(|e| ClusterError::Config(e.to_string()))
    }
}

/// Roles, term and positions of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node.
    pub id: NodeId,
    /// Leader, follower, candidate, learner or shut down.
    pub state: ServerState,
    /// Current term.
    pub term: u64,
    /// The leader this node knows of.
    pub leader: Option<NodeId>,
    /// Index of the last log entry.
    pub last_log_index: Option<u64>,
    /// What the state machine holds (applied log id, journal seq, state hash).
    pub sm: StateView,
}

/// Reports every end of this node's leadership to the commit gate
/// ([`CommitGate::lose_leadership`]): a leader's runner then stops publishing and drops what it
/// staged, even with no proposal in flight to fail. Ends with Raft.
async fn watch_leadership(raft: Raft, gate: Arc<CommitGate>) {
    let mut rx = raft.metrics();
    let mut lead: Option<u64> = None; // the term this node leads
    loop {
        let (state, term) = {
            let m = rx.borrow_and_update();
            (m.state, m.current_term)
        };
        let now = (state == ServerState::Leader).then_some(term);
        if lead.is_some() && lead != now {
            gate.lose_leadership();
        }
        lead = now;
        if rx.changed().await.is_err() {
            if lead.is_some() {
                gate.lose_leadership();
            }
            return;
        }
    }
}

/// A running node.
pub struct ClusterNode {
    id: NodeId,
    addr: String,
    raft: Raft,
    sm: StateMachine,
    committed: Arc<CommitGate>,
    server: std::sync::Mutex<Option<JoinHandle<()>>>,
    log: LogStore,
    switch: NetSwitch,
}

impl ClusterNode {
    /// Starts node `cfg.id`: opens its log and state machine, binds its listener and starts
    /// Raft. A new cluster is then formed once by [`ClusterNode::initialize`] on one node.
    ///
    /// # Errors
    /// [`ClusterError::Config`] / [`ClusterError::Start`].
    pub async fn start(cfg: NodeConfig) -> Result<ClusterNode, ClusterError> {
        let rc = Arc::new(cfg.raft_config()?);
        let log = LogStore::open(&cfg.dir, cfg.log_sync)
            .map_err(|e| ClusterError::Start(format!("{}: raft log: {e}", cfg.dir.display())))?
            .with_compact_min(cfg.log_compact_min);
        let sm = StateMachine::open(cfg.core.clone(), &cfg.exclusions, cfg.fingerprint, &cfg.dir, cfg.journal)?;
        let listener = TcpListener::bind(&cfg.listen)
            .await
            .map_err(|e| ClusterError::Start(format!("listen on {}: {e}", cfg.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ClusterError::Start(e.to_string()))?
            .to_string();
        let net = TcpNetwork::new(cfg.id, cfg.switch.clone());
        let raft = Raft::new(cfg.id, rc, net, log.clone(), sm.clone())
            .await
            .map_err(|e| ClusterError::Start(e.to_string()))?;
        let server = tokio::spawn(serve(listener, cfg.id, raft.clone(), cfg.switch.clone()));
        let committed = sm.committed_seq();
        tokio::spawn(watch_leadership(raft.clone(), Arc::clone(&committed)));
        Ok(ClusterNode {
            id: cfg.id,
            addr,
            raft,
            sm,
            committed,
            server: std::sync::Mutex::new(Some(server)),
            log,
            switch: cfg.switch.clone(),
        })
    }

    /// Bytes of this node's `raft-log` now, and its compactions since the node started.
    #[must_use]
    pub fn log_file_stats(&self) -> (u64, u64) {
        self.log.file_stats()
    }

    /// Forms a new cluster of `members` (id → address); call once, on one node.
    ///
    /// # Errors
    /// The cluster is already initialized, or this node is not among `members`.
    pub async fn initialize(&self, members: &BTreeMap<NodeId, String>) -> Result<(), ClusterError> {
        let m: BTreeMap<NodeId, Node> = members
            .iter()
            .map(|(&id, a)| (id, Node::new(a.clone())))
            .collect();
        self.raft
            .initialize(m)
            .await
            .map_err(|e| ClusterError::Config(e.to_string()))
    }

    /// This node's id.
    #[must_use]
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The address peers reach this node at.
    #[must_use]
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The node's network switch (fault injection: cut, impair; docs/cluster.md "Network").
    #[must_use]
    pub fn switch(&self) -> &NetSwitch {
        &self.switch
    }

    /// The Raft handle (metrics, waits, triggers).
    #[must_use]
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The node's state machine.
    #[must_use]
    pub fn state_machine(&self) -> &StateMachine {
        &self.sm
    }

    /// Replicates one commit block. Returns once a majority holds it durably (per its
    /// [`LogSync`]) and this node applied it: only then may the outputs of its records be
    /// published. Fails if this node is not the leader, or stops being it before the entry
    /// commits (a leader cut off from its majority never gets here: its entry is never
    /// committed by it; a later leader may commit or overwrite it — the log decides).
    ///
    /// # Errors
    /// [`ClusterError::NotLeader`], [`ClusterError::NotCommitted`], [`ClusterError::BadBlock`].
    pub async fn propose(&self, records: &[Record]) -> Result<Applied, ClusterError> {
        self.propose_block(Block::from_records(records)).await
    }

    /// [`ClusterNode::propose`] of an encoded block.
    ///
    /// # Errors
    /// As [`ClusterNode::propose`].
    pub async fn propose_block(&self, block: Block) -> Result<Applied, ClusterError> {
        if !block.is_well_formed() {
            return Err(ClusterError::BadBlock);
        }
        match self.raft.client_write(block).await {
            Ok(r) => Ok(r.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ClusterError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(e) => Err(ClusterError::NotCommitted(e.to_string())),
        }
    }

    /// The commit gate: journal sequence number of the last record committed by a majority and
    /// applied here (a leader's runner publishes outputs up to it, never beyond).
    #[must_use]
    pub fn committed_seq(&self) -> u64 {
        self.committed.get()
    }

    /// The shared gate behind [`ClusterNode::committed_seq`] (for a runner's publish step:
    /// applying a block advances it and unparks the runner's core thread). Every end of this
    /// node's leadership (a later term, a step down, shutdown) is reported on it
    /// ([`CommitGate::lose_leadership`]): attach a runner once this node leads.
    #[must_use]
    pub fn commit_gate(&self) -> Arc<CommitGate> {
        Arc::clone(&self.committed)
    }

    /// The committed state to rebuild a runner from (see [`StateMachine::committed_core`]).
    ///
    /// # Errors
    /// As [`StateMachine::committed_core`].
    pub fn committed_core(&self) -> Result<(rfq_engine::Core, rfq_engine::SnapshotAnchor), ClusterError> {
        self.sm.committed_core()
    }

    /// The newest client answers of the committed log ([`StateMachine::client_history`]).
    #[must_use]
    pub fn client_history(&self) -> Vec<rfq_ring::Record> {
        self.sm.client_history()
    }

    /// Role, term, log position and state-machine view.
    #[must_use]
    pub fn status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow().clone();
        NodeStatus {
            id: self.id,
            state: m.state,
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            sm: self.sm.view(),
        }
    }

    /// Whether this node currently believes it is the leader.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.leader_term().is_some()
    }

    /// The term this node leads, if it currently believes it is the leader.
    #[must_use]
    pub fn leader_term(&self) -> Option<u64> {
        let m = self.raft.metrics();
        let m = m.borrow();
        (m.state == ServerState::Leader).then_some(m.current_term)
    }

    /// The last applied log id.
    #[must_use]
    pub fn applied(&self) -> Option<LogId> {
        self.raft.metrics().borrow().last_applied
    }

    /// Stops the node: Raft, then its server (its peers see it as dead).
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
        let server = self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(s) = server {
            s.abort();
            let _ = s.await;
        }
    }
}
