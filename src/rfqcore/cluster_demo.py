"""``rfqcore cluster-demo``: three desk nodes on this machine, the leader killed mid-session, the client
carrying on (docs/cluster.md, "cluster-demo").

What a user of a replicated desk would watch, with the real parts: a ``cluster.toml`` for three
nodes on 127.0.0.1 (free ports) in a work directory, three ``rfqcore serve --cluster cluster.toml
--node N`` processes (each with its own embedded Aeron media driver and data directory, logging to
``nodeN.log``; the recorded BTC/ETH streams are the market data of whichever node leads), the
``rfqcore cluster status`` table, and a :class:`~rfqcore.cluster_client.ClusterClient` session as
acme-capital. Then, ``--kills`` times: a quote filled and one more quote taken, the leader killed
(``SIGKILL``), the accept of that quote sent to the dead leader — its outcome learnt from the
next leader — the next quote served by the new leader (the failover time: from the kill to that
quote), the fill made before the kill ``FILLED`` on the new leader, and the killed node restarted
and caught up. At the end every node is held (no market data, no heartbeats) until all three
report the same journal seq and state hash, the client's fills are each listed once by the last
leader, and the nodes are stopped with ``SIGTERM`` (exit status 0 each).

Exit status 0 only when all of that held; 1 with one line saying what went wrong and where the
nodes' logs are (the work directory is then kept); 2 for a bad command line; 130 on Ctrl-C or
SIGTERM (the nodes stopped, the work directory removed unless ``--keep``).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from rfqcore import cluster_cli
from rfqcore.ports import free_port
from rfqcore.units import human

if TYPE_CHECKING:  # imported when the demo runs, so that `rfqcore --help` starts fast
    from rfqcore.cluster_client import ClusterClient
    from rfqcore.rfq import Execution, Quote

__all__ = ["add_parser", "run_cluster_demo"]

NODES = (1, 2, 3)
NAME = "rfqcore cluster-demo"
CLIENT = "acme-capital"
#: The quotes' requested lifetime: the gold tier's longest, so a quote taken before a kill is still live
#: on the next leader
TTL_MS = 10_000
#: Seconds each wait may take on a loaded 2-core machine before the demo gives up
START_S, FAILOVER_S, CATCH_UP_S, CONVERGE_S, STOP_S = 45.0, 30.0, 60.0, 60.0, 30.0


class DemoFailed(Exception):
    """A step of the demo did not do what it shows: the one line the demo ends with."""


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)


def _write_cluster(work: Path) -> Path:
    """cluster.toml for three nodes on loopback, each with a free Raft and status port and its own
    data directory (relative to the file)."""
    text = ("# written by rfqcore cluster-demo (docs/cluster.md)\n[cluster]\nheartbeat_ms = 50\n"
            "election_timeout_ms = [600, 1200]\nlog_sync = \"each\"\nsnapshot_every = 0\n\n")
    for n in NODES:
        text += (f"[[node]]\nid = {n}\naddr = \"127.0.0.1:{free_port()}\"\nstatus = \"127.0.0.1:{free_port()}\"\n"
                 f"dir = \"node{n}\"\n\n")
    path = work / "cluster.toml"
    path.write_text(text)
    return path


def _say(text: str = "") -> None:
    print(text, flush=True)


class Nodes:
    """The three ``rfqcore serve --cluster`` processes."""

    def __init__(self, work: Path, data: Path) -> None:
        self.work, self.data = work, data
        self.file = _write_cluster(work)
        self.nodes = cluster_cli.load_nodes(self.file)
        tag = f"{os.getpid()}-{os.urandom(3).hex()}"
        self.aeron = {n: f"/dev/shm/rfqcore-cluster-demo-{tag}-node{n}" for n in NODES}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.killed: list[subprocess.Popen[bytes]] = []
        self._logs: list[TextIO] = []

    def log(self, n: int) -> Path:
        return self.work / f"node{n}.log"

    def start(self, n: int) -> None:
        log = open(self.log(n), "a")  # noqa: SIM115 - the node process writes it; closed at the end
        self._logs.append(log)
        self.procs[n] = subprocess.Popen(
            [sys.executable, "-m", "rfqcore.cli", "serve", "--cluster", str(self.file), "--node", str(n),
             "--aeron-dir", self.aeron[n], "--data", str(self.data), "--status-every", "1",
             "--idle", "park"],  # three desks share this machine's CPUs: a spinning leader would starve the rest
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # Ctrl-C reaches the demo only: it stops the nodes in order

    def kill(self, n: int) -> int:
        p = self.procs[n]
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        self.killed.append(p)
        return p.pid

    def status(self, timeout: float = 2.0) -> list[cluster_cli.NodeStatus]:
        # generous: a node's status port answers late on a loaded machine, and the waits below need
        # every node's answer
        return cluster_cli.ask(self.nodes, timeout)

    def check_alive(self) -> None:
        for n, p in self.procs.items():
            if p not in self.killed and p.poll() is not None:
                raise DemoFailed(f"node {n} exited with status {p.returncode} (see {self.log(n)})")

    def wait_for(self, what: str, timeout: float,
                 done: Callable[[list[cluster_cli.NodeStatus]], bool]) -> list[cluster_cli.NodeStatus]:
        """Ask every node until ``done(statuses)``; :class:`DemoFailed` naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            sts = self.status()
            if done(sts):
                return sts
            if time.monotonic() > deadline:
                raise DemoFailed(f"{what} within {timeout:g} s")
            time.sleep(0.1)

    def stop(self) -> dict[int, int]:
        """SIGTERM every running node, wait for each (SIGKILL after ``STOP_S``): their exit statuses."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes: dict[int, int] = {}
        for n, p in self.procs.items():
            if p in self.killed:
                continue
            try:
                codes[n] = p.wait(STOP_S)
            except subprocess.TimeoutExpired:
                p.kill()
                codes[n] = p.wait()
        return codes

    def clean(self) -> None:
        """Close the logs; remove what a node killed and not restarted left in /dev/shm."""
        from rfqcore.instance import AlreadyRunning, InstanceLock, remove_stale

        for f in self._logs:
            f.close()
        for n in NODES:
            lock = InstanceLock(self.aeron[n] + ".lock", f"node {n}", "")
            if not lock.path.exists():
                continue
            try:
                stale = lock.acquire()
            except (AlreadyRunning, OSError):
                continue
            try:
                if stale:
                    remove_stale(stale)
            finally:
                lock.release()
            lock.path.unlink(missing_ok=True)


class _ElectionWatch(threading.Thread):
    """Asks every node, from the kill on, until one other than the dead leader reports itself leader:
    ``found`` = (node, term, seconds after the kill). The failover's first part, the election."""

    def __init__(self, nodes: Nodes, dead: int, t_kill: float) -> None:
        super().__init__(name="cluster-demo-election-watch", daemon=True)
        self.nodes, self.dead, self.t_kill = nodes, dead, t_kill
        self.found: tuple[int, int, float] | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set() and time.monotonic() < self.t_kill + FAILOVER_S:
            try:
                sts = cluster_cli.ask(self.nodes.nodes, 0.5)
            except Exception:  # noqa: BLE001 - a watcher only: the demo goes on without its line
                return
            for st in sts:
                r = st.report
                if r is not None and r.id != self.dead and r.role == "leader":
                    self.found = (r.id, r.term, time.monotonic() - self.t_kill)
                    return
            self.done.wait(0.02)


def _table(nodes: Nodes, sts: list[cluster_cli.NodeStatus]) -> None:
    _say(f"rfqcore cluster status --config {nodes.file}:")
    for line in (*cluster_cli.format_table(sts), "", *cluster_cli.format_summary(sts, cluster_cli.summarize(sts))):
        _say(line)


def _leader(sts: list[cluster_cli.NodeStatus], exclude: int | None = None) -> int | None:
    s = cluster_cli.summarize(sts)
    if s.leader is None or not s.leader_answered or s.leader == exclude:
        return None
    return s.leader


def _quote_line(node: int, q: Quote) -> str:
    pd = q.price_decimals or 0
    sides = "  ".join(f"client {'buys' if s.side == 0 else 'sells'} {human(s.qty_raw, q.qty_decimals, q.base)} @ "
                      f"{human(s.price_raw, q.price_decimals, q.currency, min_decimals=pd)}" for s in q.sides)
    valid = max(0, q.valid_until - q.core_time) / 1e9
    return f"node {node}  quote {q.quote_id:<3} {q.instrument}  {sides}  (valid {valid:.0f} s)"


def _fill_line(node: int, ex: Execution) -> str:
    pd = ex.price_decimals or 0
    return (f"node {node}  fill  trade {ex.trade_id:<3} {ex.instrument}  {'bought' if ex.side == 0 else 'sold'} "
            f"{human(ex.qty_raw, ex.qty_decimals, ex.base)} @ "
            f"{human(ex.price_raw, ex.price_decimals, ex.currency, min_decimals=pd)}  (quote {ex.quote_id})")


class Demo:
    """The client session against :class:`Nodes` (see the module doc)."""

    def __init__(self, nodes: Nodes, kills: int) -> None:
        from rfqcore.cluster_client import ClusterClient

        self.nodes, self.kills = nodes, kills
        self.cc = ClusterClient(CLIENT, nodes=[(nodes.aeron[n], None) for n in NODES], failover_timeout=FAILOVER_S)
        #: every execution the client was given: trade id -> quote id
        self.fills: dict[int, int] = {}
        self.failover_s: list[float] = []
        self.sizes = itertools.cycle([("BTC", "buy", "0.1"), ("ETH", "sell", "1"), ("BTC", "sell", "0.05"),
                                      ("ETH", "buy", "0.5")])

    @property
    def node(self) -> int:
        """The node the client is logged on to (ids 1..3 are the endpoints' order)."""
        if self.cc.node is None:
            raise DemoFailed("the client is not logged on to any node")
        return self.cc.node + 1

    def quote(self, what: str = "", timeout: float = 30.0) -> Quote:
        """A firm quote (asked again while the leader's books are not live yet: a rejected RFQ)."""
        from rfqcore.rfq import RequestRejected

        inst, side, qty = next(self.sizes)
        deadline = time.monotonic() + timeout
        while True:
            self.nodes.check_alive()
            try:
                q = self.cc.request_quote(inst, side, qty, timeout=2.0, ttl_ms=TTL_MS)
                break
            except RequestRejected as e:  # no market yet on a desk just started
                if time.monotonic() > deadline:
                    raise DemoFailed(f"node {self.node} refused every quote for {timeout:g} s: {e}") from e
                time.sleep(0.2)
        _say("  " + _quote_line(self.node, q) + (f"  {what}" if what else ""))
        return q

    def accept(self, q: Quote) -> Execution | None:
        """Hit ``q``; None (said in one line) when it did not execute — e.g. an election on a loaded
        machine between the quote and the hit, the quote expired or refused on the next leader."""
        from rfqcore.cluster_client import AcceptOutcome
        from rfqcore.rfq import AcceptRejected

        try:
            ex = self.cc.accept(q, timeout=2.0)
        except (AcceptOutcome, AcceptRejected) as e:
            _say(f"  node {self.node}  quote {q.quote_id} not executed: {e}")
            return None
        self._filled(ex)
        _say("  " + _fill_line(self.node, ex))
        return ex

    def fill(self) -> Execution:
        """A quote and its fill (a few tries: see :meth:`accept`)."""
        for _ in range(3):
            ex = self.accept(self.quote())
            if ex is not None:
                return ex
        raise DemoFailed("three quotes in a row did not fill")

    def _filled(self, ex: Execution) -> None:
        if ex.trade_id in self.fills:
            raise DemoFailed(f"trade {ex.trade_id} was reported twice (quotes {self.fills[ex.trade_id]} and "
                             f"{ex.quote_id})")
        self.fills[ex.trade_id] = ex.quote_id

    def run(self) -> int:
        nodes = self.nodes
        self.cc.connect()
        _say(f"\nclient {CLIENT} (ClusterClient over the three nodes' Aeron gateways): logged on to node {self.node}, "
             f"the leader")
        self.fill()
        for k in range(1, self.kills + 1):
            self.kill_round(k)
        return self.finish()

    def kill_round(self, k: int) -> None:
        from rfqcore.client import QuoteStatusCode
        from rfqcore.cluster_client import AcceptOutcome
        from rfqcore.rfq import AcceptRejected

        nodes = self.nodes
        filled = self.fill()
        pending = self.quote("(accepted after the kill)")
        leader = self.node
        t_kill = time.monotonic()
        pid = nodes.kill(leader)
        watch = _ElectionWatch(nodes, leader, t_kill)
        watch.start()
        _say(f"\nkill {k}: node {leader}, the leader, killed (SIGKILL to PID {pid}) mid-session")
        # the accept goes to the dead leader: no answer; the client finds the next leader and learns there
        # what became of it (executed or not, never both, never twice)
        settled = len(self.cc.in_flight)
        ex: Execution | None = None
        why = ""
        try:
            ex = self.cc.accept(pending, timeout=1.0)
        except AcceptOutcome as e:  # expired or ended there: not executed
            why = f"{e.status.state.name} there: not executed"
        except AcceptRejected as e:  # live there, sent again, refused (e.g. its books not live yet)
            why = f"LIVE there, so sent again, once: rejected ({e.reason_name}): not executed"
        t_acc = time.monotonic() - t_kill
        new = self.node
        watch.done.set()
        watch.join(5)
        if watch.found is not None:
            _say(f"  node {watch.found[0]} elected leader of term {watch.found[1]} {watch.found[2]:.2f} s after the kill "
                 f"(its status port)")
        if new == leader:
            raise DemoFailed(f"the client is still on node {leader}, which was killed")
        how = dict(self.cc.in_flight[settled:]).get(pending.quote_id)
        if how is None:
            raise DemoFailed(f"the accept of quote {pending.quote_id} sent to the dead leader got an answer")
        if ex is not None:
            self._filled(ex)
            why = {"retried": "LIVE there (the accept never reached a majority), so sent again, once: filled",
                   "filled": "FILLED there (a majority had the accept before the leader died)"}.get(how, how)
            why += f", trade {ex.trade_id}"
        _say(f"  accept of quote {pending.quote_id} sent to node {leader} (dead): no answer; outcome learnt from node "
             f"{new}, the new leader, {t_acc:.2f} s after the kill: quote {why}")
        # executed or not, never both: the new leader's word on the quote agrees
        st = self.cc.quote_status(pending.quote_id)
        if (st.state == QuoteStatusCode.FILLED) != (ex is not None) or (ex is not None and st.trade_id != ex.trade_id):
            raise DemoFailed(f"quote {pending.quote_id}: the client settled its accept as "
                             f"{'trade ' + str(ex.trade_id) if ex else 'not executed'} but node {new} says "
                             f"{st.state.name} (trade {st.trade_id})")
        q = self.quote()
        failover = time.monotonic() - t_kill
        self.failover_s.append(failover)
        _say(f"  failover: first quote from the new leader, node {new}, {failover:.2f} s after the kill")
        st = self.cc.quote_status(filled.quote_id)
        if st.state != QuoteStatusCode.FILLED or st.trade_id != filled.trade_id:
            raise DemoFailed(f"quote {filled.quote_id}, filled by node {leader} before the kill (trade "
                             f"{filled.trade_id}), is {st.state.name} (trade {st.trade_id}) on node {new}")
        _say(f"  node {new}  quote {filled.quote_id} status: FILLED, trade {st.trade_id} — the fill node {leader} "
             f"acknowledged before it died")
        self.accept(q)
        # the killed node comes back, replays its own Raft log and catches up from the leader
        def seq_of(sts: list[cluster_cli.NodeStatus], n: int) -> int | None:
            r = next(s.report for s in sts if s.node.id == n)
            return None if r is None else r.journal_seq

        at = seq_of(nodes.wait_for(f"node {new}, the leader, did not answer on its status port", CATCH_UP_S,
                                   lambda sts: seq_of(sts, new) is not None), new)
        assert at is not None
        t_up = time.monotonic()
        nodes.start(leader)
        _say(f"\nnode {leader} restarted (PID {nodes.procs[leader].pid}): catching up with node {new} from its own "
             f"Raft log and the leader's")

        def caught_up(sts: list[cluster_cli.NodeStatus]) -> bool:
            r = next(s.report for s in sts if s.node.id == leader)
            return r is not None and r.role == "follower" and r.journal_seq >= at

        sts = nodes.wait_for(f"node {leader}, restarted, did not catch up with journal seq {at}", CATCH_UP_S,
                             caught_up)
        _say(f"node {leader} is a follower again and past journal seq {at:,} (where the leader was at the restart) "
             f"{time.monotonic() - t_up:.1f} s after the restart\n")
        _table(nodes, sts)

    def finish(self) -> int:
        nodes = self.nodes
        resent = self.cc.executions_since(0, timeout=5.0)
        listed = [e.trade_id for e in resent.executions if e.trade_id in self.fills]
        last = self.node
        self.cc.close()
        _say(f"\nholding every node (market data and heartbeats stopped) until they come to rest")
        t_hold = time.monotonic()
        cluster_cli.ask(nodes.nodes, 2.0, "hold")
        before: list[tuple[int, int, int] | None] = []

        def at_rest(sts: list[cluster_cli.NodeStatus]) -> bool:
            nonlocal before
            now = [None if s.report is None else (s.report.journal_seq, s.report.state_hash, s.report.output_hash)
                   for s in sts]
            same = None not in now and len(set(now)) == 1 and now == before
            before = now
            if not same:
                time.sleep(0.4)
            return same

        sts = nodes.wait_for("the nodes did not come to rest at one journal seq and state hash", CONVERGE_S,
                             at_rest)
        _say(f"at rest {time.monotonic() - t_hold:.1f} s after the hold\n")
        _table(nodes, sts)
        problems: list[str] = []
        r = sts[0].report
        assert r is not None
        if sorted(listed) != sorted(self.fills):
            problems.append(f"node {last} lists trades {sorted(listed)} of the client's, which was given "
                            f"{sorted(self.fills)}")
        fills = ", ".join(str(t) for t in sorted(self.fills))
        if not problems:
            _say(f"\n3 nodes agree at journal seq {r.journal_seq:,}, state hash {r.state_hash:#018x}; fills: trades "
                 f"{fills} each once (listed by node {last}, the last leader)")
        codes = nodes.stop()
        bad = {n: c for n, c in codes.items() if c != 0}
        if bad:
            problems.append("nodes exited with status " + ", ".join(f"{n}: {c}" for n, c in sorted(bad.items())))
        else:
            _say("stopped the nodes (SIGTERM): each exited with status 0")
        if self.failover_s:
            _say("failover (kill -> first quote from the new leader): " +
                 ", ".join(f"{x:.2f} s" for x in self.failover_s))
        if problems:
            raise DemoFailed("; ".join(problems))
        return 0


def run_cluster_demo(nodes: Nodes, kills: int) -> int:
    """The demo on ``nodes`` (not started yet; see the module doc): 0 when everything held; raises
    :class:`DemoFailed` (or the client's errors) when a step fails. The caller stops the nodes."""
    t0 = time.monotonic()
    _say(f"work directory {nodes.work}: cluster.toml, node1..3/ (Raft log, journal), node1..3.log")
    for n in NODES:
        nodes.start(n)
    _say(f"started 3 nodes: rfqcore serve --cluster cluster.toml --node N --aeron-dir /dev/shm/…-nodeN --data "
         f"{nodes.data} (PIDs {', '.join(str(nodes.procs[n].pid) for n in NODES)})")
    sts = nodes.wait_for("no leader was elected", START_S, lambda s: _leader(s) is not None)
    _say(f"leader elected: node {_leader(sts)} ({time.monotonic() - t0:.1f} s after the start)\n")
    _table(nodes, sts)
    demo = Demo(nodes, kills)
    try:
        rc = demo.run()
    finally:
        c, i = demo.cc.current, demo.cc.node
        if c is not None and i is not None and nodes.procs[i + 1].poll() is not None:
            c.token = 0  # its node is dead (interrupted right after a kill): no logout to wait for
        try:
            demo.cc.close()
        except Exception:  # noqa: BLE001 - its node may be gone
            pass
    _say(f"{NAME}: done in {time.monotonic() - t0:.1f} s")
    return rc


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cluster-demo", help="three desk nodes on this machine: the leader killed mid-session, the "
                                            "client carrying on (docs/cluster.md)",
                       description=(
        "Starts three `rfqcore serve --cluster` nodes on 127.0.0.1 (free ports, each with its own Aeron media driver "
        "and data directory), shows `rfqcore cluster status`, runs a client session as acme-capital that follows the "
        "leader, kills the leader (SIGKILL) mid-session and shows the client carrying on: an accept sent to the dead "
        "leader settled by the new one, the failover time, the fill made before the kill FILLED on the new leader, "
        "the killed node restarted and caught up. At the end every node is held and must report the same journal "
        "seq and state hash. Exit status 0 when all of that held, 1 otherwise (one line; the logs are kept)."))
    p.add_argument("--data", metavar="PATH",
                   help="folder holding the recorded data (default: $RFQCORE_DATA or ../shared/data)")
    p.add_argument("--keep", metavar="DIR", help="keep cluster.toml, the nodes' data directories and logs in DIR "
                                                 "(new or empty; default: a temporary directory removed at the end)")
    p.add_argument("--kills", type=int, default=1, metavar="N", help="kill the leader N times (default 1)")
    p.set_defaults(func=_cmd_cluster_demo)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # once: the demo then stops the nodes in order with both signals ignored
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Interrupted(signum)


def _cmd_cluster_demo(args: argparse.Namespace) -> int:
    from rfqcore.cli import find_data_root

    if args.config:
        _err("the demo runs on the bundled instruments and RFQ settings; --config does not apply (run your own "
             "nodes with `rfqcore serve --cluster cluster.toml --node N --config ...`)")
        return 2
    if args.kills < 1:
        _err(f"--kills {args.kills}: give the number of times to kill the leader, 1 or more")
        return 2
    root = find_data_root(args.data)
    if root is None:
        _err("recorded data not found (--data, RFQCORE_DATA, ../shared/data); the desk needs market data to quote "
             "from")
        return 2
    if args.keep:
        work = Path(args.keep).resolve()
        if work.exists() and (not work.is_dir() or any(work.iterdir())):
            _err(f"--keep {args.keep}: not an empty directory; give a new or empty one")
            return 2
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="rfqcore-cluster-demo-"))
    _say(f"{NAME}: three desk nodes on this machine; the leader is killed mid-session and the client carries on "
         f"(docs/cluster.md)")
    # the client's own warnings (session lost, looking for the leader) are what the demo prints anyway
    logging.getLogger("rfqcore.cluster_client").setLevel(logging.ERROR)
    old = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    keep_work = bool(args.keep)
    nodes: Nodes | None = None
    try:
        nodes = Nodes(work, root)
        rc = run_cluster_demo(nodes, args.kills)
    except _Interrupted as e:
        _say(f"{NAME}: stopped ({e}) before the end; the nodes were stopped"
             + (f", their files are in {work}" if keep_work else " and their files removed"))
        rc = 130
    except DemoFailed as e:
        keep_work = True
        _err(f"{e}; the nodes' logs are in {work}")
        rc = 1
    except Exception as e:  # noqa: BLE001 - any other failure of a step: one line, the logs kept
        keep_work = True
        _err(f"{type(e).__name__}: {e}; the nodes' logs are in {work}")
        rc = 1
    finally:
        if nodes is not None:  # every node stopped, whatever happened (idempotent)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            nodes.stop()
            nodes.clean()
        for s, h in old.items():
            signal.signal(s, h)
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return rc


def _err(text: str) -> None:
    print(f"{NAME}: {' '.join(text.split())}", file=sys.stderr, flush=True)
