"""A stand-in for the core's RFQ workflow, for gateway tests and the gateway-only benchmark.

:class:`LoopbackCore` consumes a gateway input ring and answers on a tap ring with records of
the RFQ protocol (docs/rfq-protocol.md), from fixed prices and a few rules — no books, no
risk. It lets the gateway and the client library be tested end to end (and their own cost
measured) independently of the Rust core. It is **not** the core: the rules are only what the
tests need.

- ``RFQ``: ``qty <= 0`` → ``RFQ_REJECT BAD_SIZE``; a limit the price misses →
  ``EXCEEDS_LIMIT``; else ``RFQ_QUOTE`` (one record per side, the last flagged ``END``) at
  ``ask`` / ``bid``, valid 1 s after the record's ``ts_recv``.
- ``ACCEPT``: a live quote of that client at that price and size → ``EXEC`` + ``EXEC_FEES`` +
  ``QUOTE_END filled``; otherwise ``ACCEPT_REJECT`` (``UNKNOWN_QUOTE`` / ``PRICE_MISMATCH`` /
  ``SIZE_MISMATCH`` / ``QUOTE_NOT_LIVE``).
- ``CANCEL``: ``QUOTE_END cancelled`` or ``CANCEL_REJECT``.
- ``CONTROL``: ``CONTROL_ACK`` applied (``previous`` = 0).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

from rfqcore._ring import RingConsumer, RingProducer
from rfqcore.records import RECORD_DTYPE, RECORD_STRUCT, Flag, Kind, QuoteEnd, RfqReject

__all__ = ["LoopbackCore", "run_loopback_process"]

_REC = RECORD_STRUCT  # the record as a struct, built from RECORD_DTYPE's fields
assert _REC.size == 1 << 6  # record i is read at offset i << 6
_END = int(Flag.END)


class LoopbackCore:
    """Answer RFQ-family input records with fixed-price outputs (see the module doc)."""

    def __init__(self, input_ring: str, tap_ring: str, *, ask: int = 6_000_100, bid: int = 6_000_000,
                 valid_ns: int = 1_000_000_000) -> None:
        self._in = RingConsumer(input_ring)
        self._tap = RingProducer(tap_ring)
        self.ask, self.bid, self.valid_ns = ask, bid, valid_ns
        self._buf = np.zeros(256, dtype=RECORD_DTYPE)
        self._mv = memoryview(self._buf.view(np.uint8))
        self._quotes: dict[int, tuple[int, int, int, int, int, int]] = {}  # id -> client, inst, rfq, ask, bid, qty
        self._quote_id = 0
        self._trade_id = 0
        self.consumed: list[tuple[int, ...]] = []  # every input record (for tests)
        self.keep = True
        self.paused = threading.Event()

    def _out(self, *rec: int) -> None:
        rec = rec[:11]  # ts_send is stamped by the ring producer
        while not self._tap.try_push(*rec):
            time.sleep(0)  # the gateway drains the tap; never drop

    def poll_once(self) -> int:
        if self.paused.is_set():
            return 0
        n = self._in.poll_into(self._buf)
        for i in range(n):
            r = _REC.unpack_from(self._mv, i << 6)
            if self.keep:
                self.consumed.append(r)
            self._on(*r)
        return n

    def _on(self, kind: int, inst: int, side: int, flags: int, source: int, seq: int, ts_event: int, ts_recv: int,
            price: int, qty: int, aux: int, ts_send: int) -> None:
        out = self._out
        if kind == Kind.RFQ:
            if qty <= 0:
                out(Kind.RFQ_REJECT, inst, side, _END, source, seq, 0, ts_recv, price, qty, RfqReject.BAD_SIZE, ts_send)
                return
            if price and ((side in (0, 255) and self.ask > price) or (side == 1 and self.bid < price)):
                out(Kind.RFQ_REJECT, inst, side, _END, source, seq, 0, ts_recv, price, qty, RfqReject.EXCEEDS_LIMIT,
                    ts_send)
                return
            self._quote_id += 1
            q = self._quote_id
            self._quotes[q] = (source, inst, seq, self.ask if side != 1 else 0, self.bid if side != 0 else 0, qty)
            until = ts_recv + self.valid_ns
            if side == 255:
                out(Kind.RFQ_QUOTE, inst, 0, 0, source, q, until, ts_recv, self.ask, qty, seq, ts_send)
                out(Kind.RFQ_QUOTE, inst, 1, _END, source, q, until, ts_recv, self.bid, qty, seq, ts_send)
            else:
                out(Kind.RFQ_QUOTE, inst, side, _END, source, q, until, ts_recv, self.ask if side == 0 else self.bid,
                    qty, seq, ts_send)
        elif kind == Kind.ACCEPT:
            qq = self._quotes.get(seq)
            reason: int
            if qq is None or qq[0] != source:
                reason = RfqReject.UNKNOWN_QUOTE
            elif qq[5] < 0:
                reason = RfqReject.QUOTE_NOT_LIVE
            elif price != (qq[3] if side == 0 else qq[4]) or price == 0:
                reason = RfqReject.PRICE_MISMATCH
            elif qty != qq[5]:
                reason = RfqReject.SIZE_MISMATCH
            else:
                reason = 0
            if qq is None or reason:
                out(Kind.ACCEPT_REJECT, inst, side, _END, source, seq, aux, ts_recv, price, qty, reason, ts_send)
                return
            self._trade_id += 1
            t = self._trade_id
            out(Kind.EXEC, inst, side, 0, source, t, aux, ts_recv, price, qty, seq, ts_send)
            out(Kind.EXEC_FEES, inst, side, _END, source, t, 0, ts_recv, (price * qty * 50 + 999_999) // 1_000_000,
                price * qty, qq[2], ts_send)
            out(Kind.QUOTE_END, inst, 0, _END, source, seq, qq[2], ts_recv, 0, 0, QuoteEnd.FILLED, ts_send)
            self._quotes[seq] = (*qq[:5], -1)
        elif kind == Kind.CANCEL:
            qq = self._quotes.get(seq)
            if qq is None or qq[0] != source or qq[5] < 0:
                reason = RfqReject.UNKNOWN_QUOTE if qq is None or qq[0] != source else RfqReject.QUOTE_NOT_LIVE
                out(Kind.CANCEL_REJECT, 0, 0, _END, source, seq, 0, ts_recv, 0, 0, reason, ts_send)
                return
            self._quotes[seq] = (*qq[:5], -1)
            out(Kind.QUOTE_END, qq[1], 0, _END, source, seq, qq[2], ts_recv, 0, 0, QuoteEnd.CANCELLED, ts_send)
        elif kind == Kind.CONTROL:
            out(Kind.CONTROL_ACK, inst, side, _END, source, seq, 0, ts_recv, price, qty, 0, ts_send)

    def run(self, stop: Any, idle: str = "yield") -> None:
        spin = idle == "spin"
        while not stop.is_set():
            if self.poll_once() == 0 and not spin:
                os.sched_yield()

    def close(self) -> None:
        self._in.close()
        self._tap.close()


def run_loopback_process(input_ring: str, tap_ring: str, stop: Any, cpu: int | None = None,
                         idle: str = "spin") -> None:
    """``multiprocessing`` target: a :class:`LoopbackCore` in its own process until ``stop``."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    core = LoopbackCore(input_ring, tap_ring)
    core.keep = False
    i = 0
    try:
        while True:
            if core.poll_once() == 0 and idle != "spin":
                os.sched_yield()
            i += 1
            if i & 4095 == 0 and stop.is_set():
                return
    finally:
        core.close()
