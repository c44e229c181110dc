"""Python strategy hooks: callbacks off the hot path, parameters over the control ring.

A desk subclasses :class:`Strategy` and attaches it with ``engine.add_strategy(s)``::

    class Skewer(Strategy):
        def on_fill(self, fill):
            # widen after every fill, through the control ring (journaled, audited)
            self.ops.set_pricing("BTC", skew_bps_per_unit="0.05")

        def on_rfq(self, pending):           # an RFQ waiting for manual approval
            if pending.qty <= 100:              # Decimal, in BTC
                self.ops.approve(pending.request_id, adjust_bps="0.5")

Callbacks run on the strategy's own thread, fed from the output pump through bounded
queues. The core never waits for Python: a slow hook only makes its own queues fill up.
Market events (``on_book``) are dropped first and counted (:attr:`HookRunner.dropped`); RFQ
events (quotes, fills, rejects, approvals) are queued far deeper and delivered first, and only
a hook stuck for a very long time loses them (:attr:`HookRunner.dropped_rfq`). Quoting is
never delayed (``bench/hooks_bench.py`` measures it).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rfqcore.records import BookStatus, Flag, Kind, QuoteWithdrawal
from rfqcore.rfq import (
    AcceptRejected,
    ApprovalPending,
    CancelRejected,
    CompositeUnits,
    ControlAck,
    EventDecoder,
    Execution,
    LadderRung,
    Quote,
    QuoteEnded,
    RfqRejected,
    RiskAlert,
    composite_units,
)

if TYPE_CHECKING:
    from rfqcore.engine import Engine
    from rfqcore.operator import Operator

__all__ = ["Strategy", "HookRunner", "BookEvent"]


@dataclass(frozen=True, slots=True)
class BookEvent(LadderRung):
    """Market state seen by strategies: a composite ladder rung changed (``kind == QUOTE``:
    the desk's two-way price for ``size`` of composite ``instrument``) or a venue book changed
    status (``kind == BOOK_STATUS``: ``instrument`` is the venue instrument's id).

    ``size``, ``bid`` and ``ask`` are exact ``Decimal``s in the composite's units (None for a
    withdrawn side); the core's integers are the ``*_raw`` fields."""

    kind: Kind
    instrument: int
    level: int
    size_raw: int
    bid_raw: int | None
    ask_raw: int | None
    withdrawal: QuoteWithdrawal | None
    status: BookStatus | None
    ts_send: int
    units: CompositeUnits | None = None  # the composite's name, scales and assets (QUOTE only)

    def __repr__(self) -> str:
        if self.kind != Kind.QUOTE:
            status = "None" if self.status is None else self.status.name
            return f"BookEvent(kind={Kind(self.kind).name}, instrument={self.instrument}, status={status})"
        withdrawal = "None" if self.withdrawal is None else self.withdrawal.name
        return (f"BookEvent(kind=QUOTE, instrument={self._name(self.instrument)}, level={self.level}, "
                f"{self._prices()}, withdrawal={withdrawal})")


class Strategy:
    """Override any of the ``on_*`` methods; ``self.engine`` and ``self.ops`` (the
    :class:`~rfqcore.operator.Operator`) are set when attached."""

    engine: Engine
    ops: Operator

    def on_quote(self, quote: Quote) -> None:
        """A firm quote went to a client."""

    def on_rfq(self, pending: ApprovalPending) -> None:
        """An RFQ is waiting for manual approval (approve/decline with ``self.ops``)."""

    def on_fill(self, fill: Execution) -> None:
        """A client hit a quote."""

    def on_reject(self, reject: RfqRejected | AcceptRejected | CancelRejected) -> None:
        """The core refused an RFQ, accept or cancel."""

    def on_quote_end(self, end: QuoteEnded) -> None:
        """A quote ended (filled, rejected, expired or cancelled)."""

    def on_risk(self, alert: RiskAlert) -> None:
        """A client or instrument was halted."""

    def on_control(self, ack: ControlAck) -> None:
        """A parameter change or operator command was applied (or refused)."""

    def on_book(self, event: BookEvent) -> None:
        """A composite ladder rung or a venue book status changed."""


class HookRunner:
    """Delivers output to one strategy on its own thread, never blocking the pump.

    Two bounded queues: RFQ events (quotes, fills, rejects, approvals, acks — never dropped
    unless ``max_rfq_batches`` batches are waiting, which is counted in ``dropped_rfq``) and
    market events (ladder and book status — the first to go: when ``max_batches`` are
    waiting, new ones are dropped and counted in ``dropped``). RFQ events are delivered
    before any waiting market event.
    """

    def __init__(self, strategy: Strategy, max_batches: int = 1024, book_events: bool = True,
                 max_rfq_batches: int = 1 << 16) -> None:
        self.strategy = strategy
        self.book_events = book_events
        self.max_batches = max_batches
        self.max_rfq_batches = max_rfq_batches
        self._rfq: deque[np.ndarray] = deque()
        self._book: deque[np.ndarray] = deque()
        self._wake = threading.Event()
        self._stop = False
        engine = getattr(strategy, "engine", None)  # set by Engine.add_strategy
        self._registry = engine.registry if engine is not None else None
        self._decoder = EventDecoder(self._registry)
        self._units: dict[int, CompositeUnits] = {}
        self.dropped = 0  # market-event records dropped because the strategy fell behind
        self.dropped_rfq = 0  # RFQ-event records dropped (only if max_rfq_batches are waiting)
        self.delivered = 0  # callbacks made
        self.errors = 0
        self.last_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"hook-{type(strategy).__name__}", daemon=True)
        self._thread.start()

    def offer(self, batch: np.ndarray) -> None:
        """Called on the pump thread with each output batch: O(1) per batch, never waits."""
        kinds = batch["kind"]
        rfq = batch[kinds >= Kind.RFQ_QUOTE]
        if len(rfq):
            if len(self._rfq) < self.max_rfq_batches:
                self._rfq.append(rfq)
            else:
                self.dropped_rfq += len(rfq)
        if self.book_events:
            book = batch[(kinds == Kind.QUOTE) | (kinds == Kind.BOOK_STATUS)]
            if len(book):
                if len(self._book) < self.max_batches:
                    self._book.append(book)
                else:
                    self.dropped += len(book)
        self._wake.set()

    def close(self, timeout: float = 5.0) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)

    def backlog(self) -> int:
        """Batches waiting (RFQ + market)."""
        return len(self._rfq) + len(self._book)

    def _call[E](self, fn: Callable[[E], object], arg: E) -> None:
        try:
            fn(arg)
            self.delivered += 1
        except Exception as e:  # noqa: BLE001 - a strategy bug must not stop delivery
            self.errors += 1
            self.last_error = e

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(0.1)
            self._wake.clear()
            while not self._stop and (self._rfq or self._book):
                while self._rfq and not self._stop:
                    self._deliver_rfq(self._rfq.popleft())
                if self._book and not self._stop:
                    for r in self._book.popleft().tolist():
                        self._call(self.strategy.on_book, self._book_event(r))

    def _deliver_rfq(self, batch: np.ndarray) -> None:
        s = self.strategy
        for ev in self._decoder.feed(batch):
            if isinstance(ev, Quote):
                self._call(s.on_quote, ev)
            elif isinstance(ev, ApprovalPending):
                self._call(s.on_rfq, ev)
            elif isinstance(ev, Execution):
                self._call(s.on_fill, ev)
            elif isinstance(ev, RfqRejected | AcceptRejected | CancelRejected):
                self._call(s.on_reject, ev)
            elif isinstance(ev, QuoteEnded):
                self._call(s.on_quote_end, ev)
            elif isinstance(ev, RiskAlert):
                self._call(s.on_risk, ev)
            elif isinstance(ev, ControlAck):
                self._call(s.on_control, ev)


    def _book_event(self, r: tuple[int, ...]) -> BookEvent:
        kind, inst, side, flags, source, _seq, _te, _tr, price, qty, aux, ts_send = r
        if kind == Kind.QUOTE:
            units = self._units.get(inst)
            if units is None:
                units = self._units[inst] = composite_units(self._registry, inst)
            return BookEvent(Kind.QUOTE, inst, source, qty, price if flags & Flag.BID_VALID else None,
                             aux if flags & Flag.ASK_VALID else None, QuoteWithdrawal(side), None, ts_send, units)
        return BookEvent(Kind.BOOK_STATUS, inst, 0, 0, None, None, None, BookStatus(aux), ts_send)
