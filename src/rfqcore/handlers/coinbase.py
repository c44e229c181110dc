"""Coinbase Exchange WebSocket feed handler: ``level2`` (snapshot + l2update) and ``matches``.

Messages (``product_id`` is the registry symbol, e.g. ``SKL-USD``):

* ``{"type": "snapshot", "product_id", "bids": [[px, size]], "asks": [...]}`` -> ``BOOK_CLEAR``
  then every level as ``BOOK_LEVEL|SNAPSHOT``;
* ``{"type": "l2update", "product_id", "changes": [[side, px, size]], "time"}`` -> one
  ``BOOK_LEVEL`` per change (``side`` ``buy`` = bid, ``sell`` = ask; size ``"0"`` deletes;
  bids first, then asks, each in message order). ``ts_event`` = ``time`` (ISO-8601, converted
  to ns exactly from its digits);
* ``match`` / ``last_match`` -> one ``TRADE``: ``seq`` = ``trade_id``, ``side`` = the taker's
  side (Coinbase's ``side`` is the maker order's side, so ``sell`` is a taker buy);
* ``subscriptions`` and ``heartbeat`` are counted in ``stats.control``; ``ticker`` is refused
  as ``UnsupportedMessage`` (it carries no sizes at the best bid/ask: the book is level2's), and
  so is a venue ``error`` (its text in the reject).

Sync. Coinbase's level2 channel carries **no sequence numbers** (the recorded capture has none),
so a lost message cannot be seen directly; the handler infers one from what a level2 book
guarantees, and treats each as a gap: ``BOOK_STALE`` (``aux`` = ``SEQUENCE_GAP``), nothing of
the message applied, the book waits for a new snapshot (Coinbase sends one on resubscribe) and
updates meanwhile are counted in ``stats.dropped_while_stale``. The rules:

* an update that deletes a price the book does not hold (Coinbase sends a level's new total
  size, so a delete of an unknown level means its add was lost);
* an update that leaves the book crossed (best bid >= best ask: one venue's book never is);
* an update whose ``time`` is older than the previous update's (out of order);
* where a level2 message does carry an integer ``sequence`` (Coinbase's sequenced feeds), an
  update whose sequence is not above the previous one (a repeat or a step back). A jump is not
  a gap there: a product's sequence also counts events level2 does not show.

Updates before the first snapshot are counted in ``stats.dropped_while_stale``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from typing import Any, Final


from rfqcore._decode import InstrumentCodec, or_flags, put_record
from rfqcore.errors import MalformedMessage, UnsupportedMessage
from rfqcore.handlers.base import SizeBookHandler, load_json
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, Side, StaleReason

__all__ = ["CoinbaseHandler", "iso_to_ns"]

_LEVEL: Final = int(Kind.BOOK_LEVEL)
_END: Final = int(Flag.END)
_SNAP: Final = int(Flag.SNAPSHOT)
_BID: Final = int(Side.BID)
_ASK: Final = int(Side.ASK)
_NONE: Final = int(Side.NONE)
_ISO_RE: Final = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z$")
_CONTROL: Final = frozenset({"subscriptions", "heartbeat"})


def iso_to_ns(value: object, field: str = "time", instrument: str | None = None) -> int:
    """Coinbase's ``2021-04-17T16:43:37.075687Z`` (UTC) -> ns since the epoch, exactly."""
    m = _ISO_RE.match(value) if type(value) is str else None
    if m is None:
        raise MalformedMessage("coinbase: time must be ISO-8601 UTC 'YYYY-MM-DDTHH:MM:SS[.f]Z'",
                               field=field, value=value, instrument=instrument)
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and h < 24 and mi < 60
            and s < 60):
        raise MalformedMessage("coinbase: time is not a valid date/time", field=field,
                               value=value, instrument=instrument)
    frac = (m.group(7) or "").ljust(9, "0")
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1_000_000_000 + int(frac)


class _CoinbaseBook:
    __slots__ = ("live", "bids", "asks", "lost_sync", "time_ns", "sequence", "best_bid",
                 "best_ask")

    def __init__(self) -> None:
        self.live = False
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid = 0         # 0: side empty (prices are > 0)
        self.best_ask = 0
        self.lost_sync = False
        self.time_ns = 0
        self.sequence: int | None = None


class CoinbaseHandler(SizeBookHandler[_CoinbaseBook]):
    """Decoder and consistency-checked book keeper for Coinbase level2 + matches (module doc).

    A book is live (``is_live``) once a snapshot is applied and no update since was inconsistent
    with the book.
    """

    def __init__(self, registry: Registry, symbols: Iterable[str] | None = None, source: int = 0,
                 capacity: int = 4096, venue: str = "coinbase") -> None:
        super().__init__(registry, venue, symbols, source, capacity, _CoinbaseBook)

    def _on_message(self, ts_recv_ns: int, raw: bytes | str) -> int:
        msg = load_json(raw, "coinbase")
        if type(msg) is not dict:
            raise MalformedMessage("coinbase: message must be a JSON object", value=msg)
        kind = msg.get("type")
        if kind in _CONTROL:
            self.stats.control += 1
            return 0
        if kind == "error":
            raise UnsupportedMessage(f"coinbase: venue error: {msg.get('message')!r} "
                                     f"({msg.get('reason')!r})", field="type", value=kind)
        if kind not in ("snapshot", "l2update", "match", "last_match", "ticker"):
            raise UnsupportedMessage("coinbase: unsupported message type", field="type",
                                     value=kind)
        codec = self.codec(msg.get("product_id"))
        if kind == "ticker":
            raise UnsupportedMessage("coinbase: ticker has no best bid/ask sizes; the book "
                                     "comes from level2", field="type", value=kind,
                                     instrument=codec.name)
        if kind in ("match", "last_match"):
            return self._match(ts_recv_ns, msg, codec)
        return self._level2(ts_recv_ns, msg, kind == "snapshot", codec)

    def _match(self, ts: int, msg: dict[str, Any], codec: InstrumentCodec) -> int:
        tid = msg.get("trade_id")
        if type(tid) is not int or tid < 0:
            raise MalformedMessage("coinbase: trade_id must be a non-negative integer",
                                   field="trade_id", value=tid, instrument=codec.name)
        side = msg.get("side")
        if side not in ("buy", "sell"):
            raise MalformedMessage("coinbase: side must be 'buy' or 'sell'", field="side",
                                   value=side, instrument=codec.name)
        te = iso_to_ns(msg.get("time"), "time", codec.name)
        # Coinbase's side is the maker's: a resting sell was hit by a taker buy
        codec.put(self.out, 0, int(Kind.TRADE), _BID if side == "sell" else _ASK, _END,
                  self.source, tid, te, ts, msg.get("price"), msg.get("size"))
        return 1

    def _level2(self, ts: int, msg: dict[str, Any], snapshot: bool, codec: InstrumentCodec) -> int:
        name = codec.name
        seq = msg.get("sequence")
        if seq is not None and (type(seq) is not int or seq < 0):
            raise MalformedMessage("coinbase: sequence must be a non-negative integer",
                                   field="sequence", value=seq, instrument=name)
        if snapshot:
            bids, asks = msg.get("bids"), msg.get("asks")
            if type(bids) is not list or type(asks) is not list:
                raise MalformedMessage("coinbase: snapshot bids/asks must be lists",
                                       field="bids/asks", instrument=name)
            t = msg.get("time")
            te = 0 if t is None else iso_to_ns(t, "time", name)
        else:
            changes = msg.get("changes")
            if type(changes) is not list or not changes:
                raise MalformedMessage("coinbase: l2update needs a non-empty 'changes' list",
                                       field="changes", value=changes, instrument=name)
            te = iso_to_ns(msg.get("time"), "time", name)
            bids, asks = [], []
            for i, ch in enumerate(changes):
                if type(ch) is not list or len(ch) != 3 or ch[0] not in ("buy", "sell"):
                    raise MalformedMessage("coinbase: change must be ['buy'|'sell', price, size]",
                                           field=f"changes[{i}]", value=ch, instrument=name)
                (bids if ch[0] == "buy" else asks).append(ch[1:])
        first = 1 if snapshot else 0
        flags = _SNAP if snapshot else 0
        out = self.reserve(first + len(bids) + len(asks))
        src = self.source
        useq = 0 if seq is None else seq
        nb = codec.decode_levels(bids, _BID, out, first, _LEVEL, flags, src, useq, te, ts, 0)
        na = codec.decode_levels(asks, _ASK, out, first + nb, _LEVEL, flags, src, useq, te, ts, 0)
        n = first + nb + na
        book = self._books[name.partition(":")[2]]
        # -- every value validated; now decide and commit --
        prices = out["price"][first:n].tolist()
        qtys = out["qty"][first:n].tolist()
        if snapshot:
            new_bids: dict[int, int] = {}
            new_asks: dict[int, int] = {}
        else:
            if not book.live:
                self.stats.dropped_while_stale += 1
                return 0
            # in place: an update is either applied whole or the book is dropped (stale) whole
            new_bids, new_asks = book.bids, book.asks
        lost = False
        best_bid, best_ask = (0, 0) if snapshot else (book.best_bid, book.best_ask)
        for px, q in zip(prices[:nb], qtys[:nb]):
            if q:
                new_bids[px] = q
                best_bid = max(best_bid, px)
            elif new_bids.pop(px, None) is None and not snapshot:
                lost = True  # a delete of a level the book does not hold
            elif px == best_bid:
                best_bid = -1  # recompute below
        for px, q in zip(prices[nb:], qtys[nb:]):
            if q:
                new_asks[px] = q
                best_ask = px if best_ask <= 0 else min(best_ask, px)
            elif new_asks.pop(px, None) is None and not snapshot:
                lost = True
            elif px == best_ask:
                best_ask = -1
        if best_bid < 0:
            best_bid = max(new_bids, default=0)
        if best_ask < 0:
            best_ask = min(new_asks, default=0)
        if not snapshot:
            lost = (lost or te < book.time_ns
                    or (seq is not None and book.sequence is not None and seq <= book.sequence)
                    or 0 < best_ask <= best_bid)
        if lost:
            put_record(out, 0, int(Kind.BOOK_STALE), codec.instrument, _NONE, _END, src, useq, te,
                       ts, 0, 0, int(StaleReason.SEQUENCE_GAP))
            book.live, book.lost_sync = False, True
            book.bids, book.asks, book.sequence, book.time_ns = {}, {}, None, 0
            book.best_bid = book.best_ask = 0
            self.stats.gaps += 1
            return 1
        if snapshot:
            put_record(out, 0, int(Kind.BOOK_CLEAR), codec.instrument, _NONE, 0, src, useq, te, ts,
                       0, 0, 0)
            self.stats.snapshots += 1
            if book.lost_sync:
                self.stats.resyncs += 1
                book.lost_sync = False
        book.bids, book.asks, book.live = new_bids, new_asks, True
        book.best_bid, book.best_ask = best_bid, best_ask
        book.time_ns = max(book.time_ns, te) if not snapshot else te
        if seq is not None:
            book.sequence = seq
        or_flags(out, n - 1, _END)
        return n
