//! A cluster's configuration file (`cluster.toml`) and a node's data-directory lock.
//!
//! ```toml
//! [cluster]
//! heartbeat_ms = 50
//! election_timeout_ms = [400, 800]
//! log_sync = "each"            # "each" | "group" | "none" (docs/cluster.md, LogSync)
//! snapshot_every = 10000       # entries between snapshots (0: never)
//! keep_after_snapshot = 1000
//! bootstrap = 1                # the node that forms the cluster on its first start (default: lowest id)
//!
//! [[node]]
//! id = 1
//! addr = "10.0.0.1:7100"       # Raft traffic between the nodes
//! status = "0.0.0.0:7101"      # status requests (crate::status)
//! dir = "node1"                # data directory; relative to the file's directory
//! ```
//!
//! Every error is one line naming the file and what to change.

use crate::{ClusterError, LogSync, NodeConfig, NodeId};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Timings and policies shared by every node.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// Leader heartbeat interval (ms).
    pub heartbeat_ms: u64,
    /// Election timeout range (ms): a follower that hears no leader for a random time in it
    /// starts an election.
    pub election_timeout_ms: [u64; 2],
    /// Raft log durability: `"each"`, `"group"` or `"none"`.
    pub log_sync: String,
    /// `"group"`: appends per fdatasync at most.
    pub group_max_entries: u32,
    /// `"group"`: longest wait for a group (µs).
    pub group_max_delay_us: u64,
    /// Entries between snapshots (0: never).
    pub snapshot_every: u64,
    /// Entries kept in the log after a snapshot.
    pub keep_after_snapshot: u64,
    /// The node that forms the cluster on its first start (default: the lowest id).
    pub bootstrap: Option<NodeId>,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            heartbeat_ms: 50,
            election_timeout_ms: [400, 800],
            log_sync: "each".into(),
            group_max_entries: 64,
            group_max_delay_us: 1000,
            snapshot_every: 10_000,
            keep_after_snapshot: 1_000,
            bootstrap: None,
        }
    }
}

/// One node of the cluster.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// Its id (≥ 1, unique).
    pub id: NodeId,
    /// `host:port` its peers reach it at (and it listens on).
    pub addr: String,
    /// `host:port` it answers status requests on.
    pub status: String,
    /// Its data directory (relative paths: to the configuration file's directory).
    pub dir: PathBuf,
}

/// A generated load for drills and tests (`cluster_node`): the leader proposes the records of
/// the test input stream (`rfq_testkit::fixtures::journal_stream(steps)`) in blocks, continuing
/// from the committed position after every failover.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    /// Steps of the generated stream (about 1.2 records each).
    pub steps: i64,
    /// Records per proposed block.
    #[serde(default = "default_block")]
    pub block: usize,
    /// Pause after each committed block (ms).
    #[serde(default)]
    pub interval_ms: u64,
}

fn default_block() -> usize {
    32
}

/// A parsed, checked `cluster.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Timings and policies.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// The nodes.
    #[serde(rename = "node", default)]
    pub nodes: Vec<NodeEntry>,
    /// A generated load (drills and tests only).
    #[serde(default)]
    pub load: Option<LoadSection>,
    #[serde(skip)]
    path: PathBuf,
}

fn bad(path: &Path, why: impl std::fmt::Display) -> ClusterError {
    ClusterError::Config(format!("{}: {why}", path.display()))
}

impl ClusterFile {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// [`ClusterError::Config`], one line: the file cannot be read, is not valid TOML (with the
    /// line), has an unknown key, or describes an unusable cluster.
    pub fn load(path: &Path) -> Result<ClusterFile, ClusterError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(path, format!("cannot read it ({e}): give the path of a cluster.toml")))?;
        ClusterFile::parse(&text, path)
    }

    /// Parses and checks `text` (read from `path`; relative data directories are resolved
    /// against its directory).
    ///
    /// # Errors
    /// As [`ClusterFile::load`].
    pub fn parse(text: &str, path: &Path) -> Result<ClusterFile, ClusterError> {
        let mut f: ClusterFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map_or(0, |s| text.bytes().take(s.start).filter(|&b| b == b'\n').count() + 1);
            let msg = e.message().replace('\n', " ");
            bad(path, format!("line {line}: {msg}"))
        })?;
        f.path = path.to_path_buf();
        let base = path.parent().unwrap_or(Path::new("."));
        for n in &mut f.nodes {
            if n.dir.is_relative() {
                n.dir = base.join(&n.dir);
            }
        }
        f.check()?;
        Ok(f)
    }

    fn check(&self) -> Result<(), ClusterError> {
        let p = &self.path;
        if self.nodes.is_empty() {
            return Err(bad(p, "no [[node]] sections: list the cluster's nodes (id, addr, status, dir)"));
        }
        if self.nodes.len() % 2 == 0 {
            return Err(bad(p, format!("{} nodes: a Raft cluster needs an odd number (3 or 5) so that a majority survives a partition", self.nodes.len())));
        }
        let mut seen = BTreeMap::new();
        for n in &self.nodes {
            if n.id == 0 {
                return Err(bad(p, "node id 0: ids start at 1"));
            }
            if seen.insert(n.id, ()).is_some() {
                return Err(bad(p, format!("node id {} appears twice: each node needs its own id", n.id)));
            }
        }
        for (i, a) in self.nodes.iter().enumerate() {
            for b in &self.nodes[i + 1..] {
                if a.addr == b.addr || a.dir == b.dir {
                    let what = if a.addr == b.addr { "addr" } else { "dir" };
                    return Err(bad(p, format!("nodes {} and {} have the same {what}: each node needs its own", a.id, b.id)));
                }
            }
        }
        let c = &self.cluster;
        let [lo, hi] = c.election_timeout_ms;
        if lo >= hi || c.heartbeat_ms == 0 || c.heartbeat_ms >= lo {
            return Err(bad(p, format!("heartbeat_ms {} and election_timeout_ms [{lo}, {hi}]: need 0 < heartbeat < min < max (e.g. 50 and [400, 800])", c.heartbeat_ms)));
        }
        self.log_sync()?;
        if let Some(b) = c.bootstrap {
            if !seen.contains_key(&b) {
                return Err(bad(p, format!("bootstrap = {b} is not a node of the cluster ({})", self.ids())));
            }
        }
        if let Some(l) = &self.load {
            if l.steps <= 0 || l.block == 0 {
                return Err(bad(p, "[load]: steps and block must be positive"));
            }
        }
        Ok(())
    }

    fn ids(&self) -> String {
        let v: Vec<String> = self.nodes.iter().map(|n| n.id.to_string()).collect();
        format!("nodes {}", v.join(", "))
    }

    /// The Raft log policy.
    ///
    /// # Errors
    /// An unknown policy name.
    pub fn log_sync(&self) -> Result<LogSync, ClusterError> {
        let c = &self.cluster;
        match c.log_sync.as_str() {
            "each" => Ok(LogSync::Each),
            "none" => Ok(LogSync::None),
            "group" => Ok(LogSync::Group {
                max_entries: c.group_max_entries.max(1),
                max_delay: Duration::from_micros(c.group_max_delay_us),
            }),
            other => Err(bad(&self.path, format!("log_sync = {other:?}: use \"each\", \"group\" or \"none\""))),
        }
    }

    /// Node `id`'s entry.
    ///
    /// # Errors
    /// `id` is not in the file.
    pub fn node(&self, id: NodeId) -> Result<&NodeEntry, ClusterError> {
        self.nodes.iter().find(|n| n.id == id).ok_or_else(|| {
            bad(&self.path, format!("has no node {id} ({}): pick one of them with --node", self.ids()))
        })
    }

    /// The node that forms the cluster on its first start.
    #[must_use]
    pub fn bootstrap(&self) -> NodeId {
        self.cluster
            .bootstrap
            .unwrap_or_else(|| self.nodes.iter().map(|n| n.id).min().unwrap_or(1))
    }

    /// Every node's id and address (the membership).
    #[must_use]
    pub fn members(&self) -> BTreeMap<NodeId, String> {
        self.nodes.iter().map(|n| (n.id, n.addr.clone())).collect()
    }

    /// Node `id`'s [`NodeConfig`] running `core` (the same on every node).
    ///
    /// # Errors
    /// As [`ClusterFile::node`].
    pub fn node_config(
        &self,
        id: NodeId,
        core: rfq_engine::CoreConfig,
        fingerprint: u64,
    ) -> Result<NodeConfig, ClusterError> {
        let n = self.node(id)?;
        let c = &self.cluster;
        let mut cfg = NodeConfig::new(id, &n.dir, core, fingerprint);
        cfg.listen.clone_from(&n.addr);
        cfg.heartbeat = Duration::from_millis(c.heartbeat_ms);
        cfg.election_timeout = (
            Duration::from_millis(c.election_timeout_ms[0]),
            Duration::from_millis(c.election_timeout_ms[1]),
        );
        cfg.log_sync = self.log_sync()?;
        cfg.snapshot_every = c.snapshot_every;
        cfg.keep_after_snapshot = c.keep_after_snapshot;
        Ok(cfg)
    }
}

/// Takes the exclusive lock of data directory `dir` (`dir/LOCK`, `flock`), creating it: two
/// node processes on one directory would corrupt each other's log. Held while the returned file
/// is open (the kernel drops it when the process dies, also by `kill -9`).
///
/// # Errors
/// [`ClusterError::Start`]: the directory cannot be made, or another process holds it.
pub fn lock_data_dir(dir: &Path) -> Result<File, ClusterError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ClusterError::Start(format!("data directory {}: {e}", dir.display())))?;
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))
        .map_err(|e| ClusterError::Start(format!("data directory {}: {e}", dir.display())))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|e| {
        if e == rustix::io::Errno::WOULDBLOCK {
            ClusterError::Start(format!(
                "data directory {} is in use by another node process: stop it, or give this node its own dir",
                dir.display()
            ))
        } else {
            ClusterError::Start(format!("locking data directory {}: {e}", dir.display()))
        }
    })?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[cluster]
election_timeout_ms = [300, 600]
log_sync = "none"

[[node]]
id = 1
addr = "127.0.0.1:7100"
status = "127.0.0.1:7101"
dir = "n1"

[[node]]
id = 2
addr = "127.0.0.1:7200"
status = "127.0.0.1:7201"
dir = "/abs/n2"

[[node]]
id = 3
addr = "127.0.0.1:7300"
status = "127.0.0.1:7301"
dir = "n3"
"#;

    fn err(text: &str) -> String {
        let e = ClusterFile::parse(text, Path::new("/etc/c/cluster.toml")).unwrap_err();
        let s = e.to_string();
        assert!(!s.contains('\n'), "one line: {s}");
        s
    }

    #[test]
    fn a_good_file_gives_each_node_its_config() {
        let f = ClusterFile::parse(GOOD, Path::new("/etc/c/cluster.toml")).unwrap();
        assert_eq!(f.nodes[0].dir, Path::new("/etc/c/n1"));
        assert_eq!(f.nodes[1].dir, Path::new("/abs/n2"));
        assert_eq!(f.bootstrap(), 1);
        assert_eq!(f.members().len(), 3);
        assert_eq!(f.log_sync().unwrap(), LogSync::None);
        assert!(f.load.is_none());
        let n = f.node(2).unwrap();
        assert_eq!(n.status, "127.0.0.1:7201");
    }

    #[test]
    fn every_bad_file_is_one_line_saying_what_to_change() {
        assert!(err("[[node]]\nid = 1\naddr = 7\n").contains("line 3"), "{}", err("[[node]]\nid = 1\naddr = 7\n"));
        assert!(err(&GOOD.replace("log_sync", "log_sink")).contains("unknown field"));
        assert!(err(&GOOD.replace("\"none\"", "\"sometimes\"")).contains("use \"each\", \"group\" or \"none\""));
        let two = GOOD.rsplit_once("[[node]]").unwrap().0;
        assert!(err(two).contains("odd number"));
        assert!(err(&GOOD.replace("id = 3", "id = 2")).contains("appears twice"));
        assert!(err(&GOOD.replace("7300", "7200")).contains("same addr"));
        assert!(err(&GOOD.replace("[300, 600]", "[600, 300]")).contains("election_timeout_ms"));
        assert!(err("").contains("no [[node]]"));
        let f = ClusterFile::parse(GOOD, Path::new("/etc/c/cluster.toml")).unwrap();
        let e = f.node(4).unwrap_err().to_string();
        assert!(e.contains("has no node 4 (nodes 1, 2, 3)"), "{e}");
    }

    #[test]
    fn a_data_directory_is_held_by_one_process() {
        let d = tempfile::tempdir().unwrap();
        let held = lock_data_dir(d.path()).unwrap();
        let e = lock_data_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("is in use by another node process"), "{e}");
        drop(held);
        lock_data_dir(d.path()).unwrap();
    }
}
