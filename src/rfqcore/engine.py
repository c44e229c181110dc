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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import rfqcore_core

from rfqcore._ring import RingConsumer, RingProducer, monotonic_ns, ring_create
from rfqcore.instruments import Instrument, Registry
from rfqcore.latency import LatencyRecorder, LatencySummary
from rfqcore.records import RECORD_DTYPE, Flag, Kind, QuoteWithdrawal, Side

__all__ = ["Engine", "Quote", "TopOfBook", "Subscription"]

Callback = Callable[[np.ndarray], None]


@dataclass(frozen=True, slots=True)
class TopOfBook:
    """Best bid and ask of a venue book, fixed-point ints in the instrument's scales."""

    bid_price: int
    bid_qty: int
    ask_price: int
    ask_qty: int


@dataclass(frozen=True, slots=True)
class Quote:
    """One rung of a composite's two-way quote (composite scales)."""

    composite: int
    level: int
    size: int
    bid: int | None
    ask: int | None
    reason: QuoteWithdrawal
    seq: int

    @classmethod
    def from_record(cls, r: np.void) -> Quote:
        flags = int(r["flags"])
        return cls(
            composite=int(r["instrument"]),
            level=int(r["source"]),
            size=int(r["qty"]),
            bid=int(r["price"]) if flags & Flag.BID_VALID else None,
            ask=int(r["aux"]) if flags & Flag.ASK_VALID else None,
            reason=QuoteWithdrawal(int(r["side"])),
            seq=int(r["seq"]),
        )


@dataclass(slots=True)
class Subscription:
    """A registered output callback; ``kinds`` filters record kinds (None = all)."""

    callback: Callback
    kinds: frozenset[int] | None
    errors: int = 0
    last_error: BaseException | None = None


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
    ) -> None:
        self.registry = registry if registry is not None else Registry.load()
        self._own_dir = ring_dir is None
        self.ring_dir = Path(ring_dir) if ring_dir else Path(tempfile.mkdtemp(prefix="rfqcore-", dir=_shm_root()))
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
        )
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
        self.last_quotes: dict[tuple[int, int], Quote] = {}
        self._closed = False

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

    def start(self, pump: bool = True) -> None:
        """Start the core thread, and (by default) the output pump thread."""
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
        if len(quotes):
            sent = quotes["ts_send"]
            self.subscriber_latency.record_array(now - sent[sent > 0])
            # keep the latest quote per (composite, level): the last occurrence in the batch
            keys = quotes["instrument"].astype(np.int64) * 65536 + quotes["source"]
            _, last = np.unique(keys[::-1], return_index=True)
            for i in (len(quotes) - 1 - last).tolist():
                q = Quote.from_record(quotes[i])
                self.last_quotes[(q.composite, q.level)] = q

    # -- queries (answered by the core thread when it runs) --------------------------------

    def _instrument(self, instrument: int | str) -> Instrument:
        if isinstance(instrument, int):
            return self.registry.by_id(instrument)
        return self.registry.by_key(instrument)

    def best(self, instrument: int | str) -> TopOfBook | None:
        """Best bid/ask of a venue book, or None unless both sides have a level."""
        t = self.core.best(self._instrument(instrument).id)
        return None if t is None else TopOfBook(*t)

    def depth(self, instrument: int | str, side: Side | int, levels: int = 10) -> list[tuple[int, int]]:
        return self.core.depth(self._instrument(instrument).id, int(side), levels)

    def vwap(self, instrument: int | str, side: Side | int, qty: int) -> int | None:
        """Average price to take ``qty`` (instrument qty units) from ``side``; None if too thin."""
        return self.core.vwap(self._instrument(instrument).id, int(side), qty)

    def composite_vwap(self, composite: int | str, side: Side | int, qty: int) -> int | None:
        """Average price to take ``qty`` (composite qty units) from the composite's usable books."""
        return self.core.composite_vwap(self.registry.composite(composite).id, int(side), qty)

    def quotes(self, composite: int | str) -> list[Quote]:
        """The core's current quote ladder for a composite."""
        c = self.registry.composite(composite)
        spec = c.spec()
        out = []
        for level, (flags, reason, bid, ask) in enumerate(self.core.quotes(c.id)):
            out.append(
                Quote(
                    composite=c.id,
                    level=level,
                    size=spec["sizes"][level],
                    bid=bid if flags & Flag.BID_VALID else None,
                    ask=ask if flags & Flag.ASK_VALID else None,
                    reason=QuoteWithdrawal(reason),
                    seq=0,
                )
            )
        return out

    def tick_to_quote(self, reset: bool = False) -> LatencySummary:
        """Tick-to-quote measured on the core thread: from the producer's push of a record
        (``ts_send``) to the publication of the quotes it caused on the out ring."""
        d = self.core.tick_to_quote(reset)
        return LatencySummary(d["count"], d["p50"], d["p99"], d["p999"], d["max"])

    def basis(self, composite: int | str) -> list[tuple[int, int, bool]]:
        """Basis offsets of the composite's members: (instrument id, offset in composite price
        units, known)."""
        return self.core.basis(self.registry.composite(composite).id)

    def book_status(self, instrument: int | str) -> int:
        return self.core.book_status(self._instrument(instrument).id)

    def stats(self) -> dict[str, object]:
        s = dict(self.core.stats())
        s["output"] = dict(self.counts)
        return s

    def state_hash(self) -> int:
        return self.core.state_hash()

    def set_pricing(self, composite: int | str, *, base_cbps: int, size_cbps_per_unit: int, sizes: list[int]) -> None:
        self.core.set_pricing(self.registry.composite(composite).id, base_cbps, size_cbps_per_unit, sizes)

    def set_member(self, composite: int | str, instrument: int | str, included: bool) -> None:
        self.core.set_member(self.registry.composite(composite).id, self._instrument(instrument).id, included)

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything and remove the ring files this engine created."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            for p in self._producers.values():
                p.close()
            self._out.close()
            if self._own_dir:
                shutil.rmtree(self.ring_dir, ignore_errors=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
