//! `cluster_node` as processes on loopback: three nodes under the generated load, the leader
//! killed (SIGKILL) and restarted, the load held, then every node's status and journal checked
//! against a single-node run of the committed records. One-line errors for a bad command line, a
//! bad configuration, an unknown node and a data directory in use. Liveness waits are bounded
//! generously; nothing here asserts a speed. (The same under network namespaces, with more
//! kills and a partition: tests/test_cluster_processes.py.)

use rfq_cluster::status::request;
use rfq_cluster::StatusReport;
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cluster_node");
const PATIENCE: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Nodes {
    cfg: PathBuf,
    status: Vec<String>,
    procs: Vec<Option<Child>>,
    _dir: tempfile::TempDir,
}

impl Nodes {
    fn new(n: usize, steps: i64) -> Nodes {
        let dir = tempfile::tempdir().unwrap();
        let mut text = format!(
            "[cluster]\nheartbeat_ms = 50\nelection_timeout_ms = [300, 600]\nlog_sync = \"none\"\nsnapshot_every = 0\n\n\
             [load]\nsteps = {steps}\nblock = 16\ninterval_ms = 5\n"
        );
        let mut status = Vec::new();
        for id in 1..=n {
            let s = format!("127.0.0.1:{}", free_port());
            text += &format!("\n[[node]]\nid = {id}\naddr = \"127.0.0.1:{}\"\nstatus = \"{s}\"\ndir = \"node{id}\"\n", free_port());
            status.push(s);
        }
        let cfg = dir.path().join("cluster.toml");
        std::fs::write(&cfg, text).unwrap();
        let mut c = Nodes { cfg, status, procs: Vec::new(), _dir: dir };
        for i in 0..n {
            let p = c.spawn(i);
            c.procs.push(Some(p));
        }
        c
    }

    fn spawn(&self, i: usize) -> Child {
        Command::new(BIN)
            .args(["--config", self.cfg.to_str().unwrap(), "--node", &(i + 1).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn status(&self, i: usize) -> Option<StatusReport> {
        request(&self.status[i], "status", Duration::from_secs(2)).ok()
    }

    /// The leader of the highest term among the running nodes, once there is one.
    fn leader(&self) -> usize {
        wait_for("a leader", || {
            let st: Vec<(usize, StatusReport)> = (0..self.procs.len())
                .filter(|&i| self.procs[i].is_some())
                .filter_map(|i| self.status(i).map(|s| (i, s)))
                .collect();
            let term = st.iter().map(|(_, s)| s.term).max()?;
            st.iter().find(|(_, s)| s.term == term && s.role == "leader").map(|(i, _)| *i)
        })
    }

    fn kill(&mut self, i: usize) {
        let mut p = self.procs[i].take().unwrap();
        p.kill().unwrap(); // SIGKILL
        p.wait().unwrap();
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().flatten() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn check_journal(cfg: &Path, dir: &str) -> Value {
    let out = Command::new(BIN).args(["--config", cfg.to_str().unwrap(), "--check-journal", dir]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn processes_survive_a_killed_leader_and_agree_with_a_single_node_run() {
    let mut c = Nodes::new(3, 200_000);
    let l = c.leader();
    let acked = wait_for("the load to commit", || c.status(l).filter(|s| s.journal_seq > 200).map(|s| s.journal_seq));
    let term = c.status(l).unwrap().term;
    c.kill(l);
    let l2 = c.leader();
    assert_ne!(l2, l);
    let s2 = wait_for("the new leader to continue the load", || c.status(l2).filter(|s| s.journal_seq > acked + 200));
    assert!(s2.term > term, "a later term: {s2:?}");
    let p = c.spawn(l);
    c.procs[l] = Some(p);
    wait_for("the restarted node to catch up", || {
        let (a, b) = (c.status(l)?, c.status(l2)?);
        (a.journal_seq > s2.journal_seq && b.journal_seq > s2.journal_seq).then_some(())
    });
    for i in 0..3 {
        wait_for("hold", || request(&c.status[i], "hold", Duration::from_secs(2)).ok());
    }
    // held: the log stops growing; every node applies all of it
    let end: Vec<StatusReport> = wait_for("every node at one position", || {
        let st: Vec<StatusReport> = (0..3).map(|i| c.status(i)).collect::<Option<_>>()?;
        let first = &st[0];
        let same = st.iter().all(|s| s.applied_index == first.applied_index && s.journal_seq == first.journal_seq);
        std::thread::sleep(Duration::from_millis(300));
        let again: Vec<StatusReport> = (0..3).map(|i| c.status(i)).collect::<Option<_>>()?;
        (same && again == st).then_some(st)
    });
    let n = end[0].journal_seq;
    assert!(n > s2.journal_seq, "nothing acknowledged is lost");
    for s in &end {
        assert_eq!(s.state_hash, end[0].state_hash, "node {}'s state: {end:?}", s.id);
        assert_eq!(s.output_hash, end[0].output_hash, "node {}'s outputs", s.id);
        assert!(s.held);
    }
    for i in 0..3 {
        c.kill(i);
    }
    for s in &end {
        let j = check_journal(&c.cfg, &s.journal_dir);
        assert_eq!(j["records"], n, "node {}: journal holds every committed record once: {j}", s.id);
        assert_eq!(j["matches_stream"], true, "node {}: exactly the stream, in order: {j}", s.id);
        assert_eq!(j["first_divergence"], Value::Null, "{j}");
        assert_eq!(j["marks_checked"], n);
        assert_eq!(j["state_hash"], s.state_hash, "the journal replays to the node's state");
        assert_eq!(j["reference_state_hash"], s.state_hash, "a single-node run of the records gives the same state");
        assert_eq!(j["reference_output_hash"], s.output_hash);
    }
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    assert!(!err.contains('\n'), "one line: {err}");
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn bad_invocations_get_one_line_each() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("cluster.toml");
    let (code, e) = run(&["--config", cfg.to_str().unwrap(), "--node", "1"]);
    assert_eq!(code, 2);
    assert!(e.contains("cannot read it"), "{e}");
    std::fs::write(&cfg, "[cluster\n").unwrap();
    let (_, e) = run(&["--config", cfg.to_str().unwrap(), "--node", "1"]);
    assert!(e.contains("line 1"), "{e}");
    let (sa, sb) = (free_port(), free_port());
    std::fs::write(
        &cfg,
        format!("[[node]]\nid = 1\naddr = \"127.0.0.1:{}\"\nstatus = \"127.0.0.1:{sa}\"\ndir = \"n1\"\n", free_port()),
    )
    .unwrap();
    let (code, e) = run(&["--config", cfg.to_str().unwrap(), "--node", "2"]);
    assert_eq!(code, 2);
    assert!(e.contains("has no node 2 (nodes 1)"), "{e}");
    let (_, e) = run(&["--config", cfg.to_str().unwrap(), "--node", "x"]);
    assert!(e.contains("not a node id"), "{e}");
    let (_, e) = run(&["--frobnicate"]);
    assert!(e.contains("unknown argument"), "{e}");
    let (_, e) = run(&["--status", &format!("127.0.0.1:{sb}")]);
    assert!(e.contains("is the node running?"), "{e}");
    // a second process on a running node's data directory
    let mut first = Command::new(BIN).args(["--config", cfg.to_str().unwrap(), "--node", "1"]).stderr(Stdio::null()).spawn().unwrap();
    wait_for("the node", || request(&format!("127.0.0.1:{sa}"), "status", Duration::from_secs(1)).ok());
    let (code, e) = run(&["--config", cfg.to_str().unwrap(), "--node", "1"]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(code, 2);
    assert!(e.contains("is in use by another node process"), "{e}");
}
