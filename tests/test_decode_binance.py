"""Binance handler on the real recorded data: sync, gaps/resync, bad input, reference book."""

from __future__ import annotations

import copy
import gzip
import heapq
import os
import time
from dataclasses import astuple
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from rfqcore.errors import (
    BadDecimal, DecodeError, MalformedMessage, NegativeQuantity, OffTickPrice, PrecisionLoss,
    QuantityTooLarge, UnknownInstrument, UnsupportedMessage,
)
from rfqcore.handlers.binance import BinanceHandler, SyncState
from rfqcore.instruments import Registry
from rfqcore.records import RECORD_DTYPE, Flag, Kind, StaleReason
from rfqcore.replay import ReplayDriver, default_data_files

DATA = Path(os.environ.get("RFQCORE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
pytestmark = pytest.mark.data

STREAMS = [
    ("binance-spot", "BTCUSDT", ["spot/btcusdt_20240808.gz", "spot/btcusdt_20240809.gz"]),
    ("binance-spot", "ETHUSDT", ["spot/ethusdt_20240808.gz", "spot/ethusdt_20240809.gz"]),
    ("binance-usdm", "BTCUSDT", ["usdm_futures/btcusdt_20240808.gz"]),
    ("binance-usdm", "ETHUSDT", ["usdm_futures/ethusdt_20240808.gz"]),
    ("binance-coinm", "BTCUSD_PERP", ["coinm_futures/btcusd_perp_20240808.gz",
                                      "coinm_futures/btcusd_perp_20240809.gz"]),
    ("binance-coinm", "ETHUSD_PERP", ["coinm_futures/ethusd_perp_20240808.gz",
                                      "coinm_futures/ethusd_perp_20240809.gz"]),
]


def lines_of(files: list[str]) -> list[tuple[int, bytes]]:
    paths = [DATA / "binance" / f for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"recorded Binance data not found ({', '.join(missing)}); "
                    "expected ../shared/data beside the repo or $RFQCORE_DATA")
    out = []
    for p in paths:
        with gzip.open(p, "rb") as fh:
            for line in fh:
                ts, _, raw = line.rstrip(b"\n").partition(b" ")
                out.append((int(ts), raw))
    return out


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load()


class RefBook:
    """Pure-Python price -> qty book with lazy heaps for the best prices."""

    def __init__(self) -> None:
        self.sides: list[dict[int, int]] = [{}, {}]
        self.heaps: list[list[int]] = [[], []]  # bids stored negated

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def set(self, side: int, price: int, qty: int) -> None:
        book = self.sides[side]
        if qty == 0:
            book.pop(price, None)
        else:
            if price not in book:
                heapq.heappush(self.heaps[side], -price if side == 0 else price)
            book[price] = qty

    def best(self, side: int) -> tuple[int, int] | None:
        heap, book = self.heaps[side], self.sides[side]
        while heap:
            px = -heap[0] if side == 0 else heap[0]
            if px in book:
                return px, book[px]
            heapq.heappop(heap)
        return None


def run_stream(registry: Registry, venue: str, symbol: str,
               files: list[str]) -> tuple[BinanceHandler, np.ndarray]:
    h = BinanceHandler(registry, venue, [symbol])
    chunks = []
    for ts, raw in lines_of(files):
        n = h.on_message(ts, raw)
        if n:
            chunks.append(h.out[:n].copy())
    return h, np.concatenate(chunks)


@pytest.fixture(scope="module")
def decoded(registry: Registry) -> dict[tuple[str, str], tuple[BinanceHandler, np.ndarray]]:
    return {(v, s): run_stream(registry, v, s, f) for v, s, f in STREAMS}


@pytest.mark.parametrize(("venue", "symbol"), [(v, s) for v, s, _ in STREAMS])
def test_real_streams_sync_without_gaps(decoded: dict, venue: str, symbol: str) -> None:
    h, recs = decoded[(venue, symbol)]
    st = h.stats
    assert h.state(symbol) == SyncState.LIVE
    assert (st.gaps, st.rejects, st.resyncs, st.snapshots) == (0, 0, 0, 1)
    assert st.buffer_overflows == 0 and h.needs_snapshot() == []
    assert st.buffered >= 1 and st.dropped_before_snapshot >= 1
    kinds = recs["kind"]
    assert not (kinds == Kind.BOOK_STALE).any()
    assert (kinds == Kind.BOOK_CLEAR).sum() == 1
    assert (recs["flags"][kinds == Kind.BOOK_LEVEL] & Flag.SNAPSHOT).astype(bool).sum() == 2000
    # every message yields exactly one END (buffered diffs when they are applied), except the
    # diffs dropped as older than the snapshot
    assert (recs["flags"] & Flag.END).astype(bool).sum() == st.messages - st.dropped_before_snapshot
    trades = recs[kinds == Kind.TRADE]
    assert (np.diff(trades["seq"].astype(np.int64)) == 1).all()  # trade ids are gap-free
    assert (recs["price"][kinds != Kind.BOOK_CLEAR] > 0).all()


@pytest.mark.parametrize(("venue", "symbol"), [(v, s) for v, s, _ in STREAMS])
def test_reference_book_never_crossed_and_matches_book_ticker(decoded: dict, venue: str,
                                                              symbol: str) -> None:
    _, recs = decoded[(venue, symbol)]
    book = RefBook()
    live = False
    last_u = -1
    checked = matched = 0
    cols = [recs[c].tolist() for c in ("kind", "side", "flags", "seq", "price", "qty")]
    for kind, side, flags, seq, price, qty in zip(*cols):
        if kind == Kind.BOOK_CLEAR:
            book.clear()
            live = False
            continue
        if kind == Kind.BOOK_LEVEL:
            book.set(side, price, qty)
            if flags & Flag.END:
                live = True
                last_u = seq
                bb, ba = book.best(0), book.best(1)
                assert bb is not None and ba is not None
                assert bb[0] < ba[0], f"crossed book at u={seq}: {bb} / {ba}"
                checked += 1
        elif kind == Kind.BBO and live and seq == last_u:
            best = book.best(side)
            assert best == (price, qty), f"side {side} u={seq}: book {best} != bookTicker"
            matched += 1
    assert checked > 1000
    if venue == "binance-usdm":  # USD-M @0ms diffs end exactly at bookTicker ids often
        assert matched > 100


def depth_lines(lines: list[tuple[int, bytes]]) -> list[int]:
    return [i for i, (_, raw) in enumerate(lines) if b"@depth" in raw[:40]]


def ref_from_raw(lines: list[tuple[int, bytes]], upto: int) -> dict[str, dict[str, str]]:
    """Book (price str -> qty str) from the raw snapshot + every diff with index < upto."""
    bids: dict[str, str] = {}
    asks: dict[str, str] = {}
    sid = None
    for _, raw in lines[:upto]:
        msg = orjson.loads(raw)
        if "stream" not in msg:
            bids = {p: q for p, q in msg["bids"]}
            asks = {p: q for p, q in msg["asks"]}
            sid = msg["lastUpdateId"]
            continue
        d = msg["data"]
        if "@depth" not in msg["stream"] or sid is None or d["u"] <= sid:
            continue
        for side, key in ((bids, "b"), (asks, "a")):
            for p, q in d[key]:
                if float(q) == 0.0:  # test-only helper; the handler never uses floats
                    side.pop(p, None)
                else:
                    side[p] = q
    return {"bids": bids, "asks": asks}


def sync_state(h: BinanceHandler) -> list[Any]:
    return [(s.state, s.snapshot_id, s.prev_u, len(s.buffer), s.buffered_records)
            for s in h._sync.values()]


def test_injected_gap_goes_stale_and_resyncs(registry: Registry) -> None:
    lines = lines_of(["spot/btcusdt_20240808.gz"])[:6000]
    depth = depth_lines(lines)
    h = BinanceHandler(registry, "binance-spot", ["BTCUSDT"])
    skip = depth[60]
    for ts, raw in lines[:skip]:
        h.on_message(ts, raw)
    assert h.state("BTCUSDT") == SyncState.LIVE
    nxt = depth[61]
    for ts, raw in lines[skip + 1:nxt]:
        h.on_message(ts, raw)
    ts, raw = lines[nxt]
    assert h.on_message(ts, raw) == 1
    stale = h.out[0]
    assert stale["kind"] == Kind.BOOK_STALE and stale["aux"] == StaleReason.SEQUENCE_GAP
    assert stale["flags"] & Flag.END and stale["seq"] == orjson.loads(raw)["data"]["u"]
    assert h.state("BTCUSDT") == SyncState.AWAITING_SNAPSHOT
    assert h.needs_snapshot() == ["BTCUSDT"] and h.stats.gaps == 1
    # diffs while awaiting are buffered, trades/tickers still flow
    resume = depth[66]
    for ts, raw in lines[nxt + 1:resume]:
        n = h.on_message(ts, raw)
        if b"@depth" in raw[:40]:
            assert n == 0
    # a fresh snapshot at the u of depth[64] (built from the raw data, independent of the handler)
    snap_u = orjson.loads(lines[depth[64]][1])["data"]["u"]
    ref = ref_from_raw(lines, depth[64] + 1)
    snap = {"lastUpdateId": snap_u,
            "bids": sorted(ref["bids"].items(), key=lambda kv: -float(kv[0])),
            "asks": sorted(ref["asks"].items(), key=lambda kv: float(kv[0]))}
    n = h.on_snapshot(lines[resume][0], orjson.dumps(snap), "BTCUSDT")
    out = h.out[:n]
    assert out[0]["kind"] == Kind.BOOK_CLEAR and out[0]["seq"] == snap_u
    assert h.state("BTCUSDT") == SyncState.LIVE  # buffered depth[65] bracketed the snapshot
    assert h.stats.resyncs == 1 and h.stats.snapshots == 2
    assert h.stats.dropped_before_snapshot >= 3  # depth[61..64] older than the snapshot
    # continue the stream: no further gap, book equals the raw reference book
    book = RefBook()
    for r in out.tolist():
        if r[0] == Kind.BOOK_LEVEL:
            book.set(r[2], r[8], r[9])
    end = depth[200]
    for ts, raw in lines[resume:end]:
        n = h.on_message(ts, raw)
        for r in h.out[:n].tolist():
            if r[0] == Kind.BOOK_LEVEL:
                book.set(r[2], r[8], r[9])
    assert h.stats.gaps == 1
    ref = ref_from_raw(lines, end)
    codec = h.codecs["BTCUSDT"]
    assert {codec.price(p): codec.qty(q) for p, q in ref["bids"].items()} == book.sides[0]
    assert {codec.price(p): codec.qty(q) for p, q in ref["asks"].items()} == book.sides[1]


def test_snapshot_not_bracketing_goes_stale(registry: Registry) -> None:
    lines = lines_of(["usdm_futures/btcusdt_20240808.gz"])[:3000]
    h = BinanceHandler(registry, "binance-usdm", ["BTCUSDT"])
    depth = depth_lines(lines)
    for ts, raw in lines[: depth[3]]:
        if b"lastUpdateId" not in raw[:20]:
            h.on_message(ts, raw)
    assert h.state("BTCUSDT") == SyncState.AWAITING_SNAPSHOT
    first_u = orjson.loads(lines[depth[0]][1])["data"]["U"]
    n = h.on_snapshot(0, {"lastUpdateId": first_u - 1000, "bids": [["60000.00", "1.000"]],
                          "asks": [["60001.00", "1.000"]]}, "BTCUSDT")
    out = h.out[:n]
    assert out[-1]["kind"] == Kind.BOOK_STALE
    assert out[-1]["aux"] == StaleReason.SNAPSHOT_MISMATCH
    assert h.state("BTCUSDT") == SyncState.AWAITING_SNAPSHOT and h.stats.gaps == 1


def _mutate(raw: bytes, fn: Any) -> bytes:
    msg = orjson.loads(raw)
    fn(msg)
    return orjson.dumps(msg)


def _set_level(side: str, i: int, j: int, value: Any) -> Any:
    def fn(m: dict[str, Any]) -> None:
        m["data"][side][i][j] = value
    return fn


BAD_INPUTS: list[tuple[str, Any, type[DecodeError]]] = [
    ("truncated", lambda raw: raw[: len(raw) // 2], MalformedMessage),
    ("not json", lambda raw: b"hello", MalformedMessage),
    ("array", lambda raw: b"[1,2]", MalformedMessage),
    ("missing u", lambda raw: _mutate(raw, lambda m: m["data"].pop("u")), MalformedMessage),
    ("string u", lambda raw: _mutate(raw, lambda m: m["data"].update(u="1")), MalformedMessage),
    ("missing pu", lambda raw: _mutate(raw, lambda m: m["data"].pop("pu")), MalformedMessage),
    ("U after u", lambda raw: _mutate(raw, lambda m: m["data"].update(U=m["data"]["u"] + 1)),
     MalformedMessage),
    ("bids not list", lambda raw: _mutate(raw, lambda m: m["data"].update(b={})), MalformedMessage),
    ("short level", lambda raw: _mutate(raw, lambda m: m["data"]["a"].append(["1.0"])),
     MalformedMessage),
    ("symbol mismatch", lambda raw: _mutate(raw, lambda m: m["data"].update(s="ETHUSDT")),
     MalformedMessage),
    ("unknown symbol", lambda raw: _mutate(raw, lambda m: m.update(stream="xrpusdt@depth@0ms")),
     UnknownInstrument),
    ("unsupported", lambda raw: _mutate(raw, lambda m: m.update(stream="btcusdt@aggTrade")),
     UnsupportedMessage),
    ("off tick", lambda raw: _mutate(raw, lambda m: m["data"]["a"].append(["61800.15", "1.000"])),
     OffTickPrice),
    ("excess digits", lambda raw: _mutate(raw, lambda m: m["data"]["a"].append(["61800.101", "1"])),
     PrecisionLoss),
    ("garbage price", lambda raw: _mutate(raw, lambda m: m["data"]["a"].append(["abc", "1"])),
     BadDecimal),
    ("negative qty", lambda raw: _mutate(raw, lambda m: m["data"]["a"].append(["61800.10", "-1"])),
     NegativeQuantity),
    ("absurd qty", lambda raw: _mutate(raw, lambda m: m["data"]["a"].append(["61800.10", "1e9"])),
     BadDecimal),
    ("too large", lambda raw: _mutate(raw, lambda m: m["data"]["a"].append(["61800.10", "200000"])),
     QuantityTooLarge),
]


@pytest.mark.parametrize(("name", "corrupt", "exc"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises_and_changes_nothing(registry: Registry, name: str, corrupt: Any,
                                              exc: type[DecodeError]) -> None:
    lines = lines_of(["usdm_futures/btcusdt_20240808.gz"])[:400]
    depth = depth_lines(lines)
    h = BinanceHandler(registry, "binance-usdm", ["BTCUSDT"])
    target = depth[-2]
    for ts, raw in lines[:target]:
        h.on_message(ts, raw)
    assert h.state("BTCUSDT") == SyncState.LIVE
    before_sync = sync_state(h)
    before_stats = copy.copy(h.stats)
    ts, raw = lines[target]
    with pytest.raises(exc) as info:
        h.on_message(ts, corrupt(raw))
    assert str(info.value)
    assert sync_state(h) == before_sync
    after = copy.copy(h.stats)
    assert after.rejects == before_stats.rejects + 1
    after.rejects = before_stats.rejects
    assert astuple(after) == astuple(before_stats)
    # the genuine message still applies: the sequence was not disturbed
    n = h.on_message(ts, raw)
    assert n > 0 and h.out[n - 1]["flags"] & Flag.END and h.stats.gaps == 0


def test_bad_snapshot_changes_nothing(registry: Registry) -> None:
    lines = lines_of(["spot/btcusdt_20240808.gz"])[:50]
    h = BinanceHandler(registry, "binance-spot", ["BTCUSDT"])
    snap_i = next(i for i, (_, raw) in enumerate(lines) if raw.startswith(b'{"lastUpdateId"'))
    for ts, raw in lines[:snap_i]:
        h.on_message(ts, raw)
    before = sync_state(h)
    snap = orjson.loads(lines[snap_i][1])
    snap["asks"][500][1] = "-0.1"
    with pytest.raises(NegativeQuantity):
        h.on_snapshot(0, snap)
    assert sync_state(h) == before and h.stats.snapshots == 0
    n = h.on_message(*lines[snap_i])
    assert n > 2000 and h.stats.snapshots == 1


def test_trade_and_book_ticker_records(registry: Registry) -> None:
    h = BinanceHandler(registry, "binance-coinm", ["BTCUSD_PERP"])
    trade = (b'{"stream":"btcusd_perp@trade","data":{"e":"trade","E":1723161256322,'
             b'"T":1723161256320,"s":"BTCUSD_PERP","t":42,"p":"61800.3","q":"7","X":"MARKET",'
             b'"m":true}}')
    assert h.on_message(5, trade) == 1
    r = h.out[0]
    assert (r["kind"], r["side"], r["seq"], r["price"], r["qty"]) == (Kind.TRADE, 1, 42, 618003, 7)
    assert r["ts_event"] == 1723161256320 * 10**6 and r["ts_recv"] == 5 and r["flags"] == Flag.END
    ticker = (b'{"stream":"btcusd_perp@bookTicker","data":{"u":9,"e":"bookTicker",'
              b'"s":"BTCUSD_PERP","ps":"BTCUSD","b":"61804.7","B":"35","a":"61804.8","A":"1645",'
              b'"T":1,"E":2}}')
    assert h.on_message(6, ticker) == 2
    bid, ask = h.out[0], h.out[1]
    assert (bid["side"], bid["price"], bid["qty"], bid["flags"]) == (0, 618047, 35, 0)
    assert (ask["side"], ask["price"], ask["qty"], ask["flags"]) == (1, 618048, 1645, Flag.END)
    with pytest.raises(MalformedMessage, match="m"):
        h.on_message(7, trade.replace(b',"m":true', b""))
    assert h.stats.rejects == 1 and h.stats.messages == 2


def test_replay_driver_default_files(registry: Registry) -> None:
    try:
        files = default_data_files(DATA)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))

    class Sink:
        def __init__(self) -> None:
            self.n = 0
            self.last_ts = 0
            self.ordered = True

        def push_batch_blocking(self, arr: np.ndarray, idle: str = "yield",
                                timeout_ns: int | None = None) -> int:
            assert arr.dtype == RECORD_DTYPE
            ts = arr["ts_recv"]
            self.ordered &= bool(ts[0] >= self.last_ts and (np.diff(ts) >= 0).all())
            self.last_ts = int(ts[-1])
            self.n += len(arr)
            return len(arr)

    sink = Sink()
    progress: list[int] = []
    drv = ReplayDriver(files, registry, sink, batch_records=1024)
    res = drv.run(limit=60_000, progress=progress.append)
    assert res.messages == 60_000 and sink.n == res.records > 0 and sink.ordered
    assert progress and progress[-1] <= drv.total_bytes()
    assert sum(h["gaps"] for h in drv.stats()["handlers"].values()) == 0


def test_a_stopped_replay_does_not_wait_on_a_ring_nobody_drains(registry: Registry, tmp_path: Path) -> None:
    """A desk stands its replay down before its core; a core that takes no more input (a cluster
    leader cut off from its majority) leaves the market-data ring full: stop() still ends the
    replay within a moment, so the ring is never removed under a waiting producer."""
    import threading

    from rfqcore import _ring

    try:
        files = default_data_files(DATA)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    path = str(tmp_path / "md.ring")
    _ring.ring_create(path, 64)
    with _ring.RingProducer(path) as producer:  # no consumer: the ring fills and stays full
        drv = ReplayDriver(files, registry, producer, speed=None)
        t = threading.Thread(target=drv.run, daemon=True)
        t.start()
        deadline = time.monotonic() + 30
        while producer.free() > 0:
            assert time.monotonic() < deadline, "the replay never filled the ring"
            time.sleep(0.01)
        time.sleep(0.2)
        assert t.is_alive(), "waiting for room"
        t0 = time.monotonic()
        drv.stop()
        t.join(5)
        assert not t.is_alive(), "stop() ended the replay"
        assert time.monotonic() - t0 < 1.0
