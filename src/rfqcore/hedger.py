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
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
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

__all__ = ["VenueLink", "Hedger", "report_records", "AdapterFactory"]

log = logging.getLogger("rfqcore.hedger")

#: builds an adapter given its callbacks (``on_report``, ``on_status``, ``on_market_data``)
AdapterFactory = Callable[..., VenueAdapter]

_NON_FILL_EXEC = 1 << 62


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
    stats: dict[str, int] = field(default_factory=lambda: {
        "orders": 0, "reports": 0, "report_errors": 0, "md_messages": 0, "md_errors": 0, "snapshots": 0,
        "foreign_reports": 0})


class Hedger:
    """Runs the venue adapters of an :class:`~rfqcore.engine.Engine` whose configuration has
    ``[[hedging]]`` entries. ``start()`` after ``engine.start()``; ``stop()`` before ``engine.close()``.
    """

    def __init__(self, engine: Engine, venues: Sequence[VenueLink], *, id_prefix: str | None = None) -> None:
        self.engine = engine
        # alphanumeric only (OKX clOrdId), unique per run: ids restart at 1 in a fresh core
        self.id_prefix = id_prefix if id_prefix is not None else f"rq{time.time_ns() // 1_000_000 % 10**10:d}x"
        if not self.id_prefix.isalnum():
            raise ValueError("id_prefix must be alphanumeric")
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
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
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
            raise failure[0]
        self._sub = self.engine.subscribe(self._on_outputs, kinds=(Kind.HEDGE_ORDER,))

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
        await asyncio.gather(*(v.adapter.start() for v in self._venues.values() if v.adapter))
        for vid, v in self._venues.items():
            if not v.up:  # adapters that do not report their first up
                self._on_status(vid, VenueStatus(v.link.instrument, True, "started", time.time_ns()))
            if v.handler is not None and hasattr(v.handler, "on_snapshot"):
                await self._snapshot(vid)  # REST-snapshot venues: sync the book now, not at the first diff

    async def _stop_all(self) -> None:
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
