"""Bybit v5 public order-book handler: ``orderbook.N.<symbol>`` snapshot + delta.

Messages (the live WebSocket and Bybit's order-book history downloads use the same objects):

* ``{"topic": "orderbook.N.SYM", "type": "snapshot", "ts": ms, "data": {"s", "b", "a", "u",
  "seq"}, "cts": ms}`` -> ``BOOK_CLEAR`` then every level as ``BOOK_LEVEL|SNAPSHOT``;
* ``"type": "delta"`` -> ``BOOK_LEVEL`` records (size ``"0"`` deletes). Levels are
  ``[price, size]`` decimal strings, bids then asks as sent.
* ``{"op": ...}`` / ``{"success": ...}`` objects (subscribe acks, pong) are counted in
  ``stats.control`` and yield no records.

Every record carries ``seq = u`` and ``ts_event = ts``; ``data.s`` must name the topic's symbol.

Sync, per Bybit's documentation: a snapshot always resets the book (Bybit also sends one with
``u = 1`` after a service restart). Each delta must continue the book: ``u == previous u + 1``.
A delta that does not (or any delta before the first snapshot) is not applied: on a gap one
``BOOK_STALE`` (``aux`` = ``SEQUENCE_GAP``, ``seq`` = the delta's ``u``) is emitted and the book
waits for a snapshot (Bybit sends one on resubscribe); deltas meanwhile are counted in
``stats.dropped_while_stale``. Bybit itself deletes the levels that leave the top N, so no
truncation is needed (the recorded 500-level book stays at exactly 500 levels a side).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final


from rfqcore._decode import InstrumentCodec, or_flags, put_record
from rfqcore.errors import MalformedMessage, UnsupportedMessage
from rfqcore.handlers.base import SizeBookHandler, load_json, ms_to_ns
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, Side, StaleReason

__all__ = ["BybitHandler", "BYBIT_VENUES"]

BYBIT_VENUES: Final = ("bybit-linear",)
_LEVEL: Final = int(Kind.BOOK_LEVEL)
_END: Final = int(Flag.END)
_SNAP: Final = int(Flag.SNAPSHOT)
_BID: Final = int(Side.BID)
_ASK: Final = int(Side.ASK)
_NONE: Final = int(Side.NONE)


class _BybitBook:
    __slots__ = ("live", "u", "bids", "asks", "lost_sync")

    def __init__(self) -> None:
        self.live = False
        self.u: int | None = None
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.lost_sync = False


class BybitHandler(SizeBookHandler[_BybitBook]):
    """Decoder and ``u``-continuity book keeper for Bybit ``orderbook.N`` topics (module doc).

    A book is live (``is_live``) once a snapshot is applied and every delta since continued it.
    """

    def __init__(self, registry: Registry, symbols: Iterable[str] | None = None, source: int = 0,
                 capacity: int = 4096, venue: str = "bybit-linear") -> None:
        if venue not in BYBIT_VENUES:
            raise ValueError(f"venue must be one of {BYBIT_VENUES}, got {venue!r}")
        super().__init__(registry, venue, symbols, source, capacity, _BybitBook)

    def last_update_id(self, symbol: str) -> int | None:
        """``u`` of the last message applied to ``symbol``'s book (None: awaiting a snapshot)."""
        return self._books[symbol].u

    def _on_message(self, ts_recv_ns: int, raw: bytes | str) -> int:
        msg = load_json(raw, "bybit")
        if type(msg) is not dict:
            raise MalformedMessage("bybit: message must be a JSON object", value=msg)
        if "topic" not in msg and ("op" in msg or "success" in msg):
            self.stats.control += 1
            return 0
        topic = msg.get("topic")
        if type(topic) is not str:
            raise MalformedMessage("bybit: 'topic' string required", field="topic", value=topic)
        parts = topic.split(".")
        if len(parts) != 3 or parts[0] != "orderbook":
            raise UnsupportedMessage("bybit: unsupported topic (only orderbook.N.SYMBOL)",
                                     field="topic", value=topic)
        if not parts[1].isascii() or not parts[1].isdigit():
            raise MalformedMessage("bybit: topic depth must be an integer", field="topic",
                                   value=topic)
        codec = self.codec(parts[2])
        return self._book_msg(ts_recv_ns, msg, codec)

    def _book_msg(self, ts: int, msg: dict[str, Any], codec: InstrumentCodec) -> int:
        name = codec.name
        kind = msg.get("type")
        if kind not in ("snapshot", "delta"):
            raise MalformedMessage("bybit: type must be 'snapshot' or 'delta'", field="type",
                                   value=kind, instrument=name)
        data = msg.get("data")
        if type(data) is not dict:
            raise MalformedMessage("bybit: 'data' object required", field="data", value=data,
                                   instrument=name)
        sym = name.partition(":")[2]
        if data.get("s") != sym:
            raise MalformedMessage("bybit: data.s does not match the topic's symbol",
                                   field="data.s", value=data.get("s"), instrument=name)
        u = data.get("u")
        if type(u) is not int or u < 1:
            raise MalformedMessage("bybit: update id u must be a positive integer", field="u",
                                   value=u, instrument=name)
        seq = data.get("seq")
        if seq is not None and (type(seq) is not int or seq < 0):
            raise MalformedMessage("bybit: seq must be a non-negative integer", field="seq",
                                   value=seq, instrument=name)
        te = ms_to_ns(msg.get("ts"), "ts", name)
        bids = data.get("b")
        asks = data.get("a")
        if type(bids) is not list or type(asks) is not list:
            raise MalformedMessage("bybit: b/a must be lists", field="b/a", instrument=name)
        snapshot = kind == "snapshot"
        first = 1 if snapshot else 0
        flags = _SNAP if snapshot else 0
        out = self.reserve(first + len(bids) + len(asks) + 1)
        src = self.source
        nb = codec.decode_levels(bids, _BID, out, first, _LEVEL, flags, src, u, te, ts, 0)
        na = codec.decode_levels(asks, _ASK, out, first + nb, _LEVEL, flags, src, u, te, ts, 0)
        n = first + nb + na
        book = self._books[sym]
        # -- every value validated; now decide and commit --
        if not snapshot:
            if not book.live:
                self.stats.dropped_while_stale += 1
                return 0
            if book.u is None or u != book.u + 1:  # (a live book always has its u)
                put_record(out, 0, int(Kind.BOOK_STALE), codec.instrument, _NONE, _END, src, u,
                           te, ts, 0, 0, int(StaleReason.SEQUENCE_GAP))
                book.live, book.lost_sync, book.u = False, True, None
                book.bids, book.asks = {}, {}
                self.stats.gaps += 1
                return 1
        if snapshot:
            put_record(out, 0, int(Kind.BOOK_CLEAR), codec.instrument, _NONE, 0, src, u, te, ts,
                       0, 0, 0)
            book.bids, book.asks = {}, {}
            self.stats.snapshots += 1
            if book.lost_sync:
                self.stats.resyncs += 1
                book.lost_sync = False
        prices = out["price"][first:n].tolist()
        qtys = out["qty"][first:n].tolist()
        for side_map, lo, hi in ((book.bids, 0, nb), (book.asks, nb, nb + na)):
            for px, q in zip(prices[lo:hi], qtys[lo:hi]):
                if q:
                    side_map[px] = q
                else:
                    side_map.pop(px, None)
        book.u, book.live = u, True
        if n == 0:  # a delta with no levels still moves u and ends a message
            put_record(out, 0, int(Kind.HEARTBEAT), codec.instrument, _NONE, _END, src, u, te, ts,
                       0, 0, 0)
            return 1
        or_flags(out, n - 1, _END)
        return n
