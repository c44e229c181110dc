"""OKX v5 public websocket handler: ``books`` (400 levels), ``trades``, ``tickers``.

* ``books`` ``action: snapshot`` -> ``BOOK_CLEAR`` + every level as ``BOOK_LEVEL|SNAPSHOT``;
  ``action: update`` -> ``BOOK_LEVEL`` records (size ``"0"`` deletes). Levels are
  ``[px, sz, liquidated_orders, num_orders]``; only px/sz are used. ``seq`` = ``seqId`` when OKX
  sends it, else 0 (the 2022 capture predates ``seqId``); ``ts_event`` = ``ts``.
* After every books message the CRC32 ``checksum`` is verified per OKX's documented algorithm:
  the string ``bid1px:bid1sz:ask1px:ask1sz:...`` over the top 25 levels of each side (a side
  that runs out is skipped), with px/sz exactly as OKX sent them, CRC32 as a signed 32-bit int.
  The check runs on a tentative copy of the book: on a mismatch (or a ``prevSeqId`` gap) nothing
  of the message is applied, one ``BOOK_STALE`` is emitted (``aux`` = ``StaleReason``) and the
  book awaits the next snapshot (OKX resends one on resubscribe); updates received meanwhile
  are counted in ``stats.dropped_while_stale`` (OKX has no diff/snapshot bracketing to buffer for).
* ``trades`` -> one ``TRADE`` per trade (``seq`` = ``tradeId``, ``side`` = taker side).
* ``tickers`` -> two ``BBO`` records (``seq`` = 0: OKX tickers carry no update id).
* ``{"event": ...}`` acks are counted in ``stats.control`` and yield no records.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Iterable
from typing import Any, Final


from rfqcore._decode import InstrumentCodec, or_flags, put_record
from rfqcore.errors import MalformedMessage, UnsupportedMessage
from rfqcore.handlers.base import BookHandler, load_json, ms_to_ns
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, Side, StaleReason

__all__ = ["OkxHandler", "okx_checksum", "CHECKSUM_DEPTH"]

CHECKSUM_DEPTH: Final = 25
_LEVEL: Final = int(Kind.BOOK_LEVEL)
_END: Final = int(Flag.END)
_SNAP: Final = int(Flag.SNAPSHOT)
_BID: Final = int(Side.BID)
_ASK: Final = int(Side.ASK)
_NONE: Final = int(Side.NONE)

# price (fixed point) -> (px string, sz string) as OKX sent them
_Side = dict[int, tuple[str, str]]


def okx_checksum(bids: _Side, asks: _Side, depth: int = CHECKSUM_DEPTH) -> int:
    """OKX's signed CRC32 of the top ``depth`` levels of a book held as price -> (px, sz)."""
    top_b = heapq.nlargest(depth, bids)
    top_a = heapq.nsmallest(depth, asks)
    parts: list[str] = []
    for i in range(max(len(top_b), len(top_a))):
        if i < len(top_b):
            parts.extend(bids[top_b[i]])
        if i < len(top_a):
            parts.extend(asks[top_a[i]])
    crc = zlib.crc32(":".join(parts).encode("ascii"))
    return crc - (1 << 32) if crc >= 1 << 31 else crc


class _OkxBook:
    __slots__ = ("live", "bids", "asks", "seq_id", "lost_sync")

    def __init__(self) -> None:
        self.live = False
        self.bids: _Side = {}
        self.asks: _Side = {}
        self.seq_id: int | None = None
        self.lost_sync = False


class OkxHandler(BookHandler[_OkxBook]):
    """Decoder and checksum-verified book keeper for OKX v5 public channels (module doc).

    A book is live (``is_live``) once a snapshot is applied and every checksum since has matched.
    """

    def __init__(self, registry: Registry, symbols: Iterable[str] | None = None, source: int = 0,
                 capacity: int = 4096, venue: str = "okx") -> None:
        super().__init__(registry, venue, symbols, source, capacity, _OkxBook)

    def _on_message(self, ts_recv_ns: int, raw: bytes | str) -> int:
        msg = load_json(raw, "okx")
        if type(msg) is not dict:
            raise MalformedMessage("okx: message must be a JSON object", value=msg)
        if "event" in msg:
            self.stats.control += 1
            return 0
        arg = msg.get("arg")
        data = msg.get("data")
        if type(arg) is not dict or type(data) is not list or not data:
            raise MalformedMessage("okx: 'arg' object and non-empty 'data' list required",
                                   value=raw)
        channel = arg.get("channel")
        codec = self.codec(arg.get("instId"))
        if channel == "books":
            return self._books_msg(ts_recv_ns, msg.get("action"), data, codec)
        if channel == "trades":
            return self._trades(ts_recv_ns, data, codec)
        if channel == "tickers":
            return self._tickers(ts_recv_ns, data, codec)
        raise UnsupportedMessage("okx: unsupported channel", field="arg.channel", value=channel,
                                 instrument=codec.name)

    # -- stateless channels --------------------------------------------------------------

    def _trades(self, ts: int, data: list[Any], codec: InstrumentCodec) -> int:
        out = self.reserve(len(data))
        for i, t in enumerate(data):
            if type(t) is not dict:
                raise MalformedMessage("okx: trade must be an object", field=f"data[{i}]",
                                       value=t, instrument=codec.name)
            tid = t.get("tradeId")
            if type(tid) is not str or not tid.isascii() or not tid.isdigit():
                raise MalformedMessage("okx: tradeId must be a digit string", field="tradeId",
                                       value=tid, instrument=codec.name)
            side = t.get("side")
            if side not in ("buy", "sell"):
                raise MalformedMessage("okx: side must be 'buy' or 'sell'", field="side",
                                       value=side, instrument=codec.name)
            te = ms_to_ns(t.get("ts"), "ts", codec.name)
            codec.put(out, i, int(Kind.TRADE), _BID if side == "buy" else _ASK,
                      _END if i == len(data) - 1 else 0, self.source, int(tid), te, ts,
                      t.get("px"), t.get("sz"))
        return len(data)

    def _tickers(self, ts: int, data: list[Any], codec: InstrumentCodec) -> int:
        d = data[-1]
        if type(d) is not dict:
            raise MalformedMessage("okx: ticker must be an object", field="data", value=d,
                                   instrument=codec.name)
        te = ms_to_ns(d.get("ts"), "ts", codec.name)
        out = self.out
        codec.put(out, 0, int(Kind.BBO), _BID, 0, self.source, 0, te, ts, d.get("bidPx"),
                  d.get("bidSz"))
        codec.put(out, 1, int(Kind.BBO), _ASK, _END, self.source, 0, te, ts, d.get("askPx"),
                  d.get("askSz"))
        return 2

    # -- books ---------------------------------------------------------------------------

    def _books_msg(self, ts: int, action: object, data: list[Any], codec: InstrumentCodec) -> int:
        if action not in ("snapshot", "update"):
            raise MalformedMessage("okx: books action must be 'snapshot' or 'update'",
                                   field="action", value=action, instrument=codec.name)
        d = data[0]
        if type(d) is not dict or len(data) != 1:
            raise MalformedMessage("okx: books data must hold exactly one object", field="data",
                                   value=data, instrument=codec.name)
        name = codec.name
        bids = d.get("bids")
        asks = d.get("asks")
        if type(bids) is not list or type(asks) is not list:
            raise MalformedMessage("okx: bids/asks must be lists", field="bids/asks",
                                   instrument=name)
        te = ms_to_ns(d.get("ts"), "ts", name)
        checksum = d.get("checksum")
        if checksum is not None and type(checksum) is not int:
            raise MalformedMessage("okx: checksum must be an integer", field="checksum",
                                   value=checksum, instrument=name)
        seq_id = d.get("seqId")
        prev_seq = d.get("prevSeqId")
        if seq_id is not None and type(seq_id) is not int:
            raise MalformedMessage("okx: seqId must be an integer", field="seqId", value=seq_id,
                                   instrument=name)
        seq = seq_id if seq_id is not None and seq_id >= 0 else 0
        snapshot = action == "snapshot"
        first = 1 if snapshot else 0
        flags = _SNAP if snapshot else 0
        out = self.reserve(first + len(bids) + len(asks) + 1)
        src = self.source
        if snapshot:
            put_record(out, 0, int(Kind.BOOK_CLEAR), codec.instrument, _NONE, 0, src, seq, te, ts,
                       0, 0, 0)
        nb = codec.decode_levels(bids, _BID, out, first, _LEVEL, flags, src, seq, te, ts, 0)
        na = codec.decode_levels(asks, _ASK, out, first + nb, _LEVEL, flags, src, seq, te, ts, 0)
        n = first + nb + na
        book = self._books[codec.name.partition(":")[2]]
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
        for side_map, levels, px_list in ((new_bids, bids, prices[:nb]),
                                          (new_asks, asks, prices[nb:])):
            for level, px in zip(levels, px_list):
                sz = level[1]
                if _is_zero(sz):
                    side_map.pop(px, None)
                else:
                    side_map[px] = (level[0], sz)
        reason = 0
        if (not snapshot and prev_seq is not None and book.seq_id is not None
                and prev_seq != book.seq_id):
            reason = int(StaleReason.SEQUENCE_GAP)
        elif checksum is not None and okx_checksum(new_bids, new_asks) != checksum:
            reason = int(StaleReason.CHECKSUM_MISMATCH)
            self.stats.checksum_failures += 1
        if reason:
            put_record(out, 0, int(Kind.BOOK_STALE), codec.instrument, _NONE, _END, src, seq, te,
                       ts, 0, 0, reason)
            book.live = False
            book.lost_sync = True
            book.bids, book.asks, book.seq_id = {}, {}, None
            self.stats.gaps += 1
            return 1
        if snapshot:
            self.stats.snapshots += 1
            if book.lost_sync:
                self.stats.resyncs += 1
                book.lost_sync = False
        book.bids, book.asks, book.live = new_bids, new_asks, True
        book.seq_id = seq_id
        if n == 0:  # an update with no levels (OKX sends these as keep-alives of the book)
            put_record(out, 0, int(Kind.HEARTBEAT), codec.instrument, _NONE, _END, src, seq, te,
                       ts, 0, 0, 0)
            return 1
        or_flags(out, n - 1, _END)
        return n


def _is_zero(sz: str) -> bool:
    """True for "0", "0.0", "0.000"... (already validated as a decimal by the codec)."""
    return sz.strip("0.") == ""
