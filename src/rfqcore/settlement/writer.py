"""SettlementWriter: execution reports → settlement store, off the core's path, never losing one.

::

    core thread ──tap ring──► reader thread ──┐                      ┌──► store.capture(batch)
    (or pump: subscribe_events) ──────────────┼─► memory queue (bounded) ─► writer thread
    journal replay: offer_records(batch) ─────┘   └─ full? ─► spill file (append-only JSONL)

- **Producers never wait.** ``offer_*`` appends to a bounded in-memory FIFO; when it is full,
  to an append-only spill file beside the store (one JSON line per item). Once spilling has
  begun every later item goes to the file too, so the order is kept: the writer drains the
  memory queue first, then the file, then returns to memory.
- **The writer thread** commits batches (``batch_size`` items, or what is there after
  ``flush_interval_s``) with :meth:`SettlementStore.capture` in one transaction each. A failed
  commit (e.g. PostgreSQL stopped: :class:`StoreUnavailable`) leaves the batch where it is; it
  is retried with exponential back-off (``retry_initial_s`` … ``retry_max_s``) until the store
  returns. Capture is idempotent by trade id, so a batch whose commit succeeded but whose
  acknowledgement was lost is simply a duplicate the second time: no loss, no duplication.
- **Watermark.** Besides trades the queue carries the core time of the flow seen so far; the
  store's watermark (which closes settlement cycles) only moves with a committed batch, so a
  cycle is never closed while its trades are still queued.
- **Restart.** A spill file left by a previous run (store down at shutdown, or a crash) is
  read first on :meth:`start`; :meth:`stop` spills what memory still holds if the store is
  still down. A crash loses at most the memory queue, which the journal replay regenerates.

**Journal replay hook.** A replay of the journal regenerates the core's outputs bit for bit;
feed each regenerated output batch to :meth:`offer_records` (raw ``RECORD_DTYPE`` records; any
kinds, only ``EXEC``+``EXEC_FEES`` pairs become trades, every record's ``ts_recv`` moves the
watermark), then :meth:`flush`. Trades already captured are duplicates and change nothing;
those lost with a crashed process are captured. :func:`capture_records` does it without a
thread for a one-shot catch-up.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rfqcore.records import RECORD_DTYPE, ClientSide, Kind
from rfqcore.settlement.model import Catalog, SettlementError, Trade
from rfqcore.settlement.store import CaptureResult, SettlementStore

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # typing.TypeIs from Python 3.13

    from rfqcore.engine import Engine
    from rfqcore.rfq import Event

__all__ = ["SettlementWriter", "CaptureTarget", "ExecutionAssembler", "capture_records"]

log = logging.getLogger("rfqcore.settlement")


class CaptureTarget(Protocol):
    """What :class:`SettlementWriter` needs of a store: a :class:`SettlementStore`, or anything
    with its ``capture`` and ``close``."""

    def capture(self, trades: Sequence[Trade], watermark_ns: int | None = None) -> CaptureResult: ...

    def close(self) -> None: ...


def _is_store(store: CaptureTarget | Callable[[], CaptureTarget]) -> TypeIs[CaptureTarget]:
    """A store itself, not a factory of stores."""
    return isinstance(store, SettlementStore) or hasattr(store, "capture")

_EXEC_KINDS = np.array([Kind.EXEC, Kind.EXEC_FEES], dtype=np.uint16)

# queue items: ("t", Trade) or ("w", core time)
Item = tuple[str, Any]


class ExecutionAssembler:
    """Joins ``EXEC`` + ``EXEC_FEES`` records (possibly split across batches) into trades and
    reports the core time the stream has reached, never past a half-received execution."""

    __slots__ = ("catalog", "_pending")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._pending: tuple[int, ...] | None = None

    def feed(self, batch: np.ndarray) -> tuple[list[Trade], int]:
        """Trades completed by ``batch`` and the watermark (0 when the batch is empty)."""
        if len(batch) == 0:
            return [], 0
        wm = int(batch["ts_recv"].max())
        sel = batch[np.isin(batch["kind"], _EXEC_KINDS)]
        trades: list[Trade] = []
        for r in sel.tolist():
            kind, inst, side, _flags, source, seq, ts_event, ts_recv, price, qty, aux, _ts_send = r
            if kind == Kind.EXEC:
                self._pending = r
            else:
                e = self._pending
                self._pending = None
                if e is None or e[5] != seq:
                    log.error("EXEC_FEES of trade %d without its EXEC: skipped", seq)
                    continue
                c = self.catalog.composites.get(e[1])
                if c is None:
                    raise SettlementError(f"trade {seq}: unknown composite id {e[1]}")
                cid = int(e[4])
                trades.append(Trade(
                    trade_id=int(seq), client_id=cid, client=self.catalog.clients.get(cid, f"client-{cid}"),
                    composite_id=int(e[1]), composite=c.name, base=c.base, quote=c.quote, side=ClientSide(e[2]),
                    price=int(e[8]), qty=int(e[9]), notional=int(qty), fee=int(price),
                    price_decimals=c.price_decimals, qty_decimals=c.qty_decimals, quote_id=int(e[10]),
                    rfq_id=int(aux), accept_id=int(e[6]), core_time_ns=int(e[7])))
        if self._pending is not None:  # its trade is not complete: do not claim its time yet
            wm = min(wm, int(self._pending[7]) - 1)
        return trades, wm


def capture_records(store: SettlementStore, catalog: Catalog, batches: Iterable[np.ndarray],
                    batch_size: int = 1000) -> CaptureResult:
    """Synchronous capture of output record batches (e.g. a journal replay's regenerated
    outputs) into ``store``: idempotent, so already-captured trades are duplicates."""
    asm = ExecutionAssembler(catalog)
    total = CaptureResult()
    buf: list[Trade] = []
    wm = 0
    for b in batches:
        t, w = asm.feed(b)
        buf.extend(t)
        wm = max(wm, w)
        if len(buf) >= batch_size:
            r = store.capture(buf, wm)
            total.inserted += r.inserted
            total.duplicates += r.duplicates
            total.rejected += r.rejected
            buf = []
    r = store.capture(buf, wm or None)
    total.inserted += r.inserted
    total.duplicates += r.duplicates
    total.rejected += r.rejected
    return total


def _item_json(item: Item) -> str:
    kind, v = item
    if kind == "t":
        d = asdict(v)
        d["side"] = int(v.side)
        return json.dumps({"t": d}, separators=(",", ":"))
    return json.dumps({"w": v}, separators=(",", ":"))


def _item_from_json(line: str) -> Item:
    d = json.loads(line)
    if "t" in d:
        t = d["t"]
        t["side"] = ClientSide(t["side"])
        return ("t", Trade(**t))
    return ("w", int(d["w"]))


class SettlementWriter:
    """Moves execution reports into a :class:`SettlementStore` without ever blocking the core.

    ``store`` is a store or a zero-argument factory (called again after a failure when
    ``reopen_on_error`` is set, e.g. to get a fresh SQLite handle). Wire it to an engine with
    :meth:`attach_tap` (its own reader thread on a tap ring: the preferred way, off the pump)
    or :meth:`attach_events` (``Engine.subscribe_events`` on the pump thread); or feed it with
    :meth:`offer_records` / :meth:`offer_trades`.
    """

    def __init__(self, store: CaptureTarget | Callable[[], CaptureTarget], catalog: Catalog, *,
                 spill_path: str | os.PathLike[str], max_memory: int = 100_000, batch_size: int = 1000,
                 flush_interval_s: float = 0.02, retry_initial_s: float = 0.05, retry_max_s: float = 2.0,
                 fsync_spill: bool = False, name: str = "settlement") -> None:
        if max_memory < 1 or batch_size < 1:
            raise ValueError("max_memory and batch_size must be >= 1")
        self._factory: Callable[[], CaptureTarget] | None = None
        self._store: CaptureTarget | None = None
        if _is_store(store):
            self._store = store
        else:
            self._factory = store
        self.catalog = catalog
        self.name = name
        self.spill_path = Path(spill_path)
        self.max_memory = max_memory
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.fsync_spill = fsync_spill
        self._cv = threading.Condition()
        self._mem: deque[Item] = deque()
        self._spilling = False
        self._spill_w: Any = None
        self._spill_off = 0  # read offset of the next unconsumed line
        self._asm = ExecutionAssembler(catalog)
        self._asm_lock = threading.Lock()
        self._offered = 0
        self._committed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._readers: list[tuple[threading.Thread, threading.Event]] = []
        self.stats: dict[str, Any] = {"trades": 0, "inserted": 0, "duplicates": 0, "rejected": 0, "batches": 0,
                                      "failures": 0, "spilled": 0, "recovered": 0, "spill_corrupt": 0,
                                      "last_error": None, "store_down_since": None}

    # -- producers (any thread; never wait for the store) ---------------------------------

    def _offer(self, items: list[Item]) -> None:
        if not items:
            return
        with self._cv:
            if not self._spilling and len(self._mem) + len(items) <= self.max_memory:
                self._mem.extend(items)
            else:
                self._spill(items)
            self._offered += len(items)
            self._cv.notify_all()

    def _spill(self, items: list[Item]) -> None:  # under self._cv
        if self._spill_w is None:
            self.spill_path.parent.mkdir(parents=True, exist_ok=True)
            self._spill_w = open(self.spill_path, "a", encoding="utf-8")  # noqa: SIM115
        self._spill_w.write("".join(_item_json(i) + "\n" for i in items))
        self._spill_w.flush()
        if self.fsync_spill:
            os.fsync(self._spill_w.fileno())
        if not self._spilling:
            log.warning("%s: store behind, spilling to %s", self.name, self.spill_path)
        self._spilling = True
        self.stats["spilled"] += len(items)

    def offer_trades(self, trades: Iterable[Trade], watermark_ns: int | None = None) -> None:
        items: list[Item] = [("t", t) for t in trades]
        if watermark_ns:
            items.append(("w", int(watermark_ns)))
        self._offer(items)

    def offer_records(self, batch: np.ndarray) -> None:
        """Raw output records (``RECORD_DTYPE``) of one stream, in order: the tap ring, the out
        ring, or a journal replay's regenerated outputs. One stream per writer (the assembler
        joins an ``EXEC`` and its ``EXEC_FEES`` across batches)."""
        with self._asm_lock:
            trades, wm = self._asm.feed(batch)
        self.offer_trades(trades, wm or None)

    def offer_events(self, events: list[Event]) -> None:
        """Decoded events (``Engine.subscribe_events``): the executions among them."""
        from rfqcore.rfq import ControlAck, Execution

        trades: list[Trade] = []
        wm = 0
        for ev in events:
            if isinstance(ev, Execution):
                trades.append(self.catalog.trade(ev))
                wm = max(wm, ev.core_time)
            elif isinstance(ev, ControlAck):
                wm = max(wm, ev.core_time)
        self.offer_trades(trades, wm or None)

    # -- wiring to an engine ---------------------------------------------------------------

    def attach_events(self, engine: Engine) -> None:
        """Subscribe to the engine's decoded events (runs ``offer_events`` on its pump thread:
        an O(batch) copy into the queue, never a store call)."""
        engine.subscribe_events(self.offer_events)

    def attach_tap(self, engine: Engine, name: str = "settlement", poll_interval_s: float = 0.001,
                   capacity: int = 1 << 16) -> str:
        """Give the writer its own tap ring of the engine (every RFQ-family output) and a reader
        thread that drains it into the queue. The reader never touches the store, so the tap
        (which back-pressures the core when full) is always drained. Returns the ring path."""
        from rfqcore._ring import RingConsumer

        path = engine.add_tap(name, capacity)
        consumer = RingConsumer(path)
        stop = threading.Event()

        def run() -> None:
            buf = np.zeros(4096, dtype=RECORD_DTYPE)
            try:
                while True:
                    n = consumer.poll_into(buf)
                    if n:
                        self.offer_records(buf[:n].copy())
                        continue
                    if stop.is_set():
                        return
                    time.sleep(poll_interval_s)
            finally:
                consumer.close()

        t = threading.Thread(target=run, name=f"{self.name}-tap", daemon=True)
        self._readers.append((t, stop))
        t.start()
        return path

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Recover a spill file left by an earlier run, then start the writer thread."""
        if self._thread is not None:
            return
        with self._cv:
            if self.spill_path.exists() and self.spill_path.stat().st_size > 0:
                data = self.spill_path.read_bytes()
                end = data.rfind(b"\n") + 1
                if end < len(data):  # a line torn by a crash: it was never acknowledged to anyone
                    log.warning("%s: dropping a torn last line (%d bytes) of %s", self.name, len(data) - end,
                                self.spill_path)
                    os.truncate(self.spill_path, end)
                n = data.count(b"\n")
                self._spilling = True
                self._spill_off = 0
                self._offered += n
                self.stats["recovered"] += n
                log.warning("%s: %d queued items recovered from %s", self.name, n, self.spill_path)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-writer", daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        """Items offered but not yet committed."""
        with self._cv:
            return self._offered - self._committed

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything offered so far is committed; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            target = self._offered
            while self._committed < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(0.05 if left is None else min(left, 0.05))
        return True

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the tap readers (after draining their rings), try to commit everything for up to
        ``timeout`` s, stop the writer thread; what is left (store still down) is written to the
        spill file for the next :meth:`start`. Returns True when everything was committed."""
        for t, ev in self._readers:
            ev.set()
            t.join()
        self._readers.clear()
        done = self.flush(timeout) if self._thread is not None else self.backlog == 0
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._cv:
            if self._mem:  # keep them, in order, ahead of any unread spill lines
                rest = ""
                if self._spill_w is not None:
                    self._spill_w.close()
                    self._spill_w = None
                if self.spill_path.exists():
                    with open(self.spill_path, encoding="utf-8") as f:
                        f.seek(self._spill_off)
                        rest = f.read()
                tmp = self.spill_path.with_suffix(self.spill_path.suffix + ".tmp")
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write("".join(_item_json(i) + "\n" for i in self._mem) + rest)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.spill_path)
                self.stats["spilled"] += len(self._mem)
                self._mem.clear()
            elif self._spilling and self._spill_off:  # drop the consumed prefix
                if self._spill_w is not None:
                    self._spill_w.close()
                    self._spill_w = None
                with open(self.spill_path, encoding="utf-8") as f:
                    f.seek(self._spill_off)
                    rest = f.read()
                tmp = self.spill_path.with_suffix(self.spill_path.suffix + ".tmp")
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(rest)
                os.replace(tmp, self.spill_path)
            if self._spill_w is not None:
                self._spill_w.close()
                self._spill_w = None
            self._spill_off = 0
            self._spilling = self.spill_path.exists() and self.spill_path.stat().st_size > 0
        if self._store is not None and self._factory is not None:
            self._store.close()
            self._store = None
        return done

    close = stop

    def __enter__(self) -> SettlementWriter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the writer thread -----------------------------------------------------------------

    def _read_spill(self, off: int) -> tuple[list[Item], int]:
        """Up to ``batch_size`` complete lines from ``off`` (only the writer thread reads; the
        file only grows while it is being read, so no lock is needed)."""
        items: list[Item] = []
        with open(self.spill_path, "rb") as f:
            f.seek(off)
            while len(items) < self.batch_size:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break  # nothing more, or a line torn by a crash
                off += len(line)
                try:
                    items.append(_item_from_json(line.decode("utf-8")))
                except (ValueError, TypeError, KeyError) as e:
                    with self._cv:
                        self.stats["spill_corrupt"] += 1
                        self._committed += 1  # counted as offered; it cannot be captured
                    log.error("%s: corrupt spill line at %d skipped: %s", self.name, off - len(line), e)
        return items, off

    def _next_batch(self) -> tuple[list[Item], int, int] | None:
        """(items, how many of them from memory, spill offset after them), or None when idle."""
        with self._cv:
            while True:
                if self._mem:
                    items = list(islice(self._mem, self.batch_size))
                    return items, len(items), self._spill_off
                if self._spilling:
                    off = self._spill_off
                    break
                if self._stop.is_set():
                    return None
                self._cv.wait(self.flush_interval_s)
        items, new_off = self._read_spill(off)
        if items or new_off != off:
            return items, 0, new_off
        with self._cv:  # nothing more to read: drained, unless a producer appended meanwhile
            if self.spill_path.stat().st_size == self._spill_off:
                if self._spill_w is not None:
                    self._spill_w.close()
                    self._spill_w = None
                os.truncate(self.spill_path, 0)
                self._spill_off = 0
                self._spilling = False
                log.warning("%s: caught up, spill file drained", self.name)
        return [], 0, off

    def _get_store(self) -> CaptureTarget:
        if self._store is None:
            assert self._factory is not None
            self._store = self._factory()
        return self._store

    def _commit(self, items: list[Item]) -> CaptureResult:
        trades = [v for k, v in items if k == "t"]
        marks = [v for k, v in items if k == "w"]
        return self._get_store().capture(trades, max(marks) if marks else None)

    def _run(self) -> None:
        delay = self.retry_initial_s
        while True:
            got = self._next_batch()
            if got is None:
                return
            items, from_mem, off = got
            if not items:
                with self._cv:
                    if not from_mem:
                        self._spill_off = max(self._spill_off, off) if self._spilling else 0
                    self._cv.notify_all()
                continue
            try:
                res = self._commit(items)
            except Exception as e:  # noqa: BLE001 - any store failure: keep the batch, retry
                with self._cv:
                    self.stats["failures"] += 1
                    self.stats["last_error"] = f"{type(e).__name__}: {e}"
                    if self.stats["store_down_since"] is None:
                        self.stats["store_down_since"] = time.time()
                        log.warning("%s: store unavailable (%s); queueing", self.name, e)
                if self._factory is not None and self._store is not None:
                    try:
                        self._store.close()
                    finally:
                        self._store = None
                if self._stop.wait(delay):
                    return  # stop() gave up waiting: what is left goes to the spill file
                delay = min(delay * 2, self.retry_max_s)
                continue
            delay = self.retry_initial_s
            with self._cv:
                for _ in range(from_mem):
                    self._mem.popleft()
                if not from_mem:
                    self._spill_off = off
                self._committed += len(items)
                self.stats["trades"] += sum(1 for k, _ in items if k == "t")
                self.stats["inserted"] += res.inserted
                self.stats["duplicates"] += res.duplicates
                self.stats["rejected"] += len(res.rejected)
                self.stats["batches"] += 1
                if self.stats["store_down_since"] is not None:
                    log.warning("%s: store back after %.1fs", self.name, time.time() - self.stats["store_down_since"])
                    self.stats["store_down_since"] = None
                self._cv.notify_all()
