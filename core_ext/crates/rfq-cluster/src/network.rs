//! TCP between the nodes of a cluster.
//!
//! A request frame is `le32 length ‖ le64 sender id ‖ postcard(Rpc)`; its answer
//! `le32 length ‖ postcard(Reply)` on the same connection. Each node keeps one connection per
//! peer (openraft sends one request at a time per peer) and serves each incoming connection on
//! its own task. A request that fails for any reason drops the connection; the next one
//! reconnects.
//!
//! [`NetSwitch`] is the transport's own fault injection: a node cut off by it sends nothing and
//! answers nothing (its outgoing requests fail as unreachable, requests from it or to it are
//! dropped unanswered by the receiving server) — a partition that Raft sees exactly as a dead
//! link, with both processes alive. The kernel of the development machine has no netem, so
//! this is where partitions, delay and loss come from in tests and drills ([`Impairment`]).

use crate::{Node, NodeId, Raft, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest frame accepted (a snapshot chunk or a batch of entries).
pub const MAX_FRAME: usize = 64 << 20;

/// A request between nodes.
#[derive(Serialize, Deserialize)]
pub enum Rpc {
    /// Log replication / heartbeat.
    Append(AppendEntriesRequest<TypeConfig>),
    /// A chunk of a snapshot.
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A vote request.
    Vote(VoteRequest<NodeId>),
}

/// The answer to an [`Rpc`].
#[derive(Serialize, Deserialize)]
pub enum Reply {
    /// Answer to [`Rpc::Append`].
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`Rpc::Snapshot`].
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    /// Answer to [`Rpc::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
}

/// Cuts nodes off the network, or impairs their links (shared by every node of a cluster in one
/// process, or one per process). A cut-off node's traffic is dropped in both directions; an
/// impaired node's requests and the requests sent to it wait `delay` before they go (so a round
/// trip over an impaired link takes at least `2 × delay` when both ends share the switch, one
/// `delay` when only one end is impaired), and each is lost with probability `loss_ppm` / 10⁶
/// (the request fails as a network error after the delay, and openraft sends it again: message
/// loss as a TCP connection sees it, after its own retransmissions gave up — not packet loss).
#[derive(Clone, Default, Debug)]
pub struct NetSwitch {
    isolated: Arc<Mutex<HashSet<NodeId>>>,
    impaired: Arc<Mutex<HashMap<NodeId, Impairment>>>,
    dice: Arc<AtomicU64>,
}

/// Delay and loss on every link of one node ([`NetSwitch::impair`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Impairment {
    /// Added before each request to or from the node is sent.
    pub delay: Duration,
    /// Requests lost, per million.
    pub loss_ppm: u32,
}

impl NetSwitch {
    /// A switch with every link up.
    #[must_use]
    pub fn new() -> NetSwitch {
        NetSwitch::default()
    }

    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<NodeId>> {
        self.isolated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops all traffic to and from `node`.
    pub fn isolate(&self, node: NodeId) {
        self.set().insert(node);
    }

    /// Lets `node`'s traffic through again.
    pub fn heal(&self, node: NodeId) {
        self.set().remove(&node);
    }

    /// Whether traffic between `a` and `b` is dropped.
    #[must_use]
    pub fn cut(&self, a: NodeId, b: NodeId) -> bool {
        let s = self.set();
        s.contains(&a) || s.contains(&b)
    }

    fn impairments(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Impairment>> {
        self.impaired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Delay and loss on every link of `node` from now on (`Impairment::default()`: none).
    pub fn impair(&self, node: NodeId, how: Impairment) {
        if how == Impairment::default() {
            self.impairments().remove(&node);
        } else {
            self.impairments().insert(node, how);
        }
    }

    /// The impairment of `node`'s links (default: none).
    #[must_use]
    pub fn impairment(&self, node: NodeId) -> Impairment {
        self.impairments().get(&node).copied().unwrap_or_default()
    }

    /// What a request from `a` to `b` meets: the summed delay of both ends' impairments, and
    /// whether it is lost (each end's loss drawn independently).
    fn link(&self, a: NodeId, b: NodeId) -> (Duration, bool) {
        let (ia, ib) = {
            let m = self.impairments();
            if m.is_empty() {
                return (Duration::ZERO, false);
            }
            (m.get(&a).copied().unwrap_or_default(), m.get(&b).copied().unwrap_or_default())
        };
        let lost = [ia.loss_ppm, ib.loss_ppm].iter().any(|&ppm| ppm > 0 && self.roll() < u64::from(ppm));
        (ia.delay + ib.delay, lost)
    }

    /// A uniform draw in 0..10⁶ (splitmix64 over a shared counter: loss needs no better dice).
    fn roll(&self) -> u64 {
        let mut z = self.dice.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % 1_000_000
    }
}

/// Creates the connections of one node to its peers.
#[derive(Clone)]
pub struct TcpNetwork {
    me: NodeId,
    switch: NetSwitch,
}

impl TcpNetwork {
    /// The network of node `me`, subject to `switch`.
    #[must_use]
    pub fn new(me: NodeId, switch: NetSwitch) -> TcpNetwork {
        TcpNetwork { me, switch }
    }
}

/// One node's connection to a peer.
pub struct Peer {
    me: NodeId,
    target: NodeId,
    addr: String,
    switch: NetSwitch,
    conn: Option<TcpStream>,
    buf: Vec<u8>,
}

impl RaftNetworkFactory<TypeConfig> for TcpNetwork {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Peer {
        Peer {
            me: self.me,
            target,
            addr: node.addr.clone(),
            switch: self.switch.clone(),
            conn: None,
            buf: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Cut(NodeId, NodeId);

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "link {} ↔ {} is cut", self.0, self.1)
    }
}

impl std::error::Error for Cut {}

enum Fail {
    Unreachable(Unreachable),
    Network(NetworkError),
}

impl<E: std::error::Error> From<Fail> for RPCError<NodeId, Node, E> {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Unreachable(u) => RPCError::Unreachable(u),
            Fail::Network(n) => RPCError::Network(n),
        }
    }
}

impl Peer {
    async fn call(&mut self, rpc: &Rpc, ttl: Duration) -> Result<Reply, Fail> {
        if self.switch.cut(self.me, self.target) {
            self.conn = None;
            return Err(Fail::Unreachable(Unreachable::new(&Cut(
                self.me,
                self.target,
            ))));
        }
        let (delay, lost) = self.switch.link(self.me, self.target);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if lost {
            self.conn = None;
            return Err(Fail::Network(NetworkError::new(&std::io::Error::other(format!(
                "request {} → {} lost (NetSwitch impairment)",
                self.me, self.target
            )))));
        }
        match tokio::time::timeout(ttl, self.exchange(rpc)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(elapsed) => {
                self.conn = None;
                Err(Fail::Network(NetworkError::new(&elapsed)))
            }
        }
    }

    async fn exchange(&mut self, rpc: &Rpc) -> Result<Reply, Fail> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| Fail::Unreachable(Unreachable::new(&e)))?;
            s.set_nodelay(true)
                .map_err(|e| Fail::Unreachable(Unreachable::new(&e)))?;
            self.conn = Some(s);
        }
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 12]);
        let mut buf = postcard::to_extend(rpc, std::mem::take(&mut self.buf))
            .map_err(|e| Fail::Network(NetworkError::new(&e)))?;
        let len = (buf.len() - 4) as u32;
        buf[0..4].copy_from_slice(&len.to_le_bytes());
        buf[4..12].copy_from_slice(&self.me.to_le_bytes());
        let conn = self.conn.as_mut().expect("connected above");
        let net = |e: std::io::Error| Fail::Network(NetworkError::new(&e));
        conn.write_all(&buf).await.map_err(net)?;
        let n = conn.read_u32_le().await.map_err(net)? as usize;
        if n > MAX_FRAME {
            return Err(net(std::io::Error::other(format!(
                "reply of {n} bytes > {MAX_FRAME}"
            ))));
        }
        buf.resize(n, 0);
        conn.read_exact(&mut buf).await.map_err(net)?;
        let reply = postcard::from_bytes(&buf).map_err(|e| Fail::Network(NetworkError::new(&e)));
        self.buf = buf;
        reply
    }
}

fn mismatch() -> Fail {
    Fail::Network(NetworkError::new(&std::io::Error::other(
        "reply of another kind",
    )))
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        match self.call(&Rpc::Append(rpc), option.hard_ttl()).await? {
            Reply::Append(Ok(r)) => Ok(r),
            Reply::Append(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(mismatch().into()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.call(&Rpc::Snapshot(rpc), option.hard_ttl()).await? {
            Reply::Snapshot(Ok(r)) => Ok(r),
            Reply::Snapshot(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(mismatch().into()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        match self.call(&Rpc::Vote(rpc), option.hard_ttl()).await? {
            Reply::Vote(Ok(r)) => Ok(r),
            Reply::Vote(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(mismatch().into()),
        }
    }

    fn backoff(&self) -> Backoff {
        // an unreachable peer is retried every 100 ms (openraft's default: 500 ms)
        Backoff::new(std::iter::repeat(Duration::from_millis(100)))
    }
}

/// Serves node `me`'s Raft on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, me: NodeId, raft: Raft, switch: NetSwitch) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let raft = raft.clone();
        let switch = switch.clone();
        tokio::spawn(async move {
            let _ = serve_conn(stream, me, raft, switch).await;
        });
    }
}

async fn serve_conn(
    mut s: TcpStream,
    me: NodeId,
    raft: Raft,
    switch: NetSwitch,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let n = s.read_u32_le().await? as usize;
        if !(8..=MAX_FRAME).contains(&n) {
            return Err(std::io::Error::other(format!("request frame of {n} bytes")));
        }
        buf.resize(n, 0);
        s.read_exact(&mut buf).await?;
        let from = u64::from_le_bytes(buf[0..8].try_into().expect("8 bytes"));
        if switch.cut(from, me) {
            return Ok(()); // dropped: the sender sees a dead link
        }
        let rpc: Rpc = postcard::from_bytes(&buf[8..]).map_err(std::io::Error::other)?;
        let reply = match rpc {
            Rpc::Append(r) => Reply::Append(raft.append_entries(r).await),
            Rpc::Snapshot(r) => Reply::Snapshot(raft.install_snapshot(r).await),
            Rpc::Vote(r) => Reply::Vote(raft.vote(r).await),
        };
        if switch.cut(from, me) {
            return Ok(()); // cut while it was being handled: no answer either
        }
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        buf = postcard::to_extend(&reply, buf).map_err(std::io::Error::other)?;
        let len = (buf.len() - 4) as u32;
        buf[0..4].copy_from_slice(&len.to_le_bytes());
        s.write_all(&buf).await?;
    }
}
