"""A client of a replicated desk that follows its leader (docs/cluster.md, "Clients").

Only the leader of a replicated desk (``rfqcore serve --cluster``) runs a gateway; the other nodes
run none. :class:`ClusterClient` knows every node's gateway endpoint (Aeron directory and
channel), logs on to the one that answers, and when its session dies (the leader was killed,
partitioned, or lost its term: a request times out, the publication loses its subscriber) it logs on
to the next leader by itself:

- :meth:`ClusterClient.request_quote` asks again on the new leader (a quote the old leader gave is
  in the committed log and simply expires there);
- :meth:`ClusterClient.accept` whose answer was lost learns **the outcome of the accept in
  flight** from the new leader, whose gateway knows the committed log's client answers
  (``QUOTE_STATUS``): ``FILLED`` — it executed (committed by a majority before the old leader
  died), and its execution report is fetched again (``EXEC_RESEND``); ``LIVE`` — it never reached
  a majority, so it can never execute (the new leader's log replaced it), and the accept is sent
  again to the new leader, once; anything else (expired, cancelled) — not executed,
  :class:`AcceptOutcome` says why. Executed or not, never both, never twice.

A **watchdog** thread closes the session once its node's media driver is gone (its process dead,
or its heartbeat older than 5 s), even while the client is idle: the Aeron C client that pyaeron
wraps keeps Aeron's default error handler, which ends the whole process when its driver has not
answered for 10 s. The next request then finds the new leader.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from rfqcore.client import (GatewayError, NotLoggedOn, QuoteStatus, QuoteStatusCode, RequestTimeout, Resent,
                            RfqClient)
from rfqcore.gateway.aeron import AeronUnavailable, driver_gone
from rfqcore.rfq import Execution, Quote

__all__ = ["AcceptOutcome", "ClusterClient", "Endpoint", "NoLeader"]

log = logging.getLogger("rfqcore.cluster_client")


class Endpoint(NamedTuple):
    """One node's gateway: its media driver's directory and the request channel."""

    aeron_dir: str
    channel: str | None = None


class NoLeader(GatewayError):
    """No node's gateway accepted a logon within the failover timeout."""


class AcceptOutcome(GatewayError):
    """An accept in flight across a failover did not execute: ``status`` is what the new leader
    says became of the quote (expired, cancelled, rejected...)."""

    def __init__(self, quote_id: int, status: QuoteStatus) -> None:
        super().__init__(f"quote {quote_id}: the accept in flight at the failover did not execute; the new leader "
                         f"says the quote is {status.state.name}")
        self.quote_id = quote_id
        self.status = status


_LOST = (RequestTimeout, NotLoggedOn, AeronUnavailable)
_T = TypeVar("_T")


class ClusterClient:
    """An :class:`~rfqcore.client.RfqClient` of whichever node leads (see the module doc).

    ``nodes``: the gateway endpoints, one per node (``Endpoint`` or ``(aeron_dir, channel)``).
    ``failover_timeout``: how long to look for a leader before :class:`NoLeader`. Other keyword
    arguments (``settings``, ``registry``, streams) go to each ``RfqClient``.
    """

    def __init__(self, client: int | str, secret: bytes | str | None = None, *,
                 nodes: Sequence[Endpoint | tuple[str, str | None]], failover_timeout: float = 15.0,
                 **kw: Any) -> None:
        if not nodes:
            raise ValueError("a cluster client needs at least one node endpoint")
        self.nodes = [Endpoint(*n) for n in nodes]
        self.client_id, self.secret, self.kw = client, secret, kw
        self.failover_timeout = failover_timeout
        self.current: RfqClient | None = None
        #: index in ``nodes`` of the node the client is logged on to (None: none)
        self.node: int | None = None
        #: failovers so far (logons after the first)
        self.failovers = 0
        #: (quote id, how the outcome was learnt: "filled", "retried", "not executed") per accept in
        #: flight at a failover
        self.in_flight: list[tuple[int, str]] = []
        self._rfq_id: int | None = None
        self._accept_id = 0
        self._last_trade_id = 0
        #: held while a session is used or replaced; the watchdog closes a session only when free
        self._lock = threading.RLock()
        self._watchdog: threading.Thread | None = None
        self._closing = threading.Event()
        #: sessions the watchdog closed because their node's media driver was gone
        self.closed_by_watchdog = 0

    # -- sessions ---------------------------------------------------------------------------

    def connect(self) -> ClusterClient:
        """Log on to the node whose gateway answers (the leader); :class:`NoLeader` after
        ``failover_timeout``."""
        with self._lock:
            self._connect()
        if self._watchdog is None:
            self._closing.clear()
            self._watchdog = threading.Thread(target=self._watch, name="rfqcore-cluster-watchdog", daemon=True)
            self._watchdog.start()
        return self

    def _connect(self) -> None:
        deadline = time.monotonic() + self.failover_timeout
        start = 0 if self.node is None else (self.node + 1) % len(self.nodes)
        errors: dict[int, str] = {}
        while time.monotonic() < deadline:
            for k in range(len(self.nodes)):
                i = (start + k) % len(self.nodes)
                c = self._try(i, errors)
                if c is not None:
                    self.current, self.node = c, i
                    return
            time.sleep(0.05)
        why = "; ".join(f"node {i + 1} ({self.nodes[i].aeron_dir}): {e}" for i, e in sorted(errors.items()))
        raise NoLeader(f"no node's gateway took a logon within {self.failover_timeout:g} s ({why}): is the "
                       f"cluster running, with a majority of its nodes up?")

    def _try(self, i: int, errors: dict[int, str]) -> RfqClient | None:
        ep = self.nodes[i]
        c = RfqClient(self.client_id, self.secret, aeron_dir=ep.aeron_dir, channel=ep.channel, **self.kw)
        # go on from the previous session's ids: RFQ and accept ids stay unique for the desk's
        # core (which is the same committed state on every node), missed fills are asked for
        if self._rfq_id is not None:
            c._rfq_id = self._rfq_id  # noqa: SLF001 - the client's id counters, carried over
        c._accept_id = self._accept_id  # noqa: SLF001
        c.last_trade_id = self._last_trade_id
        try:
            c.connect(timeout=0.2)
            c.logon(timeout=1.0)
            return c
        except BaseException as e:
            # never leave its Aeron client open: on a driver that dies, it would end this
            # process when the driver's keepalive times out (10 s)
            try:
                c.close()
            except Exception as e2:  # noqa: BLE001 - a half-open client of a dead node
                log.warning("closing a half-open session with node %d: %s: %s", i + 1, type(e2).__name__, e2)
            if not isinstance(e, (GatewayError, AeronUnavailable, OSError)):
                raise  # a logon refused (credentials) or an interrupt: the caller's to see
            errors[i] = str(e) or type(e).__name__
            return None

    def _save_ids(self) -> None:
        c = self.current
        if c is not None:
            self._rfq_id = c._rfq_id  # noqa: SLF001
            self._accept_id = c._accept_id  # noqa: SLF001
            self._last_trade_id = c.last_trade_id

    def _failover(self, why: BaseException) -> RfqClient:
        log.warning("session with node %s lost (%s); looking for the leader",
                    None if self.node is None else self.node + 1, why)
        try:
            self._drop()
        except Exception as e:  # noqa: BLE001 - its node is gone
            log.warning("closing the session with node %s: %s: %s", None if self.node is None else self.node + 1,
                        type(e).__name__, e)
        self._connect()
        self.failovers += 1
        assert self.current is not None
        return self.current

    def _watch(self, every: float = 0.5) -> None:
        """The watchdog (module doc): every ``every`` s, the current node's driver checked."""
        while not self._closing.wait(every):
            node = self.node
            if self.current is None or node is None or not driver_gone(self.nodes[node].aeron_dir):
                continue
            if not self._lock.acquire(blocking=False):
                continue  # a request is under way: it times out and fails over by itself
            try:
                if self.current is not None and self.node == node:
                    log.warning("node %d's media driver is gone (%s): session closed; the next request "
                                "looks for the leader", node + 1, self.nodes[node].aeron_dir)
                    self._drop()
                    self.closed_by_watchdog += 1
            except Exception as e:  # noqa: BLE001 - the watchdog must outlive a node's odd end
                log.warning("closing the session with node %d: %s: %s", node + 1, type(e).__name__, e)
            finally:
                self._lock.release()

    def _drop(self) -> None:
        """Close the current session without a logout: its session is dead (its node gone), and a
        logout would only wait its timeout for a confirmation that cannot come."""
        self._save_ids()
        old, self.current = self.current, None
        if old is not None:
            old.token = 0
            old.close()

    def close(self) -> None:
        self._closing.set()
        w, self._watchdog = self._watchdog, None
        if w is not None:
            w.join(5)
        with self._lock:
            if self.current is not None:
                self._save_ids()
                c, self.current = self.current, None
                c.close()
            self.node = None

    def __enter__(self) -> ClusterClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> RfqClient:
        """The session with the current leader."""
        if self.current is None:
            raise NotLoggedOn("not connected to the cluster: call connect()")
        return self.current

    # -- requests ---------------------------------------------------------------------------

    def _on_leader(self, call: Callable[[RfqClient], _T]) -> _T:
        """``call(session)`` on the leader; when the session dies on the way (no answer in time, the
        node gone), asked again on the next leader found, and again, until ``failover_timeout``
        has passed since the first try (a leader elected and killed in turn, a new leader slow to
        answer its first requests)."""
        deadline = time.monotonic() + self.failover_timeout
        with self._lock:
            while True:
                try:
                    return call(self.client)
                except _LOST as e:
                    if time.monotonic() > deadline:
                        raise
                    self._failover(e)

    def request_quote(self, instrument: int | str, side: str | int, qty: Decimal | int | str, *,
                      timeout: float = 1.0, **kw: Any) -> Quote:
        """:meth:`RfqClient.request_quote` on the leader; asked again on the next leader when the
        session dies on the way."""
        return self._on_leader(lambda c: c.request_quote(instrument, side, qty, timeout=timeout, **kw))

    def quote_status(self, quote: Quote | int, *, timeout: float = 2.0) -> QuoteStatus:
        """:meth:`RfqClient.quote_status` on the leader (following it)."""
        return self._on_leader(lambda c: c.quote_status(quote, timeout=timeout))

    def executions_since(self, after_trade_id: int | None = None, *, timeout: float = 5.0) -> Resent:
        """:meth:`RfqClient.executions_since` on the leader (following it): its gateway was seeded
        with the committed log's client answers, so it lists the fills of earlier terms too."""
        return self._on_leader(lambda c: c.executions_since(after_trade_id, timeout=timeout))

    def accept(self, quote: Quote, side: str | int | None = None, qty: Decimal | int | str | None = None, *,
               timeout: float = 1.0) -> Execution:
        """:meth:`RfqClient.accept` on the leader. If the session dies before the answer, the
        outcome is learnt from the next leader (module doc): its :class:`Execution` if the accept
        executed, else the accept is sent once more when the quote is still live there, else
        :class:`AcceptOutcome`."""
        with self._lock:
            return self._accept(quote, side, qty, timeout)

    def _accept(self, quote: Quote, side: str | int | None, qty: Decimal | int | str | None,
                timeout: float) -> Execution:
        try:
            return self.client.accept(quote, side, qty, timeout=timeout)
        except _LOST as e:
            self._failover(e)
        st = self.quote_status(quote, timeout=2.0)  # following the leader, should it change again
        c = self.client
        if st.state == QuoteStatusCode.FILLED:
            self.in_flight.append((quote.quote_id, "filled"))
            got = [x for x in (c.missed.executions if c.missed is not None else []) if x.trade_id == st.trade_id]
            if not got:
                got = [x for x in c.executions_since(st.trade_id - 1, timeout=2.0).executions
                       if x.trade_id == st.trade_id]
            if got:
                return got[0]
            raise GatewayError(f"quote {quote.quote_id} executed (trade {st.trade_id}) but the new leader no longer "
                               f"keeps its report: see the settlement store")
        if st.state == QuoteStatusCode.LIVE:
            # not in the committed log: it never executes; hit the quote again, once
            self.in_flight.append((quote.quote_id, "retried"))
            return self.accept(quote, side, qty, timeout=timeout)  # its outcome learnt again if lost again
        self.in_flight.append((quote.quote_id, "not executed"))
        raise AcceptOutcome(quote.quote_id, st)
