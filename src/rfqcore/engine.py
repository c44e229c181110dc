"""The Python face of the core: rings, the core thread, output dispatch, book queries.

The orchestration here is deliberately thin. Records travel

    producers (handlers, replay, this API) --SPSC ring each--> Rust core thread --> out ring
                                                                                  |
    subscribers  <-- OutputPump (Python thread, numpy batches) <------------------+

and Python never touches trading state: queries while the core runs are answered by the core
thread itself, between two messages (see ``rfqcore_core.Engine``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import rfqcore_core

from rfqcore._ring import RingConsumer, RingProducer, monotonic_ns, ring_create
from rfqcore.errors import RfqCoreError
from rfqcore.gateway.schema import CONTROL_ID_BITS
from rfqcore.hooks import HookRunner, Strategy
from rfqcore.instruments import Instrument, Registry
from rfqcore.journal import JournalSettings
from rfqcore.journal import fingerprint as journal_fingerprint
from rfqcore.latency import LatencyRecorder, LatencySummary
from rfqcore.operator import ControlRejected, ControlRequest, Operator
from rfqcore.records import (
    RECORD_DTYPE,
    BookStatus,
    ClientSide,
    Command,
    Flag,
    Kind,
    PricingField,
    QuoteWithdrawal,
    Side,
)
from rfqcore.rfq import (
    AcceptRejected,
    ApprovalPending,
    CompositeUnits,
    ControlAck,
    DeskOrderEvent,
    Event,
    EventDecoder,
    Execution,
    LadderRung,
    Quote,
    RfqRejected,
    composite_units,
)
from rfqcore.rfqconfig import RfqSettings
from rfqcore.units import Scaled, ScaledOrNone, book_side, client_side, desk_side, from_units, human, to_units
from rfqcore.views import (
    ClientRisk,
    DeskSettings,
    HedgeOrderState,
    HedgeVenueState,
    HedgingState,
    InstrumentRisk,
    QuoteState,
    TierTerms,
)

if TYPE_CHECKING:
    from rfqcore_core import ClientView, CoreStats, HedgeView, PositionView, RfqStats

    class ClientRiskRaw(ClientView):
        """:meth:`Engine.client_risk_raw`: the core's client view and the credit still available."""

        available: int

    class EngineStats(CoreStats):
        """:meth:`Engine.stats`: the core's counters, its heartbeats and out-ring waits, and the
        outputs drained by kind (``Engine.counts``)."""

        heartbeats: int
        out_waits: int
        output: dict[str, int]

__all__ = ["Engine", "QuoteLevel", "TopOfBook", "Subscription", "Position", "RfqTimeout"]

Callback = Callable[[np.ndarray], None]


@dataclass(frozen=True, slots=True)
class TopOfBook:
    """Best bid and ask of a venue book as exact ``Decimal``s in the instrument's units; the
    core's integers (the instrument's scales) are the ``*_raw`` fields."""

    bid_price_raw: int
    bid_qty_raw: int
    ask_price_raw: int
    ask_qty_raw: int
    price_decimals: int | None = None
    qty_decimals: int | None = None
    base: str = ""
    currency: str = ""

    bid_price = Scaled("bid_price_raw", "price_decimals")
    bid_qty = Scaled("bid_qty_raw", "qty_decimals")
    ask_price = Scaled("ask_price_raw", "price_decimals")
    ask_qty = Scaled("ask_qty_raw", "qty_decimals")

    def __repr__(self) -> str:
        pd, qd = self.price_decimals, self.qty_decimals
        return (f"TopOfBook(bid={human(self.bid_qty_raw, qd, self.base)} @ "
                f"{human(self.bid_price_raw, pd, self.currency, min_decimals=pd or 0)}, "
                f"ask={human(self.ask_qty_raw, qd, self.base)} @ "
                f"{human(self.ask_price_raw, pd, self.currency, min_decimals=pd or 0)})")


@dataclass(frozen=True, slots=True)
class QuoteLevel(LadderRung):
    """One rung of a composite's quote ladder: the desk's streaming two-way price for ``size``.
    Not a firm quote to a client: that is :class:`rfqcore.rfq.Quote`.

    ``size``, ``bid`` and ``ask`` are exact ``Decimal``s in the composite's units (None for a
    withdrawn side, ``reason`` says why); the core's integers are the ``*_raw`` fields."""

    composite: int
    level: int
    size_raw: int
    bid_raw: int | None
    ask_raw: int | None
    reason: QuoteWithdrawal
    seq: int
    units: CompositeUnits | None = None  # the composite's name, scales and assets

    @classmethod
    def from_record(cls, r: np.void, units: CompositeUnits | None = None) -> QuoteLevel:
        flags = int(r["flags"])
        return cls(
            composite=int(r["instrument"]),
            level=int(r["source"]),
            size_raw=int(r["qty"]),
            bid_raw=int(r["price"]) if flags & Flag.BID_VALID else None,
            ask_raw=int(r["aux"]) if flags & Flag.ASK_VALID else None,
            reason=QuoteWithdrawal(int(r["side"])),
            seq=int(r["seq"]),
            units=units,
        )

    def __repr__(self) -> str:
        return (f"QuoteLevel(composite={self._name(self.composite)}, level={self.level}, {self._prices()}, "
                f"reason={self.reason.name})")


@dataclass(slots=True)
class Subscription:
    """A registered output callback; ``kinds`` filters record kinds (None = all)."""

    callback: Callback
    kinds: frozenset[int] | None
    errors: int = 0
    last_error: BaseException | None = None


class RfqTimeout(RfqCoreError):
    """No answer from the core in time (is the engine started, or run inline?)."""


@dataclass(frozen=True, slots=True)
class Position:
    """A position in one composite: ``qty`` (signed, base asset), the signed ``cost`` of the
    open quantity, ``realised`` / ``unrealised`` P&L (unrealised marked to the composite mid;
    None without a mid) and ``fees`` received (desk) or paid (client), as exact ``Decimal``s
    in the base asset and the quote ``currency``. The core's integers are the ``*_raw``
    fields (qty at the composite's qty decimals, money at price + qty decimals)."""

    composite: str
    qty_raw: int
    cost_raw: int
    realised_raw: int
    unrealised_raw: int | None
    fees_raw: int
    trades: int
    price_decimals: int
    qty_decimals: int
    base: str = ""
    currency: str = ""

    @property
    def money_decimals(self) -> int:
        return self.price_decimals + self.qty_decimals

    qty = Scaled("qty_raw", "qty_decimals")
    cost = Scaled("cost_raw", "money_decimals")
    realised = Scaled("realised_raw", "money_decimals")
    unrealised = ScaledOrNone("unrealised_raw", "money_decimals")
    fees = Scaled("fees_raw", "money_decimals")
    #: average cost (floor at the price scale), None when flat
    avg_price = ScaledOrNone("avg_price_raw", "price_decimals")

    @property
    def avg_price_raw(self) -> int | None:
        """Average cost in composite price units (floor), None when flat."""
        if self.qty_raw == 0:
            return None
        return self.cost_raw // self.qty_raw

    def __repr__(self) -> str:
        pd, md, ccy = self.price_decimals, self.money_decimals, self.currency
        return (f"Position(composite={self.composite}, qty={human(self.qty_raw, self.qty_decimals, self.base)}, "
                f"avg_price={human(self.avg_price_raw, pd, ccy, min_decimals=pd)}, "
                f"cost={human(self.cost_raw, md, ccy, min_decimals=2)}, "
                f"realised={human(self.realised_raw, md, ccy, min_decimals=2)}, "
                f"unrealised={human(self.unrealised_raw, md, ccy, min_decimals=2)}, "
                f"fees={human(self.fees_raw, md, ccy, min_decimals=2)}, trades={self.trades})")


def _waiter_key(ev: Event) -> tuple[str, int, int] | None:
    if isinstance(ev, Quote | RfqRejected | ApprovalPending):
        return ("rfq", ev.client, ev.rfq_id)
    if isinstance(ev, Execution | AcceptRejected):
        return ("acc", ev.client, ev.accept_id)
    if isinstance(ev, ControlAck):
        return ("ctl", ev.operator_id, ev.control_id)
    if isinstance(ev, DeskOrderEvent) and ev.event != "fill":
        return ("desk", ev.composite, ev.order_id)
    return None


def _remove_owned_dir(path: str, pid: int) -> None:
    """Remove an engine's own ring directory, in the process that created it only (a forked
    child exiting must not take the parent's rings)."""
    if os.getpid() == pid:
        shutil.rmtree(path, ignore_errors=True)


def _shm_root() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class Engine:
    """Start/stop the Rust core, feed it records, subscribe to its output, query its books.

    >>> with Engine() as eng:                      # doctest: +SKIP
    ...     eng.feed(records)                      # a RECORD_DTYPE array
    ...     eng.run_once()                         # inline, deterministic; or eng.start()
    ...     eng.best("binance-spot:BTCUSDT")

    Each producer gets its own SPSC ring (``add_producer``); the core merges them round-robin,
    one whole venue message at a time. Output records (quotes, book status, rejects) are
    drained by :meth:`drain` — called by the pump thread after :meth:`start`, or by you.
    """

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        ring_dir: str | os.PathLike[str] | None = None,
        ring_capacity: int = 1 << 16,
        out_capacity: int = 1 << 18,
        idle: Literal["spin", "yield", "park"] = "yield",
        book_capacity: int = 65536,
        rfq: RfqSettings | None = None,
        journal: JournalSettings | str | os.PathLike[str] | None = None,
    ) -> None:
        self.registry = registry if registry is not None else Registry.load()
        if rfq is None:  # the packaged defaults go with the packaged registry only
            rfq = RfqSettings.load(registry=self.registry) if registry is None else RfqSettings.empty(self.registry)
        self.rfq = rfq
        self._own_dir = ring_dir is None
        self.ring_dir = Path(ring_dir) if ring_dir else Path(tempfile.mkdtemp(prefix="rfqcore-", dir=_shm_root()))
        # an engine never closed (or whose construction fails below) still removes the ring
        # files it created, when it is collected or the interpreter exits
        self._remove_dir = (weakref.finalize(self, _remove_owned_dir, str(self.ring_dir), os.getpid())
                            if self._own_dir else None)
        self.ring_dir.mkdir(parents=True, exist_ok=True)
        self.ring_capacity = ring_capacity
        out_path = str(self.ring_dir / "out.ring")
        ring_create(out_path, out_capacity)
        self.core = rfqcore_core.Engine(
            self.registry.instrument_specs(),
            self.registry.composite_specs(),
            out_path,
            idle=idle,
            book_capacity=book_capacity,
            rfq=self.rfq.core_spec(),
        )
        #: what attaching the journal recovered (records replayed, torn bytes cut, hashes)
        self.recovery: dict[str, object] | None = None
        self.journal: JournalSettings | None = None
        if journal is not None:
            js = journal if isinstance(journal, JournalSettings) else JournalSettings(str(journal))
            self.journal = js
            fp = journal_fingerprint(self.registry, self.rfq, book_capacity)
            self.recovery = dict(self.core.attach_journal(
                js.dir, fp, js.durability, js.segment_bytes, js.group_max_records, js.group_max_us * 1000,
                js.snapshot_every, js.snapshot_keep, js.prune_segments))
        self._out = RingConsumer(out_path)
        self._buf = np.zeros(4096, dtype=RECORD_DTYPE)
        self._producers: dict[str, RingProducer] = {}
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()  # serialises drain() between the pump and callers
        self._pump: threading.Thread | None = None
        self._pump_stop = threading.Event()
        #: Extra pause (seconds) after output arrives before the pump drains it, to take bigger
        #: batches (fewer GIL acquisitions) at the cost of subscriber latency. 0 = drain at once.
        self.pump_interval_s = 0.0
        #: push -> quote received by Python subscribers (includes the pump thread's GIL waits)
        self.subscriber_latency = LatencyRecorder()
        self.counts: dict[str, int] = {"quotes": 0, "status": 0, "rejects": 0, "other": 0}
        self.last_quotes: dict[tuple[int, int], QuoteLevel] = {}
        self._comp_units: dict[int, CompositeUnits] = {}
        self._closed = False
        # RFQ workflow: API/control producers (one lock each: a ring has one producer),
        # decoded RFQ events, waiters of blocking calls
        self._rfq_lock = threading.Lock()
        self._ctl_lock = threading.Lock()
        # RFQ/accept ids must stay unique per client across restarts of a journaled engine:
        # start from the clock, like rfqcore.client does
        self._rfq_seq = time.time_ns()
        # control ids from the clock too (ms: below 2^48, CONTROL_ID_BITS): an operator of the
        # Aeron gateway numbers its own from 1, and its acks reach this engine's waiters as well
        self._control_seq = time.time_ns() // 1_000_000
        # desk order ids: unique across restarts of a journaled engine, below the core's 2^63
        self._desk_seq = time.time_ns() & ((1 << 62) - 1)
        self._decoder = EventDecoder(self.registry)
        self._waiters: dict[tuple[str, int, int], list[Event]] = {}
        self._waiters_cv = threading.Condition()
        self._event_subs: list[Callable[[list[Event]], None]] = []
        self.operator = Operator(self._send_control, self.registry,
                                 clients={c.name: c.id for c in self.rfq.clients},
                                 tiers={t.name: t.id for t in self.rfq.tiers})
        self._taps: dict[str, str] = {}
        self._hooks: list[tuple[HookRunner, Subscription]] = []

    # -- producers -------------------------------------------------------------------------

    def add_producer(self, name: str) -> RingProducer:
        """Create a new input ring named ``name`` and register it with the core.

        Exactly one thread or process may push into it. Registration order is merge order.
        """
        if name in self._producers:
            raise ValueError(f"producer {name!r} already exists")
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"producer name {name!r}: use letters, digits, '-' and '_'")
        path = str(self.ring_dir / f"in-{name}.ring")
        ring_create(path, self.ring_capacity)
        self.core.add_input(path)
        prod = RingProducer(path)
        self._producers[name] = prod
        return prod

    def ring_path(self, name: str) -> str:
        """Path of the input ring ``name`` (open it with ``RingProducer(path)`` in another process)."""
        return str(self._producers[name].path)

    def add_tap(self, name: str, capacity: int = 1 << 16) -> str:
        """Create a ring into which the core copies every RFQ-family output (kinds 110-120) —
        for a gateway in another process; returns its path. Exactly one consumer may read it;
        a full tap back-pressures the core like the out ring (nothing is dropped)."""
        if name in self._taps:
            raise ValueError(f"tap {name!r} already exists")
        path = str(self.ring_dir / f"tap-{name}.ring")
        ring_create(path, capacity)
        self.core.add_tap(path)
        self._taps[name] = path
        return path

    def producer(self, name: str = "api") -> RingProducer:
        """The producer called ``name``, created on first use."""
        return self._producers.get(name) or self.add_producer(name)

    def feed(self, records: np.ndarray, producer: str = "api", timeout_s: float | None = 10.0) -> int:
        """Push a RECORD_DTYPE array through the ``producer`` ring (waits for room; never drops).

        In inline mode (core thread not running) records that do not fit are fed in chunks,
        running the core between chunks.
        """
        prod = self.producer(producer)
        arr = np.ascontiguousarray(records, dtype=RECORD_DTYPE)
        if self.core.running:
            timeout = None if timeout_s is None else int(timeout_s * 1e9)
            return prod.push_batch_blocking(arr, timeout_ns=timeout)
        done = 0
        while done < len(arr):
            n = prod.push_batch(arr[done:])
            done += n
            if done < len(arr):
                self.run_once()
        return done

    # -- running ---------------------------------------------------------------------------

    def start(self, pump: bool = True, heartbeat_ms: float | None = 1.0) -> None:
        """Start the core thread, and (by default) the output pump thread.

        ``heartbeat_ms``: after this long without input the core thread injects a heartbeat
        (wall-clock ``ts_recv``) so quotes and approvals expire in an idle system; None = off.
        """
        self.core.set_heartbeat(None if heartbeat_ms is None else int(heartbeat_ms * 1e6))
        self.core.start()
        if pump and self._pump is None:
            self._pump_stop.clear()
            self._pump = threading.Thread(target=self._pump_loop, name="rfqcore-out", daemon=True)
            self._pump.start()

    def stop(self) -> None:
        """Stop the core after it drained every input ring, then drain its output."""
        self.core.stop()
        if self._pump is not None:
            self._pump_stop.set()
            self._pump.join()
            self._pump = None
        self.drain()

    @property
    def running(self) -> bool:
        return bool(self.core.running)

    def __repr__(self) -> str:
        comps = ", ".join(c.name for c in self.registry.composites) or "none"
        state = "running" if self.running else "stopped"
        journal = f", journal {self.journal.dir}" if self.journal is not None else ""
        return f"Engine(composites {comps}, {len(self.registry.instruments)} instruments, {state}{journal})"

    def run_once(self, max_records: int = 1 << 20) -> int:
        """Inline mode: let the core consume what the rings hold, then drain the output."""
        total = 0
        while True:
            n = self.core.run_once(max_records)
            self.drain()
            total += n
            if n == 0 or total >= max_records:
                return total

    def _pump_loop(self) -> None:
        # Wake at most every `pump_interval_s` and take whole batches: each wake-up costs the
        # GIL, which the market-data handlers in this process need too. Waiting happens in
        # Cython without the GIL.
        while not self._pump_stop.is_set():
            if self._out.wait(2_000_000) and self.pump_interval_s:
                time.sleep(self.pump_interval_s)
            self.drain()

    # -- output ----------------------------------------------------------------------------

    def subscribe(self, callback: Callback, kinds: Iterable[int] | None = (Kind.QUOTE,)) -> Subscription:
        """Call ``callback(records)`` with each drained batch of output records of ``kinds``.

        Callbacks run on the pump thread (or the thread calling :meth:`drain`), never on the
        core thread: a slow callback delays only other callbacks, never quoting. Exceptions
        are caught and counted on the returned subscription.
        """
        sub = Subscription(callback, None if kinds is None else frozenset(int(k) for k in kinds))
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.remove(sub)

    def drain(self) -> int:
        """Consume every output record available now; returns how many."""
        total = 0
        with self._lock:
            while True:
                n = self._out.poll_into(self._buf)
                if n == 0:
                    return total
                now = monotonic_ns()
                batch = self._buf[:n]
                total += n
                self._account(batch, now)
                for sub in self._subs:
                    sel = batch if sub.kinds is None else batch[np.isin(batch["kind"], list(sub.kinds))]
                    if len(sel):
                        try:
                            sub.callback(sel.copy())
                        except Exception as e:  # noqa: BLE001 - a strategy bug must not stop the pump
                            sub.errors += 1
                            sub.last_error = e

    def _account(self, batch: np.ndarray, now: int) -> None:
        kinds = batch["kind"]
        quotes = batch[kinds == Kind.QUOTE]
        status = int(np.count_nonzero(kinds == Kind.BOOK_STATUS))
        rejects = int(np.count_nonzero(kinds == Kind.REJECT))
        self.counts["quotes"] += len(quotes)
        self.counts["status"] += status
        self.counts["rejects"] += rejects
        self.counts["other"] += len(batch) - len(quotes) - status - rejects
        if self._decoder_busy(kinds):
            events = self._decoder.feed(batch[kinds >= Kind.RFQ_QUOTE])
            if events:
                self._dispatch(events)
        if len(quotes):
            sent = quotes["ts_send"]
            self.subscriber_latency.record_array(now - sent[sent > 0])
            # keep the latest quote per (composite, level): the last occurrence in the batch
            keys = quotes["instrument"].astype(np.int64) * 65536 + quotes["source"]
            _, last = np.unique(keys[::-1], return_index=True)
            for i in (len(quotes) - 1 - last).tolist():
                r = quotes[i]
                q = QuoteLevel.from_record(r, self._units(int(r["instrument"])))
                self.last_quotes[(q.composite, q.level)] = q

    def _units(self, composite_id: int) -> CompositeUnits:
        u = self._comp_units.get(composite_id)
        if u is None:
            u = self._comp_units[composite_id] = composite_units(self.registry, composite_id)
        return u

    def _decoder_busy(self, kinds: np.ndarray) -> bool:
        return bool(len(kinds)) and int(kinds.max()) >= Kind.RFQ_QUOTE

    def _dispatch(self, events: list[Event]) -> None:
        if self._waiters:
            with self._waiters_cv:
                woke = False
                for ev in events:
                    key = _waiter_key(ev)
                    if key is not None and key in self._waiters:
                        self._waiters[key].append(ev)
                        woke = True
                if woke:
                    self._waiters_cv.notify_all()
        for cb in self._event_subs:
            cb(events)

    def add_strategy(self, strategy: Strategy, max_batches: int = 1024, book_events: bool = True) -> HookRunner:
        """Attach a :class:`~rfqcore.hooks.Strategy`: its ``on_*`` hooks run on their own
        thread; it steers the core through ``strategy.ops`` (the control ring)."""
        strategy.engine = self
        strategy.ops = self.operator
        runner = HookRunner(strategy, max_batches=max_batches, book_events=book_events)
        sub = self.subscribe(runner.offer, kinds=None)
        self._hooks.append((runner, sub))
        return runner

    def remove_strategy(self, runner: HookRunner) -> None:
        for i, (r, sub) in enumerate(self._hooks):
            if r is runner:
                self.unsubscribe(sub)
                del self._hooks[i]
                r.close()
                return

    def subscribe_events(self, callback: Callable[[list[Event]], None]) -> None:
        """Call ``callback(events)`` with the decoded RFQ events of each drained batch (on the
        pump thread). Strategies should use :meth:`add_strategy`, which never blocks the pump."""
        self._event_subs.append(callback)

    # -- RFQ workflow (the Python API; the Aeron gateway is the other way in) --------------

    def _await(self, key: tuple[str, int, int], push: Callable[[], None], timeout: float) -> Event:
        with self._waiters_cv:
            self._waiters[key] = []
        try:
            push()
            if not self.core.running:
                self.run_once()  # inline: the answer is produced and drained right here
                got = self._waiters[key]
                if got:
                    return got[0]
                raise RfqTimeout(f"the core produced no answer to {key[0]} {key[1:]}")
            deadline = time.monotonic() + timeout
            with self._waiters_cv:
                while not self._waiters[key]:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise RfqTimeout(f"no answer to {key[0]} {key[1:]} within {timeout}s")
                    if self._pump is None:  # started without a pump: drain ourselves
                        self._waiters_cv.release()
                        try:
                            self.drain()
                        finally:
                            self._waiters_cv.acquire()
                        if not self._waiters[key]:
                            self._waiters_cv.wait(min(left, 0.0005))
                    else:
                        self._waiters_cv.wait(left)
                return self._waiters[key][0]
        finally:
            with self._waiters_cv:
                self._waiters.pop(key, None)

    def _push(self, producer: str, lock: threading.Lock, rec: tuple[int, ...]) -> None:
        arr = np.array([rec], dtype=RECORD_DTYPE)
        with lock:
            prod = self.producer(producer)
            if self.core.running:
                prod.push_batch_blocking(arr, timeout_ns=10_000_000_000)
            else:
                while prod.push_batch(arr) == 0:
                    self.core.run_once(1 << 16)
                    self.drain()

    def request_quote(self, client: int | str, composite: int | str, side: str | int, qty: Decimal | int | str, *,
                      quote_ccy: bool = False, limit: Decimal | int | str | None = None,
                      ttl_ms: Decimal | int | str | None = None, rfq_id: int | None = None,
                      timeout: float = 2.0) -> Quote | ApprovalPending:
        """Ask the core for a firm quote, in human units as :class:`rfqcore.client.RfqClient`
        takes them: ``side`` ``"buy"`` / ``"sell"`` / ``"two-way"`` (any case) or a
        :class:`ClientSide`; ``qty`` in base units (``Decimal``, ``int`` or ``str``: ``"1.5"``),
        or in quote currency with ``quote_ccy``; ``limit``: the worst acceptable price;
        ``ttl_ms``: the requested lifetime (default: the tier's). Returns the quote (or the
        pending approval); raises :class:`~rfqcore.rfq.RfqRejected` (the reject event itself)
        on a reject, ``ValueError`` for a value with more digits than the composite takes."""
        comp = self.registry.composite(composite)
        q = to_units(qty, comp.price_decimals if quote_ccy else comp.qty_decimals, "qty")
        lim = 0 if limit is None else to_units(limit, comp.price_decimals, "limit")
        ttl = 0 if ttl_ms is None else to_units(ttl_ms, 6, "ttl_ms")
        return self.request_quote_raw(client, comp.id, client_side(side), q, quote_ccy=quote_ccy, limit=lim,
                                      ttl_ns=ttl, rfq_id=rfq_id, timeout=timeout)

    def request_quote_raw(self, client: int | str, composite: int | str, side: int, qty: int, *,
                          quote_ccy: bool = False, limit: int = 0, ttl_ns: int = 0, rfq_id: int | None = None,
                          timeout: float = 2.0) -> Quote | ApprovalPending:
        """:meth:`request_quote` with the core's integers as they are: ``side`` a
        :class:`ClientSide` code, ``qty`` in composite qty units (or, with ``quote_ccy``, quote
        currency in composite price units), ``limit`` in composite price units, ``ttl_ns``."""
        cid = self.rfq.client(client).id if isinstance(client, str) else int(client)
        comp = self.registry.composite(composite).id
        with self._rfq_lock:
            if rfq_id is None:
                self._rfq_seq += 1
                rfq_id = self._rfq_seq
        rec = self._rfq_record(cid, comp, side, qty, quote_ccy, limit, ttl_ns, rfq_id)
        ev = self._await(("rfq", cid, rfq_id), lambda: self._push("rfq-api", self._rfq_lock, rec), timeout)
        if isinstance(ev, RfqRejected):
            raise ev
        assert isinstance(ev, Quote | ApprovalPending)
        return ev

    @staticmethod
    def _rfq_record(cid: int, comp: int, side: int, qty: int, quote_ccy: bool, limit: int, ttl_ns: int,
                    rfq_id: int) -> tuple[int, ...]:
        flags = Flag.END | (Flag.QTY_IN_QUOTE if quote_ccy else 0)
        now = time.time_ns()
        return (Kind.RFQ, comp, int(side), flags, cid, rfq_id, now, now, limit, qty, ttl_ns, monotonic_ns())

    def submit_quote_request(self, client: int, composite: int, side: int, qty: int, *, rfq_id: int,
                             quote_ccy: bool = False, limit: int = 0, ttl_ns: int = 0) -> None:
        """:meth:`request_quote_raw` without waiting: the record goes to the core and the answer
        (``Quote``, ``RfqRejected`` or ``ApprovalPending`` with this ``rfq_id``) comes to
        :meth:`subscribe_events` subscribers on the output pump. For a gateway that answers from
        the pump (the FIX acceptor): no thread waits on a condition variable in between. The core
        must be running (:meth:`start`)."""
        if not self.core.running:
            raise RuntimeError("submit_quote_request needs a running core (Engine.start)")
        self._push("rfq-api", self._rfq_lock,
                   self._rfq_record(client, composite, side, qty, quote_ccy, limit, ttl_ns, rfq_id))

    def submit_accept(self, client: int, composite: int, quote_id: int, side: int, price: int, qty: int, *,
                      accept_id: int) -> None:
        """:meth:`accept_raw` without waiting (as :meth:`submit_quote_request`): the
        ``Execution`` or ``AcceptRejected`` with this ``accept_id`` comes on the output pump."""
        if not self.core.running:
            raise RuntimeError("submit_accept needs a running core (Engine.start)")
        now = time.time_ns()
        rec = (Kind.ACCEPT, composite, int(side), Flag.END, client, quote_id, now, now, price, qty, accept_id,
               monotonic_ns())
        self._push("rfq-api", self._rfq_lock, rec)

    def accept(self, quote: Quote, side: str | int | None = None, qty: Decimal | int | str | None = None, *,
               accept_id: int | None = None, timeout: float = 2.0) -> Execution:
        """Hit a quote on ``side`` (``"buy"`` / ``"sell"`` or a :class:`ClientSide`; default: its
        only side) for ``qty`` base units (default: all of it; less only if the quote allows
        partial fills); returns the execution report or raises
        :class:`~rfqcore.rfq.AcceptRejected`."""
        units = None
        if qty is not None:
            units = to_units(qty, self.registry.composite(quote.composite).qty_decimals, "qty")
        return self.accept_raw(quote, None if side is None else client_side(side), units, accept_id=accept_id,
                               timeout=timeout)

    def accept_raw(self, quote: Quote, side: int | None = None, qty: int | None = None, *,
                   accept_id: int | None = None, timeout: float = 2.0) -> Execution:
        """:meth:`accept` with ``side`` a :class:`ClientSide` code and ``qty`` in composite qty
        units."""
        if side is None:
            if len(quote.sides) != 1:
                raise ValueError(f"quote {quote.quote_id} is two-way: say which side to accept (\"buy\" or \"sell\")")
            side = quote.sides[0].side
        qs = quote.side(side)
        price = qs.price_raw if qs is not None else 0
        size = qty if qty is not None else (qs.qty_raw if qs is not None else 0)
        with self._rfq_lock:
            if accept_id is None:
                self._rfq_seq += 1
                accept_id = self._rfq_seq
        now = time.time_ns()
        rec = (Kind.ACCEPT, quote.composite, int(side), Flag.END, quote.client, quote.quote_id, now, now, price,
               size, accept_id, monotonic_ns())
        ev = self._await(("acc", quote.client, accept_id), lambda: self._push("rfq-api", self._rfq_lock, rec),
                         timeout)
        if isinstance(ev, AcceptRejected):
            raise ev
        assert isinstance(ev, Execution)
        return ev

    def desk_order(self, composite: int | str, side: str | int, price: Decimal | int | str, qty: Decimal | int | str,
                   *, order_id: int | None = None, owner: int = 0, timeout: float = 2.0) -> DeskOrderEvent:
        """Rest a desk order (GTC limit, post-only) in the composite's internal crossing book
        (docs/hedging.md): client flow is matched against it before anything goes to a venue.
        ``side``: ``"buy"`` / ``"sell"`` (the desk's side, any case) or a :class:`Side`
        (``BID`` = the desk buys); ``price`` and ``qty`` in human units (``Decimal``, ``int``,
        ``str``). Returns the ``accepted`` or ``rejected`` event (``reason_name``); fills arrive
        as ``DeskOrderEvent``s with ``event == "fill"`` to :meth:`subscribe_events` subscribers."""
        comp = self.registry.composite(composite)
        return self.desk_order_raw(comp.id, desk_side(side), to_units(price, comp.price_decimals, "price"),
                                   to_units(qty, comp.qty_decimals, "qty"), order_id=order_id, owner=owner,
                                   timeout=timeout)

    def desk_order_raw(self, composite: int | str, side: Side | int, price: int, qty: int, *,
                       order_id: int | None = None, owner: int = 0, timeout: float = 2.0) -> DeskOrderEvent:
        """:meth:`desk_order` with ``side`` 0 = the desk buys, 1 = sells, and ``price`` / ``qty``
        in composite units."""
        return self._desk(composite, int(side), price, qty, 0, order_id, owner, timeout)

    def cancel_desk_order(self, composite: int | str, order_id: int, *, timeout: float = 2.0) -> DeskOrderEvent:
        """Cancel a resting desk order; returns the ``cancelled`` (``remaining``) or ``rejected`` event."""
        return self._desk(composite, 255, 0, 0, 1, order_id, 0, timeout)

    def _desk(self, composite: int | str, side: int, price: int, qty: int, op: int, order_id: int | None,
              owner: int, timeout: float) -> DeskOrderEvent:
        comp = self.registry.composite(composite).id
        with self._ctl_lock:
            if order_id is None:
                self._desk_seq += 1
                order_id = self._desk_seq
        now = time.time_ns()
        rec = (Kind.DESK_ORDER, comp, side, Flag.END, owner, order_id, now, now, price, qty, op, monotonic_ns())
        ev = self._await(("desk", comp, order_id), lambda: self._push("desk-api", self._ctl_lock, rec), timeout)
        assert isinstance(ev, DeskOrderEvent)
        return ev

    def cancel(self, quote: Quote | int, client: int | str | None = None) -> None:
        """A client (default: the quote's owner) withdraws a live quote. Fire and forget: the
        outcome arrives as a ``QuoteEnded`` or ``CancelRejected`` event."""
        cid: int | str | None
        if isinstance(quote, Quote):
            qid, cid = quote.quote_id, quote.client if client is None else client
        else:
            qid, cid = quote, client
        if cid is None:
            raise ValueError("cancel by quote id needs the client")
        cid = self.rfq.client(cid).id if isinstance(cid, str) else int(cid)
        now = time.time_ns()
        rec = (Kind.CANCEL, 0, 255, Flag.END, cid, qid, now, now, 0, 0, 0, monotonic_ns())
        self._push("rfq-api", self._rfq_lock, rec)
        if not self.core.running:
            self.run_once()

    def _send_control(self, req: ControlRequest, timeout: float = 5.0, operator_id: int = 0) -> ControlAck:
        if not 0 <= operator_id <= 0xFFFF:
            raise ValueError(f"operator id {operator_id}: expected 0..65535")
        with self._ctl_lock:
            self._control_seq += 1
            cid = self._control_seq
        now = time.time_ns()
        # the operator id above the control id, as the Aeron gateway sends it: journaled with
        # the record and echoed in the ack (ControlAck.operator_id)
        rec = (Kind.CONTROL, req.instrument, req.command, Flag.END, req.field, (operator_id << CONTROL_ID_BITS) | cid,
               now, now, req.scope, req.value, req.aux, monotonic_ns())
        ev = self._await(("ctl", operator_id, cid), lambda: self._push("control", self._ctl_lock, rec), timeout)
        assert isinstance(ev, ControlAck)
        return ev

    def send_control(self, req: ControlRequest, operator_id: int = 0) -> ControlAck:
        """Send one raw CONTROL command and wait for its audit ack (see :attr:`operator`);
        ``operator_id`` (an ``[[operator]]``'s id; 0: the desk itself) travels in the record,
        so the journal and the ack say who sent it."""
        return self._send_control(req, operator_id=operator_id)

    def operator_for(self, operator_id: int, *, strict: bool = True) -> Operator:
        """An :class:`~rfqcore.operator.Operator` whose commands carry ``operator_id`` (an
        ``[[operator]]``'s id): the audit trail names that operator."""
        self.rfq.operator(operator_id)  # KeyError for an unknown one
        return Operator(lambda req: self._send_control(req, operator_id=operator_id), self.registry,
                        clients={c.name: c.id for c in self.rfq.clients},
                        tiers={t.name: t.id for t in self.rfq.tiers}, strict=strict)

    # -- positions, P&L, risk --------------------------------------------------------------

    def _position(self, name: str, d: PositionView | None) -> Position | None:
        if d is None:
            return None
        c = self.registry.composite(name)
        base, quote = self._assets(c.id)
        return Position(c.name, d["qty"], d["cost"], d["realised"], d["unrealised"], d["fees"], d["trades"],
                        c.price_decimals, c.qty_decimals, base, quote)

    def positions(self) -> dict[str, Position]:
        """The desk's position and P&L per composite."""
        out = {}
        for c in self.registry.composites:
            p = self._position(c.name, self.core.position(c.id))
            if p is not None:
                out[c.name] = p
        return out

    def client_positions(self, client: int | str) -> dict[str, Position]:
        """A client's position and P&L per composite (the client's side of the trades)."""
        cid = self.rfq.client(client).id
        out = {}
        for c in self.registry.composites:
            p = self._position(c.name, self.core.client_position(cid, c.id))
            if p is not None:
                out[c.name] = p
        return out

    def exposures(self) -> dict[str, Decimal]:
        """Desk exposure per asset, exact: base assets in units of the asset, quote currencies
        as cash (realised − open cost + fees)."""
        out: dict[str, Decimal] = {}
        for name, p in self.positions().items():
            out[p.base] = out.get(p.base, Decimal(0)) + p.qty
            out[p.currency] = out.get(p.currency, Decimal(0)) + p.realised - p.cost + p.fees
        return out

    def exposures_raw(self) -> dict[str, int]:
        """:meth:`exposures` as the core's integers: base assets in composite qty units, quote
        currencies at scale price+qty decimals of the composite. Composites sharing a quote
        currency must share that scale (checked)."""
        out: dict[str, int] = {}
        scales: dict[str, int] = {}
        for name, p in self.positions().items():
            out[p.base] = out.get(p.base, 0) + p.qty_raw
            if scales.setdefault(p.currency, p.money_decimals) != p.money_decimals:
                raise RfqCoreError(f"{p.currency}: composites with different money scales")
            out[p.currency] = out.get(p.currency, 0) + p.realised_raw - p.cost_raw + p.fees_raw
        return out

    def _assets(self, composite_id: int) -> tuple[str, str]:
        c = self.registry.composite(composite_id)
        ins = self.registry.by_id(c.members[0])
        return ins.base, ins.quote

    def _desk_currency(self) -> str:
        """The currency credit and notional limits are counted in: the composites' quote currency."""
        return self._assets(self.registry.composites[0].id)[1] if self.registry.composites else ""

    def client_risk(self, client: int | str) -> ClientRisk:
        """A client's switches, credit (limit, used, available) in the desk currency, live quotes
        and throttles, in ``set_client``'s units (:class:`rfqcore.views.ClientRisk`)."""
        raw = self.client_risk_raw(client)
        tier = next((t.name for t in self.rfq.tiers if t.id == raw["tier"]), str(raw["tier"]))
        return ClientRisk.of(raw, tier, self._desk_currency())

    def client_risk_raw(self, client: int | str) -> ClientRiskRaw:
        """:meth:`client_risk` as the core's dict: credit in cents, rates as ``(per second, burst)``."""
        v = self.core.client_view(self.rfq.client(client).id)
        return {**v, "available": v["credit_limit"] - v["utilised"]}

    def instrument_risk(self, composite: int | str) -> InstrumentRisk:
        """A composite's switches, limits and pricing knobs in ``set_instrument`` /
        ``set_pricing``'s units (:class:`rfqcore.views.InstrumentRisk`)."""
        c = self.registry.composite(composite)
        base, quote = self._assets(c.id)
        return InstrumentRisk.of(self.instrument_risk_raw(c.id), c.name, c.qty_decimals, base, quote)

    def instrument_risk_raw(self, composite: int | str) -> dict[str, object]:
        """:meth:`instrument_risk` as the core's dict (composite qty units, cents, cbps, ns)."""
        return dict(self.core.instrument_view(self.registry.composite(composite).id))

    def tier_view(self, tier: int | str) -> TierTerms:
        """A client tier's terms now in ``set_tier``'s units (bps, ms; ``SET_TIER`` changes them),
        by its id or name."""
        return TierTerms.of(self.tier_view_raw(tier))

    def tier_view_raw(self, tier: int | str) -> dict[str, object]:
        """:meth:`tier_view` as the core's dict (markup and fee in cbps, TTLs in ns)."""
        return dict(self.core.tier_view(self.rfq.tier(tier).id))

    def desk_view(self) -> DeskSettings:
        """The desk-wide settings now: the repeated-execution throttle (``exec_count`` fills
        within ``exec_window_ms``; ``SET_DESK`` changes it), the desk kill switch, the table sizes."""
        return DeskSettings.of(self.desk_view_raw(), self.core.desk_killed())

    def desk_view_raw(self) -> dict[str, object]:
        """:meth:`desk_view` as the core's dict (``exec_window_ns``)."""
        return dict(self.core.desk_view())

    def pending_approvals(self) -> list[ApprovalPending]:
        """The RFQs waiting for an operator, as the hooks' :class:`~rfqcore.rfq.ApprovalPending`
        (``operator.approve(p)`` takes one), with the client's limit price."""
        out = []
        for p in self.pending_approvals_raw():
            u = composite_units(self.registry, int(p["composite"]))
            out.append(ApprovalPending(int(p["client"]), int(p["composite"]), int(p["request_id"]),
                                       int(p["rfq_id"]), int(p["side"]), int(p["qty"]), int(p["indicative"]),
                                       int(p["deadline"]), 0, u.name, u.price_decimals, u.qty_decimals, u.base,
                                       u.currency, bool(p["qty_in_quote"]), int(p["limit"])))
        return out

    def pending_approvals_raw(self) -> list[dict[str, int]]:
        """:meth:`pending_approvals` as the core's dicts (composite scales)."""
        return list(self.core.pending())

    def quote_state(self, quote_id: int) -> QuoteState | None:
        """A quote the core holds (sides, state, times; :class:`rfqcore.views.QuoteState`), None
        for an id it does not hold."""
        raw = self.quote_state_raw(quote_id)
        if raw is None:
            return None
        u = composite_units(self.registry, int(raw["composite"]))  # type: ignore[call-overload]
        cid = int(raw["client"])  # type: ignore[call-overload]
        client = next((c.name for c in self.rfq.clients if c.id == cid), str(cid))
        return QuoteState.of(raw, client, u.name, u.price_decimals or 0, u.qty_decimals or 0, u.base, u.currency)

    def quote_state_raw(self, quote_id: int) -> dict[str, object] | None:
        """:meth:`quote_state` as the core's dict (``ask``/``bid`` as (price, qty) integers)."""
        return self.core.quote_view(quote_id)

    def composite_mid(self, composite: int | str) -> Decimal | None:
        """The composite's mid price (None without one), exact in its quote currency."""
        c = self.registry.composite(composite)
        mid = self.core.composite_mid(c.id)
        return None if mid is None else from_units(mid, c.price_decimals)

    def composite_mid_raw(self, composite: int | str) -> int | None:
        """:meth:`composite_mid` in composite price units."""
        return self.core.composite_mid(self.registry.composite(composite).id)

    def now_ns(self) -> int | None:
        """The core's clock (ns since the epoch, ``CLOCK_REALTIME``): the largest receive time of
        any input it accepted, by which it judges a book fresh or stale (``stale_after_ms``); None
        before its first input. It only moves with inputs (market data, RFQs, the idle heartbeats)."""
        return self.core.now()

    def _hedge_venue(self, composite: int, venue: int) -> tuple[str, Instrument | None]:
        cfg = next((h for h in self.rfq.hedging if h.composite == composite), None)
        vc = next((v for v in (cfg.venues if cfg else ()) if v.id == venue), None)
        return (str(venue), None) if vc is None else (vc.name, self.registry.by_id(vc.instrument))

    def hedge_status(self) -> list[HedgingState]:
        """Hedging per hedged composite: policy (``set_hedging``'s units), client flow, hedged /
        pending quantities, slippage against the quoted prices and fees (exact Decimals), venues
        (:class:`rfqcore.views.HedgingState`)."""
        out = []
        for h in self.hedge_status_raw():
            c = self.registry.composite(int(h["composite"]))
            base, quote = self._assets(c.id)
            venues = []
            for v in h["venues"]:
                name, ins = self._hedge_venue(c.id, int(v["venue"]))
                qd = None if ins is None else ins.qty_decimals
                venues.append(HedgeVenueState(
                    name, bool(v["up"]), None if qd is None else from_units(int(v["position"]), qd),
                    None if qd is None else from_units(int(v["working"]), qd), ins.base if ins else ""))
            out.append(HedgingState.of(h, c.name, c.price_decimals, c.qty_decimals, base, quote, tuple(venues)))
        return out

    def hedge_status_raw(self) -> list[HedgeView]:
        """:meth:`hedge_status` as the core's dicts (exact ints, composite scales; venues in their
        instrument's)."""
        return self.core.hedge_views()

    def hedge_orders(self) -> list[HedgeOrderState]:
        """Every hedge order the core's OMS holds, in its venue instrument's units, with its
        state's name (:class:`rfqcore.views.HedgeOrderState`)."""
        out = []
        for o in self.hedge_orders_raw():
            ins = self.registry.by_id(int(o["instrument"]))
            cfg = next((h for h in self.rfq.hedging if ins.id in (v.instrument for v in h.venues)), None)
            venue = self._hedge_venue(cfg.composite, int(o["venue"]))[0] if cfg else str(o["venue"])
            out.append(HedgeOrderState.of(o, venue, ins.key, ins.price_decimals, ins.qty_decimals, ins.base,
                                          ins.quote))
        return out

    def hedge_orders_raw(self) -> list[dict[str, int]]:
        """:meth:`hedge_orders` as the core's dicts (member instrument scales; ``state`` is an
        index into :data:`rfqcore.records.HEDGE_ORDER_STATES`)."""
        return self.core.hedge_orders()

    def rfq_stats(self) -> RfqStats:
        return self.core.rfq_stats()

    def rfq_to_quote(self, reset: bool = False) -> LatencySummary:
        """RFQ record pushed (``ts_send``) -> its answer published on the out ring, measured on
        the core thread."""
        d = self.core.rfq_to_quote(reset)
        return LatencySummary(d["count"], d["p50"], d["p99"], d["p999"], d["max"])

    # -- queries (answered by the core thread when it runs) --------------------------------

    def _instrument(self, instrument: int | str) -> Instrument:
        if isinstance(instrument, int):
            return self.registry.by_id(instrument)
        return self.registry.by_key(instrument)

    def best(self, instrument: int | str) -> TopOfBook | None:
        """Best bid/ask of a venue book, or None unless both sides have a level."""
        ins = self._instrument(instrument)
        t = self.core.best(ins.id)
        return None if t is None else TopOfBook(*t, ins.price_decimals, ins.qty_decimals, ins.base, ins.quote)

    def depth(self, instrument: int | str, side: str | int, levels: int = 10) -> list[tuple[Decimal, Decimal]]:
        """The best ``levels`` (price, size) of a venue book's ``side`` (``"bid"`` / ``"ask"``
        or a :class:`Side`), exact in the instrument's units."""
        ins = self._instrument(instrument)
        pd, qd = ins.price_decimals, ins.qty_decimals
        return [(from_units(p, pd), from_units(q, qd)) for p, q in self.core.depth(ins.id, book_side(side), levels)]

    def depth_raw(self, instrument: int | str, side: Side | int, levels: int = 10) -> list[tuple[int, int]]:
        """:meth:`depth` in the instrument's integer scales."""
        return self.core.depth(self._instrument(instrument).id, int(side), levels)

    def vwap(self, instrument: int | str, side: str | int, qty: Decimal | int | str) -> Decimal | None:
        """Average price to take ``qty`` (base units: ``Decimal``, ``int``, ``str``) from a venue
        book's ``side`` (``"bid"`` / ``"ask"`` or a :class:`Side`), rounded against the taker to
        the instrument's tick precision; None if the book is too thin."""
        ins = self._instrument(instrument)
        px = self.core.vwap(ins.id, book_side(side), to_units(qty, ins.qty_decimals, "qty"))
        return None if px is None else from_units(px, ins.price_decimals)

    def vwap_raw(self, instrument: int | str, side: Side | int, qty: int) -> int | None:
        """:meth:`vwap` with ``qty`` and the price in the instrument's integer scales."""
        return self.core.vwap(self._instrument(instrument).id, int(side), qty)

    def composite_vwap(self, composite: int | str, side: str | int, qty: Decimal | int | str) -> Decimal | None:
        """Average price to take ``qty`` (base units) from the composite's usable books; None if
        they are too thin."""
        c = self.registry.composite(composite)
        px = self.core.composite_vwap(c.id, book_side(side), to_units(qty, c.qty_decimals, "qty"))
        return None if px is None else from_units(px, c.price_decimals)

    def composite_vwap_raw(self, composite: int | str, side: Side | int, qty: int) -> int | None:
        """:meth:`composite_vwap` in composite integer scales."""
        return self.core.composite_vwap(self.registry.composite(composite).id, int(side), qty)

    def quotes(self, composite: int | str) -> list[QuoteLevel]:
        """The core's current quote ladder for a composite."""
        c = self.registry.composite(composite)
        live = self.core.pricing(c.id)   # the live ladder (set_pricing / SET_LADDER change it)
        sizes = live[0] if live is not None else c.spec()["sizes"]
        units = self._units(c.id)
        out = []
        for level, (flags, reason, bid, ask) in enumerate(self.core.quotes(c.id)):
            out.append(
                QuoteLevel(
                    composite=c.id,
                    level=level,
                    size_raw=sizes[level],
                    bid_raw=bid if flags & Flag.BID_VALID else None,
                    ask_raw=ask if flags & Flag.ASK_VALID else None,
                    reason=QuoteWithdrawal(reason),
                    seq=0,
                    units=units,
                )
            )
        return out

    def latency_histogram(self, which: str = "tick_to_quote", reset: bool = False) -> LatencyRecorder:
        """A copy of one of the engine's latency histograms, for ``.hgrm`` export
        (:meth:`LatencyRecorder.write_hgrm`) and plots (``rfqcore latency-plot``):
        ``"tick_to_quote"`` and ``"rfq_to_quote"`` (core thread, from the push; ``reset``
        zeroes both), or ``"subscriber"`` (push -> a Python subscriber's callback)."""
        if which == "subscriber":
            copy = LatencyRecorder()
            copy.hist.add(self.subscriber_latency.hist)
            if reset:
                self.subscriber_latency.reset()
            return copy
        if which not in ("tick_to_quote", "rfq_to_quote"):
            raise ValueError(f"unknown latency histogram {which!r}: tick_to_quote, rfq_to_quote or subscriber")
        d = getattr(self.core, which)(reset)
        return LatencyRecorder.from_counts(d["counts"])

    def tick_to_quote(self, reset: bool = False) -> LatencySummary:
        """Tick-to-quote measured on the core thread: from the producer's push of a record
        (``ts_send``) to the publication of the quotes it caused on the out ring."""
        d = self.core.tick_to_quote(reset)
        return LatencySummary(d["count"], d["p50"], d["p99"], d["p999"], d["max"])

    def basis(self, composite: int | str) -> list[tuple[str, Decimal, bool]]:
        """Basis offsets of the composite's members: (instrument, offset in the composite's quote
        currency, exact; known). A member's prices count as its own plus the offset."""
        c = self.registry.composite(composite)
        return [(self.registry.by_id(i).key, from_units(off, c.price_decimals), known)
                for i, off, known in self.basis_raw(c.id)]

    def basis_raw(self, composite: int | str) -> list[tuple[int, int, bool]]:
        """:meth:`basis` as the core's integers: (instrument id, offset in composite price units, known)."""
        return self.core.basis(self.registry.composite(composite).id)

    def book_status(self, instrument: int | str) -> BookStatus:
        """A venue book's status (``LIVE``, ``STALE``, ``CROSSED``, ``BUILDING``)."""
        return BookStatus(self.core.book_status(self._instrument(instrument).id))

    def stats(self) -> EngineStats:
        return {**self.core.stats(), "heartbeats": self.core.heartbeats(), "out_waits": self.core.out_waits(),
                "output": dict(self.counts)}

    def state_hash(self) -> int:
        return self.core.state_hash()

    def snapshot_now(self) -> dict[str, object]:
        """Write a snapshot of the whole core now (journal attached): path, seq, bytes,
        state_hash, encode_seconds."""
        return dict(self.core.snapshot_now())

    def journal_stats(self) -> dict[str, object] | None:
        """Committed and durable sequence numbers, commits, syncs, bytes of the attached journal."""
        s = self.core.journal_stats()
        return None if s is None else dict(s)

    def set_pricing(self, composite: int | str, *, base_bps: Decimal | int | str,
                    size_bps_per_unit: Decimal | int | str, sizes: list[Decimal | int | str]) -> None:
        """Pricing v1 of a composite: ladder ``sizes`` (base units, increasing: ``["0.1", 1]``)
        and spreads (bps, up to 2 decimals), exactly as :meth:`set_pricing_raw` takes them."""
        c = self.registry.composite(composite)
        self.set_pricing_raw(c.id, base_cbps=to_units(base_bps, 2, "base_bps"),
                             size_cbps_per_unit=to_units(size_bps_per_unit, 2, "size_bps_per_unit"),
                             sizes=[to_units(q, c.qty_decimals, "sizes") for q in sizes])

    def set_pricing_raw(self, composite: int | str, *, base_cbps: int, size_cbps_per_unit: int,
                        sizes: list[int]) -> None:
        """Pricing v1 of a composite: ladder ``sizes`` (composite qty units, increasing) and spreads
        (cbps: hundredths of a bp). With a journal the change travels as CONTROL records (SET_LADDER, SET_PRICING), so a
        replay of the journal sees it; raises :class:`~rfqcore.operator.ControlRejected` if the
        core refuses one (the ones before it stay applied)."""
        comp = self.registry.composite(composite).id
        if self.journal is None:
            self.core.set_pricing(comp, base_cbps, size_cbps_per_unit, sizes)
            return
        if not sizes or len(sizes) > 32 or any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] <= 0:
            raise ValueError(f"sizes must be 1..32 increasing positive quantities, got {sizes}")
        reqs = [ControlRequest(Command.SET_LADDER, 2, comp, 0, 1), ControlRequest(Command.SET_LADDER, 1, comp, 0, sizes[0], 0)]
        reqs += [ControlRequest(Command.SET_LADDER, 1, comp, 0, q, i) for i, q in enumerate(sizes[1:], 1)]
        reqs += [ControlRequest(Command.SET_PRICING, PricingField.BASE_CBPS, comp, 0, base_cbps),
                 ControlRequest(Command.SET_PRICING, PricingField.SIZE_CBPS_PER_UNIT, comp, 0, size_cbps_per_unit)]
        for r in reqs:
            ack = self._send_control(r)
            if not ack.ok:
                raise ControlRejected(ack)

    def set_member(self, composite: int | str, instrument: int | str, included: bool) -> None:
        """Include or exclude a member book of a composite (a CONTROL record SET_MEMBER with a
        journal, so a replay sees it)."""
        comp, inst = self.registry.composite(composite).id, self._instrument(instrument).id
        if self.journal is None:
            self.core.set_member(comp, inst, included)
            return
        ack = self._send_control(ControlRequest(Command.SET_MEMBER, 0, comp, inst, int(included)))
        if not ack.ok:
            raise ControlRejected(ack)

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything and remove the ring files this engine created."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
            for r, _ in self._hooks:
                r.close()
        finally:
            for p in self._producers.values():
                p.close()
            self._out.close()
            if self._remove_dir is not None:
                self._remove_dir()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
