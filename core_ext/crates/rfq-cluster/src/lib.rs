//! State-machine replication of the core's input journal on Raft (crate `openraft`).
//!
//! The core is deterministic: its state is a pure function of the merged input records it
//! consumed (docs/journal.md). Replicating that input log across an odd number of nodes and
//! running the same core on every node gives a hot standby. This crate does the replication
//! (docs/cluster.md):
//!
//! - **log entries** are the journal's commit blocks: one [`Block`] = the 64-byte records of one
//!   commit, in the ring layout;
//! - **Raft** (openraft 0.9): election, replication, commit by majority, fencing by term. A
//!   leader that lost its majority commits nothing: [`ClusterNode::propose`] never returns `Ok`
//!   for an entry a majority does not hold;
//! - **log storage** ([`LogStore`]): an append-only file of CRC-framed operations plus a vote
//!   file, durable per [`LogSync`] (fdatasync per append, group fdatasync, or none);
//! - **state machine** ([`StateMachine`]): a [`rfq_engine::Core`] built from the node's
//!   configuration, fed every committed block in order (the replay path) and journaling it into
//!   the node's own `rfq-journal`; Raft snapshots are engine snapshots anchored in that journal;
//! - **network** ([`network`]): TCP between nodes, length-prefixed postcard frames, with a
//!   [`NetSwitch`] that cuts a node off (partitions, in tests and fault drills);
//! - **commit gate**: [`ClusterNode::committed_seq`], the last journal sequence number a majority
//!   holds and this node applied — what a leader's runner may publish up to.
#![deny(missing_docs, unsafe_code)]
#![allow(
    clippy::result_large_err,
    reason = "openraft's StorageError is the error type of its storage traits"
)]

mod block;
pub mod config;
mod error;
mod file;
mod log_store;
pub mod network;
mod node;
mod state_machine;
pub mod status;

pub use block::{Applied, Block};
pub use config::{lock_data_dir, ClusterFile};
pub use error::ClusterError;
pub use log_store::{LogStore, LogSync};
pub use network::{Impairment, NetSwitch};
pub use node::{ClusterNode, NodeConfig, NodeStatus};
pub use state_machine::{StateMachine, StateView, CLIENT_HISTORY};
pub use status::StatusReport;

use std::io::Cursor;

/// Node identity (a small integer: 1, 2, 3, …).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The Raft types of a replicated core: entries carry [`Block`]s, applying one answers
    /// [`Applied`].
    pub TypeConfig:
        D = Block,
        R = Applied,
);

/// The Raft handle of a node.
pub type Raft = openraft::Raft<TypeConfig>;
/// A node's address as Raft keeps it in the membership.
pub type Node = openraft::BasicNode;
/// A Raft log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A Raft log id (term, leader, index).
pub type LogId = openraft::LogId<NodeId>;
/// Storage errors as openraft expects them.
pub type StorageError = openraft::StorageError<NodeId>;
