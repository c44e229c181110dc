"""Kraken spot WebSocket v1 handler: ``book`` (any subscribed depth), checksum-verified.

Messages (``pair`` is the registry symbol, e.g. ``XBT/CHF``):

* ``[channelID, {"as": [...], "bs": [...]}, "book-N", pair]`` is a snapshot -> ``BOOK_CLEAR``
  then every level as ``BOOK_LEVEL|SNAPSHOT`` (asks first, as sent);
* ``[channelID, {"a": [...]}, {"b": [...], "c": "crc"}, "book-N", pair]`` (one or two level
  objects; ``c`` in the last) is an update -> ``BOOK_LEVEL`` records in message order (volume
  ``"0.00000000"`` deletes). Levels are ``[price, volume, timestamp]`` plus an optional fourth
  element ``"r"`` (a republished level), applied like any other.
* ``{"event": ...}`` objects (systemStatus, subscriptionStatus, heartbeat, pong) are counted in
  ``stats.control`` and yield no records.

Kraken sends no sequence numbers: ``seq`` is 0; ``ts_event`` is the newest level timestamp of
the message (Kraken's ``seconds.micros`` strings, converted to ns exactly from the digits).

Book rules, per Kraken's v1 book documentation:

* **Depth.** Kraken does not send deletes for levels pushed out of the subscribed depth ``N``
  (from the channel name ``book-N``): after each update the handler truncates each side to ``N``
  levels and emits a delete (``BOOK_LEVEL`` qty 0) for every level it truncates, so the core's
  book stays the venue's book.
* **Checksum.** Every update carries ``c``, the CRC32 (unsigned, as a decimal string) of the
  top 10 asks (lowest first) then the top 10 bids (highest first), each level written as its
  price then its volume with the ``.`` removed and leading zeros stripped, exactly as Kraken sent
  them. The handler keeps the strings it received and checks ``c`` (``zlib.crc32``) on a
  tentative copy of the book: on a mismatch nothing of the message is applied, one
  ``BOOK_STALE`` (``aux`` = ``CHECKSUM_MISMATCH``) is emitted and the book waits for a new
  snapshot (Kraken sends one on resubscribe); updates received meanwhile are counted in
  ``stats.dropped_while_stale``. An update without ``c`` is refused (``MalformedMessage``).
"""

from __future__ import annotations

import heapq
import re
import zlib
from collections.abc import Iterable
from typing import Any, Final


from rfqcore._decode import InstrumentCodec, or_flags, parse_fixed, put_record
from rfqcore.errors import BadDecimal, MalformedMessage, UnsupportedMessage
from rfqcore.handlers.base import BookHandler, load_json
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, Side, StaleReason

__all__ = ["KrakenHandler", "kraken_checksum", "CHECKSUM_DEPTH"]

CHECKSUM_DEPTH: Final = 10
_LEVEL: Final = int(Kind.BOOK_LEVEL)
_END: Final = int(Flag.END)
_SNAP: Final = int(Flag.SNAPSHOT)
_BID: Final = int(Side.BID)
_ASK: Final = int(Side.ASK)
_NONE: Final = int(Side.NONE)
_CHANNEL_RE: Final = re.compile(r"^book-([1-9][0-9]*)$")
_CRC_RE: Final = re.compile(r"^[0-9]{1,10}$")

# price (fixed point) -> (price string, volume string) as Kraken sent them
_Side = dict[int, tuple[str, str]]


def _token(s: str) -> str:
    return s.replace(".", "").lstrip("0")


def kraken_checksum(bids: _Side, asks: _Side, depth: int = CHECKSUM_DEPTH) -> int:
    """Kraken's unsigned CRC32 of the top ``depth`` asks then bids (book held as price -> strings)."""
    parts: list[str] = []
    for px in heapq.nsmallest(depth, asks):
        p, v = asks[px]
        parts.append(_token(p))
        parts.append(_token(v))
    for px in heapq.nlargest(depth, bids):
        p, v = bids[px]
        parts.append(_token(p))
        parts.append(_token(v))
    return zlib.crc32("".join(parts).encode("ascii"))


class _KrakenBook:
    __slots__ = ("live", "bids", "asks", "lost_sync")

    def __init__(self) -> None:
        self.live = False
        self.bids: _Side = {}
        self.asks: _Side = {}
        self.lost_sync = False


def _ts_ns(s: object, field: str, name: str) -> int:
    """Kraken ``seconds.micros`` timestamp string -> ns since the epoch, exactly."""
    if type(s) is not str:
        raise MalformedMessage("kraken: level timestamp must be a decimal string", field=field,
                               value=s, instrument=name)
    try:
        return parse_fixed(s, 9, field=field, instrument=name)
    except BadDecimal as exc:
        raise MalformedMessage(f"kraken: bad level timestamp ({exc})", field=field, value=s,
                               instrument=name) from None


class KrakenHandler(BookHandler[_KrakenBook]):
    """Decoder and checksum-verified book keeper for Kraken's v1 ``book`` channel (module doc).

    A book is live (``is_live``) once a snapshot is applied and every checksum since has matched.
    """

    def __init__(self, registry: Registry, symbols: Iterable[str] | None = None, source: int = 0,
                 capacity: int = 4096, venue: str = "kraken") -> None:
        super().__init__(registry, venue, symbols, source, capacity, _KrakenBook)

    def book(self, symbol: str) -> tuple[dict[int, str], dict[int, str]]:
        """``symbol``'s book as price (fixed point) -> volume string, bids then asks."""
        b = self._books[symbol]
        return {p: v for p, (_, v) in b.bids.items()}, {p: v for p, (_, v) in b.asks.items()}

    def _on_message(self, ts_recv_ns: int, raw: bytes | str) -> int:
        msg = load_json(raw, "kraken")
        if type(msg) is dict:
            if "event" not in msg:
                raise MalformedMessage("kraken: an object message must carry 'event'", value=raw)
            self.stats.control += 1
            return 0
        if type(msg) is not list or len(msg) < 4:
            raise MalformedMessage("kraken: expected [channelID, data..., channelName, pair]",
                                   value=raw)
        if type(msg[0]) is not int:
            raise MalformedMessage("kraken: channelID must be an integer", field="channelID",
                                   value=msg[0])
        channel = msg[-2]
        codec = self.codec(msg[-1])
        m = _CHANNEL_RE.match(channel) if type(channel) is str else None
        if m is None:
            raise UnsupportedMessage("kraken: unsupported channel (only book-N)",
                                     field="channelName", value=channel, instrument=codec.name)
        return self._book_msg(ts_recv_ns, msg[1:-2], int(m.group(1)), codec)

    def _book_msg(self, ts: int, parts: list[Any], depth: int, codec: InstrumentCodec) -> int:
        name = codec.name
        if not 1 <= len(parts) <= 2 or any(type(p) is not dict for p in parts):
            raise MalformedMessage("kraken: book data must be one or two objects", field="data",
                                   value=parts, instrument=name)
        snapshot = "as" in parts[0] or "bs" in parts[0]
        sides: list[tuple[int, Any]] = []  # (side, levels) in message order
        crc: int | None = None
        if snapshot:
            if len(parts) != 1 or set(parts[0]) - {"as", "bs"}:
                raise MalformedMessage("kraken: a snapshot is one object with 'as'/'bs' only",
                                       field="data", value=parts, instrument=name)
            sides = [(_ASK, parts[0].get("as", [])), (_BID, parts[0].get("bs", []))]
        else:
            for i, p in enumerate(parts):
                extra = set(p) - {"a", "b", "c"}
                if extra or ("c" in p and i != len(parts) - 1):
                    raise MalformedMessage("kraken: update objects hold 'a'/'b' (and 'c' in the "
                                           "last)", field="data", value=p, instrument=name)
                for key, side in (("a", _ASK), ("b", _BID)):
                    if key in p:
                        sides.append((side, p[key]))
            c = parts[-1].get("c")
            if type(c) is not str or _CRC_RE.match(c) is None or int(c) >= 1 << 32:
                raise MalformedMessage("kraken: update needs checksum 'c', a decimal u32 string",
                                       field="c", value=c, instrument=name)
            crc = int(c)
            if not sides:
                raise MalformedMessage("kraken: update without 'a' or 'b'", field="data",
                                       value=parts, instrument=name)
        first = 1 if snapshot else 0
        flags = _SNAP if snapshot else 0
        total = sum(len(lv) if type(lv) is list else 0 for _, lv in sides)
        out = self.reserve(first + total + 1)
        src = self.source
        n = first
        for side, levels in sides:
            n += codec.decode_levels(levels, side, out, n, _LEVEL, flags, src, 0, 0, ts, 0)
        # validate the parts the decoder ignores: timestamp and the republish mark
        te = 0
        for side, levels in sides:
            sname = "asks" if side == _ASK else "bids"
            for i, lv in enumerate(levels):
                if not 3 <= len(lv) <= 4 or (len(lv) == 4 and lv[3] != "r"):
                    raise MalformedMessage("kraken: level must be [price, volume, timestamp"
                                           "(, \"r\")]", field=f"{sname}[{i}]", value=lv,
                                           instrument=name)
                te = max(te, _ts_ns(lv[2], f"{sname}[{i}]", name))
        book = self._books[name.partition(":")[2]]
        # -- every value validated; now decide and commit --
        if not snapshot and not book.live:
            self.stats.dropped_while_stale += 1
            return 0
        prices = out["price"][first:n].tolist()
        if snapshot:
            new_bids: _Side = {}
            new_asks: _Side = {}
        else:
            new_bids = dict(book.bids)
            new_asks = dict(book.asks)
        k = 0
        for side, levels in sides:
            side_map = new_bids if side == _BID else new_asks
            for lv in levels:
                px = prices[k]
                k += 1
                if lv[1].strip("0.") == "":
                    side_map.pop(px, None)
                else:
                    side_map[px] = (lv[0], lv[1])
        # levels beyond the subscribed depth: Kraken sends no delete for them (module doc)
        cut_bids = heapq.nsmallest(len(new_bids) - depth, new_bids) if len(new_bids) > depth else []
        cut_asks = heapq.nlargest(len(new_asks) - depth, new_asks) if len(new_asks) > depth else []
        for px in cut_bids:
            del new_bids[px]
        for px in cut_asks:
            del new_asks[px]
        if crc is not None and kraken_checksum(new_bids, new_asks) != crc:
            put_record(out, 0, int(Kind.BOOK_STALE), codec.instrument, _NONE, _END, src, 0, te,
                       ts, 0, 0, int(StaleReason.CHECKSUM_MISMATCH))
            book.live = False
            book.lost_sync = True
            book.bids, book.asks = {}, {}
            self.stats.gaps += 1
            self.stats.checksum_failures += 1
            return 1
        out = self.reserve(n + len(cut_bids) + len(cut_asks))
        for side, cut in ((_BID, cut_bids), (_ASK, cut_asks)):
            for px in cut:
                put_record(out, n, _LEVEL, codec.instrument, side, flags, src, 0, te, ts, px, 0, 0)
                n += 1
        out["ts_event"][:n] = te
        if snapshot:
            put_record(out, 0, int(Kind.BOOK_CLEAR), codec.instrument, _NONE, 0, src, 0, te, ts,
                       0, 0, 0)
            self.stats.snapshots += 1
            if book.lost_sync:
                self.stats.resyncs += 1
                book.lost_sync = False
        book.bids, book.asks, book.live = new_bids, new_asks, True
        or_flags(out, n - 1, _END)
        return n
