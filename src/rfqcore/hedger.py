"""The venue link of the hedging core: venue adapters on one side, the engine's rings on the other.

(Not to be confused with the client gateway, :mod:`rfqcore.gateway`: that one faces clients.)

The core decides everything (docs/hedging.md): what to hedge, where, at which limit; it keeps
the OMS of hedge orders and the positions. This module only moves messages:

* ``HEDGE_ORDER`` outputs of the core → :meth:`VenueAdapter.place` (an IOC limit order; the
  venue's client order id is ``<prefix><cl_ord_id>``);
* every :class:`~rfqcore.venues.base.ExecReport` → one ``VENUE_REPORT`` input record (a fill and
  a terminal state in one venue message become two records), converted to the instrument's
  fixed-point scales exactly — a report that does not convert exactly is refused and logged,
  never rounded;
* link changes → ``VENUE_STATUS`` records (adapters report *up* only after reconciling every
  in-flight order, which is what the core expects before it closes what the venue did not
  report);
* venue market data → the existing decoders (:class:`~rfqcore.handlers.binance.BinanceHandler`,
  :class:`~rfqcore.handlers.okx.OkxHandler`) → the engine's market-data rings, with REST
  snapshots fetched when a decoder asks for one (start, sequence gap).

Adapters run on one asyncio loop in a thread of their own; the core's outputs reach it from the
engine's pump thread through ``call_soon_threadsafe``. Records go into two rings this thread
alone produces into (``venues`` and ``md-<venue>``), so the rings keep their single producer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import numpy as np

from rfqcore._ring import monotonic_ns
from rfqcore.engine import Engine
from rfqcore.errors import DecodeError
from rfqcore.handlers.base import Handler
from rfqcore.instruments import Instrument
from rfqcore.latency import LatencyRecorder
from rfqcore.records import RECORD_DTYPE, Flag, Kind, VenueReportKind
from rfqcore.rfq import HedgeOrder
from rfqcore.venues.base import (
    ExecReport,
    OrderRequest,
    OrderSide,
    OrdStatus,
    TimeInForce,
    VenueAdapter,
    VenueError,
    VenueStatus,
)

__all__ = ["VenueLink", "Hedger", "report_records", "AdapterFactory", "journal_id_prefix", "cluster_id_prefix"]

log = logging.getLogger("rfqcore.hedger")

#: builds an adapter given its callbacks (``on_report``, ``on_status``, ``on_market_data``)
AdapterFactory = Callable[..., VenueAdapter]

_NON_FILL_EXEC = 1 << 62


_PREFIX_FILE = "hedge-id-prefix"


def journal_id_prefix(journal_dir: str | Path) -> str:
    """The venue client order id prefix of the desk whose core state lives in ``journal_dir``:
    made once (random) and kept in the directory, so a restart from that journal adopts the
    orders its state holds open (:meth:`Hedger.start`); a new journal gets a new one (its ids
    restart at 1)."""
    path = Path(journal_dir) / _PREFIX_FILE
    try:
        prefix = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        prefix = ""
    if not (prefix.isalnum() and prefix.isascii()):
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = f"rq{secrets.token_hex(4)}x"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(prefix + "\n", encoding="ascii")
        os.replace(tmp, path)
    return prefix


def cluster_id_prefix(cluster_file: str | Path) -> str:
    """The venue client order id prefix of a replicated desk: the same on every node (a digest
    of the cluster's nodes: ids and Raft addresses, as every node's cluster file lists them), so
    the node that leads next adopts the orders the committed state holds open. A cluster made
    anew on the same nodes and venue accounts restarts its ids at 1 under the same prefix: give
    it other addresses, or keep its data directories."""
    with open(cluster_file, "rb") as f:
        doc = tomllib.load(f)
    nodes = sorted((int(n["id"]), str(n["addr"])) for n in doc.get("node", []))
    return f"rq{hashlib.blake2b(repr(nodes).encode(), digest_size=4).hexdigest()}c"


@dataclass
class VenueLink:
    """One hedge venue: its id in the hedging configuration, the registry instrument traded there
    (``venue:symbol``) and how to build its adapter."""

    id: int
    instrument: str
    adapter: AdapterFactory
    #: feed the venue's market data into the core (the router needs the member book)
    market_data: bool = True
    #: the symbol the venue uses (default: the registry instrument's symbol)
    venue_symbol: str | None = None


def _units(value: Decimal, decimals: int, what: str) -> int:
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {value} has more than {decimals} decimals")
    return int(scaled)


def report_records(rep: ExecReport, venue: int, inst: Instrument, cl_ord_id: int, ts_recv: int) -> list[tuple[Any, ...]]:
    """The ``VENUE_REPORT`` record tuples (RECORD_DTYPE field order) for one normalized report.

    A fill becomes ``PARTIAL_FILL``/``FILL`` (``price``/``qty`` in the instrument's scales, ``aux``
    the fee in quote currency at price+qty decimals, rounded up; ``ts_event`` the venue trade
    id); a terminal state without a fill of its own follows as a second record. Raises
    ``ValueError`` when an amount does not convert exactly.
    """
    out: list[tuple[Any, ...]] = []

    def rec(what: int, exec_id: int, price: int = 0, qty: int = 0, aux: int = 0) -> tuple[Any, ...]:
        return (int(Kind.VENUE_REPORT), inst.id, what, int(Flag.END), venue, cl_ord_id, exec_id, ts_recv,
                price, qty, aux, 0)

    def synthetic(what: int) -> int:
        return _NON_FILL_EXEC | (cl_ord_id << 3 & ((1 << 62) - 1)) | what

    st = rep.status
    if rep.last_qty > 0:
        price = _units(rep.last_price, inst.price_decimals, "fill price")
        qty = _units(rep.last_qty, inst.qty_decimals, "fill qty")
        fee = rep.commission
        if rep.commission_asset and rep.commission_asset == inst.base:
            fee = fee * rep.last_price  # a fee charged in the base asset, valued at the fill price
        fee_units = int(fee.scaleb(inst.price_decimals + inst.qty_decimals).to_integral_value(ROUND_CEILING))
        if rep.trade_id <= 0:
            raise ValueError("fill without a venue trade id")
        what = VenueReportKind.FILL if st == OrdStatus.FILLED else VenueReportKind.PARTIAL_FILL
        out.append(rec(int(what), rep.trade_id, price, qty, fee_units))
        if st in (OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED, OrdStatus.FILLED, OrdStatus.UNKNOWN):
            return out
    if st == OrdStatus.NEW:
        out.append(rec(int(VenueReportKind.ACK), synthetic(VenueReportKind.ACK)))
    elif st == OrdStatus.CANCELED:
        out.append(rec(int(VenueReportKind.CANCEL_ACK), synthetic(VenueReportKind.CANCEL_ACK)))
    elif st == OrdStatus.EXPIRED:
        out.append(rec(int(VenueReportKind.EXPIRED), synthetic(VenueReportKind.EXPIRED)))
    elif st == OrdStatus.REJECTED:
        code = 0
        for tok in rep.reason.replace(":", " ").split():
            try:
                code = min(abs(int(tok)), 0xFFFF)
                break
            except ValueError:
                continue
        out.append(rec(int(VenueReportKind.REJECT), synthetic(VenueReportKind.REJECT), aux=code))
    return out


@dataclass
class _Venue:
    link: VenueLink
    inst: Instrument
    symbol: str
    adapter: VenueAdapter | None = None
    handler: Handler | None = None
    md_producer: str = ""
    snapshot_pending: bool = False
    up: bool = False
    #: open orders of the core's state to hand to the adapter before it starts
    adopt: list[OrderRequest] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=lambda: {
        "orders": 0, "reports": 0, "report_errors": 0, "md_messages": 0, "md_errors": 0, "snapshots": 0,
        "foreign_reports": 0, "adopted": 0, "stale_orders": 0})


class Hedger:
    """Runs the venue adapters of an :class:`~rfqcore.engine.Engine` whose configuration has
    ``[[hedging]]`` entries. ``start()`` after ``engine.start()``; ``stop()`` before ``engine.close()``.
    """

    def __init__(self, engine: Engine, venues: Sequence[VenueLink], *, id_prefix: str | None = None,
                 fence_s: float = 0.0, max_order_age_ms: float | None = None) -> None:
        """``id_prefix``: the venue client order ids are ``<prefix><cl_ord_id>``; alphanumeric
        (OKX clOrdId). It must stay the same for as long as the core's state lives (a journal,
        a cluster's log: :func:`journal_id_prefix`, :func:`cluster_id_prefix`), so that the
        orders that state holds open can be adopted after a restart or a failover; None: unique per run (ids
        restart at 1 in a fresh core). ``fence_s``: with open orders to adopt, wait this long
        before reconciling them, so that a previous sender's last request can no longer reach
        the venue (a cluster's failover: see :meth:`start`). ``max_order_age_ms``: never send a
        ``HEDGE_ORDER`` older than this (core time of its trigger; a sender that fell behind,
        e.g. a leader that lost its term): it is reported rejected instead."""
        self.engine = engine
        self.id_prefix = id_prefix if id_prefix is not None else f"rq{time.time_ns() // 1_000_000 % 10**10:d}x"
        if not self.id_prefix.isalnum():
            raise ValueError("id_prefix must be alphanumeric")
        self.fence_s = fence_s
        self.max_order_age_ns = None if max_order_age_ms is None else int(max_order_age_ms * 1_000_000)
        #: the orders the core held open at start, handed to their adapters to reconcile
        self.adopted: list[str] = []
        self._fenced: asyncio.Future[None] | None = None
        self._venues: dict[int, _Venue] = {}
        for link in venues:
            inst = engine.registry.by_key(link.instrument)
            self._venues[link.id] = _Venue(link, inst, link.venue_symbol or inst.symbol)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sub: Any = None
        self._rec = np.zeros(4, dtype=RECORD_DTYPE)
        #: HEDGE_ORDER's trigger pushed (the accept's ring stamp) -> the order handed to the venue
        #: connection (monotonic clock): "client fill -> hedge order on the wire", minus the send
        self.fill_to_wire = LatencyRecorder()
        self.errors: list[str] = []
        #: set to a list to record ``(cl_ord_id, venue, ts_send, t_dispatch, t_place_returned)`` per
        #: hedge order (monotonic ns; bench/hedge_bench.py)
        self.trace: list[tuple[int, int, int, int, int]] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout_s: float = 15.0) -> None:
        """Start every venue adapter; returns when each reported *up*.

        Resuming exactly once (a restart from a journal, a cluster's new leader): the core's
        state may hold hedge orders open — sent by the previous run or leader, their outcome
        never reported. Each venue is first reported *down* (it is: not connected yet), which
        makes the core wait for it before routing; each open order is handed to its venue's
        adapter (:meth:`VenueAdapter.adopt`), whose reconciliation reports its fills (each venue
        trade id once; the OMS ignores one it applied) and its state before the venue is *up*
        again; one the venue does not know never reached it and is rejected, so the core routes
        that quantity again. With ``fence_s`` and anything to adopt, the adapters connect that much
        later (the venues stay down meanwhile) and this returns at once."""
        self.adopted = []
        for o in self.engine.hedge_orders():
            if o.open:
                v = self._venues.get(int(o.raw["venue"]))
                if v is None:
                    self._err(f"open hedge order {o.cl_ord_id} of unconfigured venue {o.raw['venue']}: not adopted")
                    continue
                self.adopted.append(f"{self.id_prefix}{o.cl_ord_id}")
                v.adopt.append(OrderRequest(cl_ord_id=f"{self.id_prefix}{o.cl_ord_id}", symbol=v.symbol,
                                            side=OrderSide.BUY if o.side == "buy" else OrderSide.SELL,
                                            qty=o.qty, price=o.price, tif=TimeInForce.IOC))
        ready = threading.Event()
        failure: list[BaseException] = []
        # the loop exists before the subscription: a HEDGE_ORDER routed while the adapters start
        # (the venues coming up) waits on it until it runs, never dropped
        loop = self._loop = asyncio.new_event_loop()
        self._sub = self.engine.subscribe(self._on_outputs, kinds=(Kind.HEDGE_ORDER,))

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_all())
            except BaseException as e:  # reported to start()
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop_all())
            loop.close()

        self._thread = threading.Thread(target=run, name="rfqcore-hedger", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise TimeoutError(f"venue adapters not up after {timeout_s} s")
        if failure:
            self.engine.unsubscribe(self._sub)
            self._sub = None
            self._loop = None
            raise failure[0]

    def stop(self) -> None:
        if self._sub is not None:
            self.engine.unsubscribe(self._sub)
            self._sub = None
        loop = self._loop
        if loop is not None and self._thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> Hedger:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[int, dict[str, int]]:
        return {vid: dict(v.stats, up=int(v.up)) for vid, v in self._venues.items()}

    # -- adapters --------------------------------------------------------------------------

    async def _start_all(self) -> None:
        from rfqcore.handlers.binance import BINANCE_VENUES, BinanceHandler
        from rfqcore.handlers.okx import OkxHandler

        reg = self.engine.registry
        for vid, v in self._venues.items():
            if v.link.market_data:
                if v.inst.venue in BINANCE_VENUES:
                    v.handler = BinanceHandler(reg, v.inst.venue, symbols=[v.inst.symbol])
                elif v.inst.venue == "okx":
                    v.handler = OkxHandler(reg, symbols=[v.inst.symbol])
                else:
                    raise ValueError(f"no market-data decoder for venue {v.inst.venue!r}")
                v.md_producer = f"md-{vid}"
                self.engine.add_producer(v.md_producer)
            v.adapter = v.link.adapter(
                on_report=lambda rep, vid=vid: self._on_report(vid, rep),
                on_status=lambda st, vid=vid: self._on_status(vid, st),
                on_market_data=lambda raw, ts, vid=vid: self._on_md(vid, raw, ts))
        self.engine.add_producer("venues")
        for vid in self._venues:  # not connected yet, whatever the state the core starts from says
            self._on_status(vid, VenueStatus(self._venues[vid].link.instrument, False, "starting", time.time_ns()))
        if self.adopted and self.fence_s > 0:
            # the venues stay down (the core routes nothing) until the fence has passed; start()
            # returns now, so a desk does not wait for its venues to open to its clients
            log.warning("%d open hedge order(s) to reconcile: the venues connect in %.1f s, once no earlier "
                        "sender's request can still reach them", len(self.adopted), self.fence_s)
            self._fenced = asyncio.ensure_future(self._start_adapters(self.fence_s))
            return
        await self._start_adapters(0.0)

    async def _start_adapters(self, delay_s: float) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
            try:
                await self._start_adapters(0.0)
            except Exception as e:  # noqa: BLE001 - no caller to raise to: say it, stay down
                self._err(f"venue adapters did not start after the fence: {e}")
            return
        for v in self._venues.values():
            for req in v.adopt:
                assert v.adapter is not None
                v.adapter.adopt(req)
                v.stats["adopted"] += 1
            v.adopt.clear()
        await asyncio.gather(*(v.adapter.start() for v in self._venues.values() if v.adapter))
        for vid, v in self._venues.items():
            if not v.up:  # adapters that do not report their first up
                self._on_status(vid, VenueStatus(v.link.instrument, True, "started", time.time_ns()))
            if v.handler is not None and hasattr(v.handler, "on_snapshot"):
                await self._snapshot(vid)  # REST-snapshot venues: sync the book now, not at the first diff

    async def _stop_all(self) -> None:
        if self._fenced is not None and not self._fenced.done():
            self._fenced.cancel()
        for v in self._venues.values():
            if v.adapter is not None:
                try:
                    await v.adapter.stop()
                except Exception as e:  # noqa: BLE001 - stopping must go on for every venue
                    log.warning("stopping venue %s: %s", v.link.id, e)

    # -- core -> venues --------------------------------------------------------------------

    def _on_outputs(self, records: np.ndarray) -> None:
        loop = self._loop
        if loop is None:
            return
        for r in records.tolist():
            _kind, inst, side, _fl, source, seq, _te, ts_recv, price, qty, aux, ts_send = r
            loop.call_soon_threadsafe(self._send, HedgeOrder(seq, source, inst, side, price, qty, aux, ts_recv, ts_send))

    def _send(self, o: HedgeOrder) -> None:
        v = self._venues.get(o.venue)
        cl = f"{self.id_prefix}{o.cl_ord_id}"
        if v is None or v.adapter is None:
            self._err(f"HEDGE_ORDER {o.cl_ord_id} for unconfigured venue {o.venue}")
            return
        if self.max_order_age_ns is not None and o.ts_recv and time.time_ns() - o.ts_recv > self.max_order_age_ns:
            # a sender that fell behind (a leader that lost its term): the next one reconciles it
            v.stats["stale_orders"] += 1
            self._err(f"venue {v.link.id}: order {cl} not sent: older than {self.max_order_age_ns / 1e6:.0f} ms")
            self._on_report(v.link.id, ExecReport(venue=v.link.instrument, cl_ord_id=cl, status=OrdStatus.REJECTED,
                                                  reason="not sent: stale"))
            return
        inst = v.inst
        req = OrderRequest(
            cl_ord_id=cl, symbol=v.symbol, side=OrderSide.BUY if o.side == 0 else OrderSide.SELL,
            qty=Decimal(o.qty).scaleb(-inst.qty_decimals), price=Decimal(o.price).scaleb(-inst.price_decimals),
            tif=TimeInForce.IOC)
        v.stats["orders"] += 1
        t = monotonic_ns()
        if o.ts_send:
            self.fill_to_wire.record(t - o.ts_send)
        asyncio.ensure_future(self._place(v, req, o, t))

    async def _place(self, v: _Venue, req: OrderRequest, o: HedgeOrder, t_dispatch: int) -> None:
        assert v.adapter is not None
        try:
            await v.adapter.place(req)
            if self.trace is not None:
                self.trace.append((o.cl_ord_id, o.venue, o.ts_send, t_dispatch, monotonic_ns()))
        except VenueError as e:
            # never sent: the venue cannot know it, the core closes it as rejected
            self._err(f"venue {v.link.id}: order {req.cl_ord_id} not sent: {e}")
            self._on_report(v.link.id, ExecReport(venue=v.adapter.name, cl_ord_id=req.cl_ord_id,
                                                  status=OrdStatus.REJECTED, reason=f"not sent: {e}"))

    # -- venues -> core --------------------------------------------------------------------

    def _push(self, rows: list[tuple[Any, ...]], producer: str = "venues") -> None:
        if len(rows) > len(self._rec):
            self._rec = np.zeros(len(rows), dtype=RECORD_DTYPE)
        buf = self._rec[: len(rows)]
        for i, r in enumerate(rows):
            buf[i] = r
        self.engine.feed(buf, producer=producer)

    def _on_report(self, vid: int, rep: ExecReport) -> None:
        v = self._venues[vid]
        if not rep.cl_ord_id.startswith(self.id_prefix):
            v.stats["foreign_reports"] += 1
            return
        try:
            cl = int(rep.cl_ord_id[len(self.id_prefix):])
            rows = report_records(rep, vid, v.inst, cl, rep.ts_recv_ns or time.time_ns())
        except ValueError as e:
            v.stats["report_errors"] += 1
            self._err(f"venue {vid}: report for {rep.cl_ord_id} refused: {e}")
            return
        v.stats["reports"] += 1
        if rows:
            self._push(rows)

    def _on_status(self, vid: int, st: VenueStatus) -> None:
        v = self._venues[vid]
        v.up = st.up
        self._push([(int(Kind.VENUE_STATUS), 0, int(st.up), int(Flag.END), vid, 0, 0,
                     st.ts_recv_ns or time.time_ns(), 0, 0, 0, 0)])
        if st.up and v.handler is not None and v.handler.needs_snapshot() and self._loop is not None:
            asyncio.ensure_future(self._snapshot(vid))

    def _on_md(self, vid: int, raw: bytes, ts: int) -> None:
        v = self._venues[vid]
        h = v.handler
        if h is None:
            return
        try:
            n = h.on_message(ts, raw)
        except DecodeError as e:
            v.stats["md_errors"] += 1
            self._err(f"venue {vid}: market data refused: {e}")
            return
        v.stats["md_messages"] += 1
        if n:
            self.engine.feed(h.out[:n], producer=v.md_producer)
        if h.needs_snapshot() and not v.snapshot_pending:
            asyncio.ensure_future(self._snapshot(vid))

    async def _snapshot(self, vid: int) -> None:
        v = self._venues[vid]
        h, a = v.handler, v.adapter
        if h is None or a is None or v.snapshot_pending:
            return
        v.snapshot_pending = True
        try:
            raw = await a.fetch_snapshot(v.symbol)
            if raw is None:
                return  # the venue's stream carries its own snapshots (OKX books)
            n = h.on_snapshot(time.time_ns(), raw, v.inst.symbol) if hasattr(h, "on_snapshot") else 0
            v.stats["snapshots"] += 1
            if n:
                self.engine.feed(h.out[:n], producer=v.md_producer)
        except (DecodeError, OSError, VenueError) as e:
            v.stats["md_errors"] += 1
            self._err(f"venue {vid}: snapshot failed: {e}")
        finally:
            v.snapshot_pending = False

    def _err(self, msg: str) -> None:
        log.warning("%s", msg)
        self.errors.append(msg)
        del self.errors[:-1000]
