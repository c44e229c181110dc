"""``rfqcore cluster status``: the operator's view of a replicated desk (docs/cluster.md, "Cluster status").

Reads the nodes of a ``cluster.toml`` (the file ``cluster_node`` and ``rfqcore serve --cluster``
run on), asks every node's status port at once (one line ``status``, one JSON line back: the
``StatusReport`` of ``rfq_cluster::status``; unknown keys are ignored) and tells who leads at
which term, whether the nodes that applied the same records hold the same state, who is behind
the leader and who does not answer.

From Python: ``cluster_status(path, timeout)`` gives one :class:`NodeStatus` per node (its report
or why there is none) and :func:`summarize` the verdict. A bad file raises
:class:`~rfqcore.errors.ConfigError` with a one-line message; a node that does not answer is not
an exception, it is a ``NodeStatus`` with an ``error``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn

from rfqcore.errors import ConfigError

__all__ = ["Node", "StatusReport", "NodeStatus", "Disagreement", "Summary", "load_nodes", "ask", "cluster_status",
           "summarize", "format_table", "format_summary", "add_parser"]

#: Seconds a node has to answer (connecting included) unless told otherwise.
DEFAULT_TIMEOUT_S: Final = 1.0
#: The roles a node reports (openraft's server states, lower case).
ROLES: Final = ("leader", "follower", "candidate", "learner", "shutdown")


@dataclass(frozen=True, slots=True)
class Node:
    """One ``[[node]]`` of the file: its id, Raft address and the status address to dial."""

    id: int
    addr: str
    status_host: str
    status_port: int

    @property
    def status_addr(self) -> str:
        """``host:port`` dialled (an IPv6 host in brackets)."""
        h = self.status_host
        return f"[{h}]:{self.status_port}" if ":" in h else f"{h}:{self.status_port}"


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What a node says about itself (``rfq_cluster::status::StatusReport``)."""

    id: int
    role: str
    term: int
    leader: int | None
    last_log_index: int | None
    applied_term: int | None
    applied_index: int | None
    journal_seq: int
    state_hash: int
    output_hash: int
    journal_dir: str | None = None
    held: bool = False

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StatusReport:
        """The report in a decoded answer; ``ValueError`` naming the first missing or mistyped key."""
        def get(key: str, kind: type, optional: bool = False, default: Any = None) -> Any:
            if key not in d:
                if optional:
                    return default
                raise ValueError(f"no {key!r}")
            v = d[key]
            if v is None and optional:
                return default
            if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
                raise ValueError(f"{key!r} is {v!r}, not {'an integer' if kind is int else kind.__name__}")
            return v

        return cls(id=get("id", int), role=get("role", str), term=get("term", int),
                   leader=get("leader", int, True), last_log_index=get("last_log_index", int, True),
                   applied_term=get("applied_term", int, True), applied_index=get("applied_index", int, True),
                   journal_seq=get("journal_seq", int), state_hash=get("state_hash", int),
                   output_hash=get("output_hash", int), journal_dir=get("journal_dir", str, True),
                   held=get("held", bool, True, False))


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node asked: its ``report``, or the one-line ``error`` saying why there is none."""

    node: Node
    report: StatusReport | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.node.id, "addr": self.node.addr, "status_addr": self.node.status_addr,
                "report": None if self.report is None else asdict(self.report), "error": self.error}


@dataclass(frozen=True, slots=True)
class Disagreement:
    """Nodes that applied the same records (``journal_seq``) and report different hashes."""

    journal_seq: int
    hashes: dict[int, tuple[int, int]]  # node -> (state hash, output hash)

    def line(self) -> str:
        parts = ", ".join(f"node {i} state {s:#018x} output {o:#018x}" for i, (s, o) in sorted(self.hashes.items()))
        return (f"STATE HASH DISAGREEMENT at journal seq {self.journal_seq}: {parts} — a determinism failure: the "
                f"nodes applied the same records and hold different states; stop the desk and keep every node's "
                f"data directory for the investigation (docs/cluster.md, \"Cluster status\")")


@dataclass(frozen=True, slots=True)
class Summary:
    """The verdict on a set of :class:`NodeStatus` (see :func:`summarize`)."""

    asked: int
    answered: int
    term: int | None  # the leader's term, else the highest term reported
    leader: int | None
    leader_answered: bool
    stale_leaders: dict[int, int]  # node -> the older term it still leads in its own view
    agreeing: dict[int, list[int]]  # journal seq -> the nodes at it that agree (two or more)
    disagreements: list[Disagreement]
    behind: dict[int, int]  # node -> records (journal seq) behind the leader
    unreachable: list[int]
    problems: list[str] = field(default_factory=list)  # why the exit status is 1

    @property
    def exit_status(self) -> int:
        return 1 if self.problems else 0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["disagreements"] = [{"journal_seq": x.journal_seq,
                               "nodes": {str(i): {"state_hash": s, "output_hash": o} for i, (s, o) in x.hashes.items()}}
                              for x in self.disagreements]
        d["stale_leaders"] = {str(k): v for k, v in self.stale_leaders.items()}
        d["agreeing"] = {str(k): v for k, v in self.agreeing.items()}
        d["behind"] = {str(k): v for k, v in self.behind.items()}
        d["exit_status"] = self.exit_status
        return d


def _bad(path: Path, why: str) -> ConfigError:
    return ConfigError(f"{path}: {why}")


def _host_port(path: Path, where: str, key: str, value: object) -> tuple[str, int]:
    if not isinstance(value, str):
        raise _bad(path, f"{where}: {key} = {value!r}: expected a \"HOST:PORT\" string")
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _bad(path, f"{where}: {key} = {value!r}: expected HOST:PORT, e.g. \"10.0.0.1:7101\"")
    return host, int(port)


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def load_nodes(path: str | Path) -> list[Node]:
    """The ``[[node]]`` entries of ``path`` (only ``id``, ``addr`` and ``status`` are read; the rest
    of the file is ``cluster_node``'s to check). A status host that is unspecified (``0.0.0.0``,
    ``::``: the node listens on every interface) is dialled at the host of its ``addr``.

    Raises :class:`~rfqcore.errors.ConfigError`, one line naming the file: it cannot be read, is not
    TOML (with the line), has no ``[[node]]``, or an entry lacks or mistypes a key, or repeats an id.
    """
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise _bad(p, f"cannot read it ({why}): give the path of a cluster.toml") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _bad(p, f"not valid TOML: {e}") from None
    entries = doc.get("node")
    if not entries:
        raise _bad(p, "no [[node]] sections: list the cluster's nodes (id, addr, status, dir)")
    if not isinstance(entries, list) or not all(isinstance(n, dict) for n in entries):
        raise _bad(p, "`node` must be an array of tables: write each node as a [[node]] section")
    nodes: list[Node] = []
    for k, entry in enumerate(entries, 1):
        where = f"[[node]] number {k}"
        nid = entry.get("id")
        if not isinstance(nid, int) or isinstance(nid, bool) or nid < 1:
            raise _bad(p, f"{where}: id = {nid!r}: each node needs an integer id >= 1")
        where = f"node {nid}"
        if any(n.id == nid for n in nodes):
            raise _bad(p, f"node id {nid} appears twice: each node needs its own id")
        for key in ("addr", "status"):
            if key not in entry:
                raise _bad(p, f"{where} has no {key}: give it as \"HOST:PORT\"")
        raft_host, _ = _host_port(p, where, "addr", entry["addr"])
        host, port = _host_port(p, where, "status", entry["status"])
        if _unspecified(host):
            if _unspecified(raft_host):
                raise _bad(p, f"{where}: status = {entry['status']!r} and addr = {entry['addr']!r} name no host to "
                              f"connect to: give addr the node's address")
            host = raft_host
        nodes.append(Node(nid, entry["addr"], host, port))
    return nodes


async def _ask(node: Node, what: str, timeout: float) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(node.status_host, node.status_port)
        try:
            writer.write(f"{what}\n".encode())
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
    if not line:
        raise _BadAnswer("closed the connection without answering — is this its status port?")
    try:
        d = json.loads(line)
    except ValueError:
        raise _BadAnswer(f"answered {line[:80].decode(errors='replace').strip()!r}, not a status report "
                         f"— is this its status port?") from None
    if not isinstance(d, dict):
        raise _BadAnswer(f"answered {d!r}, not a status report")
    return d


class _BadAnswer(Exception):
    pass


def _no_answer(e: BaseException, timeout: float) -> str:
    if isinstance(e, TimeoutError):
        return f"no answer: none within {timeout:g} s — is it running, and its status port reachable from here?"
    if isinstance(e, ConnectionRefusedError):
        return "no answer: connection refused — is it running?"
    if isinstance(e, socket.gaierror):
        return f"no answer: cannot resolve its host ({e.strerror})"
    if isinstance(e, OSError):
        return f"no answer: {(e.strerror or str(e)).lower()} — is it running, and reachable from here?"
    return f"bad answer: {e}"


async def _status_of(node: Node, what: str, timeout: float) -> NodeStatus:
    try:
        d = await _ask(node, what, timeout)
    except (OSError, TimeoutError, _BadAnswer) as e:
        return NodeStatus(node, None, _no_answer(e, timeout))
    if "error" in d and "id" not in d:
        return NodeStatus(node, None, f"refused the request: {d['error']}")
    try:
        r = StatusReport.from_json(d)
    except ValueError as e:
        return NodeStatus(node, None, f"bad answer: not a status report ({e})")
    if r.id != node.id:
        return NodeStatus(node, None, f"bad answer: it reports itself as node {r.id}: the file's status address "
                                      f"for node {node.id} reaches another node")
    return NodeStatus(node, r, None)


async def _gather(nodes: Sequence[Node], what: str, timeout: float) -> list[NodeStatus]:
    return list(await asyncio.gather(*(_status_of(n, what, timeout) for n in nodes)))


def ask(nodes: Sequence[Node], timeout: float = DEFAULT_TIMEOUT_S, what: str = "status") -> list[NodeStatus]:
    """Sends ``what`` (``status``, or ``cluster_node``'s ``hold``) to every node at once; each has
    ``timeout`` seconds to connect and answer. In the order of ``nodes``."""
    if not timeout > 0:
        raise ValueError(f"timeout {timeout!r}: give a positive number of seconds")
    return asyncio.run(_gather(nodes, what, timeout))


def cluster_status(path: str | Path, timeout: float = DEFAULT_TIMEOUT_S, node: int | None = None) -> list[NodeStatus]:
    """Every node's status (or only node ``node``'s), in the file's order. Raises
    :class:`~rfqcore.errors.ConfigError` for a bad file or an unknown ``node``."""
    nodes = load_nodes(path)
    if node is not None:
        nodes = [n for n in nodes if n.id == node] or _unknown_node(Path(path), node, nodes)
    return ask(nodes, timeout)


def _unknown_node(path: Path, node: int, nodes: Sequence[Node]) -> NoReturn:
    ids = ", ".join(str(n.id) for n in nodes)
    raise _bad(path, f"has no node {node} (nodes {ids}): pick one of them with --node")


def summarize(statuses: Sequence[NodeStatus], whole: bool = True) -> Summary:
    """The verdict on ``statuses``: every node of the cluster (``whole``), or only some (``--node``:
    the majority rule does not apply).

    The leader is the node that reports itself leader at the highest term; failing that (it does
    not answer), the one the nodes of the highest term name. ``problems`` (exit status 1): no
    leader known; nodes that applied the same records (journal seq) report different state or
    output hashes; fewer than a majority of the cluster's nodes answered.
    """
    total = len(statuses)
    reports = {s.node.id: s.report for s in statuses if s.report is not None}
    unreachable = [s.node.id for s in statuses if s.report is None]
    leaders = {i: r.term for i, r in reports.items() if r.role == "leader"}
    leader: int | None = None
    term: int | None = max((r.term for r in reports.values()), default=None)
    if leaders:
        leader = max(leaders, key=lambda i: leaders[i])
        term = leaders[leader]
    else:
        named = sorted(((r.term, r.leader) for r in reports.values() if r.leader is not None), reverse=True)
        if named:
            term, leader = named[0]
    stale = {i: t for i, t in leaders.items() if i != leader}
    by_seq: dict[int, list[int]] = {}
    for i, r in reports.items():
        by_seq.setdefault(r.journal_seq, []).append(i)
    agreeing: dict[int, list[int]] = {}
    disagreements: list[Disagreement] = []
    for seq, ids in sorted(by_seq.items()):
        if len(ids) < 2:
            continue
        hashes = {i: (reports[i].state_hash, reports[i].output_hash) for i in sorted(ids)}
        if len(set(hashes.values())) == 1:
            agreeing[seq] = sorted(ids)
        else:
            disagreements.append(Disagreement(seq, hashes))
    lr = reports.get(leader) if leader is not None else None
    behind = {} if lr is None else {i: lr.journal_seq - r.journal_seq for i, r in sorted(reports.items())
                                    if i != leader and r.journal_seq < lr.journal_seq}
    problems: list[str] = []
    if leader is None:
        problems.append("no leader known" + (f" at term {term}: an election is under way (ask again in a moment) "
                                             f"or no majority of the nodes is up" if term is not None else
                                             ": no node answered"))
    problems += [f"state hash disagreement at journal seq {d.journal_seq}" for d in disagreements]
    if whole and len(reports) <= total // 2:
        problems.append(f"{len(reports)} of {total} nodes answered: less than a majority, the cluster cannot "
                        f"commit")
    return Summary(asked=len(statuses), answered=len(reports), term=term, leader=leader,
                   leader_answered=lr is not None, stale_leaders=stale, agreeing=agreeing,
                   disagreements=disagreements, behind=behind, unreachable=unreachable, problems=problems)


def _opt(v: int | None) -> str:
    return "—" if v is None else str(v)


def format_table(statuses: Sequence[NodeStatus]) -> list[str]:
    """The table of ``rfqcore cluster status``: one row per node."""
    head = ("node", "status addr", "role", "term", "leader", "last log", "applied", "journal seq", "state hash",
            "output hash")
    rows: list[tuple[str, ...]] = []
    for s in statuses:
        r = s.report
        if r is None:
            rows.append((str(s.node.id), s.node.status_addr, "no answer", *("—",) * 7))
        else:
            rows.append((str(r.id), s.node.status_addr, r.role + (" (held)" if r.held else ""), str(r.term),
                         _opt(r.leader), _opt(r.last_log_index), _opt(r.applied_index), str(r.journal_seq),
                         f"{r.state_hash:#018x}", f"{r.output_hash:#018x}"))
    widths = [max(len(x[c]) for x in (head, *rows)) for c in range(len(head))]
    right = {3, 4, 5, 6, 7}
    return ["  ".join(x[c].rjust(widths[c]) if c in right else x[c].ljust(widths[c]) for c in range(len(head))).rstrip()
            for x in (head, *rows)]


def format_summary(statuses: Sequence[NodeStatus], s: Summary) -> list[str]:
    """The lines under the table: leader, agreement, lag, unreachable nodes, the verdict."""
    out: list[str] = []
    if s.leader is not None:
        how = "" if s.leader_answered else " (named by the other nodes; it does not answer here)"
        out.append(f"leader: node {s.leader} at term {s.term}{how}; {s.answered} of {s.asked} nodes answered")
    else:
        out.append(f"leader: none known; {s.answered} of {s.asked} nodes answered")
    for i, t in sorted(s.stale_leaders.items()):
        out.append(f"node {i} still takes itself for the leader of term {t} (the cluster is at term {s.term}): it is "
                   f"cut off from the majority and can commit nothing")
    for seq, ids in sorted(s.agreeing.items()):
        out.append(f"agree: nodes {', '.join(map(str, ids))} at journal seq {seq}")
    out += [d.line() for d in s.disagreements]
    if not s.agreeing and not s.disagreements and s.answered > 1:
        out.append("agree: not compared: no two nodes at the same journal seq (the load is moving; ask again, or "
                   "hold it)")
    if s.behind:
        out.append("behind the leader: " + ", ".join(f"node {i} by {n} record{'s' * (n != 1)}"
                                                    for i, n in sorted(s.behind.items())))
    elif s.leader_answered and s.answered > 1:
        out.append("behind the leader: none")
    out += [f"node {x.node.id} ({x.node.status_addr}): {x.error}" for x in statuses if x.error is not None]
    out.append("status: OK" if not s.problems else "status: PROBLEM: " + "; ".join(s.problems))
    return out


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cluster", help="a replicated desk's nodes: roles, terms, log positions, state hashes "
                                       "(docs/cluster.md)")
    csub = p.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    st = csub.add_parser("status", help="ask every node of cluster.toml for its status and compare them",
                         description=(
        "Asks every node of the cluster file at once on its status port and prints a table (role, term, leader, "
        "last log index, applied index, journal seq, state and output hashes), then who leads at which term, whether "
        "nodes at the same journal seq agree on their hashes, who is behind the leader, and each node that does not "
        "answer. Exit status: 0 when a leader is known, no two nodes at the same journal seq disagree and (without "
        "--node) a majority of the nodes answered; 1 otherwise; 2 for a bad command line or cluster file."))
    st.add_argument("--config", "--cluster", dest="cluster_config", required=True, metavar="CLUSTER_TOML",
                    help="the cluster file (cluster.toml, as cluster_node and serve --cluster read it)")
    st.add_argument("--node", type=int, metavar="N", help="ask node N only")
    st.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                    help=f"seconds each node has to answer (default {DEFAULT_TIMEOUT_S:g})")
    st.add_argument("--json", action="store_true", help="print one JSON object (nodes and summary) instead")
    st.set_defaults(func=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    name = "rfqcore cluster status"
    if not args.timeout > 0:
        print(f"{name}: --timeout {args.timeout:g}: give a positive number of seconds", file=sys.stderr)
        return 2
    try:
        nodes = load_nodes(args.cluster_config)
        if args.node is not None:
            nodes = [n for n in nodes if n.id == args.node] or _unknown_node(Path(args.cluster_config), args.node,
                                                                              nodes)
    except ConfigError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    statuses = ask(nodes, args.timeout)
    s = summarize(statuses, whole=args.node is None)
    if args.json:
        print(json.dumps({"nodes": [x.to_json() for x in statuses], "summary": s.to_json()}))
    else:
        print("\n".join([*format_table(statuses), "", *format_summary(statuses, s)]))
    return s.exit_status
