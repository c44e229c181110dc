"""``rfqcore cluster status`` (src/rfqcore/cluster_cli.py, docs/cluster.md "Cluster status") against
three real ``cluster_node`` processes on loopback: one leader, every hash equal once the load is
held, exit status 0, the JSON equal to the Python API's reports; the leader killed: its line says it
does not answer, a new leader leads, still 0; a second node killed: no majority, 1. What real nodes
must never show (a hash disagreement) or rarely do (an old leader cut off) is served by loopback
servers answering reports the test writes; bad cluster files are one line each, exit status 2.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from desk_market import free_port
from test_cluster_processes import node_bin  # noqa: F401  (the fixture: cluster_node, built if missing)

from rfqcore.cluster_cli import NodeStatus, StatusReport, ask, cluster_status, load_nodes, summarize
from rfqcore.errors import ConfigError

PATIENCE = 30.0
T = TypeVar("T")


def wait_for(what: str, f: Callable[[], T | None], patience: float = PATIENCE) -> T:
    deadline = time.monotonic() + patience
    while (v := f()) is None:
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)
    return v


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rfqcore.cli", "cluster", "status", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def cluster(node_bin: Path, tmp_path: Path) -> Iterator[tuple[Path, dict[int, subprocess.Popen[bytes]]]]:  # noqa: F811
    # election timeouts twice the Rust process tests': fewer elections on a loaded machine
    text = ('[cluster]\nheartbeat_ms = 100\nelection_timeout_ms = [600, 1200]\nlog_sync = "none"\nsnapshot_every = 0\n\n'
            "[load]\nsteps = 200000\nblock = 16\ninterval_ms = 5\n")
    for i in (1, 2, 3):
        # node 3 listens for status on every interface: the command dials the host of its addr
        status = f"0.0.0.0:{free_port()}" if i == 3 else f"127.0.0.1:{free_port()}"
        text += f'\n[[node]]\nid = {i}\naddr = "127.0.0.1:{free_port()}"\nstatus = "{status}"\ndir = "node{i}"\n'
    cfg = tmp_path / "cluster.toml"
    cfg.write_text(text)
    procs: dict[int, subprocess.Popen[bytes]] = {}
    for i in (1, 2, 3):
        with open(tmp_path / f"node{i}.log", "ab") as log:
            procs[i] = subprocess.Popen([str(node_bin), "--config", str(cfg), "--node", str(i)], stdout=log, stderr=log)
    try:
        yield cfg, procs
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


def test_status_of_a_live_cluster_then_with_its_leader_and_then_its_majority_gone(
        cluster: tuple[Path, dict[int, subprocess.Popen[bytes]]]) -> None:
    cfg, procs = cluster
    nodes = load_nodes(cfg)
    assert nodes[2].status_host == "127.0.0.1", "an unspecified status host is dialled at the addr's host"

    def loaded() -> list[NodeStatus] | None:
        st = cluster_status(cfg)
        s = summarize(st)
        lead = next((x.report for x in st if x.report is not None and x.node.id == s.leader), None)
        return st if s.answered == 3 and lead is not None and lead.journal_seq > 200 else None

    wait_for("a leader committing the load", loaded)
    held = ask(nodes, what="hold")
    assert all(x.report is not None and x.report.held for x in held), held

    def settled() -> list[NodeStatus] | None:
        st = cluster_status(cfg)
        if any(x.report is None for x in st) or len({(x.report.applied_index, x.report.journal_seq)
                                                     for x in st if x.report is not None}) != 1:
            return None
        time.sleep(0.3)
        return st if cluster_status(cfg) == st else None

    at_rest = wait_for("every node at one position", settled)
    reports = [x.report for x in at_rest if x.report is not None]
    seq = reports[0].journal_seq
    assert len({(r.state_hash, r.output_hash) for r in reports}) == 1, reports
    hashes = (f"{reports[0].state_hash:#018x}", f"{reports[0].output_hash:#018x}")

    def still(*args: str) -> tuple[subprocess.CompletedProcess[str], list[NodeStatus]] | None:
        """A run of the command while nothing changed: the nodes asked just before and just after
        it gave the same reports (an election on this loaded machine changes terms and roles; the
        held state does not change)."""
        before = cluster_status(cfg)
        p = run("--config", str(cfg), *args)
        return (p, before) if cluster_status(cfg) == before else None

    p, now = wait_for("a run of the command with no election during it", still)
    s = summarize(now)
    leader = s.leader
    assert leader is not None and [x.report.role for x in now if x.report is not None].count("leader") == 1, now
    assert (s.agreeing, s.disagreements, s.behind, s.problems) == ({seq: [1, 2, 3]}, [], {}, [])
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    rows = {int(r[0]): r for r in (re.split(r"\s{2,}", ln) for ln in lines[1:4])}
    assert sorted(rows) == [1, 2, 3] and [r[2] for r in rows.values()].count("leader (held)") == 1, lines
    assert rows[leader][2] == "leader (held)", lines
    for x in now:
        assert x.report is not None
        r = rows[x.node.id]
        assert r[1] == x.node.status_addr and r[3:8] == [str(x.report.term), str(x.report.leader),
                                                         str(x.report.last_log_index), str(x.report.applied_index),
                                                         str(seq)], lines
        assert tuple(r[8:]) == hashes, lines
    term = next(x.report.term for x in now if x.report is not None and x.node.id == leader)
    assert lines[4:] == ["", f"leader: node {leader} at term {term}; 3 of 3 nodes answered",
                         f"agree: nodes 1, 2, 3 at journal seq {seq}", "behind the leader: none", "status: OK"], lines

    p, now = wait_for("a run of the command with no election during it", lambda: still("--json"))
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["nodes"] == [x.to_json() for x in now]
    assert j["summary"] == summarize(now).to_json()
    assert j["summary"]["agreeing"] == {str(seq): [1, 2, 3]} and j["summary"]["exit_status"] == 0

    p, now = wait_for("a run of the command with no election during it", lambda: still("--node", "2", "--json"))
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["nodes"] == [now[1].to_json()] and j["summary"]["asked"] == 1

    # the leader killed: it does not answer, the two others elect a leader of a later term
    s = summarize(cluster_status(cfg))
    assert s.leader is not None and s.term is not None and s.leader_answered, s
    leader, term = s.leader, s.term
    procs[leader].kill()
    procs[leader].wait(timeout=10)
    dead = nodes[leader - 1]

    def new_leader() -> tuple[int, str] | None:
        p = run("--config", str(cfg), "--timeout", "2")
        m = re.search(r"^leader: node (\d) at term (\d+);", p.stdout, re.M)
        return (p.returncode, p.stdout) if m and int(m[1]) != leader and int(m[2]) > term else None

    rc, out = wait_for("a new leader", new_leader)
    assert rc == 0, out
    assert f"node {leader} ({dead.status_addr}): no answer: connection refused — is it running?" in out.splitlines()
    assert "2 of 3 nodes answered" in out

    # a second node killed: one of three answers, no majority
    other = next(i for i in (1, 2, 3) if i != leader)
    procs[other].kill()
    procs[other].wait(timeout=10)
    p = run("--config", str(cfg), "--json")
    assert p.returncode == 1, p.stdout
    j = json.loads(p.stdout)
    assert sorted(j["summary"]["unreachable"]) == sorted([leader, other])
    assert any("1 of 3 nodes answered: less than a majority" in x for x in j["summary"]["problems"]), j


class FakeNodes:
    """Status ports on loopback answering fixed lines (a real report with a hash changed, junk)."""

    def __init__(self, answers: list[bytes]) -> None:
        self.servers = [socket.create_server(("127.0.0.1", 0)) for _ in answers]
        self.ports = [s.getsockname()[1] for s in self.servers]
        for s, a in zip(self.servers, answers, strict=True):
            threading.Thread(target=self._serve, args=(s, a), daemon=True).start()

    @staticmethod
    def _serve(server: socket.socket, answer: bytes) -> None:
        while True:
            try:
                c, _ = server.accept()
            except OSError:
                return
            with c:
                c.recv(64)
                c.sendall(answer)

    def close(self) -> None:
        for s in self.servers:
            s.close()


def _report(id: int, extra: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    base = StatusReport(id=id, role="follower", term=4, leader=1, last_log_index=900, applied_term=4,
                        applied_index=900, journal_seq=14000, state_hash=0x1234_5678_9ABC_DEF0,
                        output_hash=0xFEDC_BA98_7654_3210, journal_dir=f"/d/node{id}/journal-0001", held=True)
    return dataclasses.asdict(dataclasses.replace(base, **changes)) | (extra or {})


def test_a_hash_disagreement_is_flagged_and_fails(tmp_path: Path) -> None:
    answers = [_report(1, {"gateway": "10.0.0.1:9000"}, role="leader"), _report(2), _report(3, state_hash=7)]
    fake = FakeNodes([(json.dumps(a) + "\n").encode() for a in answers])
    try:
        cfg = tmp_path / "cluster.toml"
        cfg.write_text("".join(f'[[node]]\nid = {i + 1}\naddr = "127.0.0.1:{7100 + i}"\nstatus = "0.0.0.0:{port}"\n'
                               f'dir = "n{i + 1}"\n' for i, port in enumerate(fake.ports)))
        p = run("--config", str(cfg))
        assert p.returncode == 1, p.stdout
        assert "STATE HASH DISAGREEMENT at journal seq 14000: node 1 state 0x123456789abcdef0" in p.stdout
        assert "node 3 state 0x0000000000000007" in p.stdout and "a determinism failure" in p.stdout
        assert p.stdout.splitlines()[-1] == "status: PROBLEM: state hash disagreement at journal seq 14000"
        st = cluster_status(cfg)
        assert st[0].report is not None and st[0].report.role == "leader"
        assert summarize(st).disagreements[0].hashes[3] == (7, 0xFEDC_BA98_7654_3210)
    finally:
        fake.close()


def _fake_cluster(tmp_path: Path, answers: list[dict[str, Any]], dead: int = 0) -> tuple[FakeNodes, Path]:
    """Nodes answering ``answers``, plus ``dead`` nodes whose status ports refuse connections."""
    fake = FakeNodes([(json.dumps(a) + "\n").encode() for a in answers])
    ports = fake.ports + [free_port() for _ in range(dead)]
    cfg = tmp_path / "cluster.toml"
    cfg.write_text("".join(f'[[node]]\nid = {i + 1}\naddr = "127.0.0.1:{7100 + i}"\nstatus = "127.0.0.1:{port}"\n'
                           for i, port in enumerate(ports)))
    return fake, cfg


def test_a_cut_off_old_leader_and_a_leader_that_does_not_answer(tmp_path: Path) -> None:
    fake, cfg = _fake_cluster(tmp_path, [_report(1, role="leader", term=3, leader=1),
                                         _report(2, role="leader", term=5, leader=2, journal_seq=14016),
                                         _report(3, term=5, leader=2)])
    try:
        p = run("--config", str(cfg))
        assert p.returncode == 0, p.stdout
        lines = p.stdout.splitlines()
        assert "leader: node 2 at term 5; 3 of 3 nodes answered" in lines
        assert ("node 1 still takes itself for the leader of term 3 (the cluster is at term 5): it is cut off from "
                "the majority and can commit nothing") in lines
        assert "agree: nodes 1, 3 at journal seq 14000" in lines
        assert "behind the leader: node 1 by 16 records, node 3 by 16 records" in lines
    finally:
        fake.close()
    # the leader named by the others does not answer: still known, the others are a majority
    fake, cfg = _fake_cluster(tmp_path, [_report(1, term=5, leader=3), _report(2, term=5, leader=3)], dead=1)
    try:
        p = run("--config", str(cfg))
        assert p.returncode == 0, p.stdout
        assert "leader: node 3 at term 5 (named by the other nodes; it does not answer here); 2 of 3 nodes answered" \
            in p.stdout.splitlines()
        assert "node 3 (127.0.0.1:" in p.stdout and "no answer: connection refused — is it running?" in p.stdout
    finally:
        fake.close()


def test_answers_that_are_not_reports_are_one_line_each(tmp_path: Path) -> None:
    fake = FakeNodes([b"hello\n", (json.dumps(_report(5)) + "\n").encode(), b'{"error": "unknown request"}\n'])
    try:
        cfg = tmp_path / "cluster.toml"
        cfg.write_text("".join(f'[[node]]\nid = {i + 1}\naddr = "127.0.0.1:{7100 + i}"\nstatus = "127.0.0.1:{port}"\n'
                               for i, port in enumerate(fake.ports)))
        st = {x.node.id: x.error for x in cluster_status(cfg)}
        assert st[1] is not None and "not a status report" in st[1]
        assert st[2] is not None and "reports itself as node 5" in st[2]
        assert st[3] == "refused the request: unknown request"
        p = run("--config", str(cfg))
        assert p.returncode == 1 and "status: PROBLEM: no leader known: no node answered" in p.stdout, p.stdout
    finally:
        fake.close()


@pytest.mark.parametrize(("text", "message"), [
    (None, "cannot read it (No such file or directory): give the path of a cluster.toml"),
    ("[cluster]\nheartbeat_ms = \n", "not valid TOML: Invalid value (at line 2"),
    ("[cluster]\nheartbeat_ms = 50\n", "no [[node]] sections"),
    ('[[node]]\nid = 0\naddr = "127.0.0.1:1"\nstatus = "127.0.0.1:2"\n', "[[node]] number 1: id = 0: each node needs"),
    ('[[node]]\nid = 1\naddr = "127.0.0.1:1"\n', "node 1 has no status"),
    ('[[node]]\nid = 1\naddr = "127.0.0.1:1"\nstatus = "7101"\n', "node 1: status = '7101': expected HOST:PORT"),
    ('[[node]]\nid = 1\naddr = "h:1"\nstatus = "h:2"\n[[node]]\nid = 1\naddr = "g:1"\nstatus = "g:2"\n',
     "node id 1 appears twice"),
])
def test_a_bad_cluster_file_is_one_line_and_exit_status_2(tmp_path: Path, text: str | None, message: str) -> None:
    cfg = tmp_path / "cluster.toml"
    if text is not None:
        cfg.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        cluster_status(cfg)
    p = run("--config", str(cfg))
    assert p.returncode == 2 and p.stdout == "", p
    assert p.stderr.startswith(f"rfqcore cluster status: {cfg}: {message}"), p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_an_unknown_node_and_a_bad_timeout_are_usage_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "cluster.toml"
    cfg.write_text('[[node]]\nid = 1\naddr = "127.0.0.1:7100"\nstatus = "127.0.0.1:7101"\n')
    p = run("--config", str(cfg), "--node", "4")
    assert (p.returncode, p.stderr) == (2, f"rfqcore cluster status: {cfg}: has no node 4 (nodes 1): pick one of "
                                           f"them with --node\n")
    with pytest.raises(ConfigError, match="has no node 4"):
        cluster_status(cfg, node=4)
    p = run("--config", str(cfg), "--timeout", "0")
    assert (p.returncode, p.stderr) == (2, "rfqcore cluster status: --timeout 0: give a positive number of seconds\n")
