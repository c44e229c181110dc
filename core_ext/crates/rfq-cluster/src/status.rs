//! A node's status port: one request line, one JSON answer line, on plain TCP.
//!
//! | request | answer |
//! |---|---|
//! | `status` | a [`StatusReport`]: role, term, leader, log position, applied id, journal seq, state and output hashes |
//! | `hold` | stops the node's load (it proposes nothing new; `cluster_node`), then the report |
//! | `impair DELAY_US LOSS_PPM` | delay and loss on every link of the node (drills: a slow or lossy follower link; `impair 0 0` clears), then the report |
//! | anything else | `{"error": "..."}` |
//!
//! `rfqcore cluster status` (`src/rfqcore/cluster_cli.py`, in Python) and the process tests read
//! it; [`request`] is the Rust client side.

use crate::{ClusterError, ClusterNode, NodeId};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a node reports about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The node.
    pub id: NodeId,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: String,
    /// Current term.
    pub term: u64,
    /// The leader this node knows of.
    pub leader: Option<NodeId>,
    /// Index of the last entry of its Raft log.
    pub last_log_index: Option<u64>,
    /// Term and index of the last entry its state machine applied.
    pub applied_term: Option<u64>,
    /// See `applied_term`.
    pub applied_index: Option<u64>,
    /// Journal sequence number of the last applied (committed) record.
    pub journal_seq: u64,
    /// `Core::state_hash` of its state machine's core.
    pub state_hash: u64,
    /// Output-stream hash of that core.
    pub output_hash: u64,
    /// Its current journal generation.
    pub journal_dir: String,
    /// Whether its load is held (`hold`).
    pub held: bool,
}

impl StatusReport {
    /// The report of `node` now.
    #[must_use]
    pub fn of(node: &ClusterNode, held: bool) -> StatusReport {
        let s = node.status();
        StatusReport {
            id: s.id,
            role: format!("{:?}", s.state).to_lowercase(),
            term: s.term,
            leader: s.leader,
            last_log_index: s.last_log_index,
            applied_term: s.sm.applied.map(|l| l.leader_id.term),
            applied_index: s.sm.applied.map(|l| l.index),
            journal_seq: s.sm.seq,
            state_hash: s.sm.state_hash,
            output_hash: s.sm.output_hash,
            journal_dir: s.sm.journal_dir.display().to_string(),
            held,
        }
    }
}

#[derive(Serialize)]
struct Refusal {
    error: String,
}

/// Answers status requests for `node` on `listener` until the task is dropped; `hold` is set by
/// a `hold` request.
pub async fn serve_status(listener: TcpListener, node: Arc<ClusterNode>, hold: Arc<AtomicBool>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let node = Arc::clone(&node);
        let hold = Arc::clone(&hold);
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut lines = tokio::io::BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let answer = match line.trim() {
                    "status" => serde_json::to_string(&StatusReport::of(&node, hold.load(Ordering::SeqCst))),
                    "hold" => {
                        hold.store(true, Ordering::SeqCst);
                        serde_json::to_string(&StatusReport::of(&node, true))
                    }
                    other if other.starts_with("impair") => match parse_impair(other) {
                        Ok(how) => {
                            node.switch().impair(node.id(), how);
                            serde_json::to_string(&StatusReport::of(&node, hold.load(Ordering::SeqCst)))
                        }
                        Err(error) => serde_json::to_string(&Refusal { error }),
                    },
                    other => serde_json::to_string(&Refusal {
                        error: format!("unknown request {other:?}: send `status`, `hold` or `impair DELAY_US LOSS_PPM`"),
                    }),
                };
                let Ok(mut a) = answer else { return };
                a.push('\n');
                if w.write_all(a.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// `impair DELAY_US LOSS_PPM`: delay (µs) and loss (per million) on every link of the node
/// (`impair 0 0` clears it).
fn parse_impair(line: &str) -> Result<crate::Impairment, String> {
    let bad = || format!("{line:?}: expected `impair DELAY_US LOSS_PPM` (e.g. `impair 100 0`; `impair 0 0` clears)");
    let mut it = line.split_whitespace().skip(1);
    let (Some(d), Some(l), None) = (it.next(), it.next(), it.next()) else { return Err(bad()) };
    let delay_us: u64 = d.parse().map_err(|_| bad())?;
    let loss_ppm: u32 = l.parse().map_err(|_| bad())?;
    if loss_ppm > 1_000_000 || delay_us > 10_000_000 {
        return Err(format!("{line:?}: loss is at most 1000000 ppm and delay at most 10 s"));
    }
    Ok(crate::Impairment { delay: Duration::from_micros(delay_us), loss_ppm })
}

/// Sends `what` (`status` or `hold`) to the status port at `addr` and reads the report.
///
/// # Errors
/// [`ClusterError::Start`] (one line): the node does not answer within `timeout`, or answers
/// something else.
pub fn request(addr: &str, what: &str, timeout: Duration) -> Result<StatusReport, ClusterError> {
    let fail = |why: String| ClusterError::Start(format!("status of {addr}: {why}"));
    let sa = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .map_err(|e| fail(format!("bad address ({e})")))?
        .next()
        .ok_or_else(|| fail("no address".into()))?;
    let mut s = std::net::TcpStream::connect_timeout(&sa, timeout)
        .map_err(|e| fail(format!("{e}: is the node running?")))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| fail(e.to_string()))?;
    s.write_all(format!("{what}\n").as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| fail(e.to_string()))?;
    serde_json::from_str(&line).map_err(|_| fail(format!("unexpected answer {:?}", line.trim())))
}
