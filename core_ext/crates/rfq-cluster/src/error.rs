//! Errors of a cluster node, each one line.

use crate::NodeId;
use std::fmt;

/// What went wrong in a cluster node.
#[derive(Debug)]
pub enum ClusterError {
    /// This node is not the leader (a write must go to `leader`, if one is known).
    NotLeader {
        /// The leader this node knows of.
        leader: Option<NodeId>,
    },
    /// An entry could not be committed (the leader lost its majority, stepped down, or shut down).
    NotCommitted(String),
    /// The node's configuration is unusable.
    Config(String),
    /// Starting the node failed (bind, storage, journal).
    Start(String),
    /// A block with a partial record.
    BadBlock,
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::NotLeader { leader: Some(l) } => write!(f, "this node is not the leader: send writes to node {l}"),
            ClusterError::NotLeader { leader: None } => write!(f, "this node is not the leader and no leader is known: wait for an election and retry"),
            ClusterError::NotCommitted(why) => write!(f, "entry not committed ({why}): the outcome is decided by the log; read it back from the new leader"),
            ClusterError::Config(why) => write!(f, "cluster configuration: {why}"),
            ClusterError::Start(why) => write!(f, "cluster node could not start: {why}"),
            ClusterError::BadBlock => write!(f, "block bytes are not whole 64-byte records"),
        }
    }
}

impl std::error::Error for ClusterError {}
