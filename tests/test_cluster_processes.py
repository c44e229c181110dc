"""The replicated core as three processes on three hosts (issue 16, docs/cluster.md "Node process"):
one ``cluster_node`` per network namespace (tests/netns.py), each with its own data directory, the
leader proposing the generated load. The leader is killed (SIGKILL) several times and restarted,
then partitioned (its link down) and healed; finally the load is held and every node's state hash
must be equal, and equal to a single-node run of the committed records, with each node's journal
holding exactly the stream's first records once each (none lost, none twice) and replaying to that
state. No acknowledged (committed) position is ever lost.

Skipped with the reason where namespaces cannot be made (not root, no iproute2); under
``make test`` such a skip fails (tests/strict_outcomes.py). Liveness waits are bounded generously;
nothing here asserts a speed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from netns import Hosts

pytestmark = pytest.mark.skipif(Hosts.available() is not None, reason=f"{Hosts.available()}")

ROOT = Path(__file__).resolve().parent.parent
RAFT_PORT, STATUS_PORT = 7100, 7101
#: leader kills per run: 3 in `make test`; RFQCORE_CLUSTER_KILLS=20 for the issue's longer drill
KILLS = int(os.environ.get("RFQCORE_CLUSTER_KILLS", "3"))
#: Raft entries between snapshots, entries of log kept after one, records per proposed block: a
#: follower down for ~2 s is behind the leader's purged log and catches up from a snapshot
SNAPSHOT_EVERY, KEEP_AFTER_SNAPSHOT, BLOCK = 200, 50, 16
PATIENCE = 30.0
T = TypeVar("T")


@pytest.fixture(scope="module")
def node_bin() -> Path:
    """``cluster_node``, built as ``cargo test`` builds it (a no-op after ``make test``'s Rust step)."""
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.fail("cargo is not on PATH: cluster_node cannot be built (install Rust, see the README)")
    p = subprocess.run([cargo, "build", "-q", "--locked", "-p", "rfq-cluster", "--bin", "cluster_node"], cwd=ROOT,
                       capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        pytest.fail(f"cargo build of cluster_node failed: {p.stderr.strip()[-2000:]}")
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "cluster_node"


def wait_for(what: str, f: Callable[[], T | None], patience: float = PATIENCE) -> T:
    deadline = time.monotonic() + patience
    while (v := f()) is None:
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)
    return v


class Cluster:
    def __init__(self, hosts: Hosts, bin: Path, dir: Path) -> None:
        self.hosts, self.bin, self.dir = hosts, bin, dir
        self.cfg = dir / "cluster.toml"
        nodes = "".join(f'\n[[node]]\nid = {i + 1}\naddr = "{hosts.addr(i)}:{RAFT_PORT}"\nstatus = "0.0.0.0:{STATUS_PORT}"\n'
                        f'dir = "node{i + 1}"\n' for i in range(hosts.n))
        self.cfg.write_text('[cluster]\nheartbeat_ms = 50\nelection_timeout_ms = [300, 600]\nlog_sync = "none"\n'
                            f"snapshot_every = {SNAPSHOT_EVERY}\nkeep_after_snapshot = {KEEP_AFTER_SNAPSHOT}\n\n"
                            f"[load]\nsteps = {max(200_000, 20_000 * KILLS)}\nblock = {BLOCK}\ninterval_ms = 5\n" + nodes)
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * hosts.n
        self.cut: set[int] = set()
        for i in range(hosts.n):
            self.start(i)

    def start(self, i: int) -> None:
        with open(self.dir / f"node{i + 1}.log", "ab") as log:  # the process keeps its own descriptor
            self.procs[i] = self.hosts.popen(i, [str(self.bin), "--config", str(self.cfg), "--node", str(i + 1)],
                                             stdout=log, stderr=log)

    def kill(self, i: int) -> None:
        p = self.procs[i]
        assert p is not None
        p.kill()  # SIGKILL: no shutdown, no flush
        p.wait(timeout=10)
        self.procs[i] = None

    def request(self, i: int, what: str = "status") -> dict[str, Any] | None:
        """Node ``i``'s status, asked inside its host (the root namespace is not on the bridge)."""
        argv = ["ip", "netns", "exec", self.hosts.names[i], str(self.bin), "--status", f"127.0.0.1:{STATUS_PORT}",
                *(["--hold"] if what == "hold" else [])]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def statuses(self, reachable_only: bool = True) -> dict[int, dict[str, Any]]:
        out = {}
        for i, p in enumerate(self.procs):
            if p is None or (reachable_only and i in self.cut):
                continue
            assert p.poll() is None, f"node {i + 1} exited with {p.returncode}: {self.log(i)}"
            if (s := self.request(i)) is not None:
                out[i] = s
        return out

    def log(self, i: int) -> str:
        return (self.dir / f"node{i + 1}.log").read_text(errors="replace")[-2000:]

    def leader(self, other_than: int | None = None) -> tuple[int, dict[str, Any]]:
        """The leader of the highest term among the running, reachable nodes, once there is one."""
        def find() -> tuple[int, dict[str, Any]] | None:
            st = self.statuses()
            if not st:
                return None
            term = max(s["term"] for s in st.values())
            return next(((i, s) for i, s in st.items() if s["term"] == term and s["role"] == "leader" and i != other_than), None)
        return wait_for("a leader", find)


def advanced(c: Cluster, i: int, beyond: int) -> Callable[[], dict[str, Any] | None]:
    def f() -> dict[str, Any] | None:
        s = c.request(i)
        return s if s is not None and s["journal_seq"] > beyond else None
    return f


def test_leader_killed_and_partitioned_nodes_converge_on_the_single_node_state(node_bin: Path, tmp_path: Path) -> None:
    acked = 0  # the highest position any leader reported committed
    with Hosts(3) as h:
        c = Cluster(h, node_bin, tmp_path)
        for _ in range(KILLS):
            l, s = c.leader()
            s = wait_for("the load to commit on the leader", advanced(c, l, max(acked, s["journal_seq"]) + 100))
            acked = max(acked, s["journal_seq"])
            time.sleep(random.uniform(0, 0.3))  # at a random moment of the load
            c.kill(l)
            l2, s2 = c.leader(other_than=l)
            assert s2["term"] > s["term"], (s, s2)
            s2 = wait_for("the new leader to continue the load", advanced(c, l2, acked + 100))
            acked = max(acked, s2["journal_seq"])
            c.start(l)

        # a follower down while the log moves on past what the leader keeps: restarted, it
        # catches up from the leader's snapshot plus the log tail (a journal generation that
        # starts after that snapshot, checked below)
        l, s = c.leader()
        behind = next(i for i in range(3) if i != l)
        at_kill = wait_for("the follower's status", lambda: c.request(behind))["journal_seq"]
        c.kill(behind)
        purged = at_kill + 3 * (SNAPSHOT_EVERY + KEEP_AFTER_SNAPSHOT) * BLOCK
        s = wait_for("the log to move past the stopped follower", advanced(c, l, purged))
        acked = max(acked, s["journal_seq"])
        c.start(behind)
        wait_for("the restarted follower to catch up", advanced(c, behind, s["journal_seq"]))

        # the leader partitioned: the others elect a leader and commit on; it commits nothing
        l, s = c.leader()
        wait_for("every node up", lambda: True if len(c.statuses()) == 3 else None)
        h.down(l)
        c.cut.add(l)
        l2, s2 = c.leader(other_than=l)
        assert s2["term"] > s["term"]
        frozen = c.request(l)
        assert frozen is not None
        s2 = wait_for("the majority to commit on", advanced(c, l2, max(acked, frozen["journal_seq"]) + 100))
        acked = max(acked, s2["journal_seq"])
        still = c.request(l)
        assert still is not None and still["journal_seq"] == frozen["journal_seq"], \
            f"a partitioned node applies nothing: {frozen} then {still}"
        h.up(l)
        c.cut.discard(l)
        wait_for("the partitioned node to catch up", advanced(c, l, s2["journal_seq"]))

        # hold the load; the log stops growing and every node applies all of it
        for i in range(3):
            wait_for("hold", lambda i=i: c.request(i, "hold"))

        def settled() -> dict[int, dict[str, Any]] | None:
            st = c.statuses()
            if len(st) < 3 or len({(s["applied_index"], s["journal_seq"]) for s in st.values()}) != 1:
                return None
            time.sleep(0.3)
            return st if c.statuses() == st else None

        end = wait_for("every node at one position", settled)
        n = end[0]["journal_seq"]
        assert n >= acked, f"committed position {acked} was acknowledged, the log ends at {n}"
        for i, s in end.items():
            assert s["held"]
            assert (s["state_hash"], s["output_hash"]) == (end[0]["state_hash"], end[0]["output_hash"]), end
        for i in range(3):
            c.kill(i)

    for i, s in end.items():
        p = subprocess.run([str(node_bin), "--config", str(c.cfg), "--check-journal", s["journal_dir"]],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        j = json.loads(p.stdout)
        assert j["records"] == n, f"node {i + 1}: every committed record once: {j}"
        assert j["matches_stream"], f"node {i + 1}: the journal is the stream's first {n} records, in order: {j}"
        assert j["first_divergence"] is None and j["marks_checked"] == n - j["snapshot_seq"], j
        if i == behind:  # its generation starts after a snapshot it could not have made itself
            assert j["snapshot_seq"] > at_kill, f"node {i + 1} caught up from the leader's snapshot: {j}"
        assert j["state_hash"] == s["state_hash"], f"node {i + 1}: its journal replays to its state"
        assert (j["reference_state_hash"], j["reference_output_hash"]) == (s["state_hash"], s["output_hash"]), \
            f"node {i + 1}: a single-node run of the committed records gives the same state and outputs"
