//! The replicated state machine of a node: a [`Core`] fed the committed blocks in log order.
//!
//! Applying an entry is the journal's replay path: every record of the block goes through
//! `Core::process`, and is appended (with the running output-stream hash, like the runner's
//! journal) to the node's own `rfq-journal`, one commit per block. So every node's journal holds
//! the same records in the same blocks with the same hashes — the same chain values — and
//! `rfq_engine::replay_into` of a node's journal rebuilds that node's core.
//!
//! **Journal generations.** A node's journal lives in `<data>/journal-NNNN`. A new generation
//! starts whenever the state machine starts from something other than its own journal: at every
//! start of the node (from the persisted Raft snapshot, or from nothing, re-applying the
//! committed log) and when it installs a snapshot from the leader. A generation that starts
//! after a snapshot is laid out as a pruned journal (`JournalWriter::open_after`) and holds that
//! engine snapshot in its `snapshots/`, so a recovery (`Runner::recover_journal`) rebuilds the
//! state from it; one that starts at 0 is a complete journal.
//!
//! **Snapshots** for catch-up are engine snapshots (`Core::snapshot_bytes`, docs/journal.md
//! "Snapshots") anchored at the node journal's `(seq, chain)` after the last applied block, with
//! the Raft meta (last applied log id, membership) beside them. The current one is kept in
//! `<data>/raft-snapshot` (`le32 meta length ‖ postcard meta ‖ engine snapshot`), replaced
//! atomically.

use crate::file::{read_if_exists, replace_durably};
use crate::{Applied, Block, ClusterError, LogId, Node, NodeId, StorageError, TypeConfig};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, RaftSnapshotBuilder, SnapshotMeta, StorageIOError, StoredMembership};
use rfq_engine::{write_snapshot_file, CommitGate, Core, CoreConfig, Sink, SnapshotAnchor};
use rfq_journal::{Durability, JournalConfig, JournalWriter, OutputHash};
use rfq_ring::{kind, Record};
use std::collections::VecDeque;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A node's snapshot: Raft meta + engine snapshot bytes.
#[derive(Clone)]
struct Stored {
    meta: SnapshotMeta<NodeId, Node>,
    data: Vec<u8>,
}

struct Inner {
    cfg: CoreConfig,
    fingerprint: u64,
    dir: PathBuf,
    durability: Durability,
    core: Core,
    hash: OutputHash,
    outputs: u64,
    seq: u64,
    journal: JournalWriter,
    journal_dir: PathBuf,
    generation: u64,
    applied: Option<LogId>,
    membership: StoredMembership<NodeId, Node>,
    current: Option<Stored>,
    snapshots_built: u64,
    snapshots_installed: u64,
    /// The newest [`CLIENT_HISTORY`] client answers of the committed log (see
    /// [`StateMachine::client_history`]).
    history: VecDeque<Record>,
}

/// Client answers (firm quotes, execution reports, quote ends) of the committed log a node keeps
/// for the gateway of its next term as leader (4 MiB of records).
pub const CLIENT_HISTORY: usize = 1 << 16;

/// Whether `kind` is a client answer the gateway keeps: a firm quote side, an execution report,
/// the end of a quote (what `QUOTE_STATUS` and `EXEC_RESEND` are answered from).
fn is_client_answer(kind: u16) -> bool {
    matches!(kind, kind::RFQ_QUOTE | kind::EXEC | kind::EXEC_FEES | kind::QUOTE_END)
}

/// What a node's state machine holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateView {
    /// Last applied Raft log id.
    pub applied: Option<LogId>,
    /// Journal sequence number of the last applied record.
    pub seq: u64,
    /// `Core::state_hash` of the node's core.
    pub state_hash: u64,
    /// Output-stream hash of the node's core (continued across snapshots).
    pub output_hash: u64,
    /// The node's current journal generation directory.
    pub journal_dir: PathBuf,
    /// Snapshots this node built / installed from a leader.
    pub snapshots_built: u64,
    /// Snapshots installed from a leader.
    pub snapshots_installed: u64,
}

/// The state machine of a node (clones share it).
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    committed_seq: Arc<CommitGate>,
}

struct HashSink<'a> {
    hash: &'a mut OutputHash,
    n: &'a mut u64,
    history: &'a mut VecDeque<Record>,
}

impl Sink for HashSink<'_> {
    fn emit(&mut self, rec: &Record) {
        self.hash.push(rec);
        *self.n += 1;
        if is_client_answer(rec.kind) {
            if self.history.len() == CLIENT_HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(*rec);
        }
    }
}

fn sm_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

fn snap_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, &e).into()
}

const SNAPSHOT_FILE: &str = "raft-snapshot";

fn generation_dir(dir: &Path, g: u64) -> PathBuf {
    dir.join(format!("journal-{g:04}"))
}

impl StateMachine {
    /// Opens the state machine of the node whose data directory is `dir`: from the persisted
    /// snapshot if there is one (else a fresh core), with a new journal generation.
    ///
    /// # Errors
    /// A snapshot that does not restore into a core of `cfg`, an exclusion the core refuses,
    /// journal errors.
    pub fn open(
        cfg: CoreConfig,
        exclusions: &[(u16, u16)],
        fingerprint: u64,
        dir: &Path,
        durability: Durability,
    ) -> Result<StateMachine, ClusterError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| ClusterError::Start(format!("{}: {e}", dir.display())))?;
        let last_gen = std::fs::read_dir(dir)
            .map_err(|e| ClusterError::Start(format!("{}: {e}", dir.display())))?
            .filter_map(|d| {
                d.ok()?
                    .file_name()
                    .to_str()?
                    .strip_prefix("journal-")?
                    .parse::<u64>()
                    .ok()
            })
            .max();
        let generation = last_gen.map_or(0, |g| g + 1);
        let stored = read_stored(&dir.join(SNAPSHOT_FILE))
            .map_err(|e| ClusterError::Start(e.to_string()))?;
        let mut core = Core::new(cfg.clone()).map_err(|e| ClusterError::Config(e.to_string()))?;
        for &(c, i) in exclusions {
            core.set_member(c, i, false)
                .map_err(|e| ClusterError::Config(format!("excluding member {i} of composite {c}: {e}")))?;
        }
        let journal_dir = generation_dir(dir, generation);
        let jc = JournalConfig {
            durability,
            ..JournalConfig::new(&journal_dir, fingerprint)
        };
        let mut inner = Inner {
            journal: JournalWriter::open_after(jc, 0, rfq_journal::format::genesis(fingerprint))
                .map_err(|e| ClusterError::Start(e.to_string()))?,
            cfg,
            fingerprint,
            dir: dir.to_path_buf(),
            durability,
            core,
            hash: OutputHash::new(),
            outputs: 0,
            seq: 0,
            journal_dir,
            generation,
            applied: None,
            membership: StoredMembership::default(),
            current: None,
            snapshots_built: 0,
            snapshots_installed: 0,
            history: VecDeque::with_capacity(CLIENT_HISTORY),
        };
        if let Some(s) = stored {
            // the empty generation just created is replaced by one starting after the snapshot
            drop(std::fs::remove_dir_all(&inner.journal_dir));
            inner.generation = generation.saturating_sub(1);
            inner
                .load(s)
                .map_err(|e| ClusterError::Start(e.to_string()))?;
        }
        let committed_seq = Arc::new(CommitGate::new(inner.seq));
        Ok(StateMachine {
            inner: Arc::new(Mutex::new(inner)),
            committed_seq,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the state machine holds now.
    #[must_use]
    pub fn view(&self) -> StateView {
        let g = self.lock();
        StateView {
            applied: g.applied,
            seq: g.seq,
            state_hash: g.core.state_hash(),
            output_hash: g.hash.value(),
            journal_dir: g.journal_dir.clone(),
            snapshots_built: g.snapshots_built,
            snapshots_installed: g.snapshots_installed,
        }
    }

    /// The journal sequence number of the last applied (so committed) record, shared: the
    /// commit gate a leader's runner publishes up to.
    #[must_use]
    pub fn committed_seq(&self) -> Arc<CommitGate> {
        Arc::clone(&self.committed_seq)
    }

    /// The newest client answers of the committed log this node applied ([`CLIENT_HISTORY`] at
    /// most, oldest first): every firm quote side, execution report and quote end its core
    /// produced, since the node started (a snapshot installed from a leader leaves a gap: the
    /// answers of the entries it covers were never applied here). A new leader's gateway is
    /// seeded with them, so a client that lost its session in a failover can ask what became of
    /// its quotes (`QUOTE_STATUS`) and get its execution reports again (`EXEC_RESEND`). Taken
    /// while nothing is applied (a leader before it proposes), it matches
    /// [`StateMachine::committed_core`].
    #[must_use]
    pub fn client_history(&self) -> Vec<Record> {
        let g = self.lock();
        g.history.iter().copied().collect()
    }

    /// A copy of the committed state: a core restored from an engine snapshot of this node's
    /// core (which only ever saw committed blocks), and its anchor — journal sequence number,
    /// chain value and output-stream hash after the last applied record. What a runner that
    /// ran ahead of the commit (a leader that lost leadership) is rebuilt from: this core, a
    /// journal opened after the anchor (`JournalWriter::open_after`) and the output hash
    /// continued from it (`Runner::set_journal_with_hash`).
    ///
    /// # Errors
    /// The snapshot does not restore (a configuration the core refuses).
    pub fn committed_core(&self) -> Result<(Core, SnapshotAnchor), ClusterError> {
        let (bytes, anchor, cfg) = {
            let g = self.lock();
            let anchor = g.anchor();
            (g.core.snapshot_bytes(&anchor), anchor, g.cfg.clone())
        };
        let (core, _) = Core::restore(cfg, &mut &bytes[..])
            .map_err(|e| ClusterError::Config(format!("restoring the committed core: {e}")))?;
        Ok((core, anchor))
    }

    /// Makes the node's journal durable (its policy's sync) and returns its directory.
    ///
    /// # Errors
    /// The journal's I/O error.
    pub fn sync_journal(&self) -> Result<PathBuf, ClusterError> {
        let mut g = self.lock();
        g.journal
            .sync()
            .map_err(|e| ClusterError::Start(e.to_string()))?;
        Ok(g.journal_dir.clone())
    }
}

impl Inner {
    /// Replaces the state by snapshot `s` and starts a journal generation after it.
    fn load(&mut self, s: Stored) -> Result<(), StorageError> {
        let (core, h) = Core::restore(self.cfg.clone(), &mut &s.data[..]).map_err(snap_err)?;
        if h.anchor.fingerprint != self.fingerprint {
            return Err(snap_err(std::io::Error::other(format!(
                "snapshot of fingerprint {:#x}, this node's is {:#x}",
                h.anchor.fingerprint, self.fingerprint
            ))));
        }
        self.generation += 1;
        let journal_dir = generation_dir(&self.dir, self.generation);
        let jc = JournalConfig {
            durability: self.durability,
            ..JournalConfig::new(&journal_dir, self.fingerprint)
        };
        let journal =
            JournalWriter::open_after(jc, h.anchor.seq, h.anchor.chain).map_err(snap_err)?;
        if h.anchor.seq > 0 {
            write_snapshot_file(&journal_dir, &s.data).map_err(snap_err)?;
        }
        self.core = core;
        self.journal = journal;
        self.journal_dir = journal_dir;
        self.hash = OutputHash::from_value(h.anchor.out_hash);
        self.seq = h.anchor.seq;
        self.applied = s.meta.last_log_id;
        self.membership = s.meta.last_membership.clone();
        self.current = Some(s);
        Ok(())
    }

    /// Where the state stands in the node's journal: after the last applied record.
    fn anchor(&self) -> SnapshotAnchor {
        SnapshotAnchor {
            fingerprint: self.fingerprint,
            seq: self.seq,
            chain: self.journal.chain(),
            out_hash: self.hash.value(),
        }
    }

    fn snapshot(&self) -> Stored {
        let data = self.core.snapshot_bytes(&self.anchor());
        let id = self.applied.map_or_else(
            || "none".to_string(),
            |l| format!("{}-{}", l.leader_id, l.index),
        );
        let meta = SnapshotMeta {
            last_log_id: self.applied,
            last_membership: self.membership.clone(),
            snapshot_id: format!("{id}-seq{}", self.seq),
        };
        Stored { meta, data }
    }

    fn persist(&self, s: &Stored) -> Result<(), StorageError> {
        let meta = postcard::to_stdvec(&s.meta).map_err(snap_err)?;
        let len = (meta.len() as u32).to_le_bytes();
        replace_durably(&self.dir, SNAPSHOT_FILE, &[&len, &meta, &s.data]).map_err(snap_err)
    }
}

fn read_stored(path: &Path) -> std::io::Result<Option<Stored>> {
    let Some(bytes) = read_if_exists(path)? else {
        return Ok(None);
    };
    let bad = || {
        std::io::Error::other(format!("{}: damaged Raft snapshot file: remove it (the node then rebuilds from the log or the leader's snapshot)", path.display()))
    };
    let len = u32::from_le_bytes(
        bytes
            .get(0..4)
            .ok_or_else(bad)?
            .try_into()
            .expect("4 bytes"),
    ) as usize;
    let meta = postcard::from_bytes(bytes.get(4..4 + len).ok_or_else(bad)?).map_err(|_| bad())?;
    Ok(Some(Stored {
        meta,
        data: bytes[4 + len..].to_vec(),
    }))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let s = {
            let mut g = self.lock();
            let s = g.snapshot();
            g.persist(&s)?;
            g.current = Some(s.clone());
            g.snapshots_built += 1;
            s
        };
        Ok(Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<NodeId, Node>), StorageError> {
        let g = self.lock();
        Ok((g.applied, g.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = crate::Entry> + Send,
        I::IntoIter: Send,
    {
        let mut g = self.lock();
        let g = &mut *g;
        let mut out = Vec::new();
        for e in entries {
            g.applied = Some(e.log_id);
            let mut outputs = 0;
            match e.payload {
                EntryPayload::Blank => {}
                EntryPayload::Membership(m) => {
                    g.membership = StoredMembership::new(Some(e.log_id), m)
                }
                EntryPayload::Normal(block) => {
                    apply_block(g, &block, &mut outputs)?;
                }
            }
            out.push(Applied {
                last_seq: g.seq,
                outputs,
            });
        }
        self.committed_seq.advance(g.seq);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let s = Stored {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        let mut g = self.lock();
        // the journal so far stays as it is (a complete earlier generation); the new one starts
        // after the snapshot
        g.journal.sync().map_err(sm_err)?;
        g.load(s.clone())?;
        g.persist(&s)?;
        g.snapshots_installed += 1;
        self.committed_seq.advance(g.seq);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let g = self.lock();
        Ok(g.current.clone().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

/// Feeds one committed block to the core and journals it as one commit.
fn apply_block(g: &mut Inner, block: &Block, outputs: &mut u64) -> Result<(), StorageError> {
    if !block.is_well_formed() {
        return Err(sm_err(ClusterError::BadBlock));
    }
    if block.is_empty() {
        return Ok(());
    }
    for r in block.records() {
        let mut sink = HashSink {
            hash: &mut g.hash,
            n: outputs,
            history: &mut g.history,
        };
        g.core.process(&r, &mut sink);
        g.journal
            .append_marked(&r, g.hash.value())
            .map_err(sm_err)?;
    }
    g.outputs += *outputs;
    g.journal.commit().map_err(sm_err)?;
    g.seq = g.journal.committed_seq();
    Ok(())
}
