//! Three nodes in one process on loopback TCP, a network switch per cluster: replication of a
//! real input stream, leader death, a partitioned leader, a follower caught up by snapshot.
//! Liveness waits have generous bounds; nothing here asserts a speed.

use rfq_testkit::fixtures::{self as common, config, journal_stream, FP};
use rfq_cluster::{ClusterError, ClusterNode, LogSync, NetSwitch, NodeConfig, NodeId};
use rfq_engine::{list_snapshots, read_snapshot, replay_into, Core};
use rfq_journal::{JournalReader, OutputHash};
use rfq_ring::{kind, Record};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest any liveness wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

struct Cluster {
    nodes: BTreeMap<NodeId, Option<Arc<ClusterNode>>>,
    cfgs: BTreeMap<NodeId, NodeConfig>,
    switch: NetSwitch,
    /// Journal sequence number of the last block committed through [`Cluster::commit`].
    seq: AtomicU64,
    _dir: tempfile::TempDir,
}

fn node_cfg(id: NodeId, dir: &Path, switch: &NetSwitch) -> NodeConfig {
    let mut c = NodeConfig::new(id, dir.join(format!("node{id}")), config(), FP);
    c.heartbeat = Duration::from_millis(50);
    c.election_timeout = (Duration::from_millis(300), Duration::from_millis(600));
    c.snapshot_every = 0;
    c.switch = switch.clone();
    c
}

async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < PATIENCE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Cluster {
    async fn start(n: u64, tweak: impl Fn(&mut NodeConfig)) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let switch = NetSwitch::new();
        let mut nodes = BTreeMap::new();
        let mut cfgs = BTreeMap::new();
        for id in 1..=n {
            let mut c = node_cfg(id, dir.path(), &switch);
            tweak(&mut c);
            let node = ClusterNode::start(c.clone()).await.unwrap();
            c.listen = node.addr().to_string(); // a restart binds the same address
            cfgs.insert(id, c);
            nodes.insert(id, Some(Arc::new(node)));
        }
        let members: BTreeMap<NodeId, String> =
            cfgs.iter().map(|(&id, c)| (id, c.listen.clone())).collect();
        nodes[&1]
            .as_ref()
            .unwrap()
            .initialize(&members)
            .await
            .unwrap();
        let c = Cluster {
            nodes,
            cfgs,
            switch,
            seq: AtomicU64::new(0),
            _dir: dir,
        };
        c.leader().await;
        c
    }

    fn node(&self, id: NodeId) -> &Arc<ClusterNode> {
        self.nodes[&id].as_ref().expect("node is running")
    }

    fn live(&self) -> impl Iterator<Item = &Arc<ClusterNode>> {
        self.nodes.values().flatten()
    }

    /// The leader of the highest term among running nodes that are not cut off, once one is.
    async fn leader(&self) -> NodeId {
        wait_for("a leader", || {
            let st: Vec<_> = self
                .live()
                .filter(|n| !self.switch.cut(n.id(), 0))
                .map(|n| n.status())
                .collect();
            let term = st.iter().map(|s| s.term).max()?;
            st.iter()
                .find(|s| s.term == term && s.state == openraft::ServerState::Leader)
                .map(|s| s.id)
        })
        .await
    }

    /// Proposes `recs` as one block to the leader, retrying on another leader until it commits.
    /// A write whose outcome is in doubt (its leader lost the term while it was in flight) is
    /// resolved first: an empty block committed by the current leader commits everything before
    /// it, and the log position says whether the block is in — so no block is committed twice.
    async fn commit(&self, recs: &[Record]) -> u64 {
        let before = self.seq.load(Ordering::SeqCst);
        let t0 = Instant::now();
        loop {
            assert!(t0.elapsed() < PATIENCE, "no leader committed the block");
            let l = self.leader().await;
            match self.node(l).propose(recs).await {
                Ok(a) => {
                    assert_eq!(a.last_seq, before + recs.len() as u64);
                    self.seq.store(a.last_seq, Ordering::SeqCst);
                    return a.last_seq;
                }
                Err(ClusterError::NotLeader { .. }) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(ClusterError::NotCommitted(_)) => loop {
                    assert!(t0.elapsed() < PATIENCE, "no leader committed the barrier");
                    let l = self.leader().await;
                    if let Ok(a) = self.node(l).propose(&[]).await {
                        if a.last_seq == before + recs.len() as u64 {
                            self.seq.store(a.last_seq, Ordering::SeqCst);
                            return a.last_seq;
                        }
                        assert_eq!(a.last_seq, before, "the log moved by something else");
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                },
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Waits until every running node applied the leader's last applied entry; returns the
    /// (common) state hash after checking all are equal.
    async fn converge(&self) -> u64 {
        let l = self.leader().await;
        // the state machines themselves (Raft's metrics may trail them): all at one applied
        // entry, at least the leader's
        let target = self.node(l).state_machine().view().applied;
        let views = wait_for("every node to apply the leader's log", || {
            let vs: Vec<_> = self.live().map(|n| (n.id(), n.state_machine().view())).collect();
            let a0 = vs[0].1.applied;
            (a0 >= target && vs.iter().all(|(_, v)| v.applied == a0)).then_some(vs)
        })
        .await;
        let (_, v0) = &views[0];
        for (id, v) in &views {
            assert_eq!(
                v.state_hash, v0.state_hash,
                "node {id} state hash differs: {views:?}"
            );
            assert_eq!(v.seq, v0.seq, "node {id} journal seq differs");
            assert_eq!(
                v.output_hash, v0.output_hash,
                "node {id} output hash differs"
            );
        }
        v0.state_hash
    }

    async fn kill(&mut self, id: NodeId) {
        let n = self.nodes.get_mut(&id).unwrap().take().unwrap();
        n.shutdown().await;
    }

    async fn restart(&mut self, id: NodeId) {
        let n = ClusterNode::start(self.cfgs[&id].clone()).await.unwrap();
        self.nodes.insert(id, Some(Arc::new(n)));
    }

    async fn stop(self) {
        for n in self.live() {
            n.shutdown().await;
        }
    }
}

/// A single-node replay: a fresh core fed `recs` in order.
fn reference(recs: &[Record]) -> (u64, OutputHash) {
    let mut core = Core::new(config()).unwrap();
    let mut h = OutputHash::new();
    let mut out = Vec::new();
    for r in recs {
        out.clear();
        core.process(r, &mut out);
        out.iter().for_each(|o| h.push(o));
    }
    (core.state_hash(), h)
}

/// The records of a node's (complete) journal.
fn journal_records(node: &ClusterNode) -> Vec<Record> {
    let dir = node.state_machine().sync_journal().unwrap();
    let mut v = Vec::new();
    JournalReader::open(&dir, FP)
        .unwrap()
        .for_each_from(1, |_, r, _| v.push(*r))
        .unwrap();
    v
}

fn blocks(recs: &[Record], size: usize) -> Vec<Vec<Record>> {
    recs.chunks(size).map(<[Record]>::to_vec).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_stream_gives_every_node_the_single_node_state() {
    let c = Cluster::start(3, |n| n.log_sync = LogSync::Each).await;
    let stream = journal_stream(200, Some(150));
    let mut last = 0;
    for b in blocks(&stream, 13) {
        let seq = c.commit(&b).await;
        assert_eq!(seq, last + b.len() as u64, "the gate moves by the block");
        last = seq;
    }
    let hash = c.converge().await;
    let l = c.leader().await;
    for n in c.live() {
        assert_eq!(n.committed_seq(), stream.len() as u64, "node {}: the commit gate", n.id());
    }
    let (want, want_out) = reference(&stream);
    assert_eq!(
        hash, want,
        "every node's state is the single-node replay of the committed log"
    );
    assert!(c.node(l).state_machine().view().output_hash == want_out.value());
    for n in c.live() {
        // each node's own journal is exactly the stream, and replays to the same state
        assert_eq!(journal_records(n), stream, "node {}", n.id());
        let mut fresh = Core::new(config()).unwrap();
        let rep = replay_into(
            &mut fresh,
            &n.state_machine().view().journal_dir,
            FP,
            OutputHash::new(),
        )
        .unwrap();
        assert_eq!(rep.state_hash, want);
        assert_eq!(
            rep.first_divergence, None,
            "the journal's output marks match the replay"
        );
        assert_eq!(rep.marks_checked, stream.len() as u64);
        // the client answers a new leader's gateway is seeded with: exactly the single-node
        // run's firm quotes, execution reports and quote ends, in order
        let answers: Vec<Record> = outputs_of(&stream)
            .into_iter()
            .filter(|o| matches!(o.kind, kind::RFQ_QUOTE | kind::EXEC | kind::EXEC_FEES | kind::QUOTE_END))
            .collect();
        assert!(answers.iter().any(|o| o.kind == kind::EXEC), "the stream has fills");
        assert_eq!(n.client_history(), answers, "node {}", n.id());
    }
    // a follower refuses writes and names the leader
    let f = c.live().find(|n| n.id() != l).unwrap();
    match f.propose(&stream[..1]).await {
        Err(ClusterError::NotLeader { leader }) => assert!(leader.is_some_and(|x| x != f.id()), "{leader:?}"),
        other => panic!("follower accepted a write: {other:?}"),
    }
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_lossy_follower_link_delays_nothing_that_the_majority_can_commit() {
    let c = Cluster::start(3, |n| n.log_sync = LogSync::Each).await;
    let l = c.leader().await;
    let f = c.live().map(|n| n.id()).find(|&id| id != l).unwrap();
    // 20 ms each way and one request in five lost on every link of one follower
    let how = rfq_cluster::Impairment { delay: Duration::from_millis(20), loss_ppm: 200_000 };
    c.switch.impair(f, how);
    assert_eq!(c.switch.impairment(f), how);
    let stream = journal_stream(120, None);
    for b in blocks(&stream, 10) {
        c.commit(&b).await;
    }
    // the impaired follower catches up all the same (retries of lost requests), then healed
    let hash = c.converge().await;
    assert_eq!(hash, reference(&stream).0);
    // with both followers 20 ms away, a commit waits a round trip: the delay is a lower bound
    let other = c.live().map(|n| n.id()).find(|&id| id != l && id != f).unwrap();
    let slow = rfq_cluster::Impairment { delay: Duration::from_millis(20), loss_ppm: 0 };
    c.switch.impair(f, slow);
    c.switch.impair(other, slow);
    let tail = journal_stream(130, None)[stream.len()..].to_vec();
    let t0 = Instant::now();
    c.commit(&tail).await;
    assert!(t0.elapsed() >= Duration::from_millis(20), "{:?}", t0.elapsed());
    for id in [f, other] {
        c.switch.impair(id, rfq_cluster::Impairment::default());
    }
    assert_eq!(c.switch.impairment(f), rfq_cluster::Impairment::default());
    let stream: Vec<Record> = stream.iter().chain(&tail).copied().collect();
    assert_eq!(c.converge().await, reference(&stream).0);
    for n in c.live() {
        assert_eq!(journal_records(n), stream, "node {}", n.id());
    }
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_leader_is_replaced_and_no_committed_entry_is_lost() {
    let mut c = Cluster::start(3, |_| {}).await;
    let stream = journal_stream(300, None);
    let bl = blocks(&stream, 10);
    let half = bl.len() / 2;
    for b in &bl[..half] {
        c.commit(b).await;
    }
    let old = c.leader().await;
    let term = c.node(old).status().term;
    c.kill(old).await;
    // a new leader, of a later term, among the survivors
    let new = c.leader().await;
    assert_ne!(new, old);
    assert!(c.node(new).status().term > term);
    for b in &bl[half..] {
        c.commit(b).await;
    }
    let hash = c.converge().await;
    assert_eq!(hash, reference(&stream).0);
    for n in c.live() {
        assert_eq!(
            journal_records(n),
            stream,
            "node {}: every acknowledged block, once, in order",
            n.id()
        );
    }
    // the dead node comes back from its disk and catches up
    c.restart(old).await;
    let hash2 = c.converge().await;
    assert_eq!(hash2, hash);
    assert_eq!(
        journal_records(c.node(old)),
        stream,
        "the restarted node's new journal generation holds the whole log"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_commits_nothing_and_converges_after_healing() {
    let c = Cluster::start(3, |_| {}).await;
    let stream = journal_stream(120, None);
    let bl = blocks(&stream, 8);
    for b in &bl[..5] {
        c.commit(b).await;
    }
    let old = c.leader().await;
    let before = c.node(old).committed_seq();
    c.switch.isolate(old);
    // a write to the cut-off leader never commits: its gate does not move
    let lone = Arc::clone(c.node(old));
    let doomed: Vec<Record> = bl[5]
        .iter()
        .map(|r| Record {
            ts_send: 0x0BAD,
            ..*r
        })
        .collect();
    let doomed2 = doomed.clone();
    let pending = tokio::spawn(async move { lone.propose(&doomed2).await });
    // the majority elects another leader and goes on
    let new = c.leader().await;
    assert_ne!(new, old);
    for b in &bl[5..] {
        c.commit(b).await;
    }
    assert_eq!(
        c.node(old).committed_seq(),
        before,
        "the minority side committed nothing"
    );
    c.switch.heal(old);
    let res = tokio::time::timeout(PATIENCE, pending)
        .await
        .expect("the old leader's write ends once it hears the new term")
        .unwrap();
    assert!(
        res.is_err(),
        "the deposed leader's write must not be acknowledged: {res:?}"
    );
    let hash = c.converge().await;
    assert_eq!(
        hash,
        reference(&stream).0,
        "the old leader's uncommitted entry is gone everywhere"
    );
    for n in c.live() {
        let recs = journal_records(n);
        assert_eq!(recs, stream, "node {}", n.id());
        assert!(!recs.iter().any(|r| r.ts_send == 0x0BAD));
    }
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_far_behind_catches_up_from_a_snapshot_and_the_tail() {
    let mut c = Cluster::start(3, |n| {
        n.snapshot_every = 20;
        n.keep_after_snapshot = 5;
        // compact raft-log as soon as it has doubled (default: 1 MiB of growth first)
        n.log_compact_min = 0;
    })
    .await;
    let stream = journal_stream(400, Some(350));
    let bl = blocks(&stream, 6);
    for b in &bl[..10] {
        c.commit(b).await;
    }
    let l = c.leader().await;
    let lag = c.live().find(|n| n.id() != l).unwrap().id();
    c.switch.isolate(lag);
    for b in &bl[10..] {
        c.commit(b).await;
    }
    // the leader snapshotted and purged the entries the follower lacks
    let leader = c.node(c.leader().await);
    wait_for("the leader to purge its log", || {
        leader
            .raft()
            .metrics()
            .borrow()
            .purged
            .is_some_and(|p| p.index > 20)
            .then_some(())
    })
    .await;
    c.switch.heal(lag);
    let hash = c.converge().await;
    assert_eq!(hash, reference(&stream).0);
    let f = c.node(lag);
    let v = f.state_machine().view();
    assert!(v.snapshots_installed >= 1, "caught up by a snapshot: {v:?}");
    // the follower's journal generation after the snapshot recovers the same state:
    // its engine snapshot + the journal tail after its anchor
    f.state_machine().sync_journal().unwrap();
    let snaps = list_snapshots(&v.journal_dir).unwrap();
    let (_, path) = snaps
        .first()
        .expect("the installed snapshot is kept with the journal");
    let (h, bytes) = read_snapshot(path, Some(FP)).unwrap();
    let (mut core, _) = Core::restore(config(), &mut &bytes[..]).unwrap();
    let mut out = Vec::new();
    let sum = JournalReader::open_pruned(&v.journal_dir, FP)
        .unwrap()
        .for_each_after((h.anchor.seq, h.anchor.chain), |_, r, _| {
            core.process(r, &mut out)
        })
        .unwrap();
    assert_eq!(sum.last_seq, stream.len() as u64);
    assert_eq!(core.state_hash(), hash);
    // the nodes that purged compacted their raft-log (the flusher syncing the new file); one
    // restarted reopens the compacted log and the cluster goes on to the same state
    let other = c.live().map(|n| n.id()).find(|&id| id != lag).unwrap();
    let (bytes, compactions) = c.node(other).log_file_stats();
    assert!(compactions >= 1, "node {other}: raft-log {bytes} B, {compactions} compactions");
    assert_eq!(
        bytes,
        std::fs::metadata(c.cfgs[&other].dir.join("raft-log")).unwrap().len()
    );
    c.kill(other).await;
    c.restart(other).await;
    let tail = journal_stream(40, None);
    for b in blocks(&tail, 6) {
        c.commit(&b).await;
    }
    let all: Vec<Record> = stream.iter().chain(&tail).copied().collect();
    assert_eq!(c.converge().await, reference(&all).0);
    c.stop().await;
}

/// Outputs of a fresh core fed `recs`.
fn outputs_of(recs: &[Record]) -> Vec<Record> {
    let mut core = Core::new(config()).unwrap();
    let mut out = Vec::new();
    recs.iter().for_each(|r| core.process(r, &mut out));
    out
}

fn drain(c: &mut rfq_ring::Consumer) -> Vec<Record> {
    std::iter::from_fn(|| c.try_pop()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaders_runner_publishes_only_what_a_majority_committed() {
    use rfq_engine::Runner;
    use rfq_journal::{Durability, JournalWriter};
    use std::sync::atomic::AtomicU64;

    let c = Cluster::start(3, |_| {}).await;
    let l = c.leader().await;
    let leader = Arc::clone(c.node(l));
    // the leader's runner: journal, commit gate, and each committed journal block proposed
    let jdir = tempfile::tempdir().unwrap();
    let (mut runner, mut in_p, mut out_c) = common::journaled_runner(jdir.path(), Durability::None, 1 << 20);
    let gate = leader.commit_gate();
    let (blocks, mut cons) = rfq_engine::block_ring(64, 256).unwrap();
    runner.set_replication(Some(Arc::clone(&gate)), Some(blocks));
    // the proposer: takes each block off the ring, proposes it; a failed proposal is a loss
    // of leadership, reported to the runner through the gate
    let failed = Arc::new(AtomicU64::new(0));
    let (proposer, failed2, gate2) = (Arc::clone(&leader), Arc::clone(&failed), Arc::clone(&gate));
    tokio::spawn(async move {
        let mut b = Vec::new();
        loop {
            if !cons.pop_into(&mut b) {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            if proposer.propose(&b).await.is_err() {
                failed2.fetch_add(1, Ordering::SeqCst);
                gate2.lose_leadership();
            }
        }
    });
    let stream = journal_stream(200, None);
    let (part1, part2) = stream.split_at(stream.len() / 2);
    let feed = |runner: &mut Runner, in_p: &mut rfq_ring::Producer, recs: &[Record]| {
        for chunk in recs.chunks(32) {
            assert_eq!(in_p.push_slice(chunk), chunk.len());
            while runner.run_once(usize::MAX) > 0 {}
        }
    };
    // healthy: every output is published, once the cluster committed its input
    feed(&mut runner, &mut in_p, part1);
    let mut got = Vec::new();
    wait_for("the cluster to commit the first part", || {
        runner.poll_journal();
        got.extend(drain(&mut out_c));
        (leader.committed_seq() == part1.len() as u64).then_some(())
    })
    .await;
    runner.poll_journal();
    got.extend(drain(&mut out_c));
    assert_eq!(got, outputs_of(part1), "published = the outputs of the committed input");
    // the leader cut off: its runner goes on (speculatively) but publishes nothing
    c.switch.isolate(l);
    feed(&mut runner, &mut in_p, part2);
    assert_eq!(runner.journal().unwrap().durable_seq(), stream.len() as u64, "journaled and durable locally");
    for _ in 0..30 {
        runner.poll_journal();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(drain(&mut out_c).is_empty(), "nothing published without a majority");
    assert_eq!(leader.committed_seq(), part1.len() as u64);
    let speculative = runner.core().state_hash();
    // the majority elects another leader meanwhile
    let new = c.leader().await;
    assert_ne!(new, l);
    runner.poll_journal();
    assert!(drain(&mut out_c).is_empty(), "still nothing published");
    // healed: the majority's log wins, the blocks of the cut-off leader are never committed
    c.switch.heal(l);
    wait_for("the cut-off leader's proposals to fail", || (failed.load(Ordering::SeqCst) > 0).then_some(())).await;
    let committed = c.converge().await;
    assert_eq!(committed, reference(part1).0, "the cluster holds exactly the committed part");
    assert_ne!(speculative, committed, "the runner's core ran ahead: rebuild it from the committed log, never trust it");
    runner.poll_journal();
    assert!(drain(&mut out_c).is_empty(), "the speculative outputs are never published");
    assert!(runner.leadership_lost(), "the runner knows it lost leadership");
    assert_eq!(in_p.push_slice(&part2[..4]), 4);
    assert_eq!(runner.run_once(usize::MAX), 0, "and consumes no more input");
    // rebuilt from the committed state: the node's committed core, a journal after its anchor,
    // the output hash continued
    let (core, anchor) = leader.committed_core().unwrap();
    assert_eq!(core.state_hash(), committed);
    assert_eq!(anchor.seq, part1.len() as u64);
    let jdir2 = tempfile::tempdir().unwrap();
    let j2 = JournalWriter::open_after(common::jcfg(jdir2.path(), Durability::None, 1 << 20), anchor.seq, anchor.chain).unwrap();
    *runner.core_mut() = core;
    runner.set_journal_with_hash(j2, rfq_journal::OutputHash::from_value(anchor.out_hash));
    assert!(!runner.leadership_lost());
    assert_eq!(runner.core().state_hash(), committed, "the speculative state is gone");
    // it goes on from the committed state exactly as a single node would (here unreplicated:
    // leading again needs an election this node wins)
    feed(&mut runner, &mut in_p, &part2[4..]);
    runner.flush_journal();
    assert_eq!(runner.journal().unwrap().committed_seq(), stream.len() as u64, "its journal continues the committed log");
    assert_eq!(runner.core().state_hash(), reference(&stream).0);
    assert_eq!(runner.output_hash(), Some(reference(&stream).1.value()), "the output hash continues the committed one");
    let single = outputs_of(&stream);
    assert_eq!(drain(&mut out_c), single[outputs_of(part1).len()..], "the outputs of the rest, after the committed part's");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaders_runner_stops_when_its_term_ends_with_no_proposal_in_flight() {
    use rfq_journal::Durability;

    let c = Cluster::start(3, |_| {}).await;
    let l = c.leader().await;
    let leader = Arc::clone(c.node(l));
    let gate = leader.commit_gate();
    let jdir = tempfile::tempdir().unwrap();
    let (mut runner, mut in_p, mut out_c) = common::journaled_runner(jdir.path(), Durability::None, 1 << 20);
    // nobody proposes: only the end of the term can tell the runner
    let (blocks, _cons) = rfq_engine::block_ring(8, 256).unwrap();
    runner.set_replication(Some(Arc::clone(&gate)), Some(blocks));
    let stream = journal_stream(20, None);
    assert_eq!(in_p.push_slice(&stream[..10]), 10);
    assert!(runner.run_once(usize::MAX) > 0, "a leader's runner consumes input");
    runner.poll_journal();
    assert!(!runner.leadership_lost());
    // cut off, a new leader elected, healed: the old leader hears the later term and steps down
    c.switch.isolate(l);
    let new = c.leader().await;
    assert_ne!(new, l);
    c.switch.heal(l);
    wait_for("the old leader's term to end on its gate", || (gate.losses() > 0).then_some(())).await;
    runner.poll_journal();
    assert!(runner.leadership_lost(), "the end of its term stopped the runner");
    assert!(drain(&mut out_c).is_empty(), "nothing it ran ahead with is published");
    assert_eq!(in_p.push_slice(&stream[10..20]), 10);
    assert_eq!(runner.run_once(usize::MAX), 0, "no more input consumed");
    c.stop().await;
}
