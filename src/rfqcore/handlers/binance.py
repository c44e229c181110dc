"""Binance spot / USD-M / COIN-M market-data handler (combined-stream websocket + REST snapshot).

Streams decoded (combined-stream envelope ``{"stream": "<sym>@<type>", "data": {...}}``):

* ``<sym>@depth[@100ms|@0ms]`` -> ``BOOK_LEVEL`` records, ``seq = u``, ``aux = U``,
  ``ts_event = E``; a diff without levels yields one ``HEARTBEAT`` (so it still ends with END);
* ``<sym>@trade`` -> one ``TRADE``: ``seq = t``, ``side`` = aggressor (``m`` true -> sell),
  ``ts_event = T``;
* ``<sym>@bookTicker`` -> two ``BBO`` records (bid then ask), ``seq = u``, ``ts_event = E``
  when present (futures) else 0.

A line without ``stream`` that has ``lastUpdateId`` is a REST depth snapshot: it yields
``BOOK_CLEAR`` (``seq = lastUpdateId``) then every level as ``BOOK_LEVEL|SNAPSHOT``. Spot and
USD-M snapshots carry no symbol: they belong to the handler's only symbol (construct one
handler per symbol, or call :meth:`BinanceHandler.on_snapshot` with ``symbol=``).

Book synchronisation is Binance's documented procedure, per symbol:

1. *awaiting snapshot*: diffs are validated and buffered (nothing emitted);
2. on the snapshot, buffered and later diffs older than it are dropped (counted): spot
   ``u <= lastUpdateId``, futures ``u < lastUpdateId`` (the futures docs keep the diff ending
   exactly at the snapshot id; USD-M ETHUSDT of 2024-08-08 needs that). The first applied diff
   must bracket the snapshot id: spot ``U <= id + 1 <= u``, futures ``U <= id <= u``;
3. *live*: each diff must continue the previous one: spot ``U == prev_u + 1``, futures
   ``pu == prev_u``.

Buffered diffs released by a snapshot are emitted after it with ``ts_recv`` restamped to the
snapshot's receive time, so ``ts_recv`` never goes backwards within a handler's output.

Any violation emits one ``BOOK_STALE`` (``aux`` = :class:`~rfqcore.records.StaleReason`,
``seq`` = the offending ``u``), the offending diff is buffered and the symbol goes back to
step 1 until the next snapshot (:meth:`BinanceHandler.needs_snapshot` lists such symbols).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from enum import IntEnum
from typing import Any, Callable, Final

import orjson

from rfqcore._decode import InstrumentCodec, copy_records, or_flags, put_record
from rfqcore.errors import DecodeError, MalformedMessage, UnknownInstrument, UnsupportedMessage
from rfqcore.handlers.base import NS_PER_MS, Handler, RecordArray
from rfqcore.instruments import Registry
from rfqcore.records import Flag, Kind, Side, StaleReason

__all__ = ["BinanceHandler", "SyncState", "BINANCE_VENUES"]

BINANCE_VENUES: Final = ("binance-spot", "binance-usdm", "binance-coinm")

_LEVEL: Final = int(Kind.BOOK_LEVEL)
_BBO: Final = int(Kind.BBO)
_TRADE: Final = int(Kind.TRADE)
_END: Final = int(Flag.END)
_SNAP: Final = int(Flag.SNAPSHOT)
_BID: Final = int(Side.BID)
_ASK: Final = int(Side.ASK)
_NONE: Final = int(Side.NONE)
_APPLY: Final = 0
_DROP: Final = -1


class SyncState(IntEnum):
    """Per-symbol book synchronisation state."""

    AWAITING_SNAPSHOT = 0  # buffering diffs
    SYNCING = 1            # snapshot applied, waiting for the diff that brackets its id
    LIVE = 2


#: one stream kind's step: (ts, message data, codec, book sync) -> records written
_Step = Callable[[int, dict[str, Any], InstrumentCodec, "_BookSync"], int]
_Route = tuple[_Step, InstrumentCodec, "_BookSync", str]


class _Buffered:
    __slots__ = ("records", "first", "last", "prev")

    def __init__(self, records: RecordArray, first: int, last: int, prev: int | None) -> None:
        self.records = records
        self.first = first   # U
        self.last = last     # u
        self.prev = prev     # pu (futures)


class _BookSync:
    __slots__ = ("state", "snapshot_id", "prev_u", "buffer", "buffered_records", "lost_sync")

    def __init__(self, max_buffered: int) -> None:
        self.state = SyncState.AWAITING_SNAPSHOT
        self.snapshot_id = 0
        self.prev_u = 0
        self.buffer: deque[_Buffered] = deque()
        self.buffered_records = 0
        self.lost_sync = False


def _int_field(data: dict[str, Any], key: str, instrument: str) -> int:
    value = data.get(key)
    if type(value) is not int or value < 0:
        raise MalformedMessage("missing or non-integer field", field=key, value=value,
                               instrument=instrument)
    return value


def _list_field(data: dict[str, Any], key: str, instrument: str) -> list[Any]:
    value = data.get(key)
    if type(value) is not list:
        raise MalformedMessage("missing or non-list field", field=key, value=value,
                               instrument=instrument)
    return value


class BinanceHandler(Handler):
    """Decoder and book synchroniser for one Binance market (see the module doc).

    ``venue`` is ``binance-spot``, ``binance-usdm`` or ``binance-coinm``. ``max_buffered`` caps
    the diffs held while awaiting a snapshot (the oldest are discarded and counted in
    ``stats.buffer_overflows``; the bracket check then decides whether the snapshot fits).
    """

    def __init__(self, registry: Registry, venue: str, symbols: Iterable[str] | None = None,
                 source: int = 0, capacity: int = 4096, max_buffered: int = 10_000) -> None:
        if venue not in BINANCE_VENUES:
            raise ValueError(f"venue must be one of {BINANCE_VENUES}, got {venue!r}")
        super().__init__(registry, venue, symbols, source, capacity)
        self.spot = venue == "binance-spot"
        self.max_buffered = max_buffered
        self._sync: dict[str, _BookSync] = {s: _BookSync(max_buffered) for s in self.codecs}
        self._routes: dict[str, _Route] = {}

    # -- public --------------------------------------------------------------------------

    def state(self, symbol: str) -> SyncState:
        """Synchronisation state of ``symbol``'s book."""
        return self._sync[symbol].state

    def needs_snapshot(self) -> list[str]:
        return [s for s, st in self._sync.items() if st.state == SyncState.AWAITING_SNAPSHOT]

    def on_snapshot(self, ts_recv_ns: int, snapshot: bytes | str | dict[str, Any],
                    symbol: str | None = None) -> int:
        """Apply a REST depth snapshot (raw JSON or parsed dict) to ``symbol``'s book.

        Emits ``BOOK_CLEAR`` + the snapshot levels, then replays the buffered diffs that follow
        it. Same error/state contract as :meth:`on_message`.
        """
        try:
            msg = snapshot if isinstance(snapshot, dict) else self._loads(snapshot)
            if type(msg) is not dict:
                raise MalformedMessage(f"{self.venue}: snapshot must be a JSON object", value=msg)
            n = self._snapshot(ts_recv_ns, msg, symbol)
        except DecodeError:
            self.stats.rejects += 1
            raise
        self.stats.messages += 1
        self.stats.records += n
        return n

    # -- dispatch ------------------------------------------------------------------------

    def _loads(self, raw: bytes | str) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MalformedMessage(f"{self.venue}: invalid JSON ({exc})", value=raw) from None

    def _on_message(self, ts_recv_ns: int, raw: bytes | str) -> int:
        msg = self._loads(raw)
        if type(msg) is not dict:
            raise MalformedMessage(f"{self.venue}: message must be a JSON object", value=msg)
        stream = msg.get("stream")
        if stream is None:
            if "lastUpdateId" in msg:
                return self._snapshot(ts_recv_ns, msg, None)
            raise MalformedMessage(f"{self.venue}: no 'stream' key and not a depth snapshot",
                                   value=raw)
        data = msg.get("data")
        if type(data) is not dict:
            raise MalformedMessage("'data' must be an object", field="data", value=data,
                                   instrument=f"{self.venue}:{stream}")
        route = self._routes.get(stream)
        if route is None:
            route = self._route(stream)
        fn, codec, sync, symbol = route
        if data.get("s") != symbol:
            raise MalformedMessage(f"symbol does not match stream {stream!r}", field="s",
                                   value=data.get("s"), instrument=codec.name)
        return fn(ts_recv_ns, data, codec, sync)

    def _route(self, stream: object) -> _Route:
        if type(stream) is not str or "@" not in stream:
            raise MalformedMessage(f"{self.venue}: bad stream name", field="stream", value=stream)
        name, _, kind = stream.partition("@")
        symbol = name.upper()
        if symbol not in self.codecs:
            raise UnknownInstrument("symbol not handled", field="stream", value=stream,
                                    instrument=f"{self.venue}:{symbol}")
        fn: _Step
        if kind == "depth" or kind.startswith("depth@"):
            fn = self._depth
        elif kind == "trade":
            fn = self._trade
        elif kind == "bookTicker":
            fn = self._book_ticker
        else:
            raise UnsupportedMessage(f"{self.venue}: unsupported stream type {kind!r}",
                                     field="stream", value=stream, instrument=f"{self.venue}:{symbol}")
        route = (fn, self.codecs[symbol], self._sync[symbol], symbol)
        self._routes[stream] = route
        return route

    # -- stateless streams ---------------------------------------------------------------

    def _book_ticker(self, ts: int, data: dict[str, Any], codec: InstrumentCodec,
                     sync: _BookSync) -> int:
        u = data.get("u")
        if type(u) is not int:
            raise MalformedMessage("missing or non-integer field", field="u", value=u,
                                   instrument=codec.name)
        e = data.get("E")
        te = e * NS_PER_MS if type(e) is int else 0
        out = self.out
        codec.put(out, 0, _BBO, _BID, 0, self.source, u, te, ts, data.get("b"), data.get("B"))
        codec.put(out, 1, _BBO, _ASK, _END, self.source, u, te, ts, data.get("a"), data.get("A"))
        return 2

    def _trade(self, ts: int, data: dict[str, Any], codec: InstrumentCodec,
               sync: _BookSync) -> int:
        t = data.get("t")
        tt = data.get("T")
        m = data.get("m")
        if type(t) is not int or t < 0:
            raise MalformedMessage("missing or non-integer trade id", field="t", value=t,
                                   instrument=codec.name)
        if type(tt) is not int or tt < 0:
            raise MalformedMessage("missing or non-integer trade time", field="T", value=tt,
                                   instrument=codec.name)
        if type(m) is not bool:
            raise MalformedMessage("missing or non-boolean maker flag", field="m", value=m,
                                   instrument=codec.name)
        codec.put(self.out, 0, _TRADE, _ASK if m else _BID, _END, self.source, t,
                  tt * NS_PER_MS, ts, data.get("p"), data.get("q"))
        return 1

    # -- depth ---------------------------------------------------------------------------

    def _decode_diff(self, ts: int, data: dict[str, Any], codec: InstrumentCodec,
                     out: RecordArray, at: int) -> tuple[int, int, int, int | None]:
        """Decode one diff into ``out[at:]``; returns (records, U, u, pu). No state change."""
        name = codec.name
        first = _int_field(data, "U", name)
        last = _int_field(data, "u", name)
        prev = None if self.spot else _int_field(data, "pu", name)
        if first > last:
            raise MalformedMessage(f"first update id U={first} is after final id u={last}",
                                   field="U", value=first, instrument=name)
        te = _int_field(data, "E", name) * NS_PER_MS
        bids = _list_field(data, "b", name)
        asks = _list_field(data, "a", name)
        if at + len(bids) + len(asks) + 1 > len(out):
            out = self.reserve(at + len(bids) + len(asks) + 1)
        src = self.source
        n = codec.decode_levels(bids, _BID, out, at, _LEVEL, 0, src, last, te, ts, first)
        n += codec.decode_levels(asks, _ASK, out, at + n, _LEVEL, 0, src, last, te, ts, first)
        if n == 0:
            put_record(out, at, int(Kind.HEARTBEAT), codec.instrument, _NONE, _END, src, last, te,
                       ts, 0, 0, first)
            n = 1
        else:
            or_flags(out, at + n - 1, _END)
        return n, first, last, prev

    def _check(self, st: _BookSync, first: int, last: int, prev: int | None) -> int:
        """_APPLY, _DROP or the StaleReason of applying diff (U, u, pu) in state SYNCING/LIVE."""
        if st.state == SyncState.SYNCING:
            sid = st.snapshot_id
            if self.spot:
                if last <= sid:
                    return _DROP
                ok = first <= sid + 1 <= last
            else:
                if last < sid:
                    return _DROP
                ok = first <= sid <= last
            return _APPLY if ok else int(StaleReason.SNAPSHOT_MISMATCH)
        ok = first == st.prev_u + 1 if self.spot else prev == st.prev_u
        return _APPLY if ok else int(StaleReason.SEQUENCE_GAP)

    def _buffer(self, st: _BookSync, item: _Buffered) -> None:
        if len(st.buffer) >= self.max_buffered:
            old = st.buffer.popleft()
            st.buffered_records -= len(old.records)
            self.stats.buffer_overflows += 1
        st.buffer.append(item)
        st.buffered_records += len(item.records)

    def _lose_sync(self, st: _BookSync, item: _Buffered, reason: int, codec: InstrumentCodec,
                   out: RecordArray, at: int) -> int:
        """Emit BOOK_STALE at ``out[at]``, buffer ``item``, go back to awaiting a snapshot."""
        rec = item.records[-1]
        put_record(out, at, int(Kind.BOOK_STALE), codec.instrument, _NONE, _END, self.source,
                   item.last, int(rec["ts_event"]), int(rec["ts_recv"]), 0, 0, reason)
        st.state = SyncState.AWAITING_SNAPSHOT
        st.lost_sync = True
        self.stats.gaps += 1
        self._buffer(st, item)
        self.stats.buffered += 1
        return 1

    def _depth(self, ts: int, data: dict[str, Any], codec: InstrumentCodec,
               st: _BookSync) -> int:
        out = self.out
        n, first, last, prev = self._decode_diff(ts, data, codec, out, 0)
        out = self.out  # may have grown
        # -- validated; commit below --
        if st.state == SyncState.AWAITING_SNAPSHOT:
            self._buffer(st, _Buffered(out[:n].copy(), first, last, prev))
            self.stats.buffered += 1
            return 0
        action = self._check(st, first, last, prev)
        if action == _APPLY:
            st.state = SyncState.LIVE
            st.prev_u = last
            return n
        if action == _DROP:
            self.stats.dropped_before_snapshot += 1
            return 0
        return self._lose_sync(st, _Buffered(out[:n].copy(), first, last, prev), action, codec,
                               out, 0)

    def _snapshot(self, ts: int, msg: dict[str, Any], symbol: str | None) -> int:
        if symbol is None:
            symbol = msg.get("symbol")
            if symbol is None:
                if len(self.codecs) != 1:
                    raise MalformedMessage(f"{self.venue}: snapshot has no symbol and this handler "
                                           f"decodes {sorted(self.codecs)}; use on_snapshot(symbol=)",
                                           field="symbol")
                symbol = next(iter(self.codecs))
        codec = self.codec(symbol)
        st = self._sync[symbol]
        name = codec.name
        sid = _int_field(msg, "lastUpdateId", name)
        e = msg.get("E")
        te = e * NS_PER_MS if type(e) is int else 0
        bids = _list_field(msg, "bids", name)
        asks = _list_field(msg, "asks", name)
        out = self.reserve(2 + len(bids) + len(asks) + st.buffered_records + len(st.buffer))
        src = self.source
        nlev = len(bids) + len(asks)
        put_record(out, 0, int(Kind.BOOK_CLEAR), codec.instrument, _NONE, 0 if nlev else _END, src,
                   sid, te, ts, 0, 0, 0)
        n = 1 + codec.decode_levels(bids, _BID, out, 1, _LEVEL, _SNAP, src, sid, te, ts, 0)
        n += codec.decode_levels(asks, _ASK, out, n, _LEVEL, _SNAP, src, sid, te, ts, 0)
        if nlev:
            or_flags(out, n - 1, _END)
        # -- validated; commit --
        self.stats.snapshots += 1
        if st.lost_sync:
            self.stats.resyncs += 1
            st.lost_sync = False
        st.state = SyncState.SYNCING
        st.snapshot_id = sid
        pending = st.buffer
        st.buffer = deque()
        st.buffered_records = 0
        for item in pending:
            if st.state == SyncState.AWAITING_SNAPSHOT:  # lost sync again inside this replay
                self._buffer(st, item)
                continue
            action = self._check(st, item.first, item.last, item.prev)
            if action == _APPLY:
                st.state = SyncState.LIVE
                st.prev_u = item.last
                k = copy_records(out, n, item.records)
                out["ts_recv"][n : n + k] = ts  # released now: keep the core clock monotonic
                n += k
            elif action == _DROP:
                self.stats.dropped_before_snapshot += 1
            else:
                n += self._lose_sync(st, item, action, codec, out, n)
                self.stats.buffered -= 1  # re-buffered, not newly buffered
        return n
