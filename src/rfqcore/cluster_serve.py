"""``rfqcore serve --cluster cluster.toml --node N``: one node of a replicated desk (docs/cluster.md).

A :class:`ClusterServer` is a :class:`~rfqcore.serve.Server` whose core's input journal is
replicated by Raft (``rfqcore_core.ClusterNode``, crate ``rfq-cluster``). It starts the media
driver and the cluster node (Raft, the node's state-machine core fed every committed block, its
status port: ``rfqcore cluster status``) and then a supervisor thread:

- while the node **leads**, it runs the desk: a fresh engine whose core is the committed state
  (``ClusterNode.lead``: a barrier entry commits everything before it in the new leader's log,
  the committed core is copied in, the journal and commit gate attached), then the core thread,
  the gateway and the market data — what ``rfqcore serve`` runs. Every input's outputs are
  published only once a majority of the nodes holds the input;
- when the node **stops leading** (its term ended, a proposal failed, the engine reports
  ``leadership_lost``), it stands the desk down — market data, gateway, engine — and drops the
  engine: its core may have run ahead of the commit, so it is never reused; the next time the
  node leads it starts again from the committed state;
- a **follower** runs no engine and no gateway: its state-machine core follows the committed
  log (hot standby), and clients find the leader through the nodes' gateways (the one running).

Settlement capture (``--settlement-store``, a store every node reaches: PostgreSQL, or one SQLite
file on one host) runs on the leader: its writer takes this term's executions from the core, and,
before the core starts, the committed log's newest executions (``ClusterNode.client_history``), so
a fill the dead leader acknowledged but never stored is captured by the next one; the store
ignores a trade id it has, so each trade is stored once.

``--http HOST:PORT`` serves this node's ``/metrics`` (the cluster's gauges — role, term, leader,
log and journal positions — and, while it leads, every metric of its desk) and ``/healthz``
(``ok`` while it follows a known leader or leads with its core and gateway running); while it
leads, the same address serves its desk's RFQ portal and operator console too (the desk's HTTP
server takes the address over for the term), their sessions in ``--http-sessions`` when the
nodes share one.

Venue hedging (``--venues``) runs on the leader: its venue link (:class:`~rfqcore.hedger.Hedger`)
starts with the desk and stops with it; venue order ids carry the cluster's prefix
(:func:`~rfqcore.hedger.cluster_id_prefix`), so the next leader adopts the hedge orders the
committed state holds open and its adapters reconcile them before the venue is up again (each
fill once, an order that never reached the venue rejected and routed again): see
:meth:`ClusterServer._hedger` for the fence that makes that verdict safe.

FIX (``--fix-port`` with ``--fix-store DIR``, one directory every node reaches) runs on the
leader: its acceptor starts with the term's desk and stops first at stand-down; its sessions'
sequence numbers, messages and the ids used live in the shared store, so a client that
reconnects to the next leader (QuickFIX initiators take a list of hosts) logs on where it left
off, and an order it sends again gets the ExecutionReport of its committed fill (seeded from the
committed log's client answers), never a second fill.

Not yet in cluster mode (refused with one line): HTTPS, ``--journal``.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import rfqcore_core

from rfqcore.errors import ClusterError
from rfqcore.hedger import Hedger, cluster_id_prefix
from rfqcore.serve import Server

__all__ = ["ClusterServer", "Term", "HEDGE_FENCE_S", "HEDGE_MAX_ORDER_AGE_MS"]

log = logging.getLogger("rfqcore.cluster")

#: a leader's venue link never sends a hedge order older than this (core time of its trigger): a
#: leader that lost its term and fell behind reports it rejected instead (the next leader
#: reconciles it; the order is IOC, so an old one is worth nothing)
HEDGE_MAX_ORDER_AGE_MS = 250.0
#: before a new leader reconciles the hedge orders its committed state holds open: the previous
#: leader signed its last order request at most HEDGE_MAX_ORDER_AGE_MS after the order was made,
#: before this leader was elected, and a Binance-style venue refuses a request signed more than
#: its recvWindow (the adapter's default: 5 s) ago; 1 s more for the clocks' skew. Then an order
#: the venue does not know can never reach it: rejected, routed again — once.
HEDGE_FENCE_S = HEDGE_MAX_ORDER_AGE_MS / 1000 + 5.0 + 1.0


@dataclass(frozen=True, slots=True)
class Term:
    """One term this node led: its number, the journal position it started from (records committed
    before it) and the committed state hash it started with."""

    term: int
    start_seq: int
    start_hash: int
    started: float  # time.monotonic() when the desk was serving


class ClusterServer(Server):
    """One node of a replicated desk, as a context manager (see the module doc)."""

    def __init__(self, cluster_file: str, node: int, **kw: Any) -> None:
        for key, what in (("journal", "--journal"), ("http_tls", "HTTPS")):
            if kw.get(key):
                raise ClusterError(f"{what} does not run in cluster mode yet (docs/cluster.md, \"Not yet\"); "
                                   f"serve without it, or without --cluster")
        #: ``HOST:PORT`` of this node's HTTP server: /metrics and /healthz on every node, and on the
        #: leader the RFQ portal and the operator console of its desk too (:meth:`_lead`)
        self.cluster_http: str | None = kw.pop("http", None)
        super().__init__(**kw)
        if (self.fix_port is not None or self.settings.fix.listen is not None) and not self.fix_store:
            raise ClusterError("FIX on a cluster node needs --fix-store DIR: one directory every node reaches (the "
                               "leader's FIX sessions keep their sequence numbers, messages and the ids used there, "
                               "so the next leader carries them on; docs/cluster.md, \"FIX\")")
        #: the committed log's newest client answers, decoded, as this term's desk started (the
        #: FIX gateway's answers to orders sent again)
        self._history_events: list[Any] = []
        self.cluster_file = cluster_file
        self.node_id = node
        self.node: rfqcore_core.ClusterNode | None = None
        #: the terms this node led since it started, oldest first (the last one is current while leading)
        self.terms: list[Term] = []
        self._leading: int | None = None  # the term the running desk serves
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lead_error: str | None = None
        self._held = False  # this term's desk is held (a drill's `hold`)
        self._taking, self._taken = 0, (0, 0)  # the term being taken: (term), (start seq, state hash)

    # -- lifetime ----------------------------------------------------------------------------

    def _start(self) -> ClusterServer:
        self._start_driver()
        self.node = rfqcore_core.ClusterNode(self.cluster_file, self.node_id, self.registry.instrument_specs(),
                                             self.registry.composite_specs(), rfq=self.settings.core_spec())
        self._follower_web()  # before the supervisor: a lead taken at once takes the address over from it
        self._supervisor = threading.Thread(target=self._supervise, name=f"rfqcore-cluster-{self.node_id}",
                                            daemon=True)
        self._supervisor.start()
        return self

    def _follower_web(self) -> None:
        """A node that does not lead serves /metrics and /healthz only (the portal and the
        console come with the leader's desk, on the same address: :meth:`_lead`)."""
        if self.cluster_http is None or self.web is not None:
            return
        from rfqcore.web import HttpServer, desk_registry, parse_address

        host, port = parse_address(self.cluster_http)
        self.web = HttpServer(host, port, desk_registry(self), health=self._health).start()

    def _history(self) -> list[Any] | None:
        return self._history_events

    def _health(self) -> dict[str, Any]:
        from rfqcore.web.metrics import cluster_health

        return cluster_health(self)

    def _close_web(self) -> None:
        """The HTTP server and the desk's web parts (portal streams, console, sessions store) down."""
        web, self.web = self.web, None
        if web is not None:
            try:
                web.stop()
            except Exception as e:  # noqa: BLE001 - keep going
                log.warning("stopping the HTTP server failed: %s", e)
        self.portal = self.console = None
        if self.session_store is not None:
            ss, self.session_store = self.session_store, None
            try:
                ss.close()
            except Exception as e:  # noqa: BLE001 - keep going
                log.warning("closing the web sessions store failed: %s", e)

    def status(self) -> dict[str, Any]:
        """This node's status (what its status port answers): role, term, leader, log position,
        committed journal seq, state and output hashes."""
        assert self.node is not None
        st: dict[str, Any] = json.loads(self.node.status_json())
        return st

    @property
    def leading(self) -> int | None:
        """The term whose desk (engine, gateway, market data) runs here, or None."""
        return self._leading

    def wait_leading(self, timeout: float = 30.0) -> bool:
        """Wait until this node's desk serves (it leads); False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._leading is not None:
                return True
            time.sleep(0.02)
        return False

    def _supervise(self) -> None:
        assert self.node is not None
        while not self._stopping.wait(0.02):
            term = self.node.leader_term()
            if self._leading is None:
                if term is not None:
                    self._lead()
            elif term != self._leading or (self.engine is not None and self.engine.core.leadership_lost):
                log.warning("node %d: leadership of term %d lost; standing the desk down", self.node_id,
                            self._leading)
                self._stand_down(graceful=False)
            if self.node.held and self.engine is not None and not self._held:
                self._hold()

    def _hold(self) -> None:
        """A drill's ``hold`` (status port): no more market data, no heartbeats — the desk comes to
        rest (client requests still go in), so the nodes can be compared at one position."""
        self._stop_replay()
        assert self.engine is not None
        self.engine.core.set_heartbeat(None)
        self._held = True
        log.warning("node %d: held (market data and heartbeats stopped)", self.node_id)

    def _lead(self) -> None:
        t0 = time.monotonic()
        try:
            if self.cluster_http is not None:
                # the desk's HTTP server (portal, console, metrics, health) takes the address over
                # from the follower's; a leader's web sessions live in --http-sessions (shared by
                # the nodes), else in memory: users log in again after a failover
                self._close_web()
                self.http = self.cluster_http
            self._start_core()
            self._start_doors()
        except ClusterError as e:  # lost the term while taking it, or the barrier did not commit
            log.warning("node %d: could not take the lead (%s)", self.node_id, e)
            self._stand_down(graceful=False)
            return
        except Exception as e:  # noqa: BLE001 - a desk that cannot start here: say why, keep following
            if str(e) != self._lead_error:
                log.error("node %d: the desk did not start: %s", self.node_id, e)
            self._lead_error = str(e)
            self._stand_down(graceful=False)
            return
        self._lead_error = None
        self._leading = self._taking
        self.terms.append(Term(self._taking, *self._taken, time.monotonic()))
        log.warning("node %d serves term %d: desk up %.0f ms after it saw itself lead (of which %.0f ms waiting for "
                    "fresh market data)", self.node_id, self._taking, (time.monotonic() - t0) * 1e3,
                    self.market_waited * 1e3)

    def _before_core_start(self, eng: Any) -> None:
        assert self.node is not None
        term, seq, state_hash, seeded = self.node.lead(eng.core)
        self._taking, self._taken = term, (seq, state_hash)
        history = None
        fix = self.fix_port is not None or self.settings.fix.listen is not None
        self._history_events = []
        if self.settlement is not None or self.portal is not None or fix:
            from rfqcore.records import RECORD_DTYPE

            history = np.frombuffer(self.node.client_history(), dtype=RECORD_DTYPE).copy()
        if self.settlement is not None and history is not None:
            # the committed log's executions, before this term's: a fill a dead leader acknowledged
            # but never got into the store is captured now (the store ignores a trade id it has)
            self.settlement.offer_records(history)
        if history is not None and (self.portal is not None or fix):
            from rfqcore.rfq import decode_events

            self._history_events = decode_events(history, self.registry)
        if self.portal is not None:
            # the portal's blotters of before: the committed log's newest client answers (quotes,
            # fills, quote ends; a row is kept once, by its idempotency key)
            self.portal.blotter.add(self._history_events)
        log.warning("node %d leads term %d from journal seq %d (state hash %016x; %d client answers of the "
                    "committed log seeded into the gateway)", self.node_id, term, seq, state_hash, seeded)

    def _hedger(self, eng: Any) -> Hedger:
        """The leader's venue link: venue order ids under the cluster's prefix (the same on every
        node), orders older than :data:`HEDGE_MAX_ORDER_AGE_MS` never sent, and — when the
        committed state holds hedge orders open (sent by the previous leader, their outcome not
        committed) — :data:`HEDGE_FENCE_S` before they are reconciled, so the previous leader's
        last request can no longer reach a venue (docs/cluster.md, "Venue hedging")."""
        return Hedger(eng, self.venues, id_prefix=cluster_id_prefix(self.cluster_file), fence_s=HEDGE_FENCE_S,
                      max_order_age_ms=HEDGE_MAX_ORDER_AGE_MS)

    def _stand_down(self, *, graceful: bool) -> None:
        """Stop the desk of this node's term: intake (market data, venue link, gateway), then —
        ``graceful``: once the cluster committed what the core journaled (at most 2 s), so its
        last outputs are published — the core and the proposer (not graceful: the proposer first,
        the runner fenced); the ring directory removed; the follower's HTTP server back."""
        if self.http is not None:  # the desk's web first: no RFQ or operator action in through it
            self._close_web()
            self.http = None
        if self.fix is not None:  # its sessions end (clients reconnect to the next leader)
            fx, self.fix = self.fix, None
            try:
                fx.stop()
            except Exception as e:  # noqa: BLE001 - keep standing down
                log.warning("stopping the FIX gateway failed: %s", e)
        self._stop_replay()
        if self.hedger is not None:  # no more orders out; the next leader reconciles what is open
            h, self.hedger = self.hedger, None
            try:
                h.stop()
            except Exception as e:  # noqa: BLE001 - keep standing down
                log.warning("stopping the venue link failed: %s", e)
        if self.gateway is not None:
            gw, self.gateway = self.gateway, None
            try:
                gw.stop()
            except Exception as e:  # noqa: BLE001 - keep standing down
                log.warning("stopping the gateway failed: %s", e)
        eng, self.engine = self.engine, None
        if eng is not None and graceful and self.node is not None:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and not eng.core.leadership_lost:
                js = eng.journal_stats()
                seq = None if js is None else js["committed_seq"]
                if not isinstance(seq, int) or self.node.committed_seq() >= seq:
                    break
                time.sleep(0.005)
        # a term that ended publishes nothing more: the proposer stopped and the runner fenced
        # before the core stops (a leader cut off from its majority never commits its last
        # blocks); a graceful stop keeps proposing until the core has stopped, so its last
        # committed outputs are published
        if self.node is not None and not graceful:
            self.node.stand_down()
        if eng is not None:
            try:
                eng.close()
            except Exception as e:  # noqa: BLE001 - keep standing down
                log.warning("stopping the core failed: %s", e)
        if self.node is not None and graceful:
            self.node.stand_down()
        if self.settlement is not None:  # after the core: its last executions are queued
            w, self.settlement = self.settlement, None
            try:
                w.stop()  # flushes, or spills what the store could not take
            except Exception as e:  # noqa: BLE001 - keep standing down
                log.warning("stopping the settlement writer failed: %s", e)
        if self.ring_dir is not None:
            shutil.rmtree(self.ring_dir, ignore_errors=True)
            self.ring_dir = None
        self._leading = None
        self._held = False
        if not self._stopping.is_set():
            try:
                self._follower_web()
            except Exception as e:  # noqa: BLE001 - the node follows on without its HTTP server
                log.error("node %d: its HTTP server did not come back: %s", self.node_id, e)

    def stop(self) -> None:
        """Stand the desk down (if leading: after the cluster committed its last inputs), shut the
        node down, then the media driver and the locks. Idempotent."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(10)
            self._supervisor = None
        self._stand_down(graceful=True)
        if self.node is not None:
            node, self.node = self.node, None
            node.shutdown()
        super().stop()
